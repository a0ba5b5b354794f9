//! The authentication use cases of [`AuthService`], a module per use case: [`sign_up`],
//! the password and MFA [`grants`], signing in to the hosted pages ([`browser`]), the
//! [`refresh`] grant and logout, and what a presented token speaks for ([`tokens`]). This
//! module holds the service and the steps they share: the password check inside a reserved
//! attempt, the MFA challenge, and opening a session.

mod browser;
mod grants;
mod passkey;
mod refresh;
mod sign_up;
mod tokens;

pub use browser::BrowserSignIn;
use passkey::Proof;
pub use passkey::{SecondFactorsOffered, SecondStepFlow, VerifiedPasskey};
pub use refresh::RefreshGrantError;
pub use sign_up::{RegisterError, Registration};
pub use tokens::{CurrentUserError, Introspection};

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::attempts::{self, Attempt, PasswordAttempts};
use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::email::{Email, LoginName};
use crate::error::{RepositoryError, ValidationErrors};
use crate::mfa::{
    Amr, Authenticators, CHALLENGE_LIFETIME, Challenge, ChallengeFor, Factor, FactorError,
    FactorUse, MfaPolicy, MfaRepository, OtpError, SecondFactors,
};
use crate::password::{self, Password};
pub use crate::ports::TokenGrant;
use crate::ports::{
    AccessClaims, AccessTokenService, HashingError, HashingTurn, InsertUserError, OpaqueTokens,
    PasswordHasher, PasswordVerifier, Rotation, SessionRepository, TokenDigest, TokenError,
    UserRepository, Verification,
};
use crate::scope::{ScopeError, ScopeSet};
use crate::session::{Caller, Session, SessionKind, SessionLifetimes};
use crate::throttle::{Bucket, Throttle, ip_subject};
use crate::user::{FullName, Role, User};

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Unknown email or wrong password: deliberately one case.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The password was right but the account is deactivated.
    #[error("account is disabled")]
    AccountDisabled,
    /// The password was right but the address is unverified and the policy requires it.
    #[error("email not verified")]
    EmailNotVerified,
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordGrantError {
    #[error(transparent)]
    Authenticate(#[from] AuthenticateError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Too many failed logins for this account or from this client: wait `retry_after`.
    #[error("too many failed logins")]
    Throttled { retry_after: std::time::Duration },
    /// The password was right and the account has MFA: the sign-in continues with a
    /// second factor and this token (single-use, [`CHALLENGE_LIFETIME`]).
    #[error("a second factor is required")]
    MfaRequired { mfa_token: SecretString },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

crate::throttle::throttled_error!(PasswordGrantError);

#[derive(Debug, thiserror::Error)]
pub enum MfaGrantError {
    /// The `mfa_token` is unknown, expired, used, for another client or kind of sign-in, or
    /// its account changed (password, deactivation) since.
    #[error("the MFA token is invalid, expired or used")]
    InvalidToken,
    /// Neither or both of a one-time code and a recovery code were given.
    #[error("give exactly one of a one-time code and a recovery code")]
    MissingFactor,
    /// The code is wrong, malformed or already used; it counts as a failed attempt.
    #[error("the code is wrong or was already used")]
    InvalidCode,
    /// Too many failed attempts for this account or from this network.
    #[error("too many failed attempts")]
    Throttled { retry_after: std::time::Duration },
    #[error(transparent)]
    Unreadable(#[from] OtpError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl From<FactorError> for MfaGrantError {
    fn from(error: FactorError) -> Self {
        match error {
            // MFA removed since the password was checked: the challenge is void.
            FactorError::NotEnabled => MfaGrantError::InvalidToken,
            FactorError::Invalid => MfaGrantError::InvalidCode,
            FactorError::Throttled { retry_after } => MfaGrantError::Throttled { retry_after },
            FactorError::Unreadable(error) => MfaGrantError::Unreadable(error),
            FactorError::Repository(error) => MfaGrantError::Repository(error),
        }
    }
}

/// The authentication use cases, over whatever adapters the application wires in.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn AccessTokenService>,
    sessions: Arc<dyn SessionRepository>,
    opaque: Arc<dyn OpaqueTokens>,
    clock: Arc<dyn Clock>,
    throttle: Throttle,
    attempts: PasswordAttempts,
    factors: SecondFactors,
    mfa: Arc<dyn MfaRepository>,
    passkeys: Arc<dyn crate::mfa::PasskeyPresence>,
    audit: Audit,
    policy: AuthPolicy,
    /// The issuer of tokens for registered APIs, and gatehouse's own API's identifier:
    /// without them, a session's grants for registered APIs give no token.
    apis: Option<(crate::oauth::audience::ApiTokens, String)>,
    /// Personal access tokens: without them, none is accepted.
    personal: Option<Arc<dyn crate::personal::PersonalTokenRepository>>,
}

/// Rules of authentication that deployments choose.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthPolicy {
    pub sessions: SessionLifetimes,
    /// Refuse logins of accounts whose email is not verified.
    pub require_verified_email: bool,
    pub mfa: MfaPolicy,
}

/// The adapters the authentication use cases run on.
#[derive(Clone)]
pub struct AuthPorts {
    pub users: Arc<dyn UserRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    /// Only handed on to the password attempts: the use cases verify through them.
    pub verifier: Arc<dyn PasswordVerifier>,
    pub tokens: Arc<dyn AccessTokenService>,
    pub sessions: Arc<dyn SessionRepository>,
    pub opaque: Arc<dyn OpaqueTokens>,
    pub clock: Arc<dyn Clock>,
    pub throttle: Throttle,
    pub audit: Audit,
    pub mfa: Arc<dyn MfaRepository>,
    pub authenticators: Arc<dyn Authenticators>,
}

impl AuthService {
    pub fn new(ports: AuthPorts, policy: AuthPolicy) -> Self {
        let attempts =
            PasswordAttempts::new(ports.verifier, ports.throttle.clone(), ports.audit.clone());
        Self {
            factors: SecondFactors::new(
                ports.mfa.clone(),
                ports.authenticators,
                attempts.clone(),
                ports.clock.clone(),
                ports.audit.clone(),
            ),
            mfa: ports.mfa,
            users: ports.users,
            hasher: ports.hasher,
            tokens: ports.tokens,
            sessions: ports.sessions,
            opaque: ports.opaque,
            clock: ports.clock,
            attempts,
            throttle: ports.throttle,
            audit: ports.audit,
            passkeys: Arc::new(crate::mfa::NoPasskeys),
            policy,
            apis: None,
            personal: None,
        }
    }

    /// The same service, accepting personal access tokens as bearer tokens.
    pub fn with_personal_tokens(
        mut self,
        tokens: Arc<dyn crate::personal::PersonalTokenRepository>,
    ) -> Self {
        self.personal = Some(tokens);
        self
    }

    /// The same service, refreshing a session's grants for registered APIs into tokens
    /// for them; `own` is gatehouse's own API's identifier (`jwt.audience`).
    pub fn with_apis(mut self, tokens: crate::oauth::audience::ApiTokens, own: String) -> Self {
        self.apis = Some((tokens, own));
        self
    }

    /// The same service, asking accounts that have a passkey for it after their password.
    pub fn with_passkeys(mut self, passkeys: Arc<dyn crate::mfa::PasskeyPresence>) -> Self {
        self.passkeys = passkeys;
        self
    }

    /// Whether `user` has a second factor: a confirmed authenticator or a passkey.
    async fn has_second_factor(&self, user: &User) -> Result<bool, RepositoryError> {
        Ok(self.factors.enabled(user).await?.is_some()
            || self.passkeys.has_passkey(user.id).await?)
    }

    /// Checks an email and password. Unknown emails are verified against a dummy hash so
    /// they take as long as wrong passwords; both give [`AuthenticateError::InvalidCredentials`].
    /// A right password whose stored hash is weaker than the current settings is re-hashed.
    /// Runs inside `attempt`, which the caller reserved and ends.
    #[tracing::instrument(skip_all)]
    async fn authenticate(
        &self,
        attempt: &Attempt,
        turn: HashingTurn,
        name: &LoginName,
        password: &SecretString,
    ) -> Result<User, AuthenticateError> {
        // Longer than any password we accept: refuse before spending a hash on it. This
        // reveals nothing, since it is refused the same way whether the account exists or not.
        if password
            .expose_secret()
            .chars()
            .take(password::MAX_LEN + 1)
            .count()
            > password::MAX_LEN
        {
            return Err(AuthenticateError::InvalidCredentials);
        }
        // An account without a password (it signs in another way) is, to a password, as
        // good as no account: verified against the dummy hash, refused the same way.
        let user = match name.email() {
            Some(email) => self
                .users
                .find_by_email(email)
                .await?
                .filter(User::has_password),
            None => None,
        };
        let stored = user
            .as_ref()
            .map_or_else(|| self.hasher.dummy_hash(), |user| &user.password_hash);
        let verification = self
            .attempts
            .verify(attempt, turn, password, stored)
            .await?;

        let (Some(user), Verification::Match { needs_rehash }) = (user, verification) else {
            tracing::info!(event = "login_failed", "login failed");
            return Err(AuthenticateError::InvalidCredentials);
        };
        if needs_rehash {
            self.upgrade_hash(&user, password).await;
        }
        Ok(user)
    }

    /// Whether an account whose password was right may log in: active, and verified when
    /// the policy requires it.
    fn admissible(&self, user: &User) -> Result<(), AuthenticateError> {
        if !user.is_active {
            tracing::info!(event = "login_failed", user_id = %user.id, "login refused: account disabled");
            return Err(AuthenticateError::AccountDisabled);
        }
        if self.policy.require_verified_email && !user.is_verified {
            tracing::info!(event = "login_failed", user_id = %user.id, "login refused: email not verified");
            return Err(AuthenticateError::EmailNotVerified);
        }
        Ok(())
    }

    /// A failed upgrade is logged and otherwise ignored: the old hash still works.
    async fn upgrade_hash(&self, user: &User, password: &SecretString) {
        let new_hash = match self.hasher.hash(password).await {
            Ok(hash) => hash,
            Err(error) => {
                tracing::warn!(user_id = %user.id, %error, "password hash upgrade postponed");
                return;
            }
        };
        match self
            .users
            .upgrade_password_hash(
                user.id,
                &user.password_hash,
                &new_hash,
                self.clock.now_stored(),
            )
            .await
        {
            Ok(true) => tracing::info!(user_id = %user.id, "password hash upgraded"),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(user_id = %user.id, %error, "password hash upgrade failed")
            }
        }
    }

    /// Starts the second step of a sign-in whose password was right.
    async fn challenge(
        &self,
        user: &User,
        purpose: ChallengeFor,
    ) -> Result<PasswordGrantError, RepositoryError> {
        let token = self.opaque.generate();
        let challenge = Challenge {
            user_id: user.id,
            purpose,
            credential_version: user.credential_version,
            expires_at: self.clock.now() + CHALLENGE_LIFETIME,
        };
        self.mfa
            .create_challenge(&self.opaque.digest(&token), &challenge)
            .await?;
        tracing::info!(event = "mfa_required", user_id = %user.id, "password accepted: second factor required");
        self.audit
            .meter()
            .login(crate::meter::LoginOutcome::SecondFactorAsked);
        Ok(PasswordGrantError::MfaRequired { mfa_token: token })
    }

    /// Judges a second step by its proof (see [`Self::second_step`] and
    /// [`Self::passkey_step`]).
    async fn proven_step(
        &self,
        mfa_token: &SecretString,
        proof: Proof,
        caller: &Caller,
        expected: impl FnOnce(&ChallengeFor) -> bool,
    ) -> Result<(User, Challenge), MfaGrantError> {
        match proof {
            Proof::Code(factor) => self.second_step(mfa_token, factor, caller, expected).await,
            Proof::Passkey(verified) => self.passkey_step(mfa_token, verified, expected).await,
        }
    }

    /// Judges the second step of a sign-in: the challenge must be live and of the kind
    /// `expected`, its account unchanged and able to sign in, the factor right; then the
    /// challenge is spent, atomically, so that of two racing completions one wins.
    async fn second_step(
        &self,
        mfa_token: &SecretString,
        factor: Option<Factor>,
        caller: &Caller,
        expected: impl FnOnce(&ChallengeFor) -> bool,
    ) -> Result<(User, Challenge), MfaGrantError> {
        let (digest, user, challenge) = self.live_challenge(mfa_token, expected).await?;
        let factor = factor.ok_or(MfaGrantError::MissingFactor)?;
        self.factors
            .verify(&user, &factor, caller, FactorUse::SignIn)
            .await?;
        self.redeem(&digest).await?;
        Ok((user, challenge))
    }

    /// The challenge under `mfa_token`, if it is live and of the kind `expected`, and its
    /// account, unchanged and able to sign in.
    async fn live_challenge(
        &self,
        mfa_token: &SecretString,
        expected: impl FnOnce(&ChallengeFor) -> bool,
    ) -> Result<(TokenDigest, User, Challenge), MfaGrantError> {
        // Only a digest of the token reaches storage, whatever it holds.
        let digest = self.opaque.digest(mfa_token);
        let now = self.clock.now();
        let challenge = match self.mfa.find_challenge(&digest).await? {
            Some(challenge) if now < challenge.expires_at && expected(&challenge.purpose) => {
                challenge
            }
            _ => return Err(MfaGrantError::InvalidToken),
        };
        let user = match self.users.find_by_id(challenge.user_id).await? {
            Some(user)
                if user.is_active && user.credential_version == challenge.credential_version =>
            {
                user
            }
            _ => return Err(MfaGrantError::InvalidToken),
        };
        Ok((digest, user, challenge))
    }

    /// Spends the challenge, atomically: of two racing completions one wins.
    async fn redeem(&self, digest: &TokenDigest) -> Result<(), MfaGrantError> {
        if self.mfa.redeem_challenge(digest, self.clock.now()).await? {
            Ok(())
        } else {
            Err(MfaGrantError::InvalidToken)
        }
    }

    /// The checks every password login shares: hashing admission, an attempt reserved
    /// against the account and the network, the password and the account's admission. A
    /// refusal after a right password still counts as a failed attempt. On success the
    /// attempt stays reserved for the caller to end ([`Self::opened`], [`Self::refused`]).
    async fn login(
        &self,
        name: &LoginName,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<(User, Attempt), PasswordGrantError> {
        // During a login flood most attempts find hashing saturated: refuse them before
        // any database work. An admitted one holds its place in the hashing queue through
        // that work, so no more logins get that far than will be hashed. A throttled one
        // holds it too, for the one upsert that refuses it: cheap requests cannot keep the
        // queue's places taken for longer than the database takes to answer them.
        let turn = self.hasher.admit().await.map_err(AuthenticateError::from)?;
        // Counted per normalized email whether or not the account exists, so the answer
        // tells nothing.
        let attempt = self
            .attempts
            .begin(name.throttle_key(), None, caller, attempts::LOGIN)
            .await?;
        let user = match self.authenticate(&attempt, turn, name, password).await {
            Ok(user) => user,
            Err(error @ (AuthenticateError::Hashing(_) | AuthenticateError::Repository(_))) => {
                self.attempts.abandoned(attempt).await;
                return Err(error.into());
            }
            Err(refused) => {
                self.attempts
                    .failed(attempt, attempts::LOGIN, None, caller, None)
                    .await;
                return Err(refused.into());
            }
        };
        // A right password that is refused anyway still counts as a failed attempt.
        match self.admissible(&user) {
            Ok(()) => Ok((user, attempt)),
            Err(refused) => Err(self.refused(attempt, &user, caller, refused.into()).await),
        }
    }

    /// Ends a login whose right password is refused all the same (a disabled account, a
    /// scope the role lacks): the attempt counts as failed.
    async fn refused(
        &self,
        attempt: Attempt,
        user: &User,
        caller: &Caller,
        refused: PasswordGrantError,
    ) -> PasswordGrantError {
        self.attempts
            .failed(
                attempt,
                attempts::LOGIN,
                Some(user.id),
                caller,
                Some(format!("refused: {refused}")),
            )
            .await;
        refused
    }

    /// Whether the account behind a right password has MFA; the attempt is given back if
    /// storage cannot tell.
    async fn has_mfa(
        &self,
        user: &User,
        attempt: Attempt,
    ) -> Result<(bool, Attempt), PasswordGrantError> {
        match self.has_second_factor(user).await {
            Ok(has) => Ok((has, attempt)),
            Err(error) => {
                self.attempts.abandoned(attempt).await;
                Err(error.into())
            }
        }
    }

    /// Ends a login whose session `created` (or failed to be): the attempt is given back
    /// if storage failed, cleared otherwise, and the success audited.
    async fn opened(
        &self,
        attempt: Attempt,
        created: Result<(), RepositoryError>,
        user: &User,
        session: &Session,
        detail: Option<&str>,
    ) -> Result<(), RepositoryError> {
        if let Err(error) = created {
            self.attempts.abandoned(attempt).await;
            return Err(error);
        }
        // The session exists: a failure to clear the counter must not hide it.
        if let Err(error) = self.attempts.succeeded(attempt).await {
            tracing::warn!(%error, "could not clear the login throttle after a success");
        }
        self.signed_in(user, session, detail).await;
        Ok(())
    }

    /// Audits a session just opened by a sign-in.
    async fn signed_in(&self, user: &User, session: &Session, detail: Option<&str>) {
        self.audit
            .record(
                AuditKind::LoginSucceeded,
                Some(user.id),
                None,
                &session.caller,
                detail.map(str::to_owned),
            )
            .await;
        tracing::info!(event = "login_succeeded", user_id = %user.id, session_id = %session.id, kind = session.kind.as_str(), amr = session.amr.as_str(), "login succeeded: session started");
        self.audit
            .meter()
            .login(crate::meter::LoginOutcome::Success);
    }

    /// Deletes sessions that expired or were revoked, with their refresh tokens; the
    /// housekeeping task calls it. Returns how many sessions went.
    pub async fn purge_sessions(&self) -> Result<u64, RepositoryError> {
        self.sessions.purge(self.clock.now()).await
    }

    /// Whether the user storage answers.
    pub async fn ready(&self) -> Result<(), RepositoryError> {
        self.users.ping().await
    }
}

#[cfg(test)]
pub(crate) mod tests;
