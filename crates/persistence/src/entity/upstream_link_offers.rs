//! A row of the `upstream_link_offers` table: an upstream identity waiting for the owner of
//! the account with its address to sign in and confirm the link, by its token's digest.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_link_offers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub offer_hash: String,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub user_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub resume: String,
    pub created_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
