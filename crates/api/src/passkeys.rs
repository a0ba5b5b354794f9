//! Passkeys: `/api/v1/users/me/passkeys` (register one in two steps, list, rename, remove),
//! admins' view of a user's (`/api/v1/users/{id}/passkeys`), and the first step of a
//! sign-in with one (`/api/v1/auth/passkey`; the token endpoint finishes it).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use gatehouse_domain::UserId;
use gatehouse_domain::passkeys::{Begun, CeremonyResponse, Passkey, PasskeyId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shared::responses::{
    BadRequest, InvalidInput, LastSignInMethod, Overloaded, PasskeyConflict, PasskeyNotFound,
    PasskeyRejected, Protected, TooManyRequests, Unauthorized, UserNotFound, WrongPassword,
};
use crate::shared::schemas::ReauthenticationRequest;
use gatehouse_http::caller::Caller;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        begin_sign_in,
        begin_second_factor,
        list_passkeys,
        begin_registration,
        finish_registration,
        rename_passkey,
        remove_passkey,
        user_passkeys,
        remove_user_passkey,
    ),
    components(schemas(
        PasskeyResponse,
        CeremonyResponseBody,
        SecondFactorRequest,
        FinishRegistrationRequest,
        RenamePasskeyRequest,
    ))
)]
pub struct Doc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Yours (`/users/me/…`) before a user's (`/users/{id}/…`): the first match wins.
    cfg.service(begin_sign_in)
        .service(begin_second_factor)
        .service(list_passkeys)
        .service(begin_registration)
        .service(finish_registration)
        .service(rename_passkey)
        .service(remove_passkey)
        .service(user_passkeys)
        .service(remove_user_passkey);
}

/// A passkey of your account.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a3a0-8f2c-7c3e-9a51-3c2f5e8b1d47",
    "name": "Work laptop",
    "created_at": "2026-12-05T10:00:00Z",
    "last_used_at": "2026-12-05T12:00:00Z",
    "backup_eligible": true,
    "backed_up": true
}))]
pub struct PasskeyResponse {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The passkey may be synced to other devices (a password manager, a cloud account).
    pub backup_eligible: bool,
    /// It is synced (backed up) now.
    pub backed_up: bool,
}

impl From<&Passkey> for PasskeyResponse {
    fn from(passkey: &Passkey) -> Self {
        Self {
            id: passkey.id.as_uuid(),
            name: passkey.name.clone(),
            created_at: passkey.created_at,
            last_used_at: passkey.last_used_at,
            backup_eligible: passkey.backup_eligible,
            backed_up: passkey.backed_up,
        }
    }
}

/// A ceremony begun: pass `options` to the browser (`navigator.credentials.create` to
/// register, `.get` to sign in, after decoding its base64url values), then send the answer
/// with `ceremony` within 5 minutes. A ceremony is finished once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "ceremony": "b7V3k1x0v2H4Qm9rT6pW8sZ1yA3cE5gJ7lN9oR2uX4w",
    "options": {"publicKey": {"challenge": "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c", "rpId": "auth.example.com",
        "allowCredentials": [], "userVerification": "required", "timeout": 300000}}
}))]
pub struct CeremonyResponseBody {
    pub ceremony: String,
    /// The WebAuthn options (`PublicKeyCredentialCreationOptions` or
    /// `PublicKeyCredentialRequestOptions` under `publicKey`), binary values in base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

impl TryFrom<Begun> for CeremonyResponseBody {
    type Error = ApiError;

    fn try_from(begun: Begun) -> Result<Self, ApiError> {
        Ok(Self {
            ceremony: begun.ceremony.expose_secret().to_owned(),
            options: serde_json::from_str(begun.options.as_str()).map_err(ApiError::internal)?,
        })
    }
}

/// The second step of a registration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "ceremony": "b7V3k1x0v2H4Qm9rT6pW8sZ1yA3cE5gJ7lN9oR2uX4w",
    "name": "Work laptop",
    "credential": {"id": "…", "rawId": "…", "type": "public-key",
        "response": {"attestationObject": "…", "clientDataJSON": "…"}}
}))]
pub struct FinishRegistrationRequest {
    /// The `ceremony` the first step returned.
    #[schema(pattern = r"^[A-Za-z0-9_-]{43}$")]
    pub ceremony: String,
    /// What to call it: 1–64 characters, one line, not blank; stored trimmed.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    /// What `navigator.credentials.create` returned, in JSON (binary values in base64url).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// A new name for a passkey.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Phone"}))]
pub struct RenamePasskeyRequest {
    /// 1–64 characters, one line, not blank; stored trimmed.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
}

/// Your passkeys, oldest first.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "Your passkeys", body = Vec<PasskeyResponse>),
        Protected,
    )
)]
#[get("/users/me/passkeys")]
pub async fn list_passkeys(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let passkeys = state.passkeys.list(&current.user).await?;
    let body: Vec<PasskeyResponse> = passkeys.iter().map(PasskeyResponse::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Begin registering a passkey, after re-authentication (`current_password`, or for an
/// account without a password a recent sign-in). The options ask for a discoverable
/// credential with user verification, exclude your passkeys, and want no attestation.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = ReauthenticationRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "The ceremony and the browser's options", body = CeremonyResponseBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 409, response = PasskeyConflict),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[post("/users/me/passkeys/registration/begin")]
pub async fn begin_registration(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ReauthenticationRequest>,
) -> Result<HttpResponse, ApiError> {
    let begun = state
        .passkeys
        .begin_registration(
            &current.user,
            current.claims.session_id,
            body.current_password.as_ref(),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::Ok().json(CeremonyResponseBody::try_from(begun)?))
}

/// Finish registering a passkey: the authenticator's answer to the options of the first
/// step, from the same session.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    request_body = FinishRegistrationRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 201, description = "The passkey", body = PasskeyResponse),
        (status = 400, response = PasskeyRejected),
        (status = 401, response = Unauthorized),
        (status = 409, response = PasskeyConflict),
        (status = 422, response = InvalidInput),
    )
)]
#[post("/users/me/passkeys/registration/finish")]
pub async fn finish_registration(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<FinishRegistrationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let ceremony = SecretString::from(body.ceremony);
    let passkey = state
        .passkeys
        .finish_registration(
            &current.user,
            current.claims.session_id,
            (&ceremony, &body.name),
            &CeremonyResponse::new(body.credential.to_string()),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::Created().json(PasskeyResponse::from(&passkey)))
}

