//! Ports: what the use cases need from the outside world. Adapters in `gatehouse-security`
//! and `gatehouse-persistence` implement them; each method's doc states its error contract.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use crate::email::Email;
use crate::error::RepositoryError;
use crate::id::ClientId;
use crate::pagination::Page;
use crate::password::PasswordHash;
use crate::scope::ScopeSet;
use crate::session::{Session, SessionId, SessionLifetimes};
use crate::user::{Role, User, UserFilter, UserId};

/// Why a new user could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// Another user already has this normalized email. Adapters must detect this through
    /// the storage's unique constraint, so that concurrent inserts race safely.
    #[error("email is already registered")]
    EmailTaken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Storage of user accounts.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user. Returns [`InsertUserError::EmailTaken`] when the email is taken,
    /// including when another insert of the same email wins a race.
    async fn insert(&self, user: &User) -> Result<(), InsertUserError>;

    /// The user with this id, or `None`. Errors only when storage fails.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError>;

    /// The user with this normalized email, or `None`. Errors only when storage fails.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepositoryError>;

    /// Replaces the password hash of `id` with `new` only while it still equals `expected`,
    /// so an upgrade of the hash after login never overwrites a concurrent password change.
    /// Returns whether the hash was replaced; `at` becomes the user's `updated_at`.
    async fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Succeeds when the storage answers a trivial query.
    async fn ping(&self) -> Result<(), RepositoryError>;

    /// One page of the users matching `filter`, oldest first, and how many match, counted up
    /// to `page.count_limit()`.
    async fn list(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), RepositoryError>;

    /// Stores every field of `user` over the row with its id, provided the row is still the
    /// version the change was made from (its `updated_at` equals `read_at`), so concurrent
    /// changes never silently undo each other.
    /// Returns [`SaveUserError::NotFound`] when no such row exists,
    /// [`SaveUserError::Conflict`] when the row changed since `read_at`,
    /// [`SaveUserError::EmailTaken`] when the new email belongs to someone else, and
    /// [`SaveUserError::LastAdmin`] when the change would leave no active admin — decided
    /// atomically, so two concurrent demotions cannot both pass.
    async fn update(&self, user: &User, read_at: DateTime<Utc>) -> Result<(), SaveUserError>;

    /// Stores a new password as [`UserRepository::update`] stores any change (`user` comes
    /// from [`User::set_password`]) and, in the same transaction, ends every other session
    /// of the user and carries `keep` (the caller's own, if any) over to the new credential,
    /// so no request sees the new password with an old session still good, or the caller's
    /// session ended. The password-reset links sent to the user before are used up in the
    /// same transaction, so none can set another password afterwards. Returns how many
    /// sessions were ended; errors as `update`.
    async fn update_credential(
        &self,
        user: &User,
        read_at: DateTime<Utc>,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, SaveUserError>;

    /// Deletes the user and everything they own (their todos).
    /// Returns [`SaveUserError::NotFound`] when no such user exists and
    /// [`SaveUserError::LastAdmin`] when they are the last active admin.
    async fn delete(&self, id: UserId) -> Result<(), SaveUserError>;
}

/// Why a change to an existing user could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum SaveUserError {
    #[error("user not found")]
    NotFound,
    #[error("email is already registered")]
    EmailTaken,
    #[error("the last active admin cannot be demoted, deactivated or deleted")]
    LastAdmin,
    #[error("the user changed meanwhile")]
    Conflict,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right. `needs_rehash` says the stored hash uses an older algorithm or
    /// weaker parameters than the hasher is configured with.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

/// Why hashing could not run.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// Every hashing worker is busy and the wait queue is full: try again later.
    #[error("password hashing is saturated")]
    Overloaded { retry_after: Duration },
    /// The hashing backend failed (bad configuration, a panicked worker).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// A place among the hashes the hasher will take, given by [`PasswordHasher::admit`] and
/// used by the verification it was given for ([`PasswordVerifier::verify`]). Held while the
/// caller does its work before the hash (database reads), so no more callers get past
/// admission than the hasher will take; dropped unused, the place is given back.
#[derive(Default)]
pub struct HashingTurn(Option<HeldPlace>);

/// A place among the hashes, as the domain holds it: a guard of the hasher that gave it
/// (dropping it gives the place back), and which hasher that is, so that a place is only
/// ever spent where it was given.
pub struct HeldPlace {
    issuer: usize,
    _guard: Box<dyn Send + Sync>,
}

