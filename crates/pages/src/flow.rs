//! The authorization endpoint and the pages it sends browsers through: sign-in, sign-up,
//! consent, sign-out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use gatehouse_domain::auth::{
    AuthenticateError, BrowserSignIn, MfaGrantError, PasswordGrantError, Registration,
};
use gatehouse_domain::mfa::Factor;
use gatehouse_domain::oauth::{
    AuthorizeError, AuthorizeParams, AuthorizeRequest, LogoutError, LogoutRequest, NextStep,
};
use gatehouse_domain::ports::is_opaque_token;
use gatehouse_domain::{Session, User};
use secrecy::{ExposeSecret, SecretString};

use super::{
    ACCOUNT_PATH, Field, FormPage, SIGN_IN_PATH, browser_session, csrf_token, field, form_again,
    form_with_error, message, page, posted_form, query, safe_return_to, see_other, unavailable,
    with_cookie, with_return_to,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

const AUTHORIZE_PATH: &str = gatehouse_http::paths::AUTHORIZE;
/// Where the consent page's form goes (the authorization endpoint's own POST is a request).
const CONSENT_PATH: &str = "/oauth2/consent";
const LOGOUT_CONFIRM_PATH: &str = "/oauth2/logout/confirm";
const SIGN_UP_PATH: &str = "/signup";
const SECOND_FACTOR_PATH: &str = "/signin/mfa";

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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(authorize)
        .service(authorize_by_post)
        .service(consent)
        .service(sign_in_page)
        .service(sign_in)
        .service(second_factor)
        .service(sign_up_page)
        .service(sign_up)
        .service(sign_out)
        .service(logout)
        .service(logout_by_post)
        .service(logout_confirmed);
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    action: &'a str,
    csrf: &'a str,
    client_name: &'a str,
    email: &'a str,
    scopes: Vec<String>,
    params: Vec<(&'static str, String)>,
}

/// The authorization request's parameters from a query or form, noting one sent twice.
fn authorize_params(pairs: impl Iterator<Item = (String, String)>) -> AuthorizeParams {
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
            "prompt" => &mut params.prompt,
            "max_age" => &mut params.max_age,
            "login_hint" => &mut params.login_hint,
            "id_token_hint" => &mut params.id_token_hint,
            "request" => &mut params.request,
            "request_uri" => &mut params.request_uri,
            "registration" => &mut params.registration,
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
        AuthorizeError::Redirect { location, .. } => see_other(&location),
        AuthorizeError::Repository(error) => unavailable(error),
    }
}

/// The pairs of a query or a form body.
fn pairs_of(encoded: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(encoded)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The answer to a POST of the OpenID endpoints whose body is not a form.
fn not_a_form(title: &str) -> HttpResponse {
    message(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        title,
        "Send the parameters as an application/x-www-form-urlencoded body.",
    )
}

/// The authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2), by GET.
#[get("/oauth2/authorize")]
async fn authorize(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let pairs = pairs_of(req.query_string().as_bytes());
    authorization(&req, &state, pairs).await
}

/// The authorization endpoint by POST, its parameters in a form body (OpenID Connect Core
/// §3.1.2.1: the endpoint must take both).
#[post("/oauth2/authorize")]
async fn authorize_by_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !gatehouse_http::json::is_form(&req) {
        return not_a_form("This sign-in request is not valid");
    }
    authorization(&req, &state, pairs_of(&body)).await
}

