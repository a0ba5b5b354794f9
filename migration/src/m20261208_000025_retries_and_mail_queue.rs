//! Nothing lost when a part fails:
//! - `refresh_tokens.parent_hash`: the digest of the token whose presentation issued this
//!   one, so a refresh token retried after a lost answer finds the successor it may replace
//!   (an unused one, whose parent it is);
//! - `mail_queue`: emails waiting for delivery, each sealed (encrypted and authenticated:
//!   a queued message may carry a live token), with its delivery state (`pending` or
//!   `dead`), tries, when it is next due, and which worker holds it until when. Deleted
//!   once delivered; an account's queued mail goes with the account.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(string_len_null(RefreshTokens::ParentHash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MailQueue::Table)
                    .if_not_exists()
                    .col(uuid(MailQueue::Id).primary_key())
                    .col(string_len(MailQueue::Kind, 32))
                    .col(uuid_null(MailQueue::UserId))
                    .col(text(MailQueue::Sealed))
                    .col(string_len(MailQueue::Status, 16))
                    .col(integer(MailQueue::Attempts))
                    .col(timestamp_with_time_zone(MailQueue::NextAttemptAt))
                    .col(uuid_null(MailQueue::Claim))
                    .col(timestamp_with_time_zone_null(MailQueue::ClaimedUntil))
                    .col(text_null(MailQueue::LastError))
                    .col(timestamp_with_time_zone(MailQueue::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mail_queue_user")
                            .from(MailQueue::Table, MailQueue::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mail_queue_due")
                    .table(MailQueue::Table)
                    .col(MailQueue::Status)
                    .col(MailQueue::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailQueue::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .drop_column(RefreshTokens::ParentHash)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    ParentHash,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MailQueue {
    Table,
    Id,
    Kind,
    UserId,
    Sealed,
    Status,
    Attempts,
    NextAttemptAt,
    Claim,
    ClaimedUntil,
    LastError,
    CreatedAt,
}
