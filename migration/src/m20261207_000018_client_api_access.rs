//! What a client may ask for on registered APIs:
//! - `oauth_clients.client_credentials`: whether an admin let the client use the client
//!   credentials grant (tokens for itself, without a person);
//! - `client_api_access`: the registered APIs a client may ask tokens for and, per API, the
//!   scopes (space-separated); deleted with their client or their API.

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
                    .table(OauthClients::Table)
                    .add_column(boolean(OauthClients::ClientCredentials).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClientApiAccess::Table)
                    .if_not_exists()
                    .col(string_len(ClientApiAccess::ClientId, 64))
                    .col(uuid(ClientApiAccess::ApiId))
                    .col(text(ClientApiAccess::Scopes))
                    .primary_key(
                        Index::create()
                            .col(ClientApiAccess::ClientId)
                            .col(ClientApiAccess::ApiId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_client_api_access_client")
                            .from(ClientApiAccess::Table, ClientApiAccess::ClientId)
                            .to(OauthClients::Table, OauthClients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_client_api_access_api")
                            .from(ClientApiAccess::Table, ClientApiAccess::ApiId)
                            .to(Apis::Table, Apis::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Removing an API finds the clients that had it.
        manager
            .create_index(
                Index::create()
                    .name("idx_client_api_access_api")
                    .table(ClientApiAccess::Table)
                    .col(ClientApiAccess::ApiId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClientApiAccess::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthClients::Table)
                    .drop_column(OauthClients::ClientCredentials)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    ClientCredentials,
}

#[derive(DeriveIden)]
enum Apis {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ClientApiAccess {
    Table,
    ClientId,
    ApiId,
    Scopes,
}
