//! `POST /api/v1/auth/token`: the OAuth2 password grant and its RFC 6749 errors.

use gatehouse_tests::{PASSWORD, TestApp, user_scopes};
use reqwest::StatusCode;
use serde_json::Value;

async fn oauth_error(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-type"], "application/json");
    (status, response.json().await.unwrap())
}

fn decode_part(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_password_grant_returns_a_bearer_access_token() {
    let app = TestApp::builder().spawn().await;
    let user = app.register_ok("ada@example.com").await;
    let response = app.login_response("ADA@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], user_scopes());

    let token = body["access_token"].as_str().unwrap();
    let header = decode_part(token, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "HS256");
    let claims = decode_part(token, 1);
    for claim in [
        "iss", "aud", "sub", "exp", "iat", "nbf", "jti", "scope", "role",
    ] {
        assert!(
            claims.get(claim).is_some(),
            "claim {claim} missing: {claims}"
        );
    }
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["role"], "user");
    assert_eq!(claims["iss"], "gatehouse");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
}

#[tokio::test]
async fn the_token_verifies_with_another_library_given_the_same_secret_string() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["gatehouse"]);
    let decoded = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(gatehouse_tests::TEST_SECRET.as_bytes()),
        &validation,
    );
    assert!(decoded.is_ok(), "{decoded:?}");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_byte_identical() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;

    let wrong = app
        .login_response("ada@example.com", "wrong horse battery")
        .await;
    let unknown = app.login_response("bob@example.com", PASSWORD).await;
    let malformed = app.login_response("not-an-email", PASSWORD).await;

    let mut bodies = Vec::new();
    for response in [wrong, unknown, malformed] {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        bodies.push(response.bytes().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[0], bodies[2]);
    let body: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn missing_empty_and_repeated_parameters_are_invalid_requests() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let full = [
        ("grant_type", "password"),
        ("username", "ada@example.com"),
        ("password", PASSWORD),
    ];
    for missing in 0..full.len() {
        let form: Vec<_> = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != missing)
            .map(|(_, pair)| *pair)
            .collect();
        let (status, body) = oauth_error(app.token(&form).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"], "invalid_request",
            "without {}",
            full[missing].0
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(full[missing].0)
        );
    }
    for empty in 0..full.len() {
        let mut form = full.to_vec();
        form[empty].1 = "";
        let (_, body) = oauth_error(app.token(&form).await).await;
        assert_eq!(body["error"], "invalid_request", "empty {}", full[empty].0);
    }
    let mut repeated = full.to_vec();
    repeated.push(("password", "another password"));
    let (_, body) = oauth_error(app.token(&repeated).await).await;
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("repeated")
    );
    // A parameter the endpoint does not know is ignored, however often it comes.
    let mut unknown = full.to_vec();
    unknown.extend([("x-extra", "1"), ("x-extra", "2\0"), ("", "a"), ("", "b")]);
    assert_eq!(app.token(&unknown).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_json_body_is_an_invalid_request() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&serde_json::json!({"grant_type": "password", "username": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, body) = oauth_error(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn other_grant_types_are_unsupported() {
    let app = TestApp::builder().spawn().await;
    for grant in [
        "implicit",
        "PASSWORD",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        let (status, body) = oauth_error(
            app.token(&[
                ("grant_type", grant),
                ("username", "a@example.com"),
                ("password", "x"),
            ])
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "unsupported_grant_type", "{grant}");
    }
}

#[tokio::test]
async fn swagger_uis_extra_client_fields_are_ignored() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let response = app
        .token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("scope", ""),
            ("client_id", ""),
            ("client_secret", ""),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn scopes_can_be_narrowed_but_not_beyond_the_role() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let response = app
        .login_with_scope("ada@example.com", "todos:read me")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "me todos:read");

    for scope in ["me users:read", "users:write", "root"] {
        let (status, body) =
            oauth_error(app.login_with_scope("ada@example.com", scope).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_scope", "{scope}");
    }
}

#[tokio::test]
async fn a_weaker_stored_hash_is_upgraded_after_a_successful_login_only() {
    use argon2::PasswordHasher as _;
    let app = TestApp::builder().production_hashing().spawn().await;
    app.register_ok("ada@example.com").await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes())
    .unwrap()
    .to_string();
    app.store_password_hash("ada@example.com", &weak).await;

    let failed = app
        .login_response("ada@example.com", "wrong horse battery")
        .await;
    assert_eq!(failed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.stored_hash("ada@example.com").await, weak);

    app.login("ada@example.com").await;
    let upgraded = app.stored_hash("ada@example.com").await;
    assert_ne!(upgraded, weak);
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{upgraded}"
    );
    // The upgraded hash still verifies.
    app.login("ada@example.com").await;
}

#[tokio::test]
async fn a_login_flood_beyond_the_hashing_queue_gets_503_with_retry_after() {
    let app = TestApp::builder()
        .production_hashing()
        .settings(|settings| {
            settings.password.hashing_workers = 1;
            settings.password.hashing_queue = 1;
            // Concurrent logins of one account are reserved against its throttle (5 at a
            // time); this test is about the hashing queue, so give it room.
            settings.auth.login_failures_per_account = 100;
        })
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/token");
            tokio::spawn(async move {
                client
                    .post(url)
                    .form(&[
                        ("grant_type", "password"),
                        ("username", "ada@example.com"),
                        ("password", PASSWORD),
                    ])
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ok = 0;
    let mut busy = 0;
    for attempt in attempts {
        let response = attempt.await.unwrap();
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(response.headers().contains_key("retry-after"));
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "temporarily_unavailable");
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1, "no login got through");
    assert!(busy >= 1, "the queue never overflowed ({ok} succeeded)");
}

#[tokio::test]
async fn a_legacy_bcrypt_hash_logs_in_and_is_upgraded_to_argon2id() {
    let app = TestApp::builder().production_hashing().spawn().await;
    app.register_ok("ada@example.com").await;
    let legacy = bcrypt::hash(PASSWORD, 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    app.store_password_hash("ada@example.com", &legacy).await;
    let failed = app
        .login_response("ada@example.com", "wrong horse battery")
        .await;
    assert_eq!(failed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.stored_hash("ada@example.com").await, legacy);

    app.login("ada@example.com").await;
    let upgraded = app.stored_hash("ada@example.com").await;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{upgraded}"
    );
    app.login("ada@example.com").await;
}
