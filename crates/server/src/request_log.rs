//! The request context and the access line: every request gets an id (sent back as
//! `X-Request-Id`) and, once authenticated, a user; every line logged while it is served
//! carries both, and it ends with one `request completed` line with method, path, status and
//! time taken: the access log.
//!
//! The context is `gatehouse_http::request_context`; `telemetry` reads it when it writes a
//! line.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use uuid::Uuid;

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    gatehouse_http::request_context::serve(async move {
        let mut response = next.call(req).await?;
        let (request_id, user) = gatehouse_http::request_context::current().unwrap_or_default();
        let mut id = Uuid::encode_buffer();
        let id = &*request_id.hyphenated().encode_lower(&mut id);
        if let Ok(value) = HeaderValue::from_str(id) {
            response
                .headers_mut()
                .insert(HeaderName::from_static("x-request-id"), value);
        }
        let mut user_id = Uuid::encode_buffer();
        let user_id = user.map(|user| &*user.as_uuid().hyphenated().encode_lower(&mut user_id));
        let request = response.request();
        crate::telemetry::AccessLine {
            request_id: id,
            method: request.method().as_str(),
            path: request.path(),
            status: response.status().as_u16(),
            elapsed_us: started.elapsed().as_micros() as u64,
            user_id,
        }
        .log();
        Ok(response)
    })
    .await
}
