//! What a session or an authorization code grants on registered APIs (RFC 8707
//! `resource`): `sessions.resources` and `authorization_codes.resources`, a line per API,
//! its identifier and its scope names; empty for gatehouse's own API alone.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Grants::Sessions, Grants::AuthorizationCodes] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(text(Grants::Resources).default(""))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Grants::Sessions, Grants::AuthorizationCodes] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Grants::Resources)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Grants {
    Sessions,
    AuthorizationCodes,
    Resources,
}
