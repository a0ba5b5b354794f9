//! A row of the `sessions` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub scope: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: DateTimeUtc,
    pub idle_expires_at: DateTimeUtc,
    pub absolute_expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub credential_version: i64,
    pub client_id: Option<String>,
    /// `api` or `browser`.
    pub kind: String,
    /// A browser session's cookie digest, or a personal access token's digest; never a
    /// refresh token.
    pub browser_token_hash: Option<String>,
    /// How the person signed in: `pwd` or `pwd otp`.
    pub amr: String,
    pub idp: Option<String>,
    /// When the person last proved who they are (`auth_time`); `None` in rows written
    /// before it was kept, which mean `created_at`.
    pub authenticated_at: Option<DateTimeUtc>,
    /// Grants for registered APIs: a line per API, its identifier and scope names.
    pub resources: String,
    /// A personal access token's name.
    pub name: Option<String>,
    /// When a personal access token was last used (recorded at most once a minute).
    pub used_at: Option<DateTimeUtc>,
    /// Where from a personal access token was last used.
    pub used_ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
