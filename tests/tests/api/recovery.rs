//! Password reset and email verification through emailed single-use links, delivered to
//! the file outbox; and the housekeeping that purges what expired.

use gatehouse_tests::{
    ManualClock, PASSWORD, TestApp, confirm_reset, outbox, problem_code, token_in, wait_for_mail,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "a brand new secret";

async fn request_reset(app: &TestApp, email: &str) -> (StatusCode, bytes::Bytes) {
    let response = app
        .post_json("/api/v1/auth/password-reset", &json!({"email": email}))
        .await;
    (response.status(), response.bytes().await.unwrap())
}

/// Asks for a verification email with `access` and returns the emailed token, the
/// `mail_index`th message of the outbox.
async fn verification_token(app: &TestApp, access: &str, mail_index: usize) -> String {
    let response = app
        .bearer_send(Method::POST, "/api/v1/auth/verify-email", access, None)
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mails = wait_for_mail(app, mail_index + 1).await;
    token_in(&mails[mail_index], "/verify-email")
}

async fn confirm_verification(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/verify-email/confirm",
        &json!({"token": token}),
    )
    .await
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let app = TestApp::builder()
        .settings(|s| s.server.public_url = "https://accounts.example.test/".into())
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let before = app.login_tokens("ada@example.com").await;

    let (status, _) = request_reset(&app, "ADA@example.com").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mails = wait_for_mail(&app, 1).await;
    let mail = &mails[0];
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(
        mail.contains("https://accounts.example.test/reset-password?token="),
        "{mail}"
    );
    let token = token_in(mail, "/reset-password");
    assert!(token.len() >= 43, "{token}");

    let response = confirm_reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Every session died; the new password works, the old one does not.
    let access = before["access_token"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app
        .refresh(before["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.login_response("ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.login_response("ada@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    // A notice was sent.
    let mails = wait_for_mail(&app, 2).await;
    assert!(
        mails[1].contains("Your password was changed"),
        "{}",
        mails[1]
    );
    // The link works once.
    let again = confirm_reset(&app, &token, "yet another secret").await;
    assert_eq!(
        problem_code(again).await,
        (StatusCode::BAD_REQUEST, "token_invalid".into())
    );
    // Only a digest is stored.
    assert_eq!(app.stored_action_tokens(&token).await, (1, false));
}

#[tokio::test]
async fn known_and_unknown_emails_get_the_same_answer_and_only_accounts_get_mail() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let unknown = request_reset(&app, "nobody@example.com").await;
    let known = request_reset(&app, "ada@example.com").await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::ACCEPTED);
    // A malformed address is the client's mistake, whoever has an account.
    let malformed = request_reset(&app, "useratexample.com").await;
    assert_eq!(malformed.0, StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_slice(&malformed.1).unwrap();
    assert_eq!(body["errors"][0]["field"], "email");
    wait_for_mail(&app, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mails = outbox(&app);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("To: ada@example.com"));
}

#[tokio::test]
async fn links_are_built_from_the_configured_url_never_the_host_header() {
    let app = TestApp::builder()
        .settings(|s| s.server.public_url = "https://accounts.example.test".into())
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/password-reset"))
        .header("host", "evil.example.com")
        .header("x-forwarded-host", "evil.example.com")
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mail = &wait_for_mail(&app, 1).await[0];
    assert!(!mail.contains("evil.example.com"), "{mail}");
    assert!(mail.contains("https://accounts.example.test/reset-password?token="));
}

#[tokio::test]
async fn reset_tokens_expire_after_thirty_minutes() {
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|_| {})
        .clock(clock.clone())
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    request_reset(&app, "ada@example.com").await;
    let token = token_in(&wait_for_mail(&app, 1).await[0], "/reset-password");
    clock.advance(chrono::Duration::minutes(31));
    let response = confirm_reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::BAD_REQUEST, "token_invalid".into())
    );
    app.login("ada@example.com").await;
}

