//! A row of the `authorization_codes` table: one code, by digest, and what it binds.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authorization_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: Uuid,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub session_id: Uuid,
    pub browser_session_id: Uuid,
    pub credential_version: i64,
    pub auth_time: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub redeemed_at: Option<DateTimeUtc>,
    pub replayed_at: Option<DateTimeUtc>,
    pub amr: String,
    pub idp: Option<String>,
    /// Grants for registered APIs: a line per API, its identifier and scope names.
    pub resources: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
