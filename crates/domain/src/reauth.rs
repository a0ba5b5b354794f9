//! Re-authentication: before a change to how an account signs in or is recovered (its
//! password, email, second factors, deletion, ending its other sessions), the person proves
//! again that they own it — with the current password, or, for an account that has none, by
//! a sign-in within the last few minutes — from a session of gatehouse or of a first-party
//! app, never from a token a third-party app holds, whatever its scopes.

use std::sync::Arc;

use chrono::Duration;
use secrecy::SecretString;

use crate::attempts::{ConfirmError, PasswordAttempts};
use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::error::RepositoryError;
use crate::id::ClientId;
use crate::ports::SessionRepository;
use crate::session::{Caller, SessionId};
use crate::user::User;

/// How long a sign-in counts as re-authentication for an account without a password, by
/// default (`auth.reauthentication_seconds`).
pub const DEFAULT_WINDOW: Duration = Duration::minutes(5);

/// Which OAuth clients are part of this service.
#[async_trait::async_trait]
pub trait ClientTrust: Send + Sync {
    /// Whether `client` is first-party. A client that no longer exists is not.
    /// Errors only when storage fails.
    async fn is_first_party(&self, client: &ClientId) -> Result<bool, RepositoryError>;
}

/// Why re-authentication was refused, besides the password's own refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReauthRefusal {
    /// The caller's session belongs to a third-party app: changes to how the account signs
    /// in are for its owner, on gatehouse's pages or in a first-party app.
    #[error("a third-party application cannot change how this account signs in")]
    ThirdParty,
    /// The caller is a personal access token: changes to how the account signs in (and
    /// new tokens) are for its owner in person.
    #[error("a personal access token cannot change how this account signs in")]
    PersonalToken,
    /// The account has a password and the request did not give it.
    #[error("confirm this change with your current password (`current_password`)")]
    PasswordRequired,
    /// The account has no password and its sign-in is older than the window (or the
    /// session is gone): sign in again, then retry.
    #[error("sign in again to confirm this change")]
    Stale,
}

#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    #[error(transparent)]
    Refused(ReauthRefusal),
    /// The current password was missing or wrong, throttled, or could not be checked.
    #[error(transparent)]
    Password(#[from] ConfirmError),
}

impl From<RepositoryError> for ReauthError {
    fn from(error: RepositoryError) -> Self {
        ReauthError::Password(ConfirmError::Repository(error))
    }
}

/// The one check every change to how an account signs in or is recovered goes through.
#[derive(Clone)]
pub struct Reauthentication {
    attempts: PasswordAttempts,
    sessions: Arc<dyn SessionRepository>,
    clients: Arc<dyn ClientTrust>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    window: Duration,
}

impl Reauthentication {
    pub fn new(
        attempts: PasswordAttempts,
        sessions: Arc<dyn SessionRepository>,
        clients: Arc<dyn ClientTrust>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        window: Duration,
    ) -> Self {
        Self {
            attempts,
            sessions,
            clients,
            clock,
            audit,
            window,
        }
    }

    /// Whether the person behind `session` may change how `user` signs in: the session must
    /// be live, theirs and not a third-party app's (judged first, so such a token never
    /// reaches a password check); then an account with a password needs it (`password`,
    /// checked as a throttled, audited confirmation), and an account without one a sign-in
    /// within the window.
    pub async fn check(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        caller: &Caller,
    ) -> Result<(), ReauthError> {
        let now = self.clock.now();
        let session = match self.sessions.find(session).await? {
            Some(session) if session.user_id == user.id && session.is_live(now) => session,
            _ => return Err(ReauthError::Refused(ReauthRefusal::Stale)),
        };
        if session.kind == crate::session::SessionKind::Personal {
            return Err(ReauthError::Refused(ReauthRefusal::PersonalToken));
        }
        if let Some(app) = &session.client_id
            && !self.clients.is_first_party(app).await?
        {
            self.audit
                .record(
                    AuditKind::ReauthenticationRefused,
                    Some(user.id),
                    None,
                    caller,
                    Some(format!("session of third-party caller {app}")),
                )
                .await;
            tracing::warn!(event = "reauthentication_refused", user_id = %user.id, client_id = %app, "a third-party caller's token tried to change how the account signs in");
            return Err(ReauthError::Refused(ReauthRefusal::ThirdParty));
        }
        if user.has_password() {
            if password.is_none() {
                return Err(ReauthError::Refused(ReauthRefusal::PasswordRequired));
            }
            return Ok(self.attempts.confirm(user, password, caller).await?);
        }
        if session.authenticated_within(self.window, now) {
            Ok(())
        } else {
            Err(ReauthError::Refused(ReauthRefusal::Stale))
        }
    }
}
