//! The bodies of your account's and the admins' user endpoints.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shared::schemas::{double_option, role_or_null_schema};

/// Changes to your own account. Changing `email` needs `current_password` and makes the
/// account unverified; `"full_name": null` clears the name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"full_name": "Ada King"}))]
pub struct UpdateMeRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub full_name: Option<Option<String>>,
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// Needed with a new `email` when the account has a password (re-authentication).
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "a brand new passphrase"}))]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// 8–128 characters; not a common password and not your email.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    pub new_password: SecretString,
}

/// Confirms the deletion of your account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple"}))]
pub struct DeleteAccountRequest {
    /// Needed when the account has a password (re-authentication).
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
}

/// What an admin may change about a user; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "admin"}))]
pub struct AdminUpdateUserRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub full_name: Option<Option<String>>,
    #[schema(schema_with = role_or_null_schema)]
    pub role: Option<String>,
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
}

/// One of your login sessions.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-9d21-7e3f-9b5c-1d2e3f4a5b6c",
    "created_at": "2026-11-23T10:00:00Z",
    "last_used_at": "2026-11-23T12:00:00Z",
    "user_agent": "Mozilla/5.0",
    "ip": "203.0.113.7",
    "current": true
}))]
pub struct SessionResponse {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// When a refresh token of this session was last exchanged.
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

impl SessionResponse {
    pub fn new(session: &gatehouse_domain::Session, current: gatehouse_domain::SessionId) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            user_agent: session.caller.user_agent.clone(),
            ip: session.caller.ip.clone(),
            current: session.id == current,
        }
    }
}
