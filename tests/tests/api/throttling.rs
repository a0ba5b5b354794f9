//! Brute-force throttling: failed logins per account and per client IP, registrations and
//! reset requests per IP, counted in the database.

use gatehouse_tests::{ManualClock, PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WRONG: &str = "wrong horse battery staple";

async fn login_from(
    app: &TestApp,
    email: &str,
    password: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/api/v1/auth/token")).form(&[
        ("grant_type", "password"),
        ("username", email),
        ("password", password),
    ]);
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.unwrap()
}

async fn assert_throttled(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "too_many_requests");
    body
}

#[tokio::test]
async fn five_failures_lock_an_account_and_an_unknown_email_alike() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            let response = app.login_response(email, WRONG).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{email}");
        }
    }
    // Even the right password is refused now, before any hashing, identically.
    let known = assert_throttled(app.login_response("ADA@example.com", PASSWORD).await).await;
    let unknown = assert_throttled(app.login_response("nobody@example.com", PASSWORD).await).await;
    assert_eq!(known, unknown);
    // Another account from the same client is not locked (the IP limit is higher).
    app.register_ok("bob@example.com").await;
    app.login("bob@example.com").await;
    // And the locked-out user can still reset their password.
    let response = app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_success_resets_the_account_counter() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    for _ in 0..4 {
        app.login_response("ada@example.com", WRONG).await;
    }
    app.login("ada@example.com").await;
    for _ in 0..4 {
        let response = app.login_response("ada@example.com", WRONG).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    app.login("ada@example.com").await;
}

#[tokio::test]
async fn the_lock_lifts_after_the_window() {
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|_| {})
        .clock(clock.clone())
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    for _ in 0..5 {
        app.login_response("ada@example.com", WRONG).await;
    }
    assert_throttled(app.login_response("ada@example.com", PASSWORD).await).await;
    clock.advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    app.login("ada@example.com").await;
}

#[tokio::test]
async fn failures_after_a_success_start_a_window_of_their_own() {
    // A success forgets the account's failures. Those that follow are counted from their
    // own start, not in what is left of the window the forgotten ones opened: the lock
    // they earn lasts a whole window.
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|_| {})
        .clock(clock.clone())
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    app.login_response("ada@example.com", WRONG).await;
    clock.advance(chrono::Duration::minutes(14));
    app.login("ada@example.com").await;
    for _ in 0..5 {
        app.login_response("ada@example.com", WRONG).await;
    }
    assert_throttled(app.login_response("ada@example.com", PASSWORD).await).await;
    // Past the end of the first window, within the second.
    clock.advance(chrono::Duration::minutes(2));
    assert_throttled(app.login_response("ada@example.com", PASSWORD).await).await;
    clock.advance(chrono::Duration::minutes(13) + chrono::Duration::seconds(1));
    app.login("ada@example.com").await;
}

#[tokio::test]
async fn failures_are_counted_per_client_ip_behind_a_trusted_proxy() {
    let app = TestApp::builder()
        .settings(|s| {
            s.server.trusted_proxies = vec!["127.0.0.1".into()];
            s.auth.login_failures_per_ip = 3;
        })
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    for n in 0..3 {
        let response = login_from(
            &app,
            &format!("guess{n}@example.com"),
            WRONG,
            Some("198.51.100.7"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    // That address is locked out whatever the account…
    assert_throttled(login_from(&app, "ada@example.com", PASSWORD, Some("198.51.100.7")).await)
        .await;
    // …a fake hop put in front by the client changes nothing…
    assert_throttled(
        login_from(
            &app,
            "ada@example.com",
            PASSWORD,
            Some("1.1.1.1, 198.51.100.7"),
        )
        .await,
    )
    .await;
    // …and other clients behind the same proxy are not.
    let response = login_from(&app, "ada@example.com", PASSWORD, Some("203.0.113.5")).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::builder()
        .settings(|s| s.auth.login_failures_per_ip = 3)
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    for n in 0..3 {
        // A different "client" each time, by header only: all count against the real peer.
        let forwarded = format!("198.51.100.{n}");
        login_from(
            &app,
            &format!("guess{n}@example.com"),
            WRONG,
            Some(&forwarded),
        )
        .await;
    }
    assert_throttled(login_from(&app, "ada@example.com", PASSWORD, Some("203.0.113.99")).await)
        .await;
}

#[tokio::test]
async fn registrations_and_reset_requests_are_limited_per_ip() {
    let app = TestApp::builder()
        .settings(|s| {
            s.auth.registrations_per_ip = 2;
            s.auth.password_resets_per_ip = 2;
        })
        .spawn()
        .await;
    app.register_ok("one@example.com").await;
    app.register_ok("two@example.com").await;
    let response = app.register("three@example.com", PASSWORD).await;
    assert_throttled(response).await;
    assert_eq!(app.stored_accounts().await, 2);

    for _ in 0..2 {
        let response = app
            .post_json(
                "/api/v1/auth/password-reset",
                &json!({"email": "one@example.com"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let response = app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({"email": "one@example.com"}),
        )
        .await;
    assert_throttled(response).await;
}
