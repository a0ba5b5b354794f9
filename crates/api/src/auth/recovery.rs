//! Recovery by email: password reset and email verification, each a request that sends a
//! single-use link and a confirmation that spends it.

use actix_web::{HttpResponse, post, web};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::shared::responses::{
    BadRequest, EmailedTokenInvalid, Overloaded, Protected, TooManyRequests, ValidationFailed,
};
use crate::shared::schemas::AcceptedResponse;
use gatehouse_http::caller::Caller;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(request_password_reset)
        .service(confirm_password_reset)
        .service(request_email_verification)
        .service(confirm_email_verification);
}

/// Asks for a password-reset email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct PasswordResetRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

/// Sets a new password with the token from a reset email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "kq3V0o7mJ0rL1nHTCZyN0n6V6Q2mQxw9-1s8YlZpG0c", "new_password": "a brand new passphrase"}))]
pub struct PasswordResetConfirm {
    /// The `token` parameter of the emailed link.
    #[schema(value_type = String, min_length = 43, max_length = 43, pattern = r"^[A-Za-z0-9_-]{43}$")]
    pub token: SecretString,
    /// 8–128 characters; not a common password and not your email.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    pub new_password: SecretString,
}

/// Confirms an email address with the token from a verification email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "kq3V0o7mJ0rL1nHTCZyN0n6V6Q2mQxw9-1s8YlZpG0c"}))]
pub struct VerifyEmailConfirm {
    /// The `token` parameter of the emailed link.
    #[schema(value_type = String, min_length = 43, max_length = 43, pattern = r"^[A-Za-z0-9_-]{43}$")]
    pub token: SecretString,
}

/// Ask for a password-reset email.
///
/// Always 202 with the same body, whether or not the address has an account: the work and
/// the email happen after the response. The emailed link is valid for 30 minutes, once.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted", body = AcceptedResponse),
        (status = 400, response = BadRequest),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
    )
)]
#[post("/auth/password-reset")]
pub async fn request_password_reset(
    caller: Caller,
    state: web::Data<AppState>,
    body: Json<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .recovery
        .request_password_reset(body.into_inner().email, &caller.0)
        .await?;
    Ok(HttpResponse::Accepted().json(AcceptedResponse {
        detail: "If an account exists for this address, an email with a reset link is on its way.",
    }))
}

/// Set a new password with the token from a reset email.
///
/// Every session of the account is revoked and a notice is emailed. This does not log in.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "auth",
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "Password changed; log in with it"),
        (status = 400, response = EmailedTokenInvalid),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Overloaded),
    )
)]
#[post("/auth/password-reset/confirm")]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<PasswordResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    state
        .recovery
        .confirm_password_reset(&body.token, body.new_password, &caller.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Email yourself a link that confirms your address (valid 24 hours, once).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "auth",
    security(("oauth2" = ["me"])),
    responses(
        (status = 202, description = "Accepted", body = AcceptedResponse),
        Protected,
        (status = 429, response = TooManyRequests),
    )
)]
#[post("/auth/verify-email")]
pub async fn request_email_verification(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state
        .recovery
        .request_email_verification(current.user)
        .await?;
    Ok(HttpResponse::Accepted().json(AcceptedResponse {
        detail: "A verification link is on its way to your address.",
    }))
}

/// Confirm your email address with the token from a verification email.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "auth",
    request_body = VerifyEmailConfirm,
    responses(
        (status = 204, description = "Address verified"),
        (status = 400, response = EmailedTokenInvalid),
        (status = 422, response = ValidationFailed),
    )
)]
#[post("/auth/verify-email/confirm")]
pub async fn confirm_email_verification(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<VerifyEmailConfirm>,
) -> Result<HttpResponse, ApiError> {
    state
        .recovery
        .confirm_email_verification(&body.token, &caller.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
