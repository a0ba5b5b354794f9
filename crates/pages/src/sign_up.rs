//! Creating an account from the sign-in flow: the same rules and throttle as
//! `POST /api/v1/auth/register`, then signed in as by the sign-in page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_domain::auth::Registration;
use secrecy::SecretString;
use serde::Deserialize;

use crate::shared::{
    Field, FormPage, Posted, SIGN_IN_PATH, SIGN_UP_PATH, csrf_token, form_again, page, posted,
    query, resource, safe_return_to, see_other, with_cookie, with_return_to,
};
use crate::sign_in::open_session;
use gatehouse_http::caller::Caller;
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(SIGN_UP_PATH)
            .route(web::get().to(sign_up_page))
            .route(web::post().to(sign_up)),
    );
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignUpForm {
    return_to: Option<String>,
    email: String,
    full_name: String,
    password: String,
}

fn sign_up_form<'a>(
    state: &AppState,
    csrf: &'a str,
    return_to: &str,
    email: &str,
    full_name: &str,
) -> FormPage<'a> {
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
        providers: crate::shared::buttons(state, return_to, false),
        passkey: None,
    }
}

async fn sign_up_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let sent = query(&req);
    let return_to = safe_return_to(sent.get("return_to").map(String::as_str));
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let form = sign_up_form(&state, &csrf, return_to, "", "");
    with_cookie(page(StatusCode::OK, &form), new_cookie)
}

/// Creates an account (the same rules and throttle as `POST /api/v1/auth/register`), then
/// signs it in and goes on to `return_to`.
async fn sign_up(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<SignUpForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let SignUpForm {
        return_to,
        email,
        full_name,
        password,
    } = &form.fields;
    let return_to = safe_return_to(return_to.as_deref());
    let password = SecretString::from(password.as_str());
    let registration = Registration {
        email: email.to_owned(),
        password: password.clone(),
        full_name: (!full_name.trim().is_empty()).then(|| full_name.to_owned()),
    };
    if let Err(error) = state.auth.register(registration, &caller.0).await {
        let again = sign_up_form(&state, &form.csrf, return_to, email, full_name);
        return form_again(again, &error.into());
    }
    match open_session(&state, email, &password, caller, return_to).await {
        Ok(response) => response,
        // The account exists; signing in is left to the person (a disabled sign-in,
        // say, when the address must be verified first).
        Err(_) => see_other(&with_return_to(SIGN_IN_PATH, return_to)),
    }
}
