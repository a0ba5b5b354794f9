//! Storage adapters of gatehouse: SeaORM entities and repositories implementing the
//! domain's ports, on SQLite (default) or PostgreSQL.

pub mod action_tokens;
pub mod apis;
pub mod audit;
pub mod backup;
pub mod cache;
pub mod database;
pub mod devices;
pub mod entity;
mod errors;
mod grants;
pub mod mail_queue;
pub mod mfa;
pub mod oauth;
pub mod owned;
mod paging;
pub mod passkeys;
mod personal;
pub mod sessions;
mod stores;
pub mod throttle;
pub mod todos;
pub mod upstream;
pub mod users;
mod writes;

pub use action_tokens::SeaActionTokenRepository;
pub use audit::SeaAuditLog;
pub use cache::SessionCache;
pub use database::{Database, DatabaseError, MigrationStatus};
pub use mail_queue::SeaMailQueue;
pub use mfa::SeaMfaRepository;
pub use oauth::{SeaAuthorizationCodeRepository, SeaClientRepository};
pub use passkeys::SeaPasskeyRepository;
pub use stores::AccountStores;
pub use throttle::SeaThrottleRepository;
pub use upstream::{SeaIdentityRepository, SeaUpstreamFlowRepository};