impl HashingTurn {
    /// A turn holding `guard`, a place kept by the hasher named `issuer`.
    pub fn holding(issuer: usize, guard: impl Send + Sync + 'static) -> Self {
        Self(Some(HeldPlace {
            issuer,
            _guard: Box::new(guard),
        }))
    }

    /// No place taken: the verification waits for one, or is refused, on its own.
    pub fn none() -> Self {
        Self(None)
    }

    /// The place, if the hasher named `issuer` gave it; another hasher's place is given
    /// back here.
    pub fn place_from(self, issuer: usize) -> Option<HeldPlace> {
        self.0.filter(|place| place.issuer == issuer)
    }
}

impl std::fmt::Debug for HashingTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HashingTurn")
            .field(&self.0.is_some())
            .finish()
    }
}

/// Slow, salted password hashing. Implementations run the work off the async executor.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes `password` with the configured algorithm and parameters.
    /// Returns [`HashingError::Overloaded`] when the worker pool is saturated.
    async fn hash(&self, password: &SecretString) -> Result<PasswordHash, HashingError>;

    /// A place for one verification, taken before work that costs a database read and
    /// handed to [`PasswordVerifier::verify`]. Refuses with [`HashingError::Overloaded`]
    /// when every place is taken, after holding the caller for the interval it announces (a
    /// timer, no CPU), so a flood that ignores `Retry-After` cannot spin. Cheap.
    async fn admit(&self) -> Result<HashingTurn, HashingError>;

    /// A hash of an unguessable password with the configured parameters. Logins for unknown
    /// accounts verify against it so that they cost as much as logins for known ones.
    fn dummy_hash(&self) -> &PasswordHash;

    /// Whether `hash` is in a format this hasher verifies (for importing users).
    fn supports(&self, hash: &PasswordHash) -> bool;
}

/// Checking a password against a stored hash: a port of its own so that only
/// [`crate::attempts::PasswordAttempts`], which reserves and audits every attempt, holds it.
#[async_trait]
pub trait PasswordVerifier: Send + Sync {
    /// Checks `password` against `hash`, in the place `turn` holds if it holds one. A hash
    /// this hasher cannot parse is a [`Verification::Mismatch`], never an error: stored data
    /// must not turn a login into a 500. Returns [`HashingError::Overloaded`] when the worker
    /// pool is saturated and `turn` holds no place.
    async fn verify(
        &self,
        turn: HashingTurn,
        password: &SecretString,
        hash: &PasswordHash,
    ) -> Result<Verification, HashingError>;
}

/// What an access token asserts about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    /// The login session the token belongs to (`sid`).
    pub session_id: SessionId,
    pub token_id: Uuid,
    /// When the token was issued, to the millisecond, so that a token issued just before a
    /// password change can be told from one issued just after it.
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub scopes: ScopeSet,
    pub role: Role,
    /// How the session's person signed in (`amr`).
    pub amr: crate::session::Amr,
}

/// A freshly issued access token with the refresh token that continues its session.
#[derive(Debug)]
pub struct TokenGrant {
    pub access: AccessToken,
    pub refresh: SecretString,
}

/// A signed access token and what it says.
#[derive(Debug)]
pub struct AccessToken {
    pub token: SecretString,
    pub claims: AccessClaims,
}

impl AccessToken {
    /// Seconds from issue to expiry, for the `expires_in` of a token response.
    pub fn lifetime_secs(&self) -> i64 {
        self.claims.expires_at.timestamp() - self.claims.issued_at.timestamp()
    }
}

/// An access token for gatehouse's own API or for a registered one.
#[derive(Debug)]
pub enum GrantedAccess {
    Own(AccessToken),
    Api(ApiAccessToken),
}

impl GrantedAccess {
    pub fn token(&self) -> &SecretString {
        match self {
            GrantedAccess::Own(access) => &access.token,
            GrantedAccess::Api(access) => &access.token,
        }
    }

    /// Seconds from issue to expiry, for the `expires_in` of a token response.
    pub fn lifetime_secs(&self) -> i64 {
        match self {
            GrantedAccess::Own(access) => access.lifetime_secs(),
            GrantedAccess::Api(access) => access.lifetime_secs(),
        }
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        match self {
            GrantedAccess::Own(access) => access.claims.expires_at,
            GrantedAccess::Api(access) => access.claims.expires_at,
        }
    }

    /// Its scopes, space-separated.
    pub fn scope(&self) -> String {
        match self {
            GrantedAccess::Own(access) => access.claims.scopes.to_string(),
            GrantedAccess::Api(access) => access.claims.scope(),
        }
    }
}

