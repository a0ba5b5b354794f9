//! HTTP routes, one module per area; each registers itself through `configure`.

pub mod audit;
pub mod auth;
pub mod clients;
pub mod health;
pub mod jwks;
pub mod mfa;
pub mod oidc;
pub mod owned;
mod query;
pub mod todos;
pub mod users;

use actix_web::web;
use utoipa::OpenApi;

/// A part of the API that registers its own routes and documents them.
struct Area {
    configure: fn(&mut web::ServiceConfig),
    doc: fn() -> utoipa::openapi::OpenApi,
    /// The 404 `code` of its items.
    not_found: &'static str,
}

/// The owner-scoped resources: adding one is adding it here.
const OWNED: [Area; 1] = [Area {
    configure: todos::configure,
    doc: todos::Doc::openapi,
    not_found: <gatehouse_domain::Todo as gatehouse_domain::owned::Owned>::NOT_FOUND,
}];

/// The 404 codes of the owned resources.
pub fn owned_not_found_codes() -> impl Iterator<Item = &'static str> {
    OWNED.iter().map(|area| area.not_found)
}

/// The document's parts that the owned resources declare.
pub fn owned_docs() -> impl Iterator<Item = utoipa::openapi::OpenApi> {
    OWNED.iter().map(|area| (area.doc)())
}

/// Every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::configure)
        .configure(jwks::configure)
        .configure(oidc::configure)
        .configure(crate::pages::configure)
        .service(
            web::scope("/api/v1")
                // Every API answer is about an account: no cache may keep it.
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add((actix_web::http::header::CACHE_CONTROL, "no-store")),
                )
                .configure(auth::configure)
                .configure(mfa::configure)
                .configure(users::configure)
                .configure(audit::configure)
                .configure(clients::configure)
                .configure(|cfg| {
                    for area in &OWNED {
                        (area.configure)(cfg);
                    }
                }),
        );
}
