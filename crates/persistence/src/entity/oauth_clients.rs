//! A row of the `oauth_clients` table: a registered client.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// The SHA-256 digest of a confidential client's secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// The digest of the secret a rotation replaced, accepted until `previous_secret_until`.
    pub previous_secret_hash: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    /// Newline-separated.
    pub redirect_uris: String,
    /// Newline-separated.
    pub post_logout_redirect_uris: String,
    pub first_party: bool,
    /// May introspect tokens.
    pub resource_server: bool,
    /// May use the client credentials grant.
    pub client_credentials: bool,
    /// May use the device authorization grant.
    pub device_code: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