/// Rename one of your passkeys.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    params(("id" = Uuid, Path, description = "The passkey's id")),
    request_body = RenamePasskeyRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "The passkey", body = PasskeyResponse),
        Protected,
        (status = 404, response = PasskeyNotFound),
        (status = 422, response = InvalidInput),
    )
)]
#[patch("/users/me/passkeys/{id}")]
pub async fn rename_passkey(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<RenamePasskeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let passkey = state
        .passkeys
        .rename(
            &current.user,
            PasskeyId::from_uuid(id.into_inner()),
            &body.name,
        )
        .await?;
    Ok(HttpResponse::Ok().json(PasskeyResponse::from(&passkey)))
}

/// Remove one of your passkeys, after re-authentication. Never the account's last way in.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    params(("id" = Uuid, Path, description = "The passkey's id")),
    request_body = ReauthenticationRequest,
    security(("oauth2" = ["me"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = WrongPassword),
        (status = 404, response = PasskeyNotFound),
        (status = 409, response = LastSignInMethod),
        (status = 422, response = InvalidInput),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[delete("/users/me/passkeys/{id}")]
pub async fn remove_passkey(
    current: CurrentUser<scopes::Me>,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<ReauthenticationRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .passkeys
        .remove(
            &current.user,
            current.claims.session_id,
            body.current_password.as_ref(),
            PasskeyId::from_uuid(id.into_inner()),
            &caller.0,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's passkeys, oldest first (admins).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "The user's passkeys", body = Vec<PasskeyResponse>),
        Protected,
        (status = 404, response = UserNotFound),
        (status = 422, response = InvalidInput),
    )
)]
#[get("/users/{id}/passkeys")]
pub async fn user_passkeys(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.get(UserId::from_uuid(id.into_inner())).await?;
    let passkeys = state.passkeys.list(&user).await?;
    let body: Vec<PasskeyResponse> = passkeys.iter().map(PasskeyResponse::from).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Remove a user's passkey (admins): a lost or compromised authenticator. It may be the
/// account's last way in; the person can still set a password through the reset email.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "admin",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("passkey" = Uuid, Path, description = "The passkey's id"),
    ),
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 204, description = "Removed"),
        Protected,
        (status = 404, response = PasskeyNotFound),
        (status = 422, response = InvalidInput),
    )
)]
#[delete("/users/{id}/passkeys/{passkey}")]
pub async fn remove_user_passkey(
    admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (user, passkey) = path.into_inner();
    let user = state.users.get(UserId::from_uuid(user)).await?;
    state
        .passkeys
        .remove_by_admin(&admin.user, &user, PasskeyId::from_uuid(passkey), &caller.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Begin signing in with a passkey: no account is named (the authenticator offers the
/// person theirs). Finish at the token endpoint with
/// `grant_type=urn:gatehouse:params:oauth:grant-type:passkey`, `ceremony` and `credential`
/// (what `navigator.credentials.get` returned, in JSON). Throttled per network.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "auth",
    responses(
        (status = 200, description = "The ceremony and the browser's options", body = CeremonyResponseBody),
        (status = 409, response = PasskeyConflict),
        (status = 429, response = TooManyRequests),
    )
)]
#[post("/auth/passkey")]
pub async fn begin_sign_in(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let begun = state.passkeys.begin_sign_in(&caller.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(CeremonyResponseBody::try_from(begun)?))
}

/// The `mfa_required` answer's token, to give a passkey as the second factor.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mfa_token": "Jm9v4f0K3sYxq1H2b7WcT8eL5nR6uA0dPzQyXgVhC4k"}))]
pub struct SecondFactorRequest {
    #[schema(pattern = r"^[A-Za-z0-9_-]{43}$")]
    pub mfa_token: String,
}

/// Begin giving a passkey as the second factor, after a password grant answered
/// `mfa_required`: the options name the account's passkeys. Finish at the token endpoint
/// with `grant_type=urn:gatehouse:params:oauth:grant-type:mfa-passkey`, `mfa_token`,
/// `ceremony` and `credential` (and the same `client_id`). 404 `passkey_not_found` when
/// the account has none (give a code instead); 400 `ceremony_invalid` when the
/// `mfa_token` is unknown, spent or expired (start over with the password).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "auth",
    request_body = SecondFactorRequest,
    responses(
        (status = 200, description = "The ceremony and the browser's options", body = CeremonyResponseBody),
        (status = 400, response = PasskeyRejected),
        (status = 404, response = PasskeyNotFound),
        (status = 409, response = PasskeyConflict),
        (status = 422, response = InvalidInput),
        (status = 429, response = TooManyRequests),
    )
)]
#[post("/auth/passkey/second-factor")]
pub async fn begin_second_factor(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<SecondFactorRequest>,
) -> Result<HttpResponse, ApiError> {
    let mfa_token = SecretString::from(body.into_inner().mfa_token);
    let begun = state
        .passkeys
        .begin_second_factor(&mfa_token, &caller.0)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(CeremonyResponseBody::try_from(begun)?))
}
