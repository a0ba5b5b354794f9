//! RFC 6749 §5.2 errors: the answers of the token, revocation and introspection endpoints.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use gatehouse_domain::ports::HashingError;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, DATABASE_RETRY_AFTER, retry_after_secs};

/// An RFC 6749 §5.2 error body of the token endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_grant", "error_description": "Invalid username or password."}))]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `invalid_target`, `mfa_required`, a
    /// device's `authorization_pending`, `slow_down`, `access_denied` or `expired_token`
    /// (RFC 8628), `temporarily_unavailable` or `server_error`.
    pub error: &'static str,
    pub error_description: String,
    /// `mfa_required` only: the token that continues this sign-in with a second factor
    /// (single-use, 5 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
}

/// The RFC 6749 §5.2 `error` codes we answer with (and the extension `mfa_required`), each
/// with its status: the one place either is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// A `resource` the client may not ask for, or none where one is needed (RFC 8707).
    InvalidTarget,
    /// The password was right and a second factor is needed (gatehouse's extension).
    MfaRequired,
    /// RFC 8628 §3.5: the device's person has not decided yet; poll again.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too often; add 5 seconds to the interval.
    SlowDown,
    /// RFC 8628 §3.5: the person denied the device's request.
    AccessDenied,
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
    TemporarilyUnavailable,
    ServerError,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::MfaRequired => "mfa_required",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest
            | Self::InvalidGrant
            | Self::UnsupportedGrantType
            | Self::InvalidScope
            | Self::InvalidTarget
            | Self::AuthorizationPending
            | Self::SlowDown
            | Self::AccessDenied
            | Self::ExpiredToken => StatusCode::BAD_REQUEST,
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::UnauthorizedClient | Self::MfaRequired => StatusCode::FORBIDDEN,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of the token endpoint.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
    pub retry_after: Option<Duration>,
    /// `mfa_required`: the token of the second step.
    pub mfa_token: Option<secrecy::SecretString>,
}

impl OAuthError {
    fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
            mfa_token: None,
        }
    }

    /// 403 `mfa_required`: the password was right; the sign-in continues with `mfa_token`
    /// and a second factor.
    pub fn mfa_required(mfa_token: secrecy::SecretString) -> Self {
        Self {
            mfa_token: Some(mfa_token),
            ..Self::new(
                OAuthErrorCode::MfaRequired,
                "A second factor is required: send the mfa_token with a one-time code (grant_type=urn:gatehouse:params:oauth:grant-type:mfa-otp).",
            )
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, description)
    }

    /// 400 `invalid_target` (RFC 8707 §2): a resource the client may not ask for.
    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidTarget, description)
    }

    /// 401 `invalid_client` (RFC 6749 §5.2), with the `Basic` challenge.
    pub fn invalid_client() -> Self {
        Self::new(
            OAuthErrorCode::InvalidClient,
            "Client authentication failed.",
        )
    }

    /// 403 `unauthorized_client` (RFC 6749 §5.2): the client authenticated but may not do
    /// this.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::UnauthorizedClient, description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::UnsupportedGrantType, description)
    }

    /// 401 `invalid_client` with `Retry-After`: too many wrong secrets for this client or
    /// from this network; a right one waits too.
    pub fn client_throttled(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                OAuthErrorCode::InvalidClient,
                format!(
                    "Too many failed client authentications; try again in {} seconds.",
                    retry_after.as_secs().max(1)
                ),
            )
        }
    }

    pub fn temporarily_unavailable(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "The server is busy; try again shortly.",
            )
        }
    }

    /// 503 `temporarily_unavailable`: the database did not answer in time.
    pub fn database_unavailable() -> Self {
        Self {
            retry_after: Some(DATABASE_RETRY_AFTER),
            ..Self::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "The database is not answering; try again shortly.",
            )
        }
    }

    /// Logs `cause` and answers 500 `server_error` without it.
    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "token request failed");
        Self::new(
            OAuthErrorCode::ServerError,
            "Something went wrong on our side.",
        )
    }
}

