//! The audit trail: security events with who, from where and when — never a secret.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::error::RepositoryError;
use crate::meter::{LoginOutcome, Meter, NoMeter};
use crate::pagination::{Page, Paged};
use crate::session::Caller;
use crate::user::UserId;

crate::id::uuid_id!(
    /// An audit event's identifier.
    AuditEventId
);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    TokenRefreshed,
    RefreshTokenReused,
    Logout,
    SessionRevoked,
    PasswordChanged,
    PasswordReset,
    EmailVerified,
    RoleChanged,
    ActiveChanged,
    /// An admin marked the account's email verified or unverified.
    VerifiedChanged,
    AccountDeleted,
    /// A wrong current password given to confirm a change (password, email, deletion).
    PasswordCheckFailed,
    /// A current-password check refused by throttling before any verification.
    PasswordCheckThrottled,
    EmailChanged,
    /// A reset link refused because the account's address changed since it was sent.
    ResetTokenStale,
    /// An authorization code presented a second time: the session it opened is revoked.
    AuthorizationCodeReplayed,
    /// A person signed out of the hosted pages.
    BrowserSignOut,
    /// MFA turned on: an enrolment confirmed with a valid code.
    MfaEnrolled,
    /// MFA turned off by its user (password and code).
    MfaDisabled,
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated,
    /// A one-time code accepted.
    MfaSucceeded,
    /// A one-time or recovery code refused (wrong, malformed or reused).
    MfaFailed,
    /// A recovery code accepted (and used up).
    RecoveryCodeUsed,
    /// An admin removed a user's MFA.
    MfaReset,
    /// A third-party app's token tried a change that needs re-authentication.
    ReauthenticationRefused,
    /// A sign-in through an upstream identity provider (the detail names it).
    UpstreamSignIn,
    /// An upstream sign-in refused: a bad state, the upstream's error or an answer that
    /// failed a check, an identity that may not sign in or up (the detail says which).
    UpstreamSignInFailed,
    /// An upstream identity linked to an account.
    IdentityLinked,
    /// An upstream identity unlinked from its account.
    IdentityUnlinked,
    /// A passkey registered to an account (the detail names it).
    PasskeyRegistered,
    /// A passkey removed from its account.
    PasskeyRemoved,
    /// A sign-in with a passkey.
    PasskeySignIn,
    /// A passkey sign-in refused: an unknown credential, an answer that failed a check, a
    /// signature counter that went backwards (the detail says which).
    PasskeySignInFailed,
    /// A wrong secret for a confidential OAuth client (the detail names the client).
    ClientAuthenticationFailed,
    /// A client's token for itself, by the client credentials grant (the detail names the
    /// client, the API and the scopes).
    ClientTokenIssued,
    /// A personal access token made (the detail names it and its scopes).
    PatCreated,
    /// A personal access token revoked (by its person, or by the admin named as actor).
    PatRevoked,
    /// A personal access token used (recorded at most once a minute per token).
    PatUsed,
    /// A device's request approved by its person (the detail names the client and scopes).
    DeviceApproved,
    /// A device's request denied by its person.
    DeviceDenied,
    /// A refresh token presented again soon after its rotation, its successor unused: a
    /// retry after a lost answer; the session went on and the unused successor died.
    RefreshRetried,
}