/// An access token, for gatehouse's API or a registered one, with the refresh token that
/// continues its session.
#[derive(Debug)]
pub struct SessionTokens {
    pub access: GrantedAccess,
    pub refresh: SecretString,
}

impl From<TokenGrant> for SessionTokens {
    fn from(grant: TokenGrant) -> Self {
        Self {
            access: GrantedAccess::Own(grant.access),
            refresh: grant.refresh,
        }
    }
}

/// Why an access token was refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, forged, of the wrong type, for another audience or issuer, or not yet valid.
    /// The reason is for logs only; clients get one uniform answer.
    #[error("invalid access token: {0}")]
    Invalid(&'static str),
    #[error("access token has expired")]
    Expired,
    /// Signing failed: a configuration problem, never the client's fault.
    #[error("could not sign access token: {0}")]
    Signing(String),
}

/// Who a token for a registered API speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSubject {
    /// A person, in a session (`sub` is the user, `sid` the session).
    User {
        user_id: UserId,
        session_id: SessionId,
        role: Role,
        amr: crate::session::Amr,
    },
    /// The client itself, by the client credentials grant (`sub` is the client's id).
    Client,
}

/// What a token for a registered API (not gatehouse's own) asserts: its audience is that
/// API's identifier and its scopes are that API's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenClaims {
    /// The API's identifier (`aud`).
    pub audience: String,
    pub subject: TokenSubject,
    /// The client the token was issued to (`client_id`, RFC 9068 §2.2).
    pub client_id: Option<crate::id::ClientId>,
    /// Scope names of that API.
    pub scopes: Vec<crate::apis::ScopeName>,
    pub token_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl ApiTokenClaims {
    /// The scopes as a token's `scope` writes them: space-separated.
    pub fn scope(&self) -> String {
        let names: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        names.join(" ")
    }
}

/// A signed token for a registered API, and what it says.
#[derive(Debug)]
pub struct ApiAccessToken {
    pub token: SecretString,
    pub claims: ApiTokenClaims,
}

impl ApiAccessToken {
    /// Seconds from issue to expiry, for the `expires_in` of a token response.
    pub fn lifetime_secs(&self) -> i64 {
        self.claims.expires_at.timestamp() - self.claims.issued_at.timestamp()
    }
}

