//! The hosted pages: server-rendered HTML (askama templates in `templates/`, one stylesheet,
//! no script) for signing in and up, consenting, recovering an account and managing it, and
//! the authorization endpoint that sends browsers through them. Pages call the same use
//! cases as the API, so throttling, audit and timing rules hold for them alike.
//!
//! - The browser session is a cookie holding an opaque token whose digest names a session
//!   of kind `browser` in the sessions table: logout, revocation and password changes end
//!   it like any other session. `HttpOnly`, `SameSite=Lax`, and `Secure` with the
//!   `__Host-` prefix when the public URL is `https`.
//! - Every form carries a CSRF token bound to the browser and to its sign-in: an HMAC, under
//!   a server key, of a random secret in a cookie of its own and of the session cookie
//!   (`gatehouse_security::CsrfKey`). The secret is renewed at sign-in and sign-out, which
//!   change the session cookie too, so every earlier token dies; a post whose token does not
//!   verify changes nothing.
//! - Every page is sent with a `Content-Security-Policy` that allows no script at all.

mod account;
mod flow;
mod recovery;

use std::collections::HashMap;

use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};
use askama::Template;
use gatehouse_domain::ports::is_opaque_token;
use gatehouse_domain::{RepositoryError, Session, User};
use secrecy::SecretString;

use gatehouse_http::cookies::Cookies;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

/// No script, no plugins, no framing; styles only from our stylesheet.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

pub const SIGN_IN_PATH: &str = "/signin";
pub const ACCOUNT_PATH: &str = "/account";

pub fn configure(cfg: &mut web::ServiceConfig) {
    flow::configure(cfg);
    recovery::configure(cfg);
    account::configure(cfg);
    cfg.service(stylesheet);
}

/// One input of a form.
struct Field {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: String,
    required: bool,
}

impl Field {
    fn email(value: &str) -> Self {
        Self {
            name: "email",
            label: "Email",
            kind: "email",
            autocomplete: "username",
            // Never echo more than an email's worth of what was typed.
            value: value.chars().take(254).collect(),
            required: true,
        }
    }

    fn password(name: &'static str, label: &'static str, autocomplete: &'static str) -> Self {
        Self {
            name,
            label,
            kind: "password",
            autocomplete,
            value: String::new(),
            required: true,
        }
    }

    /// A one-time or recovery code: optional, so that either of two can be given.
    fn code(name: &'static str, label: &'static str, autocomplete: &'static str) -> Self {
        Self {
            name,
            label,
            kind: "text",
            autocomplete,
            value: String::new(),
            required: false,
        }
    }

    fn text(
        name: &'static str,
        label: &'static str,
        autocomplete: &'static str,
        value: &str,
    ) -> Self {
        Self {
            name,
            label,
            kind: "text",
            autocomplete,
            value: value.chars().take(100).collect(),
            required: false,
        }
    }
}

/// A page with one form: sign-in, sign-up, forgot and reset password, verify email.
#[derive(Template)]
#[template(path = "form.html")]
struct FormPage<'a> {
    title: &'a str,
    intro: Option<String>,
    errors: Vec<String>,
    action: &'a str,
    csrf: &'a str,
    hidden: Vec<(&'static str, String)>,
    fields: Vec<Field>,
    submit: &'a str,
    links: Vec<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    is_error: bool,
}

