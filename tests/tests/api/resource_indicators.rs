//! A person's tokens for registered APIs (RFC 8707 `resource`), through the hosted pages
//! and the token endpoint on SQLite and PostgreSQL: the token is for the API named and no
//! other, holds only what the client was given and the person's role allows, and refresh
//! keeps it so.

use base64::Engine as _;
use futures::future::join_all;
use gatehouse_tests::oidc::{
    Agent, authorize_url, eddsa_app, input_value, pkce, query_of, register_client,
};
use gatehouse_tests::{PASSWORD, TestApp};
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ORDERS: &str = "https://orders.example.com";
const BILLING: &str = "urn:example:billing";
const CALLBACK: &str = "https://shop.example.com/callback";

/// The APIs, a first-party shop given every Orders scope, a third-party partner given
/// `orders:read`, a resource server, and Ada.
async fn setup(app: &TestApp, admin: &str) -> String {
    for api in [
        json!({"identifier": ORDERS, "name": "Orders", "scopes": [
            {"name": "orders:read", "description": "Read your orders"},
            {"name": "orders:write", "description": "Place orders"},
            {"name": "orders:refund", "description": "Refund any order", "roles": ["admin"]},
        ]}),
        json!({"identifier": BILLING, "name": "Billing", "scopes": [
            {"name": "billing:read", "description": "Read invoices"},
        ]}),
    ] {
        let response = app
            .bearer_send(Method::POST, "/api/v1/apis", admin, Some(&api))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    for (id, first_party, scopes) in [
        (
            "shop",
            true,
            json!(["orders:read", "orders:write", "orders:refund"]),
        ),
        ("partner", false, json!(["orders:read"])),
    ] {
        register_client(
            app,
            admin,
            json!({"id": id, "name": format!("App {id}"), "public": true,
                   "redirect_uris": [CALLBACK], "first_party": first_party}),
        )
        .await;
        let access = json!({"apis": [{"identifier": ORDERS, "scopes": scopes}]});
        let path = format!("/api/v1/clients/{id}/apis");
        let response = app
            .bearer_send(Method::PUT, &path, admin, Some(&access))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let gate = register_client(
        app,
        admin,
        json!({"id": "orders-api", "name": "Orders API", "resource_server": true}),
    )
    .await;
    app.register_ok("ada@example.com").await;
    gate["client_secret"].as_str().unwrap().to_owned()
}

/// An authorization request of `client` with these extra parameters, and its verifier.
fn request(app: &TestApp, client: &str, extra: &[(&str, &str)]) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", CALLBACK),
        ("state", "s1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("nonce", "n1"),
    ];
    params.extend_from_slice(extra);
    (authorize_url(app, &params), verifier)
}

async fn token(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Signs Ada in through the shop with `extra` parameters and exchanges the code.
async fn signed_in(app: &TestApp, extra: &[(&str, &str)], exchange: &[(&str, &str)]) -> Value {
    let (url, verifier) = request(app, "shop", extra);
    let location = Agent::new(app).authorize(&url, "ada@example.com").await;
    let code = query_of(&location)["code"].clone();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("client_id", "shop"),
        ("code_verifier", verifier.as_str()),
    ];
    form.extend_from_slice(exchange);
    let response = token(app, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn introspect(app: &TestApp, secret: &str, token: &str) -> Value {
    let response = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth("orders-api", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_person_gets_a_token_for_the_api_named_and_refresh_keeps_it_so() {
    let (app, admin, _keys) = eddsa_app().await;
    let gate = setup(&app, &admin).await;
    let own = app.settings.jwt.audience.clone();

    let body = signed_in(
        &app,
        &[("resource", ORDERS), ("scope", "openid orders:read")],
        &[],
    )
    .await;
    assert_eq!(body["scope"], "orders:read");
    assert!(
        body["id_token"].is_string(),
        "openid still gives an ID token"
    );
    let access = body["access_token"].as_str().unwrap().to_owned();
    let said = claims(&access);
    assert_eq!(said["aud"], ORDERS);
    assert_eq!(said["client_id"], "shop");
    assert_eq!(said["scope"], "orders:read");
    assert!(said["sid"].is_string());
    let user = said["sub"].as_str().unwrap().to_owned();
    // A token for the Orders API is none for gatehouse's own API.
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let answer = introspect(&app, &gate, &access).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["aud"], ORDERS);
    assert_eq!(answer["sub"], user.as_str());

    // Refused before the refresh token is spent: another API, a scope beyond the grant.
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let refreshing = |extra: Vec<(&'static str, String)>, refresh: String| {
        let app = &app;
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh),
                ("client_id", "shop".to_owned()),
            ];
            form.extend(extra);
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(app, &form).await
        }
    };
    for (extra, error) in [
        (vec![("resource", BILLING.to_owned())], "invalid_target"),
        (vec![("scope", "orders:write".to_owned())], "invalid_scope"),
        (
            vec![("resource", ORDERS.to_owned()), ("resource", own.clone())],
            "invalid_target",
        ),
    ] {
        let response = refreshing(extra.clone(), refresh.clone()).await;
        assert_eq!(
            error_of(response).await,
            (StatusCode::BAD_REQUEST, error.to_owned()),
            "{extra:?}"
        );
    }

    // The same refresh token still works: for the API again, then for gatehouse's own.
    let again: Value = refreshing(Vec::new(), refresh).await.json().await.unwrap();
    assert_eq!(
        claims(again["access_token"].as_str().unwrap())["aud"],
        ORDERS
    );
    let response = refreshing(
        vec![("resource", own.clone())],
        again["refresh_token"].as_str().unwrap().to_owned(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let own_tokens: Value = response.json().await.unwrap();
    assert_eq!(own_tokens["scope"], "openid");
    let userinfo = app
        .bearer_get(
            "/oauth2/userinfo",
            own_tokens["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(userinfo.status(), StatusCode::OK);

    // Ending the session ends its tokens for the API too.
    let revoked = app
        .client
        .post(app.url("/oauth2/revoke"))
        .form(&[
            ("token", own_tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "shop"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        introspect(&app, &gate, &access).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn what_the_client_was_not_given_or_the_role_may_not_hold_is_refused() {
    let (app, admin, _keys) = eddsa_app().await;
    setup(&app, &admin).await;
    // Judged before anyone signs in: back to the client with the error.
    for (extra, error) in [
        (vec![("resource", BILLING)], "invalid_target"),
        (
            vec![("resource", "https://nowhere.example.com")],
            "invalid_target",
        ),
        (
            vec![("resource", ORDERS), ("resource", BILLING)],
            "invalid_target",
        ),
        (
            vec![("resource", ORDERS), ("scope", "orders:delete")],
            "invalid_scope",
        ),
    ] {
        let (url, _) = request(&app, "shop", &extra);
        let response = Agent::new(&app).get(&url).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{extra:?}");
        let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(location.starts_with(CALLBACK), "{location}");
        assert_eq!(query_of(&location)["error"], error, "{extra:?}");
    }
    // A scope only admins may hold, asked for by a user, after she signs in.
    let (url, _) = request(
        &app,
        "shop",
        &[("resource", ORDERS), ("scope", "orders:refund")],
    );
    let location = Agent::new(&app).authorize(&url, "ada@example.com").await;
    assert_eq!(query_of(&location)["error"], "invalid_scope");
    // None named: all the client was given that her role allows.
    let body = signed_in(&app, &[("resource", ORDERS)], &[]).await;
    assert_eq!(body["scope"], "orders:read orders:write");

    // Taking the client's access away stops new tokens for the API at the next refresh.
    let response = app
        .bearer_send(
            Method::PUT,
            "/api/v1/clients/shop/apis",
            &admin,
            Some(&json!({"apis": []})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refused = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ("client_id", "shop"),
        ],
    )
    .await;
    assert_eq!(
        error_of(refused).await,
        (StatusCode::BAD_REQUEST, "invalid_target".to_owned())
    );
}

#[tokio::test]
async fn the_consent_page_names_the_api_and_its_scopes_in_words() {
    let (app, admin, _keys) = eddsa_app().await;
    setup(&app, &admin).await;
    let (url, verifier) = request(
        &app,
        "partner",
        &[("resource", ORDERS), ("scope", "orders:read")],
    );
    let mut agent = Agent::new(&app);
    let first = agent.get(&url).await;
    let location = first.headers()[LOCATION].to_str().unwrap().to_owned();
    let signed_in = agent
        .sign_in_at(&location, "ada@example.com", PASSWORD)
        .await;
    let back = signed_in.headers()[LOCATION].to_str().unwrap().to_owned();
    let page = agent.get(&back).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Orders: Read your orders (orders:read)"),
        "{html}"
    );
    assert_eq!(input_value(&html, "resource").as_deref(), Some(ORDERS));
    let mut fields: Vec<(String, String)> = [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "resource",
        "csrf",
    ]
    .into_iter()
    .filter_map(|name| input_value(&html, name).map(|value| (name.to_owned(), value)))
    .collect();
    fields.push(("decision".into(), "allow".into()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let allowed = agent.post_form("/oauth2/consent", &pairs).await;
    let code = query_of(allowed.headers()[LOCATION].to_str().unwrap())["code"].clone();
    let response = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", "partner"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        ORDERS
    );
}

#[tokio::test]
async fn racing_refreshes_of_an_api_session_leave_one_live_pair() {
    let (app, admin, _keys) = eddsa_app().await;
    setup(&app, &admin).await;
    let body = signed_in(&app, &[("resource", ORDERS)], &[]).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", "shop"),
    ];
    let raced = join_all((0..8).map(|_| token(&app, &form))).await;
    let mut issued = Vec::new();
    for response in raced {
        if response.status() == StatusCode::OK {
            let body: Value = response.json().await.unwrap();
            issued.push(body["refresh_token"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
    }
    // One rotation, and retries within the leeway replacing its unused pair: one lives.
    let raws: Vec<&str> = issued.iter().map(String::as_str).collect();
    let (live, all) = app.live_refresh_tokens(&raws).await;
    assert_eq!(live.len(), 1, "{} pairs issued", issued.len());
    assert_eq!(all, 1);
}

#[tokio::test]
async fn one_request_for_two_apis_gives_a_token_for_each_named_at_the_token_endpoint() {
    let (app, admin, _keys) = eddsa_app().await;
    setup(&app, &admin).await;
    let both = json!({"apis": [
        {"identifier": ORDERS, "scopes": ["orders:read", "orders:write"]},
        {"identifier": BILLING, "scopes": ["billing:read"]},
    ]});
    let response = app
        .bearer_send(
            Method::PUT,
            "/api/v1/clients/shop/apis",
            &admin,
            Some(&both),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let body = signed_in(
        &app,
        &[
            ("resource", ORDERS),
            ("resource", BILLING),
            ("scope", "orders:read billing:read"),
        ],
        &[("resource", BILLING)],
    )
    .await;
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        BILLING
    );
    assert_eq!(body["scope"], "billing:read");
    let refresh = |refresh_token: String, resource: Option<&'static str>| {
        let app = &app;
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.as_str()),
                ("client_id", "shop"),
            ];
            form.extend(resource.map(|r| ("resource", r)));
            token_answer(token(app, &form).await).await
        }
    };
    // Naming none, with two: a token for gatehouse's own API (the default audience), which
    // neither API takes; one not granted is refused and the refresh token stays good.
    let (status, answer) = refresh(body["refresh_token"].as_str().unwrap().to_owned(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        claims(answer["access_token"].as_str().unwrap())["aud"],
        app.settings.jwt.audience.as_str()
    );
    let refresh_token = answer["refresh_token"].as_str().unwrap().to_owned();
    let (status, answer) = refresh(refresh_token.clone(), Some("urn:example:elsewhere")).await;
    assert_eq!(
        (status, answer["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_target"))
    );
    let (status, answer) = refresh(refresh_token, Some(ORDERS)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        claims(answer["access_token"].as_str().unwrap())["aud"],
        ORDERS
    );
    assert_eq!(
        answer["scope"], "orders:read",
        "only what was asked for, not all the client may"
    );
}

async fn token_answer(response: reqwest::Response) -> (StatusCode, Value) {
    (response.status(), response.json().await.unwrap())
}
