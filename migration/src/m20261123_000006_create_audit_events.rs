//! The audit trail of security events. No foreign keys: events outlive the accounts they
//! mention.

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
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(pk_uuid(AuditEvents::Id))
                    .col(string_len(AuditEvents::Kind, 40))
                    .col(uuid_null(AuditEvents::UserId))
                    .col(uuid_null(AuditEvents::ActorId))
                    .col(string_len_null(AuditEvents::Ip, 64))
                    .col(string_len_null(AuditEvents::UserAgent, 512))
                    .col(string_len_null(AuditEvents::Detail, 255))
                    .col(timestamp_with_time_zone(AuditEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_user")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::UserId)
                    .col(AuditEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_created")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Kind,
    UserId,
    ActorId,
    Ip,
    UserAgent,
    Detail,
    CreatedAt,
}
