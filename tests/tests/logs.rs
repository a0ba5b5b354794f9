//! No password, token, secret or hash ever reaches the logs, even at TRACE level.
//! A binary of its own, since it installs the process-wide subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gatehouse_domain::SystemClock;
use gatehouse_tests::{PASSWORD, TEST_SECRET, TestApp};
use reqwest::StatusCode;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn register_login_and_me_log_no_secret() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_ansi(false)
        .with_writer(captured.clone())
        .init();

    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let wrong = app
        .login_response("ada@example.com", "wrong horse battery")
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let token = app.login("ada@example.com").await;
    let me = app.bearer_get("/api/v1/users/me", &token).await;
    assert_eq!(me.status(), StatusCode::OK);
    let forged = format!("{token}x");
    let refused = app.bearer_get("/api/v1/users/me", &forged).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let hash = app.stored_hash("ada@example.com").await;

    // Two-step verification: the secret, its codes, the recovery codes and the mfa_token.
    let enrolled =
        gatehouse_tests::totp::enrol(&app, &token, gatehouse_domain::Clock::now(&SystemClock))
            .await;
    let mfa_token = gatehouse_tests::totp::mfa_token(&app, "ada@example.com").await;
    let recovery = enrolled.recovery_codes[0].clone();
    let signed_in =
        gatehouse_tests::totp::second_step(&app, &mfa_token, ("recovery_code", &recovery)).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let sealed = app.stored_mfa_secret().await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The capture works: the events we expect are there.
    for expected in [
        "user registered",
        "login failed",
        "login succeeded",
        "request completed",
        "bearer token refused",
        "second factor required",
    ] {
        assert!(logs.contains(expected), "no `{expected}` in the logs");
    }
    let signature = token.rsplit('.').next().unwrap();
    let hash_output = hash.rsplit('$').next().unwrap();
    let hash_salt = hash.rsplit('$').nth(1).unwrap();
    for (what, secret) in [
        ("password", PASSWORD),
        ("wrong password", "wrong horse battery"),
        ("access token", token.as_str()),
        ("token signature", signature),
        ("password hash", hash.as_str()),
        ("hash output", hash_output),
        ("hash salt", hash_salt),
        ("JWT secret", TEST_SECRET),
        ("TOTP secret", enrolled.secret.as_str()),
        ("sealed TOTP secret", sealed.as_str()),
        ("recovery code", recovery.as_str()),
        ("another recovery code", enrolled.recovery_codes[9].as_str()),
        ("mfa_token", mfa_token.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}
