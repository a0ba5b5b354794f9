//! Throttling by reservation in shared storage, so every instance sees the same counts:
//! password attempts per account and per client IP, registrations and reset requests per
//! IP, verification emails per user.
//!
//! An attempt is counted *before* the work it guards (a password verification, an email):
//! [`Throttle::reserve`] adds one to the subject's count and judges by the count it gets
//! back, in one atomic step of the storage. N concurrent attempts are therefore judged as
//! N, never as N times "the count before any of them". A success gives its reservation
//! back ([`Throttle::release`]) or forgets the subject's failures ([`Throttle::clear`]).

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;
use crate::error::RepositoryError;

/// What is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Password attempts for one normalized email, whether or not the account exists:
    /// logins and every check of a current password.
    LoginAccount,
    /// Password attempts from one client network (see [`ip_subject`]).
    LoginIp,
    /// Registrations from one client network.
    RegisterIp,
    /// Password-reset requests from one client network.
    ResetIp,
    /// Verification emails asked for by one user.
    VerifyEmail,
    /// Steps of upstream sign-ins (begun or come back) from one client network.
    UpstreamIp,
    /// Passkey sign-ins begun from one client network.
    PasskeyIp,
    /// Client secrets tried for one OAuth client (a right one gives its attempt back).
    ClientSecret,
    /// Client secrets tried from one client network (a right one gives its attempt back).
    ClientIp,
    /// Personal access tokens made by one user.
    PersonalTokenUser,
    /// User codes of the device grant entered from one client network (a right one gives
    /// its attempt back).
    DeviceCodeIp,
    /// Device sign-ins begun from one client network.
    DeviceStartIp,
}

impl Bucket {
    pub const ALL: [Bucket; 12] = [
        Bucket::LoginAccount,
        Bucket::LoginIp,
        Bucket::RegisterIp,
        Bucket::ResetIp,
        Bucket::VerifyEmail,
        Bucket::UpstreamIp,
        Bucket::PasskeyIp,
        Bucket::ClientSecret,
        Bucket::ClientIp,
        Bucket::PersonalTokenUser,
        Bucket::DeviceCodeIp,
        Bucket::DeviceStartIp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::LoginAccount => "login_account",
            Bucket::LoginIp => "login_ip",
            Bucket::RegisterIp => "register_ip",
            Bucket::ResetIp => "reset_ip",
            Bucket::VerifyEmail => "verify_email",
            Bucket::UpstreamIp => "upstream_ip",
            Bucket::PasskeyIp => "passkey_ip",
            Bucket::ClientSecret => "client_secret",
            Bucket::ClientIp => "client_ip",
            Bucket::PersonalTokenUser => "personal_token_user",
            Bucket::DeviceCodeIp => "device_code_ip",
            Bucket::DeviceStartIp => "device_start_ip",
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
    pub verify_email: Limit,
    pub upstream_ip: Limit,
    pub passkey_ip: Limit,
    pub client_secret: Limit,
    pub client_ip: Limit,
    pub personal_token_user: Limit,
    pub device_code_ip: Limit,
    pub device_start_ip: Limit,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        let quarter_hour = Duration::minutes(15);
        let hour = Duration::hours(1);
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
                window: hour,
            },
            reset_ip: Limit {
                max: 10,
                window: hour,
            },
            verify_email: Limit {
                max: 5,
                window: hour,
            },
            upstream_ip: Limit {
                max: 60,
                window: quarter_hour,
            },
            passkey_ip: Limit {
                max: 60,
                window: quarter_hour,
            },
            client_secret: Limit {
                max: 20,
                window: quarter_hour,
            },
            client_ip: Limit {
                max: 60,
                window: quarter_hour,
            },
            personal_token_user: Limit {
                max: 20,
                window: hour,
            },
            device_code_ip: Limit {
                max: 10,
                window: quarter_hour,
            },
            device_start_ip: Limit {
                max: 60,
                window: quarter_hour,
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
            Bucket::VerifyEmail => self.verify_email,
            Bucket::UpstreamIp => self.upstream_ip,
            Bucket::PasskeyIp => self.passkey_ip,
            Bucket::ClientSecret => self.client_secret,
            Bucket::ClientIp => self.client_ip,
            Bucket::PersonalTokenUser => self.personal_token_user,
            Bucket::DeviceCodeIp => self.device_code_ip,
            Bucket::DeviceStartIp => self.device_start_ip,
        }
    }

    fn longest_window(&self) -> Duration {
        [
            self.login_account,
            self.login_ip,
            self.register_ip,
            self.reset_ip,
            self.verify_email,
            self.upstream_ip,
            self.passkey_ip,
            self.client_secret,
            self.client_ip,
            self.personal_token_user,
            self.device_code_ip,
            self.device_start_ip,
        ]
        .iter()
        .map(|limit| limit.window)
        .max()
        .unwrap_or_default()
    }
}

