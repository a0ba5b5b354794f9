//! Signing in to this browser: the sign-in page, its second step for an account with MFA,
//! and signing out. Each runs the same throttled, audited use case as its API twin.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_domain::auth::{AuthenticateError, BrowserSignIn, MfaGrantError, PasswordGrantError};
use gatehouse_domain::email::LoginName;
use gatehouse_domain::mfa::Factor;
use gatehouse_domain::passkeys::CeremonyResponse;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::shared::{
    ACCOUNT_PATH, Empty, FORGOT_PASSWORD_PATH, Field, FormPage, Posted, SIGN_IN_PATH, SIGN_UP_PATH,
    asks_fresh, csrf_token, end_browser_session, form_again, form_page, form_with_error, message,
    page, posted, query, resource, safe_return_to, see_other, signed_out_cookies, unavailable,
    with_cookie, with_return_to,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

const SECOND_FACTOR_PATH: &str = "/signin/mfa";
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
        passkey_sign_in: state.passkeys.available(),
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
    match state.passkeys.begin_sign_in(&caller.0).await {
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
    match error {
        ApiError::Throttled { .. } | ApiError::DatabaseUnavailable | ApiError::Internal(_) => {
            form_again(again, &error)
        }
        _ => {
            let mut response = form_with_error(
                again,
                "The passkey was not accepted. Try again, or sign in another way.",
            );
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
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

/// The second step of a sign-in: a code from the authenticator, or a recovery code.
pub(crate) fn second_factor_form<'a>(
    csrf: &'a str,
    return_to: &str,
    mfa_token: &str,
) -> FormPage<'a> {
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
        providers: Vec::new(),
        passkey_sign_in: false,
    }
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
    let again = second_factor_form(&form.csrf, return_to, mfa_token);
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
            let step = second_factor_form(&form.csrf, return_to, mfa_token.expose_secret());
            return page(StatusCode::OK, &step);
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
