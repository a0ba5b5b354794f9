//! `/api/v1/users/me/mfa`: your TOTP authenticator (enrol, confirm, disable, new recovery
//! codes, status) and, for admins, `/api/v1/users/{id}/mfa` (status, reset).

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use gatehouse_domain::UserId;
use gatehouse_domain::mfa::{Factor, MfaStatus};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shared::responses::{
    BadRequest, InvalidInput, MfaAlreadyEnabled, MfaNotEnabled, MfaRefused, Overloaded, Protected,
    TooManyRequests, Unauthorized, UserNotFound, ValidationFailed, WrongPassword,
};
use crate::shared::schemas::ReauthenticationRequest;
use gatehouse_http::caller::Caller;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(own_status, start, confirm, disable, regenerate, user_status, reset),
    components(schemas(
        MfaStatusResponse,
        EnrolmentResponse,
        ConfirmMfaRequest,
        MfaChangeRequest,
        WithOtp,
        WithRecoveryCode,
        RecoveryCodesResponse,
    ))
)]
pub struct Doc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // `/users/me/mfa…` before `/users/{id}/mfa`: the first match wins.
    cfg.service(own_status)
        .service(start)
        .service(confirm)
        .service(disable)
        .service(regenerate)
        .service(user_status)
        .service(reset);
}

/// Whether an account has MFA.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"enabled": true, "enrolled_at": "2026-12-01T10:00:00Z", "recovery_codes_left": 9}))]
pub struct MfaStatusResponse {
    pub enabled: bool,
    /// When the authenticator was confirmed; absent without MFA.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
}

impl From<MfaStatus> for MfaStatusResponse {
    fn from(status: MfaStatus) -> Self {
        Self {
            enabled: status.enabled,
            enrolled_at: status.enrolled_at,
            recovery_codes_left: status.recovery_codes_left,
        }
    }
}

/// A new authenticator to add to an app: scan `qr_svg` or type `secret`. Shown once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauth_uri": "otpauth://totp/gatehouse:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=gatehouse",
    "qr_svg": "<svg xmlns=\"http://www.w3.org/2000/svg\" …</svg>"
}))]
pub struct EnrolmentResponse {
    /// The secret in base32 (RFC 4648), for typing in by hand.
    pub secret: String,
    /// The `otpauth://totp/…` URI (SHA-1, 6 digits, 30 s) the QR code carries.
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// A code from the authenticator, confirming enrolment (`dto::patterns::ONE_TIME_CODE`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct ConfirmMfaRequest {
    /// The 6-digit code the app shows now.
    #[schema(pattern = r"^[0-9]{6}$")]
    pub code: String,
}

/// Re-authentication and a second factor confirming a change to MFA: exactly one of `otp`
/// and `recovery_code`, each body one shape or the other.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(example = json!({"current_password": "correct horse battery staple", "otp": "123456"}))]
pub enum MfaChangeRequest {
    Otp(WithOtp),
    RecoveryCode(WithRecoveryCode),
}

impl MfaChangeRequest {
    fn into_parts(self) -> (Option<SecretString>, Factor) {
        match self {
            MfaChangeRequest::Otp(body) => (body.current_password, Factor::Otp(body.otp)),
            MfaChangeRequest::RecoveryCode(body) => (
                body.current_password,
                Factor::RecoveryCode(SecretString::from(body.recovery_code)),
            ),
        }
    }
}

/// The current password (when the account has one) and a code from the authenticator
/// (`dto::patterns::ONE_TIME_CODE`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "otp": "123456"}))]
pub struct WithOtp {
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
    /// A 6-digit code from the authenticator.
    #[schema(pattern = r"^[0-9]{6}$")]
    pub otp: String,
}

/// The current password (when the account has one) and a recovery code
/// (`dto::patterns::RECOVERY_CODE`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "recovery_code": "k7qm-2xvd-9fp4-hw3a"}))]
pub struct WithRecoveryCode {
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
    /// One of the recovery codes (it is used up).
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9 -]{0,63}$")]
    pub recovery_code: String,
}

/// Recovery codes, each good for one sign-in without the authenticator. Shown once: keep
/// them somewhere safe.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"recovery_codes": ["k7qm-2xvd-9fp4-hw3a", "…"]}))]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

