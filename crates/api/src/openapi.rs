//! The OpenAPI 3.1 document: the features' docs merged, the responses they share, the
//! answers every operation of a kind may give, and the OAuth2 scheme that powers Swagger
//! UI's Authorize button.

use gatehouse_domain::Scope;
use utoipa::openapi::security::{
    AuthorizationCode, Flow, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use gatehouse_http::paths;

use crate::shared::responses;
use crate::shared::schemas::{AcceptedResponse, ReauthenticationRequest, UserResponse};
use gatehouse_http::problem::{FieldError, OAuthErrorBody, ProblemDetails};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gatehouse",
        description = "Authentication and user service: sign-up, OAuth2 login with JWT access tokens (password grant, or the authorization code flow with PKCE as an OpenID Connect provider), and per-user resources.\n\nPress **Authorize**, then either enter your email as the username and your password (password flow), or sign in on gatehouse's own page (authorization code flow), then call any endpoint.",
        license(name = "MIT OR Apache-2.0"),
    ),
    components(
        schemas(
            UserResponse, ReauthenticationRequest, AcceptedResponse,
            ProblemDetails, FieldError, OAuthErrorBody,
        ),
        responses(
            responses::BadRequest, responses::Unauthorized, responses::Forbidden,
            responses::EmailTaken, responses::PayloadTooLarge, responses::ValidationFailed,
            responses::InvalidInput, responses::UserNotFound,
            responses::SessionNotFound, responses::PersonalTokenNotFound, responses::EmailedTokenInvalid,
            responses::LastAdmin, responses::IdentityNotFound, responses::LastSignInMethod,
            responses::PasskeyNotFound, responses::PasskeyConflict, responses::PasskeyRejected,
            responses::WrongPassword, responses::MfaRefused,
            responses::MfaAlreadyEnabled, responses::MfaNotEnabled, responses::MfaRequired,
            responses::Overloaded, responses::TokenError, responses::TokenUnavailable,
            responses::InvalidClient, responses::UnauthorizedClient, responses::ClientNotFound, responses::ClientIdTaken,
            responses::ApiNotFound, responses::MailNotFound, responses::ApiTaken, responses::PublicClient,
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
    for part in features() {
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

/// Every feature's part of the OpenAPI document, in the order Swagger UI lists them.
fn features() -> Vec<utoipa::openapi::OpenApi> {
    let mut docs = vec![
        crate::auth::Doc::openapi(),
        crate::users::Doc::openapi(),
        crate::audit::Doc::openapi(),
        crate::mail::Doc::openapi(),
        crate::health::Doc::openapi(),
        crate::oauth::Doc::openapi(),
        crate::apis::Doc::openapi(),
        crate::mfa::Doc::openapi(),
        crate::passkeys::Doc::openapi(),
    ];
    docs.extend(crate::owned::docs());
    docs
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
