//! Personal access tokens are sessions of kind `personal`, found by the digest of their
//! token (in `browser_token_hash`, which a browser session uses for its cookie's):
//! `sessions.name` is what their owner called them, `sessions.used_at` and `used_ip` when
//! and from where one was last used (recorded at most once a minute).
//!
//! On PostgreSQL, recording a use sends no invalidation notice, as a refresh sends none:
//! nothing an instance keeps about a session depends on it.
//!
//! `cache_notices`: on SQLite, what a command run beside the server (`gatehouse tokens
//! revoke`) changed, for the serving process to forget (PostgreSQL's triggers `NOTIFY`
//! instead): an id that only grows, and the change as a notification names it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const QUIET_USE: &str = r#"
DROP TRIGGER IF EXISTS sessions_notify_update ON sessions;
CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (NEW.idle_expires_at < OLD.idle_expires_at
          OR to_jsonb(OLD) - 'last_used_at' - 'idle_expires_at' - 'used_at' - 'used_ip'
             IS DISTINCT FROM to_jsonb(NEW) - 'last_used_at' - 'idle_expires_at' - 'used_at' - 'used_ip')
    EXECUTE FUNCTION gatehouse_notify_session_changed();
"#;

const LOUD_USE: &str = r#"
DROP TRIGGER IF EXISTS sessions_notify_update ON sessions;
CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (NEW.idle_expires_at < OLD.idle_expires_at
          OR to_jsonb(OLD) - 'last_used_at' - 'idle_expires_at'
             IS DISTINCT FROM to_jsonb(NEW) - 'last_used_at' - 'idle_expires_at')
    EXECUTE FUNCTION gatehouse_notify_session_changed();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds no more.
        for column in [
            string_len_null(Sessions::Name, 100),
            timestamp_with_time_zone_null(Sessions::UsedAt),
            string_len_null(Sessions::UsedIp, 64),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(CacheNotices::Table)
                    .if_not_exists()
                    .col(pk_auto(CacheNotices::Id))
                    .col(string_len(CacheNotices::Payload, 100))
                    .col(timestamp_with_time_zone(CacheNotices::CreatedAt))
                    .to_owned(),
            )
            .await?;
        crate::postgres_only::run(manager, QUIET_USE).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::postgres_only::run(manager, LOUD_USE).await?;
        manager
            .drop_table(Table::drop().table(CacheNotices::Table).to_owned())
            .await?;
        for column in [Sessions::Name, Sessions::UsedAt, Sessions::UsedIp] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum CacheNotices {
    Table,
    Id,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Name,
    UsedAt,
    UsedIp,
}
