//! Outgoing mail: the messages gatehouse sends, the port that delivers them, and the
//! durable queue they wait in (sealed, since a message may carry a live token) until a
//! worker ([`crate::courier`]) has delivered them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::email::Email;
use crate::error::RepositoryError;
use crate::pagination::{Page, Paged};
use crate::ports::TokenDigest;
use crate::user::UserId;

/// An email with a plain-text and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailMessage {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed: {0}")]
pub struct MailError(pub String);

/// Delivers mail. Implementations: a file outbox and SMTP.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands `message` to the transport. Errors when the transport refuses it or is down.
    async fn send(&self, message: &MailMessage) -> Result<(), MailError>;
}

/// Escapes text for inclusion in HTML.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What a single-use token is good for; a token of one purpose is useless for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailVerification => "email_verification",
        }
    }
}

/// A stored single-use token.
#[derive(Debug, Clone)]
pub struct ActionToken {
    pub digest: TokenDigest,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// The address the token was sent to: verification confirms exactly this address.
    pub email: Email,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

crate::id::uuid_id!(
    /// A queued email's identifier.
    MailId
);

crate::id::uuid_id!(
    /// One worker's hold on a queued email: what it does with the email counts only while
    /// the hold is still its own.
    ClaimId
);

/// What a queued email is about: shown to admins, never its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A password-reset link (or, before the worker looked the address up, the request).
    PasswordReset,
    /// The notice that a password was reset.
    PasswordChanged,
    /// An address-verification link.
    EmailVerification,
}

impl MailKind {
    pub const ALL: [MailKind; 3] = [
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::EmailVerification,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::EmailVerification => "email_verification",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// Where a queued email stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    /// Waiting for its next try.
    Pending,
    /// Given up after the configured number of tries, until an admin retries it.
    Dead,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Dead => "dead",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [MailStatus::Pending, MailStatus::Dead]
            .into_iter()
            .find(|status| status.as_str() == raw)
    }
}

/// What a queued email holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailContent {
    /// A password reset asked for this address, not yet looked up: the worker finds the
    /// account, if any, and makes the message then, so that asking costs the same whether
    /// or not the address has an account.
    ResetRequest(Email),
    /// A message ready to send.
    Message(MailMessage),
}

/// A queued email's contents, sealed (encrypted and authenticated, bound to the email's
/// id) for storage.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedMail(String);

impl SealedMail {
    pub fn new(sealed: String) -> Self {
        Self(sealed)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SealedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedMail(..)")
    }
}

/// Seals queued emails, and opens them for delivery.
pub trait MailSealer: Send + Sync {
    fn seal(&self, id: MailId, content: &MailContent) -> SealedMail;

    /// Fails when `sealed` was altered, belongs to another email, or was sealed under a key
    /// this deployment no longer has.
    fn open(&self, id: MailId, sealed: &SealedMail) -> Result<MailContent, MailError>;
}

/// A queued email as stored.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: MailId,
    pub kind: MailKind,
    /// The account it is for, once known (a reset request learns it when it is prepared).
    pub user_id: Option<UserId>,
    pub sealed: SealedMail,
    pub status: MailStatus,
    /// Tries made so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last try failed (the transport's words, which carry no contents).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl QueuedMail {
    /// A new email, due at once.
    pub fn new(
        kind: MailKind,
        user_id: Option<UserId>,
        content: &MailContent,
        sealer: &dyn MailSealer,
        now: DateTime<Utc>,
    ) -> Self {
        let id = MailId::generate();
        Self {
            id,
            kind,
            user_id,
            sealed: sealer.seal(id, content),
            status: MailStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
        }
    }
}

/// An email a worker holds for delivery.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    pub id: MailId,
    pub claim: ClaimId,
    pub kind: MailKind,
    pub sealed: SealedMail,
    /// Tries made before this one.
    pub attempts: u32,
}

/// Storage of queued emails.
#[async_trait]
pub trait MailQueue: Send + Sync {
    /// Stores `mail`, and `token` (the token its link carries) with it in one transaction:
    /// both or neither.
    async fn enqueue(
        &self,
        mail: &QueuedMail,
        token: Option<&ActionToken>,
    ) -> Result<(), RepositoryError>;

    /// Holds up to `limit` pending emails due at `now` for `claim` until `until`: none held
    /// by another worker whose hold has not run out, so that on several instances each
    /// email is tried by one worker at a time. Oldest due first.
    async fn claim(
        &self,
        claim: ClaimId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ClaimedMail>, RepositoryError>;

    /// Replaces a held reset request by the message made for `user` and stores `token`
    /// with it, in one transaction; `false` (and nothing stored) when the hold is lost.
    async fn prepare(
        &self,
        mail: &ClaimedMail,
        user: UserId,
        sealed: &SealedMail,
        token: &ActionToken,
    ) -> Result<bool, RepositoryError>;

    /// Deletes a held email: delivered, or with nothing to deliver.
    async fn delivered(&self, mail: &ClaimedMail) -> Result<(), RepositoryError>;

    /// Records a failed try of a held email and lets go of it: due again at `retry_at`, or,
    /// without one, dead.
    async fn failed(
        &self,
        mail: &ClaimedMail,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepositoryError>;

    /// Queued emails, of one status or all, oldest first.
    async fn list(
        &self,
        status: Option<MailStatus>,
        page: Page,
    ) -> Result<Paged<QueuedMail>, RepositoryError>;

    /// Makes a dead email pending again, due at `now` with its tries counted afresh;
    /// `false` when no dead email has this id.
    async fn retry(&self, id: MailId, now: DateTime<Utc>) -> Result<bool, RepositoryError>;

    /// Makes every dead email pending again, as [`MailQueue::retry`]; returns how many.
    async fn retry_dead(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError>;
}
