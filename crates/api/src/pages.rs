//! The hosted pages: server-rendered HTML (askama templates in `templates/`, one stylesheet,
//! no script) for signing in, consenting and the account, and the authorization endpoint
//! that sends browsers through them.
//!
//! - The browser session is a cookie holding an opaque token whose digest names a session
//!   of kind `browser` in the sessions table: logout, revocation and password changes end
//!   it like any other session. `HttpOnly`, `SameSite=Lax`, and `Secure` with the
//!   `__Host-` prefix when the public URL is `https`.
//! - Every form carries a CSRF token equal to a cookie of its own (double submit); a post
//!   whose token differs changes nothing.
//! - Every page is sent with a `Content-Security-Policy` that allows no script at all.

use std::collections::HashMap;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use gatehouse_domain::auth::PasswordGrantError;
use gatehouse_domain::oauth::{AuthorizeError, AuthorizeParams, AuthorizeRequest};
use gatehouse_domain::ports::is_opaque_token;
use gatehouse_domain::{Session, User};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::client::Caller;
use crate::state::AppState;

/// No script, no plugins, no framing; styles only from our stylesheet.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The parameters of an authorization request that the consent form carries on.
const AUTHORIZE_PARAMS: [&str; 8] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
];

pub const SIGN_IN_PATH: &str = "/signin";
pub const ACCOUNT_PATH: &str = "/account";
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(authorize)
        .service(consent)
        .service(sign_in_page)
        .service(sign_in)
        .service(sign_out)
        .service(account)
        .service(stylesheet);
}

/// The names of the hosted pages' cookies: `__Host-` prefixed (which requires `Secure`)
/// when browsers come over TLS.
#[derive(Debug, Clone)]
pub struct Cookies {
    pub session: &'static str,
    pub csrf: &'static str,
    pub secure: bool,
}

impl Cookies {
    pub fn new(secure: bool) -> Self {
        if secure {
            Self {
                session: "__Host-gatehouse-session",
                csrf: "__Host-gatehouse-csrf",
                secure,
            }
        } else {
            Self {
                session: "gatehouse-session",
                csrf: "gatehouse-csrf",
                secure,
            }
        }
    }

    fn build(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .finish()
    }

    fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut cookie = self.build(name, String::new());
        cookie.make_removal();
        cookie
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    return_to: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    client_name: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    csrf: &'a str,
    client_name: &'a str,
    email: &'a str,
    scopes: Vec<String>,
    params: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    is_error: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    email: &'a str,
    full_name: Option<&'a str>,
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

/// A page answering a storage failure: 503 when the database is not answering.
fn unavailable(error: &gatehouse_domain::RepositoryError) -> HttpResponse {
    if error.is_unavailable() {
        message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again shortly",
            "The service is not answering right now.",
        )
    } else {
        tracing::error!(%error, "a hosted page failed");
        message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Something went wrong on our side.",
        )
    }
}

/// The CSRF token of this browser (its cookie's, when well-formed) and, when it had none,
/// the cookie to set.
fn csrf_token(req: &HttpRequest, cookies: &Cookies) -> (String, Option<Cookie<'static>>) {
    match req.cookie(cookies.csrf) {
        Some(cookie) if is_opaque_token(cookie.value()) => (cookie.value().to_owned(), None),
        _ => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            use base64::Engine as _;
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            let cookie = cookies.build(cookies.csrf, token.clone());
            (token, Some(cookie))
        }
    }
}

