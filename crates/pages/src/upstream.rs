//! Signing in through an upstream identity provider: the "Continue with …" buttons of the
//! sign-in and sign-up pages, the start of a sign-in (to the provider's own page) and the
//! callback it comes back to, which signs in, signs up, asks for the second factor,
//! re-authenticates the session that asked, or offers to link the identity to the account
//! that has its address (confirmed on the link page once its owner signed in). The
//! sign-in is bound to the browser that began it by the secret of its CSRF cookie, an
//! offer by a cookie of its own. Every failure is a page that says what happened and how
//! to go back, never a 500.

use actix_web::cookie::time::Duration as CookieAge;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_domain::reauth::{ReauthError, ReauthRefusal};
use gatehouse_domain::throttle::ThrottleError;
use gatehouse_domain::upstream::{
    Callback, FlowPurpose, IdentityError, SignInOutcome, UpstreamSignInError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::shared::{
    ACCOUNT_PATH, Empty, FormPage, LINK_OFFER_PATH, Posted, SIGN_IN_PATH, asks_fresh,
    browser_session, carry_retry_after, csrf_token, message_with_link, page, posted, query,
    resource, safe_return_to, see_other, signed_in_form, unavailable, with_cookie, with_return_to,
};
use crate::sign_in::{second_step_page, signed_in_to};
use gatehouse_http::caller::Caller;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/upstream/{provider}/start").route(web::post().to(start)))
        .service(resource("/upstream/{provider}/callback").route(web::get().to(callback)))
        .service(
            resource(LINK_OFFER_PATH)
                .route(web::get().to(link_offer))
                .route(web::post().to(confirm_link)),
        );
}

/// How long an offered link waits for its confirmation (as the domain's offers).
const OFFER_AGE: CookieAge = CookieAge::minutes(10);

#[derive(Deserialize, Default)]
#[serde(default)]
struct StartForm {
    return_to: Option<String>,
    /// `1`: the app asked for a fresh sign-in, so the provider is asked for one too.
    fresh: Option<String>,
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
            (
                FlowPurpose::SignIn,
                asks_fresh(form.fields.fresh.as_deref()),
            ),
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
            let step = (safe_return_to(Some(&resume)), mfa_token.expose_secret());
            with_cookie(
                second_step_page(&state, &csrf, step, None).await,
                new_cookie,
            )
        }
        Ok(SignInOutcome::Linked { .. }) => see_other(&format!("{ACCOUNT_PATH}?done=linked")),
        Ok(SignInOutcome::Reauthenticated { .. }) => {
            see_other(&format!("{ACCOUNT_PATH}?done=reauthenticated"))
        }
        Ok(SignInOutcome::LinkOffered { offer }) => {
            let mut cookie = state
                .cookies
                .build(state.cookies.link, offer.expose_secret().to_owned());
            cookie.set_max_age(OFFER_AGE);
            with_cookie(see_other(LINK_OFFER_PATH), Some(cookie))
        }
        Err(error) => failure(error, SIGN_IN_PATH),
    }
}

/// The link this browser was offered, from its cookie.
fn offer_cookie(req: &HttpRequest, state: &AppState) -> Option<SecretString> {
    req.cookie(state.cookies.link)
        .map(|cookie| SecretString::from(cookie.value().to_owned()))
}

/// The offer of a link: sign in to the account that has the address first, then confirm.
async fn link_offer(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(offer) = offer_cookie(&req, &state) else {
        return failure(UpstreamSignInError::BadState, SIGN_IN_PATH);
    };
    let view = match state.upstream.link_offer(&offer).await {
        Ok(Some(view)) => view,
        Ok(None) => return failure(UpstreamSignInError::BadState, SIGN_IN_PATH),
        Err(error) => return unavailable(error),
    };
    let email = view.email.as_deref().unwrap_or("this address");
    let provider = &view.provider_name;
    let signed_in = match browser_session(&req, &state).await {
        Ok(signed_in) => signed_in,
        Err(error) => return unavailable(error),
    };
    match signed_in {
        Some((_, user)) if user.id == view.holder => {
            let (csrf, new_cookie) = csrf_token(&req, &state);
            let intro = format!(
                "Your {provider} account has the address {email}. Link it, and you can sign in here with {provider}."
            );
            let submit = format!("Link {provider}");
            let form = FormPage {
                title: "Link a sign-in provider",
                intro: Some(intro),
                errors: Vec::new(),
                action: LINK_OFFER_PATH,
                csrf: &csrf,
                hidden: Vec::new(),
                fields: Vec::new(),
                submit: &submit,
                links: vec![(ACCOUNT_PATH.to_owned(), "Not now")],
                providers: Vec::new(),
                passkey: None,
            };
            with_cookie(page(StatusCode::OK, &form), new_cookie)
        }
        Some(_) => message_with_link(
            StatusCode::CONFLICT,
            "Another account",
            &format!(
                "You are signed in to another account. To link {provider}, sign out and sign in to the account with {email}."
            ),
            (ACCOUNT_PATH.to_owned(), "Your account"),
        ),
        None => message_with_link(
            StatusCode::OK,
            "You already have an account",
            &format!(
                "An account with the address {email} exists. Sign in to it (with its password or another provider you linked), then confirm linking {provider}."
            ),
            (
                with_return_to(SIGN_IN_PATH, LINK_OFFER_PATH),
                "Sign in to link",
            ),
        ),
    }
}

/// Confirms the offered link, signed in to the account it was offered to.
async fn confirm_link(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, _) = match signed_in_form::<Empty>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let Some(offer) = offer_cookie(&req, &state) else {
        return failure(UpstreamSignInError::BadState, SIGN_IN_PATH);
    };
    let linked = state
        .upstream
        .confirm_link(&user, session, &offer, &caller.0)
        .await;
    let response = match linked {
        Ok(resume) if safe_return_to(Some(&resume)) == ACCOUNT_PATH => {
            see_other(&format!("{ACCOUNT_PATH}?done=linked"))
        }
        Ok(resume) => see_other(safe_return_to(Some(&resume))),
        // The offer waits for a fresh sign-in, or for the right account.
        Err(IdentityError::Reauth(ReauthError::Refused(ReauthRefusal::Stale))) => {
            return message_with_link(
                StatusCode::FORBIDDEN,
                "Sign in again",
                "To link this provider, sign in to your account again first.",
                (with_return_to(SIGN_IN_PATH, LINK_OFFER_PATH), "Sign in"),
            );
        }
        Err(IdentityError::SignIn(error @ UpstreamSignInError::OfferForAnotherAccount)) => {
            return failure(error, ACCOUNT_PATH);
        }
        Err(IdentityError::Repository(error)) => return unavailable(error),
        Err(IdentityError::SignIn(error)) => failure(error, ACCOUNT_PATH),
        Err(other) => {
            tracing::warn!(error = %other, "a link offer could not be confirmed");
            failure(UpstreamSignInError::BadState, ACCOUNT_PATH)
        }
    };
    // The offer is used up, or gone: the browser forgets it.
    with_cookie(response, Some(state.cookies.removal(state.cookies.link)))
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
pub(crate) fn failure(error: UpstreamSignInError, return_to: &str) -> HttpResponse {
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
        UpstreamSignInError::NotYourIdentity => (
            StatusCode::FORBIDDEN,
            "Not your identity",
            "You signed in at the provider as someone this account has not linked. Confirm with an identity linked to this account.".to_owned(),
        ),
        UpstreamSignInError::OfferForAnotherAccount => (
            StatusCode::CONFLICT,
            "Another account",
            "This link was offered to another account. Sign in to the account with the provider's address to link it.".to_owned(),
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
