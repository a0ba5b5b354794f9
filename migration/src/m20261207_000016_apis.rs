//! Registered APIs (resource servers):
//! - `apis`: each API an operator registered, unique by its identifier (the `aud` of the
//!   tokens meant for it);
//! - `api_scopes`: its scopes, unique within it, with what each allows and the roles that
//!   may hold it (space-separated); deleted with their API.

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
                    .table(Apis::Table)
                    .if_not_exists()
                    .col(uuid(Apis::Id).primary_key())
                    .col(string_len_uniq(Apis::Identifier, 255))
                    .col(string_len(Apis::Name, 100))
                    .col(timestamp_with_time_zone(Apis::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiScopes::Table)
                    .if_not_exists()
                    .col(uuid(ApiScopes::ApiId))
                    .col(string_len(ApiScopes::Name, 64))
                    .col(string_len(ApiScopes::Description, 200))
                    .col(string_len(ApiScopes::Roles, 64))
                    .primary_key(Index::create().col(ApiScopes::ApiId).col(ApiScopes::Name))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_scopes_api")
                            .from(ApiScopes::Table, ApiScopes::ApiId)
                            .to(Apis::Table, Apis::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiScopes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Apis::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Apis {
    Table,
    Id,
    Identifier,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiScopes {
    Table,
    ApiId,
    Name,
    Description,
    Roles,
}
