//! The device authorization grant (RFC 8628):
//! - `oauth_clients.device_code`: whether an admin let the client use it;
//! - `device_authorizations`: a device's request, found by the digest of its device code
//!   (unique) or by its user code (unique, the letters alone, upper case), with where it
//!   stands (`pending`, `approved`, `denied`, `used`), who approved it and how they had
//!   signed in, and the polls (the last one and the interval now). Deleted once expired.

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
                    .add_column(boolean(OauthClients::DeviceCode).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeviceAuthorizations::Table)
                    .if_not_exists()
                    .col(uuid(DeviceAuthorizations::Id).primary_key())
                    .col(string_len_uniq(DeviceAuthorizations::DeviceCodeHash, 64))
                    .col(string_len_uniq(DeviceAuthorizations::UserCode, 8))
                    .col(string_len(DeviceAuthorizations::ClientId, 64))
                    .col(text_null(DeviceAuthorizations::Scope))
                    .col(string_len(DeviceAuthorizations::Status, 16))
                    .col(uuid_null(DeviceAuthorizations::UserId))
                    .col(string_len_null(DeviceAuthorizations::Amr, 32))
                    .col(timestamp_with_time_zone_null(
                        DeviceAuthorizations::AuthTime,
                    ))
                    .col(big_integer_null(DeviceAuthorizations::CredentialVersion))
                    .col(text_null(DeviceAuthorizations::GrantedScope))
                    .col(timestamp_with_time_zone(DeviceAuthorizations::CreatedAt))
                    .col(timestamp_with_time_zone(DeviceAuthorizations::ExpiresAt))
                    .col(big_integer(DeviceAuthorizations::IntervalSecs))
                    .col(timestamp_with_time_zone_null(
                        DeviceAuthorizations::LastPolledAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_device_authorizations_client")
                            .from(DeviceAuthorizations::Table, DeviceAuthorizations::ClientId)
                            .to(OauthClients::Table, OauthClients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceAuthorizations::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthClients::Table)
                    .drop_column(OauthClients::DeviceCode)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    DeviceCode,
}

#[derive(DeriveIden)]
enum DeviceAuthorizations {
    Table,
    Id,
    DeviceCodeHash,
    UserCode,
    ClientId,
    Scope,
    Status,
    UserId,
    Amr,
    AuthTime,
    CredentialVersion,
    GrantedScope,
    CreatedAt,
    ExpiresAt,
    IntervalSecs,
    LastPolledAt,
}