impl AuditKind {
    pub const ALL: [AuditKind; 44] = [
        AuditKind::LoginSucceeded,
        AuditKind::LoginFailed,
        AuditKind::LoginThrottled,
        AuditKind::TokenRefreshed,
        AuditKind::RefreshTokenReused,
        AuditKind::Logout,
        AuditKind::SessionRevoked,
        AuditKind::PasswordChanged,
        AuditKind::PasswordReset,
        AuditKind::EmailVerified,
        AuditKind::RoleChanged,
        AuditKind::ActiveChanged,
        AuditKind::VerifiedChanged,
        AuditKind::AccountDeleted,
        AuditKind::PasswordCheckFailed,
        AuditKind::PasswordCheckThrottled,
        AuditKind::EmailChanged,
        AuditKind::ResetTokenStale,
        AuditKind::AuthorizationCodeReplayed,
        AuditKind::BrowserSignOut,
        AuditKind::MfaEnrolled,
        AuditKind::MfaDisabled,
        AuditKind::RecoveryCodesRegenerated,
        AuditKind::MfaSucceeded,
        AuditKind::MfaFailed,
        AuditKind::RecoveryCodeUsed,
        AuditKind::MfaReset,
        AuditKind::ReauthenticationRefused,
        AuditKind::UpstreamSignIn,
        AuditKind::UpstreamSignInFailed,
        AuditKind::IdentityLinked,
        AuditKind::IdentityUnlinked,
        AuditKind::PasskeyRegistered,
        AuditKind::PasskeyRemoved,
        AuditKind::PasskeySignIn,
        AuditKind::PasskeySignInFailed,
        AuditKind::ClientAuthenticationFailed,
        AuditKind::ClientTokenIssued,
        AuditKind::PatCreated,
        AuditKind::PatRevoked,
        AuditKind::PatUsed,
        AuditKind::DeviceApproved,
        AuditKind::DeviceDenied,
        AuditKind::RefreshRetried,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::LoginSucceeded => "login_succeeded",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::LoginThrottled => "login_throttled",
            AuditKind::TokenRefreshed => "token_refreshed",
            AuditKind::RefreshTokenReused => "refresh_token_reused",
            AuditKind::Logout => "logout",
            AuditKind::SessionRevoked => "session_revoked",
            AuditKind::PasswordChanged => "password_changed",
            AuditKind::PasswordReset => "password_reset",
            AuditKind::EmailVerified => "email_verified",
            AuditKind::RoleChanged => "role_changed",
            AuditKind::ActiveChanged => "active_changed",
            AuditKind::VerifiedChanged => "verified_changed",
            AuditKind::AccountDeleted => "account_deleted",
            AuditKind::PasswordCheckFailed => "password_check_failed",
            AuditKind::PasswordCheckThrottled => "password_check_throttled",
            AuditKind::EmailChanged => "email_changed",
            AuditKind::ResetTokenStale => "reset_token_stale",
            AuditKind::AuthorizationCodeReplayed => "authorization_code_replayed",
            AuditKind::BrowserSignOut => "browser_sign_out",
            AuditKind::MfaEnrolled => "mfa_enrolled",
            AuditKind::MfaDisabled => "mfa_disabled",
            AuditKind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            AuditKind::MfaSucceeded => "mfa_succeeded",
            AuditKind::MfaFailed => "mfa_failed",
            AuditKind::RecoveryCodeUsed => "recovery_code_used",
            AuditKind::MfaReset => "mfa_reset",
            AuditKind::ReauthenticationRefused => "reauthentication_refused",
            AuditKind::UpstreamSignIn => "upstream_sign_in",
            AuditKind::UpstreamSignInFailed => "upstream_sign_in_failed",
            AuditKind::IdentityLinked => "identity_linked",
            AuditKind::IdentityUnlinked => "identity_unlinked",
            AuditKind::PasskeyRegistered => "passkey_registered",
            AuditKind::PasskeyRemoved => "passkey_removed",
            AuditKind::PasskeySignIn => "passkey_sign_in",
            AuditKind::PasskeySignInFailed => "passkey_sign_in_failed",
            AuditKind::ClientAuthenticationFailed => "client_authentication_failed",
            AuditKind::ClientTokenIssued => "client_token_issued",
            AuditKind::PatCreated => "pat_created",
            AuditKind::PatRevoked => "pat_revoked",
            AuditKind::PatUsed => "pat_used",
            AuditKind::DeviceApproved => "device_approved",
            AuditKind::DeviceDenied => "device_denied",
            AuditKind::RefreshRetried => "refresh_retried",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub kind: AuditKind,
    /// The account the event is about, when known.
    pub user_id: Option<UserId>,
    /// Who did it, when someone else than the user (an admin).
    pub actor_id: Option<UserId>,
    pub caller: Caller,
    /// A short, secret-free remark (`user -> admin`).
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<UserId>,
    pub kind: Option<AuditKind>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl AuditKind {
    /// The sign-in outcome this event stands for, when it is one of a sign-in's failures:
    /// the audit trail and the counts cannot disagree. (A success is counted where a
    /// session opens: `login_succeeded` is also recorded by a code exchange.)
    pub fn sign_in_outcome(self) -> Option<LoginOutcome> {
        match self {
            AuditKind::LoginFailed => Some(LoginOutcome::WrongPassword),
            AuditKind::LoginThrottled => Some(LoginOutcome::Throttled),
            AuditKind::MfaFailed => Some(LoginOutcome::SecondFactorFailed),
            _ => None,
        }
    }
}

/// Storage of audit events.
#[async_trait::async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepositoryError>;

    /// One page of the events matching `filter`, newest first, and how many match, counted
    /// up to `page.count_limit()`.
    async fn list(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditEvent>, u64), RepositoryError>;
}

/// Records events; a failure to record is logged, never fails the action it describes.
/// Every event is also counted by the meter (see [`crate::meter`]).
#[derive(Clone)]
pub struct Audit {
    log: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    meter: Arc<dyn Meter>,
}

impl Audit {
    pub fn new(log: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self {
            log,
            clock,
            meter: Arc::new(NoMeter),
        }
    }

