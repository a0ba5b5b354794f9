//! The device authorization grant (RFC 8628) through HTTP, on SQLite and PostgreSQL: a
//! device's codes, its person's decision on the hosted page (signed in, CSRF-protected),
//! and its polls answered `authorization_pending`, `slow_down`, `access_denied`,
//! `expired_token` or tokens, once, also when polls race; wrong user codes are bounded per
//! network.

use std::sync::Arc;

use futures::future::join_all;
use gatehouse_tests::oidc::{Agent, input_value, register_client};
use gatehouse_tests::{ManualClock, PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// An app whose clock the test moves, an admin, Ada, and the device clients: `tv` (a
/// third-party public app) and `console` (first-party), both allowed the grant, and `web`,
/// which is not.
async fn setup() -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    let root = app.admin_token("root@example.com").await;
    for client in [
        json!({"id": "tv", "name": "Living room TV", "public": true, "device_code": true}),
        json!({"id": "console", "name": "Console", "public": true, "device_code": true, "first_party": true}),
        json!({"id": "web", "name": "Web", "public": true, "redirect_uris": ["https://web.example.com/cb"]}),
    ] {
        let registered = register_client(&app, &root, client).await;
        assert_eq!(registered["device_code"], registered["id"] != "web");
    }
    app.register_ok("ada@example.com").await;
    (app, clock)
}

async fn begin(app: &TestApp, client: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![("client_id", client)];
    form.extend(scope.map(|scope| ("scope", scope)));
    app.client
        .post(app.url("/oauth2/device_authorization"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn begun(app: &TestApp, client: &str, scope: Option<&str>) -> Value {
    let response = begin(app, client, scope).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn poll(app: &TestApp, client: &str, device_code: &str) -> (StatusCode, Value) {
    let response = app
        .token(&[
            ("grant_type", GRANT),
            ("device_code", device_code),
            ("client_id", client),
        ])
        .await;
    (response.status(), response.json().await.unwrap())
}

fn error_of(answer: &(StatusCode, Value)) -> (StatusCode, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or("none"))
}

/// A browser signed in as Ada.
async fn ada(app: &TestApp) -> Agent<'_> {
    let mut agent = Agent::new(app);
    let response = agent
        .sign_in_at("/signin", "ada@example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    agent
}

/// Enters `code` on the device page; returns the answer and the page's CSRF token.
async fn enter(agent: &mut Agent<'_>, code: &str) -> (StatusCode, String) {
    let page = agent.get("/device").await;
    let csrf = input_value(&page.text().await.unwrap(), "csrf").unwrap();
    let response = agent
        .post_form("/device", &[("csrf", &csrf), ("user_code", code)])
        .await;
    (response.status(), response.text().await.unwrap())
}

/// Enters `code` and answers `decision` (`allow` or `deny`).
async fn decide(agent: &mut Agent<'_>, code: &str, decision: &str) -> StatusCode {
    let (status, html) = enter(agent, code).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let csrf = input_value(&html, "csrf").unwrap();
    let code = input_value(&html, "user_code").unwrap();
    agent
        .post_form(
            "/device/decide",
            &[
                ("csrf", &csrf),
                ("user_code", &code),
                ("decision", decision),
            ],
        )
        .await
        .status()
}

#[tokio::test]
async fn a_device_gets_tokens_once_after_its_person_allows_it_on_the_page() {
    let (app, clock) = setup().await;
    let start = begun(&app, "tv", Some("todos:read")).await;
    let user_code = start["user_code"].as_str().unwrap();
    let letters: String = user_code.chars().filter(|c| *c != '-').collect();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(letters.chars().all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    let page = format!("{}/device", app.settings.server.public_url);
    assert_eq!(start["verification_uri"], page.as_str());
    assert_eq!(
        start["verification_uri_complete"],
        format!("{page}?user_code={user_code}").as_str()
    );
    assert_eq!(
        (start["expires_in"].as_i64(), start["interval"].as_i64()),
        (Some(600), Some(5))
    );
    let device_code = start["device_code"].as_str().unwrap();

    // Before the person decides; then too soon, which lengthens the interval by 5 s.
    assert_eq!(
        error_of(&poll(&app, "tv", device_code).await),
        (StatusCode::BAD_REQUEST, "authorization_pending")
    );
    assert_eq!(
        error_of(&poll(&app, "tv", device_code).await),
        (StatusCode::BAD_REQUEST, "slow_down")
    );
    clock.advance(chrono::Duration::seconds(6));
    assert_eq!(
        error_of(&poll(&app, "tv", device_code).await),
        (StatusCode::BAD_REQUEST, "slow_down"),
        "the interval is 10 s after one slow_down"
    );
    clock.advance(chrono::Duration::seconds(16));
    assert_eq!(
        error_of(&poll(&app, "tv", device_code).await),
        (StatusCode::BAD_REQUEST, "authorization_pending")
    );

    // A browser without a session signs in first, and comes back to the code.
    let mut stranger = Agent::new(&app);
    let complete = start["verification_uri_complete"].as_str().unwrap();
    let redirect = stranger.get(complete).await;
    assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/signin?return_to=%2Fdevice%3Fuser_code%3D"),
        "{location}"
    );
    let signed_in = stranger
        .sign_in_at(&location, "ada@example.com", PASSWORD)
        .await;
    let back = signed_in.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with("/device?user_code="), "{back}");
    let form = stranger.get(&back).await.text().await.unwrap();
    assert!(form.contains(&format!("value=\"{user_code}\"")), "{form}");

    // The person enters it in lower case without its dash, sees who asks for what, allows.
    let mut agent = ada(&app).await;
    let (status, html) = enter(&mut agent, &letters.to_lowercase()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Living room TV") && html.contains("Read your todos"),
        "{html}"
    );
    assert_eq!(decide(&mut agent, user_code, "allow").await, StatusCode::OK);

    clock.advance(chrono::Duration::seconds(16));
    let (status, tokens) = poll(&app, "tv", device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "todos:read");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/v1/todos", access).await.status(),
        StatusCode::OK
    );
    assert!(tokens["refresh_token"].is_string());
    let refreshed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "tv"),
        ])
        .await;
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "{:?}",
        refreshed.text().await
    );

    // The device code is spent; the user code leads nowhere any more.
    clock.advance(chrono::Duration::seconds(16));
    assert_eq!(
        error_of(&poll(&app, "tv", device_code).await),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let (status, html) = enter(&mut agent, user_code).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("unknown, expired or already used"), "{html}");
    assert_eq!(app.audited("device_approved").await, 1);
}

