//! The `application/x-www-form-urlencoded` bodies of the token, revocation and
//! introspection endpoints (RFC 6749 §3.2), read strictly, and the client credentials they
//! carry.

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine as _;
use gatehouse_domain::oauth::ClientCredentials;
use gatehouse_http::problem::OAuthError;
use secrecy::SecretString;

/// Parses an `application/x-www-form-urlencoded` body. RFC 6749 §3.2 forbids repeated
/// parameters, so a repeat is an `invalid_request`, never a silent pick.
pub fn parse_form(req: &HttpRequest, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    if !gatehouse_http::json::is_form(req) {
        return Err(OAuthError::invalid_request(
            "The token endpoint takes an application/x-www-form-urlencoded body.",
        ));
    }
    let mut form = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        // A parameter we do not know is ignored, whatever it holds and however often it
        // comes (RFC 6749 §3.2): it reaches nothing.
        if !FORM_PARAMETERS.contains(&key.as_ref()) {
            continue;
        }
        // No database stores a NUL; refuse it here rather than let it reach a query.
        if value.contains('\0') {
            return Err(OAuthError::invalid_request(format!(
                "Parameter `{key}` contains a NUL character."
            )));
        }
        // A parameter must not be sent twice (RFC 6749 §3.1).
        if form.insert(key.to_string(), value.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "Parameter `{key}` is repeated."
            )));
        }
    }
    Ok(form)
}

/// A form whose fields hold no control character (an `invalid_request`, before the
/// client is even looked up), as the revocation, introspection and device authorization
/// endpoints' schemas state it.
pub fn one_line_form(
    req: &HttpRequest,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    let form = parse_form(req, body)?;
    if let Some(key) = form
        .iter()
        .find(|(_, value)| value.chars().any(char::is_control))
        .map(|(key, _)| key)
    {
        return Err(OAuthError::invalid_request(format!(
            "Parameter `{key}` contains a control character."
        )));
    }
    Ok(form)
}

/// How many `resource` parameters one request may send.
const MAX_RESOURCES: usize = 10;

/// The `resource` parameters of a form (RFC 8707 §2), the one parameter that may repeat,
/// at most [`MAX_RESOURCES`]. Which are acceptable is the domain's to judge.
pub fn resources(body: &[u8]) -> Result<Vec<String>, OAuthError> {
    let mut resources = Vec::new();
    for (key, value) in form_urlencoded::parse(body) {
        if key != "resource" {
            continue;
        }
        if value.chars().any(char::is_control) {
            return Err(OAuthError::invalid_target(
                "A `resource` contains a control character.",
            ));
        }
        if resources.len() == MAX_RESOURCES {
            return Err(OAuthError::invalid_target(format!(
                "At most {MAX_RESOURCES} `resource` parameters."
            )));
        }
        resources.push(value.into_owned());
    }
    Ok(resources)
}

/// Every parameter the token, revocation and introspection endpoints read; the others are
/// dropped as the form is read.
const FORM_PARAMETERS: &[&str] = &[
    "grant_type",
    "username",
    "password",
    "refresh_token",
    "scope",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
    "token",
    "device_code",
    "token_type_hint",
    "mfa_token",
    "otp",
    "recovery_code",
    "ceremony",
    "credential",
];

pub fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    match form.get(name).map(String::as_str) {
        Some(value) if !value.is_empty() => Ok(value),
        Some(_) => Err(OAuthError::invalid_request(format!(
            "Parameter `{name}` is empty."
        ))),
        None => Err(OAuthError::invalid_request(format!(
            "Parameter `{name}` is missing."
        ))),
    }
}

/// The client's credentials (RFC 6749 §2.3.1): HTTP Basic (`client_secret_basic`, each
/// half form-urlencoded) or `client_id` and `client_secret` in the form
/// (`client_secret_post`), never both. An empty secret is no secret: Swagger UI sends one
/// (HTTP Basic with an empty password) for its public client.
pub fn client_credentials(
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<ClientCredentials, OAuthError> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "));
    let Some(encoded) = basic else {
        return Ok(ClientCredentials {
            id: form.get("client_id").cloned(),
            secret: form
                .get("client_secret")
                .filter(|secret| !secret.is_empty())
                .cloned()
                .map(SecretString::from),
        });
    };
    if form.contains_key("client_secret") {
        return Err(OAuthError::invalid_request(
            "Send the client's credentials once: HTTP Basic or the form, not both.",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(OAuthError::invalid_client)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    let decode = |part: &str| {
        form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let id = decode(id);
    if form.get("client_id").is_some_and(|named| *named != id) {
        return Err(OAuthError::invalid_request(
            "`client_id` differs from the client of the HTTP Basic credentials.",
        ));
    }
    let secret = decode(secret);
    Ok(ClientCredentials {
        id: Some(id),
        secret: (!secret.is_empty()).then(|| SecretString::from(secret)),
    })
}
