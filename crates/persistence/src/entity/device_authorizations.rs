//! A row of the `device_authorizations` table: a device's request (RFC 8628).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_authorizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The SHA-256 digest of the device code; never the code.
    pub device_code_hash: String,
    /// The user code's letters, upper case, without dashes.
    pub user_code: String,
    pub client_id: String,
    /// The scopes asked for; `None` when none were.
    pub scope: Option<String>,
    /// `pending`, `approved`, `denied` or `used`.
    pub status: String,
    /// Who approved it, how they had signed in, and the account's credential version then.
    pub user_id: Option<Uuid>,
    pub amr: Option<String>,
    pub auth_time: Option<DateTimeUtc>,
    pub credential_version: Option<i64>,
    /// The scopes the approval granted.
    pub granted_scope: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub interval_secs: i64,
    pub last_polled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
