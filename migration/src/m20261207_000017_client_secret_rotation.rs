//! Client secret rotation: `oauth_clients.previous_secret_hash`, the digest of the secret a
//! rotation replaced, accepted until `previous_secret_until` (`NULL`: none).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(OauthClients::Table)
                    .add_column(string_len_null(OauthClients::PreviousSecretHash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthClients::Table)
                    .add_column(timestamp_with_time_zone_null(
                        OauthClients::PreviousSecretUntil,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            OauthClients::PreviousSecretUntil,
            OauthClients::PreviousSecretHash,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OauthClients::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    PreviousSecretHash,
    PreviousSecretUntil,
}
