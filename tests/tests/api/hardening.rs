//! HTTP hardening: security headers, no caching of API answers, CORS from an allowlist only,
//! and oversized tokens refused cheaply.

use gatehouse_tests::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn api_answers_and_errors_are_never_cached_and_carry_security_headers() {
    let app = TestApp::builder().spawn().await;
    let created = app
        .register("ada@example.com", gatehouse_tests::PASSWORD)
        .await;
    let token = app.login("ada@example.com").await;
    let me = app.bearer_get("/api/v1/users/me", &token).await;
    let refused = app.get("/api/v1/users/me").await;
    let missing = app.get("/api/v1/nope").await;
    for response in [created, me, refused, missing] {
        let headers = response.headers();
        assert_eq!(headers["cache-control"], "no-store", "{}", response.url());
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
}

#[tokio::test]
async fn cors_allows_configured_origins_and_never_reflects_others() {
    let app = TestApp::builder()
        .settings(|s| s.server.cors_allowed_origins = vec!["https://app.example.com".into()])
        .spawn()
        .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/users/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let evil = preflight("https://evil.example.com").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());

    let simple = app
        .client
        .get(app.url("/health/live"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        simple
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let unconfigured = TestApp::builder().spawn().await;
    let response = unconfigured
        .client
        .get(unconfigured.url("/health/live"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn an_oversized_bearer_token_is_refused_without_parsing() {
    let app = TestApp::builder().spawn().await;
    for size in [5_000, 64 * 1024] {
        let token = "a".repeat(size);
        let response = app.bearer_get("/api/v1/users/me", &token).await;
        let status = response.status();
        assert!(
            status == StatusCode::UNAUTHORIZED
                || status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{size}: {status}"
        );
    }
}

#[tokio::test]
async fn tls_serves_https_with_hsts_and_plain_http_gets_none() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let app = TestApp::builder()
        .settings(|s| {
            s.server.tls_cert_file = Some(cert);
            s.server.tls_key_file = Some(key);
        })
        .spawn()
        .await;
    let port = app.address.rsplit(':').next().unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .resolve("localhost", ([127, 0, 0, 1], port.parse().unwrap()).into())
        .build()
        .unwrap();

    let live = client
        .get(format!("https://localhost:{port}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(
        live.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    // The same port does not answer plain HTTP.
    let plain_to_tls = app.client.get(app.url("/health/live")).send().await;
    assert!(plain_to_tls.is_err(), "{plain_to_tls:?}");

    let plain = TestApp::builder().spawn().await;
    let response = plain.get("/health/live").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

#[tokio::test]
async fn tls_needs_both_a_certificate_and_a_key() {
    let mut settings = gatehouse_server::settings::Settings::default();
    settings.server.port = 0;
    settings.server.tls_cert_file = Some("cert.pem".into());
    let data = tempfile::tempdir().unwrap();
    settings.data_dir = data.path().to_path_buf();
    settings.database.url = format!("sqlite://{}/g.db", data.path().display()).into();
    let error = gatehouse_server::startup::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("tls_key_file"), "{error}");
}
