//! HTTP routes, one module per area; each registers itself through `configure`.

pub mod audit;
pub mod auth;
pub mod health;
pub mod jwks;
mod query;
pub mod todos;
pub mod users;

use actix_web::web;

/// Every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::configure)
        .configure(jwks::configure)
        .service(
            web::scope("/api/v1")
                // Every API answer is about an account: no cache may keep it.
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add((actix_web::http::header::CACHE_CONTROL, "no-store")),
                )
                .configure(auth::configure)
                .configure(users::configure)
                .configure(todos::configure)
                .configure(audit::configure),
        );
}
