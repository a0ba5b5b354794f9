//! Signing in with an upstream identity provider (Google, GitHub, any OpenID Connect
//! provider): the providers the operator configured, the identities linked to accounts,
//! the pending sign-ins and their rules. The protocols (discovery, the code exchange,
//! ID-token validation, GitHub's API) are the adapter's, behind [`IdentityProviders`].
//!
//! An identity is a provider and the subject it names, never an email: an address an
//! upstream asserts only ever creates an account no one holds, and never opens one.

mod service;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;

pub use crate::id::{ProviderId, ProviderIdError};

use crate::error::RepositoryError;
use crate::ports::TokenDigest;
use crate::session::SessionId;
use crate::user::UserId;

pub use service::{
    Begun, IdentityError, OfferView, SignInOutcome, UpstreamPolicy, UpstreamPorts, UpstreamService,
    UpstreamSignInError,
};

/// A provider as the sign-in pages and the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    pub id: ProviderId,
    /// The name on its button ("Google").
    pub name: String,
    /// A first sign-in with an identity no account has creates an account.
    pub allow_signup: bool,
    /// When not empty, only addresses in these domains may create an account.
    pub allowed_email_domains: Vec<String>,
    /// Whether it answered when last asked (discovery); one that did not still gets its
    /// button, saying it is unavailable.
    pub available: bool,
}

/// The secrets of one sign-in at an upstream: the `state` that comes back with the
/// browser, and the `nonce` and PKCE verifier derived from it ([`FlowKeys`]).
pub struct FlowSecrets {
    pub state: SecretString,
    pub nonce: SecretString,
    pub pkce_verifier: SecretString,
}

/// What the upstream sent back with the browser, besides the state.
pub struct Callback {
    pub code: SecretString,
    /// The authorization response's `iss` (RFC 9207), when it sent one.
    pub iss: Option<String>,
}

/// The longest subject an identity may have (the column's length).
const SUBJECT_MAX: usize = 255;

/// Whether `subject` can name an identity: 1–255 bytes, no control character. An upstream
/// that asserts another is refused, and no other is looked up, so none reaches a query.
pub fn is_plain_subject(subject: &str) -> bool {
    !subject.is_empty() && subject.len() <= SUBJECT_MAX && !subject.chars().any(char::is_control)
}

/// Who the upstream says signed in, after every check of its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asserted {
    /// The upstream's stable identifier of the person (`sub`, GitHub's numeric id).
    pub subject: String,
    /// An address the upstream gave, and whether it says it verified it.
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why an upstream could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No provider is configured with this id.
    #[error("no such provider")]
    UnknownProvider,
    /// The provider could not be reached or answered what is not a provider's answer
    /// (discovery, keys, a timeout); the reason is for the operator's log.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider answered, and its answer fails a check (a refused code, an ID token
    /// with another issuer, audience, nonce or key, a mix-up `iss`, no verified email on
    /// GitHub…); the reason is for the log and the audit trail.
    #[error("the provider's answer was refused: {0}")]
    Refused(String),
}

/// The upstream identity providers, as configured by the operator.
#[async_trait]
pub trait IdentityProviders: Send + Sync {
    /// Every configured provider, in the operator's order.
    fn providers(&self) -> Vec<ProviderInfo>;

    /// Where to send the browser to sign in at `provider`, carrying `flow`'s state, nonce
    /// and PKCE challenge; with `fresh`, asking the provider to have the person sign in
    /// again even if it has a session of theirs (`prompt=login`). `UnknownProvider` or
    /// `Unavailable` (discovery failed).
    async fn authorization_url(
        &self,
        provider: &ProviderId,
        flow: &FlowSecrets,
        fresh: bool,
    ) -> Result<Url, UpstreamError>;

    /// Exchanges the callback's code (with `flow`'s verifier) and checks everything the
    /// upstream answers: `iss` against the provider's issuer, the ID token's signature,
    /// issuer, audience, expiry and nonce, and, with `signed_in_since`, that the person
    /// signed in at the provider no earlier than that (its `auth_time`, when it says).
    /// `Refused` for a failed check, `Unavailable` when the provider cannot be reached.
    async fn complete(
        &self,
        provider: &ProviderId,
        callback: &Callback,
        flow: &FlowSecrets,
        signed_in_since: Option<DateTime<Utc>>,
    ) -> Result<Asserted, UpstreamError>;
}

/// Derives a sign-in's nonce and PKCE verifier from its state, with a key every instance
/// holds and no one else: nothing secret is stored, and the state alone (which travels in
/// URLs) gives neither away.
pub trait FlowKeys: Send + Sync {
    /// A value for `purpose` (`nonce`, `pkce`) of 43 URL-safe characters.
    fn derive(&self, state: &SecretString, purpose: &str) -> SecretString;
}

