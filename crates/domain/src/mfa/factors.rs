//! Checking a second factor. Every code a person types goes through here, inside an
//! attempt reserved against the same limits as passwords (per account and per network), so
//! a burst of guesses is judged as a whole and wrong codes lock the account like wrong
//! passwords; each outcome is audited.

use std::sync::Arc;

use super::ports::{Authenticators, MfaRepository, OtpError};
use super::{Factor, MfaCredential};
use crate::attempts::{AttemptKinds, PasswordAttempts};
use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::error::RepositoryError;
use crate::session::Caller;
use crate::user::User;

#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    /// Wrong, malformed or already used: the attempt counts as a failure.
    #[error("the code is wrong or was already used")]
    Invalid,
    /// The account has no confirmed authenticator.
    #[error("multi-factor authentication is not enabled")]
    NotEnabled,
    /// Too many failed attempts for this account or from this network: wait
    /// `retry_after`. Nothing was checked.
    #[error("too many attempts")]
    Throttled { retry_after: std::time::Duration },
    #[error(transparent)]
    Unreadable(#[from] OtpError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

crate::throttle::throttled_error!(FactorError);

/// The audit kinds of a second-factor attempt.
const MFA: AttemptKinds = AttemptKinds {
    throttled: AuditKind::LoginThrottled,
    failed: AuditKind::MfaFailed,
};

/// What a checked code is for, which decides what a right one does to the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorUse {
    /// The last step of a sign-in: a right code forgets the account's failures.
    SignIn,
    /// Confirming a change (enrolment, disabling, new recovery codes): a right code gives
    /// its attempt back and forgets nothing, so that codes guessed around it stay counted.
    Confirmation,
}

/// The one way the use cases check a second factor.
#[derive(Clone)]
pub struct SecondFactors {
    repository: Arc<dyn MfaRepository>,
    authenticators: Arc<dyn Authenticators>,
    attempts: PasswordAttempts,
    clock: Arc<dyn Clock>,
    audit: Audit,
}

impl SecondFactors {
    pub fn new(
        repository: Arc<dyn MfaRepository>,
        authenticators: Arc<dyn Authenticators>,
        attempts: PasswordAttempts,
        clock: Arc<dyn Clock>,
        audit: Audit,
    ) -> Self {
        Self {
            repository,
            authenticators,
            attempts,
            clock,
            audit,
        }
    }

    /// The account's confirmed authenticator, if it has one.
    pub async fn enabled(&self, user: &User) -> Result<Option<MfaCredential>, RepositoryError> {
        Ok(self
            .repository
            .find(user.id)
            .await?
            .filter(|credential| credential.confirmed_at.is_some()))
    }

    /// Checks `factor` for `user`, in an attempt reserved before anything is checked: a
    /// code is accepted once (its time step, or the recovery code, is used up atomically),
    /// a success ends the attempt as `purpose` says, a failure counts and is audited.
    pub async fn verify(
        &self,
        user: &User,
        factor: &Factor,
        caller: &Caller,
        purpose: FactorUse,
    ) -> Result<(), FactorError> {
        let credential = self.enabled(user).await?.ok_or(FactorError::NotEnabled)?;
        let attempt = self
            .attempts
            .begin(user.email.as_str(), Some(user.id), caller, MFA)
            .await?;
        let outcome = match factor {
            Factor::Otp(code) => self.use_otp(&credential, code).await,
            Factor::RecoveryCode(code) => match self.authenticators.recovery_digest(code) {
                Some(digest) => self
                    .repository
                    .use_recovery_code(user.id, &digest, self.clock.now())
                    .await
                    .map_err(FactorError::from),
                None => Ok(false),
            },
        };
        match outcome {
            Ok(true) => {
                match purpose {
                    FactorUse::SignIn => {
                        if let Err(error) = self.attempts.succeeded(attempt).await {
                            tracing::warn!(%error, "could not clear the throttle after a second factor");
                        }
                    }
                    FactorUse::Confirmation => self.attempts.confirmed(attempt).await,
                }
                let kind = match factor {
                    Factor::Otp(_) => AuditKind::MfaSucceeded,
                    Factor::RecoveryCode(_) => AuditKind::RecoveryCodeUsed,
                };
                self.audit
                    .record(kind, Some(user.id), None, caller, None)
                    .await;
                Ok(())
            }
            Ok(false) => {
                let detail = match factor {
                    Factor::Otp(_) => "one-time code wrong or reused",
                    Factor::RecoveryCode(_) => "recovery code wrong or used",
                };
                self.attempts
                    .failed(attempt, MFA, Some(user.id), caller, Some(detail.into()))
                    .await;
                tracing::info!(event = "mfa_failed", user_id = %user.id, "second factor refused");
                Err(FactorError::Invalid)
            }
            Err(error) => {
                self.attempts.abandoned(attempt).await;
                Err(error)
            }
        }
    }

    /// Checks a code from a pending (not yet confirmed) authenticator, in an attempt on the
    /// same counters: `Some(step)` for a right code, which gives its attempt back; a wrong
    /// one counts and is audited.
    pub async fn check_pending(
        &self,
        user: &User,
        pending: &MfaCredential,
        code: &str,
        caller: &Caller,
    ) -> Result<Option<i64>, FactorError> {
        let attempt = self
            .attempts
            .begin(user.email.as_str(), Some(user.id), caller, MFA)
            .await?;
        match self
            .authenticators
            .check(user.id, &pending.sealed, code, self.clock.now())
        {
            Ok(Some(step)) => {
                self.attempts.confirmed(attempt).await;
                Ok(Some(step))
            }
            Ok(None) => {
                self.attempts
                    .failed(
                        attempt,
                        MFA,
                        Some(user.id),
                        caller,
                        Some("enrolment code wrong".into()),
                    )
                    .await;
                Ok(None)
            }
            Err(error) => {
                self.attempts.abandoned(attempt).await;
                Err(error.into())
            }
        }
    }

    /// Whether `code` is the authenticator's for a step not used before, using it up.
    async fn use_otp(&self, credential: &MfaCredential, code: &str) -> Result<bool, FactorError> {
        let user = credential.user_id;
        let Some(step) =
            self.authenticators
                .check(user, &credential.sealed, code, self.clock.now())?
        else {
            return Ok(false);
        };
        let resealed = self.authenticators.reseal(user, &credential.sealed);
        Ok(self
            .repository
            .use_step(user, step, resealed.as_ref())
            .await?)
    }
}
