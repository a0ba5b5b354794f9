//! The pages the emails link to, and the one that sends them: forgot password
//! (`/forgot-password`), reset password (`/reset-password?token=…`) and verify email
//! (`/verify-email?token=…`). Each runs the same use case as its API twin.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;

use crate::shared::{
    FORGOT_PASSWORD_PATH, Field, FormPage, Posted, SIGN_IN_PATH, csrf_token, error_page,
    form_again, message, page, posted, query, resource, with_cookie,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

const RESET_PASSWORD_PATH: &str = "/reset-password";
const VERIFY_EMAIL_PATH: &str = "/verify-email";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(FORGOT_PASSWORD_PATH)
            .route(web::get().to(forgot_page))
            .route(web::post().to(forgot)),
    )
    .service(
        resource(RESET_PASSWORD_PATH)
            .route(web::get().to(reset_page))
            .route(web::post().to(reset)),
    )
    .service(
        resource(VERIFY_EMAIL_PATH)
            .route(web::get().to(verify_page))
            .route(web::post().to(verify)),
    );
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ForgotForm {
    email: String,
}

/// The reset form: the emailed token, and the new password.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetForm {
    token: String,
    new_password: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VerifyForm {
    token: String,
}

fn forgot_form<'a>(csrf: &'a str, email: &str) -> FormPage<'a> {
    FormPage {
        title: "Forgot your password?",
        intro: Some("We will email you a link to choose a new one.".into()),
        errors: Vec::new(),
        action: FORGOT_PASSWORD_PATH,
        csrf,
        hidden: Vec::new(),
        fields: vec![Field::email(email)],
        submit: "Send the link",
        links: vec![(SIGN_IN_PATH.to_owned(), "Back to sign in")],
        providers: Vec::new(),
        passkey: None,
    }
}

async fn forgot_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (csrf, new_cookie) = csrf_token(&req, &state);
    with_cookie(page(StatusCode::OK, &forgot_form(&csrf, "")), new_cookie)
}

/// Sends a reset link, answering the same whether or not the address has an account.
async fn forgot(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<ForgotForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let email = form.fields.email.as_str();
    match state
        .recovery
        .request_password_reset(email.to_owned(), &caller.0)
        .await
    {
        Ok(()) => message(
            StatusCode::OK,
            "Check your email",
            "If an account exists for this address, an email with a reset link is on its way. The link works for 30 minutes.",
        ),
        Err(error) => form_again(forgot_form(&form.csrf, email), &error.into()),
    }
}

fn reset_form<'a>(csrf: &'a str, token: &str) -> FormPage<'a> {
    FormPage {
        title: "Choose a new password",
        intro: Some("Every device signed in to your account will be signed out.".into()),
        errors: Vec::new(),
        action: RESET_PASSWORD_PATH,
        csrf,
        hidden: vec![("token", token.to_owned())],
        fields: vec![Field::password(
            "new_password",
            "New password (8 to 128 characters)",
            "new-password",
        )],
        submit: "Set the new password",
        links: Vec::new(),
        providers: Vec::new(),
        passkey: None,
    }
}

/// The page the reset email links to.
async fn reset_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let token = query(&req).remove("token").unwrap_or_default();
    let (csrf, new_cookie) = csrf_token(&req, &state);
    with_cookie(page(StatusCode::OK, &reset_form(&csrf, &token)), new_cookie)
}

async fn reset(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<ResetForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let token = form.fields.token.as_str();
    let new_password = SecretString::from(form.fields.new_password.as_str());
    match state
        .recovery
        .confirm_password_reset(
            &SecretString::from(token.to_owned()),
            new_password,
            &caller.0,
        )
        .await
    {
        Ok(()) => message(
            StatusCode::OK,
            "Password changed",
            "Your new password is set, and every device was signed out. Sign in with the new password.",
        ),
        Err(error) => {
            let error = ApiError::from(error);
            match error {
                // A password the policy refuses: the same link may be used again.
                ApiError::Validation(_) => form_again(reset_form(&form.csrf, token), &error),
                other => error_page(other, "This link cannot be used"),
            }
        }
    }
}

/// The page the verification email links to. Confirming takes a press of a button, so
/// that a mail scanner fetching the link confirms nothing.
async fn verify_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let token = query(&req).remove("token").unwrap_or_default();
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let form = FormPage {
        title: "Confirm your email address",
        intro: None,
        errors: Vec::new(),
        action: VERIFY_EMAIL_PATH,
        csrf: &csrf,
        hidden: vec![("token", token)],
        fields: Vec::new(),
        submit: "Confirm",
        links: Vec::new(),
        providers: Vec::new(),
        passkey: None,
    };
    with_cookie(page(StatusCode::OK, &form), new_cookie)
}

async fn verify(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form: Posted<VerifyForm> = match posted(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let token = SecretString::from(form.fields.token);
    match state
        .recovery
        .confirm_email_verification(&token, &caller.0)
        .await
    {
        Ok(()) => message(
            StatusCode::OK,
            "Email address confirmed",
            "Thank you: your email address is verified.",
        ),
        Err(error) => error_page(error.into(), "This link cannot be used"),
    }
}
