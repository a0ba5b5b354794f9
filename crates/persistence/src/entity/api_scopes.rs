//! A row of the `api_scopes` table: one scope of a registered API.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_scopes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub api_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub description: String,
    /// The roles that may hold it, space-separated.
    pub roles: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
