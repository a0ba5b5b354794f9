//! The OpenAPI document and Swagger UI.

use gatehouse_tests::spawn_app;
use reqwest::StatusCode;
use serde_json::Value;

async fn document() -> Value {
    let app = spawn_app().await;
    let response = app.get("/api-docs/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_equals_the_cli_output() {
    let doc = document().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let printed = serde_json::to_value(gatehouse_api::openapi::document()).unwrap();
    assert_eq!(doc, printed);
}

#[tokio::test]
async fn the_password_flow_is_declared_with_every_scope() {
    let doc = document().await;
    let flow = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["password"];
    assert_eq!(flow["tokenUrl"], "/api/v1/auth/token");
    assert_eq!(flow["refreshUrl"], "/api/v1/auth/token");
    for scope in [
        "me",
        "todos:read",
        "todos:write",
        "users:read",
        "users:write",
    ] {
        assert!(flow["scopes"].get(scope).is_some(), "scope {scope} missing");
    }
}

#[tokio::test]
async fn users_me_requires_the_oauth2_scheme_with_scope_me() {
    let doc = document().await;
    let security = &doc["paths"]["/api/v1/users/me"]["get"]["security"];
    assert_eq!(security, &serde_json::json!([{"oauth2": ["me"]}]));
}

#[tokio::test]
async fn every_operation_is_documented_with_examples_for_its_errors() {
    let doc = document().await;
    let expected = [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/token", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/me", "patch"),
        ("/api/v1/users/me", "delete"),
        ("/api/v1/users/me/password", "put"),
        ("/api/v1/todos", "get"),
        ("/api/v1/todos", "post"),
        ("/api/v1/todos/{id}", "get"),
        ("/api/v1/todos/{id}", "patch"),
        ("/api/v1/todos/{id}", "delete"),
        ("/api/v1/users", "get"),
        ("/api/v1/users/{id}", "get"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/{id}", "delete"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
    ];
    for (path, method) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                let response = match response.get("$ref").and_then(Value::as_str) {
                    Some(reference) => {
                        let name = reference.rsplit('/').next().unwrap();
                        &doc["components"]["responses"][name]
                    }
                    None => response,
                };
                let content = response["content"].as_object().expect("error content");
                assert!(!content.is_empty(), "{method} {path} {status} has no body");
                let has_example = content
                    .values()
                    .all(|media| media.get("example").is_some() || media.get("examples").is_some());
                assert!(has_example, "{method} {path} {status} has no example");
            }
        }
    }
}

#[tokio::test]
async fn each_protected_operation_declares_the_scope_it_requires() {
    let doc = document().await;
    let expected = [
        ("/api/v1/users/me", "get", "me"),
        ("/api/v1/users/me", "patch", "me"),
        ("/api/v1/users/me", "delete", "me"),
        ("/api/v1/users/me/password", "put", "me"),
        ("/api/v1/users/me/sessions", "get", "me"),
        ("/api/v1/users/me/sessions", "delete", "me"),
        ("/api/v1/users/me/sessions/{id}", "delete", "me"),
        ("/api/v1/todos", "get", "todos:read"),
        ("/api/v1/todos", "post", "todos:write"),
        ("/api/v1/todos/{id}", "get", "todos:read"),
        ("/api/v1/todos/{id}", "patch", "todos:write"),
        ("/api/v1/todos/{id}", "delete", "todos:write"),
        ("/api/v1/users", "get", "users:read"),
        ("/api/v1/users/{id}", "get", "users:read"),
        ("/api/v1/users/{id}", "patch", "users:write"),
        ("/api/v1/users/{id}", "delete", "users:write"),
        ("/api/v1/audit", "get", "users:read"),
    ];
    for (path, method, scope) in expected {
        assert_eq!(
            doc["paths"][path][method]["security"],
            serde_json::json!([{"oauth2": [scope]}]),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served() {
    let app = spawn_app().await;
    let response = app.get("/swagger-ui/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    let config = app.get("/swagger-ui/swagger-initializer.js").await;
    assert_eq!(config.status(), StatusCode::OK);
    assert!(
        config
            .text()
            .await
            .unwrap()
            .contains("/api-docs/openapi.json")
    );
}

#[tokio::test]
async fn operation_ids_are_unique() {
    // Client generators name methods after them, and Swagger UI addresses operations by them.
    let doc = document().await;
    let mut seen = std::collections::HashSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(seen.insert(id.to_owned()), "{method} {path} repeats `{id}`");
        }
    }
}
