//! Admin user management: every endpoint for admins and refused to users, roles read from
//! the database on every request, and the last-admin rule.

use gatehouse_tests::{PASSWORD, TestApp, problem_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn user_id(app: &TestApp, token: &str) -> String {
    let me: Value = app
        .bearer_get("/api/v1/users/me", token)
        .await
        .json()
        .await
        .unwrap();
    me["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn users_are_refused_every_admin_endpoint() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let id = user_id(&app, &token).await;
    let path = format!("/api/v1/users/{id}");
    let cases = [
        (Method::GET, "/api/v1/users".to_owned(), None, "users:read"),
        (Method::GET, path.clone(), None, "users:read"),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"role": "admin"})),
            "users:write",
        ),
        (Method::DELETE, path.clone(), None, "users:write"),
    ];
    for (method, path, body, scope) in cases {
        let response = app
            .bearer_send(method.clone(), &path, &token, body.as_ref())
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains(&format!(r#"scope="{scope}""#)),
            "{challenge}"
        );
    }
    let me: Value = app
        .bearer_get("/api/v1/users/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "user");
}

#[tokio::test]
async fn an_admin_token_without_the_users_scopes_is_refused() {
    let app = TestApp::builder().spawn().await;
    app.admin_token("root@example.com").await;
    let narrow: Value = app
        .login_with_scope("root@example.com", "me users:read")
        .await
        .json()
        .await
        .unwrap();
    let token = narrow["access_token"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/users", token).await.status(),
        StatusCode::OK
    );
    let id = user_id(&app, token).await;
    let response = app
        .bearer_send(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            token,
            Some(&json!({"full_name": "x"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"scope="users:write""#)
    );
    let me_only: Value = app
        .login_with_scope("root@example.com", "me")
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .bearer_get("/api/v1/users", me_only["access_token"].as_str().unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// Signs up each `(email, full name)`.
async fn sign_up(app: &TestApp, people: &[(&str, &str)]) {
    for (email, name) in people {
        let response = app
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": email, "password": PASSWORD, "full_name": name}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}

#[tokio::test]
async fn admins_list_search_read_edit_and_delete_users() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("root@example.com").await;
    sign_up(
        &app,
        &[
            ("ada@example.com", "Ada Lovelace"),
            ("bob@example.com", "Bob 100%"),
        ],
    )
    .await;

    let all: Value = app
        .bearer_get("/api/v1/users", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 3);
    assert_eq!(all["items"][0]["email"], "root@example.com");
    for (query, expected) in [
        ("q=LOVELACE", vec!["ada@example.com"]),
        ("q=bob%40", vec!["bob@example.com"]),
        ("q=100%25", vec!["bob@example.com"]),
        ("q=%25", vec!["bob@example.com"]),
        ("role=admin", vec!["root@example.com"]),
        ("role=user&limit=1&offset=1", vec!["bob@example.com"]),
    ] {
        let page: Value = app
            .bearer_get(&format!("/api/v1/users?{query}"), &admin)
            .await
            .json()
            .await
            .unwrap();
        let emails: Vec<_> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(emails, expected, "{query}");
    }

    let ada = app.login("ada@example.com").await;
    let ada_id = user_id(&app, &ada).await;
    let path = format!("/api/v1/users/{ada_id}");
    let fetched: Value = app.bearer_get(&path, &admin).await.json().await.unwrap();
    assert_eq!(fetched["full_name"], "Ada Lovelace");

    let response = app
        .bearer_send(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"full_name": null, "is_verified": true, "role": "admin"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["full_name"], Value::Null);
    assert_eq!(changed["is_verified"], true);
    assert_eq!(changed["role"], "admin");

    let response = app.bearer_send(Method::DELETE, &path, &admin, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        problem_code(app.bearer_get(&path, &admin).await).await,
        (StatusCode::NOT_FOUND, "user_not_found".into())
    );
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &ada).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn admin_input_is_validated() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("root@example.com").await;
    let id = user_id(&app, &admin).await;
    for query in ["role=root", "is_active=yes", "limit=500", "offset=x"] {
        let (status, code) = problem_code(
            app.bearer_get(&format!("/api/v1/users?{query}"), &admin)
                .await,
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{query}"
        );
    }
    let path = format!("/api/v1/users/{id}");
    for body in [
        json!({"role": "root"}),
        json!({"is_active": "no"}),
        json!({"password_hash": "x"}),
        json!({"full_name": "x".repeat(201)}),
    ] {
        let response = app
            .bearer_send(Method::PATCH, &path, &admin, Some(&body))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
    }
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"is_active": true}));
        let response = app
            .bearer_send(method.clone(), "/api/v1/users/12345", &admin, body.as_ref())
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method}"
        );
    }
    let response = app.bearer_get("/api/v1/users?q=a%00b", &admin).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let missing = format!("/api/v1/users/{}", uuid::Uuid::now_v7());
    assert_eq!(
        problem_code(app.bearer_get(&missing, &admin).await).await.0,
        StatusCode::NOT_FOUND
    );
    let response = app
        .bearer_send(
            Method::PATCH,
            &missing,
            &admin,
            Some(&json!({"is_active": false})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_demotion_takes_effect_on_the_next_request() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    let other = app.admin_token("other@example.com").await;
    assert_eq!(
        app.bearer_get("/api/v1/users", &other).await.status(),
        StatusCode::OK
    );
    let other_id = user_id(&app, &other).await;

    let response = app
        .bearer_send(
            Method::PATCH,
            &format!("/api/v1/users/{other_id}"),
            &root,
            Some(&json!({"role": "user"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // Same token, scopes users:read and users:write still inside it: refused now.
    let response = app.bearer_get("/api/v1/users", &other).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &other).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in_or_use_a_token() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    app.register_ok("ada@example.com").await;
    let ada = app.login("ada@example.com").await;
    let ada_id = user_id(&app, &ada).await;

    let response = app
        .bearer_send(
            Method::PATCH,
            &format!("/api/v1/users/{ada_id}"),
            &root,
            Some(&json!({"is_active": false})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &ada).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let login = app.login_response("ada@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::BAD_REQUEST);
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "Account is disabled");
    // A wrong password still gets the generic answer: being disabled is no oracle.
    let wrong: Value = app
        .login_response("ada@example.com", "wrong horse battery")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(wrong["error_description"], "Invalid username or password.");
    let list: Value = app
        .bearer_get("/api/v1/users?is_active=false", &root)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_deactivated_or_deleted() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    let root_id = user_id(&app, &root).await;
    let path = format!("/api/v1/users/{root_id}");

    // Through the admin endpoints an admin's own account is not theirs to change.
    let response = app.bearer_send(Method::DELETE, &path, &root, None).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::FORBIDDEN, "own_account".into())
    );
    let response = app
        .bearer_send(
            Method::DELETE,
            "/api/v1/users/me",
            &root,
            Some(&json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::CONFLICT, "last_admin".into())
    );
    let me: Value = app
        .bearer_get("/api/v1/users/me", &root)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["role"].as_str(), me["is_active"].as_bool()),
        (Some("admin"), Some(true))
    );

    // Two admins demoting each other at once: one wins, one admin is left.
    let other = app.admin_token("other@example.com").await;
    let other_id = user_id(&app, &other).await;
    let demote = |token: String, id: String| {
        let app = &app;
        async move {
            let response = app
                .bearer_send(
                    Method::PATCH,
                    &format!("/api/v1/users/{id}"),
                    &token,
                    Some(&json!({"role": "user"})),
                )
                .await;
            let status = response.status();
            if status == StatusCode::OK {
                (status, String::new())
            } else {
                problem_code(response).await
            }
        }
    };
    let (a, b) = tokio::join!(
        demote(root.clone(), other_id.clone()),
        demote(other.clone(), root_id.clone())
    );
    let mut outcomes = [a, b];
    outcomes.sort();
    assert_eq!(outcomes[0].0, StatusCode::OK, "{outcomes:?}");
    assert!(
        outcomes[1] == (StatusCode::CONFLICT, "last_admin".into())
            || outcomes[1] == (StatusCode::FORBIDDEN, "insufficient_scope".into()),
        "{outcomes:?}"
    );
    // Whichever is still an admin sees exactly one.
    let mut seen = Vec::new();
    for token in [&root, &other] {
        let listed = app.bearer_get("/api/v1/users?role=admin", token).await;
        if listed.status() == StatusCode::OK {
            let listed: Value = listed.json().await.unwrap();
            seen.push(listed["total"].clone());
        }
    }
    assert_eq!(seen, [json!(1)], "{outcomes:?}");
}

#[tokio::test]
async fn an_admin_changes_their_own_account_only_through_users_me() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("admin@example.com").await;
    // A second admin exists, so the last-admin rule is not what refuses.
    let other = app.admin_token("other@example.com").await;
    let own = user_id(&app, &admin).await;
    let path = format!("/api/v1/users/{own}");
    for change in [json!({"role": "user"}), json!({"is_active": false})] {
        let refused = app
            .bearer_send(Method::PATCH, &path, &admin, Some(&change))
            .await;
        let (status, code) = gatehouse_tests::problem_code(refused).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "own_account"),
            "{change}"
        );
    }
    let deleted = app.bearer_send(Method::DELETE, &path, &admin, None).await;
    let (status, code) = gatehouse_tests::problem_code(deleted).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "own_account")
    );
    // Their name they may change here; and another admin may change them.
    let renamed = app
        .bearer_send(
            Method::PATCH,
            &path,
            &admin,
            Some(&json!({"full_name": "Ada Admin"})),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let demoted = app
        .bearer_send(Method::PATCH, &path, &other, Some(&json!({"role": "user"})))
        .await;
    assert_eq!(demoted.status(), StatusCode::OK);
    assert_eq!(app.audited("account_deleted").await, 0);
}

