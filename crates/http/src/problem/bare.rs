//! The bare-error middleware: error answers actix-web makes without a body get ours.

use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::ErrorHandlerResponse;

use super::{Code, ProblemDetails, problem_response};

/// Gives error responses that actix-web produced without a JSON body (unknown routes,
/// wrong methods, oversized payloads) the same problem+json shape as ours.
pub fn for_bare_errors<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // JSON errors are ours already, and so are the hosted pages' HTML ones.
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json") || value.starts_with("text/html"));
    if is_ours {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => (Code::NotFound, "There is nothing at this address."),
        StatusCode::METHOD_NOT_ALLOWED => (
            Code::MethodNotAllowed,
            "This address does not accept this method.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            Code::PayloadTooLarge,
            "The request body is larger than 64 KiB.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            Code::UnsupportedMediaType,
            "The body's content type is not accepted here.",
        ),
        status if status.is_server_error() => {
            (Code::InternalError, "Something went wrong on our side.")
        }
        _ => (Code::BadRequest, "The request could not be understood."),
    };
    let code = code.as_str();
    let (request, original) = response.into_parts();
    let mut replacement = problem_response(status).json(ProblemDetails::new(status, code, detail));
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, replacement).map_into_right_body::<B>(),
    ))
}
