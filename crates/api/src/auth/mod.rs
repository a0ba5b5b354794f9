//! Sign-up, the OAuth2 token endpoint (password, MFA, refresh and authorization code
//! grants), logout, and recovery by email ([`recovery`]).

mod dto;
mod recovery;

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use gatehouse_domain::auth::Registration;
use gatehouse_domain::email::LoginName;
use gatehouse_domain::mfa::Factor;
use gatehouse_domain::oauth::{ClientCredentialsRequest, ClientId, CodeExchange};
use gatehouse_domain::passkeys::CeremonyResponse;
use gatehouse_domain::ports::SessionTokens;
use secrecy::{ExposeSecret, SecretString};
use utoipa::OpenApi;

use crate::shared::form::{client_credentials, parse_form, required, resources};
use crate::shared::responses::{
    BadRequest, EmailTaken, InvalidClient, MfaRequired, Overloaded, PayloadTooLarge, TokenError,
    TokenUnavailable, TooManyRequests, Unauthorized, ValidationFailed,
};
use crate::shared::schemas::UserResponse;
use dto::{RegisterRequest, TokenRequest, TokenResponse};
use gatehouse_http::caller::Caller;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::json::Json;
use gatehouse_http::problem::{ApiError, OAuthError, TokenEndpointError};
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(register)
        .service(token)
        .service(logout)
        .configure(recovery::configure);
}

#[derive(OpenApi)]
#[openapi(
    paths(
        register,
        token,
        logout,
        recovery::request_password_reset,
        recovery::confirm_password_reset,
        recovery::request_email_verification,
        recovery::confirm_email_verification,
    ),
    components(schemas(
        RegisterRequest,
        TokenRequest,
        TokenResponse,
        recovery::PasswordResetRequest,
        recovery::PasswordResetConfirm,
        recovery::VerifyEmailConfirm,
    ))
)]
pub struct Doc;

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

