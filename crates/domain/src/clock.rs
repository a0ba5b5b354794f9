//! The clock port, so that expiry logic can be tested without sleeping.

use chrono::{DateTime, Utc};

/// Tells the current time. Implementations must be cheap and never fail.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