/// The one wrong-credentials answer, byte for byte, whether or not the account exists.
pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";

/// A domain message as an RFC 6749 `error_description`: a capital and a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect::<String>() + "."
    })
}

impl From<gatehouse_domain::RepositoryError> for OAuthError {
    /// The API's decision (503 when the database is unavailable, else a logged 500), in
    /// RFC 6749 shape.
    fn from(error: gatehouse_domain::RepositoryError) -> Self {
        match ApiError::from(error) {
            ApiError::DatabaseUnavailable => OAuthError::database_unavailable(),
            other => OAuthError::server_error(other),
        }
    }
}

impl From<HashingError> for OAuthError {
    fn from(error: HashingError) -> Self {
        match error {
            HashingError::Overloaded { retry_after } => {
                OAuthError::temporarily_unavailable(retry_after)
            }
            other => OAuthError::server_error(other),
        }
    }
}

impl From<gatehouse_domain::ScopeError> for OAuthError {
    fn from(error: gatehouse_domain::ScopeError) -> Self {
        OAuthError::invalid_scope(sentence(&error.to_string()))
    }
}

impl From<gatehouse_domain::ports::TokenError> for OAuthError {
    fn from(error: gatehouse_domain::ports::TokenError) -> Self {
        OAuthError::server_error(error)
    }
}

