//! Passkeys (WebAuthn): credentials an authenticator keeps (a phone, a laptop, a security
//! key, a password manager) that sign a challenge of this service after the person
//! unlocks them. An account registers passkeys, signs in with one and no password, and
//! removes them (never its last way in). The protocol (options, attestation, assertion
//! signatures, origin and RP id checks) is the adapter's, behind [`RelyingParty`]; what is
//! stored, single-use ceremonies, counters, throttling and audit are the rules here.
//!
//! A ceremony (a registration, a sign-in) begins with options sent to the browser and ends
//! with the authenticator's answer. Its state lives in the database, so any instance can
//! finish what another began; it is used up once, and only within minutes.

mod service;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::error::RepositoryError;
use crate::ports::TokenDigest;
use crate::session::SessionId;
use crate::text::Line;
use crate::user::UserId;

pub use service::{Begun, PasskeyError, PasskeyPorts, PasskeyService};

crate::id::uuid_id!(
    /// A passkey of an account, as this service names it.
    PasskeyId
);

/// What a person calls a passkey ("Work laptop"): one line of 1–64 characters.
pub type PasskeyName = Line<64>;

/// How long a ceremony may wait for the authenticator (the options ask browsers for five
/// minutes).
pub const CEREMONY_LIFETIME: Duration = Duration::minutes(5);

/// A credential's id, as the relying party writes it (base64url of its bytes): unique
/// among every account's passkeys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialId(String);

