//! Re-authentication and introspection rights:
//! - `sessions.authenticated_at`: when the person last proved who they are for the session
//!   (`auth_time`; a code-flow session's is its browser's sign-in); `NULL` in older rows,
//!   read as `created_at`;
//! - `oauth_clients.resource_server`: whether the client may introspect tokens.

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
                    .table(Sessions::Table)
                    .add_column(timestamp_with_time_zone_null(Sessions::AuthenticatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthClients::Table)
                    .add_column(boolean(OauthClients::ResourceServer).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OauthClients::Table)
                    .drop_column(OauthClients::ResourceServer)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::AuthenticatedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    AuthenticatedAt,
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    ResourceServer,
}