/// Issues and verifies self-contained access tokens.
pub trait AccessTokenService: Send + Sync {
    /// Signs a token for `user` in `session` carrying `scopes` (and the session's `amr`),
    /// valid from `now` for the configured lifetime.
    fn issue(
        &self,
        user: &User,
        session: &Session,
        scopes: ScopeSet,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, TokenError>;

    /// Checks signature, algorithm, type and every claim against `now`.
    /// Returns [`TokenError::Expired`] or [`TokenError::Invalid`] for any bad token.
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError>;

    /// Whether tokens for registered APIs can be signed: they are verified by other
    /// services with the published keys, so a shared secret (HS256) cannot sign them.
    fn signs_for_apis(&self) -> bool;

    /// Signs a token for a registered API saying `claims` (whose `token_id`, `issued_at`
    /// and `expires_at` this sets from `now` and the configured lifetime). Returns
    /// [`TokenError::Signing`] when [`Self::signs_for_apis`] is false.
    fn issue_for_api(
        &self,
        claims: ApiTokenClaims,
        now: DateTime<Utc>,
    ) -> Result<ApiAccessToken, TokenError>;

    /// Checks a token meant for some API other than gatehouse's own as [`Self::verify`]
    /// checks gatehouse's: signature, algorithm, type, issuer and times. Whether its
    /// audience is a registered API is the caller's to judge. A token for gatehouse's own
    /// API is [`TokenError::Invalid`] here.
    fn verify_for_api(&self, token: &str, now: DateTime<Utc>)
    -> Result<ApiTokenClaims, TokenError>;
}

/// The SHA-256 digest of an opaque token, hex-encoded: all that is stored of it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenDigest(String);

impl TokenDigest {
    pub fn new(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest([REDACTED])")
    }
}

/// Length of every opaque token: 256 bits in URL-safe base64 without padding.
pub const OPAQUE_TOKEN_LEN: usize = 43;

/// Whether `token` has the shape of the tokens [`OpaqueTokens::generate`] makes, so that a
/// malformed one can be refused as such before it is looked up.
pub fn is_opaque_token(token: &str) -> bool {
    token.len() == OPAQUE_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Opaque bearer secrets (refresh, reset and verification tokens).
pub trait OpaqueTokens: Send + Sync {
    /// A new token of 256 bits from a CSPRNG: [`OPAQUE_TOKEN_LEN`] characters of URL-safe
    /// base64 without padding (see [`is_opaque_token`]).
    fn generate(&self) -> SecretString;

    /// The digest to store and look the token up by.
    fn digest(&self, token: &SecretString) -> TokenDigest;

    /// The PKCE `S256` challenge of a code verifier (RFC 7636 §4.2): the URL-safe base64,
    /// without padding, of its SHA-256.
    fn s256_challenge(&self, verifier: &str) -> String;
}

/// The audit event of a rotation: `token_refreshed`, about the session's user, at the
/// rotation's time. It is stored by the rotation itself, in its transaction, so that the
/// two commit together and a refresh waits for one commit, not two.
#[derive(Debug, Clone)]
pub struct RotationRecord {
    pub id: crate::audit::AuditEventId,
    pub caller: crate::Caller,
}

/// What became of a refresh attempt.
#[derive(Debug)]
pub enum Rotation {
    /// The token was current and is now replaced by the new one: the session as refreshed,
    /// and its user (read with it, so that a refresh needs no other read).
    Rotated(Box<(Session, User)>),
    /// The token was rotated within the leeway and its successor is unused: a retry after a
    /// lost answer. The successor is dead and the new token replaces it; the session as
    /// refreshed, and its user.
    Retried(Box<(Session, User)>),
    /// The token was already rotated once: a replay. The session has been revoked.
    Reused { session: SessionId, user: UserId },
    /// Another refresh with the same token won the race; nothing changed.
    Lost,
    /// No such token, or its session is revoked or expired.
    Invalid,
}

/// Storage of sessions and their refresh tokens.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session with its first refresh token.
    async fn create(&self, session: &Session, refresh: &TokenDigest)
    -> Result<(), RepositoryError>;

    /// The session with this id, live or not.
    async fn find(&self, id: SessionId) -> Result<Option<Session>, RepositoryError>;

    /// The session with this id together with its user, in one round trip: what every
    /// authenticated request needs.
    async fn find_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, RepositoryError>;

    /// The session that any refresh token with this digest, current or already rotated,
    /// belongs to (a revocation racing a refresh must still find it).
    async fn find_by_any_refresh(
        &self,
        refresh: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError>;

    /// The session whose current (not yet rotated) refresh token has this digest.
    async fn find_by_refresh(
        &self,
        refresh: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError>;

    /// Replaces refresh token `old` by `new` with a compare-and-swap, so that of several
    /// concurrent refreshes with one token exactly one rotates, and marks the session used
    /// at `now` ([`Session::refreshed`]), storing `record` with it. A token that was already
    /// rotated, within `lifetimes.reuse_leeway` and while the token issued for it is still
    /// unused and current, replaces that token instead ([`Rotation::Retried`], recorded as
    /// `refresh_retried`; of racing retries one does, the others are [`Rotation::Lost`]).
    /// Any other rotated token revokes its whole session ([`Rotation::Reused`]), and stores
    /// no record.
    async fn rotate(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        now: DateTime<Utc>,
        lifetimes: SessionLifetimes,
        record: &RotationRecord,
    ) -> Result<Rotation, RepositoryError>;

    /// The user's live sessions at `now`, newest first.
    async fn list_live(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepositoryError>;

    /// Revokes the user's session `id`; returns whether a live one was revoked.
    async fn revoke(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Records that the person behind the user's live session `id` signed in again at
    /// `at` (a re-authentication); returns whether a live one was found.
    async fn reauthenticated(
        &self,
        user: UserId,
        id: SessionId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Revokes every live session of the user except `keep`; returns how many.
    async fn revoke_all(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError>;

    /// Deletes sessions (and their refresh tokens) that expired or were revoked before
    /// `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;

    /// Stores a new browser session ([`crate::session::SessionKind::Browser`]) found by the
    /// digest of its cookie, which is never a refresh token: [`SessionRepository::rotate`]
    /// and [`SessionRepository::find_by_refresh`] never see it.
    async fn create_browser(
        &self,
        session: &Session,
        cookie: &TokenDigest,
    ) -> Result<(), RepositoryError>;

    /// The browser session whose cookie has this digest, live or not, with its user.
    async fn find_browser(
        &self,
        cookie: &TokenDigest,
    ) -> Result<Option<(Session, User)>, RepositoryError>;

    /// Revokes every live session opened for `client` (the client was removed); returns
    /// how many.
    async fn revoke_client(
        &self,
        client: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError>;
}
