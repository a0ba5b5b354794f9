//! Upstream sign-in, continued:
//! - `upstream_flows.reauth_session_id`: a sign-in at an upstream begun to re-authenticate
//!   this session of the account in `link_user_id` (an account without a password proves
//!   itself again by a fresh upstream sign-in);
//! - `upstream_flows.fresh`: the provider was asked to have the person sign in again
//!   (`prompt=login`), and an answer that says it did not is refused;
//! - `upstream_link_offers`: an identity an upstream asserted whose verified address an
//!   account already has, waiting for that account's owner to sign in and confirm the link;
//!   by the digest of its token (which only the browser's cookie holds), used up once.

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
                    .table(UpstreamFlows::Table)
                    .add_column(uuid_null(UpstreamFlows::ReauthSessionId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UpstreamFlows::Table)
                    .add_column(boolean(UpstreamFlows::Fresh).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Offers::Table)
                    .if_not_exists()
                    .col(string_len(Offers::OfferHash, 64).primary_key())
                    .col(string_len(Offers::Provider, 32))
                    .col(string_len(Offers::Subject, 255))
                    .col(string_len_null(Offers::Email, 320))
                    .col(uuid(Offers::UserId))
                    .col(text(Offers::Resume))
                    .col(timestamp_with_time_zone(Offers::CreatedAt))
                    .col(timestamp_with_time_zone_null(Offers::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_upstream_link_offers_user")
                            .from(Offers::Table, Offers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_upstream_link_offers_created")
                    .table(Offers::Table)
                    .col(Offers::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Offers::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UpstreamFlows::Table)
                    .drop_column(UpstreamFlows::ReauthSessionId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UpstreamFlows::Table)
                    .drop_column(UpstreamFlows::Fresh)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum UpstreamFlows {
    Table,
    ReauthSessionId,
    Fresh,
}

#[derive(DeriveIden)]
enum Offers {
    #[sea_orm(iden = "upstream_link_offers")]
    Table,
    OfferHash,
    Provider,
    Subject,
    Email,
    UserId,
    Resume,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
