//! Cross-origin requests from browsers: allowed for the configured origins only.

use actix_web::http::header;

/// CORS for the configured origins only: an origin is allowed when it equals one of them,
/// never reflected otherwise. With none configured, no CORS headers are sent.
pub fn allowlist(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
        .max_age(600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
