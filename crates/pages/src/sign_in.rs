//! Signing in to this browser: the sign-in page, its second step for an account with MFA,
//! and signing out. Each runs the same throttled, audited use case as its API twin.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_domain::auth::{AuthenticateError, BrowserSignIn, MfaGrantError, PasswordGrantError};
use gatehouse_domain::email::LoginName;
use gatehouse_domain::error::RepositoryError;
use gatehouse_domain::mfa::Factor;
use gatehouse_domain::passkeys::{Begun, CeremonyResponse, PasskeyError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::shared::{
    ACCOUNT_PATH, Empty, FORGOT_PASSWORD_PATH, Field, FormPage, PasskeyButton, Posted,
    SIGN_IN_PATH, SIGN_UP_PATH, asks_fresh, csrf_token, end_browser_session, form_again, form_page,
    form_with_error, message, posted, query, resource, safe_return_to, see_other,
    signed_out_cookies, unavailable, with_cookie, with_return_to,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

const SECOND_FACTOR_PATH: &str = "/signin/mfa";
const SECOND_PASSKEY_BEGIN_PATH: &str = "/signin/mfa/passkey/begin";
const SECOND_PASSKEY_PATH: &str = "/signin/mfa/passkey";
const SIGN_OUT_PATH: &str = "/signout";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(SIGN_IN_PATH)
            .route(web::get().to(sign_in_page))
            .route(web::post().to(sign_in)),
    )
    .service(resource(SECOND_FACTOR_PATH).route(web::post().to(second_factor)))
    .service(resource("/signin/passkey/begin").route(web::post().to(begin_passkey)))
    .service(resource("/signin/passkey").route(web::post().to(finish_passkey)))
    .service(resource(SECOND_PASSKEY_BEGIN_PATH).route(web::post().to(begin_second_passkey)))
    .service(resource(SECOND_PASSKEY_PATH).route(web::post().to(finish_second_passkey)))
    .service(resource(SIGN_OUT_PATH).route(web::post().to(sign_out)));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignInForm {
    return_to: Option<String>,
    /// The app asked for a fresh sign-in (kept for the provider buttons).
    fresh: Option<String>,
    email: String,
    password: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SecondFactorForm {
    return_to: Option<String>,
    mfa_token: String,
    otp: Option<String>,
    recovery_code: Option<String>,
}

/// The value of parameter `name` in the query of `return_to` (an authorization request).
fn return_to_param(return_to: &str, name: &str) -> Option<String> {
    let query = return_to.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The sign-in form, for `return_to` (and, when the app asked for a `fresh` sign-in, asking
/// the providers for one too).
fn sign_in_form<'a>(
    state: &AppState,
    csrf: &'a str,
    (return_to, fresh): (&str, bool),
    email: &str,
    client: Option<String>,
) -> FormPage<'a> {
    let mut hidden = vec![("return_to", return_to.to_owned())];
    if fresh {
        hidden.push(("fresh", "1".to_owned()));
    }
    FormPage {
        title: "Sign in",
        intro: client.map(|name| format!("to continue to {name}")),
        errors: Vec::new(),
        action: SIGN_IN_PATH,
        csrf,
        hidden,
        fields: vec![
            Field::email(email),
            Field::password("password", "Password", "current-password"),
        ],
        submit: "Sign in",
        links: vec![
            (FORGOT_PASSWORD_PATH.to_owned(), "Forgot your password?"),
            (with_return_to(SIGN_UP_PATH, return_to), "Create an account"),
        ],
        providers: crate::shared::buttons(state, return_to, fresh),
        passkey: state.passkeys.available().then_some(PasskeyButton {
            begin: "/signin/passkey/begin",
            action: "/signin/passkey",
            label: "Sign in with a passkey",
            autofill: true,
        }),
    }
}

/// The name of the client a sign-in continues to, for the page's heading.
async fn client_of(state: &AppState, return_to: &str) -> Option<String> {
    let id = return_to_param(return_to, "client_id")?;
    let client = state.oauth.client(&id).await.ok()??;
    Some(client.name.as_str().to_owned())
}

/// The sign-in page; the email is filled in from the request's `login_hint`, if any.
async fn sign_in_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let sent = query(&req);
    let return_to = safe_return_to(sent.get("return_to").map(String::as_str));
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let client = client_of(&state, return_to).await;
    let hint = return_to_param(return_to, "login_hint").unwrap_or_default();
    let fresh = asks_fresh(sent.get("fresh").map(String::as_str));
    let form = sign_in_form(&state, &csrf, (return_to, fresh), &hint, client);
    with_cookie(form_page(StatusCode::OK, &form), new_cookie)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasskeyForm {
    return_to: Option<String>,
    fresh: Option<String>,
    ceremony: String,
    credential: String,
}

/// Begins a passkey sign-in for the page's script: `{ceremony, options}`, or the API's
/// problem (passkeys unavailable, too many from this network).
async fn begin_passkey(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(refusal) = posted::<PasskeyForm>(&req, &body, &state) {
        return refusal.page();
    }
    ceremony_answer(state.passkeys.begin_sign_in(&caller.0).await)
}

/// Finishes a passkey sign-in: a browser session, and on to `return_to`; or the sign-in
/// page again, saying the passkey was not accepted.
async fn finish_passkey(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<PasskeyForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let PasskeyForm {
        return_to,
        fresh,
        ceremony,
        credential,
    } = form.fields;
    let return_to = safe_return_to(return_to.as_deref());
    let signed_in = state
        .passkeys
        .sign_in_browser(
            &SecretString::from(ceremony),
            &CeremonyResponse::new(credential),
            caller.0,
        )
        .await;
    let error = match signed_in {
        Ok(signed_in) => return signed_in_to(&state, signed_in, return_to),
        Err(error) => ApiError::from(error),
    };
    let fresh = asks_fresh(fresh.as_deref());
    let again = sign_in_form(&state, &form.csrf, (return_to, fresh), "", None);
    if not_the_passkeys_doing(&error) {
        return form_again(again, &error);
    }
    not_accepted(form_with_error(
        again,
        "The passkey was not accepted. Try again, or sign in another way.",
    ))
}

/// Whether a passkey was refused for a reason of the server's or of the limits (said as
/// the API says it), rather than for the passkey's answer.
fn not_the_passkeys_doing(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Throttled { .. } | ApiError::DatabaseUnavailable | ApiError::Internal(_)
    )
}

/// A form page saying the passkey was not accepted: 400, as the API would answer.
fn not_accepted(mut response: HttpResponse) -> HttpResponse {
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// Opens a browser session for a right password and goes on to `return_to`.
pub(crate) async fn open_session(
    state: &AppState,
    email: &str,
    password: &SecretString,
    caller: Caller,
    return_to: &str,
) -> Result<HttpResponse, PasswordGrantError> {
    let signed_in = state
        .auth
        .browser_sign_in(&LoginName::new(email), password, caller.0)
        .await?;
    Ok(signed_in_to(state, signed_in, return_to))
}

/// The session cookie (and a new CSRF secret: the forms of before the sign-in die), and on
/// to `return_to`, or to enrolment when the policy wants this person to have MFA first.
pub(crate) fn signed_in_to(
    state: &AppState,
    signed_in: BrowserSignIn,
    return_to: &str,
) -> HttpResponse {
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

/// The second step of a sign-in: a code from the authenticator (or a recovery code) where
/// the account has one, its passkey where it has one (and passkeys work here); `None` when
/// the step is no longer live (spent, expired, the account changed).
pub(crate) async fn second_factor_form<'a>(
    state: &AppState,
    csrf: &'a str,
    return_to: &str,
    mfa_token: &str,
) -> Result<Option<FormPage<'a>>, RepositoryError> {
    let offered = state
        .auth
        .second_factors(&SecretString::from(mfa_token.to_owned()))
        .await?;
    let Some(offered) = offered else {
        return Ok(None);
    };
    let passkey = offered.passkey && state.passkeys.available();
    // An account whose only second factor is a passkey this deployment cannot use still
    // gets the code form: it says no, rather than offering nothing.
    let code = offered.code || !passkey;
    let intro = match (code, passkey) {
        (true, true) => "Use your passkey, or enter the 6-digit code from your authenticator app.",
        (true, false) => "Enter the 6-digit code from your authenticator app.",
        (false, _) => "Use your passkey to finish signing in.",
    };
    let fields = if code {
        vec![
            Field::code("otp", "Code from your authenticator app", "one-time-code"),
            Field::code(
                "recovery_code",
                "Or use a recovery code (if you lost your device)",
                "off",
            ),
        ]
    } else {
        Vec::new()
    };
    Ok(Some(FormPage {
        title: "Two-step verification",
        intro: Some(intro.into()),
        errors: Vec::new(),
        action: SECOND_FACTOR_PATH,
        csrf,
        hidden: vec![
            ("return_to", return_to.to_owned()),
            ("mfa_token", mfa_token.to_owned()),
        ],
        fields,
        submit: if code { "Verify" } else { "" },
        links: vec![(with_return_to(SIGN_IN_PATH, return_to), "Start over")],
        providers: Vec::new(),
        passkey: passkey.then_some(PasskeyButton {
            begin: SECOND_PASSKEY_BEGIN_PATH,
            action: SECOND_PASSKEY_PATH,
            label: "Use a passkey",
            autofill: false,
        }),
    }))
}

/// The second step's page (`text`, when there is something to tell), or, once the step is
/// no longer live, a page saying to start over.
pub(crate) async fn second_step_page(
    state: &AppState,
    csrf: &str,
    (return_to, mfa_token): (&str, &str),
    text: Option<&str>,
) -> HttpResponse {
    match second_factor_form(state, csrf, return_to, mfa_token).await {
        Ok(Some(step)) => match text {
            Some(text) => form_with_error(step, text),
            None => form_page(StatusCode::OK, &step),
        },
        Ok(None) => sign_in_again(),
        Err(error) => unavailable(error),
    }
}

/// The second step has expired or was completed: start over.
fn sign_in_again() -> HttpResponse {
    message(
        StatusCode::BAD_REQUEST,
        "Sign in again",
        "This sign-in has expired or was already completed. Start over with your password.",
    )
}

/// Completes a sign-in with its second factor: the same throttled, audited check as the
/// MFA grant. Success sets the session cookie and goes on to `return_to`.
async fn second_factor(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<SecondFactorForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let SecondFactorForm {
        return_to,
        mfa_token,
        otp,
        recovery_code,
    } = form.fields;
    let return_to = safe_return_to(return_to.as_deref());
    let mfa_token = mfa_token.as_str();
    let factor = Factor::from_fields(otp, recovery_code);
    let error = match state
        .auth
        .browser_mfa(&SecretString::from(mfa_token.to_owned()), factor, caller.0)
        .await
    {
        Ok(signed_in) => return signed_in_to(&state, signed_in, return_to),
        Err(error) => error,
    };
    let text = match error {
        MfaGrantError::InvalidToken => return sign_in_again(),
        MfaGrantError::MissingFactor => "Enter the code from your app, or a recovery code.",
        MfaGrantError::InvalidCode => "That code is wrong or was already used.",
        MfaGrantError::Throttled { retry_after } => {
            return refused_again(
                &state,
                &form.csrf,
                (return_to, mfa_token),
                &ApiError::Throttled { retry_after },
            )
            .await;
        }
        MfaGrantError::Repository(error) => return unavailable(error),
        other @ (MfaGrantError::Unreadable(_) | MfaGrantError::Token(_)) => {
            return refused_again(
                &state,
                &form.csrf,
                (return_to, mfa_token),
                &ApiError::internal(other),
            )
            .await;
        }
    };
    second_step_page(&state, &form.csrf, (return_to, mfa_token), Some(text)).await
}

/// The second step again, saying what the API would about `error` (a throttle, a fault).
async fn refused_again(
    state: &AppState,
    csrf: &str,
    (return_to, mfa_token): (&str, &str),
    error: &ApiError,
) -> HttpResponse {
    match second_factor_form(state, csrf, return_to, mfa_token).await {
        Ok(Some(step)) => form_again(step, error),
        Ok(None) => sign_in_again(),
        Err(storage) => unavailable(storage),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SecondPasskeyForm {
    return_to: Option<String>,
    mfa_token: String,
    ceremony: String,
    credential: String,
}

/// Begins giving a passkey as the second step, for the page's script: `{ceremony,
/// options}` naming the account's passkeys, or the API's problem.
async fn begin_second_passkey(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<SecondPasskeyForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let mfa_token = SecretString::from(form.fields.mfa_token);
    ceremony_answer(
        state
            .passkeys
            .begin_second_factor(&mfa_token, &caller.0)
            .await,
    )
}

/// Finishes the second step with a passkey: a browser session, and on to `return_to`; or
/// the second step again, saying the passkey was not accepted.
async fn finish_second_passkey(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<SecondPasskeyForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let SecondPasskeyForm {
        return_to,
        mfa_token,
        ceremony,
        credential,
    } = form.fields;
    let return_to = safe_return_to(return_to.as_deref());
    let signed_in = state
        .passkeys
        .second_factor_browser(
            (
                &SecretString::from(mfa_token.clone()),
                &SecretString::from(ceremony),
            ),
            &CeremonyResponse::new(credential),
            caller.0,
        )
        .await;
    let error = match signed_in {
        Ok(signed_in) => return signed_in_to(&state, signed_in, return_to),
        Err(PasskeyError::SecondStep(MfaGrantError::InvalidToken)) => return sign_in_again(),
        Err(PasskeyError::SecondStep(MfaGrantError::Repository(error))) => {
            return unavailable(error);
        }
        Err(error) => ApiError::from(error),
    };
    let step = (return_to, mfa_token.as_str());
    if not_the_passkeys_doing(&error) {
        return refused_again(&state, &form.csrf, step, &error).await;
    }
    let text = "The passkey was not accepted. Try again, or another way.";
    not_accepted(second_step_page(&state, &form.csrf, step, Some(text)).await)
}

/// A ceremony begun, as the page's script reads it (`{ceremony, options}`), or the API's
/// problem.
fn ceremony_answer(begun: Result<Begun, PasskeyError>) -> HttpResponse {
    match begun {
        Ok(begun) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({
                "ceremony": begun.ceremony.expose_secret(),
                "options": serde_json::from_str::<serde_json::Value>(begun.options.as_str())
                    .unwrap_or_default(),
            })),
        Err(error) => actix_web::ResponseError::error_response(&ApiError::from(error)),
    }
}

/// Signs in with email and password: the same throttled, audited check as the password
/// grant. Success sets the session cookie and goes on to `return_to`.
async fn sign_in(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<SignInForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let SignInForm {
        return_to,
        fresh,
        email,
        password,
    } = form.fields;
    let fresh = asks_fresh(fresh.as_deref());
    let return_to = safe_return_to(return_to.as_deref());
    let email = email.as_str();
    let password = SecretString::from(password);
    let error = match open_session(&state, email, &password, caller, return_to).await {
        Ok(response) => return response,
        Err(error) => error,
    };
    let again = sign_in_form(&state, &form.csrf, (return_to, fresh), email, None);
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
            let step = (return_to, mfa_token.expose_secret());
            return second_step_page(&state, &form.csrf, step, None).await;
        }
        PasswordGrantError::Repository(error) => return unavailable(error),
        other @ (PasswordGrantError::Scope(_) | PasswordGrantError::Token(_)) => {
            ApiError::internal(other)
        }
    };
    form_again(again, &refusal)
}

/// Signs out: ends the browser session everywhere and clears its cookie.
async fn sign_out(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(refusal) = posted::<Empty>(&req, &body, &state) {
        return refusal.page();
    }
    if let Err(error) = end_browser_session(&req, &state, &caller).await {
        return unavailable(error);
    }
    signed_out_cookies(&state, see_other(SIGN_IN_PATH))
}
