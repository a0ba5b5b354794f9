//! `Authenticated<S>` as an axum extractor; a refusal as its RFC 6750 answer.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{Authenticated, Rejection, Scopes, Verifier};

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.refusal.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let challenge = self.challenge();
        let mut response = (status, self.refusal.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl<St, S> FromRequestParts<St> for Authenticated<S>
where
    Verifier: FromRef<St>,
    St: Send + Sync,
    S: Scopes,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Rejection> {
        let verifier = Verifier::from_ref(state);
        let authorization = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        verifier.judge::<S>(authorization).await
    }
}
