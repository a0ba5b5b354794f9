//! Throttling by counted events in shared storage, so every instance sees the same counts:
//! failed logins per account and per client IP, registrations and reset requests per IP.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;
use crate::error::RepositoryError;

/// What is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Failed logins for one normalized email, whether or not the account exists.
    LoginAccount,
    /// Failed logins from one client IP.
    LoginIp,
    /// Registrations from one client IP.
    RegisterIp,
    /// Password-reset requests from one client IP.
    ResetIp,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::LoginAccount => "login_account",
            Bucket::LoginIp => "login_ip",
            Bucket::RegisterIp => "register_ip",
            Bucket::ResetIp => "reset_ip",
        }
    }
}

/// At most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub login_account: Limit,
    pub login_ip: Limit,
    pub register_ip: Limit,
    pub reset_ip: Limit,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        let quarter_hour = Duration::minutes(15);
        Self {
            login_account: Limit {
                max: 5,
                window: quarter_hour,
            },
            login_ip: Limit {
                max: 20,
                window: quarter_hour,
            },
            register_ip: Limit {
                max: 20,
                window: Duration::hours(1),
            },
            reset_ip: Limit {
                max: 10,
                window: Duration::hours(1),
            },
        }
    }
}

impl ThrottlePolicy {
    pub fn limit(&self, bucket: Bucket) -> Limit {
        match bucket {
            Bucket::LoginAccount => self.login_account,
            Bucket::LoginIp => self.login_ip,
            Bucket::RegisterIp => self.register_ip,
            Bucket::ResetIp => self.reset_ip,
        }
    }

    fn longest_window(&self) -> Duration {
        [
            self.login_account,
            self.login_ip,
            self.register_ip,
            self.reset_ip,
        ]
        .iter()
        .map(|limit| limit.window)
        .max()
        .unwrap_or_default()
    }
}

/// Storage of counted events.
#[async_trait::async_trait]
pub trait ThrottleRepository: Send + Sync {
    /// How many events of `bucket` for `subject` happened at or after `since`, and when the
    /// oldest of them happened.
    async fn recent(
        &self,
        bucket: Bucket,
        subject: &str,
        since: DateTime<Utc>,
    ) -> Result<(u64, Option<DateTime<Utc>>), RepositoryError>;

    async fn record(
        &self,
        bucket: Bucket,
        subject: &str,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError>;

    /// Forgets every event of `bucket` for `subject`.
    async fn clear(&self, bucket: Bucket, subject: &str) -> Result<(), RepositoryError>;

    /// Deletes events older than `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// Too many events: wait `retry_after`.
    #[error("too many attempts")]
    Limited { retry_after: std::time::Duration },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Subjects are stored as given, cut to the column's size.
fn subject(raw: &str) -> String {
    raw.chars().take(254).collect()
}

#[derive(Clone)]
pub struct Throttle {
    events: Arc<dyn ThrottleRepository>,
    clock: Arc<dyn Clock>,
    policy: ThrottlePolicy,
}

impl Throttle {
    pub fn new(
        events: Arc<dyn ThrottleRepository>,
        clock: Arc<dyn Clock>,
        policy: ThrottlePolicy,
    ) -> Self {
        Self {
            events,
            clock,
            policy,
        }
    }

    /// Fails with [`ThrottleError::Limited`] when `subject` used up its `bucket`.
    pub async fn check(&self, bucket: Bucket, raw_subject: &str) -> Result<(), ThrottleError> {
        let limit = self.policy.limit(bucket);
        let now = self.clock.now();
        let (count, oldest) = self
            .events
            .recent(bucket, &subject(raw_subject), now - limit.window)
            .await?;
        if count < u64::from(limit.max) {
            return Ok(());
        }
        let free_at = oldest.unwrap_or(now) + limit.window;
        let retry_after = (free_at - now)
            .to_std()
            .unwrap_or_default()
            .max(std::time::Duration::from_secs(1));
        tracing::warn!(
            event = "throttled",
            bucket = bucket.as_str(),
            "request throttled"
        );
        Err(ThrottleError::Limited { retry_after })
    }

    /// Counts one event.
    pub async fn hit(&self, bucket: Bucket, raw_subject: &str) -> Result<(), RepositoryError> {
        self.events
            .record(bucket, &subject(raw_subject), self.clock.now())
            .await
    }

    /// Checks, then counts (for requests limited by their number, not their failures).
    pub async fn admit(&self, bucket: Bucket, raw_subject: &str) -> Result<(), ThrottleError> {
        self.check(bucket, raw_subject).await?;
        Ok(self.hit(bucket, raw_subject).await?)
    }

    pub async fn clear(&self, bucket: Bucket, raw_subject: &str) -> Result<(), RepositoryError> {
        self.events.clear(bucket, &subject(raw_subject)).await
    }

    /// Deletes events older than the longest window.
    pub async fn purge(&self) -> Result<u64, RepositoryError> {
        self.events
            .purge(self.clock.now() - self.policy.longest_window())
            .await
    }
}
