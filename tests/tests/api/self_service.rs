//! `/api/v1/users/me`: profile changes, password change and account deletion.

use gatehouse_tests::{PASSWORD, TestApp, problem_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn the_full_name_can_be_set_and_cleared() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let patch = |body: Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.bearer_send(Method::PATCH, "/api/v1/users/me", &token, Some(&body))
                .await
        }
    };
    let set: Value = patch(json!({"full_name": " Ada King "}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(set["full_name"], "Ada King");
    let kept: Value = patch(json!({})).await.json().await.unwrap();
    assert_eq!(kept["full_name"], "Ada King");
    let cleared: Value = patch(json!({"full_name": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["full_name"], Value::Null);
    assert_eq!(
        patch(json!({"role": "admin"})).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        patch(json!({"is_verified": true})).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn changing_the_email_needs_the_password_and_clears_verification() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    app.register_ok("bob@example.com").await;
    app.verify_every_account().await;
    let token = app.login("ada@example.com").await;
    let patch = |body: Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.bearer_send(Method::PATCH, "/api/v1/users/me", &token, Some(&body))
                .await
        }
    };

    let response = patch(json!({"email": "ada@new.example.com"})).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::FORBIDDEN, "reauthentication_required".into())
    );
    let response =
        patch(json!({"email": "ada@new.example.com", "current_password": "wrong horse battery"}))
            .await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::FORBIDDEN, "wrong_password".into())
    );
    let response = patch(json!({"email": "BOB@example.com", "current_password": PASSWORD})).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::CONFLICT, "email_taken".into())
    );
    let response = patch(json!({"email": "not an email", "current_password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let response =
        patch(json!({"email": " Ada@New.example.com", "current_password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["email"], "ada@new.example.com");
    assert_eq!(me["is_verified"], false);

    assert_eq!(
        app.login_response("ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    app.login("ada@new.example.com").await;
}

#[tokio::test]
async fn a_password_change_invalidates_every_older_token() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let first = app.login("ada@example.com").await;
    let second = app.login("ada@example.com").await;
    let put = |body: Value| {
        let (app, token) = (&app, first.clone());
        async move {
            app.bearer_send(
                Method::PUT,
                "/api/v1/users/me/password",
                &token,
                Some(&body),
            )
            .await
        }
    };

    let response = put(
        json!({"current_password": "wrong horse battery", "new_password": "a brand new secret"}),
    )
    .await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::FORBIDDEN, "wrong_password".into())
    );
    let response = put(json!({"current_password": PASSWORD, "new_password": "password1"})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "new_password");
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &first).await.status(),
        StatusCode::OK
    );

    let response =
        put(json!({"current_password": PASSWORD, "new_password": "a brand new secret"})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for token in [&first, &second] {
        assert_eq!(
            app.bearer_get("/api/v1/users/me", token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login_response("ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let response = app
        .login_response("ada@example.com", "a brand new secret")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/users/me", fresh).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn deleting_the_account_needs_the_password_and_removes_what_it_owns() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    app.register_ok("bob@example.com").await;
    let ada = app.login("ada@example.com").await;
    let bob = app.login("bob@example.com").await;
    for token in [&ada, &ada, &bob] {
        let response = app
            .bearer_send(
                Method::POST,
                "/api/v1/todos",
                token,
                Some(&json!({"title": "x"})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    let delete = |body: Value| {
        let (app, token) = (&app, ada.clone());
        async move {
            app.bearer_send(Method::DELETE, "/api/v1/users/me", &token, Some(&body))
                .await
        }
    };
    let response = delete(json!({"current_password": "wrong horse battery"})).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::FORBIDDEN, "wrong_password".into())
    );
    assert_eq!(
        problem_code(delete(json!({})).await).await,
        (StatusCode::FORBIDDEN, "reauthentication_required".into())
    );
    assert_eq!(app.stored_todos().await, 3);

    let response = delete(json!({"current_password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.stored_accounts().await, 1);
    assert_eq!(app.stored_todos().await, 1);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &ada).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_response("ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let bobs: Value = app
        .bearer_get("/api/v1/todos", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["total"], 1);
}
