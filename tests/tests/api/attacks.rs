//! Attacks on the running server: forged and malformed tokens of every shape, tokens in the
//! wrong place, and abusive requests. Each is refused with the right status and challenge,
//! and none reaches a 500.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_tests::{PASSWORD, TEST_SECRET, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A real login's claims, to forge variations of.
async fn victim(app: &TestApp) -> (String, Value) {
    app.register_ok("victim@example.com").await;
    let token = app.login("victim@example.com").await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    (token, claims)
}

fn hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    use hmac_sha256::HMAC;
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let signature = HMAC::mac(signing_input.as_bytes(), key);
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn assert_refused(app: &TestApp, token: &str, case: &str) {
    let response = app.bearer_get("/api/v1/users/me", token).await;
    let status = response.status();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{case}: {challenge}"
    );
}

#[tokio::test]
async fn forged_tokens_of_every_shape_are_refused() {
    let app = TestApp::builder().spawn().await;
    let (token, claims) = victim(&app).await;
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &token).await.status(),
        StatusCode::OK
    );
    let header = json!({"alg": "HS256", "typ": "at+jwt"});
    let with_header = |extra: Value| {
        let mut header = header.clone();
        for (key, value) in extra.as_object().unwrap() {
            header[key] = value.clone();
        }
        header
    };
    let parts: Vec<&str> = token.split('.').collect();
    let mut cases: Vec<(String, String)> = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let unsigned = format!(
            "{}.{}.",
            b64(&with_header(json!({"alg": alg}))),
            b64(&claims)
        );
        cases.push((format!("alg {alg}"), unsigned.clone()));
        cases.push((
            format!("alg {alg} without dot"),
            unsigned.trim_end_matches('.').to_owned(),
        ));
    }
    cases.push((
        "empty signature".into(),
        format!("{}.{}.", parts[0], parts[1]),
    ));
    cases.push((
        "truncated signature".into(),
        format!("{}.{}.{}", parts[0], parts[1], &parts[2][..10]),
    ));
    let mut edited = claims.clone();
    edited["role"] = json!("admin");
    edited["scope"] = json!("me users:read users:write");
    cases.push((
        "edited payload".into(),
        format!("{}.{}.{}", parts[0], b64(&edited), parts[2]),
    ));
    cases.push((
        "HS256 with an empty key".into(),
        hs256(&header, &claims, b""),
    ));
    for secret in [
        "secret",
        "your-256-bit-secret",
        "changeme",
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
    ] {
        cases.push((
            format!("HS256 with `{secret}`"),
            hs256(&header, &claims, secret.as_bytes()),
        ));
    }
    cases.push(("HS512".into(), {
        let header = with_header(json!({"alg": "HS512"}));
        let mut token = hs256(&header, &claims, TEST_SECRET.as_bytes());
        token.push('A');
        token
    }));
    cases.push((
        "RS256 header, HMAC signature".into(),
        hs256(
            &with_header(json!({"alg": "RS256"})),
            &claims,
            TEST_SECRET.as_bytes(),
        ),
    ));
    cases.push((
        "EdDSA header, HMAC signature".into(),
        hs256(
            &with_header(json!({"alg": "EdDSA"})),
            &claims,
            TEST_SECRET.as_bytes(),
        ),
    ));
    for (name, extra) in [
        (
            "inline jwk",
            json!({"jwk": {"kty": "oct", "k": URL_SAFE_NO_PAD.encode(b"attacker")}}),
        ),
        ("jku", json!({"jku": "https://evil.example.com/jwks.json"})),
        ("x5u", json!({"x5u": "https://evil.example.com/cert.pem"})),
        ("kid path traversal", json!({"kid": "../../../../dev/null"})),
        ("kid SQL", json!({"kid": "x' UNION SELECT 'secret' --"})),
        ("kid shell", json!({"kid": "$(rm -rf /)"})),
    ] {
        // Signed with a key the attacker controls and points the header at.
        cases.push((
            name.into(),
            hs256(&with_header(extra), &claims, b"attacker"),
        ));
    }
    for (claim, value) in [
        ("exp", json!(0)),
        ("exp", json!("tomorrow")),
        ("nbf", json!(4_102_444_800_i64)),
        ("iss", json!("https://evil.example.com")),
        ("aud", json!("another-api")),
        ("sub", json!("00000000-0000-0000-0000-000000000000")),
        ("sub", json!("1 OR 1=1")),
        ("sid", json!("00000000-0000-7000-8000-000000000000")),
    ] {
        let mut forged = claims.clone();
        forged[claim] = value;
        cases.push((
            format!("{claim} = {}", forged[claim]),
            hs256(&header, &forged, TEST_SECRET.as_bytes()),
        ));
    }
    for claim in ["exp", "nbf", "iss", "aud", "sub", "sid", "jti"] {
        let mut forged = claims.clone();
        forged.as_object_mut().unwrap().remove(claim);
        cases.push((
            format!("without {claim}"),
            hs256(&header, &forged, TEST_SECRET.as_bytes()),
        ));
    }
    for typ in [Value::Null, json!("JWT"), json!("at+JWT+x")] {
        let mut header = header.clone();
        header["typ"] = typ.clone();
        cases.push((
            format!("typ {typ}"),
            hs256(&header, &claims, TEST_SECRET.as_bytes()),
        ));
    }
    cases.push((
        "JWE-shaped".into(),
        format!("{}.{}.{}.{}.{}", parts[0], "a", "b", parts[1], parts[2]),
    ));
    cases.push(("JSON serialization".into(), json!({"payload": parts[1], "signatures": [{"protected": parts[0], "signature": parts[2]}]}).to_string()));
    cases.push(("two tokens".into(), format!("{token} {token}")));
    cases.push(("unicode".into(), "ŧøķęñ.ŧøķęñ.ŧøķęñ".into()));
    for (case, forged) in cases {
        assert_refused(&app, &forged, &case).await;
    }
}

