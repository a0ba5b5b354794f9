//! `POST /api/v1/auth/register`.

use gatehouse_tests::{PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn problem(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn registration_returns_the_normalized_user_without_any_hash() {
    let app = TestApp::builder().production_hashing().spawn().await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "  Ada@Example.COM ", "password": PASSWORD, "full_name": " Ada Lovelace "}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
    let user: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["full_name"], "Ada Lovelace");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["is_verified"], false);
    let id = uuid::Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    chrono::DateTime::parse_from_rfc3339(user["created_at"].as_str().unwrap()).unwrap();

    let hash = app.stored_hash("ada@example.com").await;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[tokio::test]
async fn a_taken_email_is_a_409_in_any_case() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let response = app.register("ADA@example.com", "another fine secret").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = problem(response).await;
    assert_eq!(body["code"], "email_taken");
    assert_eq!(body["status"], 409);
    assert_eq!(app.stored_accounts().await, 1);
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_exactly_one_account() {
    let app = TestApp::builder().spawn().await;
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/register");
            tokio::spawn(async move {
                let body = json!({"email": "race@example.com", "password": PASSWORD});
                client.post(url).json(&body).send().await.unwrap().status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 7), "{statuses:?}");
    assert_eq!(app.stored_accounts().await, 1);
}

#[tokio::test]
async fn passwords_breaking_the_policy_are_refused_and_nothing_is_stored() {
    let app = TestApp::builder().spawn().await;
    let cases = [
        ("short", "seven77".to_owned()),
        ("too long", "x".repeat(10_000)),
        ("129 characters", "é".repeat(129)),
        ("common", "password123".to_owned()),
        ("common, other case", "PassWord1".to_owned()),
        ("the email", "Someone.Long@example.com".to_owned()),
    ];
    for (case, password) in cases {
        let response = app.register("someone.long@example.com", &password).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{case}"
        );
        let body = problem(response).await;
        assert_eq!(body["code"], "validation_failed", "{case}");
        assert_eq!(error_fields(&body), ["password"], "{case}");
    }
    assert_eq!(app.stored_accounts().await, 0);
}

#[tokio::test]
async fn a_128_character_multibyte_password_is_accepted() {
    let app = TestApp::builder().spawn().await;
    let response = app.register("long@example.com", &"é".repeat(128)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn malformed_emails_are_refused() {
    let app = TestApp::builder().spawn().await;
    for email in [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@localhost",
        "a b@example.com",
    ] {
        let response = app.register(email, PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email:?}"
        );
        assert_eq!(
            error_fields(&problem(response).await),
            ["email"],
            "{email:?}"
        );
    }
    assert_eq!(app.stored_accounts().await, 0);
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let app = TestApp::builder().spawn().await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "nope", "password": "short", "full_name": "x".repeat(201)}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem(response).await),
        ["email", "full_name", "password"]
    );
}

#[tokio::test]
async fn bodies_of_the_wrong_shape_are_client_errors() {
    let app = TestApp::builder().spawn().await;
    let raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/register"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let response = raw("{not json", "application/json").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(response).await["code"], "malformed_json");

    let response = raw(r#"{"email": 5, "password": "x"}"#, "application/json")
        .await
        .unwrap();
    assert_eq!(error_fields(&problem(response).await), ["email"]);

    let response = raw(
        r#"{"password": "correct horse battery"}"#,
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), ["email"]);

    let response = raw(
        r#"{"email": "ada@example.com", "password": "correct horse battery", "role": "admin"}"#,
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), ["role"]);

    let response = raw("email=ada@example.com", "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem(response).await["code"], "unsupported_media_type");

    assert_eq!(app.stored_accounts().await, 0);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = TestApp::builder().spawn().await;
    let big =
        json!({"email": "ada@example.com", "password": PASSWORD, "full_name": "x".repeat(70_000)});
    let response = app.post_json("/api/v1/auth/register", &big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem(response).await["code"], "payload_too_large");

    let form = format!(
        "grant_type=password&username=a&password={}",
        "x".repeat(70_000)
    );
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.stored_accounts().await, 0);
}
