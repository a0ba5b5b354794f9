//! Multi-factor authentication:
//! - `mfa_credentials`: one TOTP authenticator per account, its secret sealed (encrypted),
//!   pending until `confirmed_at`, and the last time step whose code was accepted;
//! - `mfa_recovery_codes`: SHA-256 digests of recovery codes, each with `used_at`;
//! - `mfa_challenges`: sign-ins waiting for their second factor, by token digest;
//! - `sessions.amr` and `authorization_codes.amr`: how the person signed in (`pwd`, or
//!   `pwd otp`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn cascade(name: &str, from: (MfaTable, MfaColumn)) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MfaTable::MfaCredentials)
                    .if_not_exists()
                    .col(uuid(MfaColumn::UserId).primary_key())
                    .col(string_len(MfaColumn::Secret, 255))
                    .col(timestamp_with_time_zone_null(MfaColumn::ConfirmedAt))
                    .col(big_integer_null(MfaColumn::LastStep))
                    .col(timestamp_with_time_zone(MfaColumn::CreatedAt))
                    .foreign_key(&mut cascade(
                        "fk_mfa_credentials_user",
                        (MfaTable::MfaCredentials, MfaColumn::UserId),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MfaTable::MfaRecoveryCodes)
                    .if_not_exists()
                    .col(string_len(MfaColumn::CodeHash, 64).primary_key())
                    .col(uuid(MfaColumn::UserId))
                    .col(timestamp_with_time_zone_null(MfaColumn::UsedAt))
                    .col(timestamp_with_time_zone(MfaColumn::CreatedAt))
                    .foreign_key(&mut cascade(
                        "fk_mfa_recovery_codes_user",
                        (MfaTable::MfaRecoveryCodes, MfaColumn::UserId),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mfa_recovery_codes_user")
                    .table(MfaTable::MfaRecoveryCodes)
                    .col(MfaColumn::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MfaTable::MfaChallenges)
                    .if_not_exists()
                    .col(string_len(MfaColumn::TokenHash, 64).primary_key())
                    .col(uuid(MfaColumn::UserId))
                    .col(string_len(MfaColumn::Kind, 16))
                    .col(string_len(MfaColumn::Scope, 255))
                    .col(text_null(MfaColumn::ClientId))
                    .col(big_integer(MfaColumn::CredentialVersion))
                    .col(timestamp_with_time_zone(MfaColumn::ExpiresAt))
                    .col(timestamp_with_time_zone_null(MfaColumn::RedeemedAt))
                    .foreign_key(&mut cascade(
                        "fk_mfa_challenges_user",
                        (MfaTable::MfaChallenges, MfaColumn::UserId),
                    ))
                    .to_owned(),
            )
            .await?;
        for table in [MfaTable::Sessions, MfaTable::AuthorizationCodes] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(string_len(MfaColumn::Amr, 32).default("pwd"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [MfaTable::AuthorizationCodes, MfaTable::Sessions] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(MfaColumn::Amr)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            MfaTable::MfaChallenges,
            MfaTable::MfaRecoveryCodes,
            MfaTable::MfaCredentials,
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum MfaTable {
    MfaCredentials,
    MfaRecoveryCodes,
    MfaChallenges,
    Sessions,
    AuthorizationCodes,
}

#[derive(DeriveIden, Clone, Copy)]
enum MfaColumn {
    UserId,
    Secret,
    ConfirmedAt,
    LastStep,
    CreatedAt,
    CodeHash,
    UsedAt,
    TokenHash,
    Kind,
    Scope,
    ClientId,
    CredentialVersion,
    ExpiresAt,
    RedeemedAt,
    Amr,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
