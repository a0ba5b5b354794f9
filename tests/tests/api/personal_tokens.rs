//! Personal access tokens through HTTP, on SQLite and PostgreSQL: shown once and stored as a
//! digest, sent as a bearer token and checked on every request like a session, made only
//! after re-authentication (never by a token), ended by revocation, a password change or
//! deactivation, narrowed at once by a role change, throttled and audited.

use futures::future::join_all;
use gatehouse_tests::oidc::register_client;
use gatehouse_tests::{PASSWORD, TestApp, problem_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKENS: &str = "/api/v1/users/me/tokens";

/// Makes a token with `body` (plus the password) through a session's `access` token.
async fn create(app: &TestApp, access: &str, body: Value) -> reqwest::Response {
    let mut body = body;
    if body.get("current_password").is_none() {
        body["current_password"] = json!(PASSWORD);
    }
    app.bearer_send(Method::POST, TOKENS, access, Some(&body))
        .await
}

/// Makes a token that must be made, and returns the answer.
async fn created(app: &TestApp, access: &str, body: Value) -> Value {
    let response = create(app, access, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

fn secret(created: &Value) -> String {
    created["token"].as_str().unwrap().to_owned()
}

async fn listed(app: &TestApp, access: &str) -> Vec<Value> {
    let response = app.bearer_get(TOKENS, access).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_token_is_shown_once_stored_as_a_digest_and_opens_only_its_scopes() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let access = app.login("ada@example.com").await;

    let made = created(
        &app,
        &access,
        json!({"name": "backup script", "scope": "me todos:read", "expires_in_days": 30.0}),
    )
    .await;
    let pat = secret(&made);
    // The documented pattern, `gatehouse_pat_[A-Za-z0-9_-]{43}`.
    let body = pat.strip_prefix("gatehouse_pat_").unwrap();
    let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    assert!(body.len() == 43 && body.chars().all(alphabet), "{pat}");
    assert_eq!(made["scope"], "me todos:read");
    assert_eq!(made["name"], "backup script");
    assert!(made["resource"].is_null() && made["last_used_at"].is_null());
    let created_at =
        chrono::DateTime::parse_from_rfc3339(made["created_at"].as_str().unwrap()).unwrap();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(made["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires_at - created_at).num_days(), 30);
    let (stored, as_sent) = app.stored_personal_tokens(&pat).await;
    assert_eq!((stored, as_sent), (1, false));

    // It is a bearer token for its scopes, and no other.
    let me = app.bearer_get("/api/v1/users/me", &pat).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(
        app.bearer_get("/api/v1/todos", &pat).await.status(),
        StatusCode::OK
    );
    let write = app
        .bearer_send(
            Method::POST,
            "/api/v1/todos",
            &pat,
            Some(&json!({"title": "no"})),
        )
        .await;
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    assert!(
        write.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    // Never a refresh token, nor an access token with a letter changed.
    let refresh = app.refresh(&pat, None).await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    let mut forged = pat.clone();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., last);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &forged).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Listed with its last use, never with its secret; not among the sessions.
    let text = app.bearer_get(TOKENS, &access).await.text().await.unwrap();
    assert!(!text.contains(&pat));
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], made["id"]);
    assert!(list[0]["last_used_at"].is_string());
    assert_eq!(list[0]["last_ip"], "127.0.0.1");
    assert!(list[0].get("token").is_none());
    let sessions: Vec<Value> = app
        .bearer_get("/api/v1/users/me/sessions", &access)
        .await
        .json()
        .await
        .unwrap();
    assert!(sessions.iter().all(|session| session["id"] != made["id"]));

    assert_eq!(app.audited("pat_created").await, 1);
    // Every use within a minute is recorded once.
    assert_eq!(app.audited("pat_used").await, 1);
}

#[tokio::test]
async fn making_a_token_needs_reauthentication_scopes_held_and_an_allowed_expiry() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let access = app.login("ada@example.com").await;

    let cases = [
        (
            json!({"name": "x", "current_password": null}),
            StatusCode::FORBIDDEN,
            "reauthentication_required",
        ),
        (
            json!({"name": "x", "current_password": "not the password"}),
            StatusCode::FORBIDDEN,
            "wrong_password",
        ),
        (
            json!({"name": "x", "scope": "me users:read"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "x", "scope": "root"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "x", "expires_in_days": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "x", "expires_in_days": 366}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "x", "expires_in_days": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "x", "resource": "https://nothing.example.com"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let response = create(&app, &access, body.clone()).await;
        assert_eq!(
            problem_code(response).await,
            (status, code.into()),
            "{body}"
        );
    }
    assert_eq!(app.stored_personal_tokens("").await.0, 0);

    // A token never makes another, whatever it holds.
    let pat = secret(&created(&app, &access, json!({"name": "script"})).await);
    let response = create(&app, &pat, json!({"name": "another"})).await;
    assert_eq!(
        problem_code(response).await,
        (StatusCode::FORBIDDEN, "first_party_only".into())
    );
    assert_eq!(app.stored_personal_tokens("").await.0, 1);

    // Tokens without expiry only where the operator allows them.
    let open = TestApp::builder()
        .settings(|s| s.personal_tokens.allow_no_expiry = true)
        .spawn()
        .await;
    open.register_ok("ada@example.com").await;
    let access = open.login("ada@example.com").await;
    let forever = created(
        &open,
        &access,
        json!({"name": "forever", "expires_in_days": null}),
    )
    .await;
    assert!(forever["expires_at"].is_null());
    assert_eq!(
        open.bearer_get("/api/v1/users/me", &secret(&forever))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn revocation_a_password_change_and_deactivation_end_tokens_for_good() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    let ada = app.register_ok("ada@example.com").await;
    let ada_id = ada["id"].as_str().unwrap();
    let access = app.login("ada@example.com").await;
    let works = |pat: String| {
        let app = &app;
        async move { app.bearer_get("/api/v1/users/me", &pat).await.status() == StatusCode::OK }
    };

    // Revoked by its person: refused at once; a second revocation finds nothing.
    let first = created(&app, &access, json!({"name": "one"})).await;
    let path = format!("{TOKENS}/{}", first["id"].as_str().unwrap());
    let revoked = app.bearer_send(Method::DELETE, &path, &access, None).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert!(!works(secret(&first)).await);
    let again = app.bearer_send(Method::DELETE, &path, &access, None).await;
    assert_eq!(
        problem_code(again).await,
        (StatusCode::NOT_FOUND, "personal_token_not_found".into())
    );

    // Nobody else's token, and no session, is revoked through this path.
    let bob_access = {
        app.register_ok("bob@example.com").await;
        app.login("bob@example.com").await
    };
    let second = created(&app, &access, json!({"name": "two"})).await;
    let path = format!("{TOKENS}/{}", second["id"].as_str().unwrap());
    let by_bob = app
        .bearer_send(Method::DELETE, &path, &bob_access, None)
        .await;
    assert_eq!(by_bob.status(), StatusCode::NOT_FOUND);
    let sessions: Vec<Value> = app
        .bearer_get("/api/v1/users/me/sessions", &access)
        .await
        .json()
        .await
        .unwrap();
    let session_path = format!("{TOKENS}/{}", sessions[0]["id"].as_str().unwrap());
    let a_session = app
        .bearer_send(Method::DELETE, &session_path, &access, None)
        .await;
    assert_eq!(a_session.status(), StatusCode::NOT_FOUND);
    assert!(works(secret(&second)).await);

    // An admin lists and revokes a user's tokens.
    let admin_list: Vec<Value> = app
        .bearer_get(&format!("/api/v1/users/{ada_id}/tokens"), &root)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(admin_list.len(), 1);
    assert_eq!(admin_list[0]["id"], second["id"]);
    let admin_path = format!(
        "/api/v1/users/{ada_id}/tokens/{}",
        second["id"].as_str().unwrap()
    );
    let by_admin = app
        .bearer_send(Method::DELETE, &admin_path, &root, None)
        .await;
    assert_eq!(by_admin.status(), StatusCode::NO_CONTENT);
    assert!(!works(secret(&second)).await);
    assert_eq!(app.audited("pat_revoked").await, 2);
    assert!(listed(&app, &access).await.is_empty());

    // A password change ends every token made before it.
    let third = created(&app, &access, json!({"name": "three"})).await;
    let change = app
        .bearer_send(
            Method::PUT,
            "/api/v1/users/me/password",
            &access,
            Some(&json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(change.status(), StatusCode::NO_CONTENT);
    assert!(!works(secret(&third)).await);

    // Deactivation ends them too, and reactivation does not bring them back.
    let access = app
        .login_response("ada@example.com", "a brand new passphrase")
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"name": "four", "current_password": "a brand new passphrase"});
    let fourth = created(&app, &access, body).await;
    assert!(works(secret(&fourth)).await);
    for active in [false, true] {
        let response = app
            .bearer_send(
                Method::PATCH,
                &format!("/api/v1/users/{ada_id}"),
                &root,
                Some(&json!({"is_active": active})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!works(secret(&fourth)).await, "active: {active}");
    }
}

#[tokio::test]
async fn a_role_change_narrows_what_a_token_can_do_at_once() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    let grace = app.register_ok("grace@example.com").await;
    app.make_admin("grace@example.com").await;
    let access = app.login("grace@example.com").await;
    let pat = secret(
        &created(
            &app,
            &access,
            json!({"name": "admin script", "scope": "me users:read"}),
        )
        .await,
    );
    assert_eq!(
        app.bearer_get("/api/v1/users", &pat).await.status(),
        StatusCode::OK
    );

    let demoted = app
        .bearer_send(
            Method::PATCH,
            &format!("/api/v1/users/{}", grace["id"].as_str().unwrap()),
            &root,
            Some(&json!({"role": "user"})),
        )
        .await;
    assert_eq!(demoted.status(), StatusCode::OK);
    assert_eq!(
        app.bearer_get("/api/v1/users", &pat).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &pat).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_for_a_registered_api_is_introspected_for_it_and_refused_by_gatehouse() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    let api = json!({"identifier": "https://orders.example.com", "name": "Orders", "scopes": [
        {"name": "orders:read", "description": "Read your orders"},
        {"name": "orders:refund", "description": "Refund any order", "roles": ["admin"]},
    ]});
    let response = app
        .bearer_send(Method::POST, "/api/v1/apis", &root, Some(&api))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let gate = register_client(
        &app,
        &root,
        json!({"id": "orders-api", "name": "Orders API", "resource_server": true}),
    )
    .await;
    let gate = gate["client_secret"].as_str().unwrap().to_owned();
    app.register_ok("ada@example.com").await;
    let access = app.login("ada@example.com").await;
    let introspect = |token: String| {
        let (app, gate) = (&app, gate.clone());
        async move {
            let response = app
                .client
                .post(app.url("/oauth2/introspect"))
                .basic_auth("orders-api", Some(gate))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };

    // A scope the role may not hold there is refused.
    let refund =
        json!({"name": "x", "resource": "https://orders.example.com", "scope": "orders:refund"});
    let response = create(&app, &access, refund).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let body = json!({"name": "orders", "resource": "https://orders.example.com"});
    let made = created(&app, &access, body).await;
    assert_eq!(made["resource"], "https://orders.example.com");
    assert_eq!(made["scope"], "orders:read");
    let pat = secret(&made);
    let answer = introspect(pat.clone()).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["aud"], "https://orders.example.com");
    assert_eq!(answer["scope"], "orders:read");
    assert_eq!(answer["sid"], made["id"]);
    // gatehouse's own API is not its audience.
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &pat).await.status(),
        StatusCode::FORBIDDEN
    );

    let path = format!("{TOKENS}/{}", made["id"].as_str().unwrap());
    let revoked = app.bearer_send(Method::DELETE, &path, &access, None).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(introspect(pat).await["active"], false);
}

#[tokio::test]
async fn racing_uses_record_one_use_and_racing_creations_stop_at_the_limit() {
    let app = TestApp::builder()
        .settings(|s| s.personal_tokens.per_user_per_hour = 3)
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let access = app.login("ada@example.com").await;

    // Eight creations at once: three are made, the others throttled.
    let raced =
        join_all((0..8).map(|i| create(&app, &access, json!({"name": format!("t{i}")})))).await;
    let statuses: Vec<StatusCode> = raced.iter().map(reqwest::Response::status).collect();
    let made = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((made, throttled), (3, 5), "{statuses:?}");
    assert_eq!(app.stored_personal_tokens("").await.0, 3);
    let mut answers = Vec::new();
    for response in raced {
        if response.status() == StatusCode::CREATED {
            answers.push(response.json::<Value>().await.unwrap());
        }
    }

    // Twenty uses of one token at once record its use once.
    let pat = secret(&answers[0]);
    let uses = join_all((0..20).map(|_| app.bearer_get("/api/v1/users/me", &pat))).await;
    assert!(uses.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(app.audited("pat_used").await, 1);

    // Uses racing a revocation: once it has answered, nothing gets through.
    let pat = secret(&answers[1]);
    let path = format!("{TOKENS}/{}", answers[1]["id"].as_str().unwrap());
    let (revoked, _) = futures::join!(
        app.bearer_send(Method::DELETE, &path, &access, None),
        join_all((0..10).map(|_| app.bearer_get("/api/v1/users/me", &pat)))
    );
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let after = join_all((0..10).map(|_| app.bearer_get("/api/v1/users/me", &pat))).await;
    assert!(after.iter().all(|r| r.status() == StatusCode::UNAUTHORIZED));
}