/// Get tokens: log in (`grant_type=password`), refresh (`grant_type=refresh_token`),
/// exchange an authorization code (`grant_type=authorization_code`) or, for a client's own
/// token, `grant_type=client_credentials`.
///
/// Send `application/x-www-form-urlencoded`. Password grant: `username` (the email),
/// `password`, optional `scope` (space-separated). Refresh grant: `refresh_token`, optional
/// `scope` (may narrow, never widen). Authorization code grant: `code`, `redirect_uri`,
/// `code_verifier` (PKCE) and the client: `client_id` for a public client, HTTP Basic or
/// `client_id` + `client_secret` for a confidential one; with the `openid` scope the answer
/// has an `id_token`. Each success returns a new access token and a new single-use refresh
/// token. Errors follow RFC 6749 §5.2.
///
/// Device code grant (RFC 8628 §3.4): a device polls with `device_code` and its client
/// after `POST /oauth2/device_authorization`; 400 `authorization_pending` until its person
/// decides, `slow_down` when it polls sooner than its interval (which grows by 5 seconds),
/// `access_denied`, `expired_token`; once approved, tokens, once.
///
/// Client credentials grant (RFC 6749 §4.4), for a confidential client an admin allowed:
/// the client authenticates (HTTP Basic or `client_secret_post`), names the registered API
/// with `resource` (RFC 8707; optional when it has access to one only) and may narrow the
/// scopes with `scope`. The answer is an access token for that API (`aud` its identifier,
/// `sub` the client), without a refresh token. A `resource` the client has no access to is
/// 400 `invalid_target`; a scope it was not granted there, 400 `invalid_scope`; a client
/// not allowed the grant, 403 `unauthorized_client`.
///
/// An account with multi-factor authentication answers a right password with 403
/// `mfa_required` and an `mfa_token`; send it within 5 minutes, from the same `client_id`
/// if any, with `grant_type=urn:gatehouse:params:oauth:grant-type:mfa-otp` and either `otp`
/// (the authenticator's 6-digit code) or `recovery_code`. Wrong codes count towards the
/// same limit as wrong passwords.
///
/// A passkey sign-in (begun at `POST /api/v1/auth/passkey`) finishes here with
/// `grant_type=urn:gatehouse:params:oauth:grant-type:passkey`, `ceremony` and `credential`
/// (what `navigator.credentials.get` returned, as JSON), optional `scope`. After a
/// `mfa_required` answer, an account with a passkey may give it instead of a code: begin at
/// `POST /api/v1/auth/passkey/second-factor` with the `mfa_token`, then send
/// `grant_type=urn:gatehouse:params:oauth:grant-type:mfa-passkey` with `mfa_token`,
/// `ceremony` and `credential` (and the same `client_id`).
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
    let counted = counted_grant(grant_type);
    let answer = async {
    let scope = form.get("scope").map(String::as_str);
    let resources = resources(&body)?;
    // The grants that sign a person in here give tokens for gatehouse's own API only.
    let signs_in_here = matches!(
        grant_type,
        "password" | MFA_OTP_GRANT | MFA_PASSKEY_GRANT | PASSKEY_GRANT | DEVICE_CODE_GRANT
    );
    if signs_in_here
        && resources
            .iter()
            .any(|r| r.trim_end_matches('/') != state.apis.own_identifier().trim_end_matches('/'))
    {
        return Err(OAuthError::invalid_target(
            "This grant issues tokens for gatehouse's own API only: ask for other APIs with the authorization code flow (or, for a client's own token, client credentials).",
        )
        .into());
    }
    let grant = match grant_type {
        "password" => {
            let username = required(&form, "username")?;
            let password = SecretString::from(required(&form, "password")?);
            // A confidential client that names itself must authenticate (RFC 6749 §4.3.2),
            // before any password is looked at; the `mfa_token` is bound to it.
            let client = named_client(&state, &req, &form, &caller.0).await?;
            state
                .auth
                .password_grant(
                    &LoginName::new(username),
                    &password,
                    scope,
                    client.as_ref(),
                    caller.0,
                )
                .await?
        }
        MFA_OTP_GRANT => {
            let mfa_token = SecretString::from(required(&form, "mfa_token")?);
            let factor =
                Factor::from_fields(form.get("otp").cloned(), form.get("recovery_code").cloned());
            let client = named_client(&state, &req, &form, &caller.0).await?;
            state
                .auth
                .mfa_grant(&mfa_token, factor, client.as_ref(), caller.0)
                .await?
        }
        MFA_PASSKEY_GRANT => {
            let mfa_token = SecretString::from(required(&form, "mfa_token")?);
            let ceremony = SecretString::from(required(&form, "ceremony")?);
            let credential = CeremonyResponse::new(required(&form, "credential")?);
            let client = named_client(&state, &req, &form, &caller.0).await?;
            state
                .passkeys
                .second_factor_for_tokens(
                    (&mfa_token, &ceremony),
                    &credential,
                    client.as_ref(),
                    caller.0,
                )
                .await?
        }
        PASSKEY_GRANT => {
            let ceremony = SecretString::from(required(&form, "ceremony")?);
            let credential = CeremonyResponse::new(required(&form, "credential")?);
            state
                .passkeys
                .sign_in_for_tokens(&ceremony, &credential, scope, caller.0)
                .await?
        }
        "refresh_token" => {
            let refresh = SecretString::from(required(&form, "refresh_token")?);
            let client = named_client(&state, &req, &form, &caller.0).await?;
            let tokens = state
                .auth
                .refresh_grant(&refresh, scope, &resources, client.as_ref(), caller.0)
                .await
                .map_err(OAuthError::from)?;
            return Ok(token_response(tokens, None));
        }
        "client_credentials" => {
            let request = ClientCredentialsRequest {
                client: client_credentials(&req, &form)?,
                resources: resources.clone(),
                scope: scope.map(str::to_owned),
            };
            let token = state
                .oauth
                .client_credentials_grant(request, &caller.0)
                .await
                .map_err(OAuthError::from)?;
            return Ok(no_store(HttpResponse::Ok()).json(TokenResponse {
                access_token: token.token.expose_secret().to_owned(),
                token_type: "bearer",
                expires_in: token.lifetime_secs(),
                refresh_token: None,
                scope: token.claims.scope(),
                id_token: None,
            }));
        }
        DEVICE_CODE_GRANT => {
            let device_code = SecretString::from(required(&form, "device_code")?);
            let grant = state
                .oauth
                .poll_device(&client_credentials(&req, &form)?, &device_code, caller.0)
                .await
                .map_err(OAuthError::from)?;
            return Ok(token_response(grant.tokens, grant.id_token));
        }
        "authorization_code" => {
            let exchange = CodeExchange {
                code: SecretString::from(required(&form, "code")?),
                redirect_uri: form.get("redirect_uri").cloned(),
                code_verifier: form.get("code_verifier").cloned().map(SecretString::from),
                client: client_credentials(&req, &form)?,
                resources: resources.clone(),
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
                "Grant type `{other}` is not supported; use `password`, `refresh_token`, `authorization_code`, `client_credentials`, `{MFA_OTP_GRANT}`, `{MFA_PASSKEY_GRANT}`, `{PASSKEY_GRANT}` or `{DEVICE_CODE_GRANT}`."
            ))
            .into());
        }
    };
    Ok::<_, TokenEndpointError>(token_response(grant.into(), None))
    }
    .await;
    state.audit.meter().grant(counted, answer.is_ok());
    answer
}

