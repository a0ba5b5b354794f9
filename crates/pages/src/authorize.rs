//! The authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2) and the
//! consent page it may show: a request is judged, then the browser signs in, consents or
//! goes back to the client with a code or an error.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_domain::oauth::{AuthorizeError, AuthorizeParams, AuthorizeRequest, NextStep};
use gatehouse_domain::ports::is_opaque_token;
use gatehouse_domain::upstream::FlowPurpose;
use gatehouse_domain::{Session, User};
use secrecy::SecretString;
use serde::Deserialize;

use crate::shared::{
    Posted, SIGN_IN_PATH, browser_session, csrf_token, message, not_a_form, page, posted, resource,
    see_other, unavailable, with_cookie, with_return_to,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::paths::AUTHORIZE as AUTHORIZE_PATH;
use gatehouse_http::state::AppState;

/// Where the consent page's form goes (the authorization endpoint's own POST is a request).
const CONSENT_PATH: &str = "/oauth2/consent";

/// The parameters of an authorization request that the consent form carries on.
const AUTHORIZE_PARAMS: [&str; 9] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "resource",
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(AUTHORIZE_PATH)
            .route(web::get().to(authorize))
            .route(web::post().to(authorize_by_post)),
    )
    .service(resource(CONSENT_PATH).route(web::post().to(consent)));
}

/// The consent form's answer; the authorization request it carries on is read from the
/// form's pairs.
#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    decision: String,
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
        if key == "resource" {
            params.resources.push(value);
            continue;
        }
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

/// The authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2), by GET.
async fn authorize(req: HttpRequest, caller: Caller, state: web::Data<AppState>) -> HttpResponse {
    let pairs = pairs_of(req.query_string().as_bytes());
    authorization(&req, &caller, &state, pairs).await
}

/// The authorization endpoint by POST, its parameters in a form body (OpenID Connect Core
/// §3.1.2.1: the endpoint must take both).
async fn authorize_by_post(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !gatehouse_http::json::is_form(&req) {
        return not_a_form("This sign-in request is not valid");
    }
    authorization(&req, &caller, &state, pairs_of(&body)).await
}

/// Judges an authorization request, then: a browser that must sign in (none, someone
/// else than `id_token_hint` names, older than `max_age`, or `prompt=login`) goes to the
/// sign-in page and back; a first-party client gets its code at once, a third-party one
/// (or `prompt=consent`) the consent page; under `prompt=none` a step that needs the
/// person is an error sent back to the client. Every redirect is a 303.
async fn authorization(
    req: &HttpRequest,
    caller: &Caller,
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
            // The app wants the person to sign in again: at a provider too.
            let fresh = request.prompt.login || request.max_age.is_some();
            let hinted = straight_to_provider(req, caller, state, &pairs, (&back, fresh)).await;
            if let Some(hinted) = hinted {
                return hinted;
            }
            let sign_in = with_return_to(SIGN_IN_PATH, &back);
            return see_other(&if fresh {
                format!("{sign_in}&fresh=1")
            } else {
                sign_in
            });
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
    let api_granted = match state.oauth.api_grants_to_grant(&request, &session, &user) {
        Ok(granted) => granted,
        Err(_) => return issue(state, &request, &session, &user).await,
    };
    let (csrf, new_cookie) = csrf_token(req, state);
    let mut scopes: Vec<String> = granted
        .iter()
        .map(|scope| format!("{} ({scope})", scope.description()))
        .collect();
    // Each API's scopes in its own words, under its name.
    for (grant, asked) in api_granted.iter().zip(&request.resources) {
        let api = &asked.api;
        scopes.extend(grant.scopes.iter().filter_map(|name| {
            let scope = api.scopes.iter().find(|scope| scope.name == *name)?;
            Some(format!(
                "{}: {} ({})",
                api.name.as_str(),
                scope.description.as_str(),
                name.as_str()
            ))
        }));
    }
    // Every parameter the request goes on with (`resource` may come more than once).
    let params = pairs
        .iter()
        .filter_map(|(key, value)| {
            AUTHORIZE_PARAMS
                .into_iter()
                .find(|name| name == key)
                .map(|name| (name, value.clone()))
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
/// With `idp_hint` naming a configured, available provider, the sign-in begins there
/// without gatehouse's page (binding it to this browser's CSRF secret, made now if it has
/// none); `None` to show the page instead (no hint, an unknown provider, or one that
/// cannot be used now).
async fn straight_to_provider(
    req: &HttpRequest,
    caller: &Caller,
    state: &AppState,
    pairs: &[(String, String)],
    (back, fresh): (&str, bool),
) -> Option<HttpResponse> {
    let hint = pairs.iter().find(|(key, _)| key == "idp_hint")?.1.as_str();
    let (secret, new_cookie) = match req.cookie(state.cookies.csrf) {
        Some(cookie) if is_opaque_token(cookie.value()) => (cookie.value().to_owned(), None),
        _ => {
            let (secret, cookie) = state.cookies.new_browser_secret();
            (secret, Some(cookie))
        }
    };
    let begun = state
        .upstream
        .begin(
            hint,
            &SecretString::from(secret),
            (FlowPurpose::SignIn, fresh),
            back.to_owned(),
            &caller.0,
        )
        .await;
    match begun {
        Ok(begun) => Some(with_cookie(
            see_other(begun.redirect_to.as_str()),
            new_cookie,
        )),
        Err(error) => {
            tracing::info!(%error, provider = %hint, "idp_hint not followed: the sign-in page instead");
            None
        }
    }
}

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
async fn consent(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let form: Posted<ConsentForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let decision = form.fields.decision;
    // The request's parameters as posted, `resource` perhaps more than once.
    let request = pairs_of(&body)
        .into_iter()
        .filter(|(key, _)| AUTHORIZE_PARAMS.contains(&key.as_str()));
    let request = match state.oauth.authorize(authorize_params(request)).await {
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
    match decision.as_str() {
        "allow" => issue(&state, &request, &session, &user).await,
        "deny" => see_other(&state.oauth.denied(&request)),
        _ => message(
            StatusCode::BAD_REQUEST,
            "This form is not valid",
            "Choose Allow or Deny.",
        ),
    }
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
