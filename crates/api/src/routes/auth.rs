//! Sign-up, the OAuth2 token endpoint (password and refresh grants) and logout.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine as _;
use gatehouse_domain::auth::{Registration, TokenGrant};
use gatehouse_domain::mfa::Factor;
use gatehouse_domain::oauth::{ClientCredentials, ClientId, CodeExchange};
use secrecy::{ExposeSecret, SecretString};

use crate::dto::{
    AcceptedResponse, PasswordResetConfirm, PasswordResetRequest, RegisterRequest, TokenRequest,
    TokenResponse, UserResponse, VerifyEmailConfirm,
};
use crate::openapi::responses::{
    BadRequest, EmailTaken, EmailedTokenInvalid, InvalidClient, MfaRequired, Overloaded,
    PayloadTooLarge, Protected, TokenError, TokenUnavailable, TooManyRequests, Unauthorized,
    ValidationFailed,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::{ApiError, OAuthError, TokenEndpointError};
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(register)
        .service(token)
        .service(logout)
        .service(request_password_reset)
        .service(confirm_password_reset)
        .service(request_email_verification)
        .service(confirm_email_verification);
}

/// Create an account.
///
/// The email is normalized (trimmed, lower-cased). The password must be 8–128 characters,
/// not a common password and not the email itself. New accounts have role `user`.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = UserResponse),
        (status = 400, response = BadRequest),
        (status = 409, response = EmailTaken),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Overloaded),
    )
)]
#[post("/auth/register")]
pub async fn register(
    caller: Caller,
    state: web::Data<AppState>,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let registration = Registration {
        email: body.email,
        password: body.password,
        full_name: body.full_name,
    };
    let user = state.auth.register(registration, &caller.0).await?;
    Ok(HttpResponse::Created().json(UserResponse::from(&user)))
}

/// Get tokens: log in (`grant_type=password`), refresh (`grant_type=refresh_token`) or
/// exchange an authorization code (`grant_type=authorization_code`).
///
/// Send `application/x-www-form-urlencoded`. Password grant: `username` (the email),
/// `password`, optional `scope` (space-separated). Refresh grant: `refresh_token`, optional
/// `scope` (may narrow, never widen). Authorization code grant: `code`, `redirect_uri`,
/// `code_verifier` (PKCE) and the client: `client_id` for a public client, HTTP Basic or
/// `client_id` + `client_secret` for a confidential one; with the `openid` scope the answer
/// has an `id_token`. Each success returns a new access token and a new single-use refresh
/// token. Errors follow RFC 6749 §5.2.
///
/// An account with multi-factor authentication answers a right password with 403
/// `mfa_required` and an `mfa_token`; send it within 5 minutes, from the same `client_id`
/// if any, with `grant_type=urn:gatehouse:params:oauth:grant-type:mfa-otp` and either `otp`
/// (the authenticator's 6-digit code) or `recovery_code`. Wrong codes count towards the
/// same limit as wrong passwords.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse,
            headers(("Cache-Control" = String, description = "no-store"), ("Pragma" = String, description = "no-cache"))),
        (status = 400, response = TokenError),
        (status = 401, response = InvalidClient),
        (status = 403, response = MfaRequired),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 503, response = TokenUnavailable),
    )
)]
#[post("/auth/token")]
pub async fn token(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, TokenEndpointError> {
    let form = parse_form(&req, &body)?;
    let grant_type = required(&form, "grant_type")?;
    let scope = form.get("scope").map(String::as_str);
    let grant = match grant_type {
        "password" => {
            let username = required(&form, "username")?;
            let password = SecretString::from(required(&form, "password")?);
            // A confidential client that names itself must authenticate (RFC 6749 §4.3.2),
            // before any password is looked at; the `mfa_token` is bound to it.
            let client = named_client(&state, &req, &form).await?;
            state
                .auth
                .password_grant(
                    username,
                    &password,
                    scope,
                    client.as_ref().map(ClientId::as_str),
                    caller.0,
                )
                .await?
        }
        MFA_OTP_GRANT => {
            let mfa_token = SecretString::from(required(&form, "mfa_token")?);
            let factor =
                Factor::from_fields(form.get("otp").cloned(), form.get("recovery_code").cloned());
            let client = named_client(&state, &req, &form).await?;
            state
                .auth
                .mfa_grant(
                    &mfa_token,
                    factor,
                    client.as_ref().map(ClientId::as_str),
                    caller.0,
                )
                .await?
        }
        "refresh_token" => {
            let refresh = SecretString::from(required(&form, "refresh_token")?);
            let client = named_client(&state, &req, &form).await?;
            state
                .auth
                .refresh_grant(&refresh, scope, client.as_ref(), caller.0)
                .await
                .map_err(OAuthError::from)?
        }
        "authorization_code" => {
            let exchange = CodeExchange {
                code: SecretString::from(required(&form, "code")?),
                redirect_uri: form.get("redirect_uri").cloned(),
                code_verifier: form.get("code_verifier").cloned().map(SecretString::from),
                client: client_credentials(&req, &form)?,
            };
            let grant = state
                .oauth
                .exchange_code(exchange, caller.0)
                .await
                .map_err(OAuthError::from)?;
            return Ok(token_response(grant.tokens, grant.id_token));
        }
        other => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "Grant type `{other}` is not supported; use `password`, `refresh_token`, `authorization_code` or `{MFA_OTP_GRANT}`."
            ))
            .into());
        }
    };
    Ok(token_response(grant, None))
}

