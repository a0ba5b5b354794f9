//! Reusable error responses, each with an example. The types exist only to describe
//! responses in the document; the bodies themselves are built in `gatehouse_http::problem`.
#![allow(dead_code)]
use utoipa::{IntoResponses, ToResponse};

use gatehouse_http::problem::{OAuthErrorBody, ProblemDetails};

/// What every operation behind a bearer token may answer besides its own responses: no
/// or a bad token (401), a token without the scope or role it needs (403).
#[derive(IntoResponses)]
pub enum Protected {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
}

/// The body is not valid JSON.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:malformed_json", "title": "Bad Request", "status": 400,
    "detail": "The body is not valid JSON: expected value at line 1 column 1.", "code": "malformed_json"}))]
pub struct BadRequest(ProblemDetails);

/// No bearer token, or an expired, malformed, forged or revoked one. The
/// `WWW-Authenticate` header carries the RFC 6750 challenge.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "Bearer realm=\"gatehouse\", error=\"invalid_token\"")),
    example = json!({"type": "urn:gatehouse:problem:invalid_token", "title": "Unauthorized", "status": 401,
        "detail": "The access token is invalid or has expired.", "code": "invalid_token"}))]
pub struct Unauthorized(ProblemDetails);

/// The token lacks the scope this operation requires.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"me\"")),
    example = json!({"type": "urn:gatehouse:problem:insufficient_scope", "title": "Forbidden", "status": 403,
        "detail": "This endpoint needs a token with scope `me`.", "code": "insufficient_scope"}))]
pub struct Forbidden(ProblemDetails);

/// An account with this email already exists.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:email_taken", "title": "Conflict", "status": 409,
    "detail": "An account with this email already exists.", "code": "email_taken"}))]
pub struct EmailTaken(ProblemDetails);

/// The body is larger than 64 KiB.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:payload_too_large", "title": "Payload Too Large", "status": 413,
    "detail": "The request body is larger than 64 KiB.", "code": "payload_too_large"}))]
pub struct PayloadTooLarge(ProblemDetails);

/// Some fields are invalid; `errors` lists each one.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:validation_failed", "title": "Unprocessable Entity", "status": 422,
    "detail": "The request has invalid fields.", "code": "validation_failed",
    "errors": [{"field": "password", "message": "password is too common"}]}))]
pub struct ValidationFailed(ProblemDetails);

/// A path or query parameter is invalid; `errors` names it.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:validation_failed", "title": "Unprocessable Entity", "status": 422,
    "detail": "The request has invalid fields.", "code": "validation_failed",
    "errors": [{"field": "limit", "message": "limit must be between 1 and 100"}]}))]
pub struct InvalidInput(ProblemDetails);

/// The emailed token is unknown, expired, already used, or meant for something else.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:token_invalid", "title": "Bad Request", "status": 400,
    "detail": "The link is invalid, expired or already used; ask for a new one.", "code": "token_invalid"}))]
pub struct EmailedTokenInvalid(ProblemDetails);

/// You have no live session with this id.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:session_not_found", "title": "Not Found", "status": 404,
    "detail": "No session with this id exists.", "code": "session_not_found"}))]
pub struct SessionNotFound(ProblemDetails);

/// You (or this user) have no live personal access token with this id.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:personal_token_not_found", "title": "Not Found", "status": 404,
    "detail": "No personal token with this id exists.", "code": "personal_token_not_found"}))]
pub struct PersonalTokenNotFound(ProblemDetails);

/// No dead email has this id (it was delivered, is pending, or never was).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:mail_not_found", "title": "Not Found", "status": 404,
    "detail": "No mail with this id exists.", "code": "mail_not_found"}))]
pub struct MailNotFound(ProblemDetails);

/// No client has this id.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:client_not_found", "title": "Not Found", "status": 404,
    "detail": "No client with this id exists.", "code": "client_not_found"}))]
pub struct ClientNotFound(ProblemDetails);

/// A client with this id is already registered.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:client_id_taken", "title": "Conflict", "status": 409,
    "detail": "A client with this id is already registered.", "code": "client_id_taken"}))]
pub struct ClientIdTaken(ProblemDetails);

/// A public client has no secret to rotate.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:public_client", "title": "Conflict", "status": 409,
    "detail": "A public client has no secret to rotate.", "code": "public_client"}))]
pub struct PublicClient(ProblemDetails);

/// No registered API has this id.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:api_not_found", "title": "Not Found", "status": 404,
    "detail": "No api with this id exists.", "code": "api_not_found"}))]
pub struct ApiNotFound(ProblemDetails);

/// An API with this identifier is already registered.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:api_taken", "title": "Conflict", "status": 409,
    "detail": "An API with this identifier is already registered.", "code": "api_taken"}))]
pub struct ApiTaken(ProblemDetails);

/// No user has this id.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:user_not_found", "title": "Not Found", "status": 404,
    "detail": "No user with this id exists.", "code": "user_not_found"}))]
pub struct UserNotFound(ProblemDetails);

/// You have no upstream identity with this provider and subject.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:identity_not_found", "title": "Not Found", "status": 404,
    "detail": "No identity with this id exists.", "code": "identity_not_found"}))]