impl RecoveryCodesResponse {
    pub fn new(codes: &[SecretString]) -> Self {
        Self {
            recovery_codes: codes
                .iter()
                .map(|code| code.expose_secret().to_owned())
                .collect(),
        }
    }
}

/// Your MFA: whether it is on, and how many recovery codes are left.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "Your MFA", body = MfaStatusResponse),
        Protected,
    )
)]
#[get("/users/me/mfa")]
pub async fn own_status(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let status = state.mfa.status(current.user.id).await?;
    Ok(HttpResponse::Ok().json(MfaStatusResponse::from(status)))
}

/// Start enrolling an authenticator (TOTP), after re-authentication (`current_password`):
/// a new secret, its `otpauth://` URI and a QR code. MFA is on only once
/// `/users/me/mfa/totp/confirm` gets a valid code from it; starting again replaces a
/// pending secret.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = ReauthenticationRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "The new secret, shown once", body = EnrolmentResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 409, response = MfaAlreadyEnabled),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[post("/users/me/mfa/totp")]
pub async fn start(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ReauthenticationRequest>,
) -> Result<HttpResponse, ApiError> {
    let enrolment = state
        .mfa
        .start(
            &current.user,
            current.claims.session_id,
            body.current_password.as_ref(),
            &caller.0,
        )
        .await?;
    let uri = enrolment.uri.expose_secret();
    Ok(HttpResponse::Ok().json(EnrolmentResponse {
        secret: enrolment.secret.expose_secret().to_owned(),
        otpauth_uri: uri.to_owned(),
        qr_svg: gatehouse_http::qr::qr_svg(uri),
    }))
}

/// Confirm enrolment with a code from the new authenticator: MFA is on from now, every
/// other session of the account ends (this token's stays), and the answer holds 10
/// recovery codes, shown this once. Wrong codes count towards the same limits as wrong
/// passwords.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = ConfirmMfaRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "MFA is on; the recovery codes, shown once", body = RecoveryCodesResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = MfaRefused),
        (status = 409, response = MfaNotEnabled),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
    )
)]
#[post("/users/me/mfa/totp/confirm")]
pub async fn confirm(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ConfirmMfaRequest>,
) -> Result<HttpResponse, ApiError> {
    let codes = state
        .mfa
        .confirm(
            &current.user,
            current.claims.session_id,
            &body.into_inner().code,
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse::new(&codes)))
}

/// Turn MFA off, with your current password and a code (or a recovery code).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = MfaChangeRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 204, description = "MFA is off"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = MfaRefused),
        (status = 409, response = MfaNotEnabled),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[delete("/users/me/mfa")]
pub async fn disable(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<MfaChangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let (password, factor) = body.into_inner().into_parts();
    state
        .mfa
        .disable(
            &current.user,
            current.claims.session_id,
            password.as_ref(),
            Some(factor),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replace your recovery codes, with your current password and a code; the new ones are
/// shown this once, the old ones stop working, and every other session of the account
/// ends.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = MfaChangeRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "The new recovery codes, shown once", body = RecoveryCodesResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = MfaRefused),
        (status = 409, response = MfaNotEnabled),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[post("/users/me/mfa/recovery-codes")]
pub async fn regenerate(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<MfaChangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let (password, factor) = body.into_inner().into_parts();
    let codes = state
        .mfa
        .regenerate(
            &current.user,
            current.claims.session_id,
            password.as_ref(),
            Some(factor),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse::new(&codes)))
}

/// A user's MFA (admins).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The user's MFA", body = MfaStatusResponse),
        Protected,
        (status = 404, response = UserNotFound),
        (status = 422, response = InvalidInput),
    )
)]
#[get("/users/{id}/mfa")]
pub async fn user_status(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.get(UserId::from_uuid(id.into_inner())).await?;
    let status = state.mfa.status(user.id).await?;
    Ok(HttpResponse::Ok().json(MfaStatusResponse::from(status)))
}

/// Remove a user's MFA (admins), when they lost both the authenticator and the recovery
/// codes: they sign in with the password alone until they enrol again.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 204, description = "The user has no MFA now"),
        Protected,
        (status = 404, response = UserNotFound),
        (status = 422, response = InvalidInput),
    )
)]
#[delete("/users/{id}/mfa")]
pub async fn reset(
    admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .mfa
        .reset(&admin.user, UserId::from_uuid(id.into_inner()), &caller.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