    /// Counts every event, and the sign-ins' outcomes, on `meter`.
    pub fn with_meter(mut self, meter: Arc<dyn Meter>) -> Self {
        self.meter = meter;
        self
    }

    /// The meter events are counted on, for counts that are not events.
    pub fn meter(&self) -> &dyn Meter {
        self.meter.as_ref()
    }

    pub async fn record(
        &self,
        kind: AuditKind,
        user_id: Option<UserId>,
        actor_id: Option<UserId>,
        caller: &Caller,
        detail: Option<String>,
    ) {
        let event = AuditEvent {
            id: AuditEventId::generate(),
            kind,
            user_id,
            actor_id,
            caller: caller.clone(),
            detail,
            at: self.clock.now(),
        };
        self.stored_elsewhere(kind, user_id, actor_id, caller);
        if let Err(error) = self.log.record(&event).await {
            tracing::error!(%error, audit = kind.as_str(), "could not store an audit event");
        }
    }

    /// Logs and counts an event that a write stored with the change it records (in the
    /// change's own transaction), as [`Audit::record`] does for those it stores.
    pub fn stored_elsewhere(
        &self,
        kind: AuditKind,
        user_id: Option<UserId>,
        actor_id: Option<UserId>,
        caller: &Caller,
    ) {
        tracing::info!(
            audit = kind.as_str(),
            user_id = user_id.map(|id| id.to_string()),
            actor_id = actor_id.map(|id| id.to_string()),
            ip = caller.ip.as_deref(),
            "security event"
        );
        self.meter.event(kind.as_str());
        if let Some(outcome) = kind.sign_in_outcome() {
            self.meter.login(outcome);
        }
    }

    pub async fn list(
        &self,
        filter: AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditEvent>, RepositoryError> {
        let (items, total) = self.log.list(&filter, page).await?;
        Ok(Paged { items, total, page })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::testing::{FixedClock, NoAudit};

    #[derive(Default)]
    struct Counts(Mutex<Vec<String>>);

    impl Meter for Counts {
        fn event(&self, kind: &'static str) {
            self.0.lock().unwrap().push(format!("event {kind}"));
        }
        fn login(&self, outcome: LoginOutcome) {
            self.0
                .lock()
                .unwrap()
                .push(format!("login {}", outcome.as_str()));
        }
    }

    #[tokio::test]
    async fn every_event_is_counted_and_sign_in_failures_as_their_outcomes() {
        let counts = Arc::new(Counts::default());
        let audit = Audit::new(Arc::new(NoAudit), Arc::new(FixedClock(Utc::now())))
            .with_meter(counts.clone());
        for kind in [
            AuditKind::LoginFailed,
            AuditKind::LoginThrottled,
            AuditKind::MfaFailed,
            AuditKind::LoginSucceeded,
            AuditKind::TokenRefreshed,
        ] {
            audit
                .record(kind, None, None, &Caller::default(), None)
                .await;
        }
        assert_eq!(
            *counts.0.lock().unwrap(),
            [
                "event login_failed",
                "login wrong_password",
                "event login_throttled",
                "login throttled",
                "event mfa_failed",
                "login second_factor_failed",
                // A success is counted where a session opens.
                "event login_succeeded",
                "event token_refreshed",
            ]
        );
    }
}
