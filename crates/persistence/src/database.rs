//! Connecting to the database and applying migrations.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::cache::{CacheCounts, Change, SessionCache};
use crate::writes::Writes;

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
///
/// Writes go through [`Database::writer`]. On SQLite that is a pool of its own with one
/// connection: SQLite lets one transaction write at a time, and a second connection that
/// wants to write meanwhile is refused and sleeps in SQLite's busy handler (1, 2, 5, 10 …
/// milliseconds) while the lock often stands free, so writers queue for the one connection
/// instead, woken the moment it is free. Reads keep the shared pool and run beside the
/// writer (WAL). On PostgreSQL the writer is the shared pool.
#[derive(Debug, Clone)]
pub struct Database {
    connection: DatabaseConnection,
    writer: DatabaseConnection,
    /// Whether `writer` is `connection` (PostgreSQL, in-memory SQLite).
    one_pool: bool,
    /// Writes that may be committed in groups (see [`crate::writes`]).
    writes: Writes,
    cache_counts: Arc<CacheCounts>,
    /// Whether this process announces its writes to users and sessions to a serving
    /// process (a command run beside the server, on SQLite; see [`Database::announce_changes`]).
    announces: bool,
}

/// What kind of statement ran, for metrics: its first keyword, one of a few.
pub fn statement_kind(sql: &str) -> &'static str {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    const KINDS: [&str; 9] = [
        "select",
        "insert",
        "update",
        "delete",
        "begin",
        "commit",
        "rollback",
        "with",
        "savepoint",
    ];
    KINDS
        .into_iter()
        .find(|kind| first.eq_ignore_ascii_case(kind))
        .unwrap_or("other")
}

