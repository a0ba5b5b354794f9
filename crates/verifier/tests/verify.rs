//! The verifier against a stand-in issuer (wiremock serving discovery and a key set) whose
//! tokens the tests sign with Ed25519 keys: what it accepts, what it refuses, how it
//! follows key rotation, and its actix-web and axum extractors' RFC 6750 answers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use gatehouse_verifier::{Authenticated, Refusal, Verifier, scope};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

scope!(OrdersRead = "orders:read");
scope!(OrdersWrite = "orders:write");

const AUDIENCE: &str = "https://orders.example.com";

/// A signing key of the stand-in issuer.
struct TestKey {
    kid: &'static str,
    signing: SigningKey,
}

impl TestKey {
    fn new(kid: &'static str, seed: u8) -> Self {
        Self {
            kid,
            signing: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    fn jwk(&self) -> Value {
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.signing.verifying_key().to_bytes());
        json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "alg": "EdDSA", "use": "sig"})
    }

    /// A token with `claims`, signed by this key, under header `typ`.
    fn sign(&self, claims: &Value, typ: &str) -> String {
        let pem = self
            .signing
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.into());
        header.typ = Some(typ.into());
        encode(
            &header,
            claims,
            &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The claims of a good token for `issuer`, holding `scope`.
fn claims(issuer: &str, scope: &str) -> Value {
    json!({
        "iss": issuer, "aud": AUDIENCE, "sub": "0193a3a0-8f2c-7c3e-9a51-3c2f5e8b1d47",
        "exp": now() + 300, "iat": now(), "nbf": now(), "jti": "j1", "sid": "s1",
        "scope": scope, "role": "user", "amr": ["pwd"],
    })
}

/// A stand-in issuer publishing `keys` (each fetch of the key set counted by wiremock).
async fn issuer(keys: &[&TestKey]) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": server.uri(),
            "jwks_uri": format!("{}/jwks", server.uri()),
        })))
        .mount(&server)
        .await;
    publish(&server, keys).await;
    server
}

async fn publish(server: &MockServer, keys: &[&TestKey]) {
    let keys: Vec<Value> = keys.iter().map(|key| key.jwk()).collect();
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
        .mount(server)
        .await;
}

async fn jwks_fetches(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == "/jwks")
        .count()
}

fn verifier(server: &MockServer) -> Verifier {
    Verifier::builder(server.uri(), AUDIENCE)
        .leeway(Duration::ZERO)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_good_token_is_accepted_and_says_who_and_what() {
    let key = TestKey::new("k1", 1);
    let server = issuer(&[&key]).await;
    let verifier = verifier(&server);
    let token = key.sign(&claims(&server.uri(), "orders:read me"), "at+jwt");
    let claims = verifier.verify(&token).await.unwrap();
    assert_eq!(claims.sub, "0193a3a0-8f2c-7c3e-9a51-3c2f5e8b1d47");
    assert_eq!(claims.aud, vec![AUDIENCE.to_owned()]);
    assert!(claims.has_scope("orders:read") && claims.has_scope("me"));
    assert!(!claims.has_scope("orders:write"));
    // Again: from the cache, no second fetch.
    verifier.verify(&token).await.unwrap();
    assert_eq!(jwks_fetches(&server).await, 1);
}

#[tokio::test]
async fn tokens_for_another_api_from_another_issuer_expired_early_forged_or_not_access_tokens_are_refused()
 {
    let key = TestKey::new("k1", 1);
    let server = issuer(&[&key]).await;
    let verifier = verifier(&server);
    let good = claims(&server.uri(), "orders:read");
    let refused = |why: &'static str| {
        move |result: Result<_, Refusal>| match result {
            Err(Refusal::Invalid(said)) => assert_eq!(said, why),
            other => panic!("{why}: {other:?}"),
        }
    };

    let mut other_api = good.clone();
    other_api["aud"] = json!("https://billing.example.com");
    refused("meant for another API")(verifier.verify(&key.sign(&other_api, "at+jwt")).await);
    let mut other_issuer = good.clone();
    other_issuer["iss"] = json!("https://elsewhere.example.com");
    refused("issued by someone else")(verifier.verify(&key.sign(&other_issuer, "at+jwt")).await);
    let mut expired = good.clone();
    expired["exp"] = json!(now() - 10);
    refused("expired")(verifier.verify(&key.sign(&expired, "at+jwt")).await);
    let mut early = good.clone();
    early["nbf"] = json!(now() + 120);
    refused("not valid yet")(verifier.verify(&key.sign(&early, "at+jwt")).await);
    // An ID token (typ JWT) is no access token.
    refused("not an access token")(verifier.verify(&key.sign(&good, "JWT")).await);
    // Signed by another key under the published key's id.
    let forger = TestKey::new("k1", 9);
    refused("bad signature")(verifier.verify(&forger.sign(&good, "at+jwt")).await);
    // A flipped bit in the payload.
    let token = key.sign(&good, "at+jwt");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!({"sub": "someone-else"})).unwrap());
    refused("bad signature")(verifier.verify(&parts.join(".")).await);
    refused("malformed token")(verifier.verify("not a token").await);
    // HS256 with the public key's bytes as the secret (algorithm confusion).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    header.typ = Some("at+jwt".into());
    let confused = encode(
        &header,
        &good,
        &EncodingKey::from_secret(&key.signing.verifying_key().to_bytes()),
    )
    .unwrap();
    refused("signed with another algorithm than its key's")(verifier.verify(&confused).await);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_made_up_keys_wait_for_the_floor() {
    let old = TestKey::new("k1", 1);
    let new = TestKey::new("k2", 2);
    let server = issuer(&[&old]).await;
    let verifier = verifier(&server);
    // Another verifier with no floor between fetches.
    let eager = Verifier::builder(server.uri(), AUDIENCE)
        .refetch_floor(Duration::ZERO)
        .build()
        .unwrap();
    let k1 = old.sign(&claims(&server.uri(), "me"), "at+jwt");
    verifier.verify(&k1).await.unwrap();
    eager.verify(&k1).await.unwrap();
    // The issuer rotates: the next fetch brings both keys.
    server.reset().await;
    let server_uri = server.uri();
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": server_uri, "jwks_uri": format!("{server_uri}/jwks"),
        })))
        .mount(&server)
        .await;
    publish(&server, &[&old, &new]).await;
    // Within the floor (30 s by default), a key the cache lacks is not fetched for.
    let rotated = new.sign(&claims(&server.uri(), "me"), "at+jwt");
    assert!(matches!(
        verifier.verify(&rotated).await,
        Err(Refusal::Invalid("signed by an unknown key"))
    ));
    assert_eq!(jwks_fetches(&server).await, 0);

    // With no floor, the unknown key is fetched for, once, by eight racing tokens.
    let results = futures_join(eager.clone(), rotated.clone()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(jwks_fetches(&server).await, 1);
    // A made-up key id, then: fetched for once more, and refused.
    let mut made_up = TestKey::new("k3", 3);
    made_up.kid = "nobody";
    assert!(matches!(
        eager
            .verify(&made_up.sign(&claims(&server.uri(), "me"), "at+jwt"))
            .await,
        Err(Refusal::Invalid("signed by an unknown key"))
    ));
    assert_eq!(jwks_fetches(&server).await, 2);
}

