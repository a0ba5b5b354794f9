//! The passkey use cases: register one (re-authenticated), list, rename and remove them
//! (never the last way in), and sign in with one: each ceremony single-use and short-lived,
//! each assertion throttled per account and network like a password, every step audited.

use std::sync::Arc;

use chrono::Duration;
use secrecy::SecretString;

use super::{
    CEREMONY_LIFETIME, Ceremony, CeremonyError, CeremonyOptions, CeremonyPurpose, CeremonyResponse,
    InsertPasskeyError, Passkey, PasskeyId, PasskeyName, PasskeyRepository, RelyingParty, Removed,
};
use crate::attempts::{AttemptKinds, PasswordAttempts};
use crate::audit::{Audit, AuditKind};
use crate::auth::{
    AuthService, BrowserSignIn, MfaGrantError, PasswordGrantError, SecondStepFlow, VerifiedPasskey,
};
use crate::clock::Clock;
use crate::error::{RepositoryError, ValidationErrors};
use crate::ports::{OpaqueTokens, PasswordVerifier, SessionRepository, TokenGrant, UserRepository};
use crate::reauth::{ClientTrust, ReauthError, Reauthentication};
use crate::session::{Amr, Caller, SessionId};
use crate::throttle::{Bucket, Throttle, ThrottleError, ip_subject};
use crate::user::User;

/// The audit kinds of a passkey assertion's attempt.
const ASSERTION: AttemptKinds = AttemptKinds {
    throttled: AuditKind::LoginThrottled,
    failed: AuditKind::PasskeySignInFailed,
};

/// What the passkey use cases need.
pub struct PasskeyPorts {
    pub relying_party: Arc<dyn RelyingParty>,
    pub passkeys: Arc<dyn PasskeyRepository>,
    pub users: Arc<dyn UserRepository>,
    pub opaque: Arc<dyn OpaqueTokens>,
    pub auth: AuthService,
    pub clock: Arc<dyn Clock>,
    pub throttle: Throttle,
    pub audit: Audit,
    /// For the re-authentication of registrations and removals, and the throttling of
    /// assertions with the passwords.
    pub verifier: Arc<dyn PasswordVerifier>,
    pub sessions: Arc<dyn SessionRepository>,
    pub clients: Arc<dyn ClientTrust>,
    pub reauthentication: Duration,
}

/// A ceremony begun: its token (for the finish to name it) and the browser's options.
#[derive(Debug)]
pub struct Begun {
    pub ceremony: SecretString,
    pub options: CeremonyOptions,
}

