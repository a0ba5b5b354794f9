//! The pages the emails link to, and the one that sends them: forgot password
//! (`/forgot-password`), reset password (`/reset-password?token=…`) and verify email
//! (`/verify-email?token=…`). Each runs the same use case as its API twin.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use secrecy::SecretString;

use super::{
    Field, FormPage, SIGN_IN_PATH, csrf_token, error_page, field, form_again, message, page,
    posted_form, query, with_cookie,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(forgot_page)
        .service(forgot)
        .service(reset_page)
        .service(reset)
        .service(verify_page)
        .service(verify);
}

fn forgot_form<'a>(csrf: &'a str, email: &str) -> FormPage<'a> {
    FormPage {
        title: "Forgot your password?",
        intro: Some("We will email you a link to choose a new one.".into()),
        errors: Vec::new(),
        action: "/forgot-password",
        csrf,
        hidden: Vec::new(),
        fields: vec![Field::email(email)],
        submit: "Send the link",
        links: vec![(SIGN_IN_PATH.to_owned(), "Back to sign in")],
    }
}

#[get("/forgot-password")]
async fn forgot_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (csrf, new_cookie) = csrf_token(&req, &state);
    with_cookie(page(StatusCode::OK, &forgot_form(&csrf, "")), new_cookie)
}

/// Sends a reset link, answering the same whether or not the address has an account.
#[post("/forgot-password")]
async fn forgot(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form = match posted_form(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let email = field(&form, "email");
    match state
        .recovery
        .request_password_reset(email.to_owned(), &caller.0)
        .await
    {
        Ok(mail) => {
            gatehouse_http::mail::send_later(mail);
            message(
                StatusCode::OK,
                "Check your email",
                "If an account exists for this address, an email with a reset link is on its way. The link works for 30 minutes.",
            )
        }
        Err(error) => form_again(forgot_form(field(&form, "csrf"), email), &error.into()),
    }
}

fn reset_form<'a>(csrf: &'a str, token: &str) -> FormPage<'a> {
    FormPage {
        title: "Choose a new password",
        intro: Some("Every device signed in to your account will be signed out.".into()),
        errors: Vec::new(),
        action: "/reset-password",
        csrf,
        hidden: vec![("token", token.to_owned())],
        fields: vec![Field::password(
            "new_password",
            "New password (8 to 128 characters)",
            "new-password",
        )],
        submit: "Set the new password",
        links: Vec::new(),
    }
}

/// The page the reset email links to.
#[get("/reset-password")]
async fn reset_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let token = query(&req).remove("token").unwrap_or_default();
    let (csrf, new_cookie) = csrf_token(&req, &state);
    with_cookie(page(StatusCode::OK, &reset_form(&csrf, &token)), new_cookie)
}

#[post("/reset-password")]
async fn reset(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form = match posted_form(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let token = field(&form, "token");
    let new_password = SecretString::from(field(&form, "new_password").to_owned());
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
                ApiError::Validation(_) => {
                    form_again(reset_form(field(&form, "csrf"), token), &error)
                }
                other => error_page(other, "This link cannot be used"),
            }
        }
    }
}

/// The page the verification email links to. Confirming takes a press of a button, so
/// that a mail scanner fetching the link confirms nothing.
#[get("/verify-email")]
async fn verify_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let token = query(&req).remove("token").unwrap_or_default();
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let form = FormPage {
        title: "Confirm your email address",
        intro: None,
        errors: Vec::new(),
        action: "/verify-email",
        csrf: &csrf,
        hidden: vec![("token", token)],
        fields: Vec::new(),
        submit: "Confirm",
        links: Vec::new(),
    };
    with_cookie(page(StatusCode::OK, &form), new_cookie)
}

#[post("/verify-email")]
async fn verify(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let form = match posted_form(&req, &body, &state) {
        Ok(form) => form,
        Err(refusal) => return refusal.page(),
    };
    let token = SecretString::from(field(&form, "token").to_owned());
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
