//! Cross-cutting HTTP behaviour: problem+json for every error, request ids.

use gatehouse_tests::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::builder().spawn().await;
    for path in ["/nope", "/api/v1/nope", "/api/v2/users/me"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "not_found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["type"], "urn:gatehouse:problem:not_found");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_problem_too() {
    let app = TestApp::builder().spawn().await;
    let response = app.get("/api/v1/auth/register").await;
    assert!(response.status().is_client_error());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn a_query_parameter_given_twice_is_invalid_input_naming_it() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("root@example.com").await;
    for (path, field) in [
        ("/api/v1/todos?offset=1&offset=2", "offset"),
        ("/api/v1/users?role=user&role=admin", "role"),
        ("/api/v1/audit?type=logout&type=logout", "type"),
    ] {
        let response = app.bearer_get(path, &admin).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
}

#[tokio::test]
async fn every_response_carries_a_fresh_request_id() {
    let app = TestApp::builder().spawn().await;
    let first = app.get("/health/live").await;
    let second = app.get("/nope").await;
    let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (a, b) = (id(&first), id(&second));
    assert_ne!(a, b);
    uuid::Uuid::parse_str(&a).unwrap();
    assert_eq!(first.headers()["x-content-type-options"], "nosniff");
}
