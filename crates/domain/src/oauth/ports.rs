//! What the authorization code flow needs from the outside world: client and code storage,
//! and ID-token signing. Each method's doc states its error contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::client::{ApiAccess, Client, ClientId};
use super::code::AuthorizationCode;
use crate::apis::{ApiId, ScopeName};
use crate::error::RepositoryError;
use crate::ports::{TokenDigest, TokenError};
use crate::user::UserId;

#[derive(Debug, thiserror::Error)]
pub enum InsertClientError {
    /// Another client has this id; adapters detect it through the storage's unique
    /// constraint, so two concurrent registrations of one id cannot both succeed.
    #[error("a client with this id exists")]
    IdTaken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Storage of registered clients.
#[async_trait]
pub trait ClientRepository: Send + Sync {
    /// Stores a new client; [`InsertClientError::IdTaken`] when its id is taken.
    async fn insert(&self, client: &Client) -> Result<(), InsertClientError>;

    /// The client with this id, or `None`. Errors only when storage fails.
    async fn find(&self, id: &ClientId) -> Result<Option<Client>, RepositoryError>;

    /// Every client, by id.
    async fn list(&self) -> Result<Vec<Client>, RepositoryError>;

    /// Deletes the client and its unredeemed codes; returns whether it existed.
    async fn delete(&self, id: &ClientId) -> Result<bool, RepositoryError>;

    /// Makes `secret` the confidential client's secret and, in the same statement, its
    /// present one the retiring one, good until `retire_at`; whether such a client exists.
    async fn rotate_secret(
        &self,
        id: &ClientId,
        secret: &TokenDigest,
        retire_at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Replaces, atomically, what the client may ask for on registered APIs with `access`
    /// (each API's id and scope names); whether the client exists.
    async fn set_api_access(
        &self,
        id: &ClientId,
        access: &[(ApiId, Vec<ScopeName>)],
    ) -> Result<bool, RepositoryError>;

    /// What the client may ask for on registered APIs, by API identifier; none for an
    /// unknown client. Scope names stored that are no longer valid are left out.
    async fn api_access(&self, id: &ClientId) -> Result<Vec<ApiAccess>, RepositoryError>;
}

/// What became of redeeming a code.
#[derive(Debug)]
pub enum Redemption {
    /// The first redemption: the code is now used.
    Redeemed(AuthorizationCode),
    /// The code had been redeemed before: a replay.
    Replayed(AuthorizationCode),
    /// No such code.
    Unknown,
}

/// Storage of authorization codes, by digest only.
#[async_trait]
pub trait AuthorizationCodeRepository: Send + Sync {
    /// Stores a new code under `digest`.
    async fn insert(
        &self,
        digest: &TokenDigest,
        code: &AuthorizationCode,
    ) -> Result<(), RepositoryError>;

    /// Marks the code with this digest redeemed at `now` with a compare-and-swap, so that
    /// of several concurrent redemptions exactly one is [`Redemption::Redeemed`] and every
    /// other one [`Redemption::Replayed`], whatever its expiry. A replay is recorded on
    /// the code before this returns.
    async fn redeem(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Redemption, RepositoryError>;

    /// Whether the code with this digest has been presented again since its redemption,
    /// so that the winner of a race with a replay can end what it opened.
    async fn replayed(&self, digest: &TokenDigest) -> Result<bool, RepositoryError>;

    /// Deletes codes that expired before `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;
}

/// What an ID token asserts (OpenID Connect Core §2); the signer adds `iss` and `at_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    pub subject: UserId,
    pub audience: ClientId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the person last typed their password.
    pub auth_time: DateTime<Utc>,
    pub nonce: Option<String>,
    /// Authentication methods (RFC 8176) gatehouse checked itself: `pwd`, `otp`.
    pub amr: Vec<&'static str>,
    /// The upstream provider that signed the person in, if one did.
    pub idp: Option<String>,
    /// With the `email` scope: the address and whether it is verified.
    pub email: Option<(String, bool)>,
    /// With the `profile` scope: the full name, if the person gave one.
    pub name: Option<Option<String>>,
}

/// Signs ID tokens with the key ring's active key.
pub trait IdTokenSigner: Send + Sync {
    /// Whether ID tokens can be signed at all: only asymmetric keys can be verified by
    /// clients through the JWKS document, so an HS256 ring signs none.
    fn signs_id_tokens(&self) -> bool;

    /// Who and which client an ID token we signed names (`sub`, `aud`), if its signature
    /// and issuer hold; expiry is not checked (RP-initiated logout accepts expired hints).
    fn id_token_subject(&self, id_token: &str) -> Option<(UserId, ClientId)>;

    /// Signs `claims`, with `at_hash` computed from `access_token` by the key's hash.
    /// Returns [`TokenError::Signing`] when the ring cannot sign ID tokens.
    fn sign_id_token(
        &self,
        claims: &IdClaims,
        access_token: &SecretString,
    ) -> Result<SecretString, TokenError>;
}