impl CredentialId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the relying party keeps of a credential to check its assertions (its public key,
/// algorithm, flags), opaque to the domain. Public data: a public key signs nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential(String);

impl StoredCredential {
    pub fn new(stored: impl Into<String>) -> Self {
        Self(stored.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Declares a JSON text newtype of a ceremony.
macro_rules! ceremony_text {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn new(json: impl Into<String>) -> Self {
                Self(json.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

ceremony_text!(
    /// The options of a ceremony, for the browser's `navigator.credentials.create` or
    /// `.get` (`{"publicKey": …}`, binary values in base64url).
    CeremonyOptions
);
ceremony_text!(
    /// The relying party's state of a ceremony (its challenge, what it allows): kept
    /// server-side, never sent.
    CeremonyState
);
ceremony_text!(
    /// The authenticator's answer as the browser sends it (a `PublicKeyCredential` in
    /// JSON, binary values in base64url).
    CeremonyResponse
);

/// A passkey of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    pub id: PasskeyId,
    pub user_id: UserId,
    pub name: String,
    pub credential_id: CredentialId,
    pub credential: StoredCredential,
    /// The authenticator's signature counter at its last use (0 for those that keep none,
    /// as synced passkeys do).
    pub counter: u32,
    /// The credential may be synced to other devices (a password manager, a cloud account).
    pub backup_eligible: bool,
    /// It is synced (backed up) now.
    pub backed_up: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A credential the authenticator made, checked by the relying party.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub credential_id: CredentialId,
    pub credential: StoredCredential,
    pub counter: u32,
    pub backup_eligible: bool,
    pub backed_up: bool,
}

/// An assertion the relying party verified (signature, challenge, origin, RP id, user
/// verification).
#[derive(Debug, Clone)]
pub struct Assertion {
    pub credential_id: CredentialId,
    pub counter: u32,
    pub backup_eligible: bool,
    pub backed_up: bool,
    /// The stored credential with what the assertion changed (its counter, its flags).
    pub credential: StoredCredential,
}

/// Why a ceremony failed at the relying party.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CeremonyError {
    /// Passkeys cannot be used by this deployment (its public URL's host is not a
    /// domain); the reason is for the operator.
    #[error("passkeys are not available: {0}")]
    Unavailable(String),
    /// The answer is not one (malformed JSON, missing fields).
    #[error("the authenticator's answer could not be read: {0}")]
    Malformed(String),
    /// The answer fails a check (signature, challenge, origin, RP id, user verification,
    /// an excluded credential…); the reason is for the log and the audit trail.
    #[error("the authenticator's answer was refused: {0}")]
    Refused(String),
    /// The signature counter is not above the last one seen: the credential may have been
    /// copied to another authenticator.
    #[error("the authenticator's signature counter went backwards")]
    CounterWentBack,
}

/// The WebAuthn relying party: the protocol of the ceremonies.
pub trait RelyingParty: Send + Sync {
    /// Whether passkeys can be used here at all.
    fn available(&self) -> bool;

    /// Options to register a discoverable credential for `user` (its user handle), named
    /// `name` and `display_name` on the authenticator, excluding `exclude` (the account's
    /// credentials), with user verification required and attestation `none`.
    fn start_registration(
        &self,
        user: UserId,
        name: &str,
        display_name: &str,
        exclude: &[CredentialId],
    ) -> Result<(CeremonyOptions, CeremonyState), CeremonyError>;

    /// Checks a registration answer against its state.
    fn finish_registration(
        &self,
        state: &CeremonyState,
        response: &CeremonyResponse,
    ) -> Result<NewCredential, CeremonyError>;

    /// Options to sign in with one of `allowed` (the second step of an account's sign-in),
    /// or, when it is empty, with any discoverable credential of this service; user
    /// verification required.
    fn start_sign_in(
        &self,
        allowed: &[StoredCredential],
    ) -> Result<(CeremonyOptions, CeremonyState), CeremonyError>;

    /// Which credential an assertion says it is, and whose (its user handle, when the
    /// authenticator sent one), before it is verified: only to find the credential to
    /// verify it with.
    fn identify(
        &self,
        response: &CeremonyResponse,
    ) -> Result<(Option<UserId>, CredentialId), CeremonyError>;

    /// Verifies an assertion with `stored`, the credential it names, against its state.
    fn finish_sign_in(
        &self,
        state: &CeremonyState,
        response: &CeremonyResponse,
        stored: &StoredCredential,
    ) -> Result<Assertion, CeremonyError>;
}

/// What a ceremony was begun for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CeremonyPurpose {
    /// Registering a passkey for this account, from this session (re-authenticated).
    Register { user: UserId, session: SessionId },
    /// Signing in with a passkey and no password.
    SignIn,
    /// The second step of a sign-in, after the password: the digest of its `mfa_token`.
    SecondFactor { challenge: TokenDigest },
}

/// A ceremony begun and not finished: found by its token's digest, single-use, expiring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub id: TokenDigest,
    pub purpose: CeremonyPurpose,
    pub state: CeremonyState,
    pub created_at: DateTime<Utc>,
}

/// What became of a removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Done,
    /// The account has no such passkey.
    NotFound,
    /// It is the account's last way to sign in (no password, no linked identity, no other
    /// passkey).
    Last,
}

/// Why a passkey could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertPasskeyError {
    /// Its credential is registered already (to this account or another).
    #[error("this credential is registered already")]
    Taken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Storage of passkeys and ceremonies. Errors only when storage fails, unless said
/// otherwise.
#[async_trait]
pub trait PasskeyRepository: Send + Sync {
    /// Stores a passkey; `Taken` when its credential id is stored already (the unique index
    /// decides, so two racing registrations of one credential store one).
    async fn insert(&self, passkey: &Passkey) -> Result<(), InsertPasskeyError>;

    /// The account's passkeys, oldest first.
    async fn list(&self, user: UserId) -> Result<Vec<Passkey>, RepositoryError>;

    /// The passkey with this credential, of any account.
    async fn find_by_credential(
        &self,
        credential: &CredentialId,
    ) -> Result<Option<Passkey>, RepositoryError>;

    /// Renames `user`'s passkey `id`; `false` when the account has no such passkey.
    async fn rename(
        &self,
        user: UserId,
        id: PasskeyId,
        name: &PasskeyName,
    ) -> Result<bool, RepositoryError>;

    /// Removes `user`'s passkey `id`, unless `keep_one` and it is the account's last way
    /// in (counting its linked identities and other passkeys): judged under a lock on the
    /// account, so racing removals (and unlinks) never leave it with none.
    async fn remove(
        &self,
        user: UserId,
        id: PasskeyId,
        keep_one: bool,
    ) -> Result<Removed, RepositoryError>;

    /// Records a sign-in with passkey `id` at `at`: the assertion's counter, flags and
    /// credential, if the stored counter is still `seen` (a compare-and-swap: of two
    /// assertions that raced, the slower is refused). `false` when it was not.
    async fn used(
        &self,
        id: PasskeyId,
        seen: u32,
        assertion: &Assertion,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    async fn insert_ceremony(&self, ceremony: &Ceremony) -> Result<(), RepositoryError>;

    /// Uses up the ceremony `id` begun at or after `not_before`: one conditional update, so
    /// of two finishes of one ceremony at most one gets it. `None` for an unknown, used or
    /// expired one.
    async fn take_ceremony(
        &self,
        id: &TokenDigest,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Ceremony>, RepositoryError>;

    /// Deletes the ceremonies begun before `before`; how many.
    async fn purge_ceremonies(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;
}

/// Which accounts have a passkey, from their stored passkeys: for the sign-in to ask for
/// one after the password.
pub struct StoredPasskeys(pub std::sync::Arc<dyn PasskeyRepository>);

#[async_trait]
impl crate::mfa::PasskeyPresence for StoredPasskeys {
    async fn has_passkey(&self, user: UserId) -> Result<bool, RepositoryError> {
        Ok(!self.0.list(user).await?.is_empty())
    }
}
