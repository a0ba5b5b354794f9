//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): an application asks to
//! sign the person out of this browser, by GET or POST; without a hint that it is theirs,
//! the person confirms first.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_domain::oauth::{LogoutError, LogoutRequest};

use crate::shared::{
    ACCOUNT_PATH, FormPage, Posted, browser_session, csrf_token, end_browser_session, message,
    not_a_form, page, posted, query, resource, see_other, signed_out_cookies, unavailable,
    with_cookie,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::state::AppState;

const LOGOUT_PATH: &str = "/oauth2/logout";
const LOGOUT_CONFIRM_PATH: &str = "/oauth2/logout/confirm";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(LOGOUT_PATH)
            .route(web::get().to(logout))
            .route(web::post().to(logout_by_post)),
    )
    .service(resource(LOGOUT_CONFIRM_PATH).route(web::post().to(logout_confirmed)));
}

/// The parameters of RP-initiated logout, carried by the confirmation form.
const LOGOUT_PARAMS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

fn logout_request(params: &HashMap<String, String>) -> LogoutRequest {
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
    if let Err(error) = end_browser_session(req, state, caller).await {
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
async fn logout(req: HttpRequest, caller: Caller, state: web::Data<AppState>) -> HttpResponse {
    let params = query(&req);
    logout_requested(&req, &caller, &state, params).await
}

/// RP-initiated logout by POST, its parameters in a form body (§2: the OP must take both).
async fn logout_by_post(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !gatehouse_http::json::is_form(&req) {
        return not_a_form("This sign-out request is not valid");
    }
    let mut params = HashMap::new();
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
    params: HashMap<String, String>,
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
        providers: Vec::new(),
        passkey: None,
    };
    with_cookie(page(StatusCode::OK, &form), new_cookie)
}

/// The person's confirmation of a logout they were asked about.
async fn logout_confirmed(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<HashMap<String, String>> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    match state.oauth.logout(logout_request(&form.fields)).await {
        Ok(judged) => signed_out(&req, &state, &caller, judged.redirect).await,
        Err(error) => logout_refused(error),
    }
}
