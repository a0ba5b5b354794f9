//! What every page shares, importing no page: the form and message templates, responses
//! (a page, a redirect, an error), the CSRF token and its check, posted forms read as typed
//! fields, the browser session, where a sign-in may return to, and the addresses pages
//! link to each other by.

use std::collections::HashMap;

use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use gatehouse_domain::ports::is_opaque_token;
use gatehouse_domain::{RepositoryError, Session, SessionId, User};
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use gatehouse_http::cookies::Cookies;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

/// No script, no plugins, no framing; styles only from our stylesheet.
pub(crate) const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The policy of the pages that offer passkeys: the same, and our one script (WebAuthn
/// needs `navigator.credentials`) with the calls it makes to this origin. No inline script.
pub(crate) const SCRIPTED_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The addresses pages link to each other by; each is also where its page is served.
pub(crate) const SIGN_IN_PATH: &str = "/signin";
pub(crate) const SIGN_UP_PATH: &str = "/signup";
pub(crate) const ACCOUNT_PATH: &str = "/account";
/// Where an upstream identity offered for linking to an existing account is confirmed.
pub(crate) const LINK_OFFER_PATH: &str = "/upstream/link";
pub(crate) const FORGOT_PASSWORD_PATH: &str = "/forgot-password";

/// One input of a form.
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) autocomplete: &'static str,
    pub(crate) value: String,
    pub(crate) required: bool,
}

