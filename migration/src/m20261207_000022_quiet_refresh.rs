//! PostgreSQL only: a session update that only records its use (a refresh sets
//! `last_used_at` and pushes `idle_expires_at` back) sends no invalidation notice.
//!
//! Such an update makes a kept answer no less right: an instance that kept the session
//! before it was refreshed judges it by an earlier idle expiry, and reads it again from the
//! database once that expiry has passed (`persistence::cache`). The notice cost more than
//! the forgetting: PostgreSQL serializes the commits of transactions that notify, so every
//! refresh waited for the previous one's disk flush.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION gatehouse_notify_sessions_updated() RETURNS trigger AS $$
DECLARE
    changed bigint;
    ids text;
BEGIN
    SELECT count(*), string_agg(DISTINCT old_row.id::text, ',') INTO changed, ids
    FROM old_rows AS old_row JOIN new_rows AS new_row ON new_row.id = old_row.id
    WHERE new_row.idle_expires_at < old_row.idle_expires_at
       OR to_jsonb(old_row) - 'last_used_at' - 'idle_expires_at'
          IS DISTINCT FROM to_jsonb(new_row) - 'last_used_at' - 'idle_expires_at';
    IF changed = 0 THEN
        RETURN NULL;
    ELSIF changed > 100 THEN
        PERFORM pg_notify('gatehouse_invalidate', '*');
    ELSE
        PERFORM pg_notify('gatehouse_invalidate', 's:' || ids);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS sessions_notify_update ON sessions;
CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_sessions_updated();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS sessions_notify_update ON sessions;
DROP FUNCTION IF EXISTS gatehouse_notify_sessions_updated();
CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changed();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::postgres_only::run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::postgres_only::run(manager, DOWN).await
    }
}
