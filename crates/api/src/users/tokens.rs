//! Personal access tokens: `/users/me/tokens` for your own (scope `me`; making one needs
//! re-authentication), `/users/{id}/tokens` for admins.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use gatehouse_domain::personal::{Expiry, NewPersonalToken, PersonalToken};
use gatehouse_domain::{SessionId, UserId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shared::responses::{
    BadRequest, Overloaded, PersonalTokenNotFound, Protected, TooManyRequests, Unauthorized,
    UserNotFound, ValidationFailed, WrongPassword,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

/// A token to make. Its scopes are among those you hold (on gatehouse's API, or on the
/// registered API named by `resource`); none named: all of them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "backup script", "scope": "todos:read", "expires_in_days": 30,
    "current_password": "correct horse battery staple"}))]
pub struct CreateTokenRequest {
    /// What you call it: 1–100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    /// Space-separated scopes; none: every scope you hold there.
    #[schema(max_length = 1000)]
    pub scope: Option<String>,
    /// A registered API's identifier; none: gatehouse's own API.
    #[schema(max_length = 255)]
    pub resource: Option<String>,
    /// Days until it expires, up to the server's maximum (365 unless configured);
    /// absent: the server's default (30); `null`: never, where the server allows it.
    #[serde(default, deserialize_with = "whole_days_or_null")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub expires_in_days: Option<Option<i64>>,
    /// Needed when the account has a password (re-authentication).
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
}

/// A whole number as JSON Schema reads an integer (`30` or `30.0`), or `null`.
fn whole_days_or_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<i64>>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(Some(None));
    };
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
            .map(|f| f as i64)
    });
    whole
        .map(|days| Some(Some(days)))
        .ok_or_else(|| serde::de::Error::custom("must be a whole number of days, or null"))
}

/// A personal access token, as listed (never its secret).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-9d21-7e3f-9b5c-1d2e3f4a5b6c", "name": "backup script",
    "scope": "todos:read", "resource": null,
    "created_at": "2026-12-08T10:00:00Z", "expires_at": "2027-01-07T10:00:00Z",
    "last_used_at": "2026-12-08T11:00:00Z", "last_ip": "203.0.113.7"
}))]
pub struct TokenResponse {
    pub id: Uuid,
    pub name: String,
    /// Its scopes, space-separated, on its API.
    pub scope: String,
    /// The registered API it is for; `null`: gatehouse's own API.
    pub resource: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `null`: it never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used, to the minute; `null`: never.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Where from it was last used.
    pub last_ip: Option<String>,
}

impl From<&PersonalToken> for TokenResponse {
    fn from(token: &PersonalToken) -> Self {
        Self {
            id: token.id().as_uuid(),
            name: token.name.clone(),
            scope: token.scope(),
            resource: token.audience().map(|api| api.as_str().to_owned()),
            created_at: token.session.created_at,
            expires_at: token.expires_at(),
            last_used_at: token.used_at,
            last_ip: token.used_ip.clone(),
        }
    }
}

/// A new token, with its secret: shown this once, stored only as a digest.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-9d21-7e3f-9b5c-1d2e3f4a5b6c", "name": "backup script",
    "scope": "todos:read", "resource": null,
    "created_at": "2026-12-08T10:00:00Z", "expires_at": "2027-01-07T10:00:00Z",
    "last_used_at": null, "last_ip": null,
    "token": "gatehouse_pat_Jm9v4f0K3sYxq1H2b7WcT8eL5nR6uA0dPzQyXgVhC4k"
}))]
pub struct CreatedTokenResponse {
    #[serde(flatten)]
    pub token: TokenResponse,
    /// Send it as `Authorization: Bearer <token>`. It matches
    /// `gatehouse_pat_[A-Za-z0-9_-]{43}`, so secret scanners can find it.
    #[schema(pattern = r"^gatehouse_pat_[A-Za-z0-9_-]{43}$")]
    #[serde(rename = "token")]
    pub secret: String,
}

/// Your personal access tokens that still work, newest first.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "Your tokens", body = Vec<TokenResponse>),
        Protected,
    )
)]
#[get("/users/me/tokens")]
pub async fn list_tokens(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tokens = state.personal.list(&current.user).await?;
    let body: Vec<TokenResponse> = tokens.iter().map(TokenResponse::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Make a personal access token, after re-authentication (`current_password`, or for an
/// account without a password a recent sign-in). Not with a personal access token.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = CreateTokenRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 201, description = "The token, shown this once", body = CreatedTokenResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[post("/users/me/tokens")]
pub async fn create_token(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = NewPersonalToken {
        name: body.name,
        scope: body.scope,
        resource: body.resource,
        expiry: body.expires_in_days.map(|days| match days {
            Some(days) => Expiry::Days(days),
            None => Expiry::Never,
        }),
    };
    let (secret, token) = state
        .personal
        .create(
            &current.user,
            current.claims.session_id,
            body.current_password.as_ref(),
            input,
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::Created().json(CreatedTokenResponse {
        token: TokenResponse::from(&token),
        secret: secret.expose_secret().to_owned(),
    }))
}

/// Revoke one of your personal access tokens: it stops working at once, everywhere.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    params(("id" = Uuid, Path, description = "The token's id")),
    security(("oauth2" = ["me"])),
    responses(
        (status = 204, description = "Revoked"),
        Protected,
        (status = 404, response = PersonalTokenNotFound),
    )
)]
#[delete("/users/me/tokens/{id}")]
pub async fn revoke_token(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = SessionId::from_uuid(id.into_inner());
    state
        .personal
        .revoke(current.user.id, id, None, &caller.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's personal access tokens that still work, newest first (admins).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The user's tokens", body = Vec<TokenResponse>),
        Protected,
        (status = 404, response = UserNotFound),
    )
)]
#[get("/users/{id}/tokens")]
pub async fn user_tokens(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.get(UserId::from_uuid(id.into_inner())).await?;
    let tokens = state.personal.list(&user).await?;
    let body: Vec<TokenResponse> = tokens.iter().map(TokenResponse::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Revoke a user's personal access token (admins): it stops working at once, everywhere.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("token_id" = Uuid, Path, description = "The token's id"),
    ),
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 204, description = "Revoked"),
        Protected,
        (status = 404, response = PersonalTokenNotFound),
    )
)]
#[delete("/users/{id}/tokens/{token_id}")]
pub async fn revoke_user_token(
    admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (user, token) = path.into_inner();
    state
        .personal
        .revoke(
            UserId::from_uuid(user),
            SessionId::from_uuid(token),
            Some(admin.user.id),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
