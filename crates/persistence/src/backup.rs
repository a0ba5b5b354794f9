//! Online backups of a SQLite database: a consistent copy taken while gatehouse serves
//! (SQLite's `VACUUM INTO`, which reads one snapshot while writers go on). PostgreSQL has
//! tools of its own for this (`pg_dump`, base backups), which operations.md describes.

use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::database::Database;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Only a SQLite database is copied by gatehouse.
    #[error(
        "gatehouse backs up SQLite databases; back up PostgreSQL with its own tools (pg_dump, or a base backup)"
    )]
    NotSqlite,
    /// The backup never overwrites a file.
    #[error("{0} exists already: name a new file")]
    Exists(PathBuf),
    #[error("could not write the backup: {0}")]
    Storage(#[from] sea_orm::DbErr),
}

impl Database {
    /// Writes a consistent copy of the SQLite database to `path`, a new file, while the
    /// database stays in use: it holds every transaction committed before the copy began
    /// and none that commits later. The copy is compact (vacuumed) and a database in its
    /// own right: to restore it, stop gatehouse and put it in the database's place.
    pub async fn backup_to(&self, path: &Path) -> Result<(), BackupError> {
        let connection = self.connection();
        if connection.get_database_backend() != DbBackend::Sqlite {
            return Err(BackupError::NotSqlite);
        }
        if path.exists() {
            return Err(BackupError::Exists(path.to_owned()));
        }
        connection
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "VACUUM INTO ?",
                [path.to_string_lossy().into_owned().into()],
            ))
            .await?;
        tracing::info!(path = %path.display(), "database backed up");
        Ok(())
    }
}