#[tokio::test]
async fn denial_expiry_other_clients_and_scopes_are_answered_as_rfc_8628_says() {
    let (app, clock) = setup().await;
    let mut agent = ada(&app).await;

    // Denied: access_denied, and so on until it expires.
    let denied = begun(&app, "console", None).await;
    let code = denied["user_code"].as_str().unwrap();
    assert_eq!(decide(&mut agent, code, "deny").await, StatusCode::OK);
    let device_code = denied["device_code"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&app, "console", device_code).await),
        (StatusCode::BAD_REQUEST, "access_denied")
    );
    assert_eq!(app.audited("device_denied").await, 1);

    // Another client's device code, an unknown one, none at all.
    let other = begun(&app, "console", Some("me")).await;
    let other_code = other["device_code"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&app, "tv", other_code).await),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(
        error_of(&poll(&app, "console", &"A".repeat(43)).await),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let missing = app
        .token(&[("grant_type", GRANT), ("client_id", "console")])
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );

    // Expired: expired_token; the page no longer knows the code.
    clock.advance(chrono::Duration::seconds(601));
    assert_eq!(
        error_of(&poll(&app, "console", other_code).await),
        (StatusCode::BAD_REQUEST, "expired_token")
    );
    let (_, html) = enter(&mut agent, other["user_code"].as_str().unwrap()).await;
    assert!(html.contains("unknown, expired or already used"));

    // Who may begin, and what a third-party device may ask for.
    let refused = begin(&app, "web", None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    for (client, scope, error) in [
        ("tv", "me", "invalid_scope"),
        ("tv", "root", "invalid_scope"),
        ("nobody", "todos:read", "invalid_client"),
    ] {
        let response = begin(&app, client, Some(scope)).await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{client} {scope}");
    }
    let admin_scope = begun(&app, "console", Some("users:read")).await;
    let (status, html) = enter(&mut agent, admin_scope["user_code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");

    // The discovery document names the endpoint and the grant.
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["device_authorization_endpoint"],
        format!(
            "{}/oauth2/device_authorization",
            app.settings.server.public_url
        )
        .as_str()
    );
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT))
    );
}

#[tokio::test]
async fn racing_polls_of_an_approved_code_get_one_token_pair_and_of_a_pending_one_one_pending() {
    let (app, _clock) = setup().await;
    let start = begun(&app, "console", Some("me")).await;
    let device_code = start["device_code"].as_str().unwrap();

    // Pending: of ten polls at once, one counts; the others were too soon.
    let raced = join_all((0..10).map(|_| poll(&app, "console", device_code))).await;
    let errors: Vec<_> = raced.iter().map(error_of).collect();
    let pending = errors
        .iter()
        .filter(|e| **e == (StatusCode::BAD_REQUEST, "authorization_pending"))
        .count();
    let slow = errors
        .iter()
        .filter(|e| **e == (StatusCode::BAD_REQUEST, "slow_down"))
        .count();
    assert_eq!((pending, slow), (1, 9), "{errors:?}");

    let mut agent = ada(&app).await;
    assert_eq!(
        decide(&mut agent, start["user_code"].as_str().unwrap(), "allow").await,
        StatusCode::OK
    );
    let sessions_before = app.live_sessions_of("console").await;
    let raced = join_all((0..10).map(|_| poll(&app, "console", device_code))).await;
    let issued = raced.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(issued, 1, "{raced:?}");
    assert!(
        raced
            .iter()
            .all(|(status, body)| *status == StatusCode::OK || body["error"] == "invalid_grant")
    );
    assert_eq!(app.live_sessions_of("console").await, sessions_before + 1);
}

