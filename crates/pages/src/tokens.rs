//! Personal access tokens on the account page: making one (re-authenticated; the token is
//! shown once, on a page of its own) and revoking one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_domain::SessionId;
use gatehouse_domain::personal::{Expiry, NewPersonalToken};
use gatehouse_http::caller::Caller;
use gatehouse_http::problem::{ApiError, PERSONAL_TOKEN_NOT_FOUND};
use gatehouse_http::state::AppState;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::account::{outcome, render};
use crate::shared::{describe, page, resource, signed_in_form};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/account/tokens").route(web::post().to(create)))
        .service(resource("/account/tokens/revoke").route(web::post().to(revoke)));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateForm {
    name: String,
    scope: String,
    expires_in_days: String,
    current_password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RevokeForm {
    id: String,
}

/// The new token, shown this once.
#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage<'a> {
    name: &'a str,
    scope: &'a str,
    token: &'a str,
}

async fn create(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<CreateForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let fields = form.fields;
    // A number the field cannot hold is refused as out of range by the use case.
    let days = fields.expires_in_days.trim().parse::<i64>().unwrap_or(0);
    let input = NewPersonalToken {
        name: fields.name,
        scope: Some(fields.scope).filter(|scope| !scope.trim().is_empty()),
        resource: None,
        expiry: Some(Expiry::Days(days)),
    };
    let password = fields.current_password.map(SecretString::from);
    let made = state
        .personal
        .create(&user, session, password.as_ref(), input, &caller.0)
        .await;
    match made {
        Ok((secret, token)) => page(
            StatusCode::OK,
            &TokenPage {
                name: &token.name,
                scope: &token.scope(),
                token: secret.expose_secret(),
            },
        ),
        Err(error) => {
            let labels = [
                ("name", "Name"),
                ("scope", "Scopes"),
                ("expires_in_days", "Expires in"),
                ("current_password", "Current password"),
            ];
            let (status, errors) = describe(&ApiError::from(error), &labels);
            render(&req, &state, &user, session, errors, status).await
        }
    }
}

async fn revoke(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<RevokeForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let result = match uuid::Uuid::parse_str(&form.fields.id) {
        Ok(id) => state
            .personal
            .revoke(user.id, SessionId::from_uuid(id), None, &caller.0)
            .await
            .map_err(ApiError::from),
        Err(_) => Err(ApiError::ResourceNotFound(PERSONAL_TOKEN_NOT_FOUND)),
    };
    outcome(&req, &state, &user, session, result, "token-revoked", &[]).await
}
