//! EdDSA signing keys: tokens name their key, the JWKS document publishes the public halves,
//! and a rotation keeps issued tokens valid until the retired key is removed.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_server::settings::JwtAlgorithm;
use gatehouse_tests::TestApp;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;

/// Writes a new key pair into `dir`; returns (private path, public path).
fn key_pair(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
    let (private, public) = gatehouse_security::keys::generate_ed25519().unwrap();
    let private_path = dir.join(format!("{name}.pem"));
    let public_path = dir.join(format!("{name}.pub.pem"));
    std::fs::write(&private_path, private.expose_secret()).unwrap();
    std::fs::write(&public_path, public).unwrap();
    (private_path, public_path)
}

fn header_of(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// During a rotation: a token signed before it still opens `/users/me`, and a new login is
/// signed with another key. Returns the new token.
async fn old_token_still_verifies(during: &TestApp, old_token: &str) -> String {
    assert_eq!(
        during
            .bearer_get("/api/v1/users/me", old_token)
            .await
            .status(),
        StatusCode::OK
    );
    let new_token = during.login("ada@example.com").await;
    assert_ne!(header_of(&new_token)["kid"], header_of(old_token)["kid"]);
    new_token
}

async fn jwks(app: &TestApp) -> Value {
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn eddsa_app(private: &Path, retired: Vec<PathBuf>, database: Option<&str>) -> TestApp {
    let (private, database) = (private.to_path_buf(), database.map(str::to_owned));
    TestApp::builder()
        .settings(move |s| {
            s.jwt.algorithm = JwtAlgorithm::EdDSA;
            s.jwt.private_key_file = Some(private);
            s.jwt.retired_public_key_files = retired;
            if let Some(url) = database {
                s.database.url = url.into();
            }
        })
        .spawn()
        .await
}

#[tokio::test]
async fn eddsa_tokens_name_their_key_and_the_jwks_publishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = key_pair(dir.path(), "a");
    let app = eddsa_app(&private, vec![], None).await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let header = header_of(&token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");

    let set = jwks(&app).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], header["kid"]);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert!(keys[0].get("d").is_none(), "a private part is published");
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &token).await.status(),
        StatusCode::OK
    );

    // Another service verifies the token with nothing but the published key.
    let key =
        jsonwebtoken::DecodingKey::from_ed_components(keys[0]["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["gatehouse"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());
}

#[tokio::test]
async fn a_rotation_keeps_issued_tokens_valid_until_the_old_key_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (old_private, old_public) = key_pair(dir.path(), "old");
    let (new_private, _) = key_pair(dir.path(), "new");

    // Before: the old key signs.
    let before = eddsa_app(&old_private, vec![], None).await;
    before.register_ok("ada@example.com").await;
    let old_token = before.login("ada@example.com").await;
    let database = before.database_url.clone();

    // Step 1 and 2: the new key signs, the old one only verifies.
    let during = eddsa_app(&new_private, vec![old_public], Some(&database)).await;
    assert_eq!(jwks(&during).await["keys"].as_array().unwrap().len(), 2);
    let new_token = old_token_still_verifies(&during, &old_token).await;

    // Step 3, after the longest token lifetime: the old key is removed.
    let after = eddsa_app(&new_private, vec![], Some(&database)).await;
    assert_eq!(
        after
            .bearer_get("/api/v1/users/me", &old_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        after
            .bearer_get("/api/v1/users/me", &new_token)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_eddsa_deployment_refuses_hs256_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = key_pair(dir.path(), "a");
    let app = eddsa_app(&private, vec![], None).await;
    let user = app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["sub"], user["id"]);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = header_of(&token)["kid"].as_str().map(str::to_owned);
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(gatehouse_tests::TEST_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &forged).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_hs256_deployment_publishes_no_keys() {
    let app = TestApp::builder().spawn().await;
    assert_eq!(jwks(&app).await["keys"], serde_json::json!([]));
}

/// Writes a new RSA key pair into `dir`; returns (private path, public PEM).
fn rsa_key_pair(dir: &Path) -> (PathBuf, String) {
    let (private, public) = gatehouse_security::keys::generate_rsa(2048).unwrap();
    let path = dir.join("rsa.pem");
    std::fs::write(&path, private.expose_secret()).unwrap();
    (path, public)
}

#[tokio::test]
async fn rsa_deployments_publish_their_modulus_and_refuse_the_public_key_as_an_hmac_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public_pem) = rsa_key_pair(dir.path());
    for (algorithm, name) in [
        (JwtAlgorithm::RS256, "RS256"),
        (JwtAlgorithm::PS256, "PS256"),
    ] {
        let private = private.clone();
        let app = TestApp::builder()
            .settings(move |s| {
                s.jwt.algorithm = algorithm;
                s.jwt.private_key_file = Some(private);
            })
            .spawn()
            .await;
        app.register_ok("ada@example.com").await;
        let token = app.login("ada@example.com").await;
        let header = header_of(&token);
        assert_eq!(header["alg"], name);

        let set = jwks(&app).await;
        let key = &set["keys"][0];
        assert_eq!(set["keys"].as_array().unwrap().len(), 1);
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], name);
        assert_eq!(key["kid"], header["kid"]);
        for private_part in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private_part).is_none(),
                "{private_part} is published"
            );
        }
        // Another service verifies with nothing but the published modulus and exponent.
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap(),
            key["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(header_alg(name));
        validation.set_audience(&["gatehouse"]);
        assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &validation).is_ok());
        assert_eq!(
            app.bearer_get("/api/v1/users/me", &token).await.status(),
            StatusCode::OK
        );

        // Algorithm confusion: HS256 keyed with the public PEM, under the RSA key's kid.
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let mut forged_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        forged_header.typ = Some("at+jwt".into());
        forged_header.kid = header["kid"].as_str().map(str::to_owned);
        for key in [public_pem.as_bytes(), public_pem.trim().as_bytes()] {
            let forged = jsonwebtoken::encode(
                &forged_header,
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(key),
            )
            .unwrap();
            let response = app.bearer_get("/api/v1/users/me", &forged).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
}

fn header_alg(name: &str) -> jsonwebtoken::Algorithm {
    name.parse().unwrap()
}

#[tokio::test]
async fn an_hs256_secret_rotation_keeps_issued_tokens_valid_until_the_old_secret_is_removed() {
    let old_secret = gatehouse_tests::TEST_SECRET;
    let new_secret = "a-new-secret-that-is-long-enough-for-hs256!!";
    let before = TestApp::builder().spawn().await;
    before.register_ok("ada@example.com").await;
    let old_token = before.login("ada@example.com").await;
    let database = before.database_url.clone();

    let rotate = |retired: Vec<&str>| {
        let database = database.clone();
        let retired: Vec<secrecy::SecretString> = retired.into_iter().map(Into::into).collect();
        TestApp::builder()
            .settings(move |s| {
                s.jwt.secret = Some(new_secret.into());
                s.jwt.retired_secrets = retired;
                s.database.url = database.into();
            })
            .spawn()
    };
    let during = rotate(vec![old_secret]).await;
    let new_token = old_token_still_verifies(&during, &old_token).await;
    assert_eq!(jwks(&during).await["keys"], serde_json::json!([]));

    let after = rotate(vec![]).await;
    let (old_status, new_status) = (
        after
            .bearer_get("/api/v1/users/me", &old_token)
            .await
            .status(),
        after
            .bearer_get("/api/v1/users/me", &new_token)
            .await
            .status(),
    );
    assert_eq!(old_status, StatusCode::UNAUTHORIZED);
    assert_eq!(new_status, StatusCode::OK);
}
