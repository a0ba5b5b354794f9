//! Single-use tokens for password reset and email verification, stored as SHA-256 digests.

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
                    .table(ActionTokens::Table)
                    .if_not_exists()
                    .col(string_len(ActionTokens::TokenHash, 64).primary_key())
                    .col(uuid(ActionTokens::UserId))
                    .col(string_len(ActionTokens::Purpose, 32))
                    .col(string_len(ActionTokens::Email, 254))
                    .col(timestamp_with_time_zone(ActionTokens::CreatedAt))
                    .col(timestamp_with_time_zone(ActionTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ActionTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_action_tokens_user")
                            .from(ActionTokens::Table, ActionTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_action_tokens_user")
                    .table(ActionTokens::Table)
                    .col(ActionTokens::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ActionTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ActionTokens {
    Table,
    TokenHash,
    UserId,
    Purpose,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
