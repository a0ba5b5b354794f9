//! Request and response bodies, with their OpenAPI schemas. Domain types never derive
//! serde or utoipa traits; conversion happens here, at the edge.

use chrono::{DateTime, Utc};
use gatehouse_domain::User;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "full_name": "Ada Lovelace"}))]
pub struct RegisterRequest {
    /// Normalized to lower case; must be unique.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8–128 characters; not a common password and not the email address.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    pub password: SecretString,
    #[schema(max_length = 200)]
    pub full_name: Option<String>,
}

/// An account, as anyone allowed to see it sees it. Never carries a password hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-7b6f-7c52-9d7e-2f1a3b4c5d6e",
    "email": "ada@example.com",
    "full_name": "Ada Lovelace",
    "role": "user",
    "is_active": true,
    "is_verified": false,
    "created_at": "2026-11-23T10:00:00Z"
}))]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub full_name: Option<String>,
    /// `user` or `admin`.
    pub role: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserResponse {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            full_name: user.full_name.as_ref().map(|n| n.as_str().to_owned()),
            role: user.role.as_str().to_owned(),
            is_active: user.is_active,
            is_verified: user.is_verified,
            created_at: user.created_at,
        }
    }
}

/// The form of `POST /api/v1/auth/token`: the password grant (RFC 6749 §4.3) or the
/// refresh grant (§6).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// `password` or `refresh_token`.
    pub grant_type: String,
    /// The account's email (password grant).
    pub username: Option<String>,
    /// The account's password (password grant).
    #[schema(format = Password)]
    pub password: Option<String>,
    /// The refresh token from the previous response (refresh grant).
    pub refresh_token: Option<String>,
    /// Space-separated scopes. Password grant: all the account's role allows when absent.
    /// Refresh grant: the session's scopes when absent; may narrow them, never widen.
    pub scope: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
    "token_type": "bearer",
    "expires_in": 900,
    "refresh_token": "kq3V0o7mJ0rL1nHTCZyN0n6V6Q2mQxw9-1s8YlZpG0c",
    "scope": "me todos:read todos:write"
}))]
pub struct TokenResponse {
    /// A JWT (`typ: at+jwt`) to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use: exchange it at the token endpoint (`grant_type=refresh_token`) for a new
    /// pair. Using it twice revokes the session.
    pub refresh_token: String,
    /// The scopes granted, space-separated.
    pub scope: String,
}

/// Health of the service.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthResponse {
    pub status: &'static str,
}

/// Lets a JSON field tell "absent" (`None`) from "null" (`Some(None)`).
pub(crate) fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A page of a list.
#[derive(Serialize, ToSchema)]
pub struct PageResponse<T: ToSchema> {
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

impl<T: ToSchema> PageResponse<T> {
    pub fn from_paged<D>(paged: gatehouse_domain::Paged<D>, map: impl Fn(&D) -> T) -> Self {
        Self {
            items: paged.items.iter().map(map).collect(),
            total: paged.total,
            limit: paged.page.limit(),
            offset: paged.page.offset(),
        }
    }
}

/// Changes to your own account. Changing `email` needs `current_password` and makes the
/// account unverified; `"full_name": null` clears the name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"full_name": "Ada King"}))]
pub struct UpdateMeRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub full_name: Option<Option<String>>,
    #[schema(format = Email)]
    pub email: Option<String>,
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
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
}

/// What an admin may change about a user; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "admin"}))]
pub struct AdminUpdateUserRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub full_name: Option<Option<String>>,
    /// `user` or `admin`.
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
            user_agent: session.client.user_agent.clone(),
            ip: session.client.ip.clone(),
            current: session.id == current,
        }
    }
}

/// Asks for a password-reset email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct PasswordResetRequest {
    #[schema(format = Email)]
    pub email: String,
}

/// Sets a new password with the token from a reset email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "Zq3v9Xc0Jt2bK7mWfQeR8sYhA1uLpN4d", "new_password": "a brand new passphrase"}))]
pub struct PasswordResetConfirm {
    /// The `token` parameter of the emailed link.
    #[schema(value_type = String)]
    pub token: SecretString,
    /// 8–128 characters; not a common password and not your email.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    pub new_password: SecretString,
}

/// Confirms an email address with the token from a verification email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "Zq3v9Xc0Jt2bK7mWfQeR8sYhA1uLpN4d"}))]
pub struct VerifyEmailConfirm {
    /// The `token` parameter of the emailed link.
    #[schema(value_type = String)]
    pub token: SecretString,
}

/// A request was accepted; what follows happens by email.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"detail": "If an account exists for this address, an email with a reset link is on its way."}))]
pub struct AcceptedResponse {
    pub detail: &'static str,
}

/// One security event of the audit trail.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-aa10-7b2c-8d3e-4f5a6b7c8d9e",
    "type": "role_changed",
    "user_id": "019a4d3e-7b6f-7c52-9d7e-2f1a3b4c5d6e",
    "actor_id": "019a4d3e-1111-7c52-9d7e-2f1a3b4c5d6e",
    "ip": null,
    "user_agent": null,
    "detail": "user -> admin",
    "created_at": "2026-11-23T10:00:00Z"
}))]
pub struct AuditEventResponse {
    pub id: Uuid,
    /// `login_succeeded`, `login_failed`, `login_throttled`, `token_refreshed`,
    /// `refresh_token_reused`, `logout`, `session_revoked`, `password_changed`,
    /// `password_reset`, `email_verified`, `role_changed`, `active_changed`, `account_deleted`,
    /// `password_check_failed`, `password_check_throttled`, `email_changed`,
    /// `reset_token_stale`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub user_id: Option<Uuid>,
    /// The admin who acted, when not the user.
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&gatehouse_domain::audit::AuditEvent> for AuditEventResponse {
    fn from(event: &gatehouse_domain::audit::AuditEvent) -> Self {
        Self {
            id: event.id.as_uuid(),
            kind: event.kind.as_str(),
            user_id: event.user_id.map(|id| id.as_uuid()),
            actor_id: event.actor_id.map(|id| id.as_uuid()),
            ip: event.client.ip.clone(),
            user_agent: event.client.user_agent.clone(),
            detail: event.detail.clone(),
            created_at: event.at,
        }
    }
}
