//! A row of the `upstream_flows` table: a sign-in sent to an upstream provider, by the
//! digest of its state.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_hash: String,
    pub browser_hash: String,
    pub provider: String,
    /// The account a link or re-authentication is for.
    pub link_user_id: Option<Uuid>,
    /// The session a re-authentication is for.
    pub reauth_session_id: Option<Uuid>,
    /// The provider was asked for a fresh sign-in.
    pub fresh: bool,
    #[sea_orm(column_type = "Text")]
    pub resume: String,
    pub created_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
