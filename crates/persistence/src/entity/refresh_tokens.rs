//! A row of the `refresh_tokens` table: the digest of one refresh token of a session.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub session_id: Uuid,
    pub created_at: DateTimeUtc,
    /// Set when the token was exchanged for a new one; presenting it again is a replay.
    pub rotated_at: Option<DateTimeUtc>,
    /// The digest of the token whose presentation issued this one (none for a session's
    /// first): a retry of that token may replace this one while it is unused.
    pub parent_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
