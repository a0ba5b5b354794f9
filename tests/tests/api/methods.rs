//! A wrong method gets 405 problem+json with an `Allow` header that lists exactly the
//! methods the document gives the path, on every path of the document; `OPTIONS` gets 204
//! with the same list. The check reads the served document, so a new route is covered
//! without a line here, and it is shown to catch a server that answers 404 instead.

use std::collections::BTreeSet;

use gatehouse_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE"];

/// The documented methods of each path, upper case.
fn documented(document: &Value) -> Vec<(String, BTreeSet<String>)> {
    document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item")
                .keys()
                .map(|method| method.to_ascii_uppercase())
                .filter(|method| METHODS.contains(&method.as_str()))
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

fn allow_of(response: &reqwest::Response) -> BTreeSet<String> {
    response
        .headers()
        .get("allow")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .split(',')
        .map(|method| method.trim().to_owned())
        .filter(|method| !method.is_empty() && method != "OPTIONS")
        .collect()
}

/// Everything wrong with how `base` answers the methods `document` does not give each path,
/// and how many requests were checked.
async fn wrong_method_violations(base: &str, document: &Value) -> (Vec<String>, usize) {
    let client = reqwest::Client::new();
    let mut violations = Vec::new();
    let mut checked = 0;
    for (path, methods) in documented(document) {
        let url = format!(
            "{base}{}",
            path.replace("{id}", &uuid::Uuid::nil().to_string())
        );
        for method in METHODS.iter().filter(|method| !methods.contains(**method)) {
            checked += 1;
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let response = client.request(method.clone(), &url).send().await.unwrap();
            let status = response.status();
            let allow = allow_of(&response);
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body: Value = response.json().await.unwrap_or_default();
            if status != StatusCode::METHOD_NOT_ALLOWED {
                violations.push(format!("{method} {path}: {status}, not 405"));
                continue;
            }
            if allow != methods {
                violations.push(format!(
                    "{method} {path}: Allow {allow:?}, documented {methods:?}"
                ));
            }
            if content_type != "application/problem+json" || body["code"] != "method_not_allowed" {
                violations.push(format!("{method} {path}: {content_type} {body}"));
            }
        }
        checked += 1;
        let response = client.request(Method::OPTIONS, &url).send().await.unwrap();
        if response.status() != StatusCode::NO_CONTENT || allow_of(&response) != methods {
            violations.push(format!(
                "OPTIONS {path}: {} with Allow {:?}",
                response.status(),
                allow_of(&response)
            ));
        }
    }
    (violations, checked)
}

#[tokio::test]
async fn every_documented_path_answers_a_wrong_method_with_405_and_its_methods() {
    let app = TestApp::builder().spawn().await;
    let document = app.document().await;

    let (violations, checked) = wrong_method_violations(&app.address, &document.0).await;

    assert!(violations.is_empty(), "{violations:#?}");
    assert!(checked >= 80, "only {checked} requests checked");
}

#[tokio::test]
async fn paths_outside_the_document_still_answer_404() {
    let app = TestApp::builder().spawn().await;
    for path in ["/api/v1/nothing", "/api/v1/users/me/extra", "/nothing"] {
        let response = app
            .client
            .request(Method::TRACE, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(response.headers().get("allow").is_none());
    }
}

/// A server that answers every request 404, as actix-web's route macros do for a wrong
/// method: the check must flag each of its documented paths.
#[tokio::test]
async fn the_check_catches_a_server_that_answers_a_wrong_method_404() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let answer =
                    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    let document = serde_json::json!({"paths": {"/things": {"get": {}}, "/things/{id}": {"get": {}, "delete": {}}}});

    let (violations, checked) = wrong_method_violations(&base, &document).await;

    assert_eq!(checked, 11);
    assert_eq!(violations.len(), checked, "{violations:#?}");
}
