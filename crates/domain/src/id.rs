//! Identifier newtypes: UUIDv7s, so ids sort by creation time, each its own type so a todo
//! id cannot be passed where a user id is wanted; and the ids of OAuth clients and upstream
//! providers, which people choose.

/// What every identifier offers, for code written once for many resources.
pub trait Identifier: Copy + Send + Sync + 'static {
    /// A new identifier (UUIDv7).
    fn generate() -> Self;
    fn from_uuid(id: uuid::Uuid) -> Self;
    fn as_uuid(&self) -> uuid::Uuid;
}

/// Declares a UUIDv7 identifier newtype with `generate`, `from_uuid`, `as_uuid` (also
/// through [`Identifier`]) and `Display`.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            pub fn from_uuid(id: uuid::Uuid) -> Self {
                Self(id)
            }

            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl $crate::id::Identifier for $name {
            fn generate() -> Self {
                Self::generate()
            }

            fn from_uuid(id: uuid::Uuid) -> Self {
                Self::from_uuid(id)
            }

            fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

pub(crate) use uuid_id;

const CLIENT_ID_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    #[error("must be 1 to {CLIENT_ID_MAX} characters: letters, digits, `.`, `_` or `-`")]
    Invalid,
}

/// A client's public identifier (`client_id`): 1–64 of `A–Z a–z 0–9 . _ -`, chosen when
/// the client is registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, ClientIdError> {
        let valid = !raw.is_empty()
            && raw.len() <= CLIENT_ID_MAX
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ClientIdError::Invalid)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest upstream provider id.
const PROVIDER_ID_MAX: usize = 32;

/// A configured provider's id (`google`, `github`, `corp-sso`): 1–32 lower-case letters,
/// digits, `-` or `_`, starting with a letter or digit. It names the provider in URLs,
/// tokens (`idp`) and stored identities, so it must not change once used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a provider id is 1–{PROVIDER_ID_MAX} lower-case letters, digits, `-` or `_`, starting with a letter or digit"
)]
pub struct ProviderIdError;

impl ProviderId {
    pub fn parse(raw: &str) -> Result<Self, ProviderIdError> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !first_ok || !rest_ok || raw.len() > PROVIDER_ID_MAX {
            return Err(ProviderIdError);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProviderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_short_and_plain() {
        assert!(ClientId::parse("spa-demo_1.0").is_ok());
        for bad in ["", "a b", "é", "a/b", &"x".repeat(65)] {
            assert_eq!(ClientId::parse(bad), Err(ClientIdError::Invalid), "{bad}");
        }
    }

    #[test]
    fn provider_ids_are_short_lower_case_names() {
        for good in ["google", "github", "corp-sso", "a", "x_1", "9lives"] {
            assert!(ProviderId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Google", "-x", "_x", "a b", "a/b", "é", &"a".repeat(33)] {
            assert!(ProviderId::parse(bad).is_err(), "{bad}");
        }
    }
}
