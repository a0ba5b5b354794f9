//! A refresh whose answer was lost (SPEC §15): the refresh token presented again within
//! `auth.refresh_reuse_leeway_secs` of its rotation, while its successor is unused, goes
//! on with a new pair and the unused successor dies; past the leeway, or once the
//! successor was used, reuse revokes the session as before.

use futures::future::join_all;
use gatehouse_tests::{ManualClock, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

fn refresh_of(body: &Value) -> &str {
    body["refresh_token"].as_str().unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn refused(app: &TestApp, refresh: &str) {
    let response = app.refresh(refresh, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[tokio::test]
async fn a_retry_within_the_leeway_goes_on_and_its_unused_successor_dies() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let first = app.login_tokens("ada@example.com").await;
    // The rotation commits; its answer never reaches the client.
    let lost = ok(app.refresh(refresh_of(&first), None).await).await;

    // The client retries with the token it still holds.
    let retried = ok(app.refresh(refresh_of(&first), None).await).await;
    assert_ne!(refresh_of(&retried), refresh_of(&lost));
    let (live, all) = app
        .live_refresh_tokens(&[refresh_of(&lost), refresh_of(&retried)])
        .await;
    assert_eq!(
        live,
        [refresh_of(&retried)],
        "only the retry's token is live"
    );
    assert_eq!(all, 1);
    assert_eq!(app.audited("refresh_retried").await, 1);
    assert_eq!(app.audited("refresh_token_reused").await, 0);
    let access = retried["access_token"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::OK
    );

    // The session carries on from the retry's token.
    let next = ok(app.refresh(refresh_of(&retried), None).await).await;
    // The successor that died was never handed out: presented now, it is a replay (a
    // thief holding the lost answer), and the session ends.
    refused(&app, refresh_of(&lost)).await;
    refused(&app, refresh_of(&next)).await;
    assert_eq!(app.audited("refresh_token_reused").await, 1);
}

#[tokio::test]
async fn once_the_successor_was_used_the_old_token_revokes_the_session() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let first = app.login_tokens("ada@example.com").await;
    let second = ok(app.refresh(refresh_of(&first), None).await).await;
    // The owner uses the successor: the old token is no longer anyone's to retry.
    let third = ok(app.refresh(refresh_of(&second), None).await).await;

    // A thief's use of the old token, well within the leeway, still revokes.
    refused(&app, refresh_of(&first)).await;
    refused(&app, refresh_of(&third)).await;
    let access = third["access_token"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.audited("refresh_retried").await, 0);
    assert_eq!(app.audited("refresh_token_reused").await, 1);
}

#[tokio::test]
async fn past_the_leeway_or_with_none_a_retry_revokes_the_session() {
    // Past the leeway (5 s by default).
    let clock = ManualClock::new();
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    app.register_ok("ada@example.com").await;
    let first = app.login_tokens("ada@example.com").await;
    let lost = ok(app.refresh(refresh_of(&first), None).await).await;
    clock.advance(chrono::Duration::seconds(6));
    refused(&app, refresh_of(&first)).await;
    refused(&app, refresh_of(&lost)).await;

    // Within the leeway but with the leeway turned off.
    let app = TestApp::builder()
        .settings(|settings| settings.auth.refresh_reuse_leeway_secs = 0)
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let first = app.login_tokens("ada@example.com").await;
    let lost = ok(app.refresh(refresh_of(&first), None).await).await;
    refused(&app, refresh_of(&first)).await;
    refused(&app, refresh_of(&lost)).await;
    assert_eq!(app.audited("refresh_retried").await, 0);
}

#[tokio::test]
async fn racing_retries_with_the_old_token_leave_one_live_pair() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let first = app.login_tokens("ada@example.com").await;
    let lost = ok(app.refresh(refresh_of(&first), None).await).await;

    let raced = join_all((0..10).map(|_| app.refresh(refresh_of(&first), None))).await;
    let mut issued = vec![refresh_of(&lost).to_owned()];
    for response in raced {
        match response.status() {
            StatusCode::OK => {
                let body: Value = response.json().await.unwrap();
                issued.push(refresh_of(&body).to_owned());
            }
            // A retry that lost the race to another: refused, the session untouched.
            status => assert_eq!(status, StatusCode::BAD_REQUEST),
        }
    }
    assert!(issued.len() >= 2, "at least one retry went through");
    let raws: Vec<&str> = issued.iter().map(String::as_str).collect();
    let (live, all) = app.live_refresh_tokens(&raws).await;
    assert_eq!(live.len(), 1, "one live pair of {} issued", issued.len());
    assert_eq!(all, 1);
    assert_eq!(app.audited("refresh_token_reused").await, 0);
    ok(app.refresh(&live[0], None).await).await;
}

#[tokio::test]
async fn racing_refreshes_with_one_current_token_leave_one_live_pair() {
    // No answer was lost: the client races itself with its current token. One rotation
    // wins; the others, retries within the leeway, replace its pair or lose the race;
    // either way one pair lives and the session goes on.
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let first = app.login_tokens("ada@example.com").await;
    let raced = join_all((0..10).map(|_| app.refresh(refresh_of(&first), Some("me")))).await;
    let mut issued = Vec::new();
    for response in raced {
        if response.status() == StatusCode::OK {
            let body: Value = response.json().await.unwrap();
            issued.push(refresh_of(&body).to_owned());
        } else {
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
    }
    let raws: Vec<&str> = issued.iter().map(String::as_str).collect();
    let (live, all) = app.live_refresh_tokens(&raws).await;
    assert_eq!(live.len(), 1, "one live pair of {} issued", issued.len());
    assert_eq!(all, 1);
    ok(app.refresh(&live[0], None).await).await;
}
