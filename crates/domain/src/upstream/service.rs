//! The upstream sign-in use cases: begin a sign-in at a provider, and judge what comes
//! back (sign in, sign up, link), each step throttled per network and audited.

use std::sync::Arc;

use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{
    Asserted, Callback, FlowKeys, FlowPurpose, FlowSecrets, Identity, IdentityProviders,
    IdentityRepository, LinkError, LinkOffer, PendingFlow, ProviderId, ProviderInfo, Unlinked,
    UpstreamError, UpstreamFlowRepository,
};
use crate::attempts::PasswordAttempts;
use crate::audit::{Audit, AuditKind};
use crate::auth::{AuthService, BrowserSignIn, PasswordGrantError};
use crate::clock::Clock;
use crate::email::Email;
use crate::error::RepositoryError;
use crate::password::PasswordHash;
use crate::ports::{
    InsertUserError, OpaqueTokens, PasswordVerifier, SessionRepository, UserRepository,
};
use crate::reauth::{ClientTrust, ReauthError, ReauthRefusal, Reauthentication};
use crate::session::{Caller, SessionId};
use crate::throttle::{Bucket, Throttle, ThrottleError, ip_subject};
use crate::user::{FullName, Role, User, UserId};

/// How long a person has at the upstream before the sign-in must begin again (and to sign
/// in to their account and confirm a link it offered).
const FLOW_LIFETIME: Duration = Duration::minutes(10);

/// How far a provider's clock may be behind ours when it says when the person signed in.
const CLOCK_SKEW: Duration = Duration::minutes(1);

/// Rules of upstream sign-in that deployments choose.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamPolicy {
    /// How long a sign-in begun at an upstream may take to come back.
    pub flow_lifetime: Duration,
}

impl Default for UpstreamPolicy {
    fn default() -> Self {
        Self {
            flow_lifetime: FLOW_LIFETIME,
        }
    }
}

/// What the upstream sign-in use cases need.
pub struct UpstreamPorts {
    pub providers: Arc<dyn IdentityProviders>,
    pub keys: Arc<dyn FlowKeys>,
    pub flows: Arc<dyn UpstreamFlowRepository>,
    pub identities: Arc<dyn IdentityRepository>,
    pub users: Arc<dyn UserRepository>,
    pub opaque: Arc<dyn OpaqueTokens>,
    pub auth: AuthService,
    pub clock: Arc<dyn Clock>,
    pub throttle: Throttle,
    pub audit: Audit,
    /// For the re-authentication of links and unlinks.
    pub verifier: Arc<dyn PasswordVerifier>,
    pub sessions: Arc<dyn SessionRepository>,
    pub clients: Arc<dyn ClientTrust>,
    pub reauthentication: Duration,
}

