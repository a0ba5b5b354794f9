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
