//! A row of the `passkey_ceremonies` table: a passkey registration or sign-in begun, by the
//! digest of its token.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkey_ceremonies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    /// `register`, `sign_in` or `second_factor`.
    pub purpose: String,
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    /// The digest of the `mfa_token` whose second step this is.
    pub challenge_hash: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub state: String,
    pub created_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
