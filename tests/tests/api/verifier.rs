//! The verifier crate (`gatehouse-verifier`) against the real server: it discovers this
//! gatehouse's keys and accepts its access tokens, and refuses tokens it did not sign or
//! that are meant for another API.

use gatehouse_tests::TestApp;
use gatehouse_tests::oidc::eddsa_app;
use std::time::Duration;

use gatehouse_verifier::{Introspection, Refusal, Verifier};
use reqwest::StatusCode;
use serde_json::Value;

fn verifier_of(app: &TestApp) -> Verifier {
    Verifier::builder(&app.settings.server.public_url, &app.settings.jwt.audience)
        .token_issuer(&app.settings.jwt.issuer)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_verifier_accepts_this_gatehouses_access_tokens_and_nothing_else() {
    let (app, _admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let me: Value = app
        .bearer_get("/api/v1/users/me", &token)
        .await
        .json()
        .await
        .unwrap();
    let verifier = verifier_of(&app);
    let claims = verifier.verify(&token).await.unwrap();
    assert_eq!(claims.sub, me["id"].as_str().unwrap());
    assert!(claims.has_scope("me") && claims.has_scope("todos:read"));
    assert!(!claims.has_scope("users:read"));

    // A token of another gatehouse (another key ring, same settings otherwise).
    let (other, _, _other_keys) = eddsa_app().await;
    other.register_ok("ada@example.com").await;
    let foreign = other.login("ada@example.com").await;
    assert!(matches!(
        verifier.verify(&foreign).await,
        Err(Refusal::Invalid(_))
    ));
    // A verifier for another API refuses gatehouse's own tokens.
    let orders = Verifier::builder(
        &app.settings.server.public_url,
        "https://orders.example.com",
    )
    .token_issuer(&app.settings.jwt.issuer)
    .build()
    .unwrap();
    assert!(matches!(
        orders.verify(&token).await,
        Err(Refusal::Invalid("meant for another API"))
    ));
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &token).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn with_introspection_the_verifier_refuses_a_revoked_sessions_token() {
    let (app, admin, _keys) = eddsa_app().await;
    let api = gatehouse_tests::oidc::register_client(
        &app,
        &admin,
        serde_json::json!({"id": "orders", "name": "Orders API",
            "redirect_uris": ["https://orders.example.com/cb"], "resource_server": true}),
    )
    .await;
    let secret = api["client_secret"].as_str().unwrap();
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let issuer = &app.settings.server.public_url;
    let audience = &app.settings.jwt.audience;
    let at_once = Verifier::builder(issuer, audience)
        .token_issuer(&app.settings.jwt.issuer)
        .introspection(Introspection::new("orders", secret).cache_for(Duration::ZERO))
        .build()
        .unwrap();
    let cached = Verifier::builder(issuer, audience)
        .token_issuer(&app.settings.jwt.issuer)
        .introspection(Introspection::new("orders", secret).cache_for(Duration::from_secs(600)))
        .build()
        .unwrap();
    let plain = verifier_of(&app);
    at_once.verify(&token).await.unwrap();
    cached.verify(&token).await.unwrap();

    let logout = app
        .bearer_send(reqwest::Method::POST, "/api/v1/auth/logout", &token, None)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(matches!(
        at_once.verify(&token).await,
        Err(Refusal::Invalid("revoked"))
    ));
    // Without introspection, or within the answer's cache, the signature alone still
    // stands until the token expires: as docs/resource-servers.md says.
    plain.verify(&token).await.unwrap();
    cached.verify(&token).await.unwrap();

    // A client gatehouse does not let introspect: the verifier cannot judge (503), and
    // lets nothing through.
    let stranger = Verifier::builder(issuer, audience)
        .token_issuer(&app.settings.jwt.issuer)
        .introspection(Introspection::new("orders", "wrong-secret"))
        .build()
        .unwrap();
    let other = app.login("ada@example.com").await;
    let refusal = stranger.verify(&other).await.unwrap_err();
    assert_eq!(refusal.status(), 503, "{refusal}");
}