/// An upstream identity linked to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub provider: ProviderId,
    pub subject: String,
    pub user_id: UserId,
    /// The address the upstream gave when it was linked, for people to recognise it.
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What became of an unlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    Done,
    /// The account has no such identity.
    NotFound,
    /// It is the account's last identity, and the account has no password.
    Last,
}

/// Why an identity could not be linked.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The identity is already linked, to this account or another.
    #[error("this identity is already linked to an account")]
    Taken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Storage of linked identities.
#[async_trait]
pub trait IdentityRepository: Send + Sync {
    /// The identity `(provider, subject)`, if linked.
    async fn find(
        &self,
        provider: &ProviderId,
        subject: &str,
    ) -> Result<Option<Identity>, RepositoryError>;

    /// Links `identity`; `Taken` when `(provider, subject)` is linked already (the unique
    /// index decides, so two racing links make one).
    async fn link(&self, identity: &Identity) -> Result<(), LinkError>;

    /// The identities linked to `user`, oldest first.
    async fn list(&self, user: UserId) -> Result<Vec<Identity>, RepositoryError>;

    /// Unlinks `user`'s identity `(provider, subject)`, unless `keep_one` and it is the
    /// account's last: judged under a lock on the account, so two unlinks racing each other
    /// never leave it with none.
    async fn unlink(
        &self,
        user: UserId,
        provider: &ProviderId,
        subject: &str,
        keep_one: bool,
    ) -> Result<Unlinked, RepositoryError>;

    /// Records a sign-in with the identity at `at`.
    async fn used(
        &self,
        provider: &ProviderId,
        subject: &str,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError>;
}

/// What a sign-in at an upstream was begun for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowPurpose {
    /// Signing in (or up) to the hosted pages.
    SignIn,
    /// Linking another identity to this signed-in account.
    Link(UserId),
    /// Proving again, by a fresh sign-in with one of its identities, that the person
    /// behind this session of an account holds it.
    Reauthenticate { user: UserId, session: SessionId },
}

/// An identity an upstream asserted, with a verified address an account already has: it
/// is linked only once that account's owner signs in to it in the same browser and
/// confirms. Found by its token's digest; the token is only in that browser's cookie (its
/// CSRF secret is renewed at sign-in, so it cannot bind the offer); single-use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOffer {
    pub offer: TokenDigest,
    pub provider: ProviderId,
    pub subject: String,
    /// The address the upstream asserted (the account's).
    pub email: Option<String>,
    /// The account with that address.
    pub user_id: UserId,
    /// Where the browser goes once linked.
    pub resume: String,
    pub created_at: DateTime<Utc>,
}

/// A sign-in sent to an upstream and not come back yet: found by its state's digest, bound
/// to the browser that began it, single-use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFlow {
    pub state: TokenDigest,
    /// The digest of the browser's binding cookie.
    pub browser: TokenDigest,
    pub provider: ProviderId,
    pub purpose: FlowPurpose,
    /// Where the browser goes once signed in: a path of this service (the authorization
    /// request to resume, or the account page).
    pub resume: String,
    /// The provider was asked to have the person sign in again, even if it had a session of
    /// theirs (a re-authentication, or an app's `prompt=login` or `max_age`).
    pub fresh: bool,
    pub created_at: DateTime<Utc>,
}

/// Storage of pending upstream sign-ins.
#[async_trait]
pub trait UpstreamFlowRepository: Send + Sync {
    async fn insert(&self, flow: &PendingFlow) -> Result<(), RepositoryError>;

    /// Uses up the flow with this state that `browser` began at or after `not_before`:
    /// one conditional update, so of two callbacks with one state at most one gets it.
    /// `None` for an unknown, used, expired or other browser's state.
    async fn take(
        &self,
        state: &TokenDigest,
        browser: &TokenDigest,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingFlow>, RepositoryError>;

    /// Deletes the flows and link offers made before `before` (used or not); how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;

    async fn insert_offer(&self, offer: &LinkOffer) -> Result<(), RepositoryError>;

    /// The unused offer with this token's digest made at or after `not_before`, without
    /// using it up.
    async fn find_offer(
        &self,
        offer: &TokenDigest,
        not_before: DateTime<Utc>,
    ) -> Result<Option<LinkOffer>, RepositoryError>;

    /// Uses up that offer: one conditional update, so of two confirmations at most one
    /// gets it.
    async fn take_offer(
        &self,
        offer: &TokenDigest,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkOffer>, RepositoryError>;
}
