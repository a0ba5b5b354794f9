//! The courier's worker: on every instance, a task that delivers queued emails
//! ([`Courier::deliver_due`]) when one is queued here (woken by [`WakingQueue`]) and every
//! `mail.poll_interval_ms` otherwise (emails queued by other instances or commands, and
//! tries that are due again).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::RepositoryError;
use gatehouse_domain::courier::Courier;
use gatehouse_domain::mail::{
    ActionToken, ClaimId, ClaimedMail, MailId, MailQueue, MailStatus, QueuedMail, SealedMail,
};
use gatehouse_domain::{Page, Paged, UserId};
use tokio::sync::Notify;

/// A mail queue that wakes this instance's worker when an email is queued or retried.
pub struct WakingQueue {
    inner: Arc<dyn MailQueue>,
    wake: Arc<Notify>,
}

impl WakingQueue {
    pub fn new(inner: Arc<dyn MailQueue>, wake: Arc<Notify>) -> Self {
        Self { inner, wake }
    }
}

#[async_trait]
impl MailQueue for WakingQueue {
    async fn enqueue(
        &self,
        mail: &QueuedMail,
        token: Option<&ActionToken>,
    ) -> Result<(), RepositoryError> {
        self.inner.enqueue(mail, token).await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn claim(
        &self,
        claim: ClaimId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ClaimedMail>, RepositoryError> {
        self.inner.claim(claim, now, until, limit).await
    }

    async fn prepare(
        &self,
        mail: &ClaimedMail,
        user: UserId,
        sealed: &SealedMail,
        token: &ActionToken,
    ) -> Result<bool, RepositoryError> {
        self.inner.prepare(mail, user, sealed, token).await
    }

    async fn delivered(&self, mail: &ClaimedMail) -> Result<(), RepositoryError> {
        self.inner.delivered(mail).await
    }

    async fn failed(
        &self,
        mail: &ClaimedMail,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepositoryError> {
        self.inner.failed(mail, error, retry_at).await
    }

    async fn list(
        &self,
        status: Option<MailStatus>,
        page: Page,
    ) -> Result<Paged<QueuedMail>, RepositoryError> {
        self.inner.list(status, page).await
    }

    async fn retry(&self, id: MailId, now: DateTime<Utc>) -> Result<bool, RepositoryError> {
        let retried = self.inner.retry(id, now).await?;
        self.wake.notify_one();
        Ok(retried)
    }

    async fn retry_dead(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let retried = self.inner.retry_dead(now).await?;
        self.wake.notify_one();
        Ok(retried)
    }
}

/// Runs the courier until the runtime ends: a pass when woken or every `every`, and passes
/// back to back while they find full batches. A pass that fails (the database down) is
/// logged and tried again at the next tick.
pub fn spawn(courier: Courier, wake: Arc<Notify>, every: std::time::Duration) {
    tokio::spawn(async move {
        loop {
            match courier.deliver_due().await {
                Ok(held) if courier.batch_full(held) => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the mail queue could not be read"),
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    });
}