/// A subject's count in its current window, as one reservation left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Events in the window, this reservation included.
    pub count: u64,
    /// When the window began; it ends `window` later and the count starts over.
    pub window_start: DateTime<Utc>,
}

/// Storage of per-subject counters.
#[async_trait::async_trait]
pub trait ThrottleRepository: Send + Sync {
    /// Adds one to the counter of `bucket` for `subject` and returns it, in one atomic
    /// statement: of N concurrent calls, each gets a different count. A counter whose window
    /// began at or before `now - window` starts over at `now` with count 1.
    /// Errors only when storage fails.
    async fn reserve(
        &self,
        bucket: Bucket,
        subject: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Count, RepositoryError>;

    /// [`ThrottleRepository::reserve`] for several counters, each `(bucket, subject,
    /// window)`, at once where storage allows (one statement for distinct buckets; a bucket
    /// named twice is counted in turn); the counts in the same order.
    async fn reserve_each(
        &self,
        counters: &[(Bucket, &str, Duration)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Count>, RepositoryError> {
        let mut counts = Vec::with_capacity(counters.len());
        for (bucket, subject, window) in counters {
            counts.push(self.reserve(*bucket, subject, now, *window).await?);
        }
        Ok(counts)
    }

    /// Takes one back from the counter, provided its window is still the one that began at
    /// `window_start` and it is above zero (a reservation that turned out not to count).
    async fn release(
        &self,
        bucket: Bucket,
        subject: &str,
        window_start: DateTime<Utc>,
    ) -> Result<(), RepositoryError>;

    /// [`ThrottleRepository::release`] of several counters, each `(bucket, subject,
    /// window_start)` of a distinct bucket, at once where storage allows.
    async fn release_each(
        &self,
        counters: &[(Bucket, &str, DateTime<Utc>)],
    ) -> Result<(), RepositoryError> {
        for (bucket, subject, window_start) in counters {
            self.release(*bucket, subject, *window_start).await?;
        }
        Ok(())
    }

    /// The counter of `bucket` for `subject` as it stands, without counting anything: its
    /// count if its window began after `now - window`, else 0. Errors only when storage
    /// fails.
    async fn peek(
        &self,
        bucket: Bucket,
        subject: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<u64, RepositoryError>;

    /// Forgets the counter of `bucket` for `subject`.
    async fn clear(&self, bucket: Bucket, subject: &str) -> Result<(), RepositoryError>;

    /// [`ThrottleRepository::clear`] of `clear` and [`ThrottleRepository::release`] of
    /// `release` `(bucket, subject, window_start)`, at once where storage allows.
    async fn clear_and_release(
        &self,
        clear: (Bucket, &str),
        release: (Bucket, &str, DateTime<Utc>),
    ) -> Result<(), RepositoryError> {
        self.clear(clear.0, clear.1).await?;
        self.release(release.0, release.1, release.2).await
    }

    /// Deletes counters whose window began before `before`; returns how many.
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

/// `From<ThrottleError>` for a use-case error with `Throttled { retry_after }` and
/// `Repository` variants: a refusal becomes `Throttled`, a storage failure `Repository`.
macro_rules! throttled_error {
    ($error:ident) => {
        impl From<$crate::throttle::ThrottleError> for $error {
            fn from(error: $crate::throttle::ThrottleError) -> Self {
                match error {
                    $crate::throttle::ThrottleError::Limited { retry_after } => {
                        Self::Throttled { retry_after }
                    }
                    $crate::throttle::ThrottleError::Repository(error) => Self::Repository(error),
                }
            }
        }
    };
}
pub(crate) use throttled_error;

/// Longest subject kept; longer ones are cut (an account subject is an email of at most
/// 254 characters, anything longer is not an account).
const SUBJECT_MAX_CHARS: usize = 254;

/// Subjects as stored: control characters (which some databases refuse, NUL above all)
/// replaced, and cut to the column's size.
fn subject(raw: &str) -> String {
    raw.chars()
        .take(SUBJECT_MAX_CHARS)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// The subject that counts a client address: an IPv4 address as itself (also when it
/// arrives IPv4-mapped, `::ffff:a.b.c.d`), an IPv6 address by its /64, since one IPv6 client
/// commonly holds a whole /64. Anything else is taken as given.
pub fn ip_subject(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => {
            let segments = v6.segments();
            let prefix = std::net::Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            );
            format!("{prefix}/64")
        }
        Err(_) => ip.to_owned(),
    }
}

/// Storage answered a reservation of several counters with fewer counts.
#[derive(Debug, thiserror::Error)]
#[error("the throttle returned fewer counts than counters reserved")]
struct CountsMissing;

/// One counted event that may still be given back.
#[derive(Debug, Clone)]
#[must_use = "a reservation is released or kept explicitly"]
pub struct Reservation {
    bucket: Bucket,
    subject: String,
    window_start: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Throttle {
    counters: Arc<dyn ThrottleRepository>,
    clock: Arc<dyn Clock>,
    policy: ThrottlePolicy,
    meter: Arc<dyn crate::meter::Meter>,
}

impl Throttle {
    pub fn new(
        counters: Arc<dyn ThrottleRepository>,
        clock: Arc<dyn Clock>,
        policy: ThrottlePolicy,
    ) -> Self {
        Self {
            counters,
            clock,
            policy,
            meter: Arc::new(crate::meter::NoMeter),
        }
    }

    /// Counts every refusal, by bucket, on `meter`.
    pub fn with_meter(mut self, meter: Arc<dyn crate::meter::Meter>) -> Self {
        self.meter = meter;
        self
    }

    /// Counts one event of `bucket` for `raw_subject` and judges by the count that gives:
    /// [`ThrottleError::Limited`] when it is past the limit (the refused event stays
    /// counted, in the same window, so a flood does not extend the wait).
    pub async fn reserve(
        &self,
        bucket: Bucket,
        raw_subject: &str,
    ) -> Result<Reservation, ThrottleError> {
        let limit = self.policy.limit(bucket);
        // As stored, so the window start reads back equal for `release`.
        let now = self.clock.now_stored();
        let subject = subject(raw_subject);
        let count = self
            .counters
            .reserve(bucket, &subject, now, limit.window)
            .await?;
        let (reservation, verdict) = self.judge(bucket, subject, count, now);
        verdict.map(|()| reservation)
    }

    /// [`Throttle::reserve`] of one event in each of two buckets, counted at once (one
    /// statement on storage that allows it), as if `first` were reserved before `second`:
    /// when `first` is refused, `second` is given back (as if never reached); when only
    /// `second` is refused, `first` is given back (the event did not happen).
    pub async fn reserve_pair(
        &self,
        first: (Bucket, &str),
        second: (Bucket, &str),
    ) -> Result<(Reservation, Reservation), ThrottleError> {
        let now = self.clock.now_stored();
        let (first_subject, second_subject) = (subject(first.1), subject(second.1));
        let first_window = self.policy.limit(first.0).window;
        let second_window = self.policy.limit(second.0).window;
        let counts = self
            .counters
            .reserve_each(
                &[
                    (first.0, &first_subject, first_window),
                    (second.0, &second_subject, second_window),
                ],
                now,
            )
            .await?;
        let [first_count, second_count] = counts[..] else {
            return Err(RepositoryError::new(CountsMissing).into());
        };
        let (first, first_verdict) = self.judge(first.0, first_subject, first_count, now);
        let (second, second_verdict) = self.judge(second.0, second_subject, second_count, now);
        match (first_verdict, second_verdict) {
            (Ok(()), Ok(())) => Ok((first, second)),
            (Err(refused), _) => {
                self.release(second).await?;
                Err(refused)
            }
            (Ok(()), Err(refused)) => {
                self.release(first).await?;
                Err(refused)
            }
        }
    }

    /// The reservation `count` stands for, and whether it is within the bucket's limit.
    fn judge(
        &self,
        bucket: Bucket,
        subject: String,
        Count {
            count,
            window_start,
        }: Count,
        now: DateTime<Utc>,
    ) -> (Reservation, Result<(), ThrottleError>) {
        let limit = self.policy.limit(bucket);
        let reservation = Reservation {
            bucket,
            subject,
            window_start,
        };
        if count <= u64::from(limit.max) {
            return (reservation, Ok(()));
        }
        let retry_after = (window_start + limit.window - now)
            .to_std()
            .unwrap_or_default()
            .max(std::time::Duration::from_secs(1));
        tracing::warn!(
            event = "throttled",
            bucket = bucket.as_str(),
            "request throttled"
        );
        self.meter.throttled(bucket.as_str());
        (reservation, Err(ThrottleError::Limited { retry_after }))
    }

    /// Gives a reservation back: the event it counted turned out not to count.
    pub async fn release(&self, reservation: Reservation) -> Result<(), RepositoryError> {
        self.counters
            .release(
                reservation.bucket,
                &reservation.subject,
                reservation.window_start,
            )
            .await
    }

    /// Whether an event of each `(bucket, subject)` would be refused now, without counting
    /// it: the wait the first full one announces. For a caller that already knows the
    /// event is no attempt worth counting (a secret it has seen accepted), yet must still
    /// be held back while its subjects are throttled.
    pub async fn held_back(
        &self,
        counters: &[(Bucket, &str)],
    ) -> Result<Option<std::time::Duration>, RepositoryError> {
        let now = self.clock.now_stored();
        for (bucket, raw_subject) in counters {
            let limit = self.policy.limit(*bucket);
            let count = self
                .counters
                .peek(*bucket, &subject(raw_subject), now, limit.window)
                .await?;
            if count >= u64::from(limit.max) {
                // The window's start is not read back: wait a whole window.
                return Ok(Some(limit.window.to_std().unwrap_or_default()));
            }
        }
        Ok(None)
    }

    /// Gives reservations back at once where storage allows (one statement for
    /// reservations of distinct buckets, as [`Throttle::reserve_pair`] makes).
    pub async fn release_all(&self, reservations: &[Reservation]) -> Result<(), RepositoryError> {
        let counters: Vec<(Bucket, &str, DateTime<Utc>)> = reservations
            .iter()
            .map(|r| (r.bucket, r.subject.as_str(), r.window_start))
            .collect();
        self.counters.release_each(&counters).await
    }

    /// Forgets every event counted for the reservation's subject (a success that resets).
    pub async fn clear(&self, reservation: Reservation) -> Result<(), RepositoryError> {
        self.counters
            .clear(reservation.bucket, &reservation.subject)
            .await
    }

    /// [`Throttle::clear`] of `clear` and [`Throttle::release`] of `release`, at once where
    /// storage allows.
    pub async fn clear_and_release(
        &self,
        clear: Reservation,
        release: Reservation,
    ) -> Result<(), RepositoryError> {
        self.counters
            .clear_and_release(
                (clear.bucket, &clear.subject),
                (release.bucket, &release.subject, release.window_start),
            )
            .await
    }

    /// Counts one event for good (requests limited by their number, not their failures).
    pub async fn admit(&self, bucket: Bucket, raw_subject: &str) -> Result<(), ThrottleError> {
        self.reserve(bucket, raw_subject).await.map(drop)
    }

    /// Deletes counters whose window ended long ago.
    pub async fn purge(&self) -> Result<u64, RepositoryError> {
        self.counters
            .purge(self.clock.now() - self.policy.longest_window())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::InMemoryCounters;

    struct FixedClock(DateTime<Utc>);

    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    fn throttle() -> Throttle {
        Throttle::new(
            Arc::new(InMemoryCounters::default()),
            Arc::new(FixedClock(Utc::now())),
            ThrottlePolicy::default(),
        )
    }

    #[tokio::test]
    async fn reservations_past_the_limit_are_refused_and_releases_give_room_back() {
        let throttle = throttle();
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(
                throttle
                    .reserve(Bucket::LoginAccount, "a@b.c")
                    .await
                    .unwrap(),
            );
        }
        let refused = throttle.reserve(Bucket::LoginAccount, "a@b.c").await;
        assert!(
            matches!(refused, Err(ThrottleError::Limited { retry_after })
            if retry_after.as_secs() == 15 * 60)
        );
        // Each released reservation makes room for one more, and no more.
        throttle.release(held.pop().unwrap()).await.unwrap();
        throttle.release(held.pop().unwrap()).await.unwrap();
        // The refused attempt above still counts: 3 held + 1 refused = 4.
        let _ = throttle
            .reserve(Bucket::LoginAccount, "a@b.c")
            .await
            .unwrap();
        assert!(
            throttle
                .reserve(Bucket::LoginAccount, "a@b.c")
                .await
                .is_err()
        );
        // Other subjects and buckets are untouched.
        let _ = throttle.reserve(Bucket::LoginIp, "a@b.c").await.unwrap();
        let _ = throttle
            .reserve(Bucket::LoginAccount, "x@b.c")
            .await
            .unwrap();
        throttle.clear(held.pop().unwrap()).await.unwrap();
        let _ = throttle
            .reserve(Bucket::LoginAccount, "a@b.c")
            .await
            .unwrap();
    }

    /// A throttle allowing `ip` attempts per network and `account` per account, and its
    /// counters.
    fn login_throttle(ip: u32, account: u32) -> (Throttle, Arc<InMemoryCounters>) {
        let counters = Arc::new(InMemoryCounters::default());
        let window = Duration::minutes(15);
        let policy = ThrottlePolicy {
            login_ip: Limit { max: ip, window },
            login_account: Limit {
                max: account,
                window,
            },
            ..ThrottlePolicy::default()
        };
        let clock = Arc::new(FixedClock(Utc::now()));
        (Throttle::new(counters.clone(), clock, policy), counters)
    }

    /// Reserves one login attempt from 203.0.113.9 on a@b.c, the network first.
    async fn login_pair(throttle: &Throttle) -> Result<(Reservation, Reservation), ThrottleError> {
        throttle
            .reserve_pair(
                (Bucket::LoginIp, "203.0.113.9"),
                (Bucket::LoginAccount, "a@b.c"),
            )
            .await
    }

    /// The counts of the network and of the account, read without counting.
    fn login_counts(counters: &InMemoryCounters) -> (u64, u64) {
        let map = counters.0.lock().unwrap();
        let count = |bucket, subject: &str| {
            map.get(&(bucket, subject.to_owned()))
                .map_or(0, |count| count.count)
        };
        (
            count(Bucket::LoginIp, "203.0.113.9"),
            count(Bucket::LoginAccount, "a@b.c"),
        )
    }

    #[tokio::test]
    async fn a_locked_account_gives_the_networks_reservation_back() {
        let (throttle, counters) = login_throttle(10, 2);
        let _first = login_pair(&throttle).await.unwrap();
        let (ip, account) = login_pair(&throttle).await.unwrap();
        assert_eq!(login_counts(&counters), (2, 2));
        assert!(matches!(
            login_pair(&throttle).await,
            Err(ThrottleError::Limited { .. })
        ));
        // The refused attempt counts on the account only.
        assert_eq!(login_counts(&counters), (2, 3));
        // A success forgets the account and gives the network's reservation back.
        throttle.clear_and_release(account, ip).await.unwrap();
        assert_eq!(login_counts(&counters), (1, 0));
    }

    #[tokio::test]
    async fn a_network_over_its_limit_leaves_the_account_as_it_was() {
        let (throttle, counters) = login_throttle(1, 10);
        let _first = login_pair(&throttle).await.unwrap();
        assert!(matches!(
            login_pair(&throttle).await,
            Err(ThrottleError::Limited { .. })
        ));
        assert_eq!(login_counts(&counters), (2, 1));
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(ip_subject("203.0.113.9"), "203.0.113.9");
        assert_eq!(ip_subject("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(
            ip_subject("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            ip_subject("2001:db8:1:2::1"),
            ip_subject("2001:db8:1:2:ffff::9")
        );
        assert_ne!(ip_subject("2001:db8:1:2::1"), ip_subject("2001:db8:1:3::1"));
    }

    #[test]
    fn subjects_never_carry_control_characters_or_exceed_the_column() {
        assert_eq!(subject("a\u{0}b"), "a\u{fffd}b");
        assert_eq!(
            subject(&"x".repeat(10_000)).chars().count(),
            SUBJECT_MAX_CHARS
        );
    }
}
