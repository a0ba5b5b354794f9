//! `/.well-known/jwks.json`: the public keys other services verify our tokens with.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use gatehouse_security::keys::{PublicJwk, PublicParams};
use serde::Serialize;
use utoipa::ToSchema;

use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(jwks);
}

/// A public key (RFC 7517): Ed25519 (RFC 8037) or RSA (RFC 7518 §6.3). Never any private part.
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    /// `OKP` (Ed25519) or `RSA`.
    pub kty: &'static str,
    /// `Ed25519`, for `OKP` keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    /// `EdDSA`, `RS256` or `PS256`.
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub kid: String,
    /// The Ed25519 public key, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The RSA modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// The RSA public exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl From<&PublicJwk> for Jwk {
    fn from(jwk: &PublicJwk) -> Self {
        let (kty, crv, x, n, e) = match &jwk.params {
            PublicParams::Ed25519 { x } => ("OKP", Some("Ed25519"), Some(x.clone()), None, None),
            PublicParams::Rsa { n, e } => ("RSA", None, None, Some(n.clone()), Some(e.clone())),
        };
        Self {
            kty,
            crv,
            alg: jwk.alg,
            use_: "sig",
            kid: jwk.kid.clone(),
            x,
            n,
            e,
        }
    }
}

/// A JSON Web Key Set.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
    "kid": "3f2a9c1b7e4d5a60", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}))]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// The public keys of the access tokens' signatures: the active key and any retired ones
/// still accepted. Empty when tokens are signed with shared HS256 secrets.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "The key set", body = JwkSet))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let keys = state.public_keys.iter().map(Jwk::from).collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(JwkSet { keys })
}