/// The second step of a password grant for an account with MFA.
pub const MFA_OTP_GRANT: &str = "urn:gatehouse:params:oauth:grant-type:mfa-otp";

/// The registered client a password, MFA or refresh request names, authenticated (a
/// confidential one by its secret: without it the answer is 401 `invalid_client`). A name
/// that is no registered client is ignored, as Swagger UI's password flow may send one.
async fn named_client(
    state: &AppState,
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<Option<ClientId>, OAuthError> {
    let credentials = client_credentials(req, form)?;
    let Some(id) = credentials.id.as_deref() else {
        return Ok(None);
    };
    if state.oauth.client(id).await?.is_none() {
        return Ok(None);
    }
    let client = state.oauth.authenticate_client(&credentials).await?;
    Ok(Some(client.id))
}

/// The client's credentials (RFC 6749 §2.3.1): HTTP Basic (`client_secret_basic`, each
/// half form-urlencoded) or `client_id` and `client_secret` in the form
/// (`client_secret_post`), never both. An empty secret is no secret: Swagger UI sends one
/// (HTTP Basic with an empty password) for its public client.
pub(crate) fn client_credentials(
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<ClientCredentials, OAuthError> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "));
    let Some(encoded) = basic else {
        return Ok(ClientCredentials {
            id: form.get("client_id").cloned(),
            secret: form
                .get("client_secret")
                .filter(|secret| !secret.is_empty())
                .cloned()
                .map(SecretString::from),
        });
    };
    if form.contains_key("client_secret") {
        return Err(OAuthError::invalid_request(
            "Send the client's credentials once: HTTP Basic or the form, not both.",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(OAuthError::invalid_client)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    let decode = |part: &str| {
        form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let id = decode(id);
    if form.get("client_id").is_some_and(|named| *named != id) {
        return Err(OAuthError::invalid_request(
            "`client_id` differs from the client of the HTTP Basic credentials.",
        ));
    }
    let secret = decode(secret);
    Ok(ClientCredentials {
        id: Some(id),
        secret: (!secret.is_empty()).then(|| SecretString::from(secret)),
    })
}

fn token_response(grant: TokenGrant, id_token: Option<SecretString>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse {
            access_token: grant.access.token.expose_secret().to_owned(),
            token_type: "bearer",
            expires_in: grant.access.lifetime_secs(),
            refresh_token: grant.refresh.expose_secret().to_owned(),
            scope: grant.access.claims.scopes.to_string(),
            id_token: id_token.map(|id| id.expose_secret().to_owned()),
        })
}

/// Log out: end the session of this token. Its refresh token and every access token issued
/// in it stop working at once.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "auth",
    security(("oauth2" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, response = Unauthorized),
    )
)]
#[post("/auth/logout")]
pub async fn logout(
    caller: Caller,
    current: CurrentUser<scopes::Any>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&current.claims, &caller.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Parses an `application/x-www-form-urlencoded` body. RFC 6749 §3.2 forbids repeated
/// parameters, so a repeat is an `invalid_request`, never a silent pick.
pub(crate) fn parse_form(
    req: &HttpRequest,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    if !gatehouse_http::json::is_form(req) {
        return Err(OAuthError::invalid_request(
            "The token endpoint takes an application/x-www-form-urlencoded body.",
        ));
    }
    let mut form = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        // A parameter we do not know is ignored, whatever it holds and however often it
        // comes (RFC 6749 §3.2): it reaches nothing.
        if !FORM_PARAMETERS.contains(&key.as_ref()) {
            continue;
        }
        // No database stores a NUL; refuse it here rather than let it reach a query.
        if value.contains('\0') {
            return Err(OAuthError::invalid_request(format!(
                "Parameter `{key}` contains a NUL character."
            )));
        }
        // A parameter must not be sent twice (RFC 6749 §3.1).
        if form.insert(key.to_string(), value.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "Parameter `{key}` is repeated."
            )));
        }
    }
    Ok(form)
}

/// Every parameter the token, revocation and introspection endpoints read; the others are
/// dropped as the form is read.
const FORM_PARAMETERS: &[&str] = &[
    "grant_type",
    "username",
    "password",
    "refresh_token",
    "scope",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
    "mfa_token",
    "otp",
    "recovery_code",
];

pub(crate) fn required<'a>(
    form: &'a HashMap<String, String>,
    name: &str,
) -> Result<&'a str, OAuthError> {
    match form.get(name).map(String::as_str) {
        Some(value) if !value.is_empty() => Ok(value),
        Some(_) => Err(OAuthError::invalid_request(format!(
            "Parameter `{name}` is empty."
        ))),
        None => Err(OAuthError::invalid_request(format!(
            "Parameter `{name}` is missing."
        ))),
    }
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
    let mail = state
        .recovery
        .request_password_reset(body.into_inner().email, &caller.0)
        .await?;
    gatehouse_http::mail::send_later(mail);
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
    let mail = state
        .recovery
        .request_email_verification(current.user)
        .await?;
    gatehouse_http::mail::send_later(mail);
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
