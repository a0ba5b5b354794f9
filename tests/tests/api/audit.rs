//! The audit trail: security events recorded in the database and read by admins.

use gatehouse_tests::{PASSWORD, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn security_events_are_recorded_and_admins_can_filter_them() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    let ada = app.register_ok("ada@example.com").await;
    let ada_id = ada["id"].as_str().unwrap();
    app.login_response("ada@example.com", "wrong horse battery")
        .await;
    let tokens = app.login_tokens("ada@example.com").await;
    let refreshed: Value = app
        .refresh(tokens["refresh_token"].as_str().unwrap(), None)
        .await
        .json()
        .await
        .unwrap();
    app.bearer_send(
        Method::POST,
        "/api/v1/auth/logout",
        refreshed["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    let response = app
        .bearer_send(
            Method::PATCH,
            &format!("/api/v1/users/{ada_id}"),
            &root,
            Some(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // Marking the address verified is recorded too; asking for what it already is is not.
    for _ in 0..2 {
        let response = app
            .bearer_send(
                Method::PATCH,
                &format!("/api/v1/users/{ada_id}"),
                &root,
                Some(&json!({"is_verified": true})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    let response = app
        .bearer_get(&format!("/api/v1/audit?user_id={ada_id}&limit=100"), &root)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains(tokens["refresh_token"].as_str().unwrap()));
    let page: Value = serde_json::from_str(&text).unwrap();
    let types: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(
        types,
        [
            "verified_changed",
            "role_changed",
            "logout",
            "token_refreshed",
            "login_succeeded"
        ],
        "{page}"
    );
    assert_eq!(page["items"][0]["detail"], "is_verified=true");
    assert_eq!(page["items"][0]["actor_id"], page["items"][1]["actor_id"]);
    let role = &page["items"][1];
    assert_eq!(role["detail"], "user -> admin");
    let root_me: Value = app
        .bearer_get("/api/v1/users/me", &root)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(role["actor_id"], root_me["id"]);
    let login = &page["items"][4];
    assert_eq!(login["ip"], "127.0.0.1");
    assert_eq!(role["ip"], "127.0.0.1", "{role}");

    let failures: Value = app
        .bearer_get("/api/v1/audit?type=login_failed", &root)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failures["total"], 1);
    assert_eq!(failures["items"][0]["ip"], "127.0.0.1");

    let future: Value = app
        .bearer_get("/api/v1/audit?since=2999-01-01T00:00:00Z", &root)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["total"], 0);
}

#[tokio::test]
async fn only_admins_read_the_trail_and_bad_filters_are_named() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    app.register_ok("ada@example.com").await;
    let ada = app.login("ada@example.com").await;
    assert_eq!(
        app.bearer_get("/api/v1/audit", &ada).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/audit").await.status(),
        StatusCode::UNAUTHORIZED
    );
    for (query, field) in [
        ("user_id=nope", "user_id"),
        ("type=coffee_break", "type"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("limit=0", "limit"),
    ] {
        let response = app
            .bearer_get(&format!("/api/v1/audit?{query}"), &root)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn self_service_events_record_where_they_came_from() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    let ada = app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let response = app
        .client
        .put(app.url("/api/v1/users/me/password"))
        .bearer_auth(&token)
        .header("user-agent", "audit-probe/1.0")
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let page: Value = app
        .bearer_get(
            &format!(
                "/api/v1/audit?user_id={}&type=password_changed",
                ada["id"].as_str().unwrap()
            ),
            &root,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1, "{page}");
    let event = &page["items"][0];
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["user_agent"], "audit-probe/1.0");
}

#[tokio::test]
async fn a_long_trail_is_counted_up_to_ten_thousand_past_the_offset() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    app.store_audit_events(10_010, "login_failed").await;
    let page = |query: &'static str| {
        let app = &app;
        let root = &root;
        async move {
            let response = app
                .bearer_get(&format!("/api/v1/audit?{query}"), root)
                .await;
            assert_eq!(response.status(), StatusCode::OK, "{query}");
            response.json::<Value>().await.unwrap()
        }
    };

    // More match than are counted: the total is a floor, and says so.
    let first = page("type=login_failed&limit=5").await;
    assert_eq!(first["total"], 10_000);
    assert_eq!(first["total_exact"], false);
    assert_eq!(first["items"].as_array().unwrap().len(), 5);
    // Deeper pages count as far past their offset: here the whole trail.
    let deep = page("type=login_failed&limit=5&offset=20").await;
    assert_eq!(deep["total"], 10_010);
    assert_eq!(deep["total_exact"], true);
    // A short list is counted exactly.
    let short = page("type=login_succeeded").await;
    assert_eq!(short["total"], 1);
    assert_eq!(short["total_exact"], true);
}
