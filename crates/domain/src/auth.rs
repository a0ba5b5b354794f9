//! Use cases of sign-up and sign-in: `register`, `authenticate`, the password and refresh
//! grants, `logout` and `resolve_current_user`.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::attempts::{self, Attempt, PasswordAttempts};
use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::email::Email;
use crate::error::{RepositoryError, ValidationErrors};
use crate::mfa::{
    Amr, Authenticators, CHALLENGE_LIFETIME, Challenge, ChallengeFor, Factor, FactorError,
    FactorUse, MfaPolicy, MfaRepository, OtpError, SecondFactors,
};
use crate::password::{self, Password};
pub use crate::ports::TokenGrant;
use crate::ports::{
    AccessClaims, AccessTokenService, HashingError, HashingTurn, InsertUserError, OpaqueTokens,
    PasswordHasher, PasswordVerifier, Rotation, SessionRepository, TokenError, UserRepository,
    Verification,
};
use crate::scope::{ScopeError, ScopeSet};
use crate::session::{ClientInfo, Session, SessionKind, SessionLifetimes};
use crate::throttle::{Bucket, Throttle, ip_subject};
use crate::user::{FullName, Role, User};

/// What a new account is made from, as typed by a person.
pub struct Registration {
    pub email: String,
    pub password: SecretString,
    pub full_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// One or more fields broke the rules; nothing was stored.
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error("email is already registered")]
    EmailTaken,
    /// Too many registrations from this client's network: wait `retry_after`.
    #[error("too many registrations")]
    Throttled { retry_after: std::time::Duration },
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

crate::throttle::throttled_error!(RegisterError);

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

