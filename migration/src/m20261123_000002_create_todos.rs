//! The `todos` table: each row belongs to a user and goes when its owner goes.

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
                    .table(Todos::Table)
                    .if_not_exists()
                    .col(pk_uuid(Todos::Id))
                    .col(uuid(Todos::OwnerId))
                    .col(string_len(Todos::Title, 200))
                    .col(text_null(Todos::Description))
                    .col(boolean(Todos::Done))
                    .col(timestamp_with_time_zone(Todos::CreatedAt))
                    .col(timestamp_with_time_zone(Todos::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_todos_owner")
                            .from(Todos::Table, Todos::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Listing is always per owner, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_todos_owner_created")
                    .table(Todos::Table)
                    .col(Todos::OwnerId)
                    .col(Todos::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Todos::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Todos {
    Table,
    Id,
    OwnerId,
    Title,
    Description,
    Done,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
