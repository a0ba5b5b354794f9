//! The authorization code flow with PKCE and gatehouse as an OpenID Connect provider:
//! clients, the authorization endpoint, the hosted sign-in, the code exchange, ID tokens,
//! discovery and userinfo — and each of their rules under attack.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use gatehouse_tests::oidc::{
    Agent, authorize_url, eddsa_app, input_value, pkce, query_of, register_client, spa,
};
use gatehouse_tests::{PASSWORD, TestApp};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

const CALLBACK: &str = "https://app.example.com/callback";

/// Everything a client keeps between sending the browser off and getting it back.
struct Pending {
    verifier: String,
    state: String,
    url: String,
}

fn request(app: &TestApp, client_id: &str, scope: &str) -> Pending {
    let (verifier, challenge) = pkce();
    let state = uuid::Uuid::new_v4().to_string();
    let url = authorize_url(
        app,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("scope", scope),
            ("state", &state),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    Pending {
        verifier,
        state,
        url,
    }
}

/// Signs `email` in through the hosted page and returns the code from the redirect,
/// having checked `state` and `iss`.
async fn code_for(app: &TestApp, agent: &mut Agent<'_>, pending: &Pending, email: &str) -> String {
    let location = agent.authorize(&pending.url, email).await;
    assert!(location.starts_with(CALLBACK), "{location}");
    let query = query_of(&location);
    assert_eq!(query["state"], pending.state);
    assert_eq!(query["iss"], app.settings.issuer());
    query["code"].clone()
}

async fn exchange(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/token"))
        .form(&[&[("grant_type", "authorization_code")], form].concat())
        .send()
        .await
        .unwrap()
}

async fn exchange_public(
    app: &TestApp,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    exchange(
        app,
        &[
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn oauth_error(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_spa_signs_in_with_code_and_pkce_and_gets_a_verified_id_token() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let pending = request(&app, "spa", "openid profile email me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;

    let response = exchange_public(&app, "spa", &code, &pending.verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["scope"], "me openid profile email");
    let access = tokens["access_token"].as_str().unwrap();
    let me = app.bearer_get("/api/v1/users/me", access).await;
    assert_eq!(me.status(), StatusCode::OK);

    // The ID token, checked against the JWKS document by a JWT library.
    let id_token = tokens["id_token"].as_str().unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["spa"]);
    validation.set_issuer(&[app.settings.issuer()]);
    let verified = jsonwebtoken::decode::<Value>(
        id_token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(verified["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(verified["email"], "ada@example.com");
    assert_eq!(verified["email_verified"], false);
    assert_eq!(verified["amr"], json!(["pwd"]));
    assert_eq!(verified["sub"], claims_of(access)["sub"]);
    assert!(verified["auth_time"].as_i64().unwrap() <= verified["iat"].as_i64().unwrap());
    // at_hash: the left half of the access token's SHA-512 (Ed25519), computed here.
    use sha2::Digest as _;
    let digest = sha2::Sha512::digest(access.as_bytes());
    assert_eq!(verified["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..32]));
    // An ID token is not an access token.
    let refused = app.bearer_get("/api/v1/users/me", id_token).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // Userinfo gives what the scopes allow.
    let info: Value = app
        .bearer_get("/oauth2/userinfo", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], verified["sub"]);
    assert_eq!(info["email"], "ada@example.com");

    // The refresh token works as after a password login, for its client.
    let refreshed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "spa"),
        ])
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

#[tokio::test]
async fn discovery_names_every_endpoint_under_the_issuer() {
    let (app, _, _keys) = eddsa_app().await;
    let response = app.get("/.well-known/openid-configuration").await;
    assert_eq!(response.status(), StatusCode::OK);
    let metadata: Value = response.json().await.unwrap();
    let issuer = app.settings.issuer();
    assert_eq!(metadata["issuer"], issuer);
    for (field, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/api/v1/auth/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(metadata[field], format!("{issuer}{path}"), "{field}");
    }
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    // What the Config OP checks read: request objects and `claims` are not supported (the
    // defaults of these say they are), and the prompts and response types served.
    for field in [
        "request_parameter_supported",
        "request_uri_parameter_supported",
        "claims_parameter_supported",
    ] {
        assert_eq!(metadata[field], false, "{field}");
    }
    assert_eq!(
        metadata["prompt_values_supported"],
        json!(["none", "login", "consent", "select_account"])
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(metadata["subject_types_supported"], json!(["public"]));
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        metadata["end_session_endpoint"],
        format!("{issuer}/oauth2/logout")
    );
}

#[tokio::test]
async fn public_clients_must_send_pkce_and_the_matching_verifier() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);

    // Without a challenge, or with `plain`, the request goes back with invalid_request.
    for extra in [
        vec![],
        vec![
            ("code_challenge", "x".repeat(43)),
            ("code_challenge_method", "plain".into()),
        ],
    ] {
        let mut params = vec![
            ("response_type", "code".to_owned()),
            ("client_id", "spa".into()),
            ("redirect_uri", CALLBACK.into()),
            ("state", "s1".into()),
        ];
        params.extend(extra);
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = agent.get(&authorize_url(&app, &params)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = response.headers()[LOCATION].to_str().unwrap();
        let query = query_of(location);
        assert!(location.starts_with(CALLBACK));
        assert_eq!(query["error"], "invalid_request");
        assert_eq!(query["state"], "s1");
        assert!(!query.contains_key("code"));
    }

    // A wrong verifier, then a missing one: each spends its code.
    let pending = request(&app, "spa", "me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;
    let (other_verifier, _) = pkce();
    let wrong = exchange_public(&app, "spa", &code, &other_verifier).await;
    assert_eq!(
        oauth_error(wrong).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let again = exchange_public(&app, "spa", &code, &pending.verifier).await;
    assert_eq!(
        oauth_error(again).await.1,
        "invalid_grant",
        "the code is spent"
    );

    let pending = request(&app, "spa", "me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;
    let missing = exchange(
        &app,
        &[
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", "spa"),
        ],
    )
    .await;
    assert_eq!(oauth_error(missing).await.1, "invalid_grant");
}

#[tokio::test]
async fn a_replayed_code_revokes_the_session_it_opened() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let pending = request(&app, "spa", "me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;
    let tokens: Value = exchange_public(&app, "spa", &code, &pending.verifier)
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::OK
    );

    let replay = exchange_public(&app, "spa", &code, &pending.verifier).await;
    assert_eq!(
        oauth_error(replay).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "spa"),
        ])
        .await;
    assert_eq!(oauth_error(refresh).await.1, "invalid_grant");
    let audit = app.audited("authorization_code_replayed").await;
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn of_concurrent_exchanges_of_one_code_none_leaves_a_live_session() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let pending = request(&app, "spa", "me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;

    let answers =
        join_all((0..8).map(|_| exchange_public(&app, "spa", &code, &pending.verifier))).await;
    let mut issued = Vec::new();
    for answer in answers {
        match answer.status() {
            StatusCode::OK => issued.push(answer.json::<Value>().await.unwrap()),
            StatusCode::BAD_REQUEST => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(issued.len() <= 1, "at most one exchange succeeds");
    // The others were replays: whatever the winner got is revoked.
    for tokens in issued {
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(
            app.bearer_get("/api/v1/users/me", access).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let live = app.live_sessions_of("spa").await;
    assert_eq!(live, 0);
}

#[tokio::test]
async fn redirect_uris_match_exactly_and_bad_requests_never_redirect_elsewhere() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let (_, challenge) = pkce();
    for (client_id, redirect_uri) in [
        ("spa", "https://evil.test/callback"),
        ("spa", "https://app.example.com/callback/../evil"),
        (
            "spa",
            "https://app.example.com/callback?next=https://evil.test",
        ),
        ("spa", "https://app.example.com.evil.test/callback"),
        ("spa", "//evil.test/callback"),
        ("spa", ""),
        ("nobody", CALLBACK),
    ] {
        let url = authorize_url(
            &app,
            &[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let response = agent.get(&url).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{redirect_uri}");
        assert!(response.headers().get(LOCATION).is_none());
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    // A repeated redirect_uri is not trusted either.
    let url = format!(
        "{}&redirect_uri=https%3A%2F%2Fevil.test%2F",
        request(&app, "spa", "me").url
    );
    assert_eq!(agent.get(&url).await.status(), StatusCode::BAD_REQUEST);

    // The sign-in page returns only to our own pages, whatever `return_to` says.
    for hostile in [
        "https://evil.test/",
        "//evil.test",
        "/\\evil.test",
        "/signin?x",
    ] {
        let page = agent
            .get(&format!("/signin?return_to={}", urlencode(hostile)))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(input_value(&page, "return_to").as_deref(), Some("/account"));
    }

    // The exchange must name the same redirect URI.
    let pending = request(&app, "spa", "me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;
    let response = exchange(
        &app,
        &[
            ("code", &code),
            ("redirect_uri", "https://app.example.com/other"),
            ("client_id", "spa"),
            ("code_verifier", &pending.verifier),
        ],
    )
    .await;
    assert_eq!(oauth_error(response).await.1, "invalid_grant");
}

fn urlencode(text: &str) -> String {
    gatehouse_tests::oidc::form_body(&[("x", text)])[2..].to_owned()
}

#[tokio::test]
async fn a_code_is_bound_to_its_client() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    register_client(&app, &admin, spa("other", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let pending = request(&app, "spa", "me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;
    let foreign = exchange_public(&app, "other", &code, &pending.verifier).await;
    assert_eq!(oauth_error(foreign).await.1, "invalid_grant");
    let unknown = exchange_public(&app, "nobody", &code, &pending.verifier).await;
    assert_eq!(
        oauth_error(unknown).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
}

#[tokio::test]
async fn a_code_for_a_user_deactivated_since_is_refused() {
    let (app, admin, _keys) = eddsa_app().await;
    let ada = app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let pending = request(&app, "spa", "me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;
    let response = app
        .bearer_send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", ada["id"].as_str().unwrap()),
            &admin,
            Some(&json!({"is_active": false})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refused = exchange_public(&app, "spa", &code, &pending.verifier).await;
    assert_eq!(oauth_error(refused).await.1, "invalid_grant");
}

/// A code for the confidential client `backend`, asked for without PKCE.
async fn code_without_pkce(app: &TestApp, agent: &mut Agent<'_>) -> String {
    let url = authorize_url(
        app,
        &[
            ("response_type", "code"),
            ("client_id", "backend"),
            ("redirect_uri", CALLBACK),
            ("scope", "me"),
        ],
    );
    let location = agent.authorize(&url, "ada@example.com").await;
    query_of(&location)["code"].clone()
}

#[tokio::test]
async fn confidential_clients_authenticate_with_their_secret() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    let registered = register_client(
        &app,
        &admin,
        json!({"id": "backend", "name": "Backend", "redirect_uris": [CALLBACK], "first_party": true}),
    )
    .await;
    let secret = registered["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(registered["type"], "confidential");
    // Only its digest is stored.
    let stored = app.stored_client_secret("backend").await;
    assert_ne!(stored, secret);
    assert_eq!(stored.len(), 64);

    let mut agent = Agent::new(&app);
    // A wrong secret: 401 with the Basic challenge.
    let code = code_without_pkce(&app, &mut agent).await;
    let wrong = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .basic_auth("backend", Some("not-the-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"gatehouse\""
    );
    // client_secret_basic and client_secret_post both work.
    let code = code_without_pkce(&app, &mut agent).await;
    let basic = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .basic_auth("backend", Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    let code = code_without_pkce(&app, &mut agent).await;
    let post = exchange(
        &app,
        &[
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", "backend"),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(post.status(), StatusCode::OK);
    // A public client may not pretend to have a secret, nor a confidential one omit it.
    let code = code_without_pkce(&app, &mut agent).await;
    let no_secret = exchange(
        &app,
        &[
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", "backend"),
        ],
    )
    .await;
    assert_eq!(oauth_error(no_secret).await.1, "invalid_client");
}

#[tokio::test]
async fn third_party_clients_ask_for_consent() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    let mut third = spa("partner", CALLBACK);
    third["first_party"] = json!(false);
    register_client(&app, &admin, third).await;
    let mut agent = Agent::new(&app);
    let pending = request(&app, "partner", "openid email");
    // Sign in; the way back to the authorization endpoint ends on the consent page.
    let first = agent.get(&pending.url).await;
    let location = first.headers()[LOCATION].to_str().unwrap().to_owned();
    let signed_in = agent
        .sign_in_at(&location, "ada@example.com", PASSWORD)
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let back = signed_in.headers()[LOCATION].to_str().unwrap().to_owned();
    let consent = agent.get(&back).await;
    assert_eq!(consent.status(), StatusCode::OK);
    let html = consent.text().await.unwrap();
    assert!(html.contains("App partner"));
    assert!(html.contains("(email)"), "the scopes are listed");
    let csrf = input_value(&html, "csrf").unwrap();
    let fields: HashMap<&str, String> = [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
    ]
    .into_iter()
    .filter_map(|name| input_value(&html, name).map(|value| (name, value)))
    .collect();
    let form = |decision: &'static str| {
        let mut pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.push(("csrf", &csrf));
        pairs.push(("decision", decision));
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>()
    };
    // Without the CSRF token nothing happens.
    let mut forged = form("allow");
    forged.retain(|(k, _)| k != "csrf");
    let forged: Vec<(&str, &str)> = forged
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let refused = agent.post_form("/oauth2/consent", &forged).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let deny = form("deny");
    let deny: Vec<(&str, &str)> = deny.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let denied = agent.post_form("/oauth2/consent", &deny).await;
    let query = query_of(denied.headers()[LOCATION].to_str().unwrap());
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], pending.state);

    let allow = form("allow");
    let allow: Vec<(&str, &str)> = allow
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let allowed = agent.post_form("/oauth2/consent", &allow).await;
    let query = query_of(allowed.headers()[LOCATION].to_str().unwrap());
    let tokens = exchange_public(&app, "partner", &query["code"], &pending.verifier).await;
    assert_eq!(tokens.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_sign_in_form_needs_its_csrf_token_and_sets_a_strict_cookie() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let mut agent = Agent::new(&app);
    let page = agent.get("/signin").await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script"), "no script at all");
    assert!(html.contains("<label for=\"email\">"), "labelled fields");
    let csrf = input_value(&html, "csrf").unwrap();

    for token in ["", "x", &"A".repeat(43)] {
        let response = agent
            .post_form(
                "/signin",
                &[
                    ("csrf", token),
                    ("return_to", "/account"),
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{token}");
        assert!(response.headers().get("set-cookie").is_none());
    }
    let response = agent
        .post_form(
            "/signin",
            &[
                ("csrf", &csrf),
                ("return_to", "/account"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("gatehouse-session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP in tests: no Secure flag"
    );
    // The cookie's value is stored only as a digest, and is no refresh token.
    let value = agent.cookies["gatehouse-session"].clone();
    let stored = app.browser_sessions().await.0;
    assert_eq!(stored, 1);
    let refresh = app.refresh(&value, None).await;
    assert_eq!(oauth_error(refresh).await.1, "invalid_grant");
    let account = agent.get("/account").await;
    assert_eq!(account.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_ends_the_browser_session() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let mut agent = Agent::new(&app);
    let signed_in = agent
        .sign_in_at("/signin", "ada@example.com", PASSWORD)
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(agent.get("/account").await.status(), StatusCode::OK);
    let token = app.login("ada@example.com").await;
    let changed = app
        .bearer_send(
            reqwest::Method::PUT,
            "/api/v1/users/me/password",
            &token,
            Some(&json!({"current_password": PASSWORD, "new_password": "a whole new passphrase"})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let account = agent.get("/account").await;
    assert_eq!(account.status(), StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn hosted_sign_in_is_throttled_with_the_password_grant_under_a_burst() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let limit = app.settings.auth.login_failures_per_account as usize;
    // One page per attempt, so every attempt has a valid CSRF token.
    let mut agents: Vec<Agent<'_>> = (0..limit * 3).map(|_| Agent::new(&app)).collect();
    let mut forms = Vec::new();
    for agent in &mut agents {
        let html = agent.get("/signin").await.text().await.unwrap();
        forms.push(input_value(&html, "csrf").unwrap());
    }
    let answers = join_all(
        agents
            .iter_mut()
            .zip(&forms)
            .map(|(agent, csrf)| async move {
                agent
                    .post_form(
                        "/signin",
                        &[
                            ("csrf", csrf),
                            ("return_to", "/account"),
                            ("email", "ada@example.com"),
                            ("password", "wrong horse battery"),
                        ],
                    )
                    .await
            }),
    )
    .await;
    let throttled = answers
        .iter()
        .filter(|answer| answer.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        throttled >= limit * 2,
        "{throttled} of {} throttled",
        limit * 3
    );
    let verified = app.audited("login_failed").await;
    assert!(verified as usize <= limit, "{verified} passwords verified");
    // The password grant shares the lock.
    let grant = app.login_response("ada@example.com", PASSWORD).await;
    assert_eq!(grant.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_an_asymmetric_key_openid_is_refused_but_the_code_flow_works() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let openid = request(&app, "spa", "openid");
    let response = agent.get(&openid.url).await;
    let query = query_of(response.headers()[LOCATION].to_str().unwrap());
    assert_eq!(query["error"], "invalid_scope");
    let pending = request(&app, "spa", "me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;
    let tokens: Value = exchange_public(&app, "spa", &code, &pending.verifier)
        .await
        .json()
        .await
        .unwrap();
    assert!(tokens.get("id_token").is_none());
    let metadata: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["id_token_signing_alg_values_supported"], json!([]));
}

#[tokio::test]
async fn clients_are_managed_by_admins_only() {
    let (app, admin, _keys) = eddsa_app().await;
    let user = {
        app.register_ok("ada@example.com").await;
        app.login("ada@example.com").await
    };
    let forbidden = app
        .client
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&user)
        .json(&spa("spa", CALLBACK))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let taken = app
        .client
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&admin)
        .json(&spa("spa", CALLBACK))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    for bad in [
        json!({"id": "a b", "name": "x", "redirect_uris": [CALLBACK]}),
        json!({"id": "ok", "name": "x", "redirect_uris": []}),
        json!({"id": "ok", "name": "x", "redirect_uris": ["http://app.example.com/cb"]}),
        json!({"id": "ok", "name": "x", "redirect_uris": ["https://app.example.com/cb#frag"]}),
        json!({"id": "ok", "name": " ", "redirect_uris": [CALLBACK]}),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/clients"))
            .bearer_auth(&admin)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let listed: Value = app
        .bearer_get("/api/v1/clients", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Removing a client ends its sessions at once.
    let mut agent = Agent::new(&app);
    let pending = request(&app, "spa", "me");
    let code = code_for(&app, &mut agent, &pending, "ada@example.com").await;
    let tokens: Value = exchange_public(&app, "spa", &code, &pending.verifier)
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let removed = app
        .bearer_send(reqwest::Method::DELETE, "/api/v1/clients/spa", &admin, None)
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.bearer_get("/api/v1/clients/spa", &admin).await.status(),
        StatusCode::NOT_FOUND
    );
}

/// Tokens for `ada` from the SPA `spa` (scope `openid me`).
async fn spa_tokens(app: &TestApp, agent: &mut Agent<'_>) -> Value {
    let pending = request(app, "spa", "openid me");
    let code = code_for(app, agent, &pending, "ada@example.com").await;
    let response = exchange_public(app, "spa", &code, &pending.verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn revoke(app: &TestApp, client_id: &str, token: &str) -> StatusCode {
    app.client
        .post(app.url("/oauth2/revoke"))
        .form(&[("token", token), ("client_id", client_id)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn introspection_tells_live_tokens_and_revocation_ends_them() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    register_client(&app, &admin, spa("other", CALLBACK)).await;
    let api = register_client(
        &app,
        &admin,
        json!({"id": "api", "name": "Resource server", "redirect_uris": [CALLBACK], "resource_server": true}),
    )
    .await;
    let secret = api["client_secret"].as_str().unwrap();
    let mut agent = Agent::new(&app);
    let tokens = spa_tokens(&app, &mut agent).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let answer: Value = introspect(&app, "api", secret, access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "spa");
    assert_eq!(answer["scope"], "me openid");
    // No `email` scope, no email.
    assert_eq!(answer.get("username"), None);
    assert_eq!(answer["token_type"], "access_token");
    let answer: Value = introspect(&app, "api", secret, refresh)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "refresh_token");
    let forged = "A".repeat(43);
    for junk in ["junk", &forged, tokens["id_token"].as_str().unwrap()] {
        let answer: Value = introspect(&app, "api", secret, junk)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer, json!({"active": false}), "{junk}");
    }
    // Public clients may not introspect; wrong secrets neither.
    let public = app
        .client
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", access), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        introspect(&app, "api", "wrong", access).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Another client's revocation changes nothing (and says nothing).
    assert_eq!(revoke(&app, "other", refresh).await, StatusCode::OK);
    let answer: Value = introspect(&app, "api", secret, access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true);
    // A control character in any field, even the hint, is refused and revokes nothing.
    for (field, value) in [("token_type_hint", "\u{84}"), ("token_type_hint", "a\nb")] {
        let refused = app
            .client
            .post(app.url("/oauth2/revoke"))
            .form(&[("token", refresh), ("client_id", "spa"), (field, value)])
            .send()
            .await
            .unwrap();
        assert_eq!(oauth_error(refused).await.1, "invalid_request", "{value:?}");
    }
    let with_control = format!("{refresh}\u{7f}");
    assert_eq!(
        revoke(&app, "spa", &with_control).await,
        StatusCode::BAD_REQUEST
    );
    let answer: Value = introspect(&app, "api", secret, access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true);
    // The client's own ends the session: every token of it.
    assert_eq!(revoke(&app, "spa", refresh).await, StatusCode::OK);
    let answer: Value = introspect(&app, "api", secret, access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer, json!({"active": false}));
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Revoking again, or a token that never was, is still 200.
    assert_eq!(revoke(&app, "spa", refresh).await, StatusCode::OK);
    assert_eq!(revoke(&app, "spa", "never-issued").await, StatusCode::OK);
}

#[tokio::test]
async fn a_code_sessions_refresh_token_works_only_for_its_client() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    register_client(&app, &admin, spa("other", CALLBACK)).await;
    let mut agent = Agent::new(&app);

    let tokens = spa_tokens(&app, &mut agent).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let own = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "spa"),
        ])
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    let next: Value = own.json().await.unwrap();

    // Presented by another client, or by none, it is taken for stolen: the session ends.
    let stolen = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", next["refresh_token"].as_str().unwrap()),
            ("client_id", "other"),
        ])
        .await;
    assert_eq!(oauth_error(stolen).await.1, "invalid_grant");
    assert_eq!(
        app.bearer_get("/api/v1/users/me", next["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let tokens = spa_tokens(&app, &mut agent).await;
    let anonymous = app
        .refresh(tokens["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(oauth_error(anonymous).await.1, "invalid_grant");
}

#[tokio::test]
async fn rp_initiated_logout_signs_the_browser_out_and_returns_only_to_registered_uris() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    let mut client = spa("spa", CALLBACK);
    client["post_logout_redirect_uris"] = json!(["https://app.example.com/bye"]);
    register_client(&app, &admin, client).await;
    let mut agent = Agent::new(&app);
    let tokens = spa_tokens(&app, &mut agent).await;
    let hint = tokens["id_token"].as_str().unwrap();
    assert_eq!(agent.get("/account").await.status(), StatusCode::OK);

    // An unregistered destination: refused on a page, nothing redirected, still signed in.
    let query = gatehouse_tests::oidc::form_body(&[
        ("id_token_hint", hint),
        ("post_logout_redirect_uri", "https://evil.test/"),
    ]);
    let refused = agent.get(&format!("/oauth2/logout?{query}")).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.headers().get(LOCATION).is_none());
    assert_eq!(agent.get("/account").await.status(), StatusCode::OK);

    // Without a hint, the person confirms first.
    let confirm = agent.get("/oauth2/logout").await;
    assert_eq!(confirm.status(), StatusCode::OK);
    assert_eq!(agent.get("/account").await.status(), StatusCode::OK);

    // With the hint: signed out at once, and back to the registered URI with the state.
    let query = gatehouse_tests::oidc::form_body(&[
        ("id_token_hint", hint),
        ("post_logout_redirect_uri", "https://app.example.com/bye"),
        ("state", "bye-1"),
    ]);
    let out = agent.get(&format!("/oauth2/logout?{query}")).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        out.headers()[LOCATION],
        "https://app.example.com/bye?state=bye-1"
    );
    assert_eq!(agent.get("/account").await.status(), StatusCode::SEE_OTHER);
    let live = app.browser_sessions().await.1;
    assert_eq!(live, 0);
}

#[tokio::test]
async fn swagger_uis_built_in_client_runs_the_code_flow_and_cannot_be_replaced() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    let document: Value = app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let flows = &document["components"]["securitySchemes"]["oauth2"]["flows"];
    assert_eq!(
        flows["authorizationCode"]["authorizationUrl"],
        "/oauth2/authorize"
    );
    assert_eq!(flows["authorizationCode"]["tokenUrl"], "/api/v1/auth/token");
    assert!(flows["password"].is_object(), "the password flow stays");

    // Swagger UI redirects to its own page on whatever port the server has.
    let redirect = format!("{}/swagger-ui/oauth2-redirect.html", app.address);
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "swagger-ui"),
            ("redirect_uri", &redirect),
            ("scope", "me"),
            ("state", "sw"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let mut agent = Agent::new(&app);
    let location = agent.authorize(&url, "ada@example.com").await;
    assert!(location.starts_with(&redirect), "{location}");
    let code = query_of(&location)["code"].clone();
    let tokens = exchange(
        &app,
        &[
            ("code", &code),
            ("redirect_uri", &redirect),
            ("client_id", "swagger-ui"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(tokens.status(), StatusCode::OK);

    let taken = app
        .client
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&admin)
        .json(&spa("swagger-ui", CALLBACK))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let removed = app
        .bearer_send(
            reqwest::Method::DELETE,
            "/api/v1/clients/swagger-ui",
            &admin,
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_registrations_of_one_client_id_create_exactly_one_client() {
    let (app, admin, _keys) = eddsa_app().await;
    let answers = join_all((0..8).map(|i| {
        let mut client = spa("racer", CALLBACK);
        client["name"] = json!(format!("Racer {i}"));
        app.client
            .post(app.url("/api/v1/clients"))
            .bearer_auth(&admin)
            .json(&client)
            .send()
    }))
    .await;
    let statuses: Vec<StatusCode> = answers.into_iter().map(|a| a.unwrap().status()).collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(app.stored_clients("racer").await, 1);
}

#[tokio::test]
async fn a_revocation_racing_refreshes_leaves_no_live_token() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let tokens = spa_tokens(&app, &mut agent).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refreshes = join_all((0..6).map(|_| async {
        app.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "spa"),
        ])
        .await
    }));
    let (answers, revoked) = futures::join!(refreshes, revoke(&app, "spa", refresh));
    assert_eq!(revoked, StatusCode::OK);
    // Whatever won the race, nothing it issued still works: the session is over.
    for answer in answers {
        if answer.status() == StatusCode::OK {
            let body: Value = answer.json().await.unwrap();
            let access = body["access_token"].as_str().unwrap();
            let next = body["refresh_token"].as_str().unwrap();
            let status = app.bearer_get("/api/v1/users/me", access).await.status();
            let again = app
                .token(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", next),
                    ("client_id", "spa"),
                ])
                .await
                .status();
            // A refresh that won before the revocation saw its session end with it; one
            // that lost got nothing. Either way the tokens are dead now.
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(again, StatusCode::BAD_REQUEST);
        }
    }
    let live = app.live_sessions_of("spa").await;
    assert_eq!(live, 0);
}

#[tokio::test]
async fn revoking_a_refresh_token_rotated_meanwhile_still_ends_its_session() {
    let (app, admin, _keys) = eddsa_app().await;
    app.register_ok("ada@example.com").await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let tokens = spa_tokens(&app, &mut agent).await;
    let old = tokens["refresh_token"].as_str().unwrap();
    // A refresh (another tab, say) rotates the token just before the app logs out with
    // the one it held.
    let rotated: Value = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", old),
            ("client_id", "spa"),
        ])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoke(&app, "spa", old).await, StatusCode::OK);
    let access = rotated["access_token"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::UNAUTHORIZED,
        "the logout ended the session the rotated token belonged to"
    );
    // Another client presenting the same old token changes nothing of someone else's.
    let tokens = spa_tokens(&app, &mut agent).await;
    register_client(&app, &admin, spa("other", CALLBACK)).await;
    assert_eq!(
        revoke(&app, "other", tokens["refresh_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(
        app.bearer_get("/api/v1/users/me", tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}
