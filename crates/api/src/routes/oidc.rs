//! OpenID Connect provider endpoints that are API: discovery
//! (`/.well-known/openid-configuration`) and userinfo (`/oauth2/userinfo`). The browser
//! side of the flow (authorization endpoint, hosted pages) is in `crate::pages`.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use gatehouse_domain::Scope;
use serde::Serialize;
use utoipa::ToSchema;

use crate::extractors::{CurrentUser, scopes};
use crate::openapi::responses::{Forbidden, Unauthorized};
use crate::pages::AUTHORIZE_PATH;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(discovery).service(userinfo);
}

/// Where the JWKS document is served, relative to the issuer.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const TOKEN_PATH: &str = "/api/v1/auth/token";
pub const USERINFO_PATH: &str = "/oauth2/userinfo";

/// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414).
#[derive(Serialize, ToSchema)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
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
        authorization_endpoint: at(AUTHORIZE_PATH),
        token_endpoint: at(TOKEN_PATH),
        userinfo_endpoint: at(USERINFO_PATH),
        jwks_uri: at(JWKS_PATH),
        scopes_supported: Scope::ALL.map(Scope::as_str).to_vec(),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "password"],
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
