//! The one wiring of the user and session stores: the SeaORM stores behind the decorators
//! that keep the session cache right.

use std::sync::Arc;

use gatehouse_domain::personal::PersonalTokenRepository;
use gatehouse_domain::ports::{SessionRepository, UserRepository};

use crate::cache::{CachedSessions, InvalidatingUsers};
use crate::database::Database;
use crate::sessions::SeaSessionRepository;
use crate::users::SeaUserRepository;

/// The stores of users and sessions, wired the one way that keeps the session cache right:
/// every write through either forgets what the cache may remember of it. The plain SeaORM
/// stores are private to this crate, so nothing can wire them without their decorators.
pub struct AccountStores {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    /// Personal access tokens (sessions of their own kind, revoked through `sessions`).
    pub personal: Arc<dyn PersonalTokenRepository>,
}

impl AccountStores {
    pub fn new(database: &Database) -> Self {
        let cache = database.session_cache();
        Self {
            users: Arc::new(InvalidatingUsers::new(
                Arc::new(SeaUserRepository::new(database)),
                cache.clone(),
            )),
            sessions: Arc::new(CachedSessions::new(
                Arc::new(SeaSessionRepository::new(database)),
                cache,
            )),
            personal: Arc::new(crate::personal::SeaPersonalTokens::new(database)),
        }
    }
}