/// The emails of the accounts an admin's search for `q` finds.
async fn found(app: &TestApp, admin: &str, q: &str) -> Vec<String> {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let response = app.bearer_get(&format!("/api/v1/users?q={q}"), admin).await;
    assert_eq!(response.status(), StatusCode::OK, "{q}");
    let page: Value = response.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_search_follows_changes_to_names_and_emails_and_takes_any_text_literally() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("root@example.com").await;
    sign_up(
        &app,
        &[
            ("elodie@example.com", "Élodie \"Lo\" Durand"),
            ("grace@example.com", "Grace Hopper"),
        ],
    )
    .await;
    assert_eq!(found(&app, &admin, "ÉLODIE").await, ["elodie@example.com"]);
    assert_eq!(found(&app, &admin, "\"lo\"").await, ["elodie@example.com"]);
    assert_eq!(found(&app, &admin, "per").await, ["grace@example.com"]);
    assert_eq!(found(&app, &admin, "e h").await, ["grace@example.com"]);
    // A page of a search, and one past its end, tell how many match.
    for (query, items, total) in [
        ("q=example.com&limit=1", 1, 3),
        ("q=example.com&limit=2&offset=2", 1, 3),
        ("q=example.com&offset=10", 0, 3),
    ] {
        let page: Value = app
            .bearer_get(&format!("/api/v1/users?{query}"), &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), items, "{query}");
        assert_eq!(page["total"], total, "{query}");
        assert_eq!(page["total_exact"], true, "{query}");
    }
    // FTS5's query syntax is no syntax here.
    for text in [
        "grace OR elodie",
        "gra*",
        "NEAR(grace)",
        "{email}: grace",
        "-grace",
    ] {
        assert!(found(&app, &admin, text).await.is_empty(), "{text}");
    }

    let grace = app.login("grace@example.com").await;
    let grace_id = user_id(&app, &grace).await;
    let response = app
        .bearer_send(
            Method::PATCH,
            &format!("/api/v1/users/{grace_id}"),
            &admin,
            Some(&json!({"full_name": "Admiral Hopper"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .bearer_send(
            Method::PATCH,
            "/api/v1/users/me",
            &grace,
            Some(&json!({"email": "admiral@example.com", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(found(&app, &admin, "grace").await.is_empty());
    assert_eq!(
        found(&app, &admin, "admiral").await,
        ["admiral@example.com"]
    );

    let response = app
        .bearer_send(
            Method::DELETE,
            &format!("/api/v1/users/{grace_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(found(&app, &admin, "admiral").await.is_empty());
    assert!(found(&app, &admin, "hopper").await.is_empty());
}
