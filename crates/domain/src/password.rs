//! The password policy and the stored password hash.
//!
//! A [`Password`] can only be built by passing the policy: 8–128 characters (counted as
//! Unicode scalar values, never truncated), not one of the common passwords shipped in
//! `data/common-passwords.txt`, and not the user's own email address.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};

use crate::email::Email;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

/// Lower-cased common passwords of 8 or more characters, from the list Django ships
/// (Royce Williams' breach corpus, BSD-3-Clause). Shorter ones are refused by length anyway.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .filter(|line| !line.is_empty())
        .collect()
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_LEN} characters")]
    TooShort,
    #[error("password must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("password is too common")]
    TooCommon,
    #[error("password must not be your email address")]
    SameAsEmail,
}

/// A password that passed the policy. The plain text stays in a [`SecretString`] so it
/// cannot be printed by accident.
pub struct Password(SecretString);

impl Password {
    /// Checks `raw` against the policy. Length is checked first, so an oversized input
    /// costs nothing more than counting its characters.
    pub fn parse(raw: SecretString, email: Option<&Email>) -> Result<Self, PasswordError> {
        let text = raw.expose_secret();
        let len = text.chars().take(MAX_LEN + 1).count();
        if len < MIN_LEN {
            return Err(PasswordError::TooShort);
        }
        if len > MAX_LEN {
            return Err(PasswordError::TooLong);
        }
        let lowered = text.to_lowercase();
        if COMMON_PASSWORDS.contains(lowered.as_str()) {
            return Err(PasswordError::TooCommon);
        }
        if let Some(email) = email {
            let trimmed = lowered.trim();
            if trimmed == email.as_str() || trimmed == email.local_part() {
                return Err(PasswordError::SameAsEmail);
            }
        }
        Ok(Self(raw))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }

    /// Number of passwords in the shipped common-password list.
    pub fn common_list_len() -> usize {
        COMMON_PASSWORDS.len()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// A password hash in PHC string format (`$argon2id$v=19$m=…`). Redacted in `Debug` so that
/// logging a `User` cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

/// What an account without a password stores in place of a hash: not a PHC string, so no
/// verifier accepts anything against it (the convention of Django's unusable passwords).
const NO_PASSWORD: &str = "!";

impl PasswordHash {
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The hash of an account that has no password (it signs in another way).
    pub fn none() -> Self {
        Self(NO_PASSWORD.to_owned())
    }

    /// Whether this is a hash of a password, rather than [`PasswordHash::none`].
    pub fn is_password(&self) -> bool {
        !self.0.is_empty() && !self.0.starts_with(NO_PASSWORD)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, email: Option<&Email>) -> Result<Password, PasswordError> {
        Password::parse(SecretString::from(raw.to_owned()), email)
    }

    #[test]
    fn ships_at_least_a_thousand_common_passwords() {
        assert!(Password::common_list_len() >= 1_000);
    }

    #[test]
    fn length_is_counted_in_characters_not_bytes() {
        // 8 characters, 24 bytes.
        assert!(parse("ééééçççç", None).is_ok());
        // 7 characters, 21 bytes.
        assert_eq!(parse("ééééççç", None).unwrap_err(), PasswordError::TooShort);
        assert!(parse(&"ü".repeat(128), None).is_ok());
        assert_eq!(
            parse(&"ü".repeat(129), None).unwrap_err(),
            PasswordError::TooLong
        );
    }

    #[test]
    fn refuses_common_passwords_in_any_case() {
        assert_eq!(
            parse("password", None).unwrap_err(),
            PasswordError::TooCommon
        );
        assert_eq!(
            parse("PassWord1", None).unwrap_err(),
            PasswordError::TooCommon
        );
        assert_eq!(
            parse("12345678", None).unwrap_err(),
            PasswordError::TooCommon
        );
    }

    #[test]
    fn refuses_the_users_own_email() {
        let email = Email::parse("someone.long@example.com").unwrap();
        assert_eq!(
            parse("Someone.Long@example.com", Some(&email)).unwrap_err(),
            PasswordError::SameAsEmail
        );
        assert_eq!(
            parse("someone.long", Some(&email)).unwrap_err(),
            PasswordError::SameAsEmail
        );
        assert!(parse("correct horse battery", Some(&email)).is_ok());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let password = parse("correct horse battery", None).unwrap();
        assert!(!format!("{password:?}").contains("horse"));
        let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
        assert!(!format!("{hash:?}").contains("argon2"));
    }
}
