//! PostgreSQL only: every committed change to `users` or `sessions` sends
//! `NOTIFY gatehouse_invalidate`, so each instance drops what it remembers of sessions.
//! (SQLite serves one process, which invalidates its own memory.)

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION gatehouse_notify_invalidate() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('gatehouse_invalidate', TG_TABLE_NAME);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_notify_invalidate AFTER UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_invalidate();
CREATE TRIGGER sessions_notify_invalidate AFTER UPDATE OR DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_invalidate();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS sessions_notify_invalidate ON sessions;
DROP TRIGGER IF EXISTS users_notify_invalidate ON users;
DROP FUNCTION IF EXISTS gatehouse_notify_invalidate();
"#;

crate::postgres_only::migration!(UP, DOWN);
