//! Errors as HTTP: RFC 9457 problem details for the API, RFC 6749 §5.2 errors for the token
//! endpoint, RFC 6750 challenges for bearer authentication.

use std::time::Duration;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use gatehouse_domain::ValidationErrors;
use gatehouse_domain::ports::HashingError;
use gatehouse_domain::reauth::ReauthRefusal;
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Declares [`Code`]: each line a variant, its wire name and its status; its doc comment
/// is its meaning, as docs/frontend.md's table gives it.
macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $name:ident = $code:literal, $status:ident;)+) => {
        /// Every `code` a problem document can carry, besides the `<resource>_not_found`
        /// codes (`gatehouse_api::not_found_codes`). Clients branch on these; they never change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$name),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $code,)+
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(Code::$name => StatusCode::$status,)+
                }
            }

            /// What it means, for the documentation.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$name => concat!($($doc),+).trim(),)+
                }
            }
        }
    };
}

codes! {
    /// A field of the body, the path or the query is invalid; `errors` names each one.
    ValidationFailed = "validation_failed", UNPROCESSABLE_ENTITY;
    /// The body is not valid JSON.
    MalformedJson = "malformed_json", BAD_REQUEST;
    /// The request could not be read (its body broke off).
    BadRequest = "bad_request", BAD_REQUEST;
    /// The body is larger than 64 KiB.
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE;
    /// The body is not of the type the endpoint takes (`application/json`).
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE;
    /// There is nothing at this address.
    NotFound = "not_found", NOT_FOUND;
    /// The address does not take this method; `Allow` lists those it takes.
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED;
    /// No bearer token was sent; `WWW-Authenticate` carries the challenge.
    Unauthorized = "unauthorized", UNAUTHORIZED;
    /// The bearer token is expired, malformed, forged or revoked, or its account is gone or disabled: get a new one (refresh, or log in).
    InvalidToken = "invalid_token", UNAUTHORIZED;
    /// The token lacks the scope (or its account the role) the endpoint needs.
    InsufficientScope = "insufficient_scope", FORBIDDEN;
    /// The `current_password` confirming a change is wrong.
    WrongPassword = "wrong_password", FORBIDDEN;
    /// The change needs re-authentication: send `current_password`, or (for an account without a password) sign in again and retry within the window.
    ReauthenticationRequired = "reauthentication_required", FORBIDDEN;
    /// The token belongs to a third-party app: changes to how the account signs in are for its owner, in gatehouse's pages or a first-party app.
    FirstPartyOnly = "first_party_only", FORBIDDEN;
    /// An account with this email already exists.
    EmailTaken = "email_taken", CONFLICT;
    /// The change would leave no active admin.
    LastAdmin = "last_admin", CONFLICT;
    /// A client with this `id` is already registered.
    ClientIdTaken = "client_id_taken", CONFLICT;
    /// The account changed while the request ran; send it again.
    Conflict = "conflict", CONFLICT;
    /// The one-time code or recovery code is wrong or was already used.
    InvalidMfaCode = "invalid_mfa_code", FORBIDDEN;
    /// Multi-factor authentication is already on; turn it off first.
    MfaAlreadyEnabled = "mfa_already_enabled", CONFLICT;
    /// Multi-factor authentication is not on (or no enrolment is waiting for its code).
    MfaNotEnabled = "mfa_not_enabled", CONFLICT;
    /// The emailed link's token is unknown, expired, used, or meant for something else: ask for a new email.
    TokenInvalid = "token_invalid", BAD_REQUEST;
    /// Too many attempts (failed passwords per account or network, sign-ups or reset requests per network); wait `Retry-After` seconds.
    TooManyRequests = "too_many_requests", TOO_MANY_REQUESTS;
    /// Password hashing is saturated; retry after `Retry-After` seconds.
    Overloaded = "overloaded", SERVICE_UNAVAILABLE;
    /// The database is not answering; retry after `Retry-After` seconds.
    DatabaseUnavailable = "database_unavailable", SERVICE_UNAVAILABLE;
    /// A fault on the server's side; it is logged, never described.
    InternalError = "internal_error", INTERNAL_SERVER_ERROR;
}

/// 404 codes of resources the API addresses by id.
pub const USER_NOT_FOUND: &str = "user_not_found";
pub const SESSION_NOT_FOUND: &str = "session_not_found";
pub const CLIENT_NOT_FOUND: &str = "client_not_found";

