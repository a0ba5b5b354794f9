//! Sessions opened by a passkey, once the passkey use cases verified its assertion: tokens
//! for an app, or a browser session of the hosted pages. A passkey is a whole sign-in
//! (held, and unlocked by the person): no second factor follows it.

use super::*;
use crate::id::ClientId;

impl AuthService {
    /// Tokens for `user`, who signed in with a passkey (`amr`), with `scope` (or the role's
    /// defaults). Refused for a disabled account, or a scope the role does not allow.
    #[tracing::instrument(skip_all)]
    pub async fn passkey_grant(
        &self,
        user: &User,
        amr: Amr,
        scope: Option<&str>,
        caller: Caller,
    ) -> Result<TokenGrant, PasswordGrantError> {
        if !user.is_active {
            return Err(AuthenticateError::AccountDisabled.into());
        }
        let scopes = ScopeSet::grant(scope, self.policy.mfa.scope_role(user.role, amr))?;
        let now = self.clock.now();
        let session =
            Session::start(user, scopes.clone(), caller, self.policy.sessions, now).with_amr(amr);
        let refresh = self.opaque.generate();
        self.sessions
            .create(&session, &self.opaque.digest(&refresh))
            .await?;
        self.signed_in(user, &session, Some("with a passkey")).await;
        let access = self.tokens.issue(user, &session, scopes, now)?;
        Ok(TokenGrant { access, refresh })
    }

    /// A browser session of the hosted pages for `user`, who signed in with a passkey.
    #[tracing::instrument(skip_all)]
    pub async fn browser_sign_in_passkey(
        &self,
        user: &User,
        amr: Amr,
        caller: Caller,
    ) -> Result<BrowserSignIn, PasswordGrantError> {
        if !user.is_active {
            return Err(AuthenticateError::AccountDisabled.into());
        }
        let session = Session::start(
            user,
            ScopeSet::default(),
            caller,
            self.policy.sessions,
            self.clock.now(),
        )
        .in_browser()
        .with_amr(amr);
        let cookie = self.opaque.generate();
        self.sessions
            .create_browser(&session, &self.opaque.digest(&cookie))
            .await?;
        self.signed_in(user, &session, Some("hosted sign-in with a passkey"))
            .await;
        Ok(BrowserSignIn {
            session,
            cookie,
            must_enrol: false,
        })
    }
}

/// A passkey the passkey use cases verified as the second step of `user`'s sign-in; only
/// they make one.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedPasskey {
    pub(crate) user: crate::user::UserId,
    /// The credential may be synced (`swk`), or is bound to its device (`hwk`).
    pub(crate) synced: bool,
}

/// Where a second step completes: at the token endpoint for a client (the password
/// grant's), on the hosted pages, or either (to offer a factor).
#[derive(Debug, Clone, Copy)]
pub enum SecondStepFlow<'a> {
    Tokens(Option<&'a ClientId>),
    Browser,
    Any,
}

impl SecondStepFlow<'_> {
    /// Whether a challenge for `purpose` completes in this flow.
    pub(super) fn admits(self, purpose: &ChallengeFor) -> bool {
        match (self, purpose) {
            (SecondStepFlow::Any, _) | (SecondStepFlow::Browser, ChallengeFor::Browser { .. }) => {
                true
            }
            (SecondStepFlow::Tokens(client), ChallengeFor::Tokens { client_id, .. }) => {
                client_id.as_deref() == client.map(ClientId::as_str)
            }
            _ => false,
        }
    }
}

/// What proved the second step of a sign-in.
pub(super) enum Proof {
    /// A code from the authenticator app or a recovery code (checked by the step itself).
    Code(Option<Factor>),
    /// A passkey the passkey use cases verified.
    Passkey(VerifiedPasskey),
}

/// The kind of a [`Proof`], kept once the proof is spent.
#[derive(Debug, Clone, Copy)]
pub(super) enum SecondFactorKind {
    Code,
    Passkey { synced: bool },
}

