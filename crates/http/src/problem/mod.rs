//! Errors as HTTP: RFC 9457 problem details for the API, RFC 6749 §5.2 errors for the token
//! endpoint, RFC 6750 challenges for bearer authentication.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use gatehouse_domain::reauth::ReauthRefusal;
use serde::Serialize;
use utoipa::ToSchema;

mod bare;
mod codes;
mod from_domain;
mod oauth;

pub use bare::for_bare_errors;
pub use codes::Code;
pub use oauth::{
    INVALID_CREDENTIALS, OAuthError, OAuthErrorBody, OAuthErrorCode, TokenEndpointError,
};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// 404 codes of resources the API addresses by id.
pub const USER_NOT_FOUND: &str = "user_not_found";
pub const SESSION_NOT_FOUND: &str = "session_not_found";
pub const PERSONAL_TOKEN_NOT_FOUND: &str = "personal_token_not_found";
/// The 404 code of an upstream identity the account does not have.
pub const IDENTITY_NOT_FOUND: &str = "identity_not_found";
pub const PASSKEY_NOT_FOUND: &str = "passkey_not_found";
pub const CLIENT_NOT_FOUND: &str = "client_not_found";
pub const API_NOT_FOUND: &str = "api_not_found";
/// The 404 code of a queued email that is not dead (or does not exist).
pub const MAIL_NOT_FOUND: &str = "mail_not_found";

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
    /// 409 `api_taken`.
    #[error("an API with this identifier exists")]
    ApiTaken,
    /// 409 `public_client`.
    #[error("a public client has no secret")]
    PublicClient,
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
    /// 409 `last_sign_in_method`: the identity is the only way into the account.
    #[error("last way to sign in")]
    LastSignInMethod,
    /// 409 `passkeys_unavailable`: this deployment cannot use passkeys.
    #[error("passkeys unavailable")]
    PasskeysUnavailable,
    /// 400 `ceremony_invalid`: an unknown, expired, finished or foreign passkey ceremony.
    #[error("invalid passkey ceremony")]
    CeremonyInvalid,
    /// 400 `passkey_refused`: the authenticator's answer failed a check.
    #[error("passkey refused")]
    PasskeyRefused,
    /// 409 `passkey_taken`: the credential is registered already.
    #[error("passkey registered already")]
    PasskeyTaken,
    /// 403 `own_account`: an admin's own account, through the admin endpoints.
    #[error("own account")]
    OwnAccount,
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
        let mut problem = ProblemDetails::new(self.status_code(), self.code_str(), self.detail());
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

    /// Its `code`, which decides its status: one of [`Code`], or `None` for a resource's
    /// own 404 code ([`ApiError::ResourceNotFound`]).
    fn code(&self) -> Option<Code> {
        Some(match self {
            ApiError::Validation(_) => Code::ValidationFailed,
            ApiError::EmailTaken => Code::EmailTaken,
            ApiError::ClientIdTaken => Code::ClientIdTaken,
            ApiError::ApiTaken => Code::ApiTaken,
            ApiError::PublicClient => Code::PublicClient,
            ApiError::BadRequest { code, .. } => *code,
            ApiError::PayloadTooLarge => Code::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => Code::UnsupportedMediaType,
            ApiError::NotFound => Code::NotFound,
            ApiError::MethodNotAllowed { .. } => Code::MethodNotAllowed,
            ApiError::ResourceNotFound(_) => return None,
            ApiError::LastAdmin => Code::LastAdmin,
            ApiError::LastSignInMethod => Code::LastSignInMethod,
            ApiError::PasskeysUnavailable => Code::PasskeysUnavailable,
            ApiError::CeremonyInvalid => Code::CeremonyInvalid,
            ApiError::PasskeyRefused => Code::PasskeyRefused,
            ApiError::PasskeyTaken => Code::PasskeyTaken,
            ApiError::OwnAccount => Code::OwnAccount,
            ApiError::Conflict => Code::Conflict,
            ApiError::Throttled { .. } => Code::TooManyRequests,
            ApiError::EmailedTokenInvalid => Code::TokenInvalid,
            ApiError::WrongPassword => Code::WrongPassword,
            ApiError::InvalidMfaCode => Code::InvalidMfaCode,
            ApiError::NotReauthenticated(
                ReauthRefusal::ThirdParty | ReauthRefusal::PersonalToken,
            ) => Code::FirstPartyOnly,
            ApiError::NotReauthenticated(_) => Code::ReauthenticationRequired,
            ApiError::MfaAlreadyEnabled => Code::MfaAlreadyEnabled,
            ApiError::MfaNotEnabled => Code::MfaNotEnabled,
            ApiError::Overloaded { .. } => Code::Overloaded,
            ApiError::DatabaseUnavailable => Code::DatabaseUnavailable,
            ApiError::Internal(_) => Code::InternalError,
        })
    }

    /// The `code` as sent.
    fn code_str(&self) -> &'static str {
        match (self, self.code()) {
            (ApiError::ResourceNotFound(code), _) => code,
            (_, Some(code)) => code.as_str(),
            (_, None) => Code::NotFound.as_str(),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(_) => "The request has invalid fields.".into(),
            ApiError::EmailTaken => "An account with this email already exists.".into(),
            ApiError::ClientIdTaken => "A client with this id is already registered.".into(),
            ApiError::ApiTaken => "An API with this identifier is already registered.".into(),
            ApiError::PublicClient => "A public client has no secret to rotate.".into(),
            ApiError::BadRequest { detail, .. } => detail.clone(),
            ApiError::PayloadTooLarge => "The request body is larger than 64 KiB.".into(),
            ApiError::UnsupportedMediaType(detail) => detail.clone(),
            ApiError::NotFound => "There is nothing at this address.".into(),
            ApiError::MethodNotAllowed { allow } => {
                format!("This address does not accept this method; it accepts {allow}.")
            }
            ApiError::ResourceNotFound(code) => format!(
                "No {} with this id exists.",
                code.trim_end_matches("_not_found").replace('_', " ")
            ),
            ApiError::LastAdmin => {
                "This is the last active admin: promote another user first.".into()
            }
            ApiError::OwnAccount => {
                "Change or delete your own account through /api/v1/users/me, which asks for your password.".into()
            }
            ApiError::LastSignInMethod => {
                "This is the only way into the account: set a password, link a provider or add a passkey first.".into()
            }
            ApiError::PasskeysUnavailable => {
                "Passkeys are not available on this server (its public URL has no domain name).".into()
            }
            ApiError::CeremonyInvalid => {
                "This passkey ceremony expired, was already finished or is not yours; begin again.".into()
            }
            ApiError::PasskeyRefused => "The passkey could not be verified.".into(),
            ApiError::PasskeyTaken => "This passkey is registered already.".into(),
            ApiError::WrongPassword => "The current password is wrong.".into(),
            ApiError::InvalidMfaCode => "The code is wrong or was already used.".into(),
            ApiError::NotReauthenticated(ReauthRefusal::ThirdParty) => {
                "This token belongs to a third-party application, which cannot change how the account signs in or is recovered.".into()
            }
            ApiError::NotReauthenticated(ReauthRefusal::PersonalToken) => {
                "This is a personal access token, which cannot change how the account signs in or make other tokens: sign in.".into()
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

impl ResponseError for ApiError {
    /// The status of its code; a resource's own 404 code is a 404.
    fn status_code(&self) -> StatusCode {
        self.code().map_or(StatusCode::NOT_FOUND, Code::status)
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

/// What clients are told to wait when the database is not answering.
const DATABASE_RETRY_AFTER: Duration = Duration::from_secs(5);

pub fn retry_after_secs(duration: Duration) -> HeaderValue {
    HeaderValue::from(duration.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error's answer carries the status of its code, in the header and in the body,
    /// and a code the documentation lists.
    #[test]
    fn each_error_answers_with_the_status_of_its_code() {
        let errors = [
            ApiError::Validation(Vec::new()),
            ApiError::EmailTaken,
            ApiError::ClientIdTaken,
            ApiError::ApiTaken,
            ApiError::PublicClient,
            ApiError::BadRequest {
                code: Code::MalformedJson,
                detail: "x".into(),
            },
            ApiError::PayloadTooLarge,
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::NotFound,
            ApiError::MethodNotAllowed {
                allow: "GET".into(),
            },
            ApiError::ResourceNotFound(USER_NOT_FOUND),
            ApiError::LastAdmin,
            ApiError::LastSignInMethod,
            ApiError::PasskeysUnavailable,
            ApiError::CeremonyInvalid,
            ApiError::PasskeyRefused,
            ApiError::PasskeyTaken,
            ApiError::OwnAccount,
            ApiError::Conflict,
            ApiError::Throttled {
                retry_after: Duration::from_secs(1),
            },
            ApiError::EmailedTokenInvalid,
            ApiError::WrongPassword,
            ApiError::InvalidMfaCode,
            ApiError::NotReauthenticated(ReauthRefusal::ThirdParty),
            ApiError::NotReauthenticated(ReauthRefusal::PersonalToken),
            ApiError::NotReauthenticated(ReauthRefusal::PasswordRequired),
            ApiError::NotReauthenticated(ReauthRefusal::Stale),
            ApiError::MfaAlreadyEnabled,
            ApiError::MfaNotEnabled,
            ApiError::Overloaded {
                retry_after: Duration::from_secs(1),
            },
            ApiError::DatabaseUnavailable,
            ApiError::internal(std::io::Error::other("x")),
        ];
        for error in errors {
            let problem = error.problem();
            let response = error.error_response();
            assert_eq!(response.status(), error.status_code(), "{error:?}");
            assert_eq!(problem.status, error.status_code().as_u16(), "{error:?}");
            match Code::ALL.iter().find(|code| code.as_str() == problem.code) {
                Some(code) => assert_eq!(code.status(), error.status_code(), "{error:?}"),
                None => assert!(
                    problem.code.ends_with("_not_found") && problem.status == 404,
                    "{error:?}"
                ),
            }
        }
    }
}
