//! `/api/v1/todos`: the per-user resource, its scopes and input checks (its isolation is
//! checked with every owned resource's, in `owned.rs`).

use gatehouse_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app
        .bearer_send(Method::POST, "/api/v1/todos", token, Some(&body))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn problem_fields(response: reqwest::Response) -> Vec<String> {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "validation_failed");
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_todo_can_be_created_read_changed_and_deleted() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;

    let todo = create(
        &app,
        &token,
        json!({"title": "  Buy milk ", "description": "Oat"}),
    )
    .await;
    assert_eq!(todo["title"], "Buy milk");
    assert_eq!(todo["description"], "Oat");
    assert_eq!(todo["done"], false);
    let path = format!("/api/v1/todos/{}", todo["id"].as_str().unwrap());

    let fetched: Value = app.bearer_get(&path, &token).await.json().await.unwrap();
    assert_eq!(fetched, todo);

    let response = app
        .bearer_send(
            Method::PATCH,
            &path,
            &token,
            Some(&json!({"done": true, "description": null})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["done"], true);
    assert_eq!(changed["description"], Value::Null);
    assert_eq!(changed["title"], "Buy milk");

    let response = app.bearer_send(Method::DELETE, &path, &token, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.bearer_get(&path, &token).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "todo_not_found");
}

#[tokio::test]
async fn lists_are_newest_first_paged_and_filtered() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    for n in 0..5 {
        create(
            &app,
            &token,
            json!({"title": format!("todo {n}"), "done": n % 2 == 0}),
        )
        .await;
    }

    let page: Value = app
        .bearer_get("/api/v1/todos?limit=2", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["offset"], 0);
    let titles: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].clone())
        .collect();
    assert_eq!(titles, [json!("todo 4"), json!("todo 3")]);

    let last: Value = app
        .bearer_get("/api/v1/todos?limit=2&offset=4", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert_eq!(last["items"][0]["title"], "todo 0");

    let done: Value = app
        .bearer_get("/api/v1/todos?done=true", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["total"], 3);
    assert!(
        done["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["done"] == true)
    );

    let default: Value = app
        .bearer_get("/api/v1/todos", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(default["limit"], 50);
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named_and_nothing_stored() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let post = |body: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.bearer_send(Method::POST, "/api/v1/todos", &token, Some(&body))
                .await
        }
    };
    assert_eq!(
        problem_fields(post(json!({"title": "   "})).await).await,
        ["title"]
    );
    assert_eq!(
        problem_fields(post(json!({"title": "x".repeat(201)})).await).await,
        ["title"]
    );
    assert_eq!(
        problem_fields(post(json!({"title": "ok", "description": "x".repeat(2001)})).await).await,
        ["description"]
    );
    assert_eq!(
        problem_fields(post(json!({"title": "ok", "owner_id": "x"})).await).await,
        ["owner_id"]
    );
    assert_eq!(
        problem_fields(post(json!({"title": "ok", "done": "yes"})).await).await,
        ["done"]
    );
    assert_eq!(problem_fields(post(json!({})).await).await, ["title"]);
    assert_eq!(
        problem_fields(post(json!({"title": "ok", "description": "nul\u{0}byte"})).await).await,
        ["description"]
    );
    assert_eq!(app.stored_todos().await, 0);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999", "offset"),
        ("done=maybe", "done"),
    ] {
        let response = app
            .bearer_get(&format!("/api/v1/todos?{query}"), &token)
            .await;
        assert_eq!(problem_fields(response).await, [field], "{query}");
    }

    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"done": true}));
        let response = app
            .bearer_send(
                method.clone(),
                "/api/v1/todos/not-a-uuid",
                &token,
                body.as_ref(),
            )
            .await;
        assert_eq!(problem_fields(response).await, ["id"], "{method}");
    }
}

#[tokio::test]
async fn each_scope_is_granted_and_refused() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token_with = |scope: &'static str| {
        let app = &app;
        async move {
            let response = app.login_with_scope("ada@example.com", scope).await;
            let body: Value = response.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let read_only = token_with("todos:read").await;
    let write_only = token_with("todos:write").await;
    let me_only = token_with("me").await;

    assert_eq!(
        app.bearer_get("/api/v1/todos", &read_only).await.status(),
        StatusCode::OK
    );
    let refused = app
        .bearer_send(
            Method::POST,
            "/api/v1/todos",
            &read_only,
            Some(&json!({"title": "x"})),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.headers()["www-authenticate"],
        r#"Bearer realm="gatehouse", error="insufficient_scope", scope="todos:write""#
    );

    let created = create(&app, &write_only, json!({"title": "x"})).await;
    let path = format!("/api/v1/todos/{}", created["id"].as_str().unwrap());
    for (method, body) in [
        (Method::PATCH, Some(json!({"done": true}))),
        (Method::DELETE, None),
    ] {
        let response = app
            .bearer_send(method.clone(), &path, &read_only, body.as_ref())
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method}");
    }
    assert_eq!(
        app.bearer_get(&path, &write_only).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.bearer_get(&path, &read_only).await.status(),
        StatusCode::OK
    );

    let response = app.bearer_get("/api/v1/todos", &me_only).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="gatehouse", error="insufficient_scope", scope="todos:read""#
    );
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &read_only)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/todos").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
