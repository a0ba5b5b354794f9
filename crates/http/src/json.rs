//! A JSON body extractor that names the offending field when a value has the wrong type
//! (`"done": "yes"` → field `done`), which actix-web's own `Json` cannot, since serde_json
//! errors do not carry the path. Size limits come from `web::PayloadConfig`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, Code, FieldError};

/// A JSON request body of type `T`.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

/// Whether the request's body is a form (`application/x-www-form-urlencoded`).
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The field a serde error is about: its path, or the name serde quotes in the message for
/// errors about the object itself (missing and unknown fields).
fn field_of(path: &str, message: &str) -> String {
    if path != "." && !path.is_empty() {
        return path.to_owned();
    }
    message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("field"))
        .unwrap_or("body")
        .to_owned()
}

/// The path of the first string (key or value) in `value` that holds a NUL character.
fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let path = if path.is_empty() {
                key.replace('\0', "")
            } else {
                format!("{path}.{}", key.replace('\0', ""))
            };
            if key.contains('\0') {
                return Some(path);
            }
            nul_path(item, &path)
        }),
        _ => None,
    }
}

/// Refuses a body whose strings hold a NUL: PostgreSQL stores none, and no field of ours
/// has a use for one. JSON can only carry it escaped, so bodies without `\u0000` skip this.
fn refuse_nul(body: &[u8]) -> Result<(), ApiError> {
    let escaped = body
        .windows(6)
        .any(|window| window.eq_ignore_ascii_case(b"\\u0000"));
    if !escaped {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(()); // malformed: the typed parse says how
    };
    match nul_path(&value, "") {
        Some(field) => Err(ApiError::Validation(vec![FieldError {
            field: if field.is_empty() {
                "body".into()
            } else {
                field
            },
            message: "must not contain a NUL character".into(),
        }])),
        None => Ok(()),
    }
}

/// Parses `body` as `T`, mapping failures to 400 (not JSON) or 422 (JSON of the wrong shape,
/// or a string holding a NUL character).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let malformed = |error: &serde_json::Error| ApiError::BadRequest {
        code: Code::MalformedJson,
        detail: format!("The body is not valid JSON: {error}."),
    };
    refuse_nul(body)?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if !inner.is_data() {
            return malformed(&inner);
        }
        let message = inner.to_string();
        // serde's message ends with the position; keep what a person can act on.
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        ApiError::Validation(vec![FieldError {
            field: field_of(&path, &message),
            message,
        }])
    })?;
    deserializer.end().map_err(|error| malformed(&error))?;
    Ok(value)
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType(
                    "This endpoint takes an application/json body.".into(),
                ));
            }
            let body = body
                .await
                .map_err(|error| match error.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => ApiError::PayloadTooLarge,
                    _ if error.as_response_error().status_code().as_u16() == 413 => {
                        ApiError::PayloadTooLarge
                    }
                    _ => ApiError::BadRequest {
                        code: Code::BadRequest,
                        detail: "The body could not be read.".into(),
                    },
                })?;
            parse(&body).map(Json)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        done: Option<bool>,
    }

    fn field(body: &str) -> String {
        match parse::<Body>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {:?}", other.err()),
        }
    }

    #[test]
    fn names_the_field_of_each_shape_error() {
        assert_eq!(field(r#"{"title": "x", "done": "yes"}"#), "done");
        assert_eq!(field(r#"{"title": 5}"#), "title");
        assert_eq!(field(r#"{"done": true}"#), "title");
        assert_eq!(field(r#"{"title": "x", "owner": 1}"#), "owner");
        assert_eq!(field(r#""just text""#), "body");
    }

    #[test]
    fn nul_characters_are_refused_with_their_field() {
        assert_eq!(field(r#"{"title": "a\u0000b"}"#), "title");
        assert_eq!(field(r#"{"title": "x", "done": null, "n\u0000": 1}"#), "n");
        // An escaped backslash followed by `u0000` is text, not a NUL.
        assert!(parse::<Body>(br#"{"title": "a\\u0000b"}"#).is_ok());
    }

    #[test]
    fn unparsable_bodies_are_bad_requests() {
        for body in ["{", "nope", r#"{"title": "x"} trailing"#, ""] {
            assert!(
                matches!(
                    parse::<Body>(body.as_bytes()),
                    Err(ApiError::BadRequest { .. })
                ),
                "{body:?}"
            );
        }
    }
}