#[tokio::test]
async fn tokens_in_the_wrong_place_do_not_authenticate() {
    let app = TestApp::builder().spawn().await;
    let (token, _) = victim(&app).await;
    let in_query = app
        .get(&format!("/api/v1/users/me?access_token={token}"))
        .await;
    assert_eq!(in_query.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        in_query.headers()["www-authenticate"],
        r#"Bearer realm="gatehouse""#
    );
    let as_basic = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(as_basic.status(), StatusCode::UNAUTHORIZED);
    let in_cookie = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header("cookie", format!("access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(in_cookie.status(), StatusCode::UNAUTHORIZED);
    let lowercase_scheme = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        lowercase_scheme.status(),
        StatusCode::OK,
        "the scheme is case-insensitive (RFC 7235)"
    );
}

#[tokio::test]
async fn abusive_requests_get_clear_client_errors() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("victim@example.com").await;
    let repeated = app
        .token(&[
            ("grant_type", "password"),
            ("username", "victim@example.com"),
            ("username", "admin@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(repeated.status(), StatusCode::BAD_REQUEST);
    let body: Value = repeated.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let huge_password = "x".repeat(10_000);
    let response = app
        .login_response("victim@example.com", &huge_password)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app.register("new@example.com", &huge_password).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let mebibyte = "x".repeat(1024 * 1024);
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/token",
        "/api/v1/auth/password-reset",
    ] {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(mebibyte.clone())
            .send()
            .await;
        // Either a 413, or the connection closed while still sending: never a 500.
        if let Ok(response) = response {
            assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        }
    }
    assert_eq!(app.stored_accounts().await, 1);
}

#[tokio::test]
async fn other_kinds_of_token_are_not_access_tokens() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("victim@example.com").await;
    let tokens = app.login_tokens("victim@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let verify = app
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/auth/verify-email",
            access,
            None,
        )
        .await;
    assert_eq!(verify.status(), StatusCode::ACCEPTED);
    let reset = app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({"email": "victim@example.com"}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::ACCEPTED);
    let mails = gatehouse_tests::wait_for_mail(&app, 2).await;
    let emailed = |path: &str| {
        mails
            .iter()
            .find(|mail| gatehouse_tests::unfold_mail(mail).contains(path))
            .map(|mail| gatehouse_tests::token_in(mail, path))
            .unwrap_or_else(|| panic!("no mail links to {path}"))
    };
    for (case, token) in [
        (
            "refresh token",
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        ),
        ("email verification token", emailed("/verify-email")),
        ("password reset token", emailed("/reset-password")),
    ] {
        assert_refused(&app, &token, case).await;
    }
    // The real access token still works: the refusals were about the tokens, not the user.
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::OK
    );
}
