//! `/api/v1/users/me/identities`: the upstream identities (Google, GitHub, …) linked to your
//! account, and unlinking one. Linking is a browser's errand (the account page sends it to
//! the provider).

use actix_web::{HttpResponse, delete, get, web};
use chrono::{DateTime, Utc};
use gatehouse_domain::UserId;
use gatehouse_domain::upstream::Identity;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shared::responses::{
    BadRequest, IdentityNotFound, InvalidInput, LastSignInMethod, Overloaded, Protected,
    TooManyRequests, Unauthorized, UserNotFound, WrongPassword,
};
use crate::shared::schemas::ReauthenticationRequest;
use gatehouse_http::caller::Caller;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

/// An upstream identity linked to your account.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "provider": "google",
    "subject": "110169484474386276334",
    "email": "ada@example.com",
    "linked_at": "2026-12-04T10:00:00Z",
    "last_used_at": "2026-12-04T12:00:00Z"
}))]
pub struct IdentityResponse {
    /// The provider's id, as configured (`[upstream.<id>]`).
    pub provider: String,
    /// Who the provider says you are (its `sub`, GitHub's numeric id).
    pub subject: String,
    /// The address the provider gave when it was linked.
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&Identity> for IdentityResponse {
    fn from(identity: &Identity) -> Self {
        Self {
            provider: identity.provider.to_string(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            linked_at: identity.linked_at,
            last_used_at: identity.last_used_at,
        }
    }
}

/// Your linked upstream identities, oldest first.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "Your identities", body = Vec<IdentityResponse>),
        Protected,
    )
)]
#[get("/users/me/identities")]
pub async fn list_identities(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let linked = state.upstream.identities(&current.user).await?;
    let body: Vec<IdentityResponse> = linked.iter().map(IdentityResponse::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// A user's linked upstream identities, oldest first (admins).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The user's identities", body = Vec<IdentityResponse>),
        Protected,
        (status = 404, response = UserNotFound),
        (status = 422, response = InvalidInput),
    )
)]
#[get("/users/{id}/identities")]
pub async fn user_identities(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.get(UserId::from_uuid(id.into_inner())).await?;
    let linked = state.upstream.identities(&user).await?;
    let body: Vec<IdentityResponse> = linked.iter().map(IdentityResponse::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Unlink one of your upstream identities, after re-authentication (`current_password`, or
/// for an account without a password a recent sign-in). Never the account's last way in:
/// an account without a password keeps at least one identity.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    params(
        ("provider" = String, Path, description = "The provider's id", max_length = 32, pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$"),
        ("subject" = String, Path, description = "The identity's subject at the provider", max_length = 255),
    ),
    request_body = ReauthenticationRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 404, response = IdentityNotFound),
        (status = 409, response = LastSignInMethod),
        (status = 422, response = InvalidInput),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[delete("/users/me/identities/{provider}/{subject}")]
pub async fn unlink_identity(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Json<ReauthenticationRequest>,
) -> Result<HttpResponse, ApiError> {
    let (provider, subject) = path.into_inner();
    state
        .upstream
        .unlink(
            &current.user,
            current.claims.session_id,
            body.current_password.as_ref(),
            (&provider, &subject),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
