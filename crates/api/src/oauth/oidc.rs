//! OpenID Connect provider endpoints that are API: discovery
//! (`/.well-known/openid-configuration`) and userinfo (`/oauth2/userinfo`). The browser
//! side of the flow (authorization endpoint, hosted pages) is in `crate::pages`.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use gatehouse_domain::Scope;
use serde::Serialize;
use utoipa::ToSchema;

use actix_web::{HttpRequest, post};
use gatehouse_domain::auth::Introspection;
use gatehouse_domain::ports::TokenSubject;
use secrecy::SecretString;

use crate::shared::form::{client_credentials, one_line_form, required};
use crate::shared::responses::{Forbidden, InvalidClient, TokenError, Unauthorized};
use gatehouse_http::caller::Caller;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::paths;
use gatehouse_http::problem::OAuthError;
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(discovery)
        .service(userinfo)
        .service(userinfo_by_post)
        .service(revoke)
        .service(introspect);
}

/// Where the JWKS document is served, relative to the issuer.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const TOKEN_PATH: &str = "/api/v1/auth/token";
pub const USERINFO_PATH: &str = "/oauth2/userinfo";
pub const REVOKE_PATH: &str = "/oauth2/revoke";
pub const INTROSPECT_PATH: &str = "/oauth2/introspect";
pub const LOGOUT_PATH: &str = "/oauth2/logout";

/// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414).
#[derive(Serialize, ToSchema)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub end_session_endpoint: String,
    /// RFC 8628: where devices begin the device authorization grant.
    pub device_authorization_endpoint: String,
    pub scopes_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    /// The algorithm of the active signing key; empty when it is a shared HS256 secret
    /// (then no ID tokens are issued).
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
    /// RFC 9207: every authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    pub prompt_values_supported: Vec<&'static str>,
    pub display_values_supported: Vec<&'static str>,
    pub claim_types_supported: Vec<&'static str>,
    /// Request objects are refused (`request_not_supported`, `request_uri_not_supported`).
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    /// The `claims` parameter is ignored.
    pub claims_parameter_supported: bool,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub userinfo_signing_alg_values_supported: Vec<&'static str>,
}

/// The provider's metadata: where its endpoints are and what it supports.
#[utoipa::path(
    tag = "oidc",
    responses((status = 200, description = "OpenID Provider metadata", body = ProviderMetadata))
)]
#[get("/.well-known/openid-configuration")]
pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    let issuer = state.oauth.issuer();
    let at = |path: &str| format!("{issuer}{path}");
    let metadata = ProviderMetadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: at(paths::AUTHORIZE),
        token_endpoint: at(TOKEN_PATH),
        userinfo_endpoint: at(USERINFO_PATH),
        jwks_uri: at(JWKS_PATH),
        revocation_endpoint: at(REVOKE_PATH),
        introspection_endpoint: at(INTROSPECT_PATH),
        end_session_endpoint: at(LOGOUT_PATH),
        device_authorization_endpoint: at(paths::DEVICE_AUTHORIZATION),
        scopes_supported: Scope::ALL.map(Scope::as_str).to_vec(),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec![
            "authorization_code",
            "refresh_token",
            "password",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: state.id_token_alg.into_iter().collect(),
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        code_challenge_methods_supported: vec!["S256"],
        claims_supported: vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "amr",
            "email",
            "email_verified",
            "name",
        ],
        authorization_response_iss_parameter_supported: true,
        prompt_values_supported: vec!["none", "login", "consent", "select_account"],
        display_values_supported: vec!["page", "popup"],
        claim_types_supported: vec!["normal"],
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        claims_parameter_supported: false,
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
        ],
        userinfo_signing_alg_values_supported: Vec::new(),
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(metadata)
}

/// Claims about the signed-in person (OpenID Connect Core §5.3).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"sub": "0192e4a0-7c1b-7d3e-9f00-5a1b2c3d4e5f", "email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace"}))]
pub struct UserInfo {
    /// The user's id.
    pub sub: String,
    /// With the `email` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// With the `email` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// With the `profile` scope, when the person gave a name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The signed-in person's claims, as the token's scopes allow: `sub` always, `email` and
/// `email_verified` with `email`, `name` with `profile`.
#[utoipa::path(
    tag = "oidc",
    responses(
        (status = 200, description = "The claims", body = UserInfo),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
    security(("oauth2" = ["openid"]))
)]
#[get("/oauth2/userinfo")]
pub async fn userinfo(current: CurrentUser<scopes::OpenId>) -> HttpResponse {
    claims_of(&current)
}

