//! The client credentials grant and clients' access to registered APIs, through HTTP on
//! SQLite and PostgreSQL: a client gets a token for itself on an API it was given, for that
//! API only; what it was not given is refused; introspection follows the admin's changes.

use base64::Engine as _;
use futures::future::join_all;
use gatehouse_tests::oidc::{eddsa_app, register_client};
use gatehouse_tests::{TestApp, problem_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ORDERS: &str = "https://orders.example.com";
const BILLING: &str = "urn:example:billing";

/// Registers the two APIs, a worker allowed the grant with access to `orders:read`, and a
/// resource server allowed to introspect; returns their secrets.
async fn setup(app: &TestApp, admin: &str) -> (String, String) {
    for api in [
        json!({"identifier": ORDERS, "name": "Orders", "scopes": [
            {"name": "orders:read", "description": "Read orders"},
            {"name": "orders:write", "description": "Change orders"},
        ]}),
        json!({"identifier": BILLING, "name": "Billing", "scopes": [
            {"name": "billing:read", "description": "Read invoices"},
        ]}),
    ] {
        let response = app
            .bearer_send(Method::POST, "/api/v1/apis", admin, Some(&api))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let worker = register_client(
        app,
        admin,
        json!({"id": "worker", "name": "Nightly worker", "client_credentials": true}),
    )
    .await;
    assert_eq!(worker["client_credentials"], true);
    let access = json!({"apis": [{"identifier": ORDERS, "scopes": ["orders:read"]}]});
    let response = app
        .bearer_send(
            Method::PUT,
            "/api/v1/clients/worker/apis",
            admin,
            Some(&access),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), access);
    let gate = register_client(
        app,
        admin,
        json!({"id": "orders-api", "name": "Orders API", "resource_server": true,
               "client_credentials": true}),
    )
    .await;
    (
        worker["client_secret"].as_str().unwrap().to_owned(),
        gate["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn grant(app: &TestApp, id: &str, secret: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    app.client
        .post(app.url("/api/v1/auth/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn introspect(app: &TestApp, secret: &str, token: &str) -> Value {
    let response = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth("orders-api", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_client_gets_a_token_for_itself_on_its_api_and_nowhere_else() {
    let (app, admin, _keys) = eddsa_app().await;
    let (secret, gate) = setup(&app, &admin).await;

    // Its only API is the default; the answer has no refresh token and is not cached.
    let response = grant(&app, "worker", &secret, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "orders:read");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let said = claims(&token);
    assert_eq!(said["aud"], ORDERS);
    assert_eq!(said["sub"], "worker");
    assert_eq!(said["client_id"], "worker");
    assert_eq!(said["scope"], "orders:read");
    assert_eq!(
        said["iss"],
        app.settings.server.public_url.trim_end_matches('/')
    );
    assert!(
        said.get("sid").is_none() && said.get("role").is_none(),
        "{said}"
    );
    assert_eq!(app.audited("client_token_issued").await, 1);

    // Named explicitly, the same; a token for the Orders API is no token for gatehouse's.
    let named = grant(
        &app,
        "worker",
        &secret,
        &[("resource", ORDERS), ("scope", "orders:read")],
    )
    .await;
    assert_eq!(named.status(), StatusCode::OK);
    let own = app.bearer_get("/api/v1/users/me", &token).await;
    assert_eq!(own.status(), StatusCode::UNAUTHORIZED);

    // An API it was not given, a scope it was not given, two APIs at once.
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("resource", BILLING)], "invalid_target"),
        (
            &[("resource", "https://unknown.example.com")],
            "invalid_target",
        ),
        (&[("scope", "orders:read orders:write")], "invalid_scope"),
        (
            &[("resource", ORDERS), ("resource", BILLING)],
            "invalid_target",
        ),
    ];
    for (extra, error) in cases {
        let refused = grant(&app, "worker", &secret, extra).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{extra:?}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], error, "{extra:?}: {body}");
    }
    assert_eq!(app.audited("client_token_issued").await, 2);

    // Introspection says what the token is, while the client keeps its access.
    let answer = introspect(&app, &gate, &token).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["aud"], ORDERS);
    assert_eq!(answer["sub"], "worker");
    assert_eq!(answer["scope"], "orders:read");
    let none = json!({"apis": []});
    let response = app
        .bearer_send(
            Method::PUT,
            "/api/v1/clients/worker/apis",
            &admin,
            Some(&none),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        introspect(&app, &gate, &token).await,
        json!({"active": false})
    );
    let refused = grant(&app, "worker", &secret, &[]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn racing_grants_each_get_a_token_and_wrong_secrets_stay_bounded() {
    let (app, admin, _keys) = eddsa_app().await;
    let (secret, _) = setup(&app, &admin).await;
    let limit = app.settings.auth.client_secret_failures_per_client;

    let right = join_all((0..16).map(|_| grant(&app, "worker", &secret, &[]))).await;
    let mut ids = Vec::new();
    for response in right {
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        ids.push(claims(body["access_token"].as_str().unwrap())["jti"].clone());
    }
    ids.sort_by_key(ToString::to_string);
    ids.dedup();
    assert_eq!(ids.len(), 16, "every token has its own id");

    let wrong = join_all((0..limit + 10).map(|i| {
        let guess = format!("guess-{i}");
        let app = &app;
        async move { grant(app, "worker", &guess, &[]).await.status() }
    }))
    .await;
    assert!(
        wrong.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{wrong:?}"
    );
    assert_eq!(
        app.audited("client_authentication_failed").await,
        i64::from(limit)
    );
    assert_eq!(app.audited("client_token_issued").await, 16);
}

#[tokio::test]
async fn only_confidential_clients_an_admin_allowed_use_the_grant() {
    let (app, admin, _keys) = eddsa_app().await;
    setup(&app, &admin).await;
    let plain = register_client(
        &app,
        &admin,
        json!({"id": "web", "name": "Web", "redirect_uris": ["https://web.example.com/cb"]}),
    )
    .await;
    let response = grant(&app, "web", plain["client_secret"].as_str().unwrap(), &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");

    // A public client cannot be given the grant, nor a client without redirect URIs the
    // code flow.
    for refused in [
        json!({"id": "spa", "name": "SPA", "public": true, "client_credentials": true}),
        json!({"id": "nowhere", "name": "Nowhere"}),
    ] {
        let response = app
            .bearer_send(Method::POST, "/api/v1/clients", &admin, Some(&refused))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused}"
        );
    }
}

#[tokio::test]
async fn a_server_signing_with_a_shared_secret_issues_no_token_for_an_api() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("root@example.com").await;
    let (secret, _) = setup(&app, &admin).await;
    let response = grant(&app, "worker", &secret, &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("asymmetric"),
        "{body}"
    );
}

#[tokio::test]
async fn admins_set_a_clients_apis_to_registered_apis_and_scopes_only() {
    let (app, admin, _keys) = eddsa_app().await;
    setup(&app, &admin).await;
    let put = |body: Value, id: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            app.bearer_send(
                Method::PUT,
                &format!("/api/v1/clients/{id}/apis"),
                admin,
                Some(&body),
            )
            .await
        }
    };
    for bad in [
        json!({"apis": [{"identifier": "https://unknown.example.com", "scopes": ["x"]}]}),
        json!({"apis": [{"identifier": ORDERS, "scopes": ["orders:delete"]}]}),
        json!({"apis": [{"identifier": ORDERS, "scopes": []}]}),
        json!({"apis": [{"identifier": ORDERS, "scopes": ["orders:read"]},
                        {"identifier": ORDERS, "scopes": ["orders:write"]}]}),
    ] {
        let response = put(bad.clone(), "worker").await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let response = put(json!({"apis": []}), "nobody").await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::NOT_FOUND, "client_not_found".to_owned())
    );

    // Refusals changed nothing; removing an API takes it from its clients.
    let listed = app
        .bearer_get("/api/v1/clients/worker/apis", &admin)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["apis"][0]["scopes"], json!(["orders:read"]));
    let apis = app
        .bearer_get("/api/v1/apis", &admin)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let orders = apis
        .as_array()
        .unwrap()
        .iter()
        .find(|api| api["identifier"] == ORDERS)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let removed = app
        .bearer_send(
            Method::DELETE,
            &format!("/api/v1/apis/{orders}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let listed = app
        .bearer_get("/api/v1/clients/worker/apis", &admin)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed, json!({"apis": []}));
}