/// Whether a posted form's CSRF token is this browser's.
fn csrf_holds(req: &HttpRequest, cookies: &Cookies, form: &HashMap<String, String>) -> bool {
    match (req.cookie(cookies.csrf), form.get("csrf")) {
        (Some(cookie), Some(sent)) => is_opaque_token(sent) && cookie.value() == sent.as_str(),
        _ => false,
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

/// A form body as a map; a repeated field or an unreadable body is `None`.
fn read_form(body: &[u8]) -> Option<HashMap<String, String>> {
    let mut form = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        if key.contains('\0') || value.contains('\0') {
            return None;
        }
        if form.insert(key.into_owned(), value.into_owned()).is_some() {
            return None;
        }
    }
    Some(form)
}

/// The browser session of this request, if its cookie names a live one.
async fn browser_session(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<(Session, User)>, gatehouse_domain::RepositoryError> {
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

/// Where a sign-in may send the browser afterwards: only our own authorization endpoint
/// or the account page, so `return_to` can never be an open redirect.
fn safe_return_to(raw: Option<&str>) -> &str {
    match raw {
        Some(path)
            if path == ACCOUNT_PATH
                || path
                    .strip_prefix(AUTHORIZE_PATH)
                    .is_some_and(|rest| rest.starts_with('?'))
                    && !path.contains(['\\', '\r', '\n', '#']) =>
        {
            path
        }
        _ => ACCOUNT_PATH,
    }
}

/// The authorization request's parameters from a query or form, noting one sent twice.
fn authorize_params<'a>(pairs: impl Iterator<Item = (String, String)> + 'a) -> AuthorizeParams {
    let mut params = AuthorizeParams::default();
    for (key, value) in pairs {
        let slot = match key.as_str() {
            "client_id" => &mut params.client_id,
            "redirect_uri" => &mut params.redirect_uri,
            "response_type" => &mut params.response_type,
            "scope" => &mut params.scope,
            "state" => &mut params.state,
            "code_challenge" => &mut params.code_challenge,
            "code_challenge_method" => &mut params.code_challenge_method,
            "nonce" => &mut params.nonce,
            _ => continue,
        };
        if slot.is_some() {
            params.repeated.get_or_insert(key);
        } else {
            *slot = Some(value);
        }
    }
    params
}

/// The answer to a refused authorization request: a page, or the client's redirect URI.
fn refused(error: AuthorizeError) -> HttpResponse {
    match error {
        AuthorizeError::Unredirectable(reason) => message(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            &reason,
        ),
        AuthorizeError::Redirect { location, .. } => HttpResponse::Found()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        AuthorizeError::Repository(error) => unavailable(&error),
    }
}

/// The authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2): checks the
/// request, sends a browser without a session to the sign-in page and back, then redirects
/// with a code (first-party clients) or asks for consent (third-party clients).
#[get("/oauth2/authorize")]
async fn authorize(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let pairs = form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()));
    let request = match state.oauth.authorize(authorize_params(pairs)).await {
        Ok(request) => request,
        Err(error) => return refused(error),
    };
    let (session, user) = match browser_session(&req, &state).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            let here = format!("{AUTHORIZE_PATH}?{}", req.query_string());
            let location = format!(
                "{SIGN_IN_PATH}?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("return_to", &here)
                    .finish()
            );
            return see_other(&location);
        }
        Err(error) => return unavailable(&error),
    };
    if request.client.first_party {
        return issue(&state, &request, &session, &user).await;
    }
    let (csrf, new_cookie) = csrf_token(&req, &state.cookies);
    let scopes = request
        .scope
        .as_ref()
        .map(|scopes| scopes.iter().collect::<Vec<_>>())
        .unwrap_or_else(|| {
            gatehouse_domain::ScopeSet::all_for(user.role)
                .iter()
                .collect()
        })
        .into_iter()
        .map(|scope| format!("{} ({scope})", scope.description()))
        .collect();
    let params = AUTHORIZE_PARAMS
        .into_iter()
        .filter_map(|name| {
            form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(key, _)| key == name)
                .map(|(_, value)| (name, value.into_owned()))
        })
        .collect();
    let view = ConsentPage {
        csrf: &csrf,
        client_name: request.client.name.as_str(),
        email: user.email.as_str(),
        scopes,
        params,
    };
    with_cookie(page(StatusCode::OK, &view), new_cookie)
}

async fn issue(
    state: &AppState,
    request: &AuthorizeRequest,
    session: &Session,
    user: &User,
) -> HttpResponse {
    match state.oauth.issue_code(request, session, user).await {
        Ok(location) => HttpResponse::Found()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(error) => refused(error),
    }
}

/// The consent form's answer: the same request again, with `decision` allow or deny.
#[post("/oauth2/authorize")]
async fn consent(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let Some(form) = read_form(&body) else {
        return message(
            StatusCode::BAD_REQUEST,
            "This form is not valid",
            "The form could not be read.",
        );
    };
    if !csrf_holds(&req, &state.cookies, &form) {
        return csrf_refused();
    }
    let pairs = form.iter().map(|(key, value)| (key.clone(), value.clone()));
    let request = match state.oauth.authorize(authorize_params(pairs)).await {
        Ok(request) => request,
        Err(error) => return refused(error),
    };
    let (session, user) = match browser_session(&req, &state).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return message(
                StatusCode::UNAUTHORIZED,
                "Signed out",
                "You were signed out meanwhile; start again from the application.",
            );
        }
        Err(error) => return unavailable(&error),
    };
    match form.get("decision").map(String::as_str) {
        Some("allow") => issue(&state, &request, &session, &user).await,
        Some("deny") => HttpResponse::Found()
            .insert_header((header::LOCATION, state.oauth.denied(&request)))
            .finish(),
        _ => message(
            StatusCode::BAD_REQUEST,
            "This form is not valid",
            "Choose Allow or Deny.",
        ),
    }
}