/// Eight verifications of `token` at once.
async fn futures_join(verifier: Verifier, token: String) -> Vec<Result<(), String>> {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move {
                verifier
                    .verify(&token)
                    .await
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test]
async fn an_unreachable_issuer_is_503_not_an_invalid_token() {
    let verifier = Verifier::builder("http://127.0.0.1:1", AUDIENCE)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let key = TestKey::new("k1", 1);
    let refusal = verifier
        .verify(&key.sign(&claims("http://127.0.0.1:1", "me"), "at+jwt"))
        .await
        .unwrap_err();
    assert_eq!(refusal.status(), 503);
    assert_eq!(refusal.challenge("orders"), None);
}

#[tokio::test]
async fn the_actix_web_extractor_answers_as_rfc_6750_says() {
    use actix_web::{App, test, web};

    async fn orders(caller: Authenticated<OrdersRead>) -> String {
        caller.sub.clone()
    }
    async fn write(_: Authenticated<(OrdersRead, OrdersWrite)>) -> &'static str {
        "written"
    }

    let key = TestKey::new("k1", 1);
    let server = issuer(&[&key]).await;
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier(&server).clone()))
            .route("/orders", web::get().to(orders))
            .route("/orders", web::post().to(write)),
    )
    .await;
    let token = key.sign(&claims(&server.uri(), "orders:read"), "at+jwt");

    let ok = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/orders")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request(),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let none = test::call_service(&app, test::TestRequest::get().uri("/orders").to_request()).await;
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers().get("www-authenticate").unwrap(),
        &format!("Bearer realm=\"{AUDIENCE}\"")
    );
    let forged = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/orders")
            .insert_header(("Authorization", "Bearer a.b.c"))
            .to_request(),
    )
    .await;
    assert_eq!(forged.status(), 401);
    let challenge = forged
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let short = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/orders")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request(),
    )
    .await;
    assert_eq!(short.status(), 403);
    let challenge = short
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\", scope=\"orders:write\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn the_axum_extractor_answers_as_rfc_6750_says() {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn orders(caller: Authenticated<OrdersRead>) -> String {
        caller.sub.clone()
    }
    async fn write(_: Authenticated<OrdersWrite>) -> &'static str {
        "written"
    }

    let key = TestKey::new("k1", 1);
    let server = issuer(&[&key]).await;
    let app = Router::new()
        .route("/orders", get(orders).post(write))
        .with_state(verifier(&server));
    let token = key.sign(&claims(&server.uri(), "orders:read"), "at+jwt");
    let call = |method: &str, auth: Option<String>| {
        let mut request = Request::builder().method(method).uri("/orders");
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        app.clone().oneshot(request.body(Body::empty()).unwrap())
    };

    let ok = call("GET", Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(ok.status(), 200);
    let none = call("GET", None).await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        format!("Bearer realm=\"{AUDIENCE}\"")
    );
    let short = call("POST", Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(short.status(), 403);
    let challenge = short.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("scope=\"orders:write\""), "{challenge}");
}

#[tokio::test]
async fn an_issuer_that_fails_is_asked_once_per_floor_and_says_nothing_of_why() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let verifier = verifier(&server);
    let key = TestKey::new("k1", 1);
    let token = key.sign(&claims(&server.uri(), "me"), "at+jwt");
    for _ in 0..3 {
        let refusal = verifier.verify(&token).await.unwrap_err();
        assert_eq!(refusal.status(), 503);
        assert!(!refusal.body().contains("500"), "{}", refusal.body());
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_oversized_key_set_is_refused() {
    let key = TestKey::new("k1", 1);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": server.uri(), "jwks_uri": format!("{}/jwks", server.uri()),
        })))
        .mount(&server)
        .await;
    let padding = "x".repeat(2 << 20);
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"keys": [key.jwk()], "padding": padding})),
        )
        .mount(&server)
        .await;
    let refusal = verifier(&server)
        .verify(&key.sign(&claims(&server.uri(), "me"), "at+jwt"))
        .await
        .unwrap_err();
    assert_eq!(refusal.status(), 503, "{refusal}");
}
