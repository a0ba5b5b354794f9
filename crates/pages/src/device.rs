//! The device grant's page (RFC 8628 `verification_uri`): a signed-in person enters the
//! code their device shows (or arrives with it in the address), sees which app asks for
//! what, and allows or denies it. Every form is CSRF-protected; wrong codes are counted per
//! network by the use case.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_domain::oauth::DeviceEntryError;
use gatehouse_http::caller::Caller;
use gatehouse_http::paths::DEVICE;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;
use serde::Deserialize;

use crate::shared::{
    Field, FormPage, SIGN_IN_PATH, browser_session, carry_retry_after, csrf_token, form_page,
    message, page, query, resource, see_other, signed_in_session_form, unavailable, with_cookie,
    with_return_to,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(DEVICE)
            .route(web::get().to(enter))
            .route(web::post().to(review)),
    )
    .service(resource("/device/decide").route(web::post().to(decide)));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeForm {
    user_code: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DecisionForm {
    user_code: String,
    decision: String,
}

/// What the person is asked to allow.
#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage<'a> {
    csrf: &'a str,
    email: &'a str,
    client_name: &'a str,
    user_code: &'a str,
    /// Each scope in words.
    scopes: Vec<&'static str>,
}

fn code_form<'a>(csrf: &'a str, code: &str) -> FormPage<'a> {
    FormPage {
        title: "Sign in a device",
        intro: Some("Enter the code your device shows.".into()),
        errors: Vec::new(),
        action: DEVICE,
        csrf,
        hidden: Vec::new(),
        fields: vec![Field {
            required: true,
            ..Field::text("user_code", "Code (such as BCDF-GHJK)", "off", code)
        }],
        submit: "Continue",
        links: Vec::new(),
        providers: Vec::new(),
        passkey: None,
    }
}

/// The code form, filled in from `?user_code=` (the `verification_uri_complete`); a
/// browser without a session signs in first and comes back here.
async fn enter(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let code = query(&req).remove("user_code").unwrap_or_default();
    match browser_session(&req, &state).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            let back = if code.is_empty() {
                DEVICE.to_owned()
            } else {
                format!(
                    "{DEVICE}?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("user_code", &code)
                        .finish()
                )
            };
            return see_other(&with_return_to(SIGN_IN_PATH, &back));
        }
        Err(error) => return unavailable(error),
    }
    let (csrf, new_cookie) = csrf_token(&req, &state);
    with_cookie(page(StatusCode::OK, &code_form(&csrf, &code)), new_cookie)
}

/// The code, looked up: the request to allow or deny, or the form again.
async fn review(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, browser, form) = match signed_in_session_form::<CodeForm>(&req, &body, &state).await
    {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let code = form.fields.user_code;
    match state
        .oauth
        .device_request(&code, &user, &browser, &caller.0)
        .await
    {
        Ok(request) => page(
            StatusCode::OK,
            &DevicePage {
                csrf: &form.csrf,
                email: user.email.as_str(),
                client_name: request.client.name.as_str(),
                user_code: &request.authorization.user_code.display(),
                scopes: request.scopes.iter().map(|s| s.description()).collect(),
            },
        ),
        Err(error) => refused(code_form(&form.csrf, &code), error),
    }
}

/// The form again with why the code led nowhere (and `Retry-After` when throttled).
fn refused(form: FormPage<'_>, error: DeviceEntryError) -> HttpResponse {
    let (status, text) = match error {
        DeviceEntryError::Unknown => (
            StatusCode::OK,
            "This code is unknown, expired or already used: check it, or start again on the device.".to_owned(),
        ),
        DeviceEntryError::ScopeNotHeld(_) => (StatusCode::FORBIDDEN, error.to_string()),
        DeviceEntryError::Throttled { retry_after } => {
            let mut response = form_page(
                StatusCode::TOO_MANY_REQUESTS,
                &FormPage {
                    errors: vec![
                        "Too many wrong codes from your network: wait, then try again.".into(),
                    ],
                    ..form
                },
            );
            carry_retry_after(&ApiError::Throttled { retry_after }, &mut response);
            return response;
        }
        DeviceEntryError::Repository(error) => return unavailable(error),
    };
    form_page(
        status,
        &FormPage {
            errors: vec![text],
            ..form
        },
    )
}

/// Allows or denies the device's request, then tells the person to go back to it.
async fn decide(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, browser, form) =
        match signed_in_session_form::<DecisionForm>(&req, &body, &state).await {
            Ok(found) => found,
            Err(refusal) => return refusal.page(),
        };
    let approve = match form.fields.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => {
            return message(
                StatusCode::BAD_REQUEST,
                "This form is not valid",
                "Choose Allow or Deny.",
            );
        }
    };
    let code = form.fields.user_code;
    match state
        .oauth
        .decide_device(&code, approve, &user, &browser, &caller.0)
        .await
    {
        Ok(request) if approve => message(
            StatusCode::OK,
            "Device signed in",
            &format!(
                "{} is signed in on your device: you can go back to it.",
                request.client.name.as_str()
            ),
        ),
        Ok(_) => message(
            StatusCode::OK,
            "Device refused",
            "The device was not signed in. If you did not start this, nothing more is needed.",
        ),
        Err(error) => refused(code_form(&form.csrf, &code), error),
    }
}
