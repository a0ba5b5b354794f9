//! PostgreSQL only: the invalidation notices name what changed, so each instance forgets
//! only those sessions: `s:<id>,…` for updated or deleted sessions, `u:<id>,…` for users.
//! A statement that changed more rows than a notice can list sends `*` (forget everything).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Ids per notice at most: 100 UUIDs fit well inside PostgreSQL's 8,000-byte payload.
const UP: &str = r#"
DROP TRIGGER IF EXISTS users_notify_invalidate ON users;
DROP TRIGGER IF EXISTS sessions_notify_invalidate ON sessions;
CREATE OR REPLACE FUNCTION gatehouse_notify_changed() RETURNS trigger AS $$
DECLARE
    changed bigint;
    ids text;
BEGIN
    SELECT count(*), string_agg(DISTINCT id::text, ',') INTO changed, ids FROM changed_rows;
    IF changed = 0 THEN
        RETURN NULL;
    ELSIF changed > 100 THEN
        PERFORM pg_notify('gatehouse_invalidate', '*');
    ELSE
        PERFORM pg_notify('gatehouse_invalidate',
            CASE TG_TABLE_NAME WHEN 'users' THEN 'u:' ELSE 's:' END || ids);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_notify_update AFTER UPDATE ON users
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changed();
CREATE TRIGGER users_notify_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changed();
CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changed();
CREATE TRIGGER sessions_notify_delete AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changed();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS sessions_notify_delete ON sessions;
DROP TRIGGER IF EXISTS sessions_notify_update ON sessions;
DROP TRIGGER IF EXISTS users_notify_delete ON users;
DROP TRIGGER IF EXISTS users_notify_update ON users;
DROP FUNCTION IF EXISTS gatehouse_notify_changed();
CREATE TRIGGER users_notify_invalidate AFTER UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_invalidate();
CREATE TRIGGER sessions_notify_invalidate AFTER UPDATE OR DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_invalidate();
"#;

crate::postgres_only::migration!(UP, DOWN);