/// The signed-in person's claims, by POST (OpenID Connect Core §5.3.1): the access token in
/// `Authorization: Bearer`, or as `access_token` in a form body (RFC 6750 §2.2), not both.
#[utoipa::path(
    tag = "oidc",
    request_body(content = Option<UserinfoForm>, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The claims", body = UserInfo),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = crate::shared::responses::PayloadTooLarge),
    ),
    security(("oauth2" = ["openid"]))
)]
#[post("/oauth2/userinfo")]
pub async fn userinfo_by_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, gatehouse_http::extractors::BearerError> {
    let current = CurrentUser::<scopes::OpenId>::from_header_or_form(&req, &body, &state).await?;
    Ok(claims_of(&current))
}

/// The form of `POST /oauth2/userinfo` when the token is not in `Authorization`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserinfoForm {
    /// The access token (RFC 6750 §2.2).
    #[schema(pattern = r"^[^\x00-\x1F\x7F-\x9F]*$", max_length = 4096)]
    pub access_token: Option<String>,
}

fn claims_of(current: &CurrentUser<scopes::OpenId>) -> HttpResponse {
    let user = &current.user;
    let scopes = &current.claims.scopes;
    let email = scopes.contains(Scope::EmailAddress);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(UserInfo {
            sub: user.id.to_string(),
            email: email.then(|| user.email.as_str().to_owned()),
            email_verified: email.then_some(user.is_verified),
            name: scopes
                .contains(Scope::Profile)
                .then(|| user.full_name.as_ref().map(|n| n.as_str().to_owned()))
                .flatten(),
        })
}

/// The form of `POST /oauth2/revoke` and `POST /oauth2/introspect`; the client
/// authenticates as at the token endpoint (HTTP Basic, or `client_id` + `client_secret`).
/// No field holds a control character (`dto::patterns::ONE_LINE`, a client id
/// `dto::patterns::CLIENT_ID`; a unit test checks the literals).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    /// An access token or a refresh token.
    #[schema(min_length = 1, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub token: String,
    /// `access_token` or `refresh_token`; optional, and only a hint.
    #[schema(pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub token_type_hint: Option<String>,
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub client_id: Option<String>,
    #[schema(format = Password, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub client_secret: Option<String>,
}

/// Revoke a token (RFC 7009): its session ends, and with it every token of the session.
/// Only the client the session was opened for can revoke it; any other token, or an unknown
/// one, is answered the same 200 and changes nothing.
#[utoipa::path(
    tag = "oidc",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, response = TokenError),
        (status = 401, response = InvalidClient),
    )
)]
#[post("/oauth2/revoke")]
pub async fn revoke(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let form = one_line_form(&req, &body)?;
    let token = SecretString::from(required(&form, "token")?);
    let client = state
        .oauth
        .authenticate_client(&client_credentials(&req, &form)?, &caller.0)
        .await?;
    state
        .auth
        .revoke_token(&token, &client.id, &caller.0)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// What introspection says of a token (RFC 7662 §2.2).
#[derive(Serialize, ToSchema, Default)]
#[schema(example = json!({"active": true, "scope": "openid me", "client_id": "spa", "username": "ada@example.com",
    "token_type": "access_token", "exp": 1764600000, "iat": 1764599100, "sub": "0192e4a0-7c1b-7d3e-9f00-5a1b2c3d4e5f",
    "sid": "0192e4a0-7c1b-7d3e-9f00-000000000001"}))]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The account's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The session the token belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The API the token is for: a registered API's identifier, or gatehouse's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Introspect a token (RFC 7662), for confidential clients an administrator registered as
