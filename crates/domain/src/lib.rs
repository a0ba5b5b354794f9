//! The heart of gatehouse: entities, value objects, ports and use cases.
//!
//! This crate knows nothing about HTTP, SQL, JSON, argon2 or JWT. Adapters in the outer
//! crates implement the [`ports`] and the api crate drives the use cases in [`auth`].

pub mod apis;
pub mod attempts;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod courier;
pub mod email;
pub mod error;
pub mod id;
pub mod mail;
pub mod meter;
pub mod mfa;
pub mod oauth;
pub mod owned;
pub mod pagination;
pub mod passkeys;
pub mod password;
pub mod personal;
pub mod ports;
pub mod reauth;
pub mod recovery;
pub mod scope;
pub mod session;
pub mod text;
pub mod throttle;
pub mod todo;
pub mod upstream;
pub mod user;
pub mod users;

#[cfg(test)]
pub(crate) mod testing;

pub use auth::AuthService;
pub use clock::{Clock, SystemClock};
pub use email::{Email, EmailError};
pub use error::{FieldViolation, RepositoryError, ValidationErrors};
pub use id::Identifier;
pub use pagination::{MAX_LIMIT, MAX_OFFSET, Page, Paged};
pub use password::{Password, PasswordError, PasswordHash};
pub use scope::{Scope, ScopeError, ScopeSet};
pub use session::{Caller, Session, SessionId, SessionKind, SessionLifetimes};
pub use todo::{Todo, TodoId};
pub use user::{FullName, FullNameError, Role, RoleError, User, UserFilter, UserId};
pub use users::UserService;
