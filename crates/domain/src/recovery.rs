//! Account recovery and email verification: single-use emailed tokens (256 bits, stored as
//! digests) that reset a password (30 minutes) or confirm an address (24 hours).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::email::Email;
use crate::error::{RepositoryError, ValidationErrors};
pub use crate::mail::{ActionToken, TokenPurpose};
use crate::mail::{
    ClaimedMail, MailContent, MailKind, MailMessage, MailQueue, MailSealer, QueuedMail, html_escape,
};
use crate::password::Password;
use crate::ports::{HashingError, OpaqueTokens, PasswordHasher, TokenDigest, UserRepository};
use crate::session::Caller;
use crate::throttle::{Bucket, Throttle, ip_subject};
use crate::user::{User, UserId};

pub const RESET_LIFETIME_MINUTES: i64 = 30;
pub const VERIFICATION_LIFETIME_HOURS: i64 = 24;

/// Storage of single-use tokens. They are stored with the email that carries them
/// ([`crate::mail::MailQueue::enqueue`], [`crate::mail::MailQueue::prepare`]).
#[async_trait::async_trait]
pub trait ActionTokenRepository: Send + Sync {
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
    pub queue: Arc<dyn MailQueue>,
    pub sealer: Arc<dyn MailSealer>,
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
    queue: Arc<dyn MailQueue>,
    sealer: Arc<dyn MailSealer>,
    clock: Arc<dyn Clock>,
    throttle: Throttle,
    audit: Audit,
    links: Links,
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
            queue: ports.queue,
            sealer: ports.sealer,
            clock: ports.clock,
            throttle: ports.throttle,
            audit: ports.audit,
            links,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now_stored()
    }

    /// A new single-use token for `user`, and what is stored of it (the caller stores it
    /// with the email that carries it).
    fn issue(
        &self,
        user: &User,
        purpose: TokenPurpose,
        lifetime: Duration,
    ) -> (SecretString, ActionToken) {
        let token = self.opaque.generate();
        let now = self.now();
        let stored = ActionToken {
            digest: self.opaque.digest(&token),
            user_id: user.id,
            purpose,
            email: user.email.clone(),
            created_at: now,
            expires_at: now + lifetime,
        };
        (token, stored)
    }

    /// Queues `message` (of `kind`, for `user`), with the token it carries if any, in one
    /// transaction.
    async fn enqueue(
        &self,
        kind: MailKind,
        user: UserId,
        message: MailMessage,
        token: Option<&ActionToken>,
    ) -> Result<(), RepositoryError> {
        let mail = QueuedMail::new(
            kind,
            Some(user),
            &MailContent::Message(message),
            self.sealer.as_ref(),
            self.now(),
        );
        self.queue.enqueue(&mail, token).await
    }

    /// Stores `user`, read at `read_at`; a user who vanished or changed meanwhile makes the
    /// token moot.
    async fn save(&self, user: &User, read_at: DateTime<Utc>) -> Result<(), RecoveryError> {
        self.users.update(user, read_at).await.map_err(moot)
    }

    /// Admits a password-reset request (counted per client network) and queues it: the
    /// worker looks the address up and mails a reset link if it belongs to an active
    /// account, nothing otherwise ([`RecoveryService::prepare`]). Known and unknown
    /// addresses cost the same here: one sealed row stored. A malformed address is refused
    /// (`Invalid`) before anything else: it is the client's mistake, and says nothing about
    /// which accounts exist.
    #[tracing::instrument(skip_all)]
    pub async fn request_password_reset(
        &self,
        email: String,
        caller: &Caller,
    ) -> Result<(), RecoveryError> {
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
        let mail = QueuedMail::new(
            MailKind::PasswordReset,
            None,
            &MailContent::ResetRequest(email),
            self.sealer.as_ref(),
            self.now(),
        );
        self.queue.enqueue(&mail, None).await?;
        Ok(())
    }

    /// The message a held email stands for: a ready one as it is; for a reset request, a
    /// reset link if the address belongs to an active account, made now and stored with
    /// its token in place of the request (so a retry sends the same link), or `None` when
    /// there is nothing to send (no such account, or the hold was lost meanwhile).
    #[tracing::instrument(skip_all)]
    pub async fn prepare(
        &self,
        held: &ClaimedMail,
        content: MailContent,
    ) -> Result<Option<MailMessage>, RepositoryError> {
        let email = match content {
            MailContent::Message(message) => return Ok(Some(message)),
            MailContent::ResetRequest(email) => email,
        };
        let user = match self.users.find_by_email(&email).await? {
            Some(user) if user.is_active => user,
            _ => {
                tracing::info!(
                    event = "password_reset_requested",
                    known = false,
                    "password reset requested"
                );
                return Ok(None);
            }
        };
        let (token, stored) = self.issue(
            &user,
            TokenPurpose::PasswordReset,
            Duration::minutes(RESET_LIFETIME_MINUTES),
        );
        let message = message(
            &user.email,
            "Reset your password",
            &[
                "Someone asked to reset the password of your account.",
                "Open this link within 30 minutes to choose a new password. If it was not you, ignore this email: your password stays as it is.",
            ],
            Some(&self.links.reset(&token)),
        );
        let sealed = self
            .sealer
            .seal(held.id, &MailContent::Message(message.clone()));
        if !self.queue.prepare(held, user.id, &sealed, &stored).await? {
            return Ok(None);
        }
        tracing::info!(event = "password_reset_requested", user_id = %user.id, "password reset requested");
        Ok(Some(message))
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
        let notice = message(
            &user.email,
            "Your password was changed",
            &[
                "The password of your account was just reset, and every device was signed out.",
                "If this was not you, reset your password again right away and contact support.",
            ],
            None,
        );
        // The password is changed: a notice that cannot be queued now must not undo that.
        if let Err(error) = self
            .enqueue(MailKind::PasswordChanged, user.id, notice, None)
            .await
        {
            tracing::error!(%error, user_id = %user.id, "could not queue the password-reset notice");
        }
        Ok(())
    }

    /// Admits a request for a verification email (counted per user) and queues a link for
    /// the user's current address, stored with its token; nothing if it is verified already.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn request_email_verification(&self, user: User) -> Result<(), RecoveryError> {
        self.throttle
            .admit(Bucket::VerifyEmail, &user.id.to_string())
            .await?;
        if user.is_verified {
            return Ok(());
        }
        let (token, stored) = self.issue(
            &user,
            TokenPurpose::EmailVerification,
            Duration::hours(VERIFICATION_LIFETIME_HOURS),
        );
        let message = message(
            &user.email,
            "Confirm your email address",
            &["Open this link within 24 hours to confirm that this address is yours."],
            Some(&self.links.verification(&token)),
        );
        self.enqueue(MailKind::EmailVerification, user.id, message, Some(&stored))
            .await?;
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::audit::AuditLog;
    use crate::mail::MailMessage;
    use crate::password::PasswordHash;
    use crate::ports::{SessionRepository, TokenDigest};
    use crate::scope::ScopeSet;
    use crate::session::{Session, SessionLifetimes};
    use crate::testing::{
        FakeHasher, InMemoryAccounts, InMemoryActionTokens, InMemoryCounters, InMemoryMailQueue,
        PlainSealer, RecordingAudit, RecordingMailer, SettableClock, ShapedOpaque,
    };
    use crate::throttle::ThrottlePolicy;
    use crate::user::Role;

    const PASSWORD: &str = "correct horse battery";
    const NEW_PASSWORD: &str = "a brand new secret";

    struct Harness {
        service: RecoveryService,
        accounts: Arc<InMemoryAccounts>,
        tokens: Arc<InMemoryActionTokens>,
        mailer: Arc<RecordingMailer>,
        courier: crate::courier::Courier,
        audit: Arc<RecordingAudit>,
        counters: Arc<InMemoryCounters>,
        clock: Arc<SettableClock>,
        start: DateTime<Utc>,
        ada: User,
    }

    async fn harness() -> Harness {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let clock = Arc::new(SettableClock::new(start));
        let accounts = Arc::new(InMemoryAccounts::default());
        let tokens = Arc::new(InMemoryActionTokens::default());
        let mailer = Arc::new(RecordingMailer::default());
        let queue = Arc::new(InMemoryMailQueue::new(tokens.clone()));
        let sealer = Arc::new(PlainSealer::default());
        let audit = Arc::new(RecordingAudit::default());
        let counters = Arc::new(InMemoryCounters::default());
        let service = RecoveryService::new(
            RecoveryPorts {
                users: accounts.clone(),
                hasher: Arc::new(FakeHasher::default()),
                tokens: tokens.clone(),
                opaque: Arc::new(ShapedOpaque),
                queue: queue.clone(),
                sealer: sealer.clone(),
                clock: clock.clone(),
                throttle: Throttle::new(counters.clone(), clock.clone(), ThrottlePolicy::default()),
                audit: Audit::new(audit.clone() as Arc<dyn AuditLog>, clock.clone()),
            },
            Links::new("https://id.example.com/"),
        );
        let courier = crate::courier::Courier::new(
            crate::courier::CourierPorts {
                queue,
                sealer,
                mailer: mailer.clone(),
                recovery: service.clone(),
                clock: clock.clone(),
                meter: Arc::new(crate::meter::NoMeter),
            },
            crate::courier::CourierPolicy::default(),
        );
        let h = Harness {
            service,
            courier,
            accounts,
            tokens,
            mailer,
            audit,
            counters,
            clock,
            start,
            ada: User::new(
                Email::parse("ada@example.com").unwrap(),
                None,
                Role::User,
                PasswordHash::new(format!("v2:{PASSWORD}")),
                start,
            ),
        };
        h.add(&h.ada).await;
        h
    }

    fn from(ip: &str) -> Caller {
        Caller {
            ip: Some(ip.into()),
            user_agent: None,
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    /// The token in the link of `mail`.
    fn token_in(mail: &MailMessage) -> SecretString {
        let (_, after) = mail
            .text
            .split_once("?token=")
            .expect("a link with a token");
        secret(after.split_whitespace().next().unwrap())
    }

    impl Harness {
        async fn add(&self, user: &User) {
            self.accounts.insert(user).await.unwrap();
        }

        fn stored(&self, id: UserId) -> User {
            self.accounts.0.lock().unwrap().user(id).unwrap().clone()
        }

        /// What was mailed, once the courier delivered what is due.
        async fn mails(&self) -> Vec<MailMessage> {
            self.courier.deliver_due().await.unwrap();
            self.mailer.0.lock().unwrap().clone()
        }

        /// Asks for a reset of `email` from 203.0.113.9 and sends what it admitted.
        async fn request_reset(&self, email: &str) -> Result<(), RecoveryError> {
            self.service
                .request_password_reset(email.into(), &from("203.0.113.9"))
                .await
        }

        /// Asks for a reset of Ada's password; the token of the link mailed to her.
        async fn reset_token(&self) -> SecretString {
            self.request_reset("ada@example.com").await.unwrap();
            token_in(self.mails().await.last().unwrap())
        }

        /// Asks for a verification of `user`'s address; the token mailed, if one was.
        async fn verification_token(&self, user: &User) -> Option<SecretString> {
            let before = self.mails().await.len();
            self.service
                .request_email_verification(user.clone())
                .await
                .unwrap();
            let mails = self.mails().await;
            (mails.len() > before).then(|| token_in(mails.last().unwrap()))
        }

        async fn reset(&self, token: &SecretString, password: &str) -> Result<(), RecoveryError> {
            self.service
                .confirm_password_reset(token, secret(password), &Caller::default())
                .await
        }

        async fn verify(&self, token: &SecretString) -> Result<(), RecoveryError> {
            self.service
                .confirm_email_verification(token, &Caller::default())
                .await
        }

        /// Gives Ada another address, as a profile change would.
        async fn move_ada(&self, email: &str) {
            let mut ada = self.stored(self.ada.id);
            let read_at = ada.updated_at;
            ada.email = Email::parse(email).unwrap();
            ada.updated_at = self.clock.now_stored();
            self.accounts.update(&ada, read_at).await.unwrap();
        }

        fn resets_counted(&self) -> u64 {
            let counters = self.counters.0.lock().unwrap();
            counters
                .get(&(Bucket::ResetIp, "203.0.113.9".to_owned()))
                .map_or(0, |count| count.count)
        }
    }

    #[tokio::test]
    async fn a_reset_request_answers_alike_for_any_address_and_mails_only_an_active_account() {
        let h = harness().await;
        let mut carol = User::new(
            Email::parse("carol@example.com").unwrap(),
            None,
            Role::User,
            PasswordHash::new(format!("v2:{PASSWORD}")),
            h.start,
        );
        carol.is_active = false;
        h.add(&carol).await;

        for email in [
            "nobody@example.com",
            "carol@example.com",
            " Ada@Example.com ",
        ] {
            h.request_reset(email).await.unwrap();
        }
        assert_eq!(h.resets_counted(), 3, "every request is counted alike");
        let mails = h.mails().await;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, h.ada.email);
        assert_eq!(mails[0].subject, "Reset your password");
        assert!(
            mails[0]
                .text
                .contains("https://id.example.com/reset-password?token=")
        );
        let tokens = h.tokens.0.lock().unwrap().clone();
        assert_eq!(tokens.len(), 1);
        let (stored, _) = &tokens[0];
        assert_eq!(stored.user_id, h.ada.id);
        assert_eq!(stored.purpose, TokenPurpose::PasswordReset);
        assert_eq!(stored.expires_at, h.start + Duration::minutes(30));
        // Only a digest is stored, never the token itself.
        let token = token_in(&mails[0]);
        assert_ne!(stored.digest.as_str(), token.expose_secret());
    }

    #[tokio::test]
    async fn reset_requests_are_counted_per_network_and_a_malformed_address_not_at_all() {
        let h = harness().await;
        let malformed = h.request_reset("not-an-email").await;
        let Err(RecoveryError::Invalid(errors)) = malformed else {
            panic!("expected validation errors, got {malformed:?}");
        };
        assert_eq!(errors.violations()[0].field, "email");
        assert_eq!(h.resets_counted(), 0);

        let limit = ThrottlePolicy::default().reset_ip.max;
        for _ in 0..limit {
            h.request_reset("nobody@example.com").await.unwrap();
        }
        let refused = h
            .service
            .request_password_reset("ada@example.com".into(), &from("203.0.113.9"))
            .await;
        assert!(matches!(refused, Err(RecoveryError::Throttled { .. })));
        h.service
            .request_password_reset("ada@example.com".into(), &from("198.51.100.7"))
            .await
            .unwrap();
        assert_eq!(h.mails().await.len(), 1);
    }

    #[tokio::test]
    async fn a_reset_token_sets_a_new_password_once_and_ends_every_session() {
        let h = harness().await;
        let mut sessions = Vec::new();
        for _ in 0..2 {
            let session = Session::start(
                &h.ada,
                ScopeSet::all_for(Role::User),
                Caller::default(),
                SessionLifetimes::default(),
                h.start,
            );
            h.accounts
                .create(&session, &TokenDigest::new(session.id.to_string()))
                .await
                .unwrap();
            sessions.push(session.id);
        }
        let token = h.reset_token().await;
        h.clock.advance(Duration::minutes(5));

        // A password the policy refuses leaves the token usable.
        let weak = h.reset(&token, "short").await;
        assert!(matches!(weak, Err(RecoveryError::Invalid(_))));

        h.reset(&token, NEW_PASSWORD).await.unwrap();
        let ada = h.stored(h.ada.id);
        assert_eq!(ada.password_hash.as_str(), format!("v2:{NEW_PASSWORD}"));
        assert_eq!(ada.credential_version, h.ada.credential_version + 1);
        for id in sessions {
            let session = h.accounts.find(id).await.unwrap().unwrap();
            assert!(!session.is_live(h.clock.now()), "session {id} still live");
        }
        assert!(h.audit.kinds().contains(&AuditKind::PasswordReset));
        let notice = h.mails().await.last().unwrap().clone();
        assert_eq!(notice.to, ada.email);
        assert_eq!(notice.subject, "Your password was changed");
        assert!(!notice.text.contains("token="));

        // Used up.
        let again = h.reset(&token, "yet another secret").await;
        assert!(matches!(again, Err(RecoveryError::InvalidToken)));
        assert_eq!(
            h.stored(h.ada.id).password_hash.as_str(),
            format!("v2:{NEW_PASSWORD}")
        );
    }

    #[tokio::test]
    async fn a_reset_token_is_good_for_thirty_minutes() {
        let h = harness().await;
        let token = h.reset_token().await;
        h.clock
            .set(h.start + Duration::minutes(RESET_LIFETIME_MINUTES));
        let expired = h.reset(&token, NEW_PASSWORD).await;
        assert!(matches!(expired, Err(RecoveryError::InvalidToken)));
        assert_eq!(h.stored(h.ada.id).password_hash, h.ada.password_hash);

        h.clock
            .set(h.start + Duration::minutes(RESET_LIFETIME_MINUTES) - Duration::seconds(1));
        h.reset(&token, NEW_PASSWORD).await.unwrap();
    }

    #[tokio::test]
    async fn a_reset_link_sent_to_a_former_address_is_refused() {
        let h = harness().await;
        let token = h.reset_token().await;
        h.clock.advance(Duration::minutes(1));
        h.move_ada("ada@new.example").await;

        let stale = h.reset(&token, NEW_PASSWORD).await;
        assert!(matches!(stale, Err(RecoveryError::InvalidToken)));
        assert_eq!(h.stored(h.ada.id).password_hash, h.ada.password_hash);
        assert_eq!(h.audit.kinds(), [AuditKind::ResetTokenStale]);
    }

    #[tokio::test]
    async fn a_token_serves_its_own_purpose_only_and_a_malformed_one_is_bad_input() {
        let h = harness().await;
        let reset = h.reset_token().await;
        let verification = h.verification_token(&h.ada).await.unwrap();

        assert!(matches!(
            h.reset(&verification, NEW_PASSWORD).await,
            Err(RecoveryError::InvalidToken)
        ));
        assert!(matches!(
            h.verify(&reset).await,
            Err(RecoveryError::InvalidToken)
        ));
        let Err(RecoveryError::Invalid(errors)) = h.verify(&secret("abc")).await else {
            panic!("a malformed token is invalid input");
        };
        assert_eq!(errors.violations()[0].field, "token");
        assert!(matches!(
            h.reset(&ShapedOpaque.generate(), NEW_PASSWORD).await,
            Err(RecoveryError::InvalidToken)
        ));

        // Each still works for what it was issued for.
        h.verify(&verification).await.unwrap();
        h.reset(&reset, NEW_PASSWORD).await.unwrap();
    }

    #[tokio::test]
    async fn verification_confirms_the_address_once_and_only_an_unverified_one_is_mailed() {
        let h = harness().await;
        let token = h.verification_token(&h.ada).await.unwrap();
        let mail = h.mails().await.last().unwrap().clone();
        assert_eq!(mail.to, h.ada.email);
        assert_eq!(mail.subject, "Confirm your email address");
        assert!(
            mail.text
                .contains("https://id.example.com/verify-email?token=")
        );
        assert!(!h.stored(h.ada.id).is_verified);

        h.verify(&token).await.unwrap();
        let ada = h.stored(h.ada.id);
        assert!(ada.is_verified);
        assert_eq!(h.audit.kinds(), [AuditKind::EmailVerified]);
        assert!(matches!(
            h.verify(&token).await,
            Err(RecoveryError::InvalidToken)
        ));

        // Verified already: nothing is mailed or stored.
        let tokens = h.tokens.0.lock().unwrap().len();
        assert!(h.verification_token(&ada).await.is_none());
        assert_eq!(h.tokens.0.lock().unwrap().len(), tokens);
    }

    #[tokio::test]
    async fn a_verification_link_is_void_once_the_address_changed_or_a_day_passed() {
        let h = harness().await;
        let token = h.verification_token(&h.ada).await.unwrap();
        h.clock.advance(Duration::minutes(1));
        h.move_ada("ada@new.example").await;
        assert!(matches!(
            h.verify(&token).await,
            Err(RecoveryError::InvalidToken)
        ));
        assert!(!h.stored(h.ada.id).is_verified);

        let moved = h.stored(h.ada.id);
        let sent = h.clock.now();
        let token = h.verification_token(&moved).await.unwrap();
        assert_eq!(
            h.mails().await.last().unwrap().to.as_str(),
            "ada@new.example"
        );
        h.clock
            .set(sent + Duration::hours(VERIFICATION_LIFETIME_HOURS));
        assert!(matches!(
            h.verify(&token).await,
            Err(RecoveryError::InvalidToken)
        ));
        h.clock
            .set(sent + Duration::hours(VERIFICATION_LIFETIME_HOURS) - Duration::seconds(1));
        h.verify(&token).await.unwrap();
        assert!(h.stored(h.ada.id).is_verified);
    }

    #[tokio::test]
    async fn verification_emails_are_counted_per_user() {
        let h = harness().await;
        for _ in 0..ThrottlePolicy::default().verify_email.max {
            h.verification_token(&h.ada).await.unwrap();
        }
        let refused = h.service.request_email_verification(h.ada.clone()).await;
        assert!(matches!(refused, Err(RecoveryError::Throttled { .. })));
        let bob = User::new(
            Email::parse("bob@example.com").unwrap(),
            None,
            Role::User,
            PasswordHash::new(format!("v2:{PASSWORD}")),
            h.start,
        );
        h.add(&bob).await;
        assert!(h.verification_token(&bob).await.is_some());
    }
}