/// Judges an authorization request, then: a browser that must sign in (none, someone
/// else than `id_token_hint` names, older than `max_age`, or `prompt=login`) goes to the
/// sign-in page and back; a first-party client gets its code at once, a third-party one
/// (or `prompt=consent`) the consent page; under `prompt=none` a step that needs the
/// person is an error sent back to the client. Every redirect is a 303.
async fn authorization(
    req: &HttpRequest,
    state: &AppState,
    pairs: Vec<(String, String)>,
) -> HttpResponse {
    let request = match state
        .oauth
        .authorize(authorize_params(pairs.iter().cloned()))
        .await
    {
        Ok(request) => request,
        Err(error) => return refused(error),
    };
    let browser = match browser_session(req, state).await {
        Ok(found) => found,
        Err(error) => return unavailable(error),
    };
    let step = state
        .oauth
        .next_step(&request, browser.as_ref().map(|(session, _)| session));
    let (session, user) = match (step, browser) {
        (NextStep::Refused { location }, _) => return see_other(&location),
        (NextStep::SignIn, _) | (_, None) => {
            let back = after_sign_in(&pairs);
            return see_other(&with_return_to(SIGN_IN_PATH, &back));
        }
        (NextStep::Issue, Some((session, user))) => {
            return issue(state, &request, &session, &user).await;
        }
        (NextStep::Consent, Some(found)) => found,
    };
    let granted = match state.oauth.scopes_to_grant(&request, &session, &user) {
        Ok(granted) => granted,
        // Refused with `invalid_scope`, back to the client.
        Err(_) => return issue(state, &request, &session, &user).await,
    };
    let (csrf, new_cookie) = csrf_token(req, state);
    let scopes = granted
        .iter()
        .map(|scope| format!("{} ({scope})", scope.description()))
        .collect();
    let params = AUTHORIZE_PARAMS
        .into_iter()
        .filter_map(|name| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| (name, value.clone()))
        })
        .collect();
    let view = ConsentPage {
        action: CONSENT_PATH,
        csrf: &csrf,
        client_name: request.client.name.as_str(),
        email: user.email.as_str(),
        scopes,
        params,
    };
    with_cookie(page(StatusCode::OK, &view), new_cookie)
}

/// Where the sign-in page sends the browser back: the same request, without the
/// `prompt=login` (or `select_account`) that sent it there, so that it goes on from the
/// new sign-in instead of asking for another.
fn after_sign_in(pairs: &[(String, String)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if key == "prompt" {
            let kept: Vec<&str> = value
                .split_ascii_whitespace()
                .filter(|v| !matches!(*v, "login" | "select_account"))
                .collect();
            if !kept.is_empty() {
                query.append_pair(key, &kept.join(" "));
            }
        } else {
            query.append_pair(key, value);
        }
    }
    format!("{AUTHORIZE_PATH}?{}", query.finish())
}

async fn issue(
    state: &AppState,
    request: &AuthorizeRequest,
    session: &Session,
    user: &User,
) -> HttpResponse {
    match state.oauth.issue_code(request, session, user).await {
        Ok(location) => see_other(&location),
        Err(error) => refused(error),
    }
}

/// The consent form's answer: the same request again, with `decision` allow or deny.
#[post("/oauth2/consent")]
async fn consent(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let form = match posted_form(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
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
        Err(error) => return unavailable(error),
    };
    match field(&form, "decision") {
        "allow" => issue(&state, &request, &session, &user).await,
        "deny" => see_other(&state.oauth.denied(&request)),
        _ => message(
            StatusCode::BAD_REQUEST,
            "This form is not valid",
            "Choose Allow or Deny.",
        ),
    }
}

/// The value of parameter `name` in the query of `return_to` (an authorization request).
fn return_to_param(return_to: &str, name: &str) -> Option<String> {
    let query = return_to.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The sign-in form, for `return_to`.
fn sign_in_form<'a>(
    csrf: &'a str,
    return_to: &str,
    email: &str,
    client: Option<String>,
) -> FormPage<'a> {
    FormPage {
        title: "Sign in",
        intro: client.map(|name| format!("to continue to {name}")),
        errors: Vec::new(),
        action: SIGN_IN_PATH,
        csrf,
        hidden: vec![("return_to", return_to.to_owned())],
        fields: vec![
            Field::email(email),
            Field::password("password", "Password", "current-password"),
        ],
        submit: "Sign in",
        links: vec![
            ("/forgot-password".to_owned(), "Forgot your password?"),
            (with_return_to(SIGN_UP_PATH, return_to), "Create an account"),
        ],
    }
}

/// The name of the client a sign-in continues to, for the page's heading.
async fn client_of(state: &AppState, return_to: &str) -> Option<String> {
    let id = return_to_param(return_to, "client_id")?;
    let client = state.oauth.client(&id).await.ok()??;
    Some(client.name.as_str().to_owned())
}