/// A page as a response: HTML, never cached, under the strict policy.
fn page(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("content-security-policy", CONTENT_SECURITY_POLICY))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .body(html),
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn message(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    page(
        status,
        &MessagePage {
            title,
            message,
            is_error: status.is_client_error() || status.is_server_error(),
        },
    )
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The API's decision about an error (its status, and `Retry-After` where it has one),
/// as a page; `labels` name the form's fields in the messages of a 422.
fn error_page(error: ApiError, title: &str) -> HttpResponse {
    let (status, errors) = describe(&error, &[]);
    let mut response = message(status, title, &errors.join(" "));
    carry_retry_after(&error, &mut response);
    response
}

/// The status of an error and what to tell the person, by field label where a field is
/// named.
fn describe(error: &ApiError, labels: &[(&str, &str)]) -> (StatusCode, Vec<String>) {
    let status = error.status_code();
    let problem = error.problem();
    let messages = if problem.errors.is_empty() {
        vec![problem.detail]
    } else {
        problem
            .errors
            .iter()
            .map(|e| {
                let label = labels
                    .iter()
                    .find(|(name, _)| *name == e.field)
                    .map_or(e.field.as_str(), |(_, label)| *label);
                format!("{label}: {}", e.message)
            })
            .collect()
    };
    (status, messages)
}

/// `Retry-After`, as the API would send it with this error.
fn carry_retry_after(error: &ApiError, response: &mut HttpResponse) {
    if let Some(value) = error.error_response().headers().get(header::RETRY_AFTER) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, value.clone());
    }
}

/// A form page again, with what went wrong.
fn form_again(form: FormPage<'_>, error: &ApiError) -> HttpResponse {
    let labels: Vec<(&str, &str)> = form.fields.iter().map(|f| (f.name, f.label)).collect();
    let (status, errors) = describe(error, &labels);
    let mut response = page(status, &FormPage { errors, ..form });
    carry_retry_after(error, &mut response);
    response
}

/// A form page again, with one thing to tell the person (a refusal the API has no code
/// for: wrong credentials, a wrong code).
fn form_with_error(form: FormPage<'_>, text: &str) -> HttpResponse {
    page(
        StatusCode::OK,
        &FormPage {
            errors: vec![text.to_owned()],
            ..form
        },
    )
}

/// A page answering a storage failure: 503 when the database is not answering.
fn unavailable(error: RepositoryError) -> HttpResponse {
    error_page(ApiError::from(error), "Try again shortly")
}

/// The session cookie this request carries, as sent (a CSRF token is bound to it).
fn session_cookie(req: &HttpRequest, cookies: &Cookies) -> Option<String> {
    req.cookie(cookies.session)
        .map(|cookie| cookie.value().to_owned())
}

/// The CSRF token of this browser's forms (bound to its secret and its session cookie)
/// and, when it had no secret yet, the cookie to set.
fn csrf_token(req: &HttpRequest, state: &AppState) -> (String, Option<Cookie<'static>>) {
    let session = session_cookie(req, &state.cookies);
    match req.cookie(state.cookies.csrf) {
        Some(cookie) if is_opaque_token(cookie.value()) => {
            (state.csrf.token(cookie.value(), session.as_deref()), None)
        }
        _ => {
            let (secret, cookie) = state.cookies.new_browser_secret();
            (state.csrf.token(&secret, session.as_deref()), Some(cookie))
        }
    }
}

fn csrf_refused() -> HttpResponse {
    message(
        StatusCode::FORBIDDEN,
        "Please try again",
        "This form expired or did not come from this site. Go back, reload the page and send it again.",
    )
}

/// With `cookie` set, when there is one.
fn with_cookie(mut response: HttpResponse, cookie: Option<Cookie<'static>>) -> HttpResponse {
    if let Some(cookie) = cookie
        && let Err(error) = response.add_cookie(&cookie)
    {
        tracing::warn!(%error, "a cookie could not be set");
    }
    response
}

/// Why a posted form was not taken.
enum Refused {
    /// A repeated field, a NUL, or not a form at all.
    Unreadable,
    /// Its CSRF token is not this browser's.
    Forged,
    /// No live browser session (for forms of signed-in pages).
    SignedOut,
    Storage(RepositoryError),
}

impl Refused {
    fn page(self) -> HttpResponse {
        match self {
            Refused::Unreadable => message(
                StatusCode::BAD_REQUEST,
                "This form is not valid",
                "The form could not be read.",
            ),
            Refused::Forged => csrf_refused(),
            Refused::SignedOut => flow::sign_in_first(),
            Refused::Storage(error) => unavailable(error),
        }
    }
}

