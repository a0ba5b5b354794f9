//! The request span: every request runs in a span with its id (also sent back as
//! `X-Request-Id`) and, once known, its user, and ends with one `request completed` line
//! with method, path, status and time taken: the access log. Both are kept cheap, since
//! every request pays for them: the span holds two fields, the time is whole microseconds.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// Who the request was authenticated as, for its access line (set by `CurrentUser`).
#[derive(Clone, Copy)]
pub struct Authenticated(pub gatehouse_domain::UserId);

pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = uuid::Uuid::now_v7();
    let span = tracing::info_span!("http_request", %request_id, user_id = tracing::field::Empty);
    let started = Instant::now();
    async move {
        let mut response = next.call(req).await?;
        let mut id = uuid::Uuid::encode_buffer();
        let id = &*request_id.hyphenated().encode_lower(&mut id);
        if let Ok(value) = HeaderValue::from_str(id) {
            response
                .headers_mut()
                .insert(HeaderName::from_static("x-request-id"), value);
        }
        let request = response.request();
        let mut user = uuid::Uuid::encode_buffer();
        let user_id = request
            .extensions()
            .get::<Authenticated>()
            .map(|user_id| &*user_id.0.as_uuid().hyphenated().encode_lower(&mut user));
        tracing::info!(
            target: crate::telemetry::ACCESS_TARGET,
            request_id = id,
            method = request.method().as_str(),
            path = request.path(),
            status = response.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64,
            user_id,
            "request completed"
        );
        Ok(response)
    }
    .instrument(span)
    .await
}