/// Why an identity could not be linked or unlinked from the account.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The account has no such identity.
    #[error("no such identity of yours")]
    NotFound,
    /// The identity is the only way the account signs in (it has no password).
    #[error(
        "this is the account's only way to sign in: set a password or link another provider first"
    )]
    LastWayIn,
    #[error(transparent)]
    Reauth(#[from] ReauthError),
    #[error(transparent)]
    SignIn(#[from] UpstreamSignInError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Signing in, signing up and linking identities through upstream providers.
#[derive(Clone)]
pub struct UpstreamService {
    providers: Arc<dyn IdentityProviders>,
    keys: Arc<dyn FlowKeys>,
    flows: Arc<dyn UpstreamFlowRepository>,
    identities: Arc<dyn IdentityRepository>,
    users: Arc<dyn UserRepository>,
    opaque: Arc<dyn OpaqueTokens>,
    auth: AuthService,
    clock: Arc<dyn Clock>,
    throttle: Throttle,
    audit: Audit,
    sessions: Arc<dyn SessionRepository>,
    reauth: Reauthentication,
    policy: UpstreamPolicy,
}

/// A sign-in begun: where to send the browser.
#[derive(Debug)]
pub struct Begun {
    pub redirect_to: Url,
}

/// What a callback from an upstream came to.
#[derive(Debug)]
pub enum SignInOutcome {
    /// A browser session, and where the browser goes next.
    SignedIn {
        sign_in: Box<BrowserSignIn>,
        resume: String,
    },
    /// The account has a second factor: the sign-in continues on the code page with
    /// `mfa_token`.
    SecondFactor {
        mfa_token: SecretString,
        resume: String,
    },
    /// The identity is now linked to the signed-in account that asked.
    Linked {
        provider: ProviderId,
        resume: String,
    },
    /// An account has the verified address the identity asserts: the person signs in to
    /// it and confirms the link, with this offer ([`UpstreamService::confirm_link`]), for
    /// this browser alone to hold (a cookie).
    LinkOffered { offer: SecretString },
    /// The session that asked signed in again at the provider, just now.
    Reauthenticated { resume: String },
}

/// A link offered to the browser that holds it, as the confirmation page shows it.
#[derive(Debug, Clone)]
pub struct OfferView {
    pub provider: ProviderId,
    /// The provider's name on its button.
    pub provider_name: String,
    /// The address the provider asserted (the account's).
    pub email: Option<String>,
    /// The account with that address, which alone may take the link.
    pub holder: UserId,
}

/// Why an upstream sign-in did not go through; each is shown as a page, never a 500.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamSignInError {
    #[error("no such provider")]
    UnknownProvider,
    /// The provider cannot be reached now.
    #[error("the provider is unavailable")]
    Unavailable,
    /// The person (or the upstream) turned the sign-in down: the upstream's `error`.
    #[error("the provider did not sign you in ({0})")]
    Denied(String),
    /// The callback's state is unknown, used, expired or another browser's.
    #[error("this sign-in expired or was already used; start again")]
    BadState,
    /// The upstream's answer failed a check.
    #[error("the provider's answer could not be trusted")]
    Refused,
    /// An account already has the address this identity asserts: nothing is linked
    /// automatically; the person signs in to it and links the provider there.
    #[error("an account with this email exists")]
    AccountExists,
    /// No account has this identity and none may be created from it (sign-up closed, an
    /// address that is missing, unverified or outside the allowed domains).
    #[error("no account may be created from this identity")]
    SignUpClosed,
    /// The identity is linked to another account.
    #[error("this identity is linked to another account")]
    LinkedElsewhere,
    /// A re-authentication came back with an identity this account has not linked.
    #[error("this identity is not linked to your account")]
    NotYourIdentity,
    /// A link offered to one account was confirmed while signed in to another.
    #[error("this link is for another account")]
    OfferForAnotherAccount,
    /// The account cannot sign in (deactivated).
    #[error("this account cannot sign in")]
    Inactive,
    #[error(transparent)]
    Throttled(#[from] ThrottleError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl From<PasswordGrantError> for UpstreamSignInError {
    fn from(error: PasswordGrantError) -> Self {
        match error {
            PasswordGrantError::Repository(error) => Self::Repository(error),
            PasswordGrantError::Throttled { retry_after } => {
                Self::Throttled(ThrottleError::Limited { retry_after })
            }
            other => {
                tracing::warn!(error = %other, "an upstream sign-in could not open a session");
                Self::Inactive
            }
        }
    }
}

impl UpstreamService {
    pub fn new(ports: UpstreamPorts, policy: UpstreamPolicy) -> Self {
        Self {
            providers: ports.providers,
            keys: ports.keys,
            flows: ports.flows,
            identities: ports.identities,
            users: ports.users,
            opaque: ports.opaque,
            auth: ports.auth,
            clock: ports.clock.clone(),
            sessions: ports.sessions.clone(),
            reauth: Reauthentication::new(
                PasswordAttempts::new(ports.verifier, ports.throttle.clone(), ports.audit.clone()),
                ports.sessions,
                ports.clients,
                ports.clock.clone(),
                ports.audit.clone(),
                ports.reauthentication,
            ),
            throttle: ports.throttle,
            audit: ports.audit,
            policy,
        }
    }

    /// The configured providers, for the sign-in page's buttons.
    pub fn providers(&self) -> Vec<ProviderInfo> {
        self.providers.providers()
    }

    /// Begins a sign-in at `provider` for the browser bound by `browser` (a secret of its
    /// own cookie): stores the pending sign-in and says where to send the browser.
    /// `resume` is where it goes afterwards (a path of this service). With `fresh` (and
    /// always to re-authenticate), the provider is asked to have the person sign in again.
    #[tracing::instrument(skip_all, fields(provider = %provider))]
    pub async fn begin(
        &self,
        provider: &str,
        browser: &SecretString,
        (purpose, fresh): (FlowPurpose, bool),
        resume: String,
        caller: &Caller,
    ) -> Result<Begun, UpstreamSignInError> {
        let provider = self.known(provider)?;
        self.admit(caller).await?;
        let state = self.opaque.generate();
        let secrets = self.secrets(state);
        let fresh = fresh || matches!(purpose, FlowPurpose::Reauthenticate { .. });
        let redirect_to = self
            .providers
            .authorization_url(&provider, &secrets, fresh)
            .await
            .map_err(|error| self.unusable(&provider, error))?;
        self.flows
            .insert(&PendingFlow {
                state: self.opaque.digest(&secrets.state),
                browser: self.opaque.digest(browser),
                provider,
                purpose,
                resume,
                fresh,
                created_at: self.clock.now_stored(),
            })
            .await?;
        Ok(Begun { redirect_to })
    }

    /// Judges a callback at `provider`'s redirect URI: the state must be a live sign-in of
    /// this browser at that provider (used up now),
    /// the upstream's answer must pass every check, and then the identity signs in to its
    /// account, creates one, or is linked to the account that asked.
    #[tracing::instrument(skip_all)]
    pub async fn callback(
        &self,
        state: &SecretString,
        provider: &str,
        answer: Result<Callback, String>,
        browser: &SecretString,
        caller: Caller,
    ) -> Result<SignInOutcome, UpstreamSignInError> {
        self.admit(&caller).await?;
        let now = self.clock.now_stored();
        let flow = self
            .flows
            .take(
                &self.opaque.digest(state),
                &self.opaque.digest(browser),
                now - self.policy.flow_lifetime,
                now,
            )
            .await?;
        let Some(flow) = flow else {
            self.failed(
                None,
                None,
                &caller,
                "unknown, used, expired or another browser's state",
            )
            .await;
            return Err(UpstreamSignInError::BadState);
        };
        if flow.provider.as_str() != provider {
            let detail = format!("came back at {provider}'s callback (a mix-up)");
            self.failed(Some(&flow.provider), None, &caller, &detail)
                .await;
            return Err(UpstreamSignInError::Refused);
        }
        let callback = match answer {
            Ok(callback) => callback,
            Err(error) => {
                let detail = format!("{}: the provider answered {error}", flow.provider);
                self.failed(Some(&flow.provider), None, &caller, &detail)
                    .await;
                return Err(UpstreamSignInError::Denied(error));
            }
        };
        let secrets = self.secrets(SecretString::from(state.expose_secret().to_owned()));
        let signed_in_since = flow.fresh.then(|| flow.created_at - CLOCK_SKEW);
        let asserted = match self
            .providers
            .complete(&flow.provider, &callback, &secrets, signed_in_since)
            .await
        {
            Ok(asserted) if super::is_plain_subject(&asserted.subject) => asserted,
            Ok(_) => {
                let detail = "the provider asserted a subject no identity can have";
                self.failed(Some(&flow.provider), None, &caller, detail)
                    .await;
                return Err(UpstreamSignInError::Refused);
            }
            Err(error) => {
                let detail = format!("{}: {error}", flow.provider);
                self.failed(Some(&flow.provider), None, &caller, &detail)
                    .await;
                return Err(match error {
                    UpstreamError::UnknownProvider => UpstreamSignInError::UnknownProvider,
                    UpstreamError::Unavailable(_) => UpstreamSignInError::Unavailable,
                    UpstreamError::Refused(_) => UpstreamSignInError::Refused,
                });
            }
        };
        match flow.purpose {
            FlowPurpose::Link(user_id) => {
                self.link(user_id, &flow.provider, &asserted, &caller)
                    .await?;
                Ok(SignInOutcome::Linked {
                    provider: flow.provider,
                    resume: flow.resume,
                })
            }
            FlowPurpose::Reauthenticate { user, session } => {
                let linked = self
                    .identities
                    .find(&flow.provider, &asserted.subject)
                    .await?;
                if linked.is_none_or(|identity| identity.user_id != user) {
                    let detail = "re-authentication with an identity the account has not linked";
                    self.failed(Some(&flow.provider), Some(user), &caller, detail)
                        .await;
                    return Err(UpstreamSignInError::NotYourIdentity);
                }
                if !self.sessions.reauthenticated(user, session, now).await? {
                    // The session ended while the person was at the provider.
                    return Err(UpstreamSignInError::BadState);
                }
                self.identities
                    .used(&flow.provider, &asserted.subject, now)
                    .await?;
                self.audit
                    .record(
                        AuditKind::UpstreamSignIn,
                        Some(user),
                        None,
                        &caller,
                        Some(format!("{}: re-authentication", flow.provider)),
                    )
                    .await;
                Ok(SignInOutcome::Reauthenticated {
                    resume: flow.resume,
                })
            }
            FlowPurpose::SignIn => {
                let user = match self.account_of(&flow.provider, &asserted, &caller).await? {
                    Found::Account(user) => user,
                    Found::HeldBy(holder) => {
                        let offer = self.offer_link(&flow, &asserted, holder, &caller).await?;
                        return Ok(SignInOutcome::LinkOffered { offer });
                    }
                };
                self.identities
                    .used(&flow.provider, &asserted.subject, now)
                    .await?;
                match self
                    .auth
                    .browser_sign_in_upstream(&user, &flow.provider, caller.clone())
                    .await
                {
                    Ok(sign_in) => {
                        self.audited(AuditKind::UpstreamSignIn, user.id, &caller, &flow.provider)
                            .await;
                        Ok(SignInOutcome::SignedIn {
                            sign_in: Box::new(sign_in),
                            resume: flow.resume,
                        })
                    }
                    Err(PasswordGrantError::MfaRequired { mfa_token }) => {
                        Ok(SignInOutcome::SecondFactor {
                            mfa_token,
                            resume: flow.resume,
                        })
                    }
                    Err(error) => Err(error.into()),
                }
            }
        }
    }

    /// The identities linked to `user`.
    pub async fn identities(&self, user: &User) -> Result<Vec<Identity>, RepositoryError> {
        self.identities.list(user.id).await
    }

    /// Begins linking another identity at `provider` to `user`'s account, from their
    /// session `session` after re-authentication (the current password, or a recent
    /// sign-in for an account without one); the callback links it.
    #[allow(clippy::too_many_arguments)]
    pub async fn begin_link(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        provider: &str,
        browser: &SecretString,
        resume: String,
        caller: &Caller,
    ) -> Result<Begun, IdentityError> {
        self.known(provider)?;
        self.reauth.check(user, session, password, caller).await?;
        Ok(self
            .begin(
                provider,
                browser,
                (FlowPurpose::Link(user.id), false),
                resume,
                caller,
            )
            .await?)
    }

    /// Begins a fresh sign-in at `provider`, where `user` has linked an identity, to
    /// re-authenticate their session `session` (an account without a password has no
    /// password to give): the provider is asked to have the person sign in again, and the
    /// callback, when it comes back with that identity, marks the session as signed in now.
    pub async fn begin_reauthentication(
        &self,
        user: &User,
        session: SessionId,
        provider: &str,
        browser: &SecretString,
        resume: String,
        caller: &Caller,
    ) -> Result<Begun, IdentityError> {
        let provider_id = self.known(provider)?;
        let linked = self.identities.list(user.id).await?;
        if !linked
            .iter()
            .any(|identity| identity.provider == provider_id)
        {
            return Err(IdentityError::NotFound);
        }
        let live = self.sessions.find(session).await?.is_some_and(|found| {
            found.user_id == user.id && found.client_id.is_none() && found.is_live(self.clock.now())
        });
        if !live {
            return Err(ReauthError::Refused(ReauthRefusal::Stale).into());
        }
        let purpose = FlowPurpose::Reauthenticate {
            user: user.id,
            session,
        };
        Ok(self
            .begin(provider, browser, (purpose, true), resume, caller)
            .await?)
    }

    /// The link offered with `offer`, while it can still be confirmed.
    pub async fn link_offer(
        &self,
        offer: &SecretString,
    ) -> Result<Option<OfferView>, RepositoryError> {
        let not_before = self.clock.now_stored() - self.policy.flow_lifetime;
        let found = self
            .flows
            .find_offer(&self.opaque.digest(offer), not_before)
            .await?;
        Ok(found.map(|found| OfferView {
            provider_name: self
                .info(&found.provider)
                .map_or_else(|_| found.provider.to_string(), |info| info.name),
            provider: found.provider,
            email: found.email,
            holder: found.user_id,
        }))
    }

    /// Links the identity of `offer` to `user`'s account: the offer must be live and made
    /// for this account, and the session must have signed in after it was made (the person
    /// proved the account after the provider proved the identity, in the browser that
    /// holds the offer). Where the browser goes next.
    pub async fn confirm_link(
        &self,
        user: &User,
        session: SessionId,
        offer: &SecretString,
        caller: &Caller,
    ) -> Result<String, IdentityError> {
        let offer = self.opaque.digest(offer);
        let now = self.clock.now_stored();
        let not_before = now - self.policy.flow_lifetime;
        let Some(found) = self.flows.find_offer(&offer, not_before).await? else {
            return Err(UpstreamSignInError::BadState.into());
        };
        if found.user_id != user.id {
            let detail = "a link offered to another account";
            self.failed(Some(&found.provider), Some(user.id), caller, detail)
                .await;
            return Err(UpstreamSignInError::OfferForAnotherAccount.into());
        }
        let fresh = self.sessions.find(session).await?.is_some_and(|signed| {
            signed.user_id == user.id
                && signed.is_live(now)
                && signed.authenticated_at >= found.created_at
        });
        if !fresh {
            return Err(ReauthError::Refused(ReauthRefusal::Stale).into());
        }
        let Some(taken) = self.flows.take_offer(&offer, not_before, now).await? else {
            return Err(UpstreamSignInError::BadState.into());
        };
        let asserted = Asserted {
            subject: taken.subject,
            email: taken.email,
            email_verified: true,
            name: None,
        };
        self.link(user.id, &taken.provider, &asserted, caller)
            .await?;
        Ok(taken.resume)
    }

    /// Unlinks `user`'s identity `(provider, subject)` after re-authentication; never the
    /// last way into an account without a password.
    pub async fn unlink(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        (provider, subject): (&str, &str),
        caller: &Caller,
    ) -> Result<(), IdentityError> {
        let provider = ProviderId::parse(provider).map_err(|_| IdentityError::NotFound)?;
        if !super::is_plain_subject(subject) {
            return Err(IdentityError::NotFound);
        }
        self.reauth.check(user, session, password, caller).await?;
        match self
            .identities
            .unlink(user.id, &provider, subject, !user.has_password())
            .await?
        {
            Unlinked::Done => {
                self.audited(AuditKind::IdentityUnlinked, user.id, caller, &provider)
                    .await;
                Ok(())
            }
            Unlinked::NotFound => Err(IdentityError::NotFound),
            Unlinked::Last => Err(IdentityError::LastWayIn),
        }
    }

    /// Deletes pending sign-ins that can no longer come back.
    pub async fn purge(&self) -> Result<u64, RepositoryError> {
        self.flows
            .purge(self.clock.now_stored() - self.policy.flow_lifetime)
            .await
    }

    /// The account the identity signs in to: its own, or a new one when the provider
    /// allows sign-up and asserts a verified address in an allowed domain that no
    /// account has; or the account that has the verified address it asserts, to which it
    /// may be linked once its owner confirms.
    async fn account_of(
        &self,
        provider: &ProviderId,
        asserted: &Asserted,
        caller: &Caller,
    ) -> Result<Found, UpstreamSignInError> {
        if let Some(identity) = self.identities.find(provider, &asserted.subject).await? {
            return match self.users.find_by_id(identity.user_id).await? {
                Some(user) if user.is_active => Ok(Found::Account(user)),
                _ => {
                    self.failed(
                        Some(provider),
                        Some(identity.user_id),
                        caller,
                        "inactive account",
                    )
                    .await;
                    Err(UpstreamSignInError::Inactive)
                }
            };
        }
        let info = self.info(provider)?;
        let email = asserted
            .email
            .as_deref()
            .filter(|_| asserted.email_verified)
            .and_then(|email| Email::parse(email).ok());
        if let Some(email) = &email
            && let Some(holder) = self.users.find_by_email(email).await?
        {
            return Ok(Found::HeldBy(holder));
        }
        let Some(email) = email.filter(|email| info.allow_signup && domain_allowed(&info, email))
        else {
            self.failed(
                Some(provider),
                None,
                caller,
                "sign-up closed to this identity",
            )
            .await;
            return Err(UpstreamSignInError::SignUpClosed);
        };
        let full_name = asserted
            .name
            .as_deref()
            .and_then(|name| FullName::parse_optional(Some(name)).ok().flatten());
        let mut user = User::new(
            email,
            full_name,
            Role::User,
            PasswordHash::none(),
            self.clock.now(),
        );
        // The upstream verified the address it asserts.
        user.is_verified = true;
        match self.users.insert(&user).await {
            Ok(()) => {}
            // A racing sign-up with the same address won.
            Err(InsertUserError::EmailTaken) => return Err(UpstreamSignInError::AccountExists),
            Err(InsertUserError::Repository(error)) => return Err(error.into()),
        }
        tracing::info!(user_id = %user.id, %provider, "user registered through an upstream");
        match self.link_identity(user.id, provider, asserted).await {
            Ok(()) => Ok(Found::Account(user)),
            // A racing callback of the same identity linked it first: sign in to its
            // account, and leave the account just made without a way in to be deleted.
            Err(LinkError::Taken) => {
                if let Err(error) = self.users.delete(user.id).await {
                    tracing::warn!(%error, user_id = %user.id, "could not delete an account that lost a sign-up race");
                }
                let identity = self.identities.find(provider, &asserted.subject).await?;
                let found = match identity {
                    Some(identity) => self.users.find_by_id(identity.user_id).await?,
                    None => None,
                };
                found
                    .map(Found::Account)
                    .ok_or(UpstreamSignInError::BadState)
            }
            Err(LinkError::Repository(error)) => Err(error.into()),
        }
    }

    /// Offers the asserted identity to `holder`, the account with its verified address:
    /// stored, for the browser that came back with it to hold, until the account's owner
    /// signs in and confirms.
    async fn offer_link(
        &self,
        flow: &PendingFlow,
        asserted: &Asserted,
        holder: User,
        caller: &Caller,
    ) -> Result<SecretString, UpstreamSignInError> {
        let offer = self.opaque.generate();
        self.flows
            .insert_offer(&LinkOffer {
                offer: self.opaque.digest(&offer),
                provider: flow.provider.clone(),
                subject: asserted.subject.clone(),
                email: Some(holder.email.as_str().to_owned()),
                user_id: holder.id,
                resume: flow.resume.clone(),
                created_at: self.clock.now_stored(),
            })
            .await?;
        let detail = "an account has this address: a link is offered to its owner";
        self.failed(Some(&flow.provider), Some(holder.id), caller, detail)
            .await;
        Ok(offer)
    }

    /// Links the asserted identity to `user_id`'s account, which began the link signed in
    /// and re-authenticated.
    async fn link(
        &self,
        user_id: UserId,
        provider: &ProviderId,
        asserted: &Asserted,
        caller: &Caller,
    ) -> Result<(), UpstreamSignInError> {
        match self.link_identity(user_id, provider, asserted).await {
            Ok(()) => {
                self.audited(AuditKind::IdentityLinked, user_id, caller, provider)
                    .await;
                Ok(())
            }
            Err(LinkError::Taken) => {
                let mine = self
                    .identities
                    .find(provider, &asserted.subject)
                    .await?
                    .is_some_and(|identity| identity.user_id == user_id);
                if mine {
                    return Ok(());
                }
                self.failed(
                    Some(provider),
                    Some(user_id),
                    caller,
                    "linked to another account",
                )
                .await;
                Err(UpstreamSignInError::LinkedElsewhere)
            }
            Err(LinkError::Repository(error)) => Err(error.into()),
        }
    }

    async fn link_identity(
        &self,
        user_id: UserId,
        provider: &ProviderId,
        asserted: &Asserted,
    ) -> Result<(), LinkError> {
        self.identities
            .link(&Identity {
                provider: provider.clone(),
                subject: asserted.subject.clone(),
                user_id,
                // Kept only as a valid address (normalized), to show on the account page.
                email: asserted
                    .email
                    .as_deref()
                    .and_then(|email| Email::parse(email).ok())
                    .map(|email| email.as_str().to_owned()),
                linked_at: self.clock.now_stored(),
                last_used_at: None,
            })
            .await
    }

    fn known(&self, provider: &str) -> Result<ProviderId, UpstreamSignInError> {
        let id = ProviderId::parse(provider).map_err(|_| UpstreamSignInError::UnknownProvider)?;
        self.info(&id).map(|info| info.id)
    }

    fn info(&self, provider: &ProviderId) -> Result<ProviderInfo, UpstreamSignInError> {
        self.providers
            .providers()
            .into_iter()
            .find(|info| &info.id == provider)
            .ok_or(UpstreamSignInError::UnknownProvider)
    }

    fn secrets(&self, state: SecretString) -> FlowSecrets {
        FlowSecrets {
            nonce: self.keys.derive(&state, "nonce"),
            pkce_verifier: self.keys.derive(&state, "pkce"),
            state,
        }
    }

    fn unusable(&self, provider: &ProviderId, error: UpstreamError) -> UpstreamSignInError {
        tracing::warn!(%provider, %error, "an upstream provider cannot be used");
        match error {
            UpstreamError::UnknownProvider => UpstreamSignInError::UnknownProvider,
            UpstreamError::Unavailable(_) | UpstreamError::Refused(_) => {
                UpstreamSignInError::Unavailable
            }
        }
    }

    /// Counts an upstream step from the caller's network.
    async fn admit(&self, caller: &Caller) -> Result<(), ThrottleError> {
        match &caller.ip {
            Some(ip) => {
                self.throttle
                    .admit(Bucket::UpstreamIp, &ip_subject(ip))
                    .await
            }
            None => Ok(()),
        }
    }

    async fn audited(&self, kind: AuditKind, user: UserId, caller: &Caller, provider: &ProviderId) {
        self.audit
            .record(kind, Some(user), None, caller, Some(provider.to_string()))
            .await;
        tracing::info!(event = kind.as_str(), user_id = %user, %provider, "upstream identity used");
    }

    async fn failed(
        &self,
        provider: Option<&ProviderId>,
        user: Option<UserId>,
        caller: &Caller,
        detail: &str,
    ) {
        let detail = match provider {
            Some(provider) if !detail.starts_with(provider.as_str()) => {
                format!("{provider}: {detail}")
            }
            _ => detail.to_owned(),
        };
        tracing::warn!(event = "upstream_sign_in_failed", %detail, "an upstream sign-in failed");
        self.audit
            .record(
                AuditKind::UpstreamSignInFailed,
                user,
                None,
                caller,
                Some(detail),
            )
            .await;
    }
}

/// The account an identity leads to.
enum Found {
    /// The account it signs in to (found, or created just now).
    Account(User),
    /// The account that has the verified address it asserts, and not the identity.
    HeldBy(User),
}

/// Whether `email` is in one of the provider's allowed domains (any, when it names none).
fn domain_allowed(info: &ProviderInfo, email: &Email) -> bool {
    let domain = email
        .as_str()
        .rsplit_once('@')
        .map_or("", |(_, domain)| domain);
    info.allowed_email_domains.is_empty()
        || info
            .allowed_email_domains
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(domain))
}