/// Why a passkey use case did not go through.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// This deployment cannot use passkeys (its public URL's host is not a domain).
    #[error("passkeys are not available here")]
    Unavailable,
    /// The ceremony is unknown, used, expired, or another account's or session's.
    #[error("this passkey ceremony expired or was already used; start again")]
    BadCeremony,
    /// The authenticator's answer was refused (unreadable, a failed check, an unknown or
    /// removed credential, a counter that went backwards).
    #[error("the passkey could not be verified")]
    Refused,
    /// The credential is registered already.
    #[error("this passkey is registered already")]
    Taken,
    /// The account has no such passkey.
    #[error("no such passkey of yours")]
    NotFound,
    /// The passkey is the account's last way to sign in.
    #[error(
        "this passkey is the account's only way to sign in: set a password, link a provider or add another passkey first"
    )]
    LastWayIn,
    /// The account cannot sign in (disabled).
    #[error("this account cannot sign in")]
    Inactive,
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Reauth(#[from] ReauthError),
    #[error(transparent)]
    Throttled(#[from] ThrottleError),
    #[error(transparent)]
    SignIn(PasswordGrantError),
    /// The second step of a sign-in was refused after the passkey (its `mfa_token` spent,
    /// expired or another client's).
    #[error(transparent)]
    SecondStep(MfaGrantError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Registering, listing, removing passkeys, and signing in with them.
#[derive(Clone)]
pub struct PasskeyService {
    relying_party: Arc<dyn RelyingParty>,
    passkeys: Arc<dyn PasskeyRepository>,
    users: Arc<dyn UserRepository>,
    opaque: Arc<dyn OpaqueTokens>,
    auth: AuthService,
    clock: Arc<dyn Clock>,
    throttle: Throttle,
    audit: Audit,
    attempts: PasswordAttempts,
    reauth: Reauthentication,
    sessions: Arc<dyn SessionRepository>,
}

impl PasskeyService {
    pub fn new(ports: PasskeyPorts) -> Self {
        let attempts =
            PasswordAttempts::new(ports.verifier, ports.throttle.clone(), ports.audit.clone());
        Self {
            reauth: Reauthentication::new(
                attempts.clone(),
                ports.sessions.clone(),
                ports.clients,
                ports.clock.clone(),
                ports.audit.clone(),
                ports.reauthentication,
            ),
            attempts,
            sessions: ports.sessions,
            relying_party: ports.relying_party,
            passkeys: ports.passkeys,
            users: ports.users,
            opaque: ports.opaque,
            auth: ports.auth,
            clock: ports.clock,
            throttle: ports.throttle,
            audit: ports.audit,
        }
    }

    /// Whether this deployment can use passkeys.
    pub fn available(&self) -> bool {
        self.relying_party.available()
    }

    /// The account's passkeys, oldest first.
    pub async fn list(&self, user: &User) -> Result<Vec<Passkey>, RepositoryError> {
        self.passkeys.list(user.id).await
    }

    /// Begins registering a passkey for `user`, from their session `session` after
    /// re-authentication (the current password, or a recent sign-in for an account
    /// without one); the account's credentials are excluded.
    pub async fn begin_registration(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        caller: &Caller,
    ) -> Result<Begun, PasskeyError> {
        self.ensure_available()?;
        self.reauth.check(user, session, password, caller).await?;
        let exclude: Vec<_> = self
            .passkeys
            .list(user.id)
            .await?
            .into_iter()
            .map(|passkey| passkey.credential_id)
            .collect();
        let display = user
            .full_name
            .as_ref()
            .map_or(user.email.as_str(), |name| name.as_str());
        let (options, state) = self
            .relying_party
            .start_registration(user.id, user.email.as_str(), display, &exclude)
            .map_err(|error| self.unusable(error))?;
        let purpose = CeremonyPurpose::Register {
            user: user.id,
            session,
        };
        self.begun(purpose, state, options).await
    }

    /// Finishes a registration begun by this session: the answer must be the ceremony's,
    /// checked by the relying party; the passkey is stored under `name`.
    pub async fn finish_registration(
        &self,
        user: &User,
        session: SessionId,
        (ceremony, name): (&SecretString, &str),
        response: &CeremonyResponse,
        caller: &Caller,
    ) -> Result<Passkey, PasskeyError> {
        self.ensure_available()?;
        let name = passkey_name(name)?;
        let expected = CeremonyPurpose::Register {
            user: user.id,
            session,
        };
        let ceremony = self.take(ceremony).await?;
        if ceremony.purpose != expected {
            return Err(PasskeyError::BadCeremony);
        }
        let credential = match self
            .relying_party
            .finish_registration(&ceremony.state, response)
        {
            Ok(credential) => credential,
            Err(error) => {
                tracing::warn!(user_id = %user.id, %error, "a passkey registration was refused");
                return Err(match error {
                    CeremonyError::Unavailable(_) => PasskeyError::Unavailable,
                    _ => PasskeyError::Refused,
                });
            }
        };
        let passkey = Passkey {
            id: PasskeyId::generate(),
            user_id: user.id,
            name: name.as_str().to_owned(),
            credential_id: credential.credential_id,
            credential: credential.credential,
            counter: credential.counter,
            backup_eligible: credential.backup_eligible,
            backed_up: credential.backed_up,
            created_at: self.clock.now_stored(),
            last_used_at: None,
        };
        // A new way in, and a second factor after the password: as when MFA is turned on,
        // whoever else holds a session of the account is signed out; first, so that a
        // failure leaves no passkey stored with those sessions alive.
        let now = self.clock.now();
        let ended =
            crate::users::end_other_sessions(&*self.users, &*self.sessions, user.id, session, now)
                .await?
                .unwrap_or(0);
        match self.passkeys.insert(&passkey).await {
            Ok(()) => {}
            Err(InsertPasskeyError::Taken) => return Err(PasskeyError::Taken),
            Err(InsertPasskeyError::Repository(error)) => return Err(error.into()),
        }
        self.audit
            .record(
                AuditKind::PasskeyRegistered,
                Some(user.id),
                None,
                caller,
                Some(format!("{}; {ended} other sessions ended", passkey.name)),
            )
            .await;
        tracing::info!(event = "passkey_registered", user_id = %user.id, passkey_id = %passkey.id, "passkey registered");
        Ok(passkey)
    }

    /// Renames one of the account's passkeys.
    pub async fn rename(
        &self,
        user: &User,
        id: PasskeyId,
        name: &str,
    ) -> Result<Passkey, PasskeyError> {
        let name = passkey_name(name)?;
        if !self.passkeys.rename(user.id, id, &name).await? {
            return Err(PasskeyError::NotFound);
        }
        self.passkeys
            .list(user.id)
            .await?
            .into_iter()
            .find(|passkey| passkey.id == id)
            .ok_or(PasskeyError::NotFound)
    }

    /// Removes one of the account's passkeys after re-authentication; never the last way
    /// into an account (no password, no linked identity, no other passkey).
    pub async fn remove(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        id: PasskeyId,
        caller: &Caller,
    ) -> Result<(), PasskeyError> {
        self.reauth.check(user, session, password, caller).await?;
        match self
            .passkeys
            .remove(user.id, id, !user.has_password())
            .await?
        {
            Removed::Done => {
                self.audit
                    .record(
                        AuditKind::PasskeyRemoved,
                        Some(user.id),
                        None,
                        caller,
                        Some(id.to_string()),
                    )
                    .await;
                Ok(())
            }
            Removed::NotFound => Err(PasskeyError::NotFound),
            Removed::Last => Err(PasskeyError::LastWayIn),
        }
    }

    /// Removes one of `user`'s passkeys for `admin` (a lost or compromised authenticator),
    /// even the last way in: the person can still set a password by the reset email.
    pub async fn remove_by_admin(
        &self,
        admin: &User,
        user: &User,
        id: PasskeyId,
        caller: &Caller,
    ) -> Result<(), PasskeyError> {
        match self.passkeys.remove(user.id, id, false).await? {
            Removed::Done => {
                self.audit
                    .record(
                        AuditKind::PasskeyRemoved,
                        Some(user.id),
                        Some(admin.id),
                        caller,
                        Some(format!("{id}, by an admin")),
                    )
                    .await;
                Ok(())
            }
            Removed::NotFound | Removed::Last => Err(PasskeyError::NotFound),
        }
    }

    /// Begins a sign-in with any passkey of this service (no account named: the
    /// authenticator offers the person theirs). Throttled per network.
    pub async fn begin_sign_in(&self, caller: &Caller) -> Result<Begun, PasskeyError> {
        self.ensure_available()?;
        if let Some(ip) = &caller.ip {
            self.throttle
                .admit(Bucket::PasskeyIp, &ip_subject(ip))
                .await?;
        }
        let (options, state) = self
            .relying_party
            .start_sign_in(&[])
            .map_err(|error| self.unusable(error))?;
        self.begun(CeremonyPurpose::SignIn, state, options).await
    }

    /// Begins the second step of a sign-in with one of the account's passkeys, after its
    /// password (`mfa_token` of the `mfa_required` answer). Throttled per network.
    pub async fn begin_second_factor(
        &self,
        mfa_token: &SecretString,
        caller: &Caller,
    ) -> Result<Begun, PasskeyError> {
        self.ensure_available()?;
        if let Some(ip) = &caller.ip {
            self.throttle
                .admit(Bucket::PasskeyIp, &ip_subject(ip))
                .await?;
        }
        let user = self
            .auth
            .challenged(mfa_token)
            .await?
            .ok_or(PasskeyError::BadCeremony)?;
        let credentials: Vec<_> = self
            .passkeys
            .list(user.id)
            .await?
            .into_iter()
            .map(|passkey| passkey.credential)
            .collect();
        if credentials.is_empty() {
            return Err(PasskeyError::NotFound);
        }
        let (options, state) = self
            .relying_party
            .start_sign_in(&credentials)
            .map_err(|error| self.unusable(error))?;
        let purpose = CeremonyPurpose::SecondFactor {
            challenge: self.opaque.digest(mfa_token),
        };
        self.begun(purpose, state, options).await
    }

    /// Finishes the second step with a passkey: tokens, for the password grant that
    /// answered `mfa_required` (from the same client).
    pub async fn second_factor_for_tokens(
        &self,
        (mfa_token, ceremony): (&SecretString, &SecretString),
        response: &CeremonyResponse,
        client: Option<&crate::id::ClientId>,
        caller: Caller,
    ) -> Result<TokenGrant, PasskeyError> {
        let verified = self
            .verify_second_factor(
                (mfa_token, SecondStepFlow::Tokens(client)),
                ceremony,
                response,
                &caller,
            )
            .await?;
        self.auth
            .mfa_grant_with_passkey(mfa_token, verified, client, caller)
            .await
            .map_err(PasskeyError::SecondStep)
    }

    /// Finishes the second step of a hosted sign-in with a passkey.
    pub async fn second_factor_browser(
        &self,
        (mfa_token, ceremony): (&SecretString, &SecretString),
        response: &CeremonyResponse,
        caller: Caller,
    ) -> Result<BrowserSignIn, PasskeyError> {
        let verified = self
            .verify_second_factor(
                (mfa_token, SecondStepFlow::Browser),
                ceremony,
                response,
                &caller,
            )
            .await?;
        self.auth
            .browser_mfa_with_passkey(mfa_token, verified, caller)
            .await
            .map_err(PasskeyError::SecondStep)
    }

    async fn verify_second_factor(
        &self,
        (mfa_token, flow): (&SecretString, SecondStepFlow<'_>),
        ceremony: &SecretString,
        response: &CeremonyResponse,
        caller: &Caller,
    ) -> Result<VerifiedPasskey, PasskeyError> {
        self.ensure_available()?;
        let ceremony = self.take(ceremony).await?;
        let expected = CeremonyPurpose::SecondFactor {
            challenge: self.opaque.digest(mfa_token),
        };
        if ceremony.purpose != expected {
            return Err(PasskeyError::BadCeremony);
        }
        // A step that could not complete in this flow (another client's, the pages' at the
        // token endpoint) spends no attempt and records no sign-in.
        let user = self
            .auth
            .challenged_in(mfa_token, flow)
            .await?
            .ok_or(PasskeyError::BadCeremony)?;
        let (user, synced) = self
            .verify_assertion(&ceremony, response, Some(user.id), caller)
            .await?;
        Ok(VerifiedPasskey {
            user: user.id,
            synced,
        })
    }

    /// Finishes a passkey sign-in with tokens for an app (`scope`, or the role's
    /// defaults).
    pub async fn sign_in_for_tokens(
        &self,
        ceremony: &SecretString,
        response: &CeremonyResponse,
        scope: Option<&str>,
        caller: Caller,
    ) -> Result<TokenGrant, PasskeyError> {
        let (user, amr) = self.verify_sign_in(ceremony, response, &caller).await?;
        self.auth
            .passkey_grant(&user, amr, scope, caller)
            .await
            .map_err(PasskeyError::SignIn)
    }

    /// Finishes a passkey sign-in with a browser session of the hosted pages.
    pub async fn sign_in_browser(
        &self,
        ceremony: &SecretString,
        response: &CeremonyResponse,
        caller: Caller,
    ) -> Result<BrowserSignIn, PasskeyError> {
        let (user, amr) = self.verify_sign_in(ceremony, response, &caller).await?;
        self.auth
            .browser_sign_in_passkey(&user, amr, caller)
            .await
            .map_err(PasskeyError::SignIn)
    }

    /// Deletes ceremonies that can no longer finish.
    pub async fn purge(&self) -> Result<u64, RepositoryError> {
        self.passkeys
            .purge_ceremonies(self.clock.now_stored() - CEREMONY_LIFETIME)
            .await
    }

    /// Judges a sign-in's answer: the ceremony is used up first (of two finishes, one gets
    /// it); the credential it names must be stored, for the account its user handle
    /// names; the attempt is reserved against that account and the caller's network as a
    /// password's is; the relying party verifies the assertion; the counter must move on
    /// from the stored one (else a cloned authenticator), recorded by a compare-and-swap.
    async fn verify_sign_in(
        &self,
        ceremony: &SecretString,
        response: &CeremonyResponse,
        caller: &Caller,
    ) -> Result<(User, Amr), PasskeyError> {
        self.ensure_available()?;
        let ceremony = self.take(ceremony).await?;
        if ceremony.purpose != CeremonyPurpose::SignIn {
            return Err(PasskeyError::BadCeremony);
        }
        let (user, synced) = self
            .verify_assertion(&ceremony, response, None, caller)
            .await?;
        Ok((user, Amr::passkey(synced)))
    }

    /// Verifies an assertion of `ceremony` (used up by the caller): the credential it names
    /// must be stored, for the account its user handle names (or, for a second step, for
    /// `expected`); the attempt is reserved against that account and the caller's network
    /// as a password's is; the relying party verifies the assertion; the counter must move
    /// on from the stored one (else a cloned authenticator), recorded by a compare-and-swap.
    /// The account, and whether the credential may be synced.
    async fn verify_assertion(
        &self,
        ceremony: &Ceremony,
        response: &CeremonyResponse,
        expected: Option<crate::user::UserId>,
        caller: &Caller,
    ) -> Result<(User, bool), PasskeyError> {
        let (handle, credential_id) = match self.relying_party.identify(response) {
            Ok(found) => found,
            Err(error) => return Err(self.failed(None, caller, &error.to_string()).await),
        };
        let stored = self.passkeys.find_by_credential(&credential_id).await?;
        let owner = |passkey: &Passkey| match expected {
            Some(user) => passkey.user_id == user && handle.is_none_or(|h| h == user),
            None => handle == Some(passkey.user_id),
        };
        let Some(passkey) = stored.filter(owner) else {
            let detail = "an unknown credential, or another account's";
            return Err(self.failed(None, caller, detail).await);
        };
        let Some(user) = self.users.find_by_id(passkey.user_id).await? else {
            return Err(self
                .failed(None, caller, "a credential without its account")
                .await);
        };
        let attempt = self
            .attempts
            .begin(user.email.as_str(), Some(user.id), caller, ASSERTION)
            .await?;
        let assertion = match self.relying_party.finish_sign_in(
            &ceremony.state,
            response,
            &passkey.credential,
        ) {
            Ok(assertion) if moved_on(passkey.counter, assertion.counter) => assertion,
            Ok(_) | Err(CeremonyError::CounterWentBack) => {
                let detail = format!(
                    "passkey {}: the signature counter went backwards (a cloned authenticator?)",
                    passkey.id
                );
                tracing::warn!(event = "passkey_counter_went_back", user_id = %user.id, passkey_id = %passkey.id, "a passkey's signature counter went backwards");
                self.attempts
                    .failed(attempt, ASSERTION, Some(user.id), caller, Some(detail))
                    .await;
                return Err(PasskeyError::Refused);
            }
            Err(error) => {
                let detail = format!("passkey {}: {error}", passkey.id);
                self.attempts
                    .failed(attempt, ASSERTION, Some(user.id), caller, Some(detail))
                    .await;
                return Err(PasskeyError::Refused);
            }
        };
        let now = self.clock.now_stored();
        if !self
            .passkeys
            .used(passkey.id, passkey.counter, &assertion, now)
            .await?
        {
            // Another assertion of this credential was recorded meanwhile (or the passkey
            // was removed): this one may be a copy.
            let detail = format!(
                "passkey {}: raced another assertion, or removed",
                passkey.id
            );
            self.attempts
                .failed(attempt, ASSERTION, Some(user.id), caller, Some(detail))
                .await;
            return Err(PasskeyError::Refused);
        }
        if !user.is_active {
            self.attempts
                .failed(
                    attempt,
                    ASSERTION,
                    Some(user.id),
                    caller,
                    Some("disabled account".into()),
                )
                .await;
            return Err(PasskeyError::Inactive);
        }
        if let Err(error) = self.attempts.succeeded(attempt).await {
            tracing::warn!(%error, "could not clear the login throttle after a passkey sign-in");
        }
        let detail = match expected {
            Some(_) => format!("{}, as second factor", passkey.name),
            None => passkey.name.clone(),
        };
        self.audit
            .record(
                AuditKind::PasskeySignIn,
                Some(user.id),
                None,
                caller,
                Some(detail),
            )
            .await;
        Ok((user, assertion.backup_eligible))
    }

    fn ensure_available(&self) -> Result<(), PasskeyError> {
        if self.relying_party.available() {
            Ok(())
        } else {
            Err(PasskeyError::Unavailable)
        }
    }

    fn unusable(&self, error: CeremonyError) -> PasskeyError {
        tracing::warn!(%error, "a passkey ceremony could not begin");
        PasskeyError::Unavailable
    }

    async fn begun(
        &self,
        purpose: CeremonyPurpose,
        state: super::CeremonyState,
        options: CeremonyOptions,
    ) -> Result<Begun, PasskeyError> {
        let token = self.opaque.generate();
        self.passkeys
            .insert_ceremony(&Ceremony {
                id: self.opaque.digest(&token),
                purpose,
                state,
                created_at: self.clock.now_stored(),
            })
            .await?;
        Ok(Begun {
            ceremony: token,
            options,
        })
    }

    async fn take(&self, ceremony: &SecretString) -> Result<Ceremony, PasskeyError> {
        let now = self.clock.now_stored();
        self.passkeys
            .take_ceremony(&self.opaque.digest(ceremony), now - CEREMONY_LIFETIME, now)
            .await?
            .ok_or(PasskeyError::BadCeremony)
    }

    /// Audits a refused sign-in that reached no account's attempt (its network counted it
    /// when it began).
    async fn failed(
        &self,
        user: Option<crate::user::UserId>,
        caller: &Caller,
        detail: &str,
    ) -> PasskeyError {
        tracing::warn!(event = "passkey_sign_in_failed", %detail, "a passkey sign-in was refused");
        self.audit
            .record(
                AuditKind::PasskeySignInFailed,
                user,
                None,
                caller,
                Some(detail.to_owned()),
            )
            .await;
        PasskeyError::Refused
    }
}

/// A passkey's name as sent, or the field's validation error.
fn passkey_name(raw: &str) -> Result<PasskeyName, ValidationErrors> {
    PasskeyName::parse(raw).map_err(|error| {
        let mut errors = ValidationErrors::new();
        errors.add("name", error);
        errors
    })
}

/// Whether a counter moved on from the stored one: authenticators that keep none send 0
/// every time; one that keeps one must send more than last time.
fn moved_on(stored: u32, sent: u32) -> bool {
    (stored == 0 && sent == 0) || sent > stored
}

#[cfg(test)]
mod tests {
    use super::moved_on;

    #[test]
    fn a_counter_must_move_on_unless_the_authenticator_keeps_none() {
        assert!(moved_on(0, 0));
        assert!(moved_on(0, 1));
        assert!(moved_on(5, 6));
        assert!(!moved_on(5, 5));
        assert!(!moved_on(5, 4));
        assert!(!moved_on(5, 0));
    }
}
