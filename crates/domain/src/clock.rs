//! The clock port, so that expiry logic can be tested without sleeping.

use chrono::{DateTime, SubsecRound, Utc};

/// Tells the current time. Implementations must be cheap and never fail.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// [`Clock::now`] at the precision storage keeps ([`stored`]).
    fn now_stored(&self) -> DateTime<Utc> {
        stored(self.now())
    }
}

// How precisely gatehouse keeps instants, decided here once.

/// An instant as storage keeps it: microseconds, PostgreSQL's precision (SQLite keeps what it
/// is given), so an entity reads back equal to what was written and compare-and-swap on a
/// timestamp works.
pub fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// An instant as access tokens record their issue time: milliseconds (a UUIDv7 `jti`
/// carries them; `iat` has whole seconds). `User::password_changed_at` is kept at this
/// precision too, so a token issued just before a password change is told from one issued
/// just after.
pub fn token_time(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(3)
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
