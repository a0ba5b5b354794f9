//! Migrations written in PostgreSQL's own SQL (triggers, functions): they run on PostgreSQL
//! and do nothing on SQLite, where one process serves the database and needs none of it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// Runs `sql` (several statements may follow each other) when the database is PostgreSQL.
pub async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() == DatabaseBackend::Postgres {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

/// Implements `MigrationTrait` for the calling module's `Migration`: `$up` and `$down` (a
/// `&str` or a `String` of SQL) run on PostgreSQL, nothing on SQLite.
macro_rules! migration {
    ($up:expr, $down:expr) => {
        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::postgres_only::run(manager, &$up).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::postgres_only::run(manager, &$down).await
            }
        }
    };
}
pub(crate) use migration;