/// resource servers (others get 403 `unauthorized_client`): `active` is true only for an
/// access token that would be accepted now, or a current refresh token of a live session.
/// Revoked sessions, expired or forged tokens are `{"active": false}`. `username` (the
/// email) only for a token with the `email` scope.
#[utoipa::path(
    tag = "oidc",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "What the token is worth", body = IntrospectionResponse),
        (status = 400, response = TokenError),
        (status = 401, response = InvalidClient),
        (status = 403, response = crate::shared::responses::UnauthorizedClient),
    )
)]
#[post("/oauth2/introspect")]
pub async fn introspect(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let form = one_line_form(&req, &body)?;
    let token = SecretString::from(required(&form, "token")?);
    let client = state
        .oauth
        .authenticate_client(&client_credentials(&req, &form)?, &caller.0)
        .await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client());
    }
    if !client.resource_server {
        return Err(OAuthError::unauthorized_client(
            "Only clients an administrator registered as resource servers may introspect tokens.",
        ));
    }
    // The email is a personal claim: only for tokens whose scopes let it be read.
    let username = |user: &gatehouse_domain::User, scopes: &gatehouse_domain::ScopeSet| {
        scopes
            .contains(Scope::EmailAddress)
            .then(|| user.email.as_str().to_owned())
    };
    let answer = match state.auth.introspect(&token).await? {
        Introspection::Access { user, session, .. }
            if session.kind == gatehouse_domain::SessionKind::Personal =>
        {
            // Used at the API asking: where from is the API's business, not recorded.
            let nowhere = gatehouse_domain::Caller::default();
            state.auth.record_personal_use(&session, &nowhere).await;
            match state.personal.grants_now(&session, &user).await? {
                Some((scope, api)) => IntrospectionResponse {
                    active: true,
                    username: None,
                    client_id: None,
                    token_type: Some("access_token"),
                    exp: gatehouse_domain::personal::expires_at(&session).map(|at| at.timestamp()),
                    iat: Some(session.created_at.timestamp()),
                    sub: Some(user.id.to_string()),
                    sid: Some(session.id.to_string()),
                    aud: Some(match api {
                        Some(api) => api.as_str().to_owned(),
                        None => state.apis.own_identifier().to_owned(),
                    }),
                    scope: Some(scope),
                },
                None => IntrospectionResponse::default(),
            }
        }
        Introspection::Access {
            user,
            claims,
            session,
        } => IntrospectionResponse {
            active: true,
            scope: Some(claims.scopes.to_string()),
            client_id: session.client_id.map(|id| id.to_string()),
            username: username(&user, &claims.scopes),
            token_type: Some("access_token"),
            exp: Some(claims.expires_at.timestamp()),
            iat: Some(claims.issued_at.timestamp()),
            sub: Some(user.id.to_string()),
            sid: Some(session.id.to_string()),
            aud: Some(state.apis.own_identifier().to_owned()),
        },
        Introspection::Refresh { user, session } => IntrospectionResponse {
            active: true,
            scope: Some(session.scopes.to_string()),
            username: username(&user, &session.scopes),
            client_id: session.client_id.map(|id| id.to_string()),
            token_type: Some("refresh_token"),
            exp: Some(session.idle_expires_at.timestamp()),
            iat: Some(session.created_at.timestamp()),
            sub: Some(user.id.to_string()),
            sid: Some(session.id.to_string()),
            aud: Some(state.apis.own_identifier().to_owned()),
        },
        Introspection::Inactive => match state.oauth.introspect_api_token(&token).await? {
            Some(claims) => {
                let (sub, sid) = match &claims.subject {
                    TokenSubject::User {
                        user_id,
                        session_id,
                        ..
                    } => (user_id.to_string(), Some(session_id.to_string())),
                    TokenSubject::Client => (
                        claims
                            .client_id
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        None,
                    ),
                };
                IntrospectionResponse {
                    active: true,
                    scope: Some(claims.scope()),
                    client_id: claims.client_id.as_ref().map(ToString::to_string),
                    username: None,
                    token_type: Some("access_token"),
                    exp: Some(claims.expires_at.timestamp()),
                    iat: Some(claims.issued_at.timestamp()),
                    sub: Some(sub),
                    sid,
                    aud: Some(claims.audience),
                }
            }
            None => IntrospectionResponse::default(),
        },
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer))
}
