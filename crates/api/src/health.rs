//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};

use gatehouse_http::problem::{ApiError, ProblemDetails};
use gatehouse_http::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;

/// Health of the service.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthResponse {
    pub status: &'static str,
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(live, ready), components(schemas(HealthResponse)))]
pub struct Doc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(live).service(ready);
}

/// The process is up and serving requests.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "Alive", body = HealthResponse))
)]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    // `HealthResponse { status: "ok" }`, serialized once: probes come often.
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(r#"{"status":"ok"}"#)
}

/// The service can answer requests: the database is reachable and migrated.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "The database is down", body = ProblemDetails,
            content_type = "application/problem+json",
            example = json!({"type": "urn:gatehouse:problem:database_unavailable", "title": "Service Unavailable",
                "status": 503, "detail": "The database is not answering.", "code": "database_unavailable"})),
    )
)]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.auth.ready().await {
        Ok(()) => Ok(HttpResponse::Ok().json(HealthResponse { status: "ok" })),
        Err(error) => {
            tracing::warn!(%error, source = ?std::error::Error::source(&error), "readiness check failed");
            Err(ApiError::DatabaseUnavailable)
        }
    }
}