pub struct IdentityNotFound(ProblemDetails);

/// The identity is the account's only way to sign in.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:last_sign_in_method", "title": "Conflict", "status": 409,
    "detail": "This is the only way into the account: set a password, link a provider or add a passkey first.", "code": "last_sign_in_method"}))]
pub struct LastSignInMethod(ProblemDetails);

/// You have no passkey with this id.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:passkey_not_found", "title": "Not Found", "status": 404,
    "detail": "No passkey with this id exists.", "code": "passkey_not_found"}))]
pub struct PasskeyNotFound(ProblemDetails);

/// Passkeys cannot be used on this server (`passkeys_unavailable`), or the passkey is
/// registered already (`passkey_taken`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    examples(
        ("passkeys_unavailable" = (value = json!({"type": "urn:gatehouse:problem:passkeys_unavailable", "title": "Conflict", "status": 409,
            "detail": "Passkeys are not available on this server (its public URL has no domain name).", "code": "passkeys_unavailable"}))),
        ("passkey_taken" = (value = json!({"type": "urn:gatehouse:problem:passkey_taken", "title": "Conflict", "status": 409,
            "detail": "This passkey is registered already.", "code": "passkey_taken"}))),
    )
)]
pub struct PasskeyConflict(ProblemDetails);

/// The ceremony is unknown, expired, finished or another session's (`ceremony_invalid`), or
/// the authenticator's answer failed a check (`passkey_refused`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    examples(
        ("ceremony_invalid" = (value = json!({"type": "urn:gatehouse:problem:ceremony_invalid", "title": "Bad Request", "status": 400,
            "detail": "This passkey ceremony expired, was already finished or is not yours; begin again.", "code": "ceremony_invalid"}))),
        ("passkey_refused" = (value = json!({"type": "urn:gatehouse:problem:passkey_refused", "title": "Bad Request", "status": 400,
            "detail": "The passkey could not be verified.", "code": "passkey_refused"}))),
    )
)]
pub struct PasskeyRejected(ProblemDetails);

/// The change would leave no active admin.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:last_admin", "title": "Conflict", "status": 409,
    "detail": "This is the last active admin: promote another user first.", "code": "last_admin"}))]
pub struct LastAdmin(ProblemDetails);

/// Re-authentication refused: `current_password` is wrong (`wrong_password`) or missing
/// (`reauthentication_required`, which an account without a password gets when its
/// sign-in is older than `auth.reauthentication_seconds`), or the token belongs to a
/// third-party app (`first_party_only`), or lacks the scope (`insufficient_scope`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    examples(
        ("wrong_password" = (value = json!({"type": "urn:gatehouse:problem:wrong_password", "title": "Forbidden", "status": 403,
            "detail": "The current password is wrong.", "code": "wrong_password"}))),
        ("reauthentication_required" = (value = json!({"type": "urn:gatehouse:problem:reauthentication_required", "title": "Forbidden", "status": 403,
            "detail": "Confirm this change with your current password (`current_password`).", "code": "reauthentication_required"}))),
        ("first_party_only" = (value = json!({"type": "urn:gatehouse:problem:first_party_only", "title": "Forbidden", "status": 403,
            "detail": "This token belongs to a third-party application, which cannot change how the account signs in or is recovered.", "code": "first_party_only"}))),
    ))]
pub struct WrongPassword(ProblemDetails);

/// The `current_password` is wrong (`wrong_password`) or missing
/// (`reauthentication_required`), the one-time or recovery code is wrong or was already
/// used (`invalid_mfa_code`), the token belongs to a third-party app
/// (`first_party_only`), or lacks the scope (`insufficient_scope`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    examples(
        ("invalid_mfa_code" = (value = json!({"type": "urn:gatehouse:problem:invalid_mfa_code", "title": "Forbidden", "status": 403,
            "detail": "The code is wrong or was already used.", "code": "invalid_mfa_code"}))),
        ("wrong_password" = (value = json!({"type": "urn:gatehouse:problem:wrong_password", "title": "Forbidden", "status": 403,
            "detail": "The current password is wrong.", "code": "wrong_password"}))),
        ("reauthentication_required" = (value = json!({"type": "urn:gatehouse:problem:reauthentication_required", "title": "Forbidden", "status": 403,
            "detail": "Confirm this change with your current password (`current_password`).", "code": "reauthentication_required"}))),
        ("first_party_only" = (value = json!({"type": "urn:gatehouse:problem:first_party_only", "title": "Forbidden", "status": 403,
            "detail": "This token belongs to a third-party application, which cannot change how the account signs in or is recovered.", "code": "first_party_only"}))),
    ))]
pub struct MfaRefused(ProblemDetails);

/// The account has MFA already: disable it first.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:mfa_already_enabled", "title": "Conflict", "status": 409,
    "detail": "Multi-factor authentication is already on; turn it off first.", "code": "mfa_already_enabled"}))]
pub struct MfaAlreadyEnabled(ProblemDetails);

