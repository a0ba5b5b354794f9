//! Connecting to the database and applying migrations.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::cache::{Change, SessionCache};

use gatehouse_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, DatabaseConnection, DbBackend, DbErr};

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("unsupported database URL `{0}`: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("could not create the database directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// A migration and whether it has been applied.
#[derive(Debug, Clone)]
pub struct MigrationStatus {
    pub name: String,
    pub applied: bool,
}

/// A pooled connection to the configured database.
#[derive(Debug, Clone)]
pub struct Database {
    connection: DatabaseConnection,
}

impl Database {
    /// Connects to `url`. For SQLite the file and its directory are created when missing.
    pub async fn connect(url: &str) -> Result<Self, DatabaseError> {
        Self::connect_with_timeout(url, Duration::from_secs(5)).await
    }

    /// Connects; a request waits at most `timeout` for a working connection before it fails
    /// as unavailable, so an outage answers quickly instead of piling requests up.
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, DatabaseError> {
        let url = prepare_url(url)?;
        let sqlite = url.starts_with("sqlite:");
        let mut options = ConnectOptions::new(url);
        if sqlite {
            // A SQLite connection is a file opened in this process: nothing can cut it, so
            // the pool does not ping it on every checkout (a round trip to its worker thread,
            // one per statement).
            options.test_before_acquire(false);
        }
        options
            .connect_timeout(timeout)
            .acquire_timeout(timeout)
            // SQL is traced by our own spans; sqlx's statement log is noise at info level.
            .sqlx_logging(false)
            // WAL lets readers run beside the one writer; writers wait for each other
            // rather than fail.
            .map_sqlx_sqlite_opts(|options| {
                options
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    // Owned rows go with their owner by cascade, whatever the URL says.
                    .foreign_keys(true)
            });
        let connection = sea_orm::Database::connect(options).await?;
        Ok(Self { connection })
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// A cache for the per-request session check (see [`crate::cache`]). On PostgreSQL it
    /// listens for other instances' changes on a connection of its own, and serves nothing
    /// while that connection is down; it stops listening once the cache is dropped.
    pub(crate) fn session_cache(&self) -> Arc<SessionCache> {
        if self.connection.get_database_backend() != DbBackend::Postgres {
            // One process writes a SQLite file; its own writes invalidate.
            return Arc::new(SessionCache::new(true));
        }
        let cache = Arc::new(SessionCache::new(false));
        let pool = self.connection.get_postgres_connection_pool().clone();
        tokio::spawn(listen_for_changes(pool, Arc::downgrade(&cache)));
        cache
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> Result<(), DatabaseError> {
        Ok(Migrator::up(&self.connection, None).await?)
    }

    /// Rolls back the last `steps` migrations.
    pub async fn migrate_down(&self, steps: u32) -> Result<(), DatabaseError> {
        Ok(Migrator::down(&self.connection, Some(steps)).await?)
    }

    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, DatabaseError> {
        let applied: Vec<String> = Migrator::get_applied_migrations(&self.connection)
            .await?
            .iter()
            .map(|migration| migration.name().to_owned())
            .collect();
        Ok(Migrator::migrations()
            .iter()
            .map(|migration| {
                let name = migration.name().to_owned();
                MigrationStatus {
                    applied: applied.contains(&name),
                    name,
                }
            })
            .collect())
    }
}

/// Forgets in `cache` what each `NOTIFY gatehouse_invalidate` names, reconnecting after failures,
/// until the cache is dropped.
async fn listen_for_changes(pool: sea_orm::sqlx::PgPool, cache: Weak<SessionCache>) {
    use sea_orm::sqlx::postgres::PgListener;
    const CHECK: Duration = Duration::from_secs(5);
    while cache.strong_count() > 0 {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(crate::cache::CHANNEL).await {
                Ok(()) => {
                    if let Some(cache) = cache.upgrade() {
                        cache.set_in_sync(true);
                    }
                    loop {
                        match tokio::time::timeout(CHECK, listener.try_recv()).await {
                            Ok(Ok(Some(notification))) => match cache.upgrade() {
                                Some(cache) => {
                                    for change in Change::from_notification(notification.payload())
                                    {
                                        cache.forget(&change);
                                    }
                                }
                                None => return,
                            },
                            // Nothing for a while: still wanted, and still connected? A
                            // connection cut without a reset would otherwise look quiet.
                            Err(_) if cache.strong_count() == 0 => return,
                            Err(_) => {
                                let probe = sea_orm::sqlx::query("SELECT 1").execute(&mut listener);
                                if !matches!(tokio::time::timeout(CHECK, probe).await, Ok(Ok(_))) {
                                    break;
                                }
                            }
                            // The connection was lost (notifications in between are gone).
                            Ok(Ok(None)) | Ok(Err(_)) => break,
                        }
                    }
                    tracing::warn!(
                        "lost the invalidation listener; serving sessions from the database"
                    );
                }
                Err(error) => tracing::warn!(%error, "cannot LISTEN for invalidations"),
            },
            Err(error) => tracing::debug!(%error, "invalidation listener cannot connect"),
        }
        if let Some(cache) = cache.upgrade() {
            cache.set_in_sync(false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn prepare_url(url: &str) -> Result<String, DatabaseError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(url.to_owned());
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(DatabaseError::UnsupportedUrl(redact(url)));
    };
    let rest = rest.trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let directory = Path::new(path)
        .parent()
        .filter(|dir| path != ":memory:" && !dir.as_os_str().is_empty());
    if let Some(dir) = directory {
        std::fs::create_dir_all(dir).map_err(|source| DatabaseError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
    }
    // Create the file on first start unless the URL says otherwise.
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// A URL with any password replaced, safe for error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file() {
        assert_eq!(
            prepare_url("sqlite::memory:").unwrap(),
            "sqlite://:memory:?mode=rwc"
        );
        assert_eq!(
            prepare_url("sqlite://target/test-db/x.db?mode=ro").unwrap(),
            "sqlite://target/test-db/x.db?mode=ro"
        );
        assert!(prepare_url("mysql://x").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://app:hunter2@db:5432/gh"),
            "postgres://app:***@db:5432/gh"
        );
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
