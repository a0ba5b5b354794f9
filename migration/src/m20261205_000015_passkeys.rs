//! Passkeys:
//! - `passkeys`: the WebAuthn credentials of accounts (what the relying party keeps of each:
//!   its public key and flags, as JSON), unique by credential id, deleted with their
//!   account, with the signature counter last seen;
//! - `passkey_ceremonies`: registrations and sign-ins begun and not finished, by the digest
//!   of their token, with the relying party's state (and, for the second step of a
//!   sign-in, the digest of its `mfa_token`); used up once.

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
                    .table(Passkeys::Table)
                    .if_not_exists()
                    .col(uuid(Passkeys::Id).primary_key())
                    .col(uuid(Passkeys::UserId))
                    .col(string_len(Passkeys::Name, 256))
                    .col(string_len(Passkeys::CredentialId, 1400).unique_key())
                    .col(text(Passkeys::Credential))
                    .col(big_integer(Passkeys::Counter))
                    .col(boolean(Passkeys::BackupEligible))
                    .col(boolean(Passkeys::BackedUp))
                    .col(timestamp_with_time_zone(Passkeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(Passkeys::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_passkeys_user")
                            .from(Passkeys::Table, Passkeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_passkeys_user")
                    .table(Passkeys::Table)
                    .col(Passkeys::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Ceremonies::Table)
                    .if_not_exists()
                    .col(string_len(Ceremonies::IdHash, 64).primary_key())
                    .col(string_len(Ceremonies::Purpose, 16))
                    .col(uuid_null(Ceremonies::UserId))
                    .col(uuid_null(Ceremonies::SessionId))
                    .col(string_len_null(Ceremonies::ChallengeHash, 64))
                    .col(text(Ceremonies::State))
                    .col(timestamp_with_time_zone(Ceremonies::CreatedAt))
                    .col(timestamp_with_time_zone_null(Ceremonies::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_passkey_ceremonies_created")
                    .table(Ceremonies::Table)
                    .col(Ceremonies::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Ceremonies::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Passkeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Passkeys {
    Table,
    Id,
    UserId,
    Name,
    CredentialId,
    Credential,
    Counter,
    BackupEligible,
    BackedUp,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Ceremonies {
    #[sea_orm(iden = "passkey_ceremonies")]
    Table,
    IdHash,
    Purpose,
    UserId,
    SessionId,
    ChallengeHash,
    State,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
