//! A row of the `client_api_access` table: the scopes of one registered API a client may
//! ask for.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_api_access")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub api_id: Uuid,
    /// Scope names, space-separated.
    pub scopes: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::apis::Entity",
        from = "Column::ApiId",
        to = "super::apis::Column::Id"
    )]
    Api,
}

impl Related<super::apis::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Api.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
