//! What every handler can reach: the use cases, wired to their adapters.

use std::sync::Arc;

use gatehouse_domain::auth::AuthPorts;
use gatehouse_domain::{AuthService, Clock, SessionLifetimes, TodoService, UserService};
use gatehouse_persistence::{Database, SeaSessionRepository, SeaTodoRepository, SeaUserRepository};
use gatehouse_security::{
    Argon2Config, Argon2Hasher, HashingPool, JwtConfig, JwtService, RandomTokens,
};
use secrecy::SecretString;

use crate::settings::Settings;
use crate::startup::StartupError;

/// Shared, cheaply cloned application state.
#[derive(Clone)]
pub struct AppState {
    pub auth: AuthService,
    pub users: UserService,
    pub todos: TodoService,
}

impl AppState {
    /// Wires the adapters: the given database, an argon2id hasher on a bounded pool, a JWT
    /// service with `secret`, and `clock` for every time decision.
    pub fn build(
        settings: &Settings,
        database: &Database,
        secret: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let pool = match settings.password.hashing_workers {
            0 => HashingPool::per_core(settings.password.hashing_queue),
            workers => HashingPool::new(workers, settings.password.hashing_queue),
        };
        let hasher = Argon2Hasher::new(
            Argon2Config {
                memory_kib: settings.password.memory_kib,
                iterations: settings.password.iterations,
                parallelism: settings.password.parallelism,
            },
            Arc::new(pool),
        )
        .map_err(|error| StartupError::Config(error.to_string()))?;
        let tokens = JwtService::new(JwtConfig {
            secret,
            issuer: settings.jwt.issuer.clone(),
            audience: settings.jwt.audience.clone(),
            access_token_ttl: chrono::Duration::seconds(settings.jwt.access_token_ttl_secs.into()),
            leeway: chrono::Duration::seconds(settings.jwt.leeway_secs.into()),
        })
        .map_err(|error| StartupError::Config(error.to_string()))?;
        let users = Arc::new(SeaUserRepository::new(database));
        let sessions = Arc::new(SeaSessionRepository::new(database));
        let hasher = Arc::new(hasher);
        let lifetimes = SessionLifetimes {
            idle: chrono::Duration::seconds(settings.auth.session_idle_ttl_secs.into()),
            absolute: chrono::Duration::seconds(settings.auth.session_absolute_ttl_secs.into()),
        };
        let ports = AuthPorts {
            users: users.clone(),
            hasher: hasher.clone(),
            tokens: Arc::new(tokens),
            sessions: sessions.clone(),
            opaque: Arc::new(RandomTokens),
            clock: clock.clone(),
        };
        Ok(Self {
            auth: AuthService::new(ports, lifetimes),
            users: UserService::new(users, hasher, sessions, clock.clone()),
            todos: TodoService::new(Arc::new(SeaTodoRepository::new(database)), clock),
        })
    }
}