/// A posted form whose CSRF token is this browser's, for its current session cookie: its
/// fields by name.
fn posted_form(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
) -> Result<HashMap<String, String>, Refused> {
    let mut form = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        if key.contains('\0') || value.contains('\0') {
            return Err(Refused::Unreadable);
        }
        if form.insert(key.into_owned(), value.into_owned()).is_some() {
            return Err(Refused::Unreadable);
        }
    }
    let session = session_cookie(req, &state.cookies);
    let holds = match (req.cookie(state.cookies.csrf), form.get("csrf")) {
        (Some(cookie), Some(sent)) => {
            is_opaque_token(cookie.value())
                && state.csrf.verify(cookie.value(), session.as_deref(), sent)
        }
        _ => false,
    };
    if holds {
        Ok(form)
    } else {
        Err(Refused::Forged)
    }
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(String::as_str).unwrap_or_default()
}

/// The query of a request, by name (the first of a repeated parameter).
fn query(req: &HttpRequest) -> HashMap<String, String> {
    let mut params = HashMap::new();
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        params
            .entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    params
}

/// The browser session of this request, if its cookie names a live one.
async fn browser_session(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<(Session, User)>, RepositoryError> {
    let Some(cookie) = req.cookie(state.cookies.session) else {
        return Ok(None);
    };
    if !is_opaque_token(cookie.value()) {
        return Ok(None);
    }
    state
        .auth
        .browser_session(&SecretString::from(cookie.value().to_owned()))
        .await
}

/// Where a sign-in (or sign-up) may send the browser afterwards: only our own
/// authorization endpoint or the account page, so `return_to` can never be an open
/// redirect.
fn safe_return_to(raw: Option<&str>) -> &str {
    match raw {
        Some(path)
            if path == ACCOUNT_PATH
                || path
                    .strip_prefix(gatehouse_http::paths::AUTHORIZE)
                    .is_some_and(|rest| rest.starts_with('?'))
                    && !path.contains(['\\', '\r', '\n', '#']) =>
        {
            path
        }
        _ => ACCOUNT_PATH,
    }
}

/// `path` with `return_to` in its query.
fn with_return_to(path: &str, return_to: &str) -> String {
    format!(
        "{path}?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish()
    )
}

#[get("/static/gatehouse.css")]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../static/gatehouse.css"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_host_prefixed_and_secure_over_tls_only() {
        let tls = Cookies::new(true);
        let cookie = tls.build(tls.session, "v".into()).to_string();
        assert!(cookie.starts_with("__Host-gatehouse-session=v"), "{cookie}");
        for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(
            !cookie.contains("Domain"),
            "`__Host-` cookies have no Domain: {cookie}"
        );
        let plain = Cookies::new(false);
        let cookie = plain.build(plain.csrf, "v".into()).to_string();
        assert!(
            cookie.starts_with("gatehouse-csrf=v") && !cookie.contains("Secure"),
            "{cookie}"
        );
        let removal = plain.removal(plain.session).to_string();
        assert!(removal.contains("Max-Age=0"), "{removal}");
    }

    #[test]
    fn sign_in_returns_only_to_our_own_pages() {
        assert_eq!(safe_return_to(Some("/account")), "/account");
        let back = "/oauth2/authorize?client_id=spa&state=x";
        assert_eq!(safe_return_to(Some(back)), back);
        for hostile in [
            "https://evil.test/",
            "//evil.test/",
            "/\\evil.test",
            "/oauth2/authorize.evil",
            "/oauth2/authorizex?y",
            "/oauth2/authorize?x=1#frag",
            "/signin",
            "",
        ] {
            assert_eq!(safe_return_to(Some(hostile)), ACCOUNT_PATH, "{hostile}");
        }
        assert_eq!(safe_return_to(None), ACCOUNT_PATH);
    }
}