/// Told of every statement: its kind ([`statement_kind`]), how long it took and whether it
/// failed. Never its text or values.
pub type StatementObserver = Arc<dyn Fn(&'static str, Duration, bool) + Send + Sync>;

/// One connection pool's use at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// `shared` (every statement, PostgreSQL), or `read` and `write` (SQLite).
    pub pool: &'static str,
    /// Connections open.
    pub open: u32,
    /// Of them, idle.
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

/// SQLite's page cache of the writer connection, in KiB.
const WRITER_CACHE_KIB: u32 = 64 * 1024;
/// SQLite's page cache of each reading connection, in KiB (SQLite's default).
const READER_CACHE_KIB: u32 = 2 * 1024;

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
        let connection =
            sea_orm::Database::connect(Self::options(&url, timeout, READER_CACHE_KIB)).await?;
        // An in-memory database lives in its pool: a second pool would be another database.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let writer = if sqlite && !in_memory {
            let mut options = Self::options(&url, timeout, WRITER_CACHE_KIB);
            options.max_connections(1).min_connections(1);
            sea_orm::Database::connect(options).await?
        } else {
            connection.clone()
        };
        let one_pool = !sqlite || in_memory;
        Ok(Self {
            writes: Self::writes_on(&writer, one_pool),
            connection,
            writer,
            one_pool,
            cache_counts: Arc::default(),
            announces: false,
        })
    }

    /// Tells `observer` of every statement run from now on (set it before the stores are
    /// built: they keep the connections they were given).
    pub fn observe_statements(&mut self, observer: StatementObserver) {
        let callback = move |info: &sea_orm::metric::Info<'_>| {
            observer(
                statement_kind(&info.statement.sql),
                info.elapsed,
                info.failed,
            )
        };
        if self.one_pool {
            self.connection.set_metric_callback(callback);
            self.writer = self.connection.clone();
        } else {
            self.connection.set_metric_callback(callback.clone());
            self.writer.set_metric_callback(callback);
        }
        self.writes = Self::writes_on(&self.writer, self.one_pool);
    }

    /// Grouped on SQLite's one writer connection; each alone on a shared pool.
    fn writes_on(writer: &DatabaseConnection, one_pool: bool) -> Writes {
        if one_pool {
            Writes::Alone(writer.clone())
        } else {
            Writes::grouped(writer.clone())
        }
    }

    pub(crate) fn writes(&self) -> &Writes {
        &self.writes
    }

    /// The pools' use now.
    pub fn pool_use(&self) -> Vec<PoolUse> {
        fn use_of<DB: sea_orm::sqlx::Database>(
            pool: &'static str,
            of: &sea_orm::sqlx::Pool<DB>,
        ) -> PoolUse {
            PoolUse {
                pool,
                open: of.size(),
                idle: u32::try_from(of.num_idle()).unwrap_or(u32::MAX),
                max: of.options().get_max_connections(),
            }
        }
        if self.connection.get_database_backend() == DbBackend::Postgres {
            return vec![use_of(
                "shared",
                self.connection.get_postgres_connection_pool(),
            )];
        }
        if self.one_pool {
            return vec![use_of(
                "shared",
                self.connection.get_sqlite_connection_pool(),
            )];
        }
        vec![
            use_of("read", self.connection.get_sqlite_connection_pool()),
            use_of("write", self.writer.get_sqlite_connection_pool()),
        ]
    }

    /// How the per-request session lookups were answered: from memory, from the database.
    pub fn session_cache_counts(&self) -> (u64, u64) {
        self.cache_counts.read()
    }

    /// SQLite's page cache per connection. The writer's holds the inner pages of every
    /// index a write touches (with a million accounts, the default 2 MiB did not: each write
    /// read them again from the file); readers keep SQLite's default, and share the
    /// operating system's cache of the file.
    fn options(url: &str, timeout: Duration, sqlite_cache_kib: u32) -> ConnectOptions {
        let sqlite = url.starts_with("sqlite:");
        let mut options = ConnectOptions::new(url);
        // No ping on every checkout: it costs a round trip per statement (to SQLite's
        // worker thread; to PostgreSQL's server process, where it doubled a refresh's). A
        // SQLite connection is a file opened in this process: nothing can cut it. A
        // PostgreSQL connection is pinged once it has been idle for a second, which is when
        // a restart or a proxy may have cut it unnoticed; a busy one is in use.
        if sqlite {
            options.test_before_acquire(false);
        } else {
            options.test_before_acquire_if_idle_for(Duration::from_secs(1));
        }
        options
            .connect_timeout(timeout)
            .acquire_timeout(timeout)
            // SQL is traced by our own spans; sqlx's statement log is noise at info level.
            .sqlx_logging(false)
            // WAL lets readers run beside the one writer; writers wait for each other
            // rather than fail.
            .map_sqlx_sqlite_opts(move |options| {
                options
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    // Owned rows go with their owner by cascade, whatever the URL says.
                    .foreign_keys(true)
                    .pragma("cache_size", format!("-{sqlite_cache_kib}"))
            });
        options
    }

    /// The shared pool, for reads.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// Where writes go: one connection on SQLite, the shared pool on PostgreSQL.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.writer
    }

    /// A cache for the per-request session check (see [`crate::cache`]). On PostgreSQL it
    /// listens for other instances' changes on a connection of its own, and serves nothing
    /// while that connection is down; it stops listening once the cache is dropped.
    /// On SQLite, every write of this process to users and sessions is also written down
    /// in `cache_notices`, for a server running beside it to forget what it changed (a
    /// command such as `gatehouse tokens revoke`). On PostgreSQL triggers do this for every
    /// writer. Call it before the stores are built.
    pub fn announce_changes(&mut self) {
        self.announces = true;
    }

    pub(crate) fn session_cache(&self) -> Arc<SessionCache> {
        if self.connection.get_database_backend() != DbBackend::Postgres {
            let cache = SessionCache::counted(true, self.cache_counts.clone());
            if self.announces {
                return Arc::new(cache.announcing_to(self.writer.clone()));
            }
            // The server writes the SQLite file; its own writes invalidate, and a command
            // run beside it leaves notices, read a few times a second.
            let cache = Arc::new(cache);
            if !self.one_pool {
                tokio::spawn(crate::cache::watch_notices(
                    self.connection.clone(),
                    Arc::downgrade(&cache),
                ));
            }
            return cache;
        }
        let cache = Arc::new(SessionCache::counted(false, self.cache_counts.clone()));
        let pool = self.connection.get_postgres_connection_pool().clone();
        tokio::spawn(listen_for_changes(pool, Arc::downgrade(&cache)));
        cache
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> Result<(), DatabaseError> {
        Ok(Migrator::up(&self.writer, None).await?)
    }

    /// Rolls back the last `steps` migrations.
    pub async fn migrate_down(&self, steps: u32) -> Result<(), DatabaseError> {
        Ok(Migrator::down(&self.writer, Some(steps)).await?)
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
