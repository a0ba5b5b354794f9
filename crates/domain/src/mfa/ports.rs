//! What MFA needs from the outside world: storage of authenticators, recovery codes and
//! sign-in challenges, and the TOTP computation with the encryption of its secrets. Each
//! method's doc states its error contract.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{Challenge, Enrolment, MfaCredential, SealedSecret};
use crate::email::Email;
use crate::error::RepositoryError;
use crate::ports::TokenDigest;
use crate::user::UserId;

/// Why a stored secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// Sealed under a key this deployment no longer has, or altered: a configuration
    /// problem, never the person's fault.
    #[error("the TOTP secret cannot be opened: {0}")]
    Unreadable(&'static str),
}

/// TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps) and recovery codes. Secrets
/// leave it sealed (encrypted, bound to their account) and are opened only inside it.
pub trait Authenticators: Send + Sync {
    /// A new random secret for `user`, sealed, with what the person copies into an app.
    fn enrol(&self, user: UserId, account: &Email) -> (SealedSecret, Enrolment);

    /// The time step whose code `code` is, within one step either side of `now`, or
    /// `None` (malformed or wrong). [`OtpError`] when the secret cannot be opened.
    fn check(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, OtpError>;

    /// `sealed` under the current key, when it was sealed under a retired one.
    fn reseal(&self, user: UserId, sealed: &SealedSecret) -> Option<SealedSecret>;

    /// Fresh random recovery codes, [`super::RECOVERY_CODES`] of them.
    fn recovery_codes(&self) -> Vec<SecretString>;

    /// What is stored of a recovery code, however it was typed (case, dashes, spaces);
    /// `None` for anything that cannot be one.
    fn recovery_digest(&self, code: &SecretString) -> Option<TokenDigest>;
}

/// Which accounts have a passkey: a second factor besides TOTP, asked for after the
/// password. Errors only when storage fails.
#[async_trait]
pub trait PasskeyPresence: Send + Sync {
    async fn has_passkey(&self, user: UserId) -> Result<bool, RepositoryError>;
}

/// No account has a passkey (a deployment, or a test, without them).
pub struct NoPasskeys;

#[async_trait]
impl PasskeyPresence for NoPasskeys {
    async fn has_passkey(&self, _: UserId) -> Result<bool, RepositoryError> {
        Ok(false)
    }
}

/// Storage of authenticators, recovery codes and sign-in challenges. Errors only when
/// storage fails, unless said otherwise.
#[async_trait]
pub trait MfaRepository: Send + Sync {
    /// The account's authenticator, confirmed or pending.
    async fn find(&self, user: UserId) -> Result<Option<MfaCredential>, RepositoryError>;

    /// Stores a pending authenticator, replacing a pending one. `false`, storing nothing,
    /// when the account has a confirmed one.
    async fn start(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Confirms the pending authenticator if it is still `sealed`, with `step` as its last
    /// used step, and stores `codes` as its recovery codes, in one transaction. `false`,
    /// changing nothing, when it was confirmed or replaced meanwhile.
    async fn confirm(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        step: i64,
        codes: &[TokenDigest],
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Records `step` as used, atomically, if it is later than the last used one (and
    /// stores `resealed` as the secret, if given). `false` when it is not: a replay, also
    /// when two requests race with one code.
    async fn use_step(
        &self,
        user: UserId,
        step: i64,
        resealed: Option<&SealedSecret>,
    ) -> Result<bool, RepositoryError>;

    /// Marks the unused recovery code `digest` of a confirmed authenticator of `user` used,
    /// atomically. `false` when there is none: wrong, already used, or no MFA.
    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Replaces every recovery code of `user` with `codes`, in one transaction.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[TokenDigest],
        now: DateTime<Utc>,
    ) -> Result<(), RepositoryError>;

    /// How many recovery codes of `user` are unused.
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, RepositoryError>;

    /// Deletes the authenticator, recovery codes and challenges of `user`. Returns whether
    /// a confirmed authenticator was removed.
    async fn remove(&self, user: UserId) -> Result<bool, RepositoryError>;

    /// Which of `users` have a confirmed authenticator.
    async fn enabled_among(&self, users: &[UserId]) -> Result<HashSet<UserId>, RepositoryError>;

    /// Stores a sign-in challenge under `digest`.
    async fn create_challenge(
        &self,
        digest: &TokenDigest,
        challenge: &Challenge,
    ) -> Result<(), RepositoryError>;

    /// The unredeemed challenge under `digest`, expired or not.
    async fn find_challenge(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<Challenge>, RepositoryError>;

    /// Redeems the challenge, atomically: `false` when it was redeemed already (a race
    /// with another completion) or does not exist.
    async fn redeem_challenge(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Deletes challenges that expired before `before`; returns how many.
    async fn purge_challenges(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;
}