impl Proof {
    pub(super) fn kind(&self) -> SecondFactorKind {
        match self {
            Proof::Code(_) => SecondFactorKind::Code,
            Proof::Passkey(verified) => SecondFactorKind::Passkey {
                synced: verified.synced,
            },
        }
    }
}

impl SecondFactorKind {
    /// The methods of a sign-in whose first factor was `first`, then this.
    pub(super) fn after(self, first: Amr) -> Amr {
        match self {
            SecondFactorKind::Code => first.with_otp(),
            SecondFactorKind::Passkey { synced } => first.with_passkey(synced),
        }
    }

    /// For the audit record of the sign-in.
    pub(super) fn detail(self) -> &'static str {
        match self {
            SecondFactorKind::Code => "with a second factor",
            SecondFactorKind::Passkey { .. } => "with a passkey as second factor",
        }
    }
}

/// The second factors an account can give after its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactorsOffered {
    /// A code from an authenticator app (or a recovery code).
    pub code: bool,
    /// One of its passkeys.
    pub passkey: bool,
}

impl AuthService {
    /// The account waiting for its second factor under `mfa_token`, while the challenge
    /// is live and the account unchanged; `None` otherwise.
    pub async fn challenged(
        &self,
        mfa_token: &SecretString,
    ) -> Result<Option<User>, RepositoryError> {
        self.challenged_in(mfa_token, SecondStepFlow::Any).await
    }

    /// As [`Self::challenged`], for a challenge of `flow` only: a second factor is checked
    /// (and counted) only for a step that could then complete.
    pub async fn challenged_in(
        &self,
        mfa_token: &SecretString,
        flow: SecondStepFlow<'_>,
    ) -> Result<Option<User>, RepositoryError> {
        match self
            .live_challenge(mfa_token, |purpose| flow.admits(purpose))
            .await
        {
            Ok((_, user, _)) => Ok(Some(user)),
            Err(MfaGrantError::Repository(error)) => Err(error),
            Err(_) => Ok(None),
        }
    }

    /// Which second factors the account waiting under `mfa_token` can give; `None` when
    /// the challenge is not live (spent, expired, or its account changed).
    pub async fn second_factors(
        &self,
        mfa_token: &SecretString,
    ) -> Result<Option<SecondFactorsOffered>, RepositoryError> {
        let Some(user) = self.challenged(mfa_token).await? else {
            return Ok(None);
        };
        Ok(Some(SecondFactorsOffered {
            code: self.factors.enabled(&user).await?.is_some(),
            passkey: self.passkeys.has_passkey(user.id).await?,
        }))
    }

    /// The second step of the password grant with a passkey (see [`Self::mfa_grant`]).
    #[tracing::instrument(skip_all)]
    pub async fn mfa_grant_with_passkey(
        &self,
        mfa_token: &SecretString,
        verified: VerifiedPasskey,
        client: Option<&ClientId>,
        caller: Caller,
    ) -> Result<TokenGrant, MfaGrantError> {
        self.tokens_after_second_step(mfa_token, Proof::Passkey(verified), client, caller)
            .await
    }

    /// The second step of a hosted sign-in with a passkey (see [`Self::browser_mfa`]).
    #[tracing::instrument(skip_all)]
    pub async fn browser_mfa_with_passkey(
        &self,
        mfa_token: &SecretString,
        verified: VerifiedPasskey,
        caller: Caller,
    ) -> Result<BrowserSignIn, MfaGrantError> {
        self.browser_after_second_step(mfa_token, Proof::Passkey(verified), caller)
            .await
    }

    /// Judges a second step proven by a passkey: the challenge live and of the kind
    /// `expected`, its account the passkey's; then spent.
    pub(super) async fn passkey_step(
        &self,
        mfa_token: &SecretString,
        verified: VerifiedPasskey,
        expected: impl FnOnce(&ChallengeFor) -> bool,
    ) -> Result<(User, Challenge), MfaGrantError> {
        let (digest, user, challenge) = self.live_challenge(mfa_token, expected).await?;
        if user.id != verified.user {
            return Err(MfaGrantError::InvalidToken);
        }
        self.redeem(&digest).await?;
        Ok((user, challenge))
    }
}
