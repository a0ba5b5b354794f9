//! `/api/v1/users`: your own account (`/users/me`, scope `me`) and, for admins, everyone's
//! (scopes `users:read` / `users:write`, checked against the role stored now).

use actix_web::{HttpResponse, delete, get, patch, put, web};
use gatehouse_domain::users::{AdminChanges, ProfileChanges};
use gatehouse_domain::{Role, SessionId, User, UserFilter, UserId, ValidationErrors};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

mod dto;
mod identities;
mod tokens;

use crate::shared::query::{self, Paging};
use crate::shared::responses::{
    BadRequest, EmailTaken, InvalidInput, LastAdmin, Overloaded, Protected, SessionNotFound,
    TooManyRequests, Unauthorized, UserNotFound, ValidationFailed, WrongPassword,
};
use crate::shared::schemas::{PageResponse, ReauthenticationRequest, UserResponse};
use dto::{
    AdminUpdateUserRequest, ChangePasswordRequest, DeleteAccountRequest, SessionResponse,
    UpdateMeRequest,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        me,
        update_me,
        change_password,
        delete_me,
        list_sessions,
        revoke_session,
        revoke_all_sessions,
        identities::list_identities,
        identities::unlink_identity,
        identities::user_identities,
        tokens::list_tokens,
        tokens::create_token,
        tokens::revoke_token,
        tokens::user_tokens,
        tokens::revoke_user_token,
        list,
        get_user,
        update_user,
        delete_user,
    ),
    components(schemas(
        dto::UpdateMeRequest,
        dto::ChangePasswordRequest,
        dto::DeleteAccountRequest,
        dto::AdminUpdateUserRequest,
        dto::SessionResponse,
        identities::IdentityResponse,
        tokens::CreateTokenRequest,
        tokens::TokenResponse,
        tokens::CreatedTokenResponse,
    ))
)]
pub struct Doc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // `/users/me…` before `/users/{id}`: the first match wins.
    cfg.service(me)
        .service(update_me)
        .service(delete_me)
        .service(change_password)
        .service(list_sessions)
        .service(revoke_all_sessions)
        .service(revoke_session)
        .service(identities::list_identities)
        .service(identities::unlink_identity)
        .service(tokens::list_tokens)
        .service(tokens::create_token)
        .service(tokens::revoke_token)
        .service(list)
        .service(identities::user_identities)
        .service(tokens::user_tokens)
        .service(tokens::revoke_user_token)
        .service(get_user)
        .service(update_user)
        .service(delete_user);
}

/// The account the bearer token belongs to.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "The current user", body = UserResponse),
        Protected,
    )
)]
#[get("/users/me")]
pub async fn me(current: CurrentUser<scopes::Me>) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::from(&current.user))
}

/// Change your name or email. A new email needs `current_password` and clears `is_verified`.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = UpdateMeRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "Your updated account", body = UserResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 409, response = EmailTaken),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
    )
)]
#[patch("/users/me")]
pub async fn update_me(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<UpdateMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = state
        .users
        .update_profile(
            &current.user,
            current.claims.session_id,
            ProfileChanges {
                full_name: body.full_name,
                email: body.email,
                current_password: body.current_password,
            },
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(&user)))
}

/// Change your password. Every access token issued before the change stops working.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = ChangePasswordRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 204, description = "Changed; log in again with the new password"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[put("/users/me/password")]
pub async fn change_password(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    state
        .users
        .change_password(
            &current.user,
            current.claims.session_id,
            &body.current_password,
            body.new_password,
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Delete your account and everything in it.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = DeleteAccountRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 409, response = LastAdmin),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
    )
)]
#[delete("/users/me")]
pub async fn delete_me(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<DeleteAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .users
        .delete_account(
            &current.user,
            current.claims.session_id,
            body.current_password.as_ref(),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Your live sessions, newest first; `current` marks the one this token belongs to.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "Your sessions", body = Vec<SessionResponse>),
        Protected,
    )
)]
#[get("/users/me/sessions")]
pub async fn list_sessions(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sessions = state.users.sessions(&current.user).await?;
    let body: Vec<_> = sessions
        .iter()
        .map(|session| SessionResponse::new(session, current.claims.session_id))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Revoke one of your sessions: its refresh token and access tokens stop working at once.
/// Ending another session than this token's needs re-authentication (`current_password`);
/// ending this one takes `{}`.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    params(("id" = Uuid, Path, description = "The session's id")),
    request_body = ReauthenticationRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 404, response = SessionNotFound),
        (status = 422, response = InvalidInput),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[delete("/users/me/sessions/{id}")]
