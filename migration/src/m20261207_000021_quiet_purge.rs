//! PostgreSQL only: deleting sessions that had already ended (housekeeping's purge) sends no
//! invalidation notice. Every instance judges a cached answer by the session's revocation
//! (whose update was noticed) and expiry times, so such a session was already refused
//! everywhere; a notice of `*` for each purged chunk made every instance forget every
//! answer, and sent each request to the database, for as long as a purge lasted.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `gatehouse_notify_changed` (m20261201_000009), counting, when `quiet` and sessions are
/// deleted, only those that had not ended. (Each branch names only its own table's columns:
/// PL/pgSQL reads a statement when it first runs it, for each table apart.)
fn notify_changed(quiet: bool) -> String {
    let deleted_sessions = if quiet {
        "SELECT count(*), string_agg(DISTINCT id::text, ',') INTO changed, ids FROM changed_rows
            WHERE revoked_at IS NULL AND idle_expires_at > now() AND absolute_expires_at > now();"
    } else {
        "SELECT count(*), string_agg(DISTINCT id::text, ',') INTO changed, ids FROM changed_rows;"
    };
    format!(
        r#"
CREATE OR REPLACE FUNCTION gatehouse_notify_changed() RETURNS trigger AS $$
DECLARE
    changed bigint;
    ids text;
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'sessions' THEN
        {deleted_sessions}
    ELSE
        SELECT count(*), string_agg(DISTINCT id::text, ',') INTO changed, ids FROM changed_rows;
    END IF;
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
"#
    )
}

crate::postgres_only::migration!(notify_changed(true), notify_changed(false));