/// The sign-in page; the email is filled in from the request's `login_hint`, if any.
#[get("/signin")]
async fn sign_in_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let sent = query(&req);
    let return_to = safe_return_to(sent.get("return_to").map(String::as_str));
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let client = client_of(&state, return_to).await;
    let hint = return_to_param(return_to, "login_hint").unwrap_or_default();
    let form = sign_in_form(&csrf, return_to, &hint, client);
    with_cookie(page(StatusCode::OK, &form), new_cookie)
}

/// Opens a browser session for a right password and goes on to `return_to`.
async fn open_session(
    state: &AppState,
    email: &str,
    password: &SecretString,
    caller: Caller,
    return_to: &str,
) -> Result<HttpResponse, PasswordGrantError> {
    let signed_in = state
        .auth
        .browser_sign_in(email, password, caller.0)
        .await?;
    Ok(signed_in_to(state, signed_in, return_to))
}

/// The session cookie (and a new CSRF secret: the forms of before the sign-in die), and on
/// to `return_to`, or to enrolment when the policy wants this person to have MFA first.
fn signed_in_to(state: &AppState, signed_in: BrowserSignIn, return_to: &str) -> HttpResponse {
    let cookie = state.cookies.build(
        state.cookies.session,
        signed_in.cookie.expose_secret().to_owned(),
    );
    let next = if signed_in.must_enrol {
        format!("{ACCOUNT_PATH}?mfa=required")
    } else {
        return_to.to_owned()
    };
    let (_, csrf) = state.cookies.new_browser_secret();
    with_cookie(with_cookie(see_other(&next), Some(cookie)), Some(csrf))
}

/// `response`, clearing the session cookie and renewing the CSRF secret (a sign-out).
fn signed_out_cookies(state: &AppState, response: HttpResponse) -> HttpResponse {
    let (_, csrf) = state.cookies.new_browser_secret();
    with_cookie(
        with_cookie(response, Some(state.cookies.removal(state.cookies.session))),
        Some(csrf),
    )
}

/// The second step of a sign-in: a code from the authenticator, or a recovery code.
fn second_factor_form<'a>(csrf: &'a str, return_to: &str, mfa_token: &str) -> FormPage<'a> {
    FormPage {
        title: "Two-step verification",
        intro: Some("Enter the 6-digit code from your authenticator app.".into()),
        errors: Vec::new(),
        action: SECOND_FACTOR_PATH,
        csrf,
        hidden: vec![
            ("return_to", return_to.to_owned()),
            ("mfa_token", mfa_token.to_owned()),
        ],
        fields: vec![
            Field::code("otp", "Code from your authenticator app", "one-time-code"),
            Field::code(
                "recovery_code",
                "Or use a recovery code (if you lost your device)",
                "off",
            ),
        ],
        submit: "Verify",
        links: vec![(with_return_to(SIGN_IN_PATH, return_to), "Start over")],
    }
}

