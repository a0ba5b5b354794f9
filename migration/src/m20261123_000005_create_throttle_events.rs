//! Counted events for throttling (failed logins, registrations, reset requests), shared by
//! every instance through the database.

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
                    .table(ThrottleEvents::Table)
                    .if_not_exists()
                    .col(pk_uuid(ThrottleEvents::Id))
                    .col(string_len(ThrottleEvents::Bucket, 32))
                    .col(string_len(ThrottleEvents::Subject, 254))
                    .col(timestamp_with_time_zone(ThrottleEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_throttle_events_lookup")
                    .table(ThrottleEvents::Table)
                    .col(ThrottleEvents::Bucket)
                    .col(ThrottleEvents::Subject)
                    .col(ThrottleEvents::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ThrottleEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ThrottleEvents {
    Table,
    Id,
    Bucket,
    Subject,
    CreatedAt,
}