#[get("/signin")]
async fn sign_in_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query: HashMap<String, String> = form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let return_to = safe_return_to(query.get("return_to").map(String::as_str));
    let (csrf, new_cookie) = csrf_token(&req, &state.cookies);
    let client_name = client_of(&state, return_to).await;
    let form = SignInPage {
        csrf: &csrf,
        return_to,
        email: "",
        error: None,
        client_name: client_name.as_deref(),
    };
    with_cookie(page(StatusCode::OK, &form), new_cookie)
}

/// The name of the client a sign-in continues to, for the page's heading.
async fn client_of(state: &AppState, return_to: &str) -> Option<String> {
    let query = return_to.split_once('?')?.1;
    let id = form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "client_id")?
        .1;
    let client = state.oauth.client(&id).await.ok()??;
    Some(client.name.as_str().to_owned())
}

/// Signs in with email and password: the same throttled, audited check as the password
/// grant. Success sets the session cookie and goes on to `return_to`.
#[post("/signin")]
async fn sign_in(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(form) = read_form(&body) else {
        return message(
            StatusCode::BAD_REQUEST,
            "This form is not valid",
            "The form could not be read.",
        );
    };
    if !csrf_holds(&req, &state.cookies, &form) {
        return csrf_refused();
    }
    let return_to = safe_return_to(form.get("return_to").map(String::as_str));
    let email = form.get("email").map(String::as_str).unwrap_or_default();
    let password = SecretString::from(form.get("password").cloned().unwrap_or_default());
    let again = |status: StatusCode, error: &str| {
        let csrf = form.get("csrf").map(String::as_str).unwrap_or_default();
        // Never echo more than an email's worth of what was typed.
        let shown: String = email.chars().take(254).collect();
        page(
            status,
            &SignInPage {
                csrf,
                return_to,
                email: &shown,
                error: Some(error),
                client_name: None,
            },
        )
    };
    match state.auth.browser_sign_in(email, &password, caller.0).await {
        Ok(signed_in) => {
            let cookie = state.cookies.build(
                state.cookies.session,
                signed_in.cookie.expose_secret().to_owned(),
            );
            with_cookie(see_other(return_to), Some(cookie))
        }
        Err(PasswordGrantError::Throttled { retry_after }) => {
            let mut response = again(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-ins. Wait a while and try again.",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                crate::problem::retry_after_secs(retry_after),
            );
            response
        }
        Err(PasswordGrantError::Authenticate(error)) => {
            use gatehouse_domain::auth::AuthenticateError as E;
            match error {
                E::InvalidCredentials => again(StatusCode::OK, "Wrong email or password."),
                E::AccountDisabled => again(StatusCode::OK, "This account is disabled."),
                E::EmailNotVerified => again(
                    StatusCode::OK,
                    "Verify your email address first: follow the link we sent you.",
                ),
                E::Hashing(_) => again(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is busy. Try again in a moment.",
                ),
                E::Repository(error) => unavailable(&error),
            }
        }
        Err(PasswordGrantError::Repository(error)) => unavailable(&error),
        Err(other) => {
            tracing::error!(error = %other, "hosted sign-in failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side.",
            )
        }
    }
}

/// Signs out: ends the browser session everywhere and clears its cookie.
#[post("/signout")]
async fn sign_out(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(form) = read_form(&body) else {
        return csrf_refused();
    };
    if !csrf_holds(&req, &state.cookies, &form) {
        return csrf_refused();
    }
    if let Some(cookie) = req.cookie(state.cookies.session)
        && is_opaque_token(cookie.value())
        && let Err(error) = state
            .auth
            .browser_sign_out(&SecretString::from(cookie.value().to_owned()), &caller.0)
            .await
    {
        return unavailable(&error);
    }
    let removal = state.cookies.removal(state.cookies.session);
    with_cookie(see_other(SIGN_IN_PATH), Some(removal))
}

#[get("/account")]
async fn account(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let user = match browser_session(&req, &state).await {
        Ok(Some((_, user))) => user,
        Ok(None) => {
            return see_other(&format!("{SIGN_IN_PATH}?return_to=%2Faccount"));
        }
        Err(error) => return unavailable(&error),
    };
    let (csrf, new_cookie) = csrf_token(&req, &state.cookies);
    let view = AccountPage {
        csrf: &csrf,
        email: user.email.as_str(),
        full_name: user.full_name.as_ref().map(|name| name.as_str()),
    };
    with_cookie(page(StatusCode::OK, &view), new_cookie)
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

    #[test]
    fn a_parameter_sent_twice_is_noted() {
        let params = authorize_params(
            [("client_id", "a"), ("state", "1"), ("state", "2")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        assert_eq!(params.repeated.as_deref(), Some("state"));
        assert_eq!(params.state.as_deref(), Some("1"));
    }
}
