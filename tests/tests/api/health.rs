//! `/health/live` and `/health/ready`.

use gatehouse_tests::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn live_and_ready_answer_200() {
    let app = TestApp::builder().spawn().await;
    assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);
    assert_eq!(app.get("/health/ready").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn ready_is_503_when_the_database_cannot_serve() {
    let app = TestApp::builder().spawn().await;
    app.break_storage().await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "database_unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);
}
