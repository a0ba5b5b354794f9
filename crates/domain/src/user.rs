//! The `User` entity and its value objects.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::email::Email;
use crate::password::PasswordHash;

crate::id::uuid_id!(
    /// A user's identifier.
    UserId
);

/// What a user may do beyond their own data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; expected `user` or `admin`")]
pub struct RoleError(pub String);

impl Role {
    pub const ALL: [Role; 2] = [Role::User, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, RoleError> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| RoleError(raw.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const FULL_NAME_MAX: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullNameError {
    #[error("full name must be at most {FULL_NAME_MAX} characters")]
    TooLong,
    #[error("full name must not contain control characters")]
    ControlCharacters,
}

/// A display name: at most 200 characters as sent, no control characters; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    /// Parses an optional name; blank means no name.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, FullNameError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        // Judged as sent, like every text field (see `text`).
        if raw.chars().count() > FULL_NAME_MAX {
            return Err(FullNameError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(FullNameError::ControlCharacters);
        }
        let trimmed = raw.trim();
        Ok((!trimmed.is_empty()).then(|| Self(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which users an admin listing shows.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of the email or the full name.
    pub query: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

/// A registered account.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub full_name: Option<FullName>,
    pub role: Role,
    pub is_active: bool,
    pub is_verified: bool,
    pub password_hash: PasswordHash,
    /// Access tokens issued before this instant are refused.
    pub password_changed_at: DateTime<Utc>,
    /// Goes up by one with every password change or reset; sessions remember the version
    /// they were opened under ([`crate::Session::opened_under`]).
    pub credential_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// A new, active, unverified account created at `now`.
    pub fn new(
        email: Email,
        full_name: Option<FullName>,
        role: Role,
        password_hash: PasswordHash,
        now: DateTime<Utc>,
    ) -> Self {
        let now = crate::clock::stored(now);
        Self {
            id: UserId::generate(),
            email,
            full_name,
            role,
            is_active: true,
            is_verified: false,
            password_hash,
            password_changed_at: crate::clock::token_time(now),
            credential_version: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

impl User {
    /// Whether the account has a password (accounts may sign in by other means only).
    pub fn has_password(&self) -> bool {
        self.password_hash.is_password()
    }

    /// Replaces the password hash at `now`: every session opened before now ends, and
    /// every access token issued before now is refused.
    pub fn set_password(&mut self, hash: PasswordHash, now: DateTime<Utc>) {
        self.password_hash = hash;
        self.password_changed_at = crate::clock::token_time(now);
        self.renew_credential(now);
    }

    /// Moves the account to a new credential version at `now` (a password or a second
    /// factor changed): every session opened under the old one is dead, including those of
    /// sign-ins still in flight, unless carried over.
    pub fn renew_credential(&mut self, now: DateTime<Utc>) {
        self.credential_version += 1;
        self.updated_at = crate::clock::stored(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_name_is_trimmed_and_blank_means_none() {
        assert_eq!(FullName::parse_optional(Some("   ")), Ok(None));
        assert_eq!(FullName::parse_optional(None), Ok(None));
        let name = FullName::parse_optional(Some("  Ada Lovelace ")).unwrap();
        assert_eq!(name.unwrap().as_str(), "Ada Lovelace");
    }

    #[test]
    fn full_name_limits() {
        assert_eq!(
            FullName::parse_optional(Some(&"x".repeat(201))),
            Err(FullNameError::TooLong)
        );
        assert_eq!(
            FullName::parse_optional(Some("Ada\u{0}")),
            Err(FullNameError::ControlCharacters)
        );
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("root").is_err());
    }
}
