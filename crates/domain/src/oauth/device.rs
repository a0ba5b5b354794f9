//! The device authorization grant (RFC 8628): a device without a browser (a TV, a CLI on a
//! server) gets a device code to poll with and a short user code that its person enters on
//! gatehouse's page, signed in, to approve or deny it.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::client::ClientId;
use crate::error::RepositoryError;
use crate::ports::TokenDigest;
use crate::scope::ScopeSet;
use crate::session::Amr;
use crate::user::UserId;

crate::id::uuid_id!(
    /// A device authorization's identifier.
    DeviceAuthorizationId
);

/// The letters of user codes: consonants only (RFC 8628 §6.1), so that no word is spelt
/// and none is mistaken for another (no vowels, so neither `0`/`O` nor `1`/`I`).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Letters in a user code: 20^8, about 2^34.6 codes, entered as `XXXX-XXXX`.
pub const USER_CODE_LETTERS: usize = 8;

/// By default, how long a device code (and its user code) lives, and the least time
/// between two polls (`device.code_lifetime_secs`, `device.interval_secs`).
pub const DEFAULT_LIFETIME: Duration = Duration::minutes(10);
pub const DEFAULT_INTERVAL: Duration = Duration::seconds(5);

/// What a poll too soon adds to the interval, for it and every later poll (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a user code is {USER_CODE_LETTERS} letters, such as BCDF-GHJK")]
pub struct UserCodeError;

/// A user code, held as its letters in upper case, without dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserCode(String);

impl UserCode {
    /// A code as a person typed it: any case, with or without dashes and spaces.
    pub fn parse(raw: &str) -> Result<Self, UserCodeError> {
        if raw.len() > 4 * USER_CODE_LETTERS {
            return Err(UserCodeError);
        }
        let letters: String = raw
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let known = letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        if letters.len() != USER_CODE_LETTERS || !known {
            return Err(UserCodeError);
        }
        Ok(Self(letters))
    }

    /// A new code from random 6-bit values (0 to 63), each taken when below 60, the
    /// largest multiple of the alphabet's size, so that every letter is as likely; `None`
    /// when they run out first.
    pub fn from_random(values: impl IntoIterator<Item = u8>) -> Option<Self> {
        let size = USER_CODE_ALPHABET.len();
        let letters: String = values
            .into_iter()
            .filter(|v| usize::from(*v) < 64 / size * size)
            .map(|v| USER_CODE_ALPHABET[usize::from(v) % size] as char)
            .take(USER_CODE_LETTERS)
            .collect();
        (letters.len() == USER_CODE_LETTERS).then_some(Self(letters))
    }

    /// A new code from the randomness of `source`'s tokens: each of their characters
    /// carries 6 random bits.
    pub fn generate(source: &dyn crate::ports::OpaqueTokens) -> Self {
        use secrecy::ExposeSecret;
        let value = |c: u8| match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'-' => Some(62),
            b'_' => Some(63),
            _ => None,
        };
        loop {
            let token = source.generate();
            if let Some(code) = Self::from_random(token.expose_secret().bytes().filter_map(value)) {
                return code;
            }
        }
    }

    /// As stored and looked up: the letters alone.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As people read and type it: `BCDF-GHJK`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for its person.
    Pending,
    /// Approved by `user`, signed in on a browser by `amr` at `auth_time`, under the
    /// account's credential version then.
    Approved(Approval),
    Denied,
    /// Its tokens were issued: the device code is spent.
    Used,
}

/// Who approved a device, and how they had signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub user_id: UserId,
    pub amr: Amr,
    pub auth_time: DateTime<Utc>,
    pub credential_version: i64,
    /// The scopes granted: those asked for that the person's role holds.
    pub scopes: ScopeSet,
}

/// A device's request, from its start to its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub id: DeviceAuthorizationId,
    pub client_id: ClientId,
    pub user_code: UserCode,
    /// The scopes the device asked for (none: what the person holds).
    pub scopes: Option<ScopeSet>,
    pub status: DeviceStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The least time between two polls now, in seconds.
    pub interval_secs: i64,
    pub last_polled_at: Option<DateTime<Utc>>,
}

impl DeviceAuthorization {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// Whether a poll at `now` comes before the interval since the last one has passed.
    pub fn polled_too_soon(&self, now: DateTime<Utc>) -> bool {
        self.last_polled_at
            .is_some_and(|last| now - last < Duration::seconds(self.interval_secs))
    }
}

/// Why a device authorization could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertDeviceError {
    /// Another stored authorization has this user code.
    #[error("the user code is taken")]
    UserCodeTaken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Storage of device authorizations: the device code by its digest only. Errors only when
/// storage fails, unless said otherwise.
#[async_trait]
pub trait DeviceAuthorizationRepository: Send + Sync {
    /// Stores a new authorization; [`InsertDeviceError::UserCodeTaken`] when its user code
    /// is another's (decided by the store, so two racing inserts of one code store one).
    async fn insert(
        &self,
        device_code: &TokenDigest,
        authorization: &DeviceAuthorization,
    ) -> Result<(), InsertDeviceError>;

    /// The authorization whose device code has this digest.
    async fn find_by_device_code(
        &self,
        device_code: &TokenDigest,
    ) -> Result<Option<DeviceAuthorization>, RepositoryError>;

    /// The authorization with this user code.
    async fn find_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceAuthorization>, RepositoryError>;

    /// Records a poll at `now` with the interval `interval_secs`, provided the last poll
    /// recorded is still `last` (a compare-and-swap: of racing polls, one records). Returns
    /// whether this one did.
    async fn record_poll(
        &self,
        id: DeviceAuthorizationId,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        interval_secs: i64,
    ) -> Result<bool, RepositoryError>;

    /// Approves (`Some`) or denies (`None`) a pending authorization that has not expired at
    /// `now`; returns whether it was (of racing decisions, one is).
    async fn decide(
        &self,
        id: DeviceAuthorizationId,
        approval: Option<&Approval>,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Marks an approved authorization used; returns whether this call did (of racing
    /// polls, one does).
    async fn consume(&self, id: DeviceAuthorizationId) -> Result<bool, RepositoryError>;

    /// Deletes authorizations that expired before `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_read_in_any_case_with_or_without_dashes() {
        let code = UserCode::parse("bcdf-ghjk").unwrap();
        assert_eq!(code.as_str(), "BCDFGHJK");
        assert_eq!(code.display(), "BCDF-GHJK");
        assert_eq!(UserCode::parse("BCDF GHJK").unwrap(), code);
        assert_eq!(UserCode::parse("BCDFGHJK").unwrap(), code);
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "BCDF-GHJA",
            "BCDF-GHJ0",
            "ＢCDF-GHJK",
        ] {
            assert_eq!(UserCode::parse(bad), Err(UserCodeError), "{bad:?}");
        }
        assert!(UserCode::parse(&"-".repeat(1000)).is_err());
    }

    #[test]
    fn random_user_codes_use_every_letter_alike() {
        // Values at or past 60 (3 × 20) are skipped, the rest wrap onto the alphabet.
        let code = UserCode::from_random([0, 63, 19, 20, 59, 60, 1, 2, 3, 4]).unwrap();
        assert_eq!(code.as_str(), "BZBZCDFG");
        assert_eq!(UserCode::from_random([61; 100]), None);
    }
}