#[tokio::test]
async fn a_secret_seen_accepted_stops_working_when_it_is_rotated_away() {
    let (app, admin, _keys) = eddsa_app().await;
    let (secret, _) = setup(&app, &admin).await;
    // Accepted twice: the second time as a secret this instance has seen accepted.
    for _ in 0..2 {
        assert_eq!(
            grant(&app, "worker", &secret, &[]).await.status(),
            StatusCode::OK
        );
    }
    let rotated = app
        .bearer_send(
            Method::POST,
            "/api/v1/clients/worker/secret",
            &admin,
            Some(&json!({"overlap_seconds": 0})),
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let new: Value = rotated.json().await.unwrap();
    assert_eq!(
        grant(&app, "worker", &secret, &[]).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old secret, seen accepted a moment ago, is refused"
    );
    assert_eq!(app.audited("client_authentication_failed").await, 1);
    let new_secret = new["client_secret"].as_str().unwrap();
    assert_eq!(
        grant(&app, "worker", new_secret, &[]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn right_secrets_racing_a_burst_of_guesses_never_lift_the_bound() {
    let (app, admin, _keys) = eddsa_app().await;
    let (secret, _) = setup(&app, &admin).await;
    let limit = app.settings.auth.client_secret_failures_per_client;
    // Seen accepted once, so that the racing right ones take the path that counts nothing.
    assert_eq!(
        grant(&app, "worker", &secret, &[]).await.status(),
        StatusCode::OK
    );
    let guesses = (0..limit + 10).map(|i| format!("guess-{i}"));
    let mixed: Vec<String> = guesses
        .zip(std::iter::repeat(secret.clone()))
        .flat_map(|(guess, right)| [guess, right])
        .collect();
    let answers = join_all(mixed.iter().map(|s| {
        let (app, right) = (&app, *s == secret);
        async move { (right, grant(app, "worker", s, &[]).await) }
    }))
    .await;
    for (right, response) in &answers {
        let status = response.status();
        if *right {
            // A right secret passes, or waits once the guesses filled the bucket.
            assert!(
                status == StatusCode::OK
                    || (status == StatusCode::UNAUTHORIZED
                        && response.headers().contains_key("retry-after")),
                "{status}"
            );
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(
        app.audited("client_authentication_failed").await,
        i64::from(limit),
        "exactly the limit of guesses was checked"
    );
    let waiting = grant(&app, "worker", &secret, &[]).await;
    assert_eq!(waiting.status(), StatusCode::UNAUTHORIZED);
    assert!(waiting.headers().contains_key("retry-after"));
}