#[derive(Debug, thiserror::Error)]
pub enum RefreshGrantError {
    /// Unknown, expired or revoked refresh token, or its account is gone or disabled.
    #[error("invalid refresh token")]
    Invalid,
    /// The token had already been used: its session is now revoked.
    #[error("refresh token reused; session revoked")]
    Reused,
    /// A scope beyond the session's was asked for.
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// A browser session just opened, and the cookie that carries it (its only copy).
#[derive(Debug)]
pub struct BrowserSignIn {
    pub session: Session,
    pub cookie: SecretString,
    /// The policy wants this person to enrol in MFA before they get all their role holds.
    pub must_enrol: bool,
}

/// What [`AuthService::introspect`] found.
#[derive(Debug)]
pub enum Introspection {
    /// A valid access token.
    Access {
        user: User,
        claims: AccessClaims,
        session: Session,
    },
    /// A current refresh token.
    Refresh {
        user: User,
        session: Session,
    },
    Inactive,
}

#[derive(Debug, thiserror::Error)]
pub enum CurrentUserError {
    /// The token is bad, or no longer speaks for a usable account. The reason is for logs.
    #[error("invalid access token: {0}")]
    InvalidToken(String),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
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
    audit: Audit,
    policy: AuthPolicy,
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
            policy,
        }
    }

    /// Creates an account with role `user`. Every field is validated before the password
    /// is hashed, so bad input costs nothing and stores nothing.
    /// Registrations are counted per client network before anything else.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        input: Registration,
        client: &ClientInfo,
    ) -> Result<User, RegisterError> {
        if let Some(ip) = &client.ip {
            self.throttle
                .admit(Bucket::RegisterIp, &ip_subject(ip))
                .await?;
        }
        self.register_with_role(input, Role::User).await
    }

    /// Creates an account with the given role, unthrottled (the `create-admin` command
    /// uses it with `Admin`).
    #[tracing::instrument(skip_all, fields(role = %role))]
    pub async fn register_with_role(
        &self,
        input: Registration,
        role: Role,
    ) -> Result<User, RegisterError> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(&input.email));
        let full_name = errors.check(
            "full_name",
            FullName::parse_optional(input.full_name.as_deref()),
        );
        let password = errors.check("password", Password::parse(input.password, email.as_ref()));
        let (Some(email), Some(full_name), Some(password)) = (email, full_name, password) else {
            return Err(RegisterError::Invalid(errors));
        };

        let hash = self.hasher.hash(password.secret()).await?;
        let user = User::new(email, full_name, role, hash, self.clock.now());
        match self.users.insert(&user).await {
            Ok(()) => {
                tracing::info!(user_id = %user.id, "user registered");
                Ok(user)
            }
            Err(InsertUserError::EmailTaken) => Err(RegisterError::EmailTaken),
            Err(InsertUserError::Repository(error)) => Err(error.into()),
        }
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
        username: &str,
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
        let user = match Email::parse(username) {
            Ok(email) => self
                .users
                .find_by_email(&email)
                .await?
                .filter(User::has_password),
            Err(_) => None,
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

    /// The OAuth2 password grant: authenticate, decide the scopes, start a session, and
    /// issue its first access and refresh tokens. Unknown scope names are refused before any
    /// hashing. The attempt is reserved against the account and the caller's network before
    /// the password is verified, and counts as a failure unless a session is started: a
    /// right password with a scope the role does not allow, or for a disabled account, still
    /// counts. An account with MFA gets [`PasswordGrantError::MfaRequired`] instead and its
    /// attempt is given back: each code that follows is an attempt of its own.
    /// `oauth_client` is the `client_id` the request named; the same must complete it.
    #[tracing::instrument(skip_all)]
    pub async fn password_grant(
        &self,
        username: &str,
        password: &SecretString,
        scope: Option<&str>,
        oauth_client: Option<&str>,
        client: ClientInfo,
    ) -> Result<TokenGrant, PasswordGrantError> {
        if let Some(raw) = scope {
            ScopeSet::parse(raw)?;
        }
        let (user, attempt) = self.login(username, password, &client).await?;
        let (has_mfa, attempt) = self.has_mfa(&user, attempt).await?;
        let amr = if has_mfa {
            Amr::PasswordOtp
        } else {
            Amr::Password
        };
        let scopes = match ScopeSet::grant(scope, self.policy.mfa.scope_role(user.role, amr)) {
            Ok(scopes) => scopes,
            Err(refused) => {
                return Err(self.refused(attempt, &user, &client, refused.into()).await);
            }
        };
        if has_mfa {
            self.attempts.abandoned(attempt).await;
            let purpose = ChallengeFor::Tokens {
                scopes,
                client_id: oauth_client.map(str::to_owned),
            };
            return Err(self.challenge(&user, purpose).await?);
        }
        let now = self.clock.now();
        let session = Session::start(&user, scopes.clone(), client, self.policy.sessions, now);
        let refresh = self.opaque.generate();
        let created = self
            .sessions
            .create(&session, &self.opaque.digest(&refresh))
            .await;
        self.opened(attempt, created, &user, &session, None).await?;
        let access = self.tokens.issue(&user, &session, scopes, now)?;
        Ok(TokenGrant { access, refresh })
    }

    /// The second step of the password grant for an account with MFA: the `mfa_token` the
    /// first step returned, from the same client, and a one-time or recovery code, checked
    /// as a password is (reserved, throttled with the passwords, audited). The token is
    /// spent by the first success; a wrong code leaves it for another try.
    #[tracing::instrument(skip_all)]
    pub async fn mfa_grant(
        &self,
        mfa_token: &SecretString,
        factor: Option<Factor>,
        oauth_client: Option<&str>,
        client: ClientInfo,
    ) -> Result<TokenGrant, MfaGrantError> {
        let (user, challenge) = self
            .second_step(mfa_token, factor, &client, |purpose| match purpose {
                ChallengeFor::Tokens { client_id, .. } => client_id.as_deref() == oauth_client,
                ChallengeFor::Browser => false,
            })
            .await?;
        let ChallengeFor::Tokens { scopes, .. } = challenge.purpose else {
            return Err(MfaGrantError::InvalidToken);
        };
        let now = self.clock.now();
        let session = Session::start(&user, scopes.clone(), client, self.policy.sessions, now)
            .with_amr(Amr::PasswordOtp);
        let refresh = self.opaque.generate();
        self.sessions
            .create(&session, &self.opaque.digest(&refresh))
            .await?;
        self.signed_in(&user, &session, Some("with a second factor"))
            .await;
        let access = self.tokens.issue(&user, &session, scopes, now)?;
        Ok(TokenGrant { access, refresh })
    }

    /// Signs a person in to the hosted pages: the same throttled, audited password check
    /// as the password grant, opening a browser session whose cookie is returned (once), or
    /// [`PasswordGrantError::MfaRequired`] for an account with MFA.
    #[tracing::instrument(skip_all)]
    pub async fn browser_sign_in(
        &self,
        username: &str,
        password: &SecretString,
        client: ClientInfo,
    ) -> Result<BrowserSignIn, PasswordGrantError> {
        let (user, attempt) = self.login(username, password, &client).await?;
        let (has_mfa, attempt) = self.has_mfa(&user, attempt).await?;
        if has_mfa {
            self.attempts.abandoned(attempt).await;
            return Err(self.challenge(&user, ChallengeFor::Browser).await?);
        }
        let session = Session::start(
            &user,
            ScopeSet::default(),
            client,
            self.policy.sessions,
            self.clock.now(),
        )
        .in_browser();
        let cookie = self.opaque.generate();
        let created = self
            .sessions
            .create_browser(&session, &self.opaque.digest(&cookie))
            .await;
        self.opened(attempt, created, &user, &session, Some("hosted sign-in"))
            .await?;
        Ok(BrowserSignIn {
            session,
            cookie,
            must_enrol: self.policy.mfa.must_enrol(user.role, false),
        })
    }

    /// The second step of a hosted sign-in: as [`Self::mfa_grant`], opening a browser
    /// session.
    #[tracing::instrument(skip_all)]
    pub async fn browser_mfa(
        &self,
        mfa_token: &SecretString,
        factor: Option<Factor>,
        client: ClientInfo,
    ) -> Result<BrowserSignIn, MfaGrantError> {
        let (user, _) = self
            .second_step(mfa_token, factor, &client, |purpose| {
                *purpose == ChallengeFor::Browser
            })
            .await?;
        let session = Session::start(
            &user,
            ScopeSet::default(),
            client,
            self.policy.sessions,
            self.clock.now(),
        )
        .in_browser()
        .with_amr(Amr::PasswordOtp);
        let cookie = self.opaque.generate();
        self.sessions
            .create_browser(&session, &self.opaque.digest(&cookie))
            .await?;
        self.signed_in(&user, &session, Some("hosted sign-in with a second factor"))
            .await;
        Ok(BrowserSignIn {
            session,
            cookie,
            must_enrol: false,
        })
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
        Ok(PasswordGrantError::MfaRequired { mfa_token: token })
    }

    /// Judges the second step of a sign-in: the challenge must be live and of the kind
    /// `expected`, its account unchanged and able to sign in, the factor right; then the
    /// challenge is spent, atomically, so that of two racing completions one wins.
    async fn second_step(
        &self,
        mfa_token: &SecretString,
        factor: Option<Factor>,
        client: &ClientInfo,
        expected: impl FnOnce(&ChallengeFor) -> bool,
    ) -> Result<(User, Challenge), MfaGrantError> {
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
        let factor = factor.ok_or(MfaGrantError::MissingFactor)?;
        self.factors
            .verify(&user, &factor, client, FactorUse::SignIn)
            .await?;
        if !self.mfa.redeem_challenge(&digest, now).await? {
            return Err(MfaGrantError::InvalidToken);
        }
        Ok((user, challenge))
    }

    /// The live browser session behind a cookie, with its user, if the user may still
    /// sign in; `None` for anything else.
    pub async fn browser_session(
        &self,
        cookie: &SecretString,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let found = self
            .sessions
            .find_browser(&self.opaque.digest(cookie))
            .await?;
        let now = self.clock.now();
        Ok(found.filter(|(session, user)| {
            session.kind == SessionKind::Browser
                && session.is_live(now)
                && user.is_active
                && session.opened_under(user)
        }))
    }

    /// Ends the browser session behind a cookie, if any.
    pub async fn browser_sign_out(
        &self,
        cookie: &SecretString,
        client: &ClientInfo,
    ) -> Result<(), RepositoryError> {
        if let Some((session, user)) = self.browser_session(cookie).await? {
            self.sessions
                .revoke(user.id, session.id, self.clock.now())
                .await?;
            self.audit
                .record(AuditKind::BrowserSignOut, Some(user.id), None, client, None)
                .await;
            tracing::info!(event = "browser_sign_out", user_id = %user.id, session_id = %session.id, "signed out of the hosted pages");
        }
        Ok(())
    }

    /// The checks every password login shares: hashing admission, an attempt reserved
    /// against the account and the network, the password and the account's admission. A
    /// refusal after a right password still counts as a failed attempt. On success the
    /// attempt stays reserved for the caller to end ([`Self::opened`], [`Self::refused`]).
    async fn login(
        &self,
        username: &str,
        password: &SecretString,
        client: &ClientInfo,
    ) -> Result<(User, Attempt), PasswordGrantError> {
        // During a login flood most attempts find hashing saturated: refuse them before
        // any database work. An admitted one holds its place in the hashing queue through
        // that work, so no more logins get that far than will be hashed. A throttled one
        // holds it too, for the one upsert that refuses it: cheap requests cannot keep the
        // queue's places taken for longer than the database takes to answer them.
        let turn = self.hasher.admit().await.map_err(AuthenticateError::from)?;
        // Counted per normalized email whether or not the account exists, so the answer
        // tells nothing.
        let account = Email::parse(username)
            .map(|email| email.as_str().to_owned())
            .unwrap_or_else(|_| username.trim().to_lowercase());
        let attempt = self
            .attempts
            .begin(&account, None, client, attempts::LOGIN)
            .await?;
        let user = match self.authenticate(&attempt, turn, username, password).await {
            Ok(user) => user,
            Err(error @ (AuthenticateError::Hashing(_) | AuthenticateError::Repository(_))) => {
                self.attempts.abandoned(attempt).await;
                return Err(error.into());
            }
            Err(refused) => {
                self.attempts
                    .failed(attempt, attempts::LOGIN, None, client, None)
                    .await;
                return Err(refused.into());
            }
        };
        // A right password that is refused anyway still counts as a failed attempt.
        match self.admissible(&user) {
            Ok(()) => Ok((user, attempt)),
            Err(refused) => Err(self.refused(attempt, &user, client, refused.into()).await),
        }
    }

    /// Ends a login whose right password is refused all the same (a disabled account, a
    /// scope the role lacks): the attempt counts as failed.
    async fn refused(
        &self,
        attempt: Attempt,
        user: &User,
        client: &ClientInfo,
        refused: PasswordGrantError,
    ) -> PasswordGrantError {
        self.attempts
            .failed(
                attempt,
                attempts::LOGIN,
                Some(user.id),
                client,
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
        match self.factors.enabled(user).await {
            Ok(credential) => Ok((credential.is_some(), attempt)),
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
                &session.client,
                detail.map(str::to_owned),
            )
            .await;
        tracing::info!(event = "login_succeeded", user_id = %user.id, session_id = %session.id, kind = session.kind.as_str(), amr = session.amr.as_str(), "login succeeded: session started");
    }

    /// The OAuth2 refresh grant: rotate the refresh token and issue a new pair. `scope` may
    /// narrow the session's scopes for the new access token, never widen them. A session an
    /// authorization code opened refreshes only for its client (`oauth_client`, which the
    /// caller authenticated). A token that
    /// was already used revokes its session, whatever else the request carries: replay is
    /// judged before the scope is even read.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_grant(
        &self,
        refresh: &SecretString,
        scope: Option<&str>,
        oauth_client: Option<&crate::oauth::ClientId>,
        client: ClientInfo,
    ) -> Result<TokenGrant, RefreshGrantError> {
        let now = self.clock.now();
        let old = self.opaque.digest(refresh);
        let next = self.opaque.generate();
        let requested = scope.map(str::trim).filter(|s| !s.is_empty());
        // A bad scope is refused before rotating, so the client's refresh token stays
        // usable; only a current token presented by its own client gets that far (a stale
        // one goes on to `rotate`, which tells a replay from a stranger, and one presented
        // by another client to the binding below, which ends its session: a probe with a
        // stolen token is judged by who presents it before anything it asks for).
        let requested = match requested {
            Some(raw) => match self.sessions.find_by_refresh(&old).await? {
                Some(session)
                    if session.is_live(now) && presented_by_own(&session, oauth_client) =>
                {
                    let requested = ScopeSet::parse(raw)?;
                    if let Some(extra) = requested.iter().find(|s| !session.scopes.contains(*s)) {
                        return Err(ScopeError::NotAllowed(extra).into());
                    }
                    Some(requested)
                }
                _ => None,
            },
            None => None,
        };
        let rotation = self
            .sessions
            .rotate(&old, &self.opaque.digest(&next), now, self.policy.sessions)
            .await?;
        let session = match rotation {
            Rotation::Rotated(session) => session,
            Rotation::Reused { session, user } => {
                self.audit
                    .record(
                        AuditKind::RefreshTokenReused,
                        Some(user),
                        None,
                        &client,
                        Some(format!("session {session} revoked")),
                    )
                    .await;
                tracing::warn!(event = "refresh_token_reused", session_id = %session, "refresh token reused: session revoked");
                return Err(RefreshGrantError::Reused);
            }
            Rotation::Lost | Rotation::Invalid => return Err(RefreshGrantError::Invalid),
        };
        // A code-flow session's refresh token is bound to its client (RFC 6749 §10.4):
        // presented by anyone else, it is taken for stolen and its session ends.
        if !presented_by_own(&session, oauth_client) {
            self.sessions
                .revoke(session.user_id, session.id, now)
                .await?;
            self.audit
                .record(
                    AuditKind::RefreshTokenReused,
                    Some(session.user_id),
                    None,
                    &client,
                    Some(format!(
                        "session {} revoked: presented by another client",
                        session.id
                    )),
                )
                .await;
            tracing::warn!(event = "refresh_token_reused", session_id = %session.id, "refresh token presented by another client: session revoked");
            return Err(RefreshGrantError::Invalid);
        }
        let user = match self.users.find_by_id(session.user_id).await? {
            Some(user) if user.is_active && session.opened_under(&user) => user,
            _ => {
                self.sessions
                    .revoke(session.user_id, session.id, now)
                    .await?;
                return Err(RefreshGrantError::Invalid);
            }
        };
        // The role may have changed since login: never grant what it no longer allows.
        let scopes: ScopeSet = requested
            .unwrap_or_else(|| session.scopes.clone())
            .iter()
            .filter(|scope| scope.allowed_for(self.policy.mfa.scope_role(user.role, session.amr)))
            .collect();
        let access = self.tokens.issue(&user, &session, scopes, now)?;
        self.audit
            .record(
                AuditKind::TokenRefreshed,
                Some(user.id),
                None,
                &client,
                None,
            )
            .await;
        tracing::info!(event = "token_refreshed", user_id = %user.id, session_id = %session.id, "tokens refreshed");
        Ok(TokenGrant {
            access,
            refresh: next,
        })
    }

    /// Ends the session the caller's token belongs to: its refresh token and every access
    /// token issued in it stop working at once.
    #[tracing::instrument(skip_all)]
    pub async fn logout(
        &self,
        claims: &AccessClaims,
        client: &ClientInfo,
    ) -> Result<(), RepositoryError> {
        self.sessions
            .revoke(claims.user_id, claims.session_id, self.clock.now())
            .await?;
        self.audit
            .record(AuditKind::Logout, Some(claims.user_id), None, client, None)
            .await;
        tracing::info!(event = "logout", user_id = %claims.user_id, session_id = %claims.session_id, "logged out");
        Ok(())
    }

    /// The account behind a bearer token, re-read from storage so that a deleted or
    /// deactivated account, or a changed password, takes effect on the next request.
    /// Every authenticated request runs it: its span is a debug one, so that at the default
    /// level it costs nothing (the request's own span identifies the request).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn resolve_current_user(
        &self,
        token: &str,
    ) -> Result<(User, AccessClaims), CurrentUserError> {
        self.resolve_access(token)
            .await
            .map(|(user, claims, _)| (user, claims))
    }

    /// [`Self::resolve_current_user`], with the session the token belongs to.
    async fn resolve_access(
        &self,
        token: &str,
    ) -> Result<(User, AccessClaims, Session), CurrentUserError> {
        let claims = self
            .tokens
            .verify(token, self.clock.now())
            .map_err(|error| CurrentUserError::InvalidToken(error.to_string()))?;
        let Some((session, user)) = self.sessions.find_with_user(claims.session_id).await? else {
            return Err(CurrentUserError::InvalidToken(
                "session or user no longer exists".into(),
            ));
        };
        if session.user_id != claims.user_id || !session.is_live(self.clock.now()) {
            return Err(CurrentUserError::InvalidToken(
                "session revoked or expired".into(),
            ));
        }
        if !user.is_active {
            return Err(CurrentUserError::InvalidToken("account is disabled".into()));
        }
        if !session.opened_under(&user) {
            return Err(CurrentUserError::InvalidToken(
                "session opened with a password that has since changed".into(),
            ));
        }
        if claims.issued_at < user.password_changed_at {
            return Err(CurrentUserError::InvalidToken(
                "issued before the last password change".into(),
            ));
        }
        Ok((user, claims, session))
    }

    /// The API session behind a current refresh token, while it and its user may still
    /// be used.
    async fn live_refresh_session(
        &self,
        token: &SecretString,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let Some(session) = self
            .sessions
            .find_by_refresh(&self.opaque.digest(token))
            .await?
        else {
            return Ok(None);
        };
        let user = self.users.find_by_id(session.user_id).await?;
        let now = self.clock.now();
        Ok(user
            .filter(|user| {
                session.kind == SessionKind::Api
                    && session.is_live(now)
                    && user.is_active
                    && session.opened_under(user)
            })
            .map(|user| (session, user)))
    }

    /// What a token is worth right now (RFC 7662): an access token passes every check a
    /// request's would; a refresh token must be current, its session live and its user
    /// able to sign in. Anything else, revoked sessions included, is inactive.
    pub async fn introspect(&self, token: &SecretString) -> Result<Introspection, RepositoryError> {
        match self.resolve_access(token.expose_secret()).await {
            Ok((user, claims, session)) => {
                return Ok(Introspection::Access {
                    user,
                    claims,
                    session,
                });
            }
            Err(CurrentUserError::Repository(error)) => return Err(error),
            Err(CurrentUserError::InvalidToken(_)) => {}
        }
        if !crate::ports::is_opaque_token(token.expose_secret()) {
            return Ok(Introspection::Inactive);
        }
        Ok(match self.live_refresh_session(token).await? {
            Some((session, user)) => Introspection::Refresh { user, session },
            None => Introspection::Inactive,
        })
    }

    /// Revokes the session of an access or refresh token (RFC 7009), provided `client`
    /// opened it: a token of another client, or unknown, changes nothing and reports
    /// nothing. Returns whether a session was revoked.
    pub async fn revoke_token(
        &self,
        token: &SecretString,
        client: &crate::oauth::ClientId,
        caller: &ClientInfo,
    ) -> Result<bool, RepositoryError> {
        let session = match self.introspect(token).await? {
            Introspection::Access { session, .. } | Introspection::Refresh { session, .. } => {
                session
            }
            // A refresh token rotated meanwhile (a refresh racing the revocation) still
            // names its session, which must end all the same.
            Introspection::Inactive if crate::ports::is_opaque_token(token.expose_secret()) => {
                match self
                    .sessions
                    .find_by_any_refresh(&self.opaque.digest(token))
                    .await?
                {
                    Some(session) => session,
                    None => return Ok(false),
                }
            }
            Introspection::Inactive => return Ok(false),
        };
        if session.client_id.as_ref() != Some(client) {
            return Ok(false);
        }
        let revoked = self
            .sessions
            .revoke(session.user_id, session.id, self.clock.now())
            .await?;
        if revoked {
            self.audit
                .record(
                    AuditKind::Logout,
                    Some(session.user_id),
                    None,
                    caller,
                    Some(format!("revoked by client {client}")),
                )
                .await;
            tracing::info!(event = "logout", user_id = %session.user_id, session_id = %session.id, client_id = %client, "token revoked: session ended");
        }
        Ok(revoked)
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

/// Whether a refresh token of `session` comes from the client it was issued to: any
/// caller for a session of the password grant, only its client for a code-flow session.
fn presented_by_own(session: &Session, oauth_client: Option<&crate::oauth::ClientId>) -> bool {
    session.client_id.is_none() || session.client_id.as_ref() == oauth_client
}

#[cfg(test)]
pub(crate) mod tests;
