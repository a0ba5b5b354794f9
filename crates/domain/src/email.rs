//! The `Email` value object: trimmed, lower-cased and syntactically valid.

use std::fmt;

/// Longest address SMTP can carry (RFC 5321 §4.5.3.1.3 path limit less the brackets).
const MAX_LEN: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email must not be empty")]
    Empty,
    #[error("email must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("not a valid email address")]
    Invalid,
}

/// A normalized email address. Two addresses that differ only in case or surrounding
/// whitespace are the same `Email`, so the unique index on it catches look-alike sign-ups.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let normalized = raw.trim().to_lowercase();
        if normalized.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalized.chars().count() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        // email_address accepts quoted local parts and IP-literal domains; an address for
        // sign-up also needs a dot-separated domain we could deliver to.
        let parsed = email_address::EmailAddress::parse_with_options(
            &normalized,
            email_address::Options::default()
                .without_display_text()
                .without_domain_literal(),
        )
        .map_err(|_| EmailError::Invalid)?;
        let domain = parsed.domain();
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(EmailError::Invalid);
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(&self.0, |(local, _)| local)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What someone typed to sign in with (the password grant's `username`, the sign-in page's
/// email). Never refused: a name that is no address is checked like an unknown account, so
/// the answer tells nothing.
#[derive(Debug, Clone)]
pub struct LoginName {
    email: Option<Email>,
    key: String,
}

impl LoginName {
    pub fn new(typed: &str) -> Self {
        let email = Email::parse(typed).ok();
        let key = email.as_ref().map_or_else(
            || typed.trim().to_lowercase(),
            |email| email.as_str().to_owned(),
        );
        Self { email, key }
    }

    /// The account's address, when the name reads as one.
    pub fn email(&self) -> Option<&Email> {
        self.email.as_ref()
    }

    /// What attempts are counted under, whether or not an account has this name: the
    /// normalized address, or what was typed, trimmed and lower-cased.
    pub fn throttle_key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_whitespace() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
        assert_eq!(email.local_part(), "alice");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for raw in [
            "",
            "   ",
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "a b@example.com",
            "alice@@example.com",
            "Alice <alice@example.com>",
            "alice@[127.0.0.1]",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn rejects_overlong_addresses() {
        let raw = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&raw), Err(EmailError::TooLong));
    }
}
