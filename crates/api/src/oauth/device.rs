//! The device authorization endpoint (RFC 8628 §3.1): a device asks to be signed in, and is
//! told its device code, the user code its person enters and where. It polls the token
//! endpoint with `grant_type=urn:ietf:params:oauth:grant-type:device_code`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use crate::shared::form::{client_credentials, one_line_form};
use crate::shared::responses::{InvalidClient, TokenError};
use gatehouse_domain::oauth::ExchangeError;
use gatehouse_http::caller::Caller;
use gatehouse_http::paths;
use gatehouse_http::problem::{ApiError, OAuthError, TokenEndpointError};
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(device_authorization);
}

/// A device's request: the client (a public one by `client_id`; a confidential one by
/// HTTP Basic or `client_id` and `client_secret`) and, optionally, the scopes it asks for.
#[derive(ToSchema)]
#[allow(dead_code)] // Read from the form by name; this states it for the document.
pub struct DeviceAuthorizationForm {
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub client_id: Option<String>,
    #[schema(format = Password, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub client_secret: Option<String>,
    /// Space-separated; none: the scopes the person holds (that the app may hold).
    #[schema(pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub scope: Option<String>,
}

/// What the device shows its person, and how it polls (RFC 8628 §3.2).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "device_code": "Jm9v4f0K3sYxq1H2b7WcT8eL5nR6uA0dPzQyXgVhC4k",
    "user_code": "BCDF-GHJK",
    "verification_uri": "https://id.example.com/device",
    "verification_uri_complete": "https://id.example.com/device?user_code=BCDF-GHJK",
    "expires_in": 600,
    "interval": 5
}))]
pub struct DeviceAuthorizationResponse {
    /// Send it to the token endpoint when polling; keep it secret.
    pub device_code: String,
    /// What the person enters: eight letters, any case, dash optional.
    pub user_code: String,
    /// Where the person enters it.
    pub verification_uri: String,
    /// The same page with the code filled in (for a QR code or a link).
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: i64,
    /// Seconds to wait between polls (5 more after each `slow_down`).
    pub interval: i64,
}

/// Begin a device sign-in (RFC 8628), for clients an administrator allowed the grant
/// (others get 403 `unauthorized_client`). Show the person `user_code` and
/// `verification_uri` (or `verification_uri_complete` as a QR code), then poll the token
/// endpoint every `interval` seconds with `grant_type=urn:ietf:params:oauth:grant-type:device_code`,
/// `device_code` and the client: it answers 400 `authorization_pending` until the person
/// decides, `slow_down` when polled too often (wait 5 seconds longer from then on),
/// `access_denied` or `expired_token`, and once approved, tokens, once.
#[utoipa::path(
    tag = "oidc",
    request_body(content = DeviceAuthorizationForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The codes", body = DeviceAuthorizationResponse,
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, response = TokenError),
        (status = 401, response = InvalidClient),
        (status = 403, response = crate::shared::responses::UnauthorizedClient),
        (status = 429, response = crate::shared::responses::TooManyRequests),
    )
)]
#[post("/oauth2/device_authorization")]
pub async fn device_authorization(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, TokenEndpointError> {
    let form = one_line_form(&req, &body).map_err(TokenEndpointError::from)?;
    let started = state
        .oauth
        .begin_device_authorization(
            &client_credentials(&req, &form)?,
            form.get("scope").map(String::as_str),
            &caller.0,
        )
        .await;
    let start = match started {
        Ok(start) => start,
        // As a throttled login at the token endpoint: 429 with `Retry-After`.
        Err(ExchangeError::TooManyDevices { retry_after }) => {
            return Err(ApiError::Throttled { retry_after }.into());
        }
        Err(error) => return Err(OAuthError::from(error).into()),
    };
    let page = format!("{}{}", state.oauth.issuer(), paths::DEVICE);
    let user_code = start.user_code.display();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(DeviceAuthorizationResponse {
            device_code: start.device_code.expose_secret().to_owned(),
            verification_uri_complete: format!("{page}?user_code={user_code}"),
            verification_uri: page,
            user_code,
            expires_in: start.expires_in,
            interval: start.interval,
        }))
}
