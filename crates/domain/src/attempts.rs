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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::audit::AuditLog;
    use crate::email::Email;
    use crate::testing::{
        FakeHasher, FixedClock, InMemoryCounters, OverloadedVerifier, RecordingAudit,
    };
    use crate::throttle::{Limit, ThrottlePolicy};
    use crate::user::Role;

    const PASSWORD: &str = "correct horse battery";
    const NETWORK: &str = "203.0.113.9";

    struct Harness {
        attempts: PasswordAttempts,
        hasher: Arc<FakeHasher>,
        counters: Arc<InMemoryCounters>,
        audit: Arc<RecordingAudit>,
        ada: User,
    }

    /// Attempts verified by `verifier` (the fake hasher if `None`), at most `account`
    /// per account and `network` per network in 15 minutes.
    fn harness_with(
        verifier: Option<Arc<dyn PasswordVerifier>>,
        account: u32,
        network: u32,
    ) -> Harness {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let clock = Arc::new(FixedClock(now));
        let hasher = Arc::new(FakeHasher::default());
        let counters = Arc::new(InMemoryCounters::default());
        let audit = Arc::new(RecordingAudit::default());
        let window = Duration::minutes(15);
        let policy = ThrottlePolicy {
            login_account: Limit {
                max: account,
                window,
            },
            login_ip: Limit {
                max: network,
                window,
            },
            ..ThrottlePolicy::default()
        };
        let attempts = PasswordAttempts::new(
            verifier.unwrap_or_else(|| hasher.clone()),
            Throttle::new(counters.clone(), clock.clone(), policy),
            Audit::new(audit.clone() as Arc<dyn AuditLog>, clock),
        );
        let ada = User::new(
            Email::parse("ada@example.com").unwrap(),
            None,
            Role::User,
            PasswordHash::new(format!("v2:{PASSWORD}")),
            now,
        );
        Harness {
            attempts,
            hasher,
            counters,
            audit,
            ada,
        }
    }

    fn harness() -> Harness {
        harness_with(None, 5, 20)
    }

    fn from_network() -> Caller {
        Caller {
            ip: Some(NETWORK.into()),
            user_agent: None,
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    impl Harness {
        /// The counts of `account` and of the network, read without counting.
        fn counts(&self, account: &str) -> (u64, u64) {
            let map = self.counters.0.lock().unwrap();
            let count = |bucket, subject: &str| {
                map.get(&(bucket, subject.to_owned()))
                    .map_or(0, |count| count.count)
            };
            (
                count(Bucket::LoginAccount, account),
                count(Bucket::LoginIp, NETWORK),
            )
        }

        fn verifications(&self) -> usize {
            self.hasher.verifications.load(Ordering::SeqCst)
        }

        async fn confirm(&self, password: &str) -> Result<(), ConfirmError> {
            self.attempts
                .confirm(&self.ada, Some(&secret(password)), &from_network())
                .await
        }
    }

    #[tokio::test]
    async fn an_attempt_is_counted_on_the_account_and_its_network_before_any_verification() {
        let h = harness();
        let _known = h
            .attempts
            .begin("ada@example.com", Some(h.ada.id), &from_network(), LOGIN)
            .await
            .unwrap();
        assert_eq!(h.counts("ada@example.com"), (1, 1));
        // An unknown account is counted like a known one.
        let _unknown = h
            .attempts
            .begin("nobody@example.com", None, &from_network(), LOGIN)
            .await
            .unwrap();
        assert_eq!(h.counts("nobody@example.com"), (1, 2));
        // A caller without an address is counted on the account alone.
        let _anonymous = h
            .attempts
            .begin("ada@example.com", Some(h.ada.id), &Caller::default(), LOGIN)
            .await
            .unwrap();
        assert_eq!(h.counts("ada@example.com"), (2, 2));
        assert_eq!(h.verifications(), 0);
        assert!(h.audit.kinds().is_empty());
    }

    #[tokio::test]
    async fn a_wrong_confirmation_stays_counted_and_is_audited() {
        let h = harness();
        assert!(matches!(
            h.confirm("wrong horse battery").await,
            Err(ConfirmError::Wrong)
        ));
        assert_eq!(h.verifications(), 1);
        assert_eq!(h.counts("ada@example.com"), (1, 1));
        let events = h.audit.0.lock().unwrap().clone();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, AuditKind::PasswordCheckFailed);
        assert_eq!(events[0].user_id, Some(h.ada.id));
        assert_eq!(events[0].caller, from_network());
    }

    #[tokio::test]
    async fn a_right_confirmation_gives_its_attempt_back_and_keeps_the_earlier_failures() {
        let h = harness();
        h.confirm("wrong horse battery").await.unwrap_err();
        h.confirm(PASSWORD).await.unwrap();
        // Not (2, 2): this attempt was given back; not (0, _): the failure stays counted.
        assert_eq!(h.counts("ada@example.com"), (1, 1));
        assert_eq!(h.verifications(), 2);
        assert_eq!(h.audit.kinds(), [AuditKind::PasswordCheckFailed]);
    }

    #[tokio::test]
    async fn a_completed_sign_in_forgets_the_accounts_failures_and_gives_the_network_back() {
        let h = harness();
        for _ in 0..2 {
            let attempt = h
                .attempts
                .begin("ada@example.com", Some(h.ada.id), &from_network(), LOGIN)
                .await
                .unwrap();
            h.attempts
                .failed(attempt, LOGIN, Some(h.ada.id), &from_network(), None)
                .await;
        }
        assert_eq!(h.counts("ada@example.com"), (2, 2));
        assert_eq!(
            h.audit.kinds(),
            [AuditKind::LoginFailed, AuditKind::LoginFailed]
        );

        let attempt = h
            .attempts
            .begin("ada@example.com", Some(h.ada.id), &from_network(), LOGIN)
            .await
            .unwrap();
        let verified = h
            .attempts
            .verify(
                &attempt,
                HashingTurn::none(),
                &secret(PASSWORD),
                &h.ada.password_hash,
            )
            .await
            .unwrap();
        assert!(matches!(verified, Verification::Match { .. }));
        h.attempts.succeeded(attempt).await.unwrap();
        // The account starts over; the network keeps the two failures, not this success.
        assert_eq!(h.counts("ada@example.com"), (0, 2));
    }

    #[tokio::test]
    async fn an_attempt_that_verified_nothing_is_given_back() {
        let h = harness_with(Some(Arc::new(OverloadedVerifier)), 5, 20);
        let refused = h.confirm(PASSWORD).await;
        assert!(matches!(
            refused,
            Err(ConfirmError::Hashing(HashingError::Overloaded { .. }))
        ));
        assert_eq!(h.counts("ada@example.com"), (0, 0));
        assert!(h.audit.kinds().is_empty());

        let attempt = h
            .attempts
            .begin("ada@example.com", Some(h.ada.id), &from_network(), LOGIN)
            .await
            .unwrap();
        assert_eq!(h.counts("ada@example.com"), (1, 1));
        h.attempts.abandoned(attempt).await;
        assert_eq!(h.counts("ada@example.com"), (0, 0));
    }

    #[tokio::test]
    async fn a_missing_password_is_refused_before_anything_is_counted() {
        let h = harness();
        let refused = h.attempts.confirm(&h.ada, None, &from_network()).await;
        assert!(matches!(refused, Err(ConfirmError::Missing)));
        assert!(h.counters.0.lock().unwrap().is_empty());
        assert_eq!(h.verifications(), 0);
        assert!(h.audit.kinds().is_empty());
    }

    #[tokio::test]
    async fn past_the_accounts_limit_even_the_right_password_is_refused_unverified() {
        let h = harness_with(None, 3, 20);
        for _ in 0..3 {
            assert!(matches!(
                h.confirm("wrong horse battery").await,
                Err(ConfirmError::Wrong)
            ));
        }
        let refused = h.confirm(PASSWORD).await;
        let Err(ConfirmError::Throttled { retry_after }) = refused else {
            panic!("expected a throttled refusal, got {refused:?}");
        };
        assert_eq!(retry_after, std::time::Duration::from_secs(15 * 60));
        assert_eq!(h.verifications(), 3);
        assert_eq!(
            h.audit.kinds().last(),
            Some(&AuditKind::PasswordCheckThrottled)
        );
        // A login on the same account shares the count, and is audited as a login.
        let login = h
            .attempts
            .begin("ada@example.com", Some(h.ada.id), &from_network(), LOGIN)
            .await;
        assert!(matches!(login, Err(ThrottleError::Limited { .. })));
        assert_eq!(h.audit.kinds().last(), Some(&AuditKind::LoginThrottled));
        assert_eq!(h.verifications(), 3);
    }

    #[tokio::test]
    async fn a_network_past_its_limit_is_refused_for_any_account_and_locks_none() {
        let h = harness_with(None, 5, 2);
        for _ in 0..2 {
            h.confirm("wrong horse battery").await.unwrap_err();
        }
        let bob = User::new(
            Email::parse("bob@example.com").unwrap(),
            None,
            Role::User,
            PasswordHash::new("v2:bobs own secret"),
            Utc::now(),
        );
        let refused = h
            .attempts
            .confirm(&bob, Some(&secret("bobs own secret")), &from_network())
            .await;
        assert!(matches!(refused, Err(ConfirmError::Throttled { .. })));
        assert_eq!(h.verifications(), 2);
        // Bob's account was not reached: nothing counted against it.
        assert_eq!(h.counts("bob@example.com").0, 0);
        // From another network Bob gets through.
        let elsewhere = Caller {
            ip: Some("198.51.100.7".into()),
            user_agent: None,
        };
        h.attempts
            .confirm(&bob, Some(&secret("bobs own secret")), &elsewhere)
            .await
            .unwrap();
    }
}
