//! `/.well-known/jwks.json`: the public keys other services verify our tokens with.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(jwks);
}

/// A public Ed25519 key (RFC 8037). Never any private part.
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    /// `OKP`.
    pub kty: &'static str,
    /// `Ed25519`.
    pub crv: &'static str,
    /// `EdDSA`.
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub kid: String,
    /// The public key, base64url.
    pub x: String,
}

/// A JSON Web Key Set.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
    "kid": "3f2a9c1b7e4d5a60", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}))]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// The public keys of the access tokens' signatures: the active key and any retired ones
/// still accepted. Empty when tokens are signed with a shared HS256 secret.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "The key set", body = JwkSet))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let keys = state
        .tokens
        .public_keys()
        .iter()
        .map(|jwk| Jwk {
            kty: "OKP",
            crv: "Ed25519",
            alg: "EdDSA",
            use_: "sig",
            kid: jwk.kid.clone(),
            x: jwk.x.clone(),
        })
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(JwkSet { keys })
}