impl From<gatehouse_domain::auth::AuthenticateError> for OAuthError {
    fn from(error: gatehouse_domain::auth::AuthenticateError) -> Self {
        use gatehouse_domain::auth::AuthenticateError as E;
        match error {
            E::InvalidCredentials => OAuthError::invalid_grant(INVALID_CREDENTIALS),
            E::AccountDisabled => OAuthError::invalid_grant("Account is disabled"),
            E::EmailNotVerified => OAuthError::invalid_grant("Email not verified"),
            E::Hashing(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::auth::RefreshGrantError> for OAuthError {
    fn from(error: gatehouse_domain::auth::RefreshGrantError) -> Self {
        use gatehouse_domain::auth::RefreshGrantError as E;
        match error {
            E::Invalid => {
                OAuthError::invalid_grant("The refresh token is invalid, expired or revoked.")
            }
            E::Reused => OAuthError::invalid_grant(
                "The refresh token was already used; its session has been revoked.",
            ),
            E::Scope(error) => error.into(),
            E::Target(reason) => OAuthError::invalid_target(sentence(reason)),
            E::ApiScope(reason) => OAuthError::invalid_scope(sentence(&reason)),
            E::Token(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::oauth::ExchangeError> for OAuthError {
    fn from(error: gatehouse_domain::oauth::ExchangeError) -> Self {
        use gatehouse_domain::oauth::ExchangeError as E;
        match error {
            E::InvalidClient => OAuthError::invalid_client(),
            E::InvalidGrant(reason) => OAuthError::invalid_grant(sentence(&format!(
                "invalid authorization code: {reason}"
            ))),
            E::InvalidRequest(reason) => OAuthError::invalid_request(sentence(reason)),
            E::UnauthorizedClient(reason) => OAuthError::unauthorized_client(sentence(reason)),
            E::InvalidTarget(reason) => OAuthError::invalid_target(sentence(&reason)),
            E::InvalidScope(reason) => OAuthError::invalid_scope(sentence(&reason)),
            E::Throttled { retry_after } => OAuthError::client_throttled(retry_after),
            E::InvalidDeviceCode(reason) => OAuthError::invalid_grant(sentence(reason)),
            // The device authorization endpoint answers it as a 429 of its own first.
            E::TooManyDevices { retry_after } => OAuthError::temporarily_unavailable(retry_after),
            E::AuthorizationPending => OAuthError::new(
                OAuthErrorCode::AuthorizationPending,
                "The person has not approved or denied the request yet: poll again after the interval.",
            ),
            E::SlowDown => OAuthError::new(
                OAuthErrorCode::SlowDown,
                "Polling too often: wait 5 seconds longer between polls from now on.",
            ),
            E::AccessDenied => OAuthError::new(
                OAuthErrorCode::AccessDenied,
                "The person denied the request.",
            ),
            E::ExpiredToken => OAuthError::new(
                OAuthErrorCode::ExpiredToken,
                "The device code has expired: start again.",
            ),
            E::Token(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

/// What the token endpoint answers: RFC 6749 §5.2 errors, except that a throttled login is
/// the same problem+json 429 with `Retry-After` as everywhere else.
#[derive(Debug, thiserror::Error)]
pub enum TokenEndpointError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Problem(#[from] ApiError),
}

impl From<gatehouse_domain::auth::PasswordGrantError> for TokenEndpointError {
    fn from(error: gatehouse_domain::auth::PasswordGrantError) -> Self {
        use gatehouse_domain::auth::PasswordGrantError as E;
        match error {
            E::Throttled { retry_after } => ApiError::Throttled { retry_after }.into(),
            E::MfaRequired { mfa_token } => OAuthError::mfa_required(mfa_token).into(),
            E::Authenticate(error) => OAuthError::from(error).into(),
            E::Scope(error) => OAuthError::from(error).into(),
            E::Token(error) => OAuthError::from(error).into(),
            E::Repository(error) => OAuthError::from(error).into(),
        }
    }
}

impl From<gatehouse_domain::auth::MfaGrantError> for TokenEndpointError {
    fn from(error: gatehouse_domain::auth::MfaGrantError) -> Self {
        use gatehouse_domain::auth::MfaGrantError as E;
        match error {
            E::Throttled { retry_after } => ApiError::Throttled { retry_after }.into(),
            E::InvalidToken => OAuthError::invalid_grant(
                "The mfa_token is invalid, expired or already used; sign in again.",
            )
            .into(),
            E::MissingFactor => OAuthError::invalid_request(
                "Send exactly one of `otp` (a one-time code) and `recovery_code`.",
            )
            .into(),
            E::InvalidCode => {
                OAuthError::invalid_grant("The code is wrong or was already used.").into()
            }
            E::Unreadable(error) => OAuthError::server_error(error).into(),
            E::Token(error) => OAuthError::from(error).into(),
            E::Repository(error) => OAuthError::from(error).into(),
        }
    }
}

impl From<gatehouse_domain::passkeys::PasskeyError> for TokenEndpointError {
    fn from(error: gatehouse_domain::passkeys::PasskeyError) -> Self {
        use gatehouse_domain::passkeys::PasskeyError as E;
        match error {
            E::Throttled(error) => ApiError::from(error).into(),
            E::Unavailable => OAuthError::unsupported_grant_type(
                "Passkeys are not available on this server (its public URL has no domain name).",
            )
            .into(),
            E::BadCeremony => OAuthError::invalid_grant(
                "The passkey ceremony is invalid, expired or already finished; begin again.",
            )
            .into(),
            E::Refused | E::Inactive | E::NotFound => {
                OAuthError::invalid_grant("The passkey could not be verified.").into()
            }
            E::SignIn(error) => error.into(),
            E::SecondStep(error) => error.into(),
            E::Repository(error) => OAuthError::from(error).into(),
            other @ (E::Taken | E::LastWayIn | E::Invalid(_) | E::Reauth(_)) => {
                OAuthError::server_error(other).into()
            }
        }
    }
}

impl ResponseError for TokenEndpointError {
    fn status_code(&self) -> StatusCode {
        match self {
            TokenEndpointError::OAuth(error) => error.status_code(),
            TokenEndpointError::Problem(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            TokenEndpointError::OAuth(error) => error.error_response(),
            TokenEndpointError::Problem(error) => error.error_response(),
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.code.status());
        builder
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let Some(retry_after) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, retry_after_secs(retry_after)));
        }
        if self.code == OAuthErrorCode::InvalidClient {
            builder.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"gatehouse\""));
        }
        builder.json(OAuthErrorBody {
            error: self.code.as_str(),
            error_description: self.description.clone(),
            mfa_token: self
                .mfa_token
                .as_ref()
                .map(|token| secrecy::ExposeSecret::expose_secret(token).to_owned()),
        })
    }
}
