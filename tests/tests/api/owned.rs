//! Every owner-scoped resource the document lists (a collection with `POST` and an item path
//! `…/{id}`, for users): one user's item is invisible to another through every endpoint.
//! The document must list every resource the API declares (`gatehouse_api::owned`), so a
//! resource left out of it fails here rather than going untested.

use std::collections::BTreeSet;

use gatehouse_tests::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn another_users_item_is_invisible_to_every_endpoint_of_every_owned_resource() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    app.register_ok("bob@example.com").await;
    let ada = app.login("ada@example.com").await;
    let bob = app.login("bob@example.com").await;
    let document = app.document().await;
    let operations = document.operations();
    let mut documented_codes = BTreeSet::new();
    for create in &operations {
        let item_path = format!("{}/{{id}}", create.path);
        let on_item: Vec<_> = operations
            .iter()
            .filter(|op| op.path == item_path)
            .collect();
        if !document.is_owned_collection(create) {
            continue;
        }
        let body = document.request_example(create);
        let response = app
            .bearer_send(create.http_method(), &create.path, &ada, body.as_ref())
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{}", create.path);
        let item: Value = response.json().await.unwrap();
        let path = format!("{}/{}", create.path, item["id"].as_str().unwrap());

        for operation in &on_item {
            let body = document.request_example(operation);
            let response = app
                .bearer_send(operation.http_method(), &path, &bob, body.as_ref())
                .await;
            let label = format!("{} {}", operation.method, operation.path);
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{label}");
            let answer: Value = response.json().await.unwrap();
            let documented = &operation.spec["responses"]["404"]["content"]["application/problem+json"]
                ["example"]["code"];
            assert_eq!(&answer["code"], documented, "{label}");
            assert!(documented.as_str().unwrap().ends_with("_not_found"));
            documented_codes.insert(documented.as_str().unwrap().to_owned());
        }
        let list: Value = app
            .bearer_get(&create.path, &bob)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["total"], 0, "{}", create.path);

        let unchanged: Value = app.bearer_get(&path, &ada).await.json().await.unwrap();
        assert_eq!(unchanged, item, "{path}");
    }
    let declared: Vec<&str> = gatehouse_api::owned::not_found_codes().collect();
    assert!(!declared.is_empty(), "the API declares no owned resource");
    let missing = undocumented(&declared, &documented_codes);
    assert!(
        missing.is_empty(),
        "declared owned resources missing from the document: {missing:?}"
    );
}

/// The declared resources (by their 404 code) the document does not serve.
fn undocumented<'a>(declared: &[&'a str], documented: &BTreeSet<String>) -> Vec<&'a str> {
    declared
        .iter()
        .filter(|code| !documented.contains(**code))
        .copied()
        .collect()
}

#[test]
fn a_declared_resource_missing_from_the_document_is_caught() {
    let documented = BTreeSet::from(["todo_not_found".to_owned()]);
    assert!(undocumented(&["todo_not_found"], &documented).is_empty());
    assert_eq!(
        undocumented(&["todo_not_found", "note_not_found"], &documented),
        ["note_not_found"]
    );
}