#[tokio::test]
async fn the_page_takes_no_decision_without_its_csrf_token_and_wrong_codes_are_bounded() {
    let (app, _clock) = setup().await;
    let start = begun(&app, "console", Some("me")).await;
    let code = start["user_code"].as_str().unwrap();
    let device_code = start["device_code"].as_str().unwrap();
    let mut agent = ada(&app).await;

    let forged = agent
        .post_form(
            "/device/decide",
            &[
                ("csrf", &"A".repeat(43)),
                ("user_code", code),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        error_of(&poll(&app, "console", device_code).await),
        (StatusCode::BAD_REQUEST, "authorization_pending")
    );

    // The right code, many times: each gives its count back.
    for _ in 0..12 {
        let (status, html) = enter(&mut agent, code).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("/device/decide"));
    }

    // Thirty wrong codes at once from one network: ten are looked up, then 429.
    let page = agent.get("/device").await;
    let csrf = input_value(&page.text().await.unwrap(), "csrf").unwrap();
    let cookies = agent.cookies.clone();
    let guesses = (0..30).map(|i| {
        let (app, csrf, cookies) = (&app, csrf.clone(), cookies.clone());
        async move {
            let guess = format!("BCDF-{}", ["GHJK", "GHJL", "GHJM"][i % 3]);
            let mut guesser = Agent::new(app);
            guesser.cookies = cookies;
            guesser
                .post_form("/device", &[("csrf", &csrf), ("user_code", &guess)])
                .await
                .status()
        }
    });
    let statuses = join_all(guesses).await;
    let looked_up = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((looked_up, throttled), (10, 20), "{statuses:?}");
    // Now even the right code waits, and nothing was decided.
    let (status, _) = enter(&mut agent, code).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        error_of(&poll(&app, "console", device_code).await).1,
        "slow_down"
    );
}

#[tokio::test]
async fn an_approval_made_before_a_password_change_gives_no_tokens() {
    let (app, _clock) = setup().await;
    let start = begun(&app, "console", Some("me")).await;
    let mut agent = ada(&app).await;
    assert_eq!(
        decide(&mut agent, start["user_code"].as_str().unwrap(), "allow").await,
        StatusCode::OK
    );
    let access = app.login("ada@example.com").await;
    let changed = app
        .bearer_send(
            reqwest::Method::PUT,
            "/api/v1/users/me/password",
            &access,
            Some(&json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let answer = poll(&app, "console", start["device_code"].as_str().unwrap()).await;
    assert_eq!(
        error_of(&answer),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn a_burst_of_device_sign_ins_from_one_network_is_cut_off() {
    let app = TestApp::builder()
        .settings(|s| s.device.starts_per_ip = 5)
        .spawn()
        .await;
    let root = app.admin_token("root@example.com").await;
    let client = json!({"id": "tv", "name": "TV", "public": true, "device_code": true});
    register_client(&app, &root, client).await;
    let raced = join_all((0..20).map(|_| begin(&app, "tv", None))).await;
    let begun = raced
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let refused: Vec<_> = raced
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!((begun, refused.len()), (5, 15));
    assert!(
        refused
            .iter()
            .all(|r| r.headers().contains_key("retry-after"))
    );
}

#[tokio::test]
async fn a_device_asking_for_openid_gets_an_id_token_for_its_client() {
    use base64::Engine as _;
    let (app, admin, _keys) = gatehouse_tests::oidc::eddsa_app().await;
    let client = json!({"id": "console", "name": "Console", "public": true, "device_code": true, "first_party": true});
    register_client(&app, &admin, client).await;
    let ada = app.register_ok("ada@example.com").await;
    let start = begun(&app, "console", Some("openid email me")).await;
    let mut agent = self::ada(&app).await;
    assert_eq!(
        decide(&mut agent, start["user_code"].as_str().unwrap(), "allow").await,
        StatusCode::OK
    );
    let (status, tokens) = poll(&app, "console", start["device_code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "console");
    assert_eq!(claims["sub"], ada["id"]);
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims.get("nonce").is_none() && claims["at_hash"].is_string());
    assert_eq!(claims["iss"], app.settings.issuer().as_str());
}
