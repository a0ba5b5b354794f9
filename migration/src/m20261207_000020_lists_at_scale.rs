//! Lists that stay fast with a million accounts and millions of audit events: indexes in
//! each list's order (`created_at`, then `id`) behind each of its filters, and a trigram
//! index for the admin search's `q=` (a substring of the email or the name): `pg_trgm` on
//! PostgreSQL, an FTS5 table with the trigram tokenizer on SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each index: its name, table and columns.
const INDEXES: [(&str, &str, &[&str]); 6] = [
    ("ix_users_created", "users", &["created_at", "id"]),
    ("ix_users_role", "users", &["role", "created_at", "id"]),
    (
        "ix_users_active",
        "users",
        &["is_active", "created_at", "id"],
    ),
    (
        "ix_audit_events_time",
        "audit_events",
        &["created_at", "id"],
    ),
    (
        "ix_audit_events_user_time",
        "audit_events",
        &["user_id", "created_at", "id"],
    ),
    (
        "ix_audit_events_kind_time",
        "audit_events",
        &["kind", "created_at", "id"],
    ),
];

/// The audit indexes the ones above replace (they lacked `id`, the order's second key).
const REPLACED: [(&str, &str, &[&str]); 2] = [
    (
        "ix_audit_events_user",
        "audit_events",
        &["user_id", "created_at"],
    ),
    ("ix_audit_events_created", "audit_events", &["created_at"]),
];

/// PostgreSQL: `pg_trgm` is a trusted extension (the database's owner may create it). Where
/// it cannot be created, the search still works, by scanning.
const POSTGRES_SEARCH: &str = r#"
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
    RAISE NOTICE 'pg_trgm is not available: the user search will scan';
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX ix_users_email_trgm ON users USING gin (email gin_trgm_ops);
        CREATE INDEX ix_users_name_trgm ON users USING gin (lower(full_name) gin_trgm_ops);
    END IF;
END $$;
"#;

/// SQLite: an FTS5 table of every account's email and name, keyed by the account row's
/// `rowid` and kept by triggers. `rowid`s of `users` (which has no INTEGER PRIMARY KEY) are
/// kept by `VACUUM INTO` (what `gatehouse backup` runs) and by `VACUUM` of a table with an
/// index (its primary key's).
const SQLITE_SEARCH: [&str; 5] = [
    "CREATE VIRTUAL TABLE users_search USING fts5(email, full_name, tokenize = 'trigram')",
    "INSERT INTO users_search (rowid, email, full_name) SELECT rowid, email, full_name FROM users",
    "CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
        INSERT INTO users_search (rowid, email, full_name) VALUES (new.rowid, new.email, new.full_name);
    END",
    "CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
        DELETE FROM users_search WHERE rowid = old.rowid;
    END",
    "CREATE TRIGGER users_search_update AFTER UPDATE OF email, full_name ON users BEGIN
        UPDATE users_search SET email = new.email, full_name = new.full_name WHERE rowid = old.rowid;
    END",
];

const SQLITE_SEARCH_DOWN: [&str; 4] = [
    "DROP TRIGGER IF EXISTS users_search_update",
    "DROP TRIGGER IF EXISTS users_search_delete",
    "DROP TRIGGER IF EXISTS users_search_insert",
    "DROP TABLE IF EXISTS users_search",
];

fn index(name: &str, table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table));
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.to_owned()
}

fn drop(name: &str, table: &str) -> IndexDropStatement {
    Index::drop().name(name).table(Alias::new(table)).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            manager.create_index(index(name, table, columns)).await?;
        }
        for (name, table, _) in REPLACED {
            manager.drop_index(drop(name, table)).await?;
        }
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(POSTGRES_SEARCH).await?;
            }
            DatabaseBackend::Sqlite => {
                for statement in SQLITE_SEARCH {
                    db.execute_unprepared(statement).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "DROP INDEX IF EXISTS ix_users_email_trgm; DROP INDEX IF EXISTS ix_users_name_trgm;",
                )
                .await?;
            }
            DatabaseBackend::Sqlite => {
                for statement in SQLITE_SEARCH_DOWN {
                    db.execute_unprepared(statement).await?;
                }
            }
            _ => {}
        }
        for (name, table, columns) in REPLACED {
            manager.create_index(index(name, table, columns)).await?;
        }
        for (name, table, _) in INDEXES {
            manager.drop_index(drop(name, table)).await?;
        }
        Ok(())
    }
}
