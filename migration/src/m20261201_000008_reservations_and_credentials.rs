//! Throttling by reservation and sessions bound to the credential that opened them.
//! - `throttle_counters`: one counter per (bucket, subject) and window, bumped and read in
//!   one `INSERT … ON CONFLICT DO UPDATE … RETURNING`; replaces the `throttle_events` log,
//!   whose count-then-insert let concurrent attempts through.
//! - `users.credential_version` goes up with every password change or reset;
//!   `sessions.credential_version` records the version a session was opened under.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ThrottleCounters::Table)
                    .if_not_exists()
                    .col(string_len(ThrottleCounters::Bucket, 32))
                    .col(string_len(ThrottleCounters::Subject, 254))
                    .col(timestamp_with_time_zone(ThrottleCounters::WindowStart))
                    .col(big_integer(ThrottleCounters::Count))
                    .primary_key(
                        Index::create()
                            .col(ThrottleCounters::Bucket)
                            .col(ThrottleCounters::Subject),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(ThrottleEvents::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        for table in [Users::Table.into_iden(), Sessions::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(big_integer(Users::CredentialVersion).default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Users::Table.into_iden(), Sessions::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Users::CredentialVersion)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(ThrottleCounters::Table).to_owned())
            .await?;
        // The event log as it was.
        crate::m20261123_000005_create_throttle_events::Migration
            .up(manager)
            .await
    }
}

#[derive(DeriveIden)]
enum ThrottleCounters {
    Table,
    Bucket,
    Subject,
    WindowStart,
    Count,
}

#[derive(DeriveIden)]
enum ThrottleEvents {
    Table,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    CredentialVersion,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
}
