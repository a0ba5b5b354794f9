//! Signing in through an upstream identity provider: the "Continue with …" buttons of the
//! sign-in and sign-up pages, the start of a sign-in (to the provider's own page) and the
//! callback it comes back to, which signs in, signs up, or asks for the second factor. The
//! sign-in is bound to the browser that began it by the secret of its CSRF cookie. Every
//! failure is a page that says what happened and how to go back, never a 500.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_domain::throttle::ThrottleError;
use gatehouse_domain::upstream::{Callback, FlowPurpose, SignInOutcome, UpstreamSignInError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::shared::{
    ACCOUNT_PATH, Posted, SIGN_IN_PATH, carry_retry_after, csrf_token, message_with_link, page,
    posted, query, resource, safe_return_to, see_other, unavailable, with_cookie, with_return_to,
};
use crate::sign_in::{second_factor_form, signed_in_to};
use gatehouse_http::caller::Caller;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/upstream/{provider}/start").route(web::post().to(start)))
        .service(resource("/upstream/{provider}/callback").route(web::get().to(callback)));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StartForm {
    return_to: Option<String>,
}

/// The secret of this browser's CSRF cookie: what binds a sign-in to the browser that
/// began it.
fn browser_binding(req: &HttpRequest, state: &AppState) -> Option<SecretString> {
    req.cookie(state.cookies.csrf)
        .map(|cookie| SecretString::from(cookie.value().to_owned()))
}

/// Begins a sign-in at the provider and sends the browser there.
async fn start(
    req: HttpRequest,
    caller: Caller,
    provider: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<StartForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let return_to = safe_return_to(form.fields.return_to.as_deref()).to_owned();
    let Some(browser) = browser_binding(&req, &state) else {
        return failure(UpstreamSignInError::BadState, &return_to);
    };
    match state
        .upstream
        .begin(
            &provider,
            &browser,
            FlowPurpose::SignIn,
            return_to.clone(),
            &caller.0,
        )
        .await
    {
        Ok(begun) => see_other(begun.redirect_to.as_str()),
        Err(error) => failure(error, &return_to),
    }
}

/// The provider's answer: a code (and `iss`), or an error; both with the state.
async fn callback(
    req: HttpRequest,
    caller: Caller,
    provider: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let sent = query(&req);
    let (Some(flow_state), Some(browser)) = (sent.get("state"), browser_binding(&req, &state))
    else {
        return failure(UpstreamSignInError::BadState, SIGN_IN_PATH);
    };
    let answer = match (sent.get("code"), sent.get("error")) {
        (Some(code), None) => Ok(Callback {
            code: SecretString::from(code.clone()),
            iss: sent.get("iss").cloned(),
        }),
        (_, Some(error)) => Err(short(error)),
        (None, None) => Err("no_code".to_owned()),
    };
    let outcome = state
        .upstream
        .callback(
            &SecretString::from(flow_state.clone()),
            provider.as_str(),
            answer,
            &browser,
            caller.0,
        )
        .await;
    match outcome {
        Ok(SignInOutcome::SignedIn { sign_in, resume }) => {
            signed_in_to(&state, *sign_in, safe_return_to(Some(&resume)))
        }
        Ok(SignInOutcome::SecondFactor { mfa_token, resume }) => {
            let (csrf, new_cookie) = csrf_token(&req, &state);
            let step = second_factor_form(
                &csrf,
                safe_return_to(Some(&resume)),
                mfa_token.expose_secret(),
            );
            with_cookie(page(StatusCode::OK, &step), new_cookie)
        }
        Ok(SignInOutcome::Linked { .. }) => see_other(&format!("{ACCOUNT_PATH}?done=linked")),
        Err(error) => failure(error, SIGN_IN_PATH),
    }
}

/// An upstream's error code as shown: at most 64 plain characters.
fn short(error: &str) -> String {
    error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(64)
        .collect()
}

/// The page of a sign-in that did not go through, with the status the API would answer.
fn failure(error: UpstreamSignInError, return_to: &str) -> HttpResponse {
    let (status, title, text) = match &error {
        UpstreamSignInError::UnknownProvider => (
            StatusCode::NOT_FOUND,
            "Unknown provider",
            "There is no such sign-in provider here.".to_owned(),
        ),
        UpstreamSignInError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Provider unavailable",
            "This sign-in provider cannot be reached right now. Try again later, or sign in another way.".to_owned(),
        ),
        UpstreamSignInError::Denied(code) => (
            StatusCode::BAD_REQUEST,
            "Not signed in",
            format!("The provider did not sign you in ({code}). You can try again or sign in another way."),
        ),
        UpstreamSignInError::BadState => (
            StatusCode::BAD_REQUEST,
            "Sign in again",
            "This sign-in expired, was already used, or was started in another browser. Start again.".to_owned(),
        ),
        UpstreamSignInError::Refused => (
            StatusCode::BAD_REQUEST,
            "Not signed in",
            "The provider's answer could not be verified, so you were not signed in. Start again.".to_owned(),
        ),
        UpstreamSignInError::AccountExists => (
            StatusCode::CONFLICT,
            "You already have an account",
            "An account with this email address exists. Sign in to it (with your password), then link this provider on your account page.".to_owned(),
        ),
        UpstreamSignInError::SignUpClosed => (
            StatusCode::FORBIDDEN,
            "No account",
            "No account is linked to this identity, and none can be created from it here.".to_owned(),
        ),
        UpstreamSignInError::LinkedElsewhere => (
            StatusCode::CONFLICT,
            "Linked to another account",
            "This identity is already linked to another account.".to_owned(),
        ),
        UpstreamSignInError::Inactive => (
            StatusCode::FORBIDDEN,
            "Account disabled",
            "This account cannot sign in.".to_owned(),
        ),
        UpstreamSignInError::Throttled(ThrottleError::Limited { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many sign-ins from your network. Wait a little and try again.".to_owned(),
        ),
        UpstreamSignInError::Throttled(ThrottleError::Repository(_))
        | UpstreamSignInError::Repository(_) => {
            let (UpstreamSignInError::Repository(error)
            | UpstreamSignInError::Throttled(ThrottleError::Repository(error))) = error
            else {
                unreachable!("matched above")
            };
            return unavailable(error);
        }
    };
    let again = with_return_to(SIGN_IN_PATH, safe_return_to(Some(return_to)));
    let mut response = message_with_link(status, title, &text, (again, "Back to sign-in"));
    if let UpstreamSignInError::Throttled(ThrottleError::Limited { retry_after }) = error {
        carry_retry_after(&ApiError::Throttled { retry_after }, &mut response);
    }
    response
}
