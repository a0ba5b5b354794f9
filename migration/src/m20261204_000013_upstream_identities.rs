//! Upstream sign-in:
//! - `identities`: upstream identities linked to accounts, unique by provider and subject
//!   (never by email), deleted with their account;
//! - `upstream_flows`: sign-ins sent to an upstream and not come back yet, by the digest of
//!   their state, bound to the digest of the browser's cookie, used up once. Their nonce and
//!   PKCE verifier are derived from the state with a key, never stored;
//! - `sessions.idp` and `authorization_codes.idp`: the provider that signed the person in,
//!   for the `idp` claim of their tokens (`NULL`: none did).

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
                    .table(Identities::Table)
                    .if_not_exists()
                    .col(string_len(Identities::Provider, 32))
                    .col(string_len(Identities::Subject, 255))
                    .col(uuid(Identities::UserId))
                    .col(string_len_null(Identities::Email, 320))
                    .col(timestamp_with_time_zone(Identities::LinkedAt))
                    .col(timestamp_with_time_zone_null(Identities::LastUsedAt))
                    .primary_key(
                        Index::create()
                            .col(Identities::Provider)
                            .col(Identities::Subject),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identities_user")
                            .from(Identities::Table, Identities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_identities_user")
                    .table(Identities::Table)
                    .col(Identities::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UpstreamFlows::Table)
                    .if_not_exists()
                    .col(string_len(UpstreamFlows::StateHash, 64).primary_key())
                    .col(string_len(UpstreamFlows::BrowserHash, 64))
                    .col(string_len(UpstreamFlows::Provider, 32))
                    .col(uuid_null(UpstreamFlows::LinkUserId))
                    .col(text(UpstreamFlows::Resume))
                    .col(timestamp_with_time_zone(UpstreamFlows::CreatedAt))
                    .col(timestamp_with_time_zone_null(UpstreamFlows::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_upstream_flows_created")
                    .table(UpstreamFlows::Table)
                    .col(UpstreamFlows::CreatedAt)
                    .to_owned(),
            )
            .await?;
        for table in [Signed::Sessions, Signed::AuthorizationCodes] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(string_len_null(Signed::Idp, 32))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Signed::AuthorizationCodes, Signed::Sessions] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Signed::Idp)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(UpstreamFlows::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Identities::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Provider,
    Subject,
    UserId,
    Email,
    LinkedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum UpstreamFlows {
    Table,
    StateHash,
    BrowserHash,
    Provider,
    LinkUserId,
    Resume,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

/// The tables whose rows remember the provider that signed the person in.
#[derive(DeriveIden, Clone, Copy)]
enum Signed {
    Sessions,
    AuthorizationCodes,
    Idp,
}
