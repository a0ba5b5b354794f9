//! The OpenAPI 3.1 document: every operation, its schemas, its error responses with
//! examples, and the OAuth2 password-flow scheme that powers Swagger UI's Authorize button.

use gatehouse_domain::Scope;
use utoipa::openapi::security::{
    AuthorizationCode, Flow, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use gatehouse_http::paths;

use crate::dto;
use crate::routes::{audit, auth, clients, health, jwks, mfa, oidc, users};
use gatehouse_http::problem::{FieldError, OAuthErrorBody, ProblemDetails};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gatehouse",
        description = "Authentication and user service: sign-up, OAuth2 login with JWT access tokens (password grant, or the authorization code flow with PKCE as an OpenID Connect provider), and per-user resources.\n\nPress **Authorize**, then either enter your email as the username and your password (password flow), or sign in on gatehouse's own page (authorization code flow), then call any endpoint.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        auth::register, auth::token, auth::logout,
        auth::request_password_reset, auth::confirm_password_reset,
        auth::request_email_verification, auth::confirm_email_verification,
        users::me, users::update_me, users::change_password, users::delete_me,
        users::list_sessions, users::revoke_session, users::revoke_all_sessions,
        users::list, users::get_user, users::update_user, users::delete_user,
        audit::list,
        health::live, health::ready, jwks::jwks,
        oidc::discovery, oidc::userinfo, oidc::userinfo_by_post, oidc::revoke, oidc::introspect,
        clients::list, clients::create, clients::get_client, clients::remove,
        mfa::own_status, mfa::start, mfa::confirm, mfa::disable, mfa::regenerate,
        mfa::user_status, mfa::reset,
    ),
    components(
        schemas(
            dto::RegisterRequest, dto::UserResponse, dto::TokenRequest, dto::TokenResponse,
            dto::HealthResponse, dto::UpdateMeRequest, dto::ChangePasswordRequest,
            dto::DeleteAccountRequest, dto::ReauthenticationRequest, dto::AdminUpdateUserRequest, dto::SessionResponse,
            dto::PasswordResetRequest, dto::PasswordResetConfirm, dto::VerifyEmailConfirm,
            dto::AcceptedResponse, dto::AuditEventResponse, jwks::Jwk, jwks::JwkSet,
            oidc::ProviderMetadata, oidc::UserInfo, oidc::UserinfoForm, oidc::TokenForm, oidc::IntrospectionResponse,
            clients::NewClientRequest, clients::ClientResponse, clients::RegisteredClient,
            mfa::MfaStatusResponse, mfa::EnrolmentResponse, mfa::ConfirmMfaRequest,
            mfa::MfaChangeRequest, mfa::WithOtp, mfa::WithRecoveryCode, mfa::RecoveryCodesResponse,
            ProblemDetails, FieldError, OAuthErrorBody,
        ),
        responses(
            responses::BadRequest, responses::Unauthorized, responses::Forbidden,
            responses::EmailTaken, responses::PayloadTooLarge, responses::ValidationFailed,
            responses::InvalidInput, responses::UserNotFound,
            responses::SessionNotFound, responses::EmailedTokenInvalid,
            responses::LastAdmin, responses::WrongPassword, responses::MfaRefused,
            responses::MfaAlreadyEnabled, responses::MfaNotEnabled, responses::MfaRequired,
            responses::Overloaded, responses::TokenError, responses::TokenUnavailable,
            responses::InvalidClient, responses::UnauthorizedClient, responses::ClientNotFound, responses::ClientIdTaken,
            responses::TooManyRequests, responses::UnsupportedMediaType,
            responses::DatabaseUnavailable, responses::MethodNotAllowed,
        ),
    ),
    modifiers(&OAuth2Addon),
    tags(
        (name = "auth", description = "Sign-up and tokens"),
        (name = "users", description = "Your account"),
        (name = "admin", description = "User management, for admins"),
        (name = "health", description = "Probes for orchestrators"),
        (name = "oidc", description = "OpenID Connect provider: discovery, userinfo, revocation and introspection"),
    )
)]
pub struct ApiDoc;

/// Adds the `oauth2` password-flow scheme to the generated components. It extends the
/// components rather than replacing them, which would drop every schema.
struct OAuth2Addon;

impl Modify for OAuth2Addon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scopes = Scopes::from_iter(
            Scope::ALL
                .into_iter()
                .map(|scope| (scope.as_str(), scope.description())),
        );
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [
                    Flow::Password(Password::with_refresh_url(
                        paths::TOKEN,
                        scopes.clone(),
                        paths::TOKEN,
                    )),
                    Flow::AuthorizationCode(AuthorizationCode::with_refresh_url(
                        paths::AUTHORIZE,
                        paths::TOKEN,
                        scopes,
                        paths::TOKEN,
                    )),
                ],
                "Password flow: your email as the username, and your password. Authorization code flow (with PKCE): sign in on gatehouse's own page, through the built-in public client `swagger-ui`.",
            )),
        );
    }
}

