//! The `users` table, with a unique index on the normalized email.

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
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_uuid(Users::Id))
                    .col(string_len(Users::Email, 254))
                    .col(string_len_null(Users::FullName, 200))
                    .col(string_len(Users::Role, 16))
                    .col(boolean(Users::IsActive))
                    .col(boolean(Users::IsVerified))
                    .col(text(Users::PasswordHash))
                    .col(timestamp_with_time_zone(Users::PasswordChangedAt))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The email is stored normalized (trimmed, lower-cased) by the domain, so a plain
        // unique index catches case variants on both databases.
        manager
            .create_index(
                Index::create()
                    .name("ux_users_email")
                    .table(Users::Table)
                    .col(Users::Email)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    FullName,
    Role,
    IsActive,
    IsVerified,
    PasswordHash,
    PasswordChangedAt,
    CreatedAt,
    UpdatedAt,
}