/// Completes a sign-in with its second factor: the same throttled, audited check as the
/// MFA grant. Success sets the session cookie and goes on to `return_to`.
#[post("/signin/mfa")]
async fn second_factor(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form = match posted_form(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let return_to = safe_return_to(form.get("return_to").map(String::as_str));
    let mfa_token = field(&form, "mfa_token");
    let factor = Factor::from_fields(form.get("otp").cloned(), form.get("recovery_code").cloned());
    let error = match state
        .auth
        .browser_mfa(&SecretString::from(mfa_token.to_owned()), factor, caller.0)
        .await
    {
        Ok(signed_in) => return signed_in_to(&state, signed_in, return_to),
        Err(error) => error,
    };
    let again = second_factor_form(field(&form, "csrf"), return_to, mfa_token);
    let text = match error {
        MfaGrantError::InvalidToken => {
            return message(
                StatusCode::BAD_REQUEST,
                "Sign in again",
                "This sign-in has expired or was already completed. Start over with your password.",
            );
        }
        MfaGrantError::MissingFactor => "Enter the code from your app, or a recovery code.",
        MfaGrantError::InvalidCode => "That code is wrong or was already used.",
        MfaGrantError::Throttled { retry_after } => {
            return form_again(again, &ApiError::Throttled { retry_after });
        }
        MfaGrantError::Repository(error) => return unavailable(error),
        other @ (MfaGrantError::Unreadable(_) | MfaGrantError::Token(_)) => {
            return form_again(again, &ApiError::internal(other));
        }
    };
    form_with_error(again, text)
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
    let form = match posted_form(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let return_to = safe_return_to(form.get("return_to").map(String::as_str));
    let email = field(&form, "email");
    let password = SecretString::from(field(&form, "password").to_owned());
    let error = match open_session(&state, email, &password, caller, return_to).await {
        Ok(response) => return response,
        Err(error) => error,
    };
    let again = sign_in_form(field(&form, "csrf"), return_to, email, None);
    let refusal = match error {
        PasswordGrantError::Throttled { retry_after } => ApiError::Throttled { retry_after },
        PasswordGrantError::Authenticate(refused) => {
            let text = match refused {
                AuthenticateError::InvalidCredentials => "Wrong email or password.",
                AuthenticateError::AccountDisabled => "This account is disabled.",
                AuthenticateError::EmailNotVerified => {
                    "Verify your email address first: follow the link we sent you."
                }
                AuthenticateError::Hashing(error) => return form_again(again, &error.into()),
                AuthenticateError::Repository(error) => return unavailable(error),
            };
            return form_with_error(again, text);
        }
        PasswordGrantError::MfaRequired { mfa_token } => {
            let step =
                second_factor_form(field(&form, "csrf"), return_to, mfa_token.expose_secret());
            return page(StatusCode::OK, &step);
        }
        PasswordGrantError::Repository(error) => return unavailable(error),
        other @ (PasswordGrantError::Scope(_) | PasswordGrantError::Token(_)) => {
            ApiError::internal(other)
        }
    };
    form_again(again, &refusal)
}

fn sign_up_form<'a>(csrf: &'a str, return_to: &str, email: &str, full_name: &str) -> FormPage<'a> {
    FormPage {
        title: "Create an account",
        intro: None,
        errors: Vec::new(),
        action: SIGN_UP_PATH,
        csrf,
        hidden: vec![("return_to", return_to.to_owned())],
        fields: vec![
            Field::email(email),
            Field::text("full_name", "Full name (optional)", "name", full_name),
            Field::password("password", "Password (8 to 128 characters)", "new-password"),
        ],
        submit: "Create account",
        links: vec![(
            with_return_to(SIGN_IN_PATH, return_to),
            "I have an account: sign in",
        )],
    }
}

#[get("/signup")]
async fn sign_up_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let sent = query(&req);
    let return_to = safe_return_to(sent.get("return_to").map(String::as_str));
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let form = sign_up_form(&csrf, return_to, "", "");
    with_cookie(page(StatusCode::OK, &form), new_cookie)
}