/// The document, as served and as printed by `gatehouse openapi`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    for part in crate::routes::owned_docs() {
        document.merge(part);
    }
    add_shared_responses(&mut document);
    require_with(
        &mut document,
        "UpdateMeRequest",
        "email",
        &["current_password"],
    );
    // The probes stay last in Swagger UI, after the resources merged in.
    if let Some(tags) = document.tags.as_mut() {
        tags.sort_by_key(|tag| tag.name == "health");
    }
    document
}

/// The document as served: serialized once at start-up and shared by every worker, rather
/// than a copy of the document per worker serialized on each request (three copies of the
/// document took 3.7 MiB).
#[derive(Clone)]
pub struct Served(actix_web::web::Bytes);

impl Served {
    pub fn new(document: &utoipa::openapi::OpenApi) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(document).map(|json| Self(json.into()))
    }

    /// `GET` [`paths::DOCUMENT`].
    pub async fn serve(served: actix_web::web::Data<Served>) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Ok()
            .content_type(actix_web::http::header::ContentType::json())
            .body(served.0.clone())
    }
}

/// Adds the answers that come with a kind of operation rather than with the operation, so
/// that none is left out: a JSON body can be malformed (400), too large (413), of another
/// type (415) or invalid (422); path and query parameters can be invalid (422); anything
/// under `/api/v1` needs the database, which can be down (503).
fn add_shared_responses(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{Operation, ParameterIn};
    use utoipa::openapi::{Ref, RefOr};

    let add = |operation: &mut Operation, status: &str, response: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(response)));
    };
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let json_body = matches!(&operation.request_body, Some(RefOr::T(body))
                if body.content.contains_key("application/json"));
            if json_body {
                add(operation, "400", "BadRequest");
                add(operation, "413", "PayloadTooLarge");
                add(operation, "415", "UnsupportedMediaType");
                add(operation, "422", "ValidationFailed");
            }
            let has_parameters = operation.parameters.iter().flatten().any(|parameter| {
                matches!(parameter, RefOr::T(parameter)
                    if matches!(parameter.parameter_in, ParameterIn::Path | ParameterIn::Query))
            });
            if has_parameters {
                add(operation, "422", "InvalidInput");
            }
            if path.starts_with("/api/v1/") {
                add(operation, "503", "DatabaseUnavailable");
            }
        }
    }
}

/// States in `schema` that `field`, when it is a string, needs `others` as strings (JSON
/// Schema's `if`/`then`, which utoipa's attributes cannot spell; a `null` is the same as
/// leaving a field out).
fn require_with(
    document: &mut utoipa::openapi::OpenApi,
    schema: &str,
    field: &str,
    others: &[&str],
) {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::{RefOr, extensions::Extensions};

    let schemas = document.components.as_mut().map(|c| &mut c.schemas);
    if let Some(RefOr::T(Schema::Object(object))) = schemas.and_then(|s| s.get_mut(schema)) {
        let extensions = object.extensions.get_or_insert_with(Extensions::default);
        extensions.insert(
            "if".into(),
            serde_json::json!({"required": [field], "properties": {field: {"type": "string"}}}),
        );
        let strings: serde_json::Map<_, _> = others
            .iter()
            .map(|other| ((*other).to_owned(), serde_json::json!({"type": "string"})))
            .collect();
        extensions.insert(
            "then".into(),
            serde_json::json!({"required": others, "properties": strings}),
        );
    }
}

/// Reusable error responses, each with an example. The types exist only to describe
/// responses in the document; the bodies themselves are built in `gatehouse_http::problem`.
#[allow(dead_code)]
pub mod responses {
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

    /// No user has this id.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json", example = json!({
        "type": "urn:gatehouse:problem:user_not_found", "title": "Not Found", "status": 404,
        "detail": "No user with this id exists.", "code": "user_not_found"}))]
    pub struct UserNotFound(ProblemDetails);

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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 405 answers' `Allow` lists come from this document.

    #[test]
    fn allow_lists_the_documented_methods_of_the_matching_path() {
        let methods = gatehouse_http::methods::Methods::from_document(&document());
        assert_eq!(
            methods.allowed("/api/v1/users/me"),
            Some("GET, PATCH, DELETE")
        );
        assert_eq!(
            methods.allowed("/api/v1/todos/019a4d3e-7b6f-7c52-9d7e-2f1a3b4c5d6e"),
            Some("GET, PATCH, DELETE")
        );
        assert_eq!(methods.allowed("/api/v1/auth/token"), Some("POST"));
        assert_eq!(methods.allowed("/swagger-ui/index.html"), Some("GET"));
        assert_eq!(methods.allowed("/api/v1/nothing"), None);
        assert_eq!(methods.allowed("/api/v1/users/me/extra"), None);
    }
}
