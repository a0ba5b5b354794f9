//! `GET /api/v1/users/me` and the bearer-token rules of RFC 6750.

use gatehouse_tests::{TEST_SECRET, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

const INVALID_TOKEN_CHALLENGE: &str = r#"Bearer realm="gatehouse", error="invalid_token""#;

async fn assert_invalid_token(app: &TestApp, token: &str, case: &str) {
    let response = app.bearer_get("/api/v1/users/me", token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(INVALID_TOKEN_CHALLENGE),
        "{case}: {challenge}"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_token", "{case}");
}

/// The `sid` claim of a real access token.
fn session_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

fn claims_for(user_id: &str, session_id: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": "gatehouse", "aud": "gatehouse", "sub": user_id, "sid": session_id,
        "exp": now + 600, "iat": now, "nbf": now,
        "jti": uuid::Uuid::now_v7().to_string(), "scope": "me", "role": "user"
    })
}

fn sign(claims: &Value, typ: Option<&str>, secret: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn the_current_user_is_returned_for_a_valid_token() {
    let app = TestApp::builder().spawn().await;
    let user = app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let response = app.bearer_get("/api/v1/users/me", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me, user);
}

#[tokio::test]
async fn a_hand_made_token_with_every_claim_right_is_accepted() {
    // Proves the forged-token cases below fail for their one defect, not for another.
    let app = TestApp::builder().spawn().await;
    let user = app.register_ok("ada@example.com").await;
    let sid = session_of(&app.login("ada@example.com").await);
    let token = sign(
        &claims_for(user["id"].as_str().unwrap(), &sid),
        Some("at+jwt"),
        TEST_SECRET,
    );
    let response = app.bearer_get("/api/v1/users/me", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_token_gets_a_bare_challenge() {
    let app = TestApp::builder().spawn().await;
    let response = app.get("/api/v1/users/me").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="gatehouse""#
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");

    let response = app
        .client
        .get(app.url("/api/v1/users/me"))
        .basic_auth("ada@example.com", Some("password"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="gatehouse""#
    );
}

#[tokio::test]
async fn bad_tokens_are_401_invalid_token() {
    let app = TestApp::builder().spawn().await;
    let user = app.register_ok("ada@example.com").await;
    let id = user["id"].as_str().unwrap();
    let sid = session_of(&app.login("ada@example.com").await);
    let claims_for = |user: &str| claims_for(user, &sid);
    let now = chrono::Utc::now().timestamp();
    let with = |key: &str, value: Value| {
        let mut claims = claims_for(id);
        claims[key] = value;
        claims
    };
    let alg_none = {
        use base64::Engine as _;
        let encode =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            encode(&json!({"alg": "none", "typ": "at+jwt"})),
            encode(&claims_for(id))
        )
    };
    let cases = [
        ("garbage", "garbage".to_owned()),
        ("empty-ish", "a.b.c".to_owned()),
        (
            "expired",
            sign(&with("exp", json!(now - 60)), Some("at+jwt"), TEST_SECRET),
        ),
        (
            "not yet valid",
            sign(&with("nbf", json!(now + 3600)), Some("at+jwt"), TEST_SECRET),
        ),
        (
            "wrong signature",
            sign(
                &claims_for(id),
                Some("at+jwt"),
                "another-secret-that-is-long-enough!!",
            ),
        ),
        ("alg none", alg_none),
        (
            "wrong audience",
            sign(
                &with("aud", json!("another-api")),
                Some("at+jwt"),
                TEST_SECRET,
            ),
        ),
        (
            "wrong issuer",
            sign(&with("iss", json!("evil")), Some("at+jwt"), TEST_SECRET),
        ),
        ("wrong typ", sign(&claims_for(id), Some("JWT"), TEST_SECRET)),
        ("no typ", sign(&claims_for(id), None, TEST_SECRET)),
        (
            "unknown user",
            sign(
                &claims_for(&uuid::Uuid::now_v7().to_string()),
                Some("at+jwt"),
                TEST_SECRET,
            ),
        ),
    ];
    for (case, token) in cases {
        assert_invalid_token(&app, &token, case).await;
    }
}

#[tokio::test]
async fn a_deleted_users_token_is_refused() {
    let app = TestApp::builder().spawn().await;
    let root = app.admin_token("root@example.com").await;
    let ada = app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    // Answered once, so the session check is remembered; the deletion must end that.
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &token).await.status(),
        StatusCode::OK
    );
    let deleted = app
        .bearer_send(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{}", ada["id"].as_str().unwrap()),
            &root,
            None,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_invalid_token(&app, &token, "deleted user").await;
}

#[tokio::test]
async fn a_deactivated_users_token_is_refused() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    app.deactivate_in_storage("ada@example.com").await;
    assert_invalid_token(&app, &token, "deactivated user").await;
}

#[tokio::test]
async fn a_token_without_scope_me_is_403_insufficient_scope() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let response = app.login_with_scope("ada@example.com", "todos:read").await;
    let token: Value = response.json().await.unwrap();
    let response = app
        .bearer_get("/api/v1/users/me", token["access_token"].as_str().unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="gatehouse", error="insufficient_scope", scope="me""#
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "insufficient_scope");
}
