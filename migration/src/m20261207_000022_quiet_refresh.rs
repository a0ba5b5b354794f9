//! PostgreSQL only: a session update that only records its use (a refresh sets
//! `last_used_at` and pushes `idle_expires_at` back) sends no invalidation notice.
//!
//! Such an update makes a kept answer no less right: an instance that kept the session
//! before it was refreshed judges it by an earlier idle expiry, and reads it again from the
//! database once that expiry has passed (`persistence::cache`).
//!
//! The trigger is a row trigger with a `WHEN` condition, which PostgreSQL evaluates without
//! calling a function or keeping the changed rows: the statement trigger it replaces kept
//! every updated row in a transition table and ran a query over it for each refresh, which
//! cost more than a refresh's own writes. A statement that changes many sessions now sends
//! a notice per session (PostgreSQL folds repeated ones within a transaction).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION gatehouse_notify_session_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('gatehouse_invalidate', 's:' || OLD.id::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS sessions_notify_update ON sessions;
CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (NEW.idle_expires_at < OLD.idle_expires_at
          OR to_jsonb(OLD) - 'last_used_at' - 'idle_expires_at'
             IS DISTINCT FROM to_jsonb(NEW) - 'last_used_at' - 'idle_expires_at')
    EXECUTE FUNCTION gatehouse_notify_session_changed();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS sessions_notify_update ON sessions;
DROP FUNCTION IF EXISTS gatehouse_notify_session_changed();
CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_changed();
"#;

crate::postgres_only::migration!(UP, DOWN);