impl Field {
    pub(crate) fn email(value: &str) -> Self {
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

    pub(crate) fn password(
        name: &'static str,
        label: &'static str,
        autocomplete: &'static str,
    ) -> Self {
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
    pub(crate) fn code(
        name: &'static str,
        label: &'static str,
        autocomplete: &'static str,
    ) -> Self {
        Self {
            name,
            label,
            kind: "text",
            autocomplete,
            value: String::new(),
            required: false,
        }
    }

    pub(crate) fn text(
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

/// A "Continue with …" button of the sign-in and sign-up pages.
pub(crate) struct ProviderButton {
    pub(crate) action: String,
    pub(crate) name: String,
    pub(crate) available: bool,
    /// Where the browser goes once signed in.
    pub(crate) return_to: String,
    /// The app asked for a fresh sign-in (`prompt=login`, `max_age`): the provider is asked
    /// for one too.
    pub(crate) fresh: bool,
}

/// Whether a page's query (or form) asks for a fresh sign-in: `fresh=1`.
pub(crate) fn asks_fresh(value: Option<&str>) -> bool {
    value == Some("1")
}

/// The buttons of every configured provider, for a sign-in that goes on to `return_to`
/// (and that must be `fresh` at the provider too).
pub(crate) fn buttons(state: &AppState, return_to: &str, fresh: bool) -> Vec<ProviderButton> {
    state
        .upstream
        .providers()
        .into_iter()
        .map(
            |gatehouse_domain::upstream::ProviderInfo {
                 id,
                 name,
                 available,
                 ..
             }| ProviderButton {
                action: format!("/upstream/{id}/start"),
                name,
                available,
                return_to: return_to.to_owned(),
                fresh,
            },
        )
        .collect()
}

/// A page with one form: sign-in, sign-up, forgot and reset password, verify email.
#[derive(Template)]
#[template(path = "form.html")]
pub(crate) struct FormPage<'a> {
    pub(crate) title: &'a str,
    pub(crate) intro: Option<String>,
    pub(crate) errors: Vec<String>,
    pub(crate) action: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) hidden: Vec<(&'static str, String)>,
    pub(crate) fields: Vec<Field>,
    /// The main form's button; empty when the page has no main form (a second step only a
    /// passkey can give).
    pub(crate) submit: &'a str,
    pub(crate) links: Vec<(String, &'static str)>,
    /// "Continue with …" buttons (the sign-in and sign-up pages).
    pub(crate) providers: Vec<ProviderButton>,
    /// A passkey form (the sign-in page and the second step, where passkeys work): the
    /// page then carries the passkey script, under [`SCRIPTED_POLICY`].
    pub(crate) passkey: Option<PasskeyButton>,
}

impl FormPage<'_> {
    /// Whether the email field offers the account's passkeys in the browser's autofill.
    fn autofill(&self) -> bool {
        self.passkey
            .as_ref()
            .is_some_and(|passkey| passkey.autofill)
    }
}

/// A form that asks the browser's authenticator for a passkey (through the page's script):
/// where its ceremony begins, where it finishes, and what its button says.
pub(crate) struct PasskeyButton {
    pub(crate) begin: &'static str,
    pub(crate) action: &'static str,
    pub(crate) label: &'static str,
    /// Offered in the browser's autofill too (conditional mediation), beside the email.
    pub(crate) autofill: bool,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub(crate) title: &'a str,
    pub(crate) message: &'a str,
    pub(crate) is_error: bool,
    /// A way on (or back), when the page offers one.
    pub(crate) link_href: Option<String>,
    pub(crate) link_text: &'a str,
}

/// A page as a response: HTML, never cached, under the strict policy.
pub(crate) fn page(status: StatusCode, template: &impl Template) -> HttpResponse {
    page_under(status, template, CONTENT_SECURITY_POLICY)
}

/// A page that carries the passkey script, under [`SCRIPTED_POLICY`].
pub(crate) fn scripted_page(status: StatusCode, template: &impl Template) -> HttpResponse {
    page_under(status, template, SCRIPTED_POLICY)
}

fn page_under(status: StatusCode, template: &impl Template, policy: &'static str) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("content-security-policy", policy))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .body(html),
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

pub(crate) fn message(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    page(
        status,
        &MessagePage {
            title,
            message,
            is_error: status.is_client_error() || status.is_server_error(),
            link_href: None,
            link_text: "",
        },
    )
}

/// A message with a link on: `text`, to `href`.
pub(crate) fn message_with_link(
    status: StatusCode,
    title: &str,
    message: &str,
    (href, text): (String, &str),
) -> HttpResponse {
    page(
        status,
        &MessagePage {
            title,
            message,
            is_error: status.is_client_error() || status.is_server_error(),
            link_href: Some(href),
            link_text: text,
        },
    )
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The API's decision about an error (its status, and `Retry-After` where it has one),
/// as a page; `labels` name the form's fields in the messages of a 422.
pub(crate) fn error_page(error: ApiError, title: &str) -> HttpResponse {
    let (status, errors) = describe(&error, &[]);
    let mut response = message(status, title, &errors.join(" "));
    carry_retry_after(&error, &mut response);
    response
}

/// The status of an error and what to tell the person, by field label where a field is
/// named.
pub(crate) fn describe(error: &ApiError, labels: &[(&str, &str)]) -> (StatusCode, Vec<String>) {
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
pub(crate) fn carry_retry_after(error: &ApiError, response: &mut HttpResponse) {
    if let Some(value) = error.error_response().headers().get(header::RETRY_AFTER) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, value.clone());
    }
}

/// A form page again, with what went wrong.
pub(crate) fn form_again(form: FormPage<'_>, error: &ApiError) -> HttpResponse {
    let labels: Vec<(&str, &str)> = form.fields.iter().map(|f| (f.name, f.label)).collect();
    let (status, errors) = describe(error, &labels);
    let mut response = form_page(status, &FormPage { errors, ..form });
    carry_retry_after(error, &mut response);
    response
}

/// A form page, under the scripted policy when it offers passkeys.
pub(crate) fn form_page(status: StatusCode, form: &FormPage<'_>) -> HttpResponse {
    if form.passkey.is_some() {
        scripted_page(status, form)
    } else {
        page(status, form)
    }
}

/// A form page again, with one thing to tell the person (a refusal the API has no code
/// for: wrong credentials, a wrong code).
pub(crate) fn form_with_error(form: FormPage<'_>, text: &str) -> HttpResponse {
    form_page(
        StatusCode::OK,
        &FormPage {
            errors: vec![text.to_owned()],
            ..form
        },
    )
}

/// A page answering a storage failure: 503 when the database is not answering.
pub(crate) fn unavailable(error: RepositoryError) -> HttpResponse {
    error_page(ApiError::from(error), "Try again shortly")
}

/// The session cookie this request carries, as sent (a CSRF token is bound to it).
pub(crate) fn session_cookie(req: &HttpRequest, cookies: &Cookies) -> Option<String> {
    req.cookie(cookies.session)
        .map(|cookie| cookie.value().to_owned())
}

/// The CSRF token of this browser's forms (bound to its secret and its session cookie)
/// and, when it had no secret yet, the cookie to set.
pub(crate) fn csrf_token(req: &HttpRequest, state: &AppState) -> (String, Option<Cookie<'static>>) {
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

pub(crate) fn csrf_refused() -> HttpResponse {
    message(
        StatusCode::FORBIDDEN,
        "Please try again",
        "This form expired or did not come from this site. Go back, reload the page and send it again.",
    )
}

/// With `cookie` set, when there is one.
pub(crate) fn with_cookie(
    mut response: HttpResponse,
    cookie: Option<Cookie<'static>>,
) -> HttpResponse {
    if let Some(cookie) = cookie
        && let Err(error) = response.add_cookie(&cookie)
    {
        tracing::warn!(%error, "a cookie could not be set");
    }
    response
}

/// Why a posted form was not taken.
pub(crate) enum Refused {
    /// A repeated field, a NUL, or not a form at all.
    Unreadable,
    /// Its CSRF token is not this browser's.
    Forged,
    /// No live browser session (for forms of signed-in pages).
    SignedOut,
    Storage(RepositoryError),
}

impl Refused {
    pub(crate) fn page(self) -> HttpResponse {
        match self {
            Refused::Unreadable => message(
                StatusCode::BAD_REQUEST,
                "This form is not valid",
                "The form could not be read.",
            ),
            Refused::Forged => csrf_refused(),
            Refused::SignedOut => sign_in_first(),
            Refused::Storage(error) => unavailable(error),
        }
    }
}

/// A posted form of a page: the CSRF token it carried (checked), and its fields.
pub(crate) struct Posted<T> {
    pub(crate) csrf: String,
    pub(crate) fields: T,
}

/// A posted form whose CSRF token is this browser's, for its current session cookie, read
/// as `T` (whose fields are best `#[serde(default)]`: a field left out reads as empty, and
/// one it does not name is ignored). A field sent twice or a NUL anywhere makes it
/// unreadable, as no browser sends either.
pub(crate) fn posted<T: DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
) -> Result<Posted<T>, Refused> {
    let mut names = std::collections::HashSet::new();
    let mut csrf = None;
    for (key, value) in form_urlencoded::parse(body) {
        // A field comes once, but for an authorization request's `resource` (RFC 8707).
        let repeated = !names.insert(key.clone()) && key != "resource";
        if key.contains('\0') || value.contains('\0') || repeated {
            return Err(Refused::Unreadable);
        }
        if key == "csrf" {
            csrf = Some(value.into_owned());
        }
    }
    let session = session_cookie(req, &state.cookies);
    let holds = match (req.cookie(state.cookies.csrf), &csrf) {
        (Some(cookie), Some(sent)) => {
            is_opaque_token(cookie.value())
                && state.csrf.verify(cookie.value(), session.as_deref(), sent)
        }
        _ => false,
    };
    if !holds {
        return Err(Refused::Forged);
    }
    let fields = serde_urlencoded::from_bytes(body).map_err(|_| Refused::Unreadable)?;
    Ok(Posted {
        csrf: csrf.unwrap_or_default(),
        fields,
    })
}

/// A form with no field but its CSRF token.
#[derive(serde::Deserialize)]
pub(crate) struct Empty {}

/// A form posted from a page of the signed-in person: the user, the session and the form,
/// or the answer to send instead.
pub(crate) async fn signed_in_form<T: DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
) -> Result<(User, SessionId, Posted<T>), Refused> {
    let (user, session, form) = signed_in_session_form(req, body, state).await?;
    Ok((user, session.id, form))
}

/// [`signed_in_form`], with the whole browser session (how and when its person signed in).
pub(crate) async fn signed_in_session_form<T: DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
) -> Result<(User, Session, Posted<T>), Refused> {
    let form = posted(req, body, state)?;
    match browser_session(req, state).await {
        Ok(Some((session, user))) => Ok((user, session, form)),
        Ok(None) => Err(Refused::SignedOut),
        Err(error) => Err(Refused::Storage(error)),
    }
}

/// The query of a request, by name (the first of a repeated parameter).
pub(crate) fn query(req: &HttpRequest) -> HashMap<String, String> {
    let mut params = HashMap::new();
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        params
            .entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    params
}

/// The browser session of this request, if its cookie names a live one.
pub(crate) async fn browser_session(
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
pub(crate) fn safe_return_to(raw: Option<&str>) -> &str {
    match raw {
        Some(path)
            if path == ACCOUNT_PATH
                || path == LINK_OFFER_PATH
                || path == gatehouse_http::paths::DEVICE
                || path
                    .strip_prefix(gatehouse_http::paths::DEVICE)
                    .is_some_and(|rest| rest.starts_with("?user_code="))
                    && !path.contains(['\\', '\r', '\n', '#'])
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
pub(crate) fn with_return_to(path: &str, return_to: &str) -> String {
    format!(
        "{path}?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish()
    )
}

/// A page's address, to give the handlers of its methods; any other method is answered as
/// for an address the service does not have.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(gatehouse_http::methods::fallback))
}

/// The answer to a POST of the OpenID endpoints whose body is not a form.
pub(crate) fn not_a_form(title: &str) -> HttpResponse {
    message(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        title,
        "Send the parameters as an application/x-www-form-urlencoded body.",
    )
}

/// `response`, clearing the session cookie and renewing the CSRF secret (a sign-out).
pub(crate) fn signed_out_cookies(state: &AppState, response: HttpResponse) -> HttpResponse {
    let (_, csrf) = state.cookies.new_browser_secret();
    with_cookie(
        with_cookie(response, Some(state.cookies.removal(state.cookies.session))),
        Some(csrf),
    )
}

/// The account page's address for a browser without a session: sign in first.
pub(crate) fn sign_in_first() -> HttpResponse {
    see_other(&with_return_to(SIGN_IN_PATH, ACCOUNT_PATH))
}

/// Ends the browser session of this request, if its cookie names one.
pub(crate) async fn end_browser_session(
    req: &HttpRequest,
    state: &AppState,
    caller: &gatehouse_http::caller::Caller,
) -> Result<(), RepositoryError> {
    match req.cookie(state.cookies.session) {
        Some(cookie) if is_opaque_token(cookie.value()) => {
            state
                .auth
                .browser_sign_out(&SecretString::from(cookie.value().to_owned()), &caller.0)
                .await
        }
        _ => Ok(()),
    }
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