pub async fn revoke_session(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<ReauthenticationRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .users
        .revoke_session(
            &current.user,
            current.claims.session_id,
            SessionId::from_uuid(id.into_inner()),
            body.current_password.as_ref(),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log out everywhere: revoke every one of your sessions, this one included, after
/// re-authentication (`current_password`).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = ReauthenticationRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 204, description = "Every session revoked"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[delete("/users/me/sessions")]
pub async fn revoke_all_sessions(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ReauthenticationRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .users
        .revoke_all_sessions(
            &current.user,
            current.claims.session_id,
            body.current_password.as_ref(),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Filters of `GET /api/v1/users` (paging is [`Paging`]).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Case-insensitive text to find in the email or the full name.
    #[param(max_length = 254, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    q: Option<String>,
    #[param(schema_with = crate::shared::schemas::role_schema)]
    role: Option<String>,
    #[param(value_type = Option<bool>)]
    is_active: Option<String>,
}

/// All users, oldest first (admins).
#[utoipa::path(
    operation_id = "list_users",
    context_path = "/api/v1",
    tag = "admin",
    params(Paging, UserListQuery),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "A page of users", body = PageResponse<UserResponse>),
        Protected,
        (status = 422, response = InvalidInput),
    )
)]
#[get("/users")]
pub async fn list(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
    params: web::Query<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::new();
    let role = errors.check("role", params.role.as_deref().map(Role::parse).transpose());
    let is_active = query::parse_bool(&mut errors, "is_active", params.is_active.as_deref());
    let page = paging.page(&mut errors);
    if params.q.as_ref().is_some_and(|q| q.chars().count() > 254) {
        errors.add("q", "q must be at most 254 characters");
    }
    if params
        .q
        .as_ref()
        .is_some_and(|q| q.chars().any(char::is_control))
    {
        errors.add("q", "q must not contain control characters");
    }
    let (Some(role), Some(page)) = (role, page.filter(|_| errors.is_empty())) else {
        return Err(errors.into());
    };
    let filter = UserFilter {
        query: params.q.clone(),
        role,
        is_active,
    };
    let paged = state.users.list(filter, page).await?;
    let ids: Vec<UserId> = paged.items.iter().map(|user| user.id).collect();
    let with_mfa = state.mfa.enabled_among(&ids).await?;
    Ok(
        HttpResponse::Ok().json(PageResponse::from_paged(paged, |user| {
            UserResponse::from(user).with_mfa(with_mfa.contains(&user.id))
        })),
    )
}

/// One user (admins).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        Protected,
        (status = 404, response = UserNotFound),
        (status = 422, response = InvalidInput),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.get(UserId::from_uuid(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(admin_view(&state, &user).await?))
}

/// Change a user's name, role, active or verified flag (admins). A deactivated user can no
/// longer log in, and their tokens stop working at once. An admin's own role and activation
/// are not changed here (403 `own_account`).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = AdminUpdateUserRequest,
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 200, description = "The changed user", body = UserResponse),
        (status = 400, response = BadRequest),
        Protected,
        (status = 404, response = UserNotFound),
        (status = 409, response = LastAdmin),
        (status = 422, response = ValidationFailed),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<AdminUpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    let role = errors.check("role", body.role.as_deref().map(Role::parse).transpose());
    let Some(role) = role else {
        return Err(errors.into());
    };
    let user = state
        .users
        .admin_update(
            &admin.user,
            UserId::from_uuid(id.into_inner()),
            AdminChanges {
                full_name: body.full_name,
                role,
                is_active: body.is_active,
                is_verified: body.is_verified,
            },
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::Ok().json(admin_view(&state, &user).await?))
}

/// A user as admins see them: with whether they have MFA.
async fn admin_view(state: &AppState, user: &User) -> Result<UserResponse, ApiError> {
    let enabled = state.mfa.status(user.id).await?.enabled;
    Ok(UserResponse::from(user).with_mfa(enabled))
}

/// Delete a user and their data (admins). An admin's own account is deleted through
/// `DELETE /api/v1/users/me`, which asks for the password (403 `own_account` here).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 204, description = "Deleted"),
        Protected,
        (status = 404, response = UserNotFound),
        (status = 409, response = LastAdmin),
        (status = 422, response = InvalidInput),
    )
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .users
        .admin_delete(&admin.user, UserId::from_uuid(id.into_inner()), &caller.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