/// The name a grant type is counted under in the metrics: one of a few, never what a client
/// made up.
fn counted_grant(grant_type: &str) -> &'static str {
    match grant_type {
        "password" => "password",
        "refresh_token" => "refresh_token",
        "authorization_code" => "authorization_code",
        "client_credentials" => "client_credentials",
        MFA_OTP_GRANT => "mfa_otp",
        MFA_PASSKEY_GRANT => "mfa_passkey",
        PASSKEY_GRANT => "passkey",
        DEVICE_CODE_GRANT => "device_code",
        _ => "other",
    }
}

/// A device's poll (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The second step of a password grant for an account with MFA.
pub const MFA_OTP_GRANT: &str = "urn:gatehouse:params:oauth:grant-type:mfa-otp";

/// A sign-in with a passkey: the answer to the options of `POST /api/v1/auth/passkey`.
pub const PASSKEY_GRANT: &str = "urn:gatehouse:params:oauth:grant-type:passkey";

/// The second step of a password grant with a passkey: the answer to the options of
/// `POST /api/v1/auth/passkey/second-factor`.
pub const MFA_PASSKEY_GRANT: &str = "urn:gatehouse:params:oauth:grant-type:mfa-passkey";

/// The registered client a password, MFA or refresh request names, authenticated (a
/// confidential one by its secret: without it the answer is 401 `invalid_client`). A name
/// that is no registered client is ignored, as Swagger UI's password flow may send one.
async fn named_client(
    state: &AppState,
    req: &HttpRequest,
    form: &HashMap<String, String>,
    caller: &gatehouse_domain::Caller,
) -> Result<Option<ClientId>, OAuthError> {
    let credentials = client_credentials(req, form)?;
    let Some(id) = credentials.id.as_deref() else {
        return Ok(None);
    };
    if state.oauth.client(id).await?.is_none() {
        return Ok(None);
    }
    let client = state
        .oauth
        .authenticate_client(&credentials, caller)
        .await?;
    Ok(Some(client.id))
}

/// A token response is never cached (RFC 6749 §5.1).
fn no_store(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    response
}

fn token_response(grant: SessionTokens, id_token: Option<SecretString>) -> HttpResponse {
    no_store(HttpResponse::Ok()).json(TokenResponse {
        access_token: grant.access.token().expose_secret().to_owned(),
        token_type: "bearer",
        expires_in: grant.access.lifetime_secs(),
        refresh_token: Some(grant.refresh.expose_secret().to_owned()),
        scope: grant.access.scope(),
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
