//! Identifier newtypes: UUIDv7s, so ids sort by creation time, each its own type so a todo
//! id cannot be passed where a user id is wanted.

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
}
