//! Sessions: refresh-token rotation and reuse detection, logout, the session list, expiry
//! by an injected clock, and revocation on password change and deactivation.

use gatehouse_tests::{
    ManualClock, PASSWORD, TestApp, confirm_reset, no_reuse_leeway, problem_code, reset_link,
    user_scopes,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn field(tokens: &Value, name: &str) -> String {
    tokens[name].as_str().unwrap().to_owned()
}

async fn refreshed(app: &TestApp, refresh_token: &str) -> Value {
    let response = app.refresh(refresh_token, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn assert_refresh_refused(app: &TestApp, refresh_token: &str) {
    let response = app.refresh(refresh_token, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

async fn me_status(app: &TestApp, access: &str) -> StatusCode {
    app.bearer_get("/api/v1/users/me", access).await.status()
}

#[tokio::test]
async fn each_refresh_rotates_both_tokens() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let first = app.login_tokens("ada@example.com").await;
    let refresh = field(&first, "refresh_token");
    assert!(
        refresh.len() >= 43,
        "refresh tokens carry at least 256 bits"
    );

    let second = refreshed(&app, &refresh).await;
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["token_type"], "bearer");
    assert_eq!(second["scope"], user_scopes());
    assert_eq!(
        me_status(&app, &field(&second, "access_token")).await,
        StatusCode::OK
    );

    let third = refreshed(&app, &field(&second, "refresh_token")).await;
    assert_eq!(
        me_status(&app, &field(&third, "access_token")).await,
        StatusCode::OK
    );
    // Only digests are stored.
    for token in [&first, &second, &third] {
        let stored = app
            .stored_refresh_tokens(&field(token, "refresh_token"))
            .await;
        assert_eq!(
            stored,
            (3, false),
            "a refresh token is stored in plain text"
        );
    }
}

#[tokio::test]
async fn without_a_leeway_reusing_a_rotated_refresh_token_revokes_the_session() {
    // Within the leeway, while the successor is unused, this is a retry
    // (`refresh_retries`); past it, or with none, a replay.
    let app = TestApp::builder().settings(no_reuse_leeway).spawn().await;
    app.register_ok("ada@example.com").await;
    let first = app.login_tokens("ada@example.com").await;
    let stolen = field(&first, "refresh_token");
    let second = refreshed(&app, &stolen).await;

    let response = app.refresh(&stolen, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );

    // The legitimate holder's newer tokens die with the session.
    assert_refresh_refused(&app, &field(&second, "refresh_token")).await;
    assert_eq!(
        me_status(&app, &field(&second, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_status(&app, &field(&first, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn without_a_leeway_of_twenty_concurrent_refreshes_with_one_token_exactly_one_succeeds() {
    let app = TestApp::builder().settings(no_reuse_leeway).spawn().await;
    app.register_ok("ada@example.com").await;
    let refresh = field(&app.login_tokens("ada@example.com").await, "refresh_token");
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/token");
            let refresh = refresh.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!((ok, refused), (1, 19), "{statuses:?}");
}

#[tokio::test]
async fn logout_kills_the_access_and_refresh_tokens_at_once() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let tokens = app.login_tokens("ada@example.com").await;
    let other = app.login_tokens("ada@example.com").await;
    let access = field(&tokens, "access_token");

    let response = app
        .bearer_send(Method::POST, "/api/v1/auth/logout", &access, None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &access).await, StatusCode::UNAUTHORIZED);
    assert_refresh_refused(&app, &field(&tokens, "refresh_token")).await;
    // Another session of the same user is untouched.
    assert_eq!(
        me_status(&app, &field(&other, "access_token")).await,
        StatusCode::OK
    );
    // Logging out needs a token, and any scope will do.
    assert_eq!(
        app.client
            .post(app.url("/api/v1/auth/logout"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let narrow: Value = app
        .login_with_scope("ada@example.com", "todos:read")
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .bearer_send(
            Method::POST,
            "/api/v1/auth/logout",
            &field(&narrow, "access_token"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_one_by_one_or_all_at_once() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let phone = app.login_tokens("ada@example.com").await;
    let laptop = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("user-agent", "Laptop/1.0")
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let laptop_access = field(&laptop, "access_token");

    let list: Value = app
        .bearer_get("/api/v1/users/me/sessions", &laptop_access)
        .await
        .json()
        .await
        .unwrap();
    let sessions = list.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[0]["user_agent"], "Laptop/1.0");
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    assert_eq!(sessions[1]["current"], false);
    let phone_session = sessions[1]["id"].as_str().unwrap().to_owned();

    // Someone else cannot revoke it.
    app.register_ok("bob@example.com").await;
    let bob = app.login("bob@example.com").await;
    let path = format!("/api/v1/users/me/sessions/{phone_session}");
    let with_password = json!({"current_password": PASSWORD});
    let response = app
        .bearer_send(Method::DELETE, &path, &bob, Some(&with_password))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        me_status(&app, &field(&phone, "access_token")).await,
        StatusCode::OK
    );

    // Ending another session needs re-authentication: the password.
    let response = app
        .bearer_send(Method::DELETE, &path, &laptop_access, Some(&json!({})))
        .await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::FORBIDDEN, "reauthentication_required".into())
    );
    let response = app
        .bearer_send(Method::DELETE, &path, &laptop_access, Some(&with_password))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_status(&app, &field(&phone, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_refresh_refused(&app, &field(&phone, "refresh_token")).await;
    let response = app
        .bearer_send(Method::DELETE, &path, &laptop_access, Some(&with_password))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .bearer_send(
            Method::DELETE,
            "/api/v1/users/me/sessions/not-a-uuid",
            &laptop_access,
            Some(&with_password),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let response = app
        .bearer_send(
            Method::DELETE,
            "/api/v1/users/me/sessions",
            &laptop_access,
            Some(&with_password),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_status(&app, &laptop_access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_refresh_refused(&app, &field(&laptop, "refresh_token")).await;
    assert_eq!(me_status(&app, &bob).await, StatusCode::OK);
}

#[tokio::test]
async fn idle_sessions_expire_after_seven_days() {
    let clock = ManualClock::new();
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    app.register_ok("ada@example.com").await;
    let tokens = app.login_tokens("ada@example.com").await;

    clock.advance(chrono::Duration::minutes(16));
    assert_eq!(
        me_status(&app, &field(&tokens, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    clock.advance(chrono::Duration::days(6));
    let kept = refreshed(&app, &field(&tokens, "refresh_token")).await;
    assert_eq!(
        me_status(&app, &field(&kept, "access_token")).await,
        StatusCode::OK
    );

    clock.advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    assert_refresh_refused(&app, &field(&kept, "refresh_token")).await;
}

#[tokio::test]
async fn no_session_outlives_thirty_days() {
    let clock = ManualClock::new();
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    app.register_ok("ada@example.com").await;
    let mut refresh = field(&app.login_tokens("ada@example.com").await, "refresh_token");
    for _ in 0..4 {
        clock.advance(chrono::Duration::days(6));
        refresh = field(&refreshed(&app, &refresh).await, "refresh_token");
    }
    clock.advance(chrono::Duration::days(6) + chrono::Duration::seconds(1));
    assert_refresh_refused(&app, &refresh).await;
}

#[tokio::test]
async fn a_password_change_revokes_the_other_sessions() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let here = app.login_tokens("ada@example.com").await;
    let elsewhere = app.login_tokens("ada@example.com").await;
    let response = app
        .bearer_send(
            Method::PUT,
            "/api/v1/users/me/password",
            &field(&here, "access_token"),
            Some(&json!({"current_password": PASSWORD, "new_password": "a brand new secret"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_refresh_refused(&app, &field(&elsewhere, "refresh_token")).await;
    // This session goes on: its refresh token gets an access token issued after the change.
    let renewed = refreshed(&app, &field(&here, "refresh_token")).await;
    assert_eq!(
        me_status(&app, &field(&renewed, "access_token")).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn deactivation_revokes_every_session_for_good() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    app.register_ok("ada@example.com").await;
    let tokens = app.login_tokens("ada@example.com").await;
    let me: Value = app
        .bearer_get("/api/v1/users/me", &field(&tokens, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
    let link = reset_link(&app, "ada@example.com").await;
    for active in [false, true] {
        let response = app
            .bearer_send(
                Method::PATCH,
                &path,
                &root,
                Some(&json!({"is_active": active})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Reactivated, but the old session stays dead, and so does the reset link sent before.
    assert_refresh_refused(&app, &field(&tokens, "refresh_token")).await;
    assert_eq!(
        me_status(&app, &field(&tokens, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    let reset = confirm_reset(&app, &link, "an attacker's passphrase").await;
    assert_eq!(reset.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_refresh_may_narrow_scope_but_never_widen_it() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let narrow: Value = app
        .login_with_scope("ada@example.com", "me todos:read")
        .await
        .json()
        .await
        .unwrap();
    let refresh = field(&narrow, "refresh_token");

    let response = app.refresh(&refresh, Some("me todos:write")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");

    // The refused request did not use the token up.
    let response = app.refresh(&refresh, Some("todos:read")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let narrower: Value = response.json().await.unwrap();
    assert_eq!(narrower["scope"], "todos:read");
    // Narrowing one access token does not shrink the session.
    let again = refreshed(&app, &field(&narrower, "refresh_token")).await;
    assert_eq!(again["scope"], "me todos:read");
}

#[tokio::test]
async fn refresh_and_access_tokens_are_not_interchangeable() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let tokens = app.login_tokens("ada@example.com").await;
    assert_eq!(
        me_status(&app, &field(&tokens, "refresh_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_refresh_refused(&app, &field(&tokens, "access_token")).await;
    assert_refresh_refused(&app, "made-up").await;
    let response = app.token(&[("grant_type", "refresh_token")]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn a_scope_removed_since_login_narrows_the_session_instead_of_breaking_it() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let tokens = app.login_tokens("ada@example.com").await;
    // As if `todos:write` had been renamed by an upgrade after this login.
    app.store_session_scopes("me todos:read todos:edit").await;
    let me = app
        .bearer_get("/api/v1/users/me", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let refreshed = app
        .refresh(tokens["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(refreshed["scope"], "me todos:read");
}
