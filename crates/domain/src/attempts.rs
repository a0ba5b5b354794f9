//! Password attempts: every use case that verifies a password a person typed (login, and
//! the current password confirming a password change, an email change or a deletion)
//! goes through here, so each is throttled by reservation per account and per client
//! network, and audited, in one place.

use std::sync::Arc;

use secrecy::SecretString;

use crate::audit::{Audit, AuditKind};
use crate::error::RepositoryError;
use crate::password::PasswordHash;
use crate::ports::{HashingError, HashingTurn, PasswordVerifier, Verification};
use crate::session::Caller;
use crate::throttle::{Bucket, Reservation, Throttle, ThrottleError, ip_subject};
use crate::user::{User, UserId};

/// Why a current password confirming a change was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// No current password was given.
    #[error("current password is required")]
    Missing,
    #[error("the current password is wrong")]
    Wrong,
    /// Too many password attempts for this account or from this network: wait
    /// `retry_after`. Nothing was verified.
    #[error("too many password attempts")]
    Throttled { retry_after: std::time::Duration },
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

crate::throttle::throttled_error!(ConfirmError);

/// One reserved password attempt. It counts as a failure unless [`PasswordAttempts::succeeded`]
/// or [`PasswordAttempts::abandoned`] takes it back.
#[derive(Debug)]
#[must_use = "an attempt ends as succeeded, failed or abandoned"]
pub struct Attempt {
    account: Reservation,
    ip: Option<Reservation>,
}

/// Who an attempt is about, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct AttemptKinds {
    /// Recorded when the throttle refuses the attempt.
    pub throttled: AuditKind,
    /// Recorded when the password is wrong.
    pub failed: AuditKind,
}

/// Login: the audit kinds of the password grant.
pub const LOGIN: AttemptKinds = AttemptKinds {
    throttled: AuditKind::LoginThrottled,
    failed: AuditKind::LoginFailed,
};

/// A current password confirming a sensitive change.
pub const CONFIRMATION: AttemptKinds = AttemptKinds {
    throttled: AuditKind::PasswordCheckThrottled,
    failed: AuditKind::PasswordCheckFailed,
};

/// The one way the use cases verify a password: inside a reserved [`Attempt`].
#[derive(Clone)]
pub struct PasswordAttempts {
    verifier: Arc<dyn PasswordVerifier>,
    throttle: Throttle,
    audit: Audit,
}

impl PasswordAttempts {
    pub fn new(verifier: Arc<dyn PasswordVerifier>, throttle: Throttle, audit: Audit) -> Self {
        Self {
            verifier,
            throttle,
            audit,
        }
    }

    /// Verifies `password` against `stored` within `attempt`, which the caller then ends as
    /// succeeded, failed or abandoned. Errors as [`PasswordVerifier::verify`].
    pub async fn verify(
        &self,
        _attempt: &Attempt,
        turn: HashingTurn,
        password: &SecretString,
        stored: &PasswordHash,
    ) -> Result<Verification, HashingError> {
        self.verifier.verify(turn, password, stored).await
    }

    /// Reserves one attempt for `account` (a normalized email, known or not) and for the
    /// caller's network, before any password is verified. Refused with
    /// [`ThrottleError::Limited`] once either limit is used up; the refusal is audited.
    pub async fn begin(
        &self,
        account: &str,
        user: Option<UserId>,
        caller: &Caller,
        kinds: AttemptKinds,
    ) -> Result<Attempt, ThrottleError> {
        let reserved = self.reserve_both(account, caller).await;
        if let Err(ThrottleError::Limited { .. }) = &reserved {
            self.audit
                .record(kinds.throttled, user, None, caller, None)
                .await;
        }
        reserved
    }

    async fn reserve_both(&self, account: &str, caller: &Caller) -> Result<Attempt, ThrottleError> {
        // The network first: a network over its limit never reaches (nor locks) an account;
        // a locked account's attempt reaches no password, so it does not count against the
        // network either. Both are counted in one statement.
        match &caller.ip {
            Some(ip) => {
                let (ip, account) = self
                    .throttle
                    .reserve_pair(
                        (Bucket::LoginIp, &ip_subject(ip)),
                        (Bucket::LoginAccount, account),
                    )
                    .await?;
                Ok(Attempt {
                    account,
                    ip: Some(ip),
                })
            }
            None => Ok(Attempt {
                account: self.throttle.reserve(Bucket::LoginAccount, account).await?,
                ip: None,
            }),
        }
    }

    /// Checks the current password confirming a sensitive change (password, email,
    /// deletion, MFA), as a reserved attempt: throttled like logins (the same counts, per
    /// account and per network) and audited.
    pub async fn confirm(
        &self,
        user: &User,
        password: Option<&SecretString>,
        caller: &Caller,
    ) -> Result<(), ConfirmError> {
        let password = password.ok_or(ConfirmError::Missing)?;
        let attempt = self
            .begin(user.email.as_str(), Some(user.id), caller, CONFIRMATION)
            .await?;
        match self
            .verify(&attempt, HashingTurn::none(), password, &user.password_hash)
            .await
        {
            // A right password confirms this change only: the account's earlier failures
            // stay counted (else a known password would reopen the budget of the codes
            // that follow it), and only this attempt is given back.
            Ok(Verification::Match { .. }) => {
                self.confirmed(attempt).await;
                Ok(())
            }
            Ok(Verification::Mismatch) => {
                self.failed(attempt, CONFIRMATION, Some(user.id), caller, None)
                    .await;
                Err(ConfirmError::Wrong)
            }
            Err(error) => {
                self.abandoned(attempt).await;
                Err(error.into())
            }
        }
    }

    /// The password was right and a sign-in completed: the account's failures are
    /// forgotten and the network's reservation given back.
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), RepositoryError> {
        match attempt.ip {
            Some(ip) => self.throttle.clear_and_release(attempt.account, ip).await,
            None => self.throttle.clear(attempt.account).await,
        }
    }

    /// The password was wrong, or right but the attempt was refused anyway (a disabled
    /// account, a scope the role lacks): it stays counted, and is audited.
    pub async fn failed(
        &self,
        attempt: Attempt,
        kinds: AttemptKinds,
        user: Option<UserId>,
        caller: &Caller,
        detail: Option<String>,
    ) {
        drop(attempt);
        self.audit
            .record(kinds.failed, user, None, caller, detail)
            .await;
    }

    /// The password (or code) was right and confirms a change, not a sign-in: the attempt
    /// is given back, and the account's earlier failures stay counted. Only a completed
    /// sign-in forgets them ([`Self::succeeded`]).
    pub async fn confirmed(&self, attempt: Attempt) {
        self.give_back(attempt).await;
    }

    /// No password was verified (the hashing pool was full, storage failed): the attempt
    /// is given back.
    pub async fn abandoned(&self, attempt: Attempt) {
        self.give_back(attempt).await;
    }

    async fn give_back(&self, attempt: Attempt) {
        let releases = [Some(attempt.account), attempt.ip];
        for reservation in releases.into_iter().flatten() {
            if let Err(error) = self.throttle.release(reservation).await {
                tracing::warn!(%error, "could not give back a throttle reservation");
            }
        }
    }
}