/// An RFC 9457 problem document. `code` is stable and machine-readable; `detail` is for people.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:gatehouse:problem:email_taken",
    "title": "Conflict",
    "status": 409,
    "detail": "An account with this email already exists.",
    "code": "email_taken"
}))]
pub struct ProblemDetails {
    /// A URI naming the kind of problem: `urn:gatehouse:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP reason phrase of `status`.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// Stable machine-readable error code.
    pub code: String,
    /// Per-field messages, present on 422 responses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl ProblemDetails {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("urn:gatehouse:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn respond(&self) -> HttpResponse {
        problem_response(
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .json(self)
    }
}

/// A response builder for a problem: the content type and `Cache-Control: no-store`, since
/// errors of an auth service may describe an account.
pub fn problem_response(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .content_type(PROBLEM_JSON)
        .insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// Errors of the JSON API. Each variant's doc says the status and `code` it becomes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422 `validation_failed`, with one entry per invalid field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 409 `email_taken`.
    #[error("email is already registered")]
    EmailTaken,
    /// 409 `client_id_taken`.
    #[error("client id is taken")]
    ClientIdTaken,
    /// 400 with the given code: a body that is not the JSON it should be.
    #[error("{detail}")]
    BadRequest { code: Code, detail: String },
    /// 413 `payload_too_large`.
    #[error("request body is too large")]
    PayloadTooLarge,
    /// 415 `unsupported_media_type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 404 `not_found`.
    #[error("not found")]
    NotFound,
    /// 405 `method_not_allowed`, with `Allow` listing the path's methods.
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    /// 404 with the resource-specific code it holds (`todo_not_found`, `user_not_found`).
    #[error("{0}")]
    ResourceNotFound(&'static str),
    /// 409 `last_admin`: the change would leave no active admin.
    #[error("last active admin")]
    LastAdmin,
    /// 429 `too_many_requests` with `Retry-After`: a throttle's limit is used up.
    #[error("throttled")]
    Throttled { retry_after: Duration },
    /// 409 `conflict`: the resource changed while the request worked on it; retry.
    #[error("concurrent change")]
    Conflict,
    /// 400 `token_invalid`: a reset or verification token that is unknown, expired, used,
    /// or meant for the other purpose.
    #[error("invalid emailed token")]
    EmailedTokenInvalid,
    /// 403 `wrong_password`: the `current_password` confirming a change is wrong.
    #[error("wrong current password")]
    WrongPassword,
    /// 403 `invalid_mfa_code`: the one-time or recovery code is wrong or used.
    #[error("wrong one-time code")]
    InvalidMfaCode,
    /// 403 `reauthentication_required` (no current password given, or a sign-in too old)
    /// or `first_party_only` (a third-party app's token).
    #[error(transparent)]
    NotReauthenticated(ReauthRefusal),
    /// 409 `mfa_already_enabled`.
    #[error("MFA is already enabled")]
    MfaAlreadyEnabled,
    /// 409 `mfa_not_enabled`.
    #[error("MFA is not enabled")]
    MfaNotEnabled,
    /// 503 `overloaded` with `Retry-After`: the password hashing pool is saturated.
    #[error("password hashing is saturated")]
    Overloaded { retry_after: Duration },
    /// 503 `database_unavailable` with `Retry-After`: the database did not answer in time
    /// (the readiness check, or any request while the database is down).
    #[error("database unavailable")]
    DatabaseUnavailable,
    /// 500 `internal_error`. The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }

    /// The body this error is answered with (also the documentation's examples).
    pub fn problem(&self) -> ProblemDetails {
        let mut problem = ProblemDetails::new(self.status_code(), self.code(), self.detail());
        if let ApiError::Validation(errors) = self {
            problem.errors = errors
                .iter()
                .map(|e| FieldError {
                    field: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect();
        }
        problem
    }

    fn code(&self) -> &'static str {
        let code = match self {
            ApiError::Validation(_) => Code::ValidationFailed,
            ApiError::EmailTaken => Code::EmailTaken,
            ApiError::ClientIdTaken => Code::ClientIdTaken,
            ApiError::BadRequest { code, .. } => *code,
            ApiError::PayloadTooLarge => Code::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => Code::UnsupportedMediaType,
            ApiError::NotFound => Code::NotFound,
            ApiError::MethodNotAllowed { .. } => Code::MethodNotAllowed,
            ApiError::ResourceNotFound(code) => return code,
            ApiError::LastAdmin => Code::LastAdmin,
            ApiError::Conflict => Code::Conflict,
            ApiError::Throttled { .. } => Code::TooManyRequests,
            ApiError::EmailedTokenInvalid => Code::TokenInvalid,
            ApiError::WrongPassword => Code::WrongPassword,
            ApiError::InvalidMfaCode => Code::InvalidMfaCode,
            ApiError::NotReauthenticated(ReauthRefusal::ThirdParty) => Code::FirstPartyOnly,
            ApiError::NotReauthenticated(_) => Code::ReauthenticationRequired,
            ApiError::MfaAlreadyEnabled => Code::MfaAlreadyEnabled,
            ApiError::MfaNotEnabled => Code::MfaNotEnabled,
            ApiError::Overloaded { .. } => Code::Overloaded,
            ApiError::DatabaseUnavailable => Code::DatabaseUnavailable,
            ApiError::Internal(_) => Code::InternalError,
        };
        code.as_str()
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(_) => "The request has invalid fields.".into(),
            ApiError::EmailTaken => "An account with this email already exists.".into(),
            ApiError::ClientIdTaken => "A client with this id is already registered.".into(),
            ApiError::BadRequest { detail, .. } => detail.clone(),
            ApiError::PayloadTooLarge => "The request body is larger than 64 KiB.".into(),
            ApiError::UnsupportedMediaType(detail) => detail.clone(),
            ApiError::NotFound => "There is nothing at this address.".into(),
            ApiError::MethodNotAllowed { allow } => {
                format!("This address does not accept this method; it accepts {allow}.")
            }
            ApiError::ResourceNotFound(code) => format!(
                "No {} with this id exists.",
                code.trim_end_matches("_not_found")
            ),
            ApiError::LastAdmin => {
                "This is the last active admin: promote another user first.".into()
            }
            ApiError::WrongPassword => "The current password is wrong.".into(),
            ApiError::InvalidMfaCode => "The code is wrong or was already used.".into(),
            ApiError::NotReauthenticated(ReauthRefusal::ThirdParty) => {
                "This token belongs to a third-party application, which cannot change how the account signs in or is recovered.".into()
            }
            ApiError::NotReauthenticated(ReauthRefusal::PasswordRequired) => {
                "Confirm this change with your current password (`current_password`).".into()
            }
            ApiError::NotReauthenticated(ReauthRefusal::Stale) => {
                "Sign in again, then retry this change within a few minutes.".into()
            }
            ApiError::MfaAlreadyEnabled => {
                "Multi-factor authentication is already on; turn it off first.".into()
            }
            ApiError::MfaNotEnabled => {
                "Multi-factor authentication is not on (or no enrolment is waiting for its code)."
                    .into()
            }
            ApiError::Conflict => "The account changed while this request ran; try again.".into(),
            ApiError::Throttled { .. } => {
                "Too many attempts; wait for the time in Retry-After.".into()
            }
            ApiError::EmailedTokenInvalid => {
                "The link is invalid, expired or already used; ask for a new one.".into()
            }
            ApiError::Overloaded { .. } => {
                "The server is busy hashing passwords; try again shortly.".into()
            }
            ApiError::DatabaseUnavailable => "The database is not answering.".into(),
            ApiError::Internal(_) => "Something went wrong on our side.".into(),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(
            errors
                .violations()
                .iter()
                .map(|v| FieldError {
                    field: v.field.to_owned(),
                    message: v.message.clone(),
                })
                .collect(),
        )
    }
}

impl From<gatehouse_domain::auth::RegisterError> for ApiError {
    fn from(error: gatehouse_domain::auth::RegisterError) -> Self {
        use gatehouse_domain::auth::RegisterError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::EmailTaken => ApiError::EmailTaken,
            E::Throttled { retry_after } => ApiError::Throttled { retry_after },
            E::Hashing(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

/// Every owner-scoped resource (todos and those built like them).
impl From<gatehouse_domain::oauth::RegisterClientError> for ApiError {
    fn from(error: gatehouse_domain::oauth::RegisterClientError) -> Self {
        use gatehouse_domain::oauth::RegisterClientError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::IdTaken => ApiError::ClientIdTaken,
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::owned::OwnedError> for ApiError {
    fn from(error: gatehouse_domain::owned::OwnedError) -> Self {
        use gatehouse_domain::owned::OwnedError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::NotFound(code) => ApiError::ResourceNotFound(code),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::users::ManageUserError> for ApiError {
    fn from(error: gatehouse_domain::users::ManageUserError) -> Self {
        use gatehouse_domain::users::ManageUserError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::NotFound => ApiError::ResourceNotFound(USER_NOT_FOUND),
            E::SessionNotFound => ApiError::ResourceNotFound(SESSION_NOT_FOUND),
            E::EmailTaken => ApiError::EmailTaken,
            E::LastAdmin => ApiError::LastAdmin,
            E::Conflict => ApiError::Conflict,
            E::WrongPassword => ApiError::WrongPassword,
            E::NotReauthenticated(refusal) => ApiError::NotReauthenticated(refusal),
            E::Throttled { retry_after } => ApiError::Throttled { retry_after },
            E::Hashing(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::mfa::MfaError> for ApiError {
    fn from(error: gatehouse_domain::mfa::MfaError) -> Self {
        use gatehouse_domain::mfa::MfaError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::AlreadyEnabled => ApiError::MfaAlreadyEnabled,
            E::NotEnabled => ApiError::MfaNotEnabled,
            E::InvalidCode => ApiError::InvalidMfaCode,
            E::WrongPassword => ApiError::WrongPassword,
            E::NotReauthenticated(refusal) => ApiError::NotReauthenticated(refusal),
            E::UserNotFound => ApiError::ResourceNotFound(USER_NOT_FOUND),
            E::Throttled { retry_after } => ApiError::Throttled { retry_after },
            E::Unreadable(error) => ApiError::internal(error),
            E::Hashing(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::recovery::RecoveryError> for ApiError {
    fn from(error: gatehouse_domain::recovery::RecoveryError) -> Self {
        use gatehouse_domain::recovery::RecoveryError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::InvalidToken => ApiError::EmailedTokenInvalid,
            E::Throttled { retry_after } => ApiError::Throttled { retry_after },
            E::Hashing(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::throttle::ThrottleError> for ApiError {
    fn from(error: gatehouse_domain::throttle::ThrottleError) -> Self {
        use gatehouse_domain::throttle::ThrottleError as E;
        match error {
            E::Limited { retry_after } => ApiError::Throttled { retry_after },
            E::Repository(error) => error.into(),
        }
    }
}

impl From<HashingError> for ApiError {
    fn from(error: HashingError) -> Self {
        match error {
            HashingError::Overloaded { retry_after } => ApiError::Overloaded { retry_after },
            other => ApiError::internal(other),
        }
    }
}

impl From<gatehouse_domain::RepositoryError> for ApiError {
    fn from(error: gatehouse_domain::RepositoryError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(error = %error, source = ?std::error::Error::source(&error), "database unavailable");
            return ApiError::DatabaseUnavailable;
        }
        ApiError::internal(error)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::EmailTaken | ApiError::ClientIdTaken => StatusCode::CONFLICT,
            ApiError::BadRequest { .. } | ApiError::EmailedTokenInvalid => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound | ApiError::ResourceNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::LastAdmin
            | ApiError::Conflict
            | ApiError::MfaAlreadyEnabled
            | ApiError::MfaNotEnabled => StatusCode::CONFLICT,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::WrongPassword
            | ApiError::InvalidMfaCode
            | ApiError::NotReauthenticated(_) => StatusCode::FORBIDDEN,
            ApiError::Overloaded { .. } | ApiError::DatabaseUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %cause, source = ?cause.source(), "request failed");
        }
        let status = self.status_code();
        let problem = self.problem();
        let mut builder = problem_response(status);
        if let ApiError::Overloaded { retry_after } | ApiError::Throttled { retry_after } = self {
            builder.insert_header((header::RETRY_AFTER, retry_after_secs(*retry_after)));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            builder.insert_header((header::ALLOW, allow.as_str()));
        }
        if let ApiError::DatabaseUnavailable = self {
            builder.insert_header((header::RETRY_AFTER, retry_after_secs(DATABASE_RETRY_AFTER)));
        }
        builder.json(problem)
    }
}

/// Gives error responses that actix-web produced without a JSON body (unknown routes,
/// wrong methods, oversized payloads) the same problem+json shape as ours.
pub fn for_bare_errors<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // JSON errors are ours already, and so are the hosted pages' HTML ones.
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json") || value.starts_with("text/html"));
    if is_ours {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => (Code::NotFound, "There is nothing at this address."),
        StatusCode::METHOD_NOT_ALLOWED => (
            Code::MethodNotAllowed,
            "This address does not accept this method.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            Code::PayloadTooLarge,
            "The request body is larger than 64 KiB.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            Code::UnsupportedMediaType,
            "The body's content type is not accepted here.",
        ),
        status if status.is_server_error() => {
            (Code::InternalError, "Something went wrong on our side.")
        }
        _ => (Code::BadRequest, "The request could not be understood."),
    };
    let code = code.as_str();
    let (request, original) = response.into_parts();
    let mut replacement = problem_response(status).json(ProblemDetails::new(status, code, detail));
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, replacement).map_into_right_body::<B>(),
    ))
}

/// What clients are told to wait when the database is not answering.
const DATABASE_RETRY_AFTER: Duration = Duration::from_secs(5);

pub fn retry_after_secs(duration: Duration) -> HeaderValue {
    HeaderValue::from(duration.as_secs().max(1))
}

/// An RFC 6749 §5.2 error body of the token endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_grant", "error_description": "Invalid username or password."}))]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
    /// `invalid_scope`, `mfa_required`, `temporarily_unavailable` or `server_error`.
    pub error: &'static str,
    pub error_description: String,
    /// `mfa_required` only: the token that continues this sign-in with a second factor
    /// (single-use, 5 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
}

/// An error of the token endpoint.
#[derive(Debug, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    pub retry_after: Option<Duration>,
    /// `mfa_required`: the token of the second step.
    pub mfa_token: Option<secrecy::SecretString>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
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
                StatusCode::FORBIDDEN,
                "mfa_required",
                "A second factor is required: send the mfa_token with a one-time code (grant_type=urn:gatehouse:params:oauth:grant-type:mfa-otp).",
            )
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// 401 `invalid_client` (RFC 6749 §5.2), with the `Basic` challenge.
    pub fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        )
    }

    /// 403 `unauthorized_client` (RFC 6749 §5.2): the client authenticated but may not do
    /// this.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "unauthorized_client", description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            description,
        )
    }

    pub fn temporarily_unavailable(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The server is busy; try again shortly.",
            )
        }
    }

    /// 503 `temporarily_unavailable`: the database did not answer in time.
    pub fn database_unavailable() -> Self {
        Self {
            retry_after: Some(DATABASE_RETRY_AFTER),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The database is not answering; try again shortly.",
            )
        }
    }

    /// Logs `cause` and answers 500 `server_error` without it.
    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "token request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
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
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        builder
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let Some(retry_after) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, retry_after_secs(retry_after)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"gatehouse\""));
        }
        builder.json(OAuthErrorBody {
            error: self.error,
            error_description: self.description.clone(),
            mfa_token: self
                .mfa_token
                .as_ref()
                .map(|token| secrecy::ExposeSecret::expose_secret(token).to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_answers_with_the_status_of_its_code() {
        let errors = [
            ApiError::Validation(Vec::new()),
            ApiError::EmailTaken,
            ApiError::PayloadTooLarge,
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::NotFound,
            ApiError::MethodNotAllowed {
                allow: "GET".into(),
            },
            ApiError::LastAdmin,
            ApiError::Conflict,
            ApiError::Throttled {
                retry_after: Duration::from_secs(1),
            },
            ApiError::EmailedTokenInvalid,
            ApiError::WrongPassword,
            ApiError::InvalidMfaCode,
            ApiError::NotReauthenticated(ReauthRefusal::ThirdParty),
            ApiError::NotReauthenticated(ReauthRefusal::PasswordRequired),
            ApiError::NotReauthenticated(ReauthRefusal::Stale),
            ApiError::MfaAlreadyEnabled,
            ApiError::MfaNotEnabled,
            ApiError::Overloaded {
                retry_after: Duration::from_secs(1),
            },
            ApiError::DatabaseUnavailable,
        ];
        for error in errors {
            let code = Code::ALL
                .iter()
                .find(|code| code.as_str() == error.code())
                .expect("a listed code");
            assert_eq!(code.status(), error.status_code(), "{error:?}");
        }
    }
}
