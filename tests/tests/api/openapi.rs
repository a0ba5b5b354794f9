//! The OpenAPI document and Swagger UI.

use gatehouse_domain::Scope;
use gatehouse_tests::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

async fn document() -> Value {
    served_document(&TestApp::builder().spawn().await).await
}

async fn served_document(app: &TestApp) -> Value {
    app.document().await.0
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
    for scope in Scope::ALL {
        let scope = scope.as_str();
        assert!(flow["scopes"].get(scope).is_some(), "scope {scope} missing");
    }
}

#[tokio::test]
async fn users_me_requires_the_oauth2_scheme_with_scope_me() {
    let doc = document().await;
    let security = &doc["paths"]["/api/v1/users/me"]["get"]["security"];
    assert_eq!(security, &serde_json::json!([{"oauth2": ["me"]}]));
}

/// A documented path with its parameters filled in with an id that names nothing.
fn concrete(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::nil().to_string())
}

#[tokio::test]
async fn every_documented_operation_is_served_and_its_bodies_and_errors_have_examples() {
    let app = TestApp::builder().spawn().await;
    let document = app.document().await;
    let doc = &document.0;
    let operations = document.operations();
    assert!(
        operations.len() >= 20,
        "only {} operations",
        operations.len()
    );
    for op in &operations {
        let (path, method, operation) = (&op.path, &op.method, op.spec);
        // Every JSON body has an example (this panics when one lacks it).
        document.request_example(op);
        // Served: without credentials or a body the answer may be anything but "no such
        // route" or "no such method".
        let response = app
            .client
            .request(op.http_method(), app.url(&concrete(path)))
            .send()
            .await
            .unwrap();
        assert!(
            !matches!(response.status().as_u16(), 404 | 405),
            "{method} {path} is documented but answers {}",
            response.status()
        );
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

#[tokio::test]
async fn each_protected_operation_is_refused_without_the_scope_it_declares() {
    let app = TestApp::builder().spawn().await;
    let document = app.document().await;
    app.admin_token("root@example.com").await;
    // One admin token per scope, holding every scope but that one.
    let mut without = std::collections::HashMap::new();
    for scope in Scope::ALL {
        let others: Vec<&str> = Scope::ALL
            .iter()
            .filter(|other| **other != scope)
            .map(|other| other.as_str())
            .collect();
        let tokens: Value = app
            .login_with_scope("root@example.com", &others.join(" "))
            .await
            .json()
            .await
            .unwrap();
        without.insert(
            scope.as_str(),
            tokens["access_token"].as_str().unwrap().to_owned(),
        );
    }
    let mut checked = 0;
    for operation in document.operations() {
        let (path, method) = (&operation.path, &operation.method);
        let Some(security) = operation.spec.get("security") else {
            continue;
        };
        let scopes = security[0]["oauth2"].as_array().expect("the oauth2 scheme");
        assert!(scopes.len() <= 1, "{method} {path} declares {scopes:?}");
        let Some(scope) = operation.scope() else {
            continue; // any valid token will do (logout)
        };
        let mut request = app
            .client
            .request(operation.http_method(), app.url(&concrete(path)))
            .bearer_auth(&without[scope.as_str()]);
        // A valid body (the documented example): the body is extracted beside the bearer
        // token, so only the scope may be what the request lacks.
        if let Some(body) = document.request_example(&operation) {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{method} {path} without {}",
            scope.as_str()
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} protected operations");
}

#[tokio::test]
async fn swagger_ui_is_served() {
    let app = TestApp::builder().spawn().await;
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