/// Creates an account (the same rules and throttle as `POST /api/v1/auth/register`), then
/// signs it in and goes on to `return_to`.
#[post("/signup")]
async fn sign_up(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form = match posted_form(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let return_to = safe_return_to(form.get("return_to").map(String::as_str));
    let email = field(&form, "email");
    let full_name = field(&form, "full_name");
    let password = SecretString::from(field(&form, "password").to_owned());
    let registration = Registration {
        email: email.to_owned(),
        password: password.clone(),
        full_name: (!full_name.trim().is_empty()).then(|| full_name.to_owned()),
    };
    if let Err(error) = state.auth.register(registration, &caller.0).await {
        let again = sign_up_form(field(&form, "csrf"), return_to, email, full_name);
        return form_again(again, &error.into());
    }
    match open_session(&state, email, &password, caller, return_to).await {
        Ok(response) => response,
        // The account exists; signing in is left to the person (a disabled sign-in,
        // say, when the address must be verified first).
        Err(_) => see_other(&with_return_to(SIGN_IN_PATH, return_to)),
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
    if let Err(refusal) = posted_form(&req, &body, &state) {
        return refusal.page();
    }
    if let Some(cookie) = req.cookie(state.cookies.session)
        && is_opaque_token(cookie.value())
        && let Err(error) = state
            .auth
            .browser_sign_out(&SecretString::from(cookie.value().to_owned()), &caller.0)
            .await
    {
        return unavailable(error);
    }
    signed_out_cookies(&state, see_other(SIGN_IN_PATH))
}

/// The parameters of RP-initiated logout, carried by the confirmation form.
const LOGOUT_PARAMS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

fn logout_request(params: &std::collections::HashMap<String, String>) -> LogoutRequest {
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    LogoutRequest {
        id_token_hint: get("id_token_hint"),
        client_id: get("client_id"),
        post_logout_redirect_uri: get("post_logout_redirect_uri"),
        state: get("state"),
    }
}

/// Ends the browser session and goes where the logout asked, or says it is done.
async fn signed_out(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    redirect: Option<String>,
) -> HttpResponse {
    if let Some(cookie) = req.cookie(state.cookies.session)
        && is_opaque_token(cookie.value())
        && let Err(error) = state
            .auth
            .browser_sign_out(&SecretString::from(cookie.value().to_owned()), &caller.0)
            .await
    {
        return unavailable(error);
    }
    let response = match redirect {
        Some(location) => see_other(&location),
        None => message(StatusCode::OK, "Signed out", "You are signed out."),
    };
    signed_out_cookies(state, response)
}

fn logout_refused(error: LogoutError) -> HttpResponse {
    match error {
        LogoutError::Invalid(reason) => message(
            StatusCode::BAD_REQUEST,
            "This sign-out link is not valid",
            reason,
        ),
        LogoutError::Repository(error) => unavailable(error),
    }
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) by GET.
#[get("/oauth2/logout")]
async fn logout(req: HttpRequest, caller: Caller, state: web::Data<AppState>) -> HttpResponse {
    let params = query(&req);
    logout_requested(&req, &caller, &state, params).await
}

/// RP-initiated logout by POST, its parameters in a form body (§2: the OP must take both).
#[post("/oauth2/logout")]
async fn logout_by_post(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !gatehouse_http::json::is_form(&req) {
        return not_a_form("This sign-out request is not valid");
    }
    let mut params = std::collections::HashMap::new();
    for (key, value) in form_urlencoded::parse(&body) {
        params
            .entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    logout_requested(&req, &caller, &state, params).await
}

/// With an `id_token_hint` for the person signed in here (or nobody signed in), the
/// browser is signed out at once; otherwise the person confirms, so that no other site can
/// sign them out with a bare link.
async fn logout_requested(
    req: &HttpRequest,
    caller: &Caller,
    state: &AppState,
    params: std::collections::HashMap<String, String>,
) -> HttpResponse {
    let judged = match state.oauth.logout(logout_request(&params)).await {
        Ok(judged) => judged,
        Err(error) => return logout_refused(error),
    };
    let current = match browser_session(req, state).await {
        Ok(found) => found.map(|(_, user)| user.id),
        Err(error) => return unavailable(error),
    };
    let confirmed = match (judged.hinted_user, current) {
        (_, None) => true,
        (Some(hinted), Some(current)) => hinted == current,
        (None, Some(_)) => false,
    };
    if confirmed {
        return signed_out(req, state, caller, judged.redirect).await;
    }
    let (csrf, new_cookie) = csrf_token(req, state);
    let form = FormPage {
        title: "Sign out?",
        intro: Some("An application asks to sign you out of this browser.".into()),
        errors: Vec::new(),
        action: LOGOUT_CONFIRM_PATH,
        csrf: &csrf,
        hidden: LOGOUT_PARAMS
            .into_iter()
            .filter_map(|name| params.get(name).map(|value| (name, value.clone())))
            .collect(),
        fields: Vec::new(),
        submit: "Sign out",
        links: vec![(ACCOUNT_PATH.to_owned(), "Stay signed in")],
    };
    with_cookie(page(StatusCode::OK, &form), new_cookie)
}

/// The person's confirmation of a logout they were asked about.
#[post("/oauth2/logout/confirm")]
async fn logout_confirmed(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form = match posted_form(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    match state.oauth.logout(logout_request(&form)).await {
        Ok(judged) => signed_out(&req, &state, &caller, judged.redirect).await,
        Err(error) => logout_refused(error),
    }
}

/// The account page's address for a browser without a session: sign in first.
pub(super) fn sign_in_first() -> HttpResponse {
    see_other(&with_return_to(SIGN_IN_PATH, ACCOUNT_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

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
