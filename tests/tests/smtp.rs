//! The SMTP mail adapter against a real SMTP server on loopback: a password reset is
//! delivered, and the server received the message with its link.
//!
//! Needs a server that stores what it receives in a Maildir, e.g. aiosmtpd:
//! `python -m aiosmtpd -n -l 127.0.0.1:2525 -c aiosmtpd.handlers.Mailbox /tmp/maildir`, then
//! `SMTP_TEST_PORT=2525 SMTP_TEST_MAILDIR=/tmp/maildir cargo test -p gatehouse-tests --test smtp
//! -- --ignored` (`.ci/run` does this).

use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_server::settings::{MailTransport, SmtpTlsMode};
use gatehouse_tests::{TestApp, token_in, unfold_mail};
use reqwest::StatusCode;
use serde_json::json;

fn received(maildir: &Path) -> Vec<String> {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .map(|raw| unfold_mail(&raw))
        .collect()
}

#[tokio::test]
#[ignore = "needs an SMTP server: set SMTP_TEST_PORT and SMTP_TEST_MAILDIR and run with --ignored"]
async fn a_reset_email_reaches_the_smtp_server() {
    let port: u16 = std::env::var("SMTP_TEST_PORT")
        .expect("SMTP_TEST_PORT")
        .parse()
        .expect("a port number");
    let maildir = PathBuf::from(std::env::var("SMTP_TEST_MAILDIR").expect("SMTP_TEST_MAILDIR"));
    let recipient = format!("smtp-{}@example.com", uuid::Uuid::new_v4().simple());

    let app = TestApp::builder()
        .settings(|settings| {
            settings.mail.transport = MailTransport::Smtp;
            settings.mail.smtp_host = "127.0.0.1".into();
            settings.mail.smtp_port = port;
            settings.mail.smtp_tls = SmtpTlsMode::None;
            settings.mail.from = "gatehouse <no-reply@gatehouse.test>".into();
            settings.server.public_url = "https://accounts.example.test".into();
        })
        .spawn()
        .await;
    app.register_ok(&recipient).await;
    let response = app
        .post_json("/api/v1/auth/password-reset", &json!({"email": recipient}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let mut delivered = None;
    for _ in 0..100 {
        delivered = received(&maildir)
            .into_iter()
            .find(|mail| mail.contains(&recipient));
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mail = delivered.expect("the SMTP server received the reset email");
    assert!(
        mail.contains("From: gatehouse <no-reply@gatehouse.test>"),
        "{mail}"
    );
    assert!(mail.contains("Subject: Reset your password"), "{mail}");
    assert!(
        mail.contains("text/plain") && mail.contains("text/html"),
        "{mail}"
    );
    let token = token_in(&mail, "https://accounts.example.test/reset-password");

    // The token the server received works.
    let response = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"token": token, "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}
