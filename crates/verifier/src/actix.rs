//! `Authenticated<S>` as an actix-web extractor; a refusal as its RFC 6750 answer.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};

use crate::{Authenticated, KeyError, Refusal, Rejection, Scopes, Verifier};

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.refusal.status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> HttpResponse {
        let mut answer = HttpResponse::build(self.status_code());
        answer.insert_header((CONTENT_TYPE, "application/json"));
        if let Some(challenge) = self.challenge() {
            answer.insert_header((WWW_AUTHENTICATE, challenge));
        }
        answer.body(self.refusal.body())
    }
}

impl<S: Scopes + 'static> FromRequest for Authenticated<S> {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = verifier_of(req);
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let Some(verifier) = verifier else {
                tracing::error!("no gatehouse_verifier::Verifier in the app's data");
                return Err(Rejection {
                    refusal: Refusal::Unavailable(KeyError::Unusable(
                        "no verifier configured".into(),
                    )),
                    realm: String::new(),
                });
            };
            verifier.judge::<S>(authorization.as_deref()).await
        })
    }
}

/// The `Verifier` in the app's data, plain or in `web::Data`.
fn verifier_of(req: &HttpRequest) -> Option<Verifier> {
    req.app_data::<Verifier>().cloned().or_else(|| {
        req.app_data::<web::Data<Verifier>>()
            .map(|data| data.get_ref().clone())
    })
}