/// The account has no MFA (or no enrolment waiting for its code).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:mfa_not_enabled", "title": "Conflict", "status": 409,
    "detail": "Multi-factor authentication is not on (or no enrolment is waiting for its code).", "code": "mfa_not_enabled"}))]
pub struct MfaNotEnabled(ProblemDetails);

/// Password hashing is saturated (`overloaded`), or the database is not answering
/// (`database_unavailable`); retry after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait")),
    examples(
        ("overloaded" = (value = json!({"type": "urn:gatehouse:problem:overloaded", "title": "Service Unavailable", "status": 503,
            "detail": "The server is busy hashing passwords; try again shortly.", "code": "overloaded"}))),
        ("database_unavailable" = (value = json!({"type": "urn:gatehouse:problem:database_unavailable", "title": "Service Unavailable", "status": 503,
            "detail": "The database is not answering.", "code": "database_unavailable"}))),
    ))]
pub struct Overloaded(ProblemDetails);

/// The database is not answering; retry after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait")),
    example = json!({"type": "urn:gatehouse:problem:database_unavailable", "title": "Service Unavailable", "status": 503,
        "detail": "The database is not answering.", "code": "database_unavailable"}))]
pub struct DatabaseUnavailable(ProblemDetails);

/// The body is not `application/json`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", example = json!({
    "type": "urn:gatehouse:problem:unsupported_media_type", "title": "Unsupported Media Type", "status": 415,
    "detail": "This endpoint takes an application/json body.", "code": "unsupported_media_type"}))]
pub struct UnsupportedMediaType(ProblemDetails);

/// The path does not accept this method; `Allow` lists those it does.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Allow" = String, description = "The methods this path accepts")),
    example = json!({"type": "urn:gatehouse:problem:method_not_allowed", "title": "Method Not Allowed", "status": 405,
        "detail": "This address does not accept this method; it accepts GET, PATCH, DELETE.", "code": "method_not_allowed"}))]
pub struct MethodNotAllowed(ProblemDetails);

/// Too many attempts (failed logins per account or IP, registrations or reset requests
/// per IP); retry after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait")),
    example = json!({"type": "urn:gatehouse:problem:too_many_requests", "title": "Too Many Requests", "status": 429,
        "detail": "Too many attempts; wait for the time in Retry-After.", "code": "too_many_requests"}))]
pub struct TooManyRequests(ProblemDetails);

/// Password hashing is saturated; retry after `Retry-After` seconds (RFC 6749 error body).
#[derive(ToResponse)]
#[response(
    headers(("Retry-After" = u32, description = "Seconds to wait")),
    example = json!({"error": "temporarily_unavailable", "error_description": "The server is busy; try again shortly."}))]
pub struct TokenUnavailable(OAuthErrorBody);

/// An RFC 6749 §5.2 error: `invalid_request` (missing, empty or repeated parameter, or
/// not a form), `invalid_grant` (wrong email or password), `unsupported_grant_type`,
/// `invalid_scope`.
#[derive(ToResponse)]
#[response(examples(
    ("invalid_grant" = (value = json!({"error": "invalid_grant", "error_description": "Invalid username or password."}))),
    ("reused_refresh_token" = (value = json!({"error": "invalid_grant", "error_description": "The refresh token was already used; its session has been revoked."}))),
    ("invalid_request" = (value = json!({"error": "invalid_request", "error_description": "Parameter `password` is missing."}))),
    ("unsupported_grant_type" = (value = json!({"error": "unsupported_grant_type", "error_description": "Grant type `client_credentials` is not supported; use `password`."}))),
    ("invalid_scope" = (value = json!({"error": "invalid_scope", "error_description": "Scope `users:read` is not allowed for this account."}))),
))]
pub struct TokenError(OAuthErrorBody);

/// The password was right and the account has MFA: send `mfa_token` with a one-time
/// code (`otp`) or a recovery code (`recovery_code`) as
/// `grant_type=urn:gatehouse:params:oauth:grant-type:mfa-otp` within 5 minutes.
#[derive(ToResponse)]
#[response(example = json!({"error": "mfa_required",
    "error_description": "A second factor is required: send the mfa_token with a one-time code.",
    "mfa_token": "pQ0c2v6mJ0rL1nHTCZyN0n6V6Q2mQxw9-1s8YlZpG0c"}))]
pub struct MfaRequired(OAuthErrorBody);

/// `invalid_client` (RFC 6749 §5.2): the client of an authorization code grant is
/// unknown, or its secret is wrong or missing.
#[derive(ToResponse)]
#[response(
    headers(("WWW-Authenticate" = String, description = "`Basic realm=\"gatehouse\"`")),
    example = json!({"error": "invalid_client", "error_description": "Client authentication failed."}))]
pub struct InvalidClient(OAuthErrorBody);

/// `unauthorized_client` (RFC 6749 §5.2): the client authenticated, but may not use
/// this endpoint (introspection is for resource servers).
#[derive(ToResponse)]
#[response(example = json!({"error": "unauthorized_client",
    "error_description": "Only clients an administrator registered as resource servers may introspect tokens."}))]
pub struct UnauthorizedClient(OAuthErrorBody);
