//! Account recovery and email verification: single-use emailed tokens (256 bits, stored as
//! digests) that reset a password (30 minutes) or confirm an address (24 hours).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::email::Email;
use crate::error::{RepositoryError, ValidationErrors};
use crate::mail::{MailMessage, Mailer, html_escape};
use crate::password::Password;
use crate::ports::{HashingError, OpaqueTokens, PasswordHasher, TokenDigest, UserRepository};
use crate::session::Caller;
use crate::throttle::{Bucket, Throttle, ip_subject};
use crate::user::{User, UserId};

pub const RESET_LIFETIME_MINUTES: i64 = 30;
pub const VERIFICATION_LIFETIME_HOURS: i64 = 24;

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

/// Storage of single-use tokens.
#[async_trait::async_trait]
pub trait ActionTokenRepository: Send + Sync {
    async fn insert(&self, token: &ActionToken) -> Result<(), RepositoryError>;

    /// The unused, unexpired token with this digest and purpose.
    async fn find_usable(
        &self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<ActionToken>, RepositoryError>;

    /// Marks the token used, if it still is usable; returns whether this call used it, so
    /// that of two concurrent uses exactly one succeeds.
    async fn consume(
        &self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Deletes tokens that expired or were used before `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Invalid(ValidationErrors),
    /// Unknown, expired, used, of the other purpose, or sent to an address the account no
    /// longer has.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Too many requests from this network (resets) or by this user (verifications).
    #[error("too many requests")]
    Throttled { retry_after: std::time::Duration },
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

crate::throttle::throttled_error!(RecoveryError);

/// Refuses, as invalid input, a token that cannot be one of ours (`Invalid` on `token`); a
/// well-formed one that matches nothing is `InvalidToken`.
fn well_formed(token: &SecretString) -> Result<(), RecoveryError> {
    if crate::ports::is_opaque_token(token.expose_secret()) {
        return Ok(());
    }
    let mut errors = ValidationErrors::new();
    errors.add(
        "token",
        format!(
            "must be the {}-character token of the emailed link",
            crate::ports::OPAQUE_TOKEN_LEN
        ),
    );
    Err(RecoveryError::Invalid(errors))
}

/// A user who vanished or changed while a token was being used makes the token moot.
fn moot(error: crate::ports::SaveUserError) -> RecoveryError {
    match error {
        crate::ports::SaveUserError::Repository(error) => RecoveryError::Repository(error),
        _ => RecoveryError::InvalidToken,
    }
}

/// Builds the links in emails from the configured public URL, never from a request.
#[derive(Debug, Clone)]
pub struct Links {
    base: String,
}

impl Links {
    pub fn new(public_url: &str) -> Self {
        Self {
            base: public_url.trim_end_matches('/').to_owned(),
        }
    }

    fn reset(&self, token: &SecretString) -> String {
        format!(
            "{}/reset-password?token={}",
            self.base,
            token.expose_secret()
        )
    }

    fn verification(&self, token: &SecretString) -> String {
        format!("{}/verify-email?token={}", self.base, token.expose_secret())
    }
}

pub struct RecoveryPorts {
    pub users: Arc<dyn UserRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn ActionTokenRepository>,
    pub opaque: Arc<dyn OpaqueTokens>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub throttle: Throttle,
    pub audit: Audit,
}

#[derive(Clone)]
pub struct RecoveryService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn ActionTokenRepository>,
    opaque: Arc<dyn OpaqueTokens>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    throttle: Throttle,
    audit: Audit,
    links: Links,
}

/// The mail a request was admitted to send, for the caller to send after answering, so
/// that the answer is the same whatever the sending finds (a known or an unknown address).
#[must_use = "a pending mail does nothing until it is sent"]
pub struct PendingMail {
    service: RecoveryService,
    job: MailJob,
}

enum MailJob {
    PasswordReset(Email),
    Verification(User),
}

impl PendingMail {
    pub async fn send(self) -> Result<(), RecoveryError> {
        match self.job {
            MailJob::PasswordReset(email) => self.service.send_password_reset(&email).await,
            MailJob::Verification(user) => self.service.send_verification(&user).await,
        }
    }
}

fn message(to: &Email, subject: &str, lines: &[&str], link: Option<&str>) -> MailMessage {
    let mut text = lines.join("\n\n");
    let mut html = lines
        .iter()
        .map(|line| format!("<p>{}</p>", html_escape(line)))
        .collect::<String>();
    if let Some(link) = link {
        text.push_str(&format!("\n\n{link}\n"));
        let link = html_escape(link);
        html.push_str(&format!("<p><a href=\"{link}\">{link}</a></p>"));
    }
    MailMessage {
        to: to.clone(),
        subject: subject.to_owned(),
        text,
        html: format!("<!doctype html><html><body>{html}</body></html>"),
    }
}

impl RecoveryService {
    pub fn new(ports: RecoveryPorts, links: Links) -> Self {
        Self {
            users: ports.users,
            hasher: ports.hasher,
            tokens: ports.tokens,
            opaque: ports.opaque,
            mailer: ports.mailer,
            clock: ports.clock,
            throttle: ports.throttle,
            audit: ports.audit,
            links,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now_stored()
    }

    async fn issue(
        &self,
        user: &User,
        purpose: TokenPurpose,
        lifetime: Duration,
    ) -> Result<SecretString, RecoveryError> {
        let token = self.opaque.generate();
        let now = self.now();
        self.tokens
            .insert(&ActionToken {
                digest: self.opaque.digest(&token),
                user_id: user.id,
                purpose,
                email: user.email.clone(),
                created_at: now,
                expires_at: now + lifetime,
            })
            .await?;
        Ok(token)
    }

    async fn send(&self, message: MailMessage) {
        if let Err(error) = self.mailer.send(&message).await {
            tracing::error!(%error, "could not send mail");
        }
    }

    /// Stores `user`, read at `read_at`; a user who vanished or changed meanwhile makes the
    /// token moot.
    async fn save(&self, user: &User, read_at: DateTime<Utc>) -> Result<(), RecoveryError> {
        self.users.update(user, read_at).await.map_err(moot)
    }

    /// Admits a password-reset request (counted per client network) and returns the mail
    /// to send after answering: a reset link if `email` belongs to an active account,
    /// nothing otherwise. A malformed address is refused (`Invalid`) before anything else:
    /// it is the client's mistake, and says nothing about which accounts exist.
    pub async fn request_password_reset(
        &self,
        email: String,
        caller: &Caller,
    ) -> Result<PendingMail, RecoveryError> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(&email));
        let Some(email) = email else {
            return Err(RecoveryError::Invalid(errors));
        };
        if let Some(ip) = &caller.ip {
            self.throttle
                .admit(Bucket::ResetIp, &ip_subject(ip))
                .await?;
        }
        Ok(PendingMail {
            service: self.clone(),
            job: MailJob::PasswordReset(email),
        })
    }

    #[tracing::instrument(skip_all)]
    async fn send_password_reset(&self, email: &Email) -> Result<(), RecoveryError> {
        let Some(user) = self.users.find_by_email(email).await? else {
            tracing::info!(
                event = "password_reset_requested",
                known = false,
                "password reset requested"
            );
            return Ok(());
        };
        if !user.is_active {
            return Ok(());
        }
        let token = self
            .issue(
                &user,
                TokenPurpose::PasswordReset,
                Duration::minutes(RESET_LIFETIME_MINUTES),
            )
            .await?;
        tracing::info!(event = "password_reset_requested", user_id = %user.id, "password reset requested");
        self.send(message(
            &user.email,
            "Reset your password",
            &[
                "Someone asked to reset the password of your account.",
                "Open this link within 30 minutes to choose a new password. If it was not you, ignore this email: your password stays as it is.",
            ],
            Some(&self.links.reset(&token)),
        ))
        .await;
        Ok(())
    }

    /// Sets a new password with a reset token: the token is used up, every session is
    /// revoked, and a notice is emailed. It does not log in. A token sent to an address
    /// the account no longer has is refused: changing the email ends the links sent before.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_password_reset(
        &self,
        token: &SecretString,
        new_password: SecretString,
        caller: &Caller,
    ) -> Result<(), RecoveryError> {
        well_formed(token)?;
        let digest = self.opaque.digest(token);
        let now = self.now();
        let found = self
            .tokens
            .find_usable(&digest, TokenPurpose::PasswordReset, now)
            .await?
            .ok_or(RecoveryError::InvalidToken)?;
        let Some(mut user) = self.users.find_by_id(found.user_id).await? else {
            return Err(RecoveryError::InvalidToken);
        };
        if user.email != found.email {
            self.audit
                .record(
                    AuditKind::ResetTokenStale,
                    Some(user.id),
                    None,
                    caller,
                    None,
                )
                .await;
            return Err(RecoveryError::InvalidToken);
        }
        let read_at = user.updated_at;
        let password = Password::parse(new_password, Some(&user.email)).map_err(|error| {
            let mut errors = ValidationErrors::new();
            errors.add("new_password", error);
            RecoveryError::Invalid(errors)
        })?;
        let hash = self.hasher.hash(password.secret()).await?;
        if !self
            .tokens
            .consume(&digest, TokenPurpose::PasswordReset, now)
            .await?
        {
            return Err(RecoveryError::InvalidToken);
        }
        user.set_password(hash, self.clock.now());
        let revoked = self
            .users
            .update_credential(&user, read_at, None, now)
            .await
            .map_err(moot)?;
        self.audit
            .record(AuditKind::PasswordReset, Some(user.id), None, caller, None)
            .await;
        tracing::info!(event = "password_reset", user_id = %user.id, revoked_sessions = revoked, "password reset");
        self.send(message(
            &user.email,
            "Your password was changed",
            &[
                "The password of your account was just reset, and every device was signed out.",
                "If this was not you, reset your password again right away and contact support.",
            ],
            None,
        ))
        .await;
        Ok(())
    }

    /// Admits a request for a verification email (counted per user) and returns the mail
    /// to send: a link for the user's current address, nothing if it is verified already.
    pub async fn request_email_verification(
        &self,
        user: User,
    ) -> Result<PendingMail, RecoveryError> {
        self.throttle
            .admit(Bucket::VerifyEmail, &user.id.to_string())
            .await?;
        Ok(PendingMail {
            service: self.clone(),
            job: MailJob::Verification(user),
        })
    }

    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn send_verification(&self, user: &User) -> Result<(), RecoveryError> {
        if user.is_verified {
            return Ok(());
        }
        let token = self
            .issue(
                user,
                TokenPurpose::EmailVerification,
                Duration::hours(VERIFICATION_LIFETIME_HOURS),
            )
            .await?;
        self.send(message(
            &user.email,
            "Confirm your email address",
            &["Open this link within 24 hours to confirm that this address is yours."],
            Some(&self.links.verification(&token)),
        ))
        .await;
        Ok(())
    }

    /// Marks the address the token was sent to as verified, if it is still the account's.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_email_verification(
        &self,
        token: &SecretString,
        caller: &Caller,
    ) -> Result<(), RecoveryError> {
        well_formed(token)?;
        let digest = self.opaque.digest(token);
        let now = self.now();
        let found = self
            .tokens
            .find_usable(&digest, TokenPurpose::EmailVerification, now)
            .await?
            .ok_or(RecoveryError::InvalidToken)?;
        let Some(mut user) = self.users.find_by_id(found.user_id).await? else {
            return Err(RecoveryError::InvalidToken);
        };
        let read_at = user.updated_at;
        // The address changed since the link was sent: the link no longer proves anything.
        if user.email != found.email {
            return Err(RecoveryError::InvalidToken);
        }
        if !self
            .tokens
            .consume(&digest, TokenPurpose::EmailVerification, now)
            .await?
        {
            return Err(RecoveryError::InvalidToken);
        }
        user.is_verified = true;
        user.updated_at = now;
        self.save(&user, read_at).await?;
        self.audit
            .record(AuditKind::EmailVerified, Some(user.id), None, caller, None)
            .await;
        tracing::info!(event = "email_verified", user_id = %user.id, "email verified");
        Ok(())
    }

    /// Deletes expired and used tokens; the housekeeping task calls it.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        self.tokens.purge(before).await
    }
}
