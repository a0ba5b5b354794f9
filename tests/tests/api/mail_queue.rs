//! The durable mail queue (SPEC §15): emails are stored sealed with the token they carry,
//! delivered by the courier with retries, dead after the configured tries, listed and
//! retried by admins, and deleted once delivered.

use std::net::TcpListener;

use futures::future::join_all;
use gatehouse_server::settings::{MailTransport, SmtpTlsMode};
use gatehouse_tests::{TestApp, problem_code, wait_for_mail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A loopback port nothing listens on: an SMTP server that is down.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An app whose SMTP server is down, trying each email twice, a second apart.
async fn smtp_down() -> TestApp {
    let port = closed_port();
    TestApp::builder()
        .settings(move |settings| {
            settings.mail.transport = MailTransport::Smtp;
            settings.mail.smtp_host = "127.0.0.1".into();
            settings.mail.smtp_port = port;
            settings.mail.smtp_tls = SmtpTlsMode::None;
            settings.mail.max_attempts = 2;
            settings.mail.retry_first_secs = 1;
            settings.mail.poll_interval_ms = 100;
        })
        .spawn()
        .await
}

async fn queued(app: &TestApp, admin: &str, status: &str) -> Vec<Value> {
    let response = app
        .bearer_get(&format!("/api/v1/mail?status={status}"), admin)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

/// Waits (at most 15 s) until `count` emails are dead, and returns them.
async fn dead(app: &TestApp, admin: &str, count: usize) -> Vec<Value> {
    for _ in 0..150 {
        let dead = queued(app, admin, "dead").await;
        if dead.len() >= count {
            return dead;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("expected {count} dead emails");
}

#[tokio::test]
async fn an_email_that_keeps_failing_is_sealed_dead_listed_and_retried_by_an_admin() {
    let app = smtp_down().await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok("ada@example.com").await;
    let response = app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let dead = dead(&app, &admin, 1).await;
    assert_eq!(dead[0]["kind"], "password_reset");
    assert_eq!(dead[0]["status"], "dead");
    assert_eq!(dead[0]["attempts"], 2);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .is_some_and(|error| !error.is_empty()),
        "{dead:?}"
    );
    let body = dead[0].to_string();
    assert!(
        !body.contains("token") && !body.contains("ada@example.com"),
        "{body}"
    );

    // At rest: neither the address nor the link, though the link's token is live.
    let stored = app.stored_mail().await;
    assert_eq!(stored.len(), 1);
    let (columns, status) = &stored[0];
    assert_eq!(status, "dead");
    assert!(!columns.contains("ada@example.com"), "{columns}");
    assert!(!columns.contains("reset-password"), "{columns}");
    let (tokens, _) = app.stored_action_tokens("").await;
    assert_eq!(tokens, 1, "the link's token is stored with its email");

    // An admin retries it: pending again, tried afresh (and dead again, SMTP being down).
    let id = dead[0]["id"].as_str().unwrap();
    let retry = app
        .bearer_send(
            Method::POST,
            &format!("/api/v1/mail/{id}/retry"),
            &admin,
            None,
        )
        .await;
    assert_eq!(retry.status(), StatusCode::NO_CONTENT);
    let again = app
        .bearer_send(
            Method::POST,
            &format!("/api/v1/mail/{id}/retry"),
            &admin,
            None,
        )
        .await;
    // It is pending (or being tried) now, not dead: nothing to retry.
    assert_eq!(
        problem_code(again).await,
        (StatusCode::NOT_FOUND, "mail_not_found".into())
    );
    let dead = self::dead(&app, &admin, 1).await;
    assert_eq!(dead[0]["attempts"], 2, "tries counted afresh");
}

#[tokio::test]
async fn racing_retries_of_a_dead_email_queue_it_once() {
    let app = smtp_down().await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok("ada@example.com").await;
    let user = app.login("ada@example.com").await;
    let response = app
        .bearer_send(Method::POST, "/api/v1/auth/verify-email", &user, None)
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let dead = dead(&app, &admin, 1).await;
    assert_eq!(dead[0]["kind"], "email_verification");
    let path = format!("/api/v1/mail/{}/retry", dead[0]["id"].as_str().unwrap());
    let raced = join_all((0..10).map(|_| app.bearer_send(Method::POST, &path, &admin, None))).await;
    let retried = raced
        .iter()
        .filter(|response| response.status() == StatusCode::NO_CONTENT)
        .count();
    assert_eq!(retried, 1);
    assert!(
        raced
            .iter()
            .all(|r| matches!(r.status(), StatusCode::NO_CONTENT | StatusCode::NOT_FOUND))
    );
}

#[tokio::test]
async fn a_delivered_email_leaves_the_queue_and_admins_alone_see_it() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok("ada@example.com").await;
    let user = app.login("ada@example.com").await;
    app.post_json(
        "/api/v1/auth/password-reset",
        &json!({"email": "ada@example.com"}),
    )
    .await;
    app.post_json(
        "/api/v1/auth/password-reset",
        &json!({"email": "nobody@example.com"}),
    )
    .await;
    wait_for_mail(&app, 1).await;
    // The unknown address's request is looked up and dropped: nothing is left.
    for _ in 0..50 {
        if app.stored_mail().await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(app.stored_mail().await.is_empty());
    assert!(queued(&app, &admin, "pending").await.is_empty());

    assert_eq!(
        app.bearer_get("/api/v1/mail", &user).await.status(),
        StatusCode::FORBIDDEN
    );
    let bad = app.bearer_get("/api/v1/mail?status=lost", &admin).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = app
        .bearer_send(
            Method::POST,
            "/api/v1/mail/019a4d3e-aa10-7b2c-8d3e-4f5a6b7c8d9e/retry",
            &admin,
            None,
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
