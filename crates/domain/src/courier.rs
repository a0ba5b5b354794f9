//! The courier: delivers queued emails with retries. Each pass holds the emails that are
//! due (one worker at a time per email, across instances), opens each, makes a reset
//! request's message ([`RecoveryService::prepare`]), hands it to the transport, and
//! deletes it once delivered; a failed try is due again after an exponential backoff,
//! and after the last allowed try the email is dead until an admin retries it. Delivery is
//! at least once: a worker that stops between the transport's acceptance and the delete
//! leaves the email to be sent again when its hold runs out.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;
use crate::error::RepositoryError;
use crate::mail::{
    ClaimId, ClaimedMail, MailId, MailQueue, MailSealer, MailStatus, Mailer, QueuedMail,
};
use crate::meter::{MailOutcome, Meter};
use crate::pagination::{Page, Paged};
use crate::recovery::RecoveryService;

/// How the courier tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CourierPolicy {
    /// Tries before an email is dead.
    pub max_attempts: u32,
    /// The wait after the first failed try; it doubles after each further one...
    pub first_backoff: Duration,
    /// ...up to this.
    pub longest_backoff: Duration,
    /// How long a worker holds an email it is trying: past it, another worker may try it.
    pub hold: Duration,
    /// Emails held per pass.
    pub batch: u64,
}

impl Default for CourierPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            first_backoff: Duration::seconds(5),
            longest_backoff: Duration::hours(1),
            hold: Duration::seconds(60),
            batch: 32,
        }
    }
}

impl CourierPolicy {
    /// When an email that has now failed `attempts` times is due again; `None` once it
    /// has had its tries.
    pub fn retry_at(&self, attempts: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let wait = self
            .first_backoff
            .checked_mul(1 << doublings)
            .map_or(self.longest_backoff, |wait| wait.min(self.longest_backoff));
        Some(now + wait)
    }
}

pub struct CourierPorts {
    pub queue: Arc<dyn MailQueue>,
    pub sealer: Arc<dyn MailSealer>,
    pub mailer: Arc<dyn Mailer>,
    pub recovery: RecoveryService,
    pub clock: Arc<dyn Clock>,
    pub meter: Arc<dyn Meter>,
}

#[derive(Clone)]
pub struct Courier {
    queue: Arc<dyn MailQueue>,
    sealer: Arc<dyn MailSealer>,
    mailer: Arc<dyn Mailer>,
    recovery: RecoveryService,
    clock: Arc<dyn Clock>,
    meter: Arc<dyn Meter>,
    policy: CourierPolicy,
}

impl Courier {
    pub fn new(ports: CourierPorts, policy: CourierPolicy) -> Self {
        Self {
            queue: ports.queue,
            sealer: ports.sealer,
            mailer: ports.mailer,
            recovery: ports.recovery,
            clock: ports.clock,
            meter: ports.meter,
            policy,
        }
    }

    /// One pass: tries every email due now that no other worker holds, up to a batch.
    /// Returns how many it held (a full batch: there may be more).
    #[tracing::instrument(skip_all)]
    pub async fn deliver_due(&self) -> Result<usize, RepositoryError> {
        let now = self.clock.now_stored();
        let held = self
            .queue
            .claim(
                ClaimId::generate(),
                now,
                now + self.policy.hold,
                self.policy.batch,
            )
            .await?;
        let count = held.len();
        for mail in held {
            self.deliver(&mail).await?;
        }
        Ok(count)
    }

    /// Queued emails, of one status or all, oldest first (what admins see: never contents).
    pub async fn list(
        &self,
        status: Option<MailStatus>,
        page: Page,
    ) -> Result<Paged<QueuedMail>, RepositoryError> {
        self.queue.list(status, page).await
    }

    /// Makes a dead email pending again, due now with its tries counted afresh; `false`
    /// when no dead email has this id.
    pub async fn retry(&self, id: MailId) -> Result<bool, RepositoryError> {
        self.queue.retry(id, self.clock.now_stored()).await
    }

    /// Makes every dead email pending again; returns how many.
    pub async fn retry_dead(&self) -> Result<u64, RepositoryError> {
        self.queue.retry_dead(self.clock.now_stored()).await
    }

    /// Whether a pass may have left due emails behind (it held a full batch).
    pub fn batch_full(&self, held: usize) -> bool {
        held as u64 >= self.policy.batch
    }

    async fn deliver(&self, mail: &ClaimedMail) -> Result<(), RepositoryError> {
        let content = match self.sealer.open(mail.id, &mail.sealed) {
            Ok(content) => content,
            // Sealed under a key this instance lacks (instances with different keys: another
            // may open it), or altered: a failed try like any other, logged as an error.
            Err(error) => {
                tracing::error!(mail_id = %mail.id.as_uuid(), %error, "a queued email does not open here");
                return self.failed(mail, &error.to_string()).await;
            }
        };
        let Some(message) = self.recovery.prepare(mail, content).await? else {
            return self.queue.delivered(mail).await;
        };
        match self.mailer.send(&message).await {
            Ok(()) => {
                self.meter.mail(MailOutcome::Sent);
                tracing::info!(mail_id = %mail.id.as_uuid(), kind = mail.kind.as_str(), "email delivered");
                self.queue.delivered(mail).await
            }
            Err(error) => self.failed(mail, &error.0).await,
        }
    }

    /// A failed try: due again after the backoff, or dead after the last one.
    async fn failed(&self, mail: &ClaimedMail, error: &str) -> Result<(), RepositoryError> {
        let attempts = mail.attempts + 1;
        let retry_at = self.policy.retry_at(attempts, self.clock.now_stored());
        match retry_at {
            Some(at) => {
                self.meter.mail(MailOutcome::Retried);
                tracing::warn!(mail_id = %mail.id.as_uuid(), kind = mail.kind.as_str(), attempts, %error, retry_at = %at, "email not delivered; will retry");
            }
            None => {
                self.meter.mail(MailOutcome::Dead);
                tracing::error!(mail_id = %mail.id.as_uuid(), kind = mail.kind.as_str(), attempts, %error, "email not delivered after its last try: dead");
            }
        }
        self.queue.failed(mail, error, retry_at).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_longest_and_the_last_try_is_the_last() {
        let policy = CourierPolicy {
            max_attempts: 5,
            first_backoff: Duration::seconds(5),
            longest_backoff: Duration::seconds(30),
            ..CourierPolicy::default()
        };
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let waits: Vec<_> = (1..=5)
            .map(|attempts| {
                policy
                    .retry_at(attempts, now)
                    .map(|at| (at - now).num_seconds())
            })
            .collect();
        assert_eq!(waits, [Some(5), Some(10), Some(20), Some(30), None]);
    }
}