#[tokio::test]
async fn a_weak_new_password_is_refused_and_the_link_stays_usable() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    request_reset(&app, "ada@example.com").await;
    let token = token_in(&wait_for_mail(&app, 1).await[0], "/reset-password");
    let response = confirm_reset(&app, &token, "password1").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "new_password");
    assert_eq!(
        confirm_reset(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    // Malformed: refused as input, naming the field. Well formed but sent by nobody: 400.
    let garbage = confirm_reset(&app, "not-a-token", NEW_PASSWORD).await;
    assert_eq!(garbage.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = garbage.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "token");
    let unknown = confirm_reset(&app, &"A".repeat(43), NEW_PASSWORD).await;
    assert_eq!(
        problem_code(unknown).await,
        (StatusCode::BAD_REQUEST, "token_invalid".into())
    );
}

#[tokio::test]
async fn reset_verification_and_bearer_tokens_are_not_interchangeable() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let access = app.login("ada@example.com").await;
    request_reset(&app, "ada@example.com").await;
    let reset = token_in(&wait_for_mail(&app, 1).await[0], "/reset-password");
    let verify = verification_token(&app, &access, 1).await;

    let response = confirm_verification(&app, &reset).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::BAD_REQUEST, "token_invalid".into())
    );
    let response = confirm_reset(&app, &verify, NEW_PASSWORD).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::BAD_REQUEST, "token_invalid".into())
    );
    for token in [&reset, &verify] {
        assert_eq!(
            app.bearer_get("/api/v1/users/me", token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // An access token is not even shaped like an emailed one.
    let response = confirm_reset(&app, &access, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Both still work for what they are.
    assert_eq!(
        confirm_reset(&app, &reset, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    let response = confirm_verification(&app, &verify).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn an_email_address_is_verified_from_its_link_once() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let access = app.login("ada@example.com").await;
    let token = verification_token(&app, &access, 0).await;
    assert!(outbox(&app)[0].contains("Confirm your email address"));

    let response = confirm_verification(&app, &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me: Value = app
        .bearer_get("/api/v1/users/me", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_verified"], true);
    let again = confirm_verification(&app, &token).await;
    assert_eq!(
        problem_code(again).await,
        (StatusCode::BAD_REQUEST, "token_invalid".into())
    );
    assert_eq!(
        app.post_json("/api/v1/auth/verify-email", &json!({}))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_link_for_an_old_address_does_not_verify_the_new_one() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let access = app.login("ada@example.com").await;
    let token = verification_token(&app, &access, 0).await;
    let response = app
        .bearer_send(
            Method::PATCH,
            "/api/v1/users/me",
            &access,
            Some(&json!({"email": "ada@new.example.com", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = confirm_verification(&app, &token).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::BAD_REQUEST, "token_invalid".into())
    );
}

#[tokio::test]
async fn verification_tokens_expire_after_a_day() {
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|_| {})
        .clock(clock.clone())
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let access = app.login("ada@example.com").await;
    let token = verification_token(&app, &access, 0).await;
    clock.advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    let response = confirm_verification(&app, &token).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::BAD_REQUEST, "token_invalid".into())
    );
}

#[tokio::test]
async fn unverified_accounts_cannot_log_in_when_the_policy_requires_it() {
    let app = TestApp::builder()
        .settings(|s| s.auth.require_verified_email = true)
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let response = app.login_response("ada@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "Email not verified");
    app.verify_every_account().await;
    app.login("ada@example.com").await;
}

#[tokio::test]
async fn housekeeping_purges_dead_sessions_and_used_tokens() {
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|s| s.auth.housekeeping_interval_secs = 1)
        .clock(clock.clone())
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let live = app.login_tokens("ada@example.com").await;
    let dead = app.login("ada@example.com").await;
    app.bearer_send(Method::POST, "/api/v1/auth/logout", &dead, None)
        .await;
    request_reset(&app, "ada@example.com").await;
    wait_for_mail(&app, 1).await;
    clock.advance(chrono::Duration::hours(1));

    let mut remaining = (0, 0);
    for _ in 0..50 {
        remaining = (
            app.stored_sessions().await,
            app.stored_action_tokens("").await.0,
        );
        if remaining == (1, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(remaining, (1, 0), "(sessions, emailed tokens) left");
    let refresh = app
        .refresh(live["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refresh.status(), StatusCode::OK);
}
