//! Registered APIs (resource servers) in storage, on SQLite and PostgreSQL: an API is stored
//! with its scopes, one identifier is registered once however many registrations race, and
//! removal takes its scopes with it.

use std::sync::Arc;

use futures::future::join_all;
use gatehouse_domain::apis::{ApiService, NewApi, NewScope, RegisterApiError};
use gatehouse_domain::clock::SystemClock;
use gatehouse_domain::user::Role;
use gatehouse_persistence::apis::SeaApiRepository;
use gatehouse_persistence::database::Database;
use gatehouse_tests::TestApp;

fn orders(scopes: &[(&str, &[&str])]) -> NewApi {
    NewApi {
        identifier: "https://orders.example.com".into(),
        name: "Orders".into(),
        scopes: scopes
            .iter()
            .map(|(name, roles)| NewScope {
                name: (*name).into(),
                description: format!("{name}, in words"),
                roles: roles.iter().map(|role| (*role).to_owned()).collect(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn an_api_is_registered_once_with_its_scopes_and_removed_with_them() {
    let app = TestApp::builder().spawn().await;
    let database = Database::connect(&app.database_url).await.unwrap();
    let apis = ApiService::new(
        Arc::new(SeaApiRepository::new(&database)),
        Arc::new(SystemClock),
        app.settings.jwt.audience.clone(),
    );

    // Eight registrations of one identifier at once: one is stored, the others refused.
    let raced = join_all((0..8).map(|_| {
        apis.register(orders(&[
            ("orders:read", &[]),
            ("orders:refund", &["admin"]),
        ]))
    }))
    .await;
    let stored = raced.iter().filter(|result| result.is_ok()).count();
    assert_eq!(stored, 1, "{raced:?}");
    assert!(
        raced
            .iter()
            .all(|result| matches!(result, Ok(_) | Err(RegisterApiError::Taken))),
        "{raced:?}"
    );

    let listed = apis.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let api = apis
        .find("https://orders.example.com")
        .await
        .unwrap()
        .expect("found by its identifier");
    assert_eq!(api, listed[0]);
    assert_eq!(api.name.as_str(), "Orders");
    let scopes: Vec<_> = api
        .scopes
        .iter()
        .map(|scope| (scope.name.as_str(), scope.roles.clone()))
        .collect();
    assert_eq!(
        scopes,
        [
            ("orders:read", vec![Role::Admin, Role::User]),
            ("orders:refund", vec![Role::Admin])
        ]
    );
    // gatehouse's own identifier is taken by gatehouse.
    let mut own = orders(&[("x", &[])]);
    own.identifier = app.settings.jwt.audience.clone();
    assert!(matches!(
        apis.register(own).await,
        Err(RegisterApiError::Taken | RegisterApiError::Invalid(_))
    ));

    // Removed, its scopes go too: registered again, it has only its new ones.
    assert!(apis.remove("https://orders.example.com").await.unwrap());
    assert!(!apis.remove("https://orders.example.com").await.unwrap());
    assert!(
        apis.find("https://orders.example.com")
            .await
            .unwrap()
            .is_none()
    );
    let again = apis
        .register(orders(&[("orders:write", &[])]))
        .await
        .unwrap();
    let found = apis
        .find("https://orders.example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, again.id);
    assert_eq!(found.scopes.len(), 1);
    assert_eq!(found.scopes[0].name.as_str(), "orders:write");
}

mod admin_api {
    use futures::future::join_all;
    use gatehouse_tests::{TestApp, problem_code};
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};

    fn orders() -> Value {
        json!({"identifier": "https://orders.example.com", "name": "Orders", "scopes": [
            {"name": "orders:read", "description": "Read your orders"},
            {"name": "orders:refund", "description": "Refund any order", "roles": ["admin"]},
        ]})
    }

    #[tokio::test]
    async fn admins_register_list_read_and_remove_apis_and_racing_registrations_store_one() {
        let app = TestApp::builder().spawn().await;
        let admin = app.admin_token("root@example.com").await;
        let body = orders();
        let raced = join_all(
            (0..8).map(|_| app.bearer_send(Method::POST, "/api/v1/apis", &admin, Some(&body))),
        )
        .await;
        let statuses: Vec<_> = raced.iter().map(reqwest::Response::status).collect();
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::CREATED)
                .count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
            "{statuses:?}"
        );
        let again = app
            .bearer_send(Method::POST, "/api/v1/apis", &admin, Some(&body))
            .await;
        assert_eq!(
            problem_code(again).await,
            (StatusCode::CONFLICT, "api_taken".to_owned())
        );

        let listed: Value = app
            .bearer_get("/api/v1/apis", &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        let api = &listed[0];
        assert_eq!(api["identifier"], "https://orders.example.com");
        assert_eq!(api["scopes"][0]["roles"], json!(["admin", "user"]));
        assert_eq!(api["scopes"][1]["roles"], json!(["admin"]));
        let path = format!("/api/v1/apis/{}", api["id"].as_str().unwrap());
        let one: Value = app.bearer_get(&path, &admin).await.json().await.unwrap();
        assert_eq!(&one, api);

        // Bad fields are named, and nothing is stored.
        let bad = app
            .bearer_send(
                Method::POST,
                "/api/v1/apis",
                &admin,
                Some(&json!({"identifier": "orders", "name": " ", "scopes": [
                    {"name": "a b", "description": "x"}]})),
            )
            .await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let bad: Value = bad.json().await.unwrap();
        let fields: Vec<_> = bad["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        for field in ["identifier", "name", "scopes"] {
            assert!(fields.iter().any(|f| f == field), "{bad}");
        }
        // gatehouse's own identifier is taken.
        let own = app
            .bearer_send(
                Method::POST,
                "/api/v1/apis",
                &admin,
                Some(
                    &json!({"identifier": app.settings.jwt.audience, "name": "Own",
                    "scopes": [{"name": "x", "description": "X"}]}),
                ),
            )
            .await;
        assert!(own.status().is_client_error(), "{}", own.status());

        // Users cannot see or change them.
        app.register_ok("ada@example.com").await;
        let user = app.login("ada@example.com").await;
        assert_eq!(
            app.bearer_get("/api/v1/apis", &user).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.bearer_send(Method::DELETE, &path, &user, None)
                .await
                .status(),
            StatusCode::FORBIDDEN
        );

        assert_eq!(
            app.bearer_send(Method::DELETE, &path, &admin, None)
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            problem_code(app.bearer_get(&path, &admin).await).await,
            (StatusCode::NOT_FOUND, "api_not_found".to_owned())
        );
        assert_eq!(
            app.bearer_send(Method::DELETE, &path, &admin, None)
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    }
}

/// Client secret rotation (issue 27's overlap of two secrets), through the admin API and the
/// revocation endpoint, which authenticates confidential clients.
mod secret_rotation {
    use chrono::Duration;
    use futures::future::join_all;
    use gatehouse_tests::oidc::register_client;
    use gatehouse_tests::{ManualClock, TestApp, problem_code};
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};

    /// Whether `secret` authenticates client `id` (RFC 7009: a known client gets 200 for
    /// any token, a wrong secret 401).
    async fn accepted(app: &TestApp, id: &str, secret: &str) -> bool {
        let answer = app
            .client
            .post(app.url("/oauth2/revoke"))
            .basic_auth(id, Some(secret))
            .form(&[("token", "not-a-token")])
            .send()
            .await
            .unwrap();
        match answer.status() {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => false,
            other => panic!("{other}"),
        }
    }

    async fn rotate(app: &TestApp, admin: &str, id: &str, body: Value) -> reqwest::Response {
        app.bearer_send(
            Method::POST,
            &format!("/api/v1/clients/{id}/secret"),
            admin,
            Some(&body),
        )
        .await
    }

    #[tokio::test]
    async fn a_rotated_secret_stays_good_for_its_overlap_only() {
        let clock = ManualClock::new();
        let app = TestApp::builder().clock(clock.clone()).spawn().await;
        let admin = app.admin_token("root@example.com").await;
        let backend = register_client(
            &app,
            &admin,
            json!({"id": "backend", "name": "Backend", "redirect_uris": ["https://backend.example.com/cb"]}),
        )
        .await;
        let first = backend["client_secret"].as_str().unwrap().to_owned();
        assert!(accepted(&app, "backend", &first).await);

        let rotated = rotate(&app, &admin, "backend", json!({"overlap_seconds": 3600})).await;
        assert_eq!(rotated.status(), StatusCode::OK);
        let rotated: Value = rotated.json().await.unwrap();
        let second = rotated["client_secret"].as_str().unwrap().to_owned();
        assert_ne!(first, second);
        assert!(rotated["previous_secret_expires_at"].is_string());
        // Both, for the hour; then the new one only.
        assert!(accepted(&app, "backend", &first).await);
        assert!(accepted(&app, "backend", &second).await);
        assert!(!accepted(&app, "backend", "a-made-up-secret").await);
        clock.advance(Duration::seconds(3601));
        assert!(!accepted(&app, "backend", &first).await);
        assert!(accepted(&app, "backend", &second).await);
        // (The admin's access token expired with the hour.)
        let admin = app.login("root@example.com").await;

        // Without an overlap the present secret ends at once; the one retiring before ends too.
        let third: Value = rotate(&app, &admin, "backend", json!({"overlap_seconds": 0}))
            .await
            .json()
            .await
            .unwrap();
        let third = third["client_secret"].as_str().unwrap().to_owned();
        assert!(!accepted(&app, "backend", &second).await);
        assert!(accepted(&app, "backend", &third).await);

        // Two rotations at once, no overlap: the later one's secret is the client's.
        let raced = join_all(
            (0..2).map(|_| rotate(&app, &admin, "backend", json!({"overlap_seconds": 0}))),
        )
        .await;
        let mut secrets = Vec::new();
        for answer in raced {
            assert_eq!(answer.status(), StatusCode::OK);
            let body: Value = answer.json().await.unwrap();
            secrets.push(body["client_secret"].as_str().unwrap().to_owned());
        }
        let good = [
            accepted(&app, "backend", &secrets[0]).await,
            accepted(&app, "backend", &secrets[1]).await,
        ];
        assert_eq!(good.iter().filter(|g| **g).count(), 1, "{good:?}");
        assert!(!accepted(&app, "backend", &third).await);

        // Refusals: a public client, an unknown one, an overlap past 30 days, a user.
        register_client(
            &app,
            &admin,
            json!({"id": "spa", "name": "SPA", "public": true, "redirect_uris": ["https://app.example.com/cb"]}),
        )
        .await;
        assert_eq!(
            problem_code(rotate(&app, &admin, "spa", json!({})).await).await,
            (StatusCode::CONFLICT, "public_client".to_owned())
        );
        assert_eq!(
            problem_code(rotate(&app, &admin, "nobody", json!({})).await).await,
            (StatusCode::NOT_FOUND, "client_not_found".to_owned())
        );
        let long = rotate(
            &app,
            &admin,
            "backend",
            json!({"overlap_seconds": 2_592_001}),
        )
        .await;
        assert_eq!(long.status(), StatusCode::UNPROCESSABLE_ENTITY);
        app.register_ok("ada@example.com").await;
        let user = app.login("ada@example.com").await;
        assert_eq!(
            rotate(&app, &user, "backend", json!({})).await.status(),
            StatusCode::FORBIDDEN
        );
    }
}

/// Wrong client secrets are bounded per client and per network, as passwords are.
mod client_secret_throttle {
    use futures::future::join_all;
    use gatehouse_tests::TestApp;
    use gatehouse_tests::oidc::register_client;
    use reqwest::StatusCode;
    use serde_json::json;

    async fn revoke_as(app: &TestApp, id: &str, secret: &str) -> reqwest::Response {
        app.client
            .post(app.url("/oauth2/revoke"))
            .basic_auth(id, Some(secret))
            .form(&[("token", "not-a-token")])
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_burst_of_wrong_secrets_is_bounded_and_right_ones_do_not_count() {
        let app = TestApp::builder().spawn().await;
        let admin = app.admin_token("root@example.com").await;
        let limit = app.settings.auth.client_secret_failures_per_client;
        let mut secrets = Vec::new();
        for id in ["backend", "other"] {
            let client = register_client(
                &app,
                &admin,
                json!({"id": id, "name": id, "redirect_uris": ["https://backend.example.com/cb"]}),
            )
            .await;
            secrets.push(client["client_secret"].as_str().unwrap().to_owned());
        }
        // Right secrets give their attempt back: more of them than the limit all pass.
        for _ in 0..limit + 5 {
            assert_eq!(
                revoke_as(&app, "backend", &secrets[0]).await.status(),
                StatusCode::OK
            );
        }
        // A burst of wrong ones: every one refused, and only `limit` of them checked.
        let burst = join_all((0..limit + 10).map(|i| {
            let guess = format!("guess-{i}");
            let app = &app;
            async move { revoke_as(app, "backend", &guess).await.status() }
        }))
        .await;
        assert!(
            burst.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
            "{burst:?}"
        );
        assert_eq!(
            app.audited("client_authentication_failed").await,
            i64::from(limit)
        );
        // Past the limit, the right secret waits too, and is told how long.
        let waiting = revoke_as(&app, "backend", &secrets[0]).await;
        assert_eq!(waiting.status(), StatusCode::UNAUTHORIZED);
        assert!(waiting.headers().contains_key("retry-after"));
        // Another client from the same network is not held back by one client's limit.
        assert_eq!(
            revoke_as(&app, "other", &secrets[1]).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn an_overlap_is_a_whole_number_of_seconds_however_json_writes_it() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("root@example.com").await;
    gatehouse_tests::oidc::register_client(
        &app,
        &admin,
        json!({"id": "backend", "name": "Backend", "redirect_uris": ["https://backend.example.com/cb"]}),
    )
    .await;
    for (overlap, status) in [
        (json!(60), StatusCode::OK),
        (json!(60.0), StatusCode::OK),
        (json!(60.5), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(-1), StatusCode::UNPROCESSABLE_ENTITY),
        (json!("60"), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(1e20), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let answer = app
            .bearer_send(
                Method::POST,
                "/api/v1/clients/backend/secret",
                &admin,
                Some(&json!({ "overlap_seconds": overlap })),
            )
            .await;
        assert_eq!(answer.status(), status, "{overlap}");
    }
}
