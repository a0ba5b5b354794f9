//! The provider held to attackers: second-factor guesses on confirmations, re-authentication
//! (and third-party apps kept out of it), what a third-party app gets by default, sessions
//! ended by turning MFA on, who may introspect, CSRF tokens bound to the browser, client
//! authentication at the password grant, and a stolen refresh token probed with a bogus
//! scope. Each rule is raced or probed through HTTP, on SQLite and PostgreSQL alike.

use std::sync::Arc;

use chrono::Duration;
use futures::future::join_all;
use gatehouse_domain::Clock;
use gatehouse_tests::oidc::{
    Agent, authorize_url, input_value, pkce, query_of, register_client, spa,
};
use gatehouse_tests::totp::{code_at, enrol, mfa_token, second_step};
use gatehouse_tests::{ManualClock, PASSWORD, TestApp, problem_code};
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADA: &str = "ada@example.com";
const CALLBACK: &str = "https://app.example.com/callback";

/// An app on a hand-moved clock that believes `X-Forwarded-For` from loopback, so that a
/// test can speak from several networks.
async fn app_behind_proxy() -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()])
        .clock(clock.clone())
        .spawn()
        .await;
    (app, clock)
}

/// Ada's sign-in through the authorization request `url` of the SPA `spa`, and the tokens
/// its code is exchanged for.
async fn spa_tokens(app: &TestApp, agent: &mut Agent<'_>, url: &str, verifier: &str) -> Value {
    let location = agent.authorize(url, ADA).await;
    app.token(&[
        ("grant_type", "authorization_code"),
        ("code", &query_of(&location)["code"]),
        ("redirect_uri", CALLBACK),
        ("client_id", "spa"),
        ("code_verifier", verifier),
    ])
    .await
    .json()
    .await
    .unwrap()
}

/// A code that is not the current one (nor its neighbours).
fn wrong_code(secret: &str, clock: &ManualClock) -> String {
    let near: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|s| code_at(secret, clock.now() + Duration::seconds(*s)))
        .collect();
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|code| !near.iter().any(|n| n == code))
        .unwrap()
        .to_owned()
}

/// Finding 1: a right password on a confirmation used to clear the account's failures, so
/// every wrong code after it started from zero (42 wrong codes from three networks, never a
/// 429). Now the password gives its own attempt back and the codes stay counted: of a burst
/// from three networks at both confirmations, at most the account's limit is checked.
#[tokio::test]
async fn wrong_codes_on_confirmations_count_against_the_account_whatever_the_password() {
    let (app, clock) = app_behind_proxy().await;
    app.register_ok(ADA).await;
    let token = app.login(ADA).await;
    let ada = enrol(&app, &token, clock.now()).await;
    clock.advance(Duration::seconds(30));
    let wrong = wrong_code(&ada.secret, &clock);
    let body = json!({"current_password": PASSWORD, "otp": wrong});
    let requests = (0..42).map(|i| {
        let (app, token, body) = (&app, &token, &body);
        async move {
            let (method, path) = if i % 2 == 0 {
                (Method::DELETE, "/api/v1/users/me/mfa")
            } else {
                (Method::POST, "/api/v1/users/me/mfa/recovery-codes")
            };
            app.client
                .request(method, app.url(path))
                .bearer_auth(token)
                .header("x-forwarded-for", format!("198.51.100.{}", i % 3 + 1))
                .json(body)
                .send()
                .await
                .unwrap()
        }
    });
    let answers = join_all(requests).await;
    let mut checked = 0;
    let mut throttled = 0;
    for answer in answers {
        match problem_code(answer).await {
            (StatusCode::FORBIDDEN, code) if code == "invalid_mfa_code" => checked += 1,
            (StatusCode::TOO_MANY_REQUESTS, _) => throttled += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(checked + throttled, 42);
    assert!(checked <= 5, "{checked} wrong codes were checked");
    assert_eq!(app.audited("mfa_failed").await, checked);
    // The account is locked: the right password and the right code are refused too, and
    // so is a login.
    let right = json!({"current_password": PASSWORD, "otp": code_at(&ada.secret, clock.now())});
    let locked = app
        .bearer_send(Method::DELETE, "/api/v1/users/me/mfa", &token, Some(&right))
        .await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.login_response(ADA, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let status: Value = app
        .bearer_get("/api/v1/users/me/mfa", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["enabled"], true, "MFA is still on");

    // One after another, as the review measured it (12 + 15 + 15 from three networks):
    // the sixth wrong code is already refused unchecked.
    const BOB: &str = "bob@example.com";
    app.register_ok(BOB).await;
    let token = app.login(BOB).await;
    let bob = enrol(&app, &token, clock.now()).await;
    let body = json!({"current_password": PASSWORD, "otp": wrong_code(&bob.secret, &clock)});
    let mut answers = Vec::new();
    for (network, tries) in [(1, 12), (2, 15), (3, 15)] {
        for _ in 0..tries {
            let answer = app
                .client
                .delete(app.url("/api/v1/users/me/mfa"))
                .bearer_auth(&token)
                .header("x-forwarded-for", format!("192.0.2.{network}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            answers.push(answer.status());
        }
    }
    let checked = answers
        .iter()
        .filter(|s| **s == StatusCode::FORBIDDEN)
        .count();
    assert_eq!(checked, 5, "{answers:?}");
    assert!(
        answers[5..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
}

/// Every place that checks a code counts it: the code confirming an enrolment too.
#[tokio::test]
async fn a_burst_of_wrong_enrolment_codes_is_counted_like_passwords() {
    let (app, clock) = app_behind_proxy().await;
    app.register_ok(ADA).await;
    let token = app.login(ADA).await;
    let started: Value = app
        .bearer_send(
            Method::POST,
            "/api/v1/users/me/mfa/totp",
            &token,
            Some(&json!({"current_password": PASSWORD})),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = started["secret"].as_str().unwrap().to_owned();
    let body = json!({"code": wrong_code(&secret, &clock)});
    let answers = join_all((0..12).map(|_| {
        app.bearer_send(
            Method::POST,
            "/api/v1/users/me/mfa/totp/confirm",
            &token,
            Some(&body),
        )
    }))
    .await;
    let checked = answers
        .iter()
        .filter(|a| a.status() == StatusCode::FORBIDDEN)
        .count();
    let throttled = answers
        .iter()
        .filter(|a| a.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + throttled, 12);
    assert!(checked <= 5, "{checked} enrolment codes were checked");
    assert_eq!(app.audited("mfa_failed").await, checked as i64);
}

/// Finding 2: enrolling a second factor (and every change to how the account signs in)
/// needs re-authentication; a token whose client is not first-party never gets there.
#[tokio::test]
async fn enrolling_needs_reauthentication_and_third_party_tokens_never_reach_it() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok(ADA).await;
    let token = app.login(ADA).await;
    let start = |token: String, body: Value| {
        let app = &app;
        async move {
            app.bearer_send(
                Method::POST,
                "/api/v1/users/me/mfa/totp",
                &token,
                Some(&body),
            )
            .await
        }
    };
    assert_eq!(
        problem_code(start(token.clone(), json!({})).await).await,
        (StatusCode::FORBIDDEN, "reauthentication_required".into())
    );
    assert_eq!(
        problem_code(
            start(
                token.clone(),
                json!({"current_password": "not the password"})
            )
            .await
        )
        .await,
        (StatusCode::FORBIDDEN, "wrong_password".into())
    );

    // A first-party app's token with `me`, whose client an operator then makes third-party:
    // refused before any password is looked at, and audited.
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "spa"),
            ("redirect_uri", CALLBACK),
            ("scope", "me"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let tokens = spa_tokens(&app, &mut agent, &url, &verifier).await;
    let app_token = tokens["access_token"].as_str().unwrap().to_owned();
    app.make_third_party("spa").await;
    let failures_before = app.audited("password_check_failed").await;
    let refused = join_all((0..6).map(|_| {
        start(
            app_token.clone(),
            json!({"current_password": "guessing the password"}),
        )
    }))
    .await;
    for answer in refused {
        assert_eq!(
            problem_code(answer).await,
            (StatusCode::FORBIDDEN, "first_party_only".into())
        );
    }
    assert_eq!(app.audited("reauthentication_refused").await, 6);
    assert_eq!(
        app.audited("password_check_failed").await,
        failures_before,
        "no password was checked for the third-party token"
    );
    // The other changes of the same kind refuse it the same way.
    for (method, path, body) in [
        (
            Method::DELETE,
            "/api/v1/users/me",
            json!({"current_password": PASSWORD}),
        ),
        (
            Method::DELETE,
            "/api/v1/users/me/sessions",
            json!({"current_password": PASSWORD}),
        ),
        (
            Method::PATCH,
            "/api/v1/users/me",
            json!({"email": "ada@new.example.com", "current_password": PASSWORD}),
        ),
    ] {
        let answer = app.bearer_send(method, path, &app_token, Some(&body)).await;
        assert_eq!(
            problem_code(answer).await,
            (StatusCode::FORBIDDEN, "first_party_only".into()),
            "{path}"
        );
    }

    // The account's own first-party session, with its password, may.
    let started = start(token, json!({"current_password": PASSWORD})).await;
    assert_eq!(started.status(), StatusCode::OK);
}

/// Finding 3: a third-party app asking for no scope gets nothing of the account, the
/// account-management scopes are never its to ask for, and the consent page lists exactly
/// what will be granted.
#[tokio::test]
async fn a_third_party_app_gets_only_what_the_consent_page_lists() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok(ADA).await;
    let mut partner = spa("partner", CALLBACK);
    partner["first_party"] = json!(false);
    register_client(&app, &admin, partner).await;
    let mut agent = Agent::new(&app);
    agent.sign_in_at("/signin", ADA, PASSWORD).await;

    let ask = |scope: Option<&str>| {
        let (verifier, challenge) = pkce();
        let mut params = vec![
            ("response_type", "code".to_owned()),
            ("client_id", "partner".to_owned()),
            ("redirect_uri", CALLBACK.to_owned()),
            ("state", "s1".to_owned()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if let Some(scope) = scope {
            params.push(("scope", scope.to_owned()));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        (authorize_url(&app, &params), verifier)
    };

    // `me` (or an admin scope) is refused outright, back to the app.
    for scope in ["me", "openid me", "todos:read users:read"] {
        let (url, _) = ask(Some(scope));
        let refused = agent.get(&url).await;
        assert_eq!(refused.status(), StatusCode::SEE_OTHER);
        let query = query_of(refused.headers()[LOCATION].to_str().unwrap());
        assert_eq!(query["error"], "invalid_scope", "{scope}");
        assert_eq!(query["state"], "s1");
    }

    // No scope: the consent page lists nothing of the account, and the token holds nothing.
    for (scope, listed, granted) in [
        (None, vec![], ""),
        (Some("todos:read"), vec!["(todos:read)"], "todos:read"),
    ] {
        let (url, verifier) = ask(scope);
        let page = agent.get(&url).await;
        assert_eq!(page.status(), StatusCode::OK, "the consent page");
        let html = page.text().await.unwrap();
        for absent in ["(me)", "(todos:write)", "(users:read)"] {
            assert!(!html.contains(absent), "{absent} is not offered: {html}");
        }
        for present in &listed {
            assert!(html.contains(present), "{present} is listed");
        }
        if listed.is_empty() {
            assert!(html.contains("nothing more of your account"), "{html}");
        }
        let mut form: Vec<(String, String)> = [
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
        ]
        .into_iter()
        .filter_map(|name| input_value(&html, name).map(|v| (name.to_owned(), v)))
        .collect();
        form.push(("csrf".into(), input_value(&html, "csrf").unwrap()));
        form.push(("decision".into(), "allow".into()));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let allowed = agent.post_form("/oauth2/consent", &form).await;
        assert_eq!(
            allowed.status(),
            StatusCode::SEE_OTHER,
            "303 after the POST"
        );
        let code = query_of(allowed.headers()[LOCATION].to_str().unwrap())["code"].clone();
        let tokens: Value = app
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("client_id", "partner"),
                ("code_verifier", &verifier),
            ])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(tokens["scope"], granted);
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(
            app.bearer_get("/api/v1/users/me", access).await.status(),
            StatusCode::FORBIDDEN
        );
    }
}

/// Finding 4: turning MFA on (and making new recovery codes) ends every other session of
/// the account, also those of logins racing the change; the caller's own stays.
#[tokio::test]
async fn turning_mfa_on_ends_every_other_session_even_logins_in_flight() {
    // The racing logins are right passwords: the account's limit (which counts logins in
    // flight) is lifted so that they all reach the change they race.
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|s| {
            s.server.trusted_proxies = vec!["127.0.0.1".into()];
            s.auth.login_failures_per_account = 1_000;
        })
        .clock(clock.clone())
        .spawn()
        .await;
    app.register_ok(ADA).await;
    let caller = app.login(ADA).await;
    let other = app.login_tokens(ADA).await;
    let mut browser = Agent::new(&app);
    browser.sign_in_at("/signin", ADA, PASSWORD).await;
    assert_eq!(browser.get("/account").await.status(), StatusCode::OK);

    let started: Value = app
        .bearer_send(
            Method::POST,
            "/api/v1/users/me/mfa/totp",
            &caller,
            Some(&json!({"current_password": PASSWORD})),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = started["secret"].as_str().unwrap().to_owned();
    // Logins from other networks race the confirmation.
    let logins = (0..8).map(|i| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/v1/auth/token"))
                .header("x-forwarded-for", format!("203.0.113.{i}"))
                .form(&[
                    ("grant_type", "password"),
                    ("username", ADA),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
        }
    });
    let code = json!({"code": code_at(&secret, clock.now())});
    let confirm = app.bearer_send(
        Method::POST,
        "/api/v1/users/me/mfa/totp/confirm",
        &caller,
        Some(&code),
    );
    let (confirmed, raced) = futures::join!(confirm, join_all(logins));
    assert_eq!(confirmed.status(), StatusCode::OK);
    let codes: Value = confirmed.json().await.unwrap();

    let me = |token: String| {
        let app = &app;
        async move { app.bearer_get("/api/v1/users/me", &token).await.status() }
    };
    assert_eq!(
        me(caller.clone()).await,
        StatusCode::OK,
        "the caller's session stays"
    );
    assert_eq!(
        me(other["access_token"].as_str().unwrap().to_owned()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(other["refresh_token"].as_str().unwrap(), None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        browser.get("/account").await.status(),
        StatusCode::SEE_OTHER,
        "the browser was signed out"
    );
    for login in raced {
        if login.status() == StatusCode::OK {
            let tokens: Value = login.json().await.unwrap();
            assert_eq!(
                me(tokens["access_token"].as_str().unwrap().to_owned()).await,
                StatusCode::UNAUTHORIZED,
                "a login in flight opened a dead session"
            );
        } else {
            // mfa_required, or the account's limit, which counts logins in flight.
            assert!(
                matches!(
                    login.status(),
                    StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
                ),
                "{}",
                login.status()
            );
        }
    }

    // New recovery codes end the other sessions too (one signed in with an old code).
    let token = mfa_token(&app, ADA).await;
    let old_code = codes["recovery_codes"][0].as_str().unwrap();
    let second = second_step(&app, &token, ("recovery_code", old_code)).await;
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.unwrap();
    clock.advance(Duration::seconds(30));
    let regenerated = app
        .bearer_send(
            Method::POST,
            "/api/v1/users/me/mfa/recovery-codes",
            &caller,
            Some(&json!({"current_password": PASSWORD, "otp": code_at(&secret, clock.now())})),
        )
        .await;
    assert_eq!(regenerated.status(), StatusCode::OK);
    assert_eq!(
        me(second["access_token"].as_str().unwrap().to_owned()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me(caller).await, StatusCode::OK);
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

/// Finding 5: only clients an admin marks as resource servers may introspect, and the
/// email only comes with a token whose scopes allow it.
#[tokio::test]
async fn only_resource_servers_introspect_and_the_email_needs_its_scope() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok(ADA).await;
    let confidential = |id: &str, resource_server: bool| json!({"id": id, "name": id, "redirect_uris": [CALLBACK], "resource_server": resource_server});
    let partner = register_client(&app, &admin, confidential("partner", false)).await;
    let partner_secret = partner["client_secret"].as_str().unwrap().to_owned();
    let api = register_client(&app, &admin, confidential("orders-api", true)).await;
    assert_eq!(api["resource_server"], true);
    let api_secret = api["client_secret"].as_str().unwrap().to_owned();
    // A public client cannot be one.
    let public = app
        .bearer_send(
            Method::POST,
            "/api/v1/clients",
            &admin,
            Some(&json!({"id": "spa-rs", "name": "x", "public": true, "redirect_uris": [CALLBACK], "resource_server": true})),
        )
        .await;
    assert_eq!(public.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let plain = app.login(ADA).await;
    let with_email: Value = app
        .login_with_scope(ADA, "me email")
        .await
        .json()
        .await
        .unwrap();
    let with_email = with_email["access_token"].as_str().unwrap();

    let answers =
        join_all((0..10).map(|_| introspect(&app, "partner", &partner_secret, &plain))).await;
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized_client");
        assert!(body.get("username").is_none() && body.get("active").is_none());
    }
    let answer: Value = introspect(&app, "orders-api", &api_secret, &plain)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true);
    assert!(answer.get("username").is_none(), "{answer}");
    let answer: Value = introspect(&app, "orders-api", &api_secret, with_email)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["username"], ADA);
}

/// Finding 6: the naive double submit took any cookie value planted with a matching field.
/// Tokens are now an HMAC of the browser's secret and its session, renewed at sign-in.
#[tokio::test]
async fn csrf_tokens_are_bound_to_the_browser_and_renewed_at_sign_in() {
    let app = TestApp::builder().spawn().await;
    app.register_ok(ADA).await;
    let planted = "A".repeat(43);
    let sign_in = |csrf: String| {
        vec![
            ("csrf".to_owned(), csrf),
            ("return_to".to_owned(), "/account".to_owned()),
            ("email".to_owned(), ADA.to_owned()),
            ("password".to_owned(), PASSWORD.to_owned()),
        ]
    };
    // A burst of posts with a planted cookie and the same value as the field: all refused,
    // and no password is even checked.
    let attempts = (0..10).map(|_| {
        let mut agent = Agent::new(&app);
        agent
            .cookies
            .insert("gatehouse-csrf".to_owned(), planted.clone());
        let form = sign_in(planted.clone());
        async move {
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            agent.post_form("/signin", &form).await.status()
        }
    });
    for status in join_all(attempts).await {
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.audited("login_succeeded").await, 0);

    // A token is this browser's: another browser's (with its own cookie) is refused.
    let mut alice = Agent::new(&app);
    let mut mallory = Agent::new(&app);
    let alice_csrf =
        input_value(&alice.get("/signin").await.text().await.unwrap(), "csrf").unwrap();
    mallory.get("/signin").await;
    let form = sign_in(alice_csrf.clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        mallory.post_form("/signin", &form).await.status(),
        StatusCode::FORBIDDEN
    );
    // Signing in renews it: the page's token of before the sign-in dies.
    let signed_in = alice.post_form("/signin", &form).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let stale = alice
        .post_form("/signout", &[("csrf", alice_csrf.as_str())])
        .await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    assert_eq!(alice.get("/account").await.status(), StatusCode::OK);
    let fresh = input_value(&alice.get("/account").await.text().await.unwrap(), "csrf").unwrap();
    assert_ne!(fresh, alice_csrf);
    let out = alice
        .post_form("/signout", &[("csrf", fresh.as_str())])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    // Signing out renews it again.
    assert_eq!(
        alice
            .post_form("/signout", &[("csrf", fresh.as_str())])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

/// Finding 7: a confidential client named at the password grant must authenticate (RFC
/// 6749 §4.3.2), and the `mfa_token` is bound to the client that did.
#[tokio::test]
async fn a_confidential_client_named_at_the_password_grant_must_authenticate() {
    let (app, clock) = app_behind_proxy().await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok(ADA).await;
    let backend = register_client(
        &app,
        &admin,
        json!({"id": "backend", "name": "Backend", "redirect_uris": [CALLBACK], "first_party": true}),
    )
    .await;
    let secret = backend["client_secret"].as_str().unwrap().to_owned();
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let grant = |client: &[(&'static str, String)]| {
        let mut form = vec![
            ("grant_type", "password".to_owned()),
            ("username", ADA.to_owned()),
            ("password", PASSWORD.to_owned()),
        ];
        form.extend_from_slice(client);
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.token(&form).await
        }
    };
    let answers = join_all((0..6).map(|_| grant(&[("client_id", "backend".into())]))).await;
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    assert_eq!(
        grant(&[
            ("client_id", "backend".into()),
            ("client_secret", "wrong".into())
        ])
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );
    // The refusals verified no password: the account is not locked.
    assert_eq!(
        grant(&[
            ("client_id", "backend".into()),
            ("client_secret", secret.clone())
        ])
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        grant(&[("client_id", "spa".into())]).await.status(),
        StatusCode::OK
    );
    assert_eq!(grant(&[]).await.status(), StatusCode::OK);
    // An empty secret is no secret (Swagger UI sends one for its public client).
    assert_eq!(
        grant(&[
            ("client_id", "spa".into()),
            ("client_secret", String::new())
        ])
        .await
        .status(),
        StatusCode::OK
    );
    let swagger_style = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .basic_auth("spa", Some(""))
        .form(&[
            ("grant_type", "password"),
            ("username", ADA),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(swagger_style.status(), StatusCode::OK);

    // With MFA, the mfa_token of the authenticated client completes only with it.
    let token = app.login(ADA).await;
    let ada = enrol(&app, &token, clock.now()).await;
    clock.advance(Duration::seconds(30));
    let first = grant(&[
        ("client_id", "backend".into()),
        ("client_secret", secret.clone()),
    ])
    .await;
    assert_eq!(first.status(), StatusCode::FORBIDDEN);
    let mfa: Value = first.json().await.unwrap();
    let mfa = mfa["mfa_token"].as_str().unwrap();
    let code = code_at(&ada.secret, clock.now());
    let unauthenticated = app
        .token(&[
            (
                "grant_type",
                "urn:gatehouse:params:oauth:grant-type:mfa-otp",
            ),
            ("mfa_token", mfa),
            ("otp", &code),
            ("client_id", "backend"),
        ])
        .await;
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let done = app
        .token(&[
            (
                "grant_type",
                "urn:gatehouse:params:oauth:grant-type:mfa-otp",
            ),
            ("mfa_token", mfa),
            ("otp", &code),
            ("client_id", "backend"),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(done.status(), StatusCode::OK);
}

/// Finding 8: a code-flow refresh token presented without its client used to be judged by
/// its scope first (`invalid_scope`, session alive). The binding is judged first now: the
/// probe ends the session, whatever the scope, also when probes race the client's own
/// refresh.
#[tokio::test]
async fn a_stolen_refresh_token_probed_with_a_bogus_scope_ends_its_session() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok(ADA).await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut agent = Agent::new(&app);
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "spa"),
            ("redirect_uri", CALLBACK),
            ("scope", "me todos:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let tokens = spa_tokens(&app, &mut agent, &url, &verifier).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let probes = ["bogus", "users:write", "", "me"].map(|scope| {
        let app = &app;
        async move {
            app.token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("scope", scope),
            ])
            .await
        }
    });
    let own_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", "spa"),
    ];
    let own = app.token(&own_form);
    let (probes, _own) = futures::join!(join_all(probes), own);
    for probe in probes {
        assert_eq!(probe.status(), StatusCode::BAD_REQUEST);
        let body: Value = probe.json().await.unwrap();
        assert_eq!(
            body["error"], "invalid_grant",
            "never invalid_scope: {body}"
        );
    }
    // Whatever the order, the session is over for everyone.
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "spa"),
        ])
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let live = app.live_sessions_of("spa").await;
    assert_eq!(live, 0);
}

/// An authorization request of the first-party SPA `spa`, with `extra` parameters.
fn spa_request(app: &TestApp, extra: &[(&str, &str)]) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", CALLBACK),
        ("state", "st"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    (authorize_url(app, &params), verifier)
}

fn location_of(response: &reqwest::Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// Finding 7, the authorization endpoint: `prompt=none` answers `login_required` (or
/// `consent_required`) instead of showing a page, `prompt=login` and `max_age` ask for the
/// password again, `login_hint` fills in the email, request objects are refused with the
/// errors OpenID Connect names, and a POST is taken like a GET and answered 303.
#[tokio::test]
async fn the_authorization_endpoint_follows_prompt_max_age_hints_and_takes_post() {
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|_| {})
        .clock(clock.clone())
        .spawn()
        .await;
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok(ADA).await;
    register_client(&app, &admin, spa("spa", CALLBACK)).await;
    let mut partner = spa("partner", CALLBACK);
    partner["first_party"] = json!(false);
    register_client(&app, &admin, partner).await;
    let mut agent = Agent::new(&app);

    // Signed out, prompt=none: the error, back to the client, with state and iss.
    let (url, _) = spa_request(&app, &[("prompt", "none")]);
    let answer = agent.get(&url).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let query = query_of(&location_of(&answer));
    assert_eq!(query["error"], "login_required");
    assert_eq!(query["state"], "st");
    assert_eq!(query["iss"], app.settings.issuer());

    // login_hint fills in the sign-in page's email.
    let (url, _) = spa_request(&app, &[("login_hint", ADA)]);
    let to_sign_in = location_of(&agent.get(&url).await);
    assert!(to_sign_in.starts_with("/signin"), "{to_sign_in}");
    let page = agent.get(&to_sign_in).await.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{ADA}\""
        )),
        "{page}"
    );
    agent.sign_in_at(&to_sign_in, ADA, PASSWORD).await;

    // Signed in: prompt=none gives a code at once; for a third-party app it says consent
    // is needed.
    let (url, _) = spa_request(&app, &[("prompt", "none")]);
    let query = query_of(&location_of(&agent.get(&url).await));
    assert!(query.contains_key("code"), "{query:?}");
    let (verifier, challenge) = pkce();
    let third = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "partner"),
            ("redirect_uri", CALLBACK),
            ("prompt", "none"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let query = query_of(&location_of(&agent.get(&third).await));
    assert_eq!(query["error"], "consent_required");
    drop(verifier);

    // prompt=login: the password again, then back without the prompt.
    let (url, _) = spa_request(&app, &[("prompt", "login")]);
    let again = location_of(&agent.get(&url).await);
    assert!(again.starts_with("/signin"), "{again}");
    let back = agent.sign_in_at(&again, ADA, PASSWORD).await;
    let back = location_of(&back);
    assert!(!back.contains("prompt"), "{back}");
    let query = query_of(&location_of(&agent.get(&back).await));
    assert!(query.contains_key("code"), "{query:?}");

    // max_age: a sign-in older than it must be repeated.
    clock.advance(Duration::seconds(120));
    let (url, _) = spa_request(&app, &[("max_age", "600")]);
    assert!(query_of(&location_of(&agent.get(&url).await)).contains_key("code"));
    let (url, _) = spa_request(&app, &[("max_age", "60")]);
    let stale = location_of(&agent.get(&url).await);
    assert!(stale.starts_with("/signin"), "{stale}");
    let (url, _) = spa_request(&app, &[("max_age", "60"), ("prompt", "none")]);
    assert_eq!(
        query_of(&location_of(&agent.get(&url).await))["error"],
        "login_required"
    );

    // Request objects and bad values: the named errors, redirected.
    for (extra, error) in [
        (
            ("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            ("request_uri", "https://rp.example.test/r"),
            "request_uri_not_supported",
        ),
        (("prompt", "none login"), "invalid_request"),
        (("prompt", "sometimes"), "invalid_request"),
        (("max_age", "-1"), "invalid_request"),
        (("id_token_hint", "not-a-token"), "invalid_request"),
    ] {
        let (url, _) = spa_request(&app, &[extra]);
        let answer = agent.get(&url).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{extra:?}");
        assert_eq!(query_of(&location_of(&answer))["error"], error, "{extra:?}");
    }
    // Unknown parameters, display and locales are ignored; unknown scopes under openid
    // would be too (this app signs with HS256, so it has no openid to ask for).
    let (url, _) = spa_request(
        &app,
        &[
            ("display", "popup"),
            ("ui_locales", "fr"),
            ("extra", "x"),
            ("acr_values", "1 2"),
        ],
    );
    assert!(query_of(&location_of(&agent.get(&url).await)).contains_key("code"));

    // POST: the same request as a form, answered 303 with a code.
    let (verifier, challenge) = pkce();
    let posted = agent
        .post_form(
            "/oauth2/authorize",
            &[
                ("response_type", "code"),
                ("client_id", "spa"),
                ("redirect_uri", CALLBACK),
                ("scope", "me"),
                ("state", "posted"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let query = query_of(&location_of(&posted));
    assert_eq!(query["state"], "posted");
    let tokens = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", CALLBACK),
            ("client_id", "spa"),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(tokens.status(), StatusCode::OK);
    // Not a form: refused, nothing issued.
    let json_post = app
        .client
        .post(app.url("/oauth2/authorize"))
        .json(&json!({"client_id": "spa"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_post.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// Finding 7, userinfo: taken by GET and by POST, with the token in the header or in the
/// form body (not both); and RP-initiated logout by POST.
#[tokio::test]
async fn userinfo_and_logout_take_post() {
    let (app, admin, _keys) = gatehouse_tests::oidc::eddsa_app().await;
    app.register_ok(ADA).await;
    let mut client = spa("spa", CALLBACK);
    client["post_logout_redirect_uris"] = json!(["https://app.example.com/bye"]);
    register_client(&app, &admin, client).await;
    let mut agent = Agent::new(&app);
    let (url, verifier) = spa_request(&app, &[("scope", "openid email address phone")]);
    let tokens = spa_tokens(&app, &mut agent, &url, &verifier).await;
    // Scope values OpenID Connect defines but this server does not serve are ignored.
    assert_eq!(tokens["scope"], "openid email");
    let access = tokens["access_token"].as_str().unwrap();
    let by_get: Value = app
        .bearer_get("/oauth2/userinfo", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_get["email"], ADA);
    let by_header = app
        .client
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    assert_eq!(by_header.json::<Value>().await.unwrap(), by_get);
    let by_body = app
        .client
        .post(app.url("/oauth2/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(by_body.status(), StatusCode::OK);
    assert_eq!(by_body.json::<Value>().await.unwrap(), by_get);
    let both = app
        .client
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), StatusCode::UNAUTHORIZED);
    let neither = app
        .client
        .post(app.url("/oauth2/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(neither.status(), StatusCode::UNAUTHORIZED);

    let logout = agent
        .post_form(
            "/oauth2/logout",
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", "https://app.example.com/bye"),
                ("state", "bye"),
            ],
        )
        .await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location_of(&logout),
        "https://app.example.com/bye?state=bye"
    );
    assert_eq!(agent.get("/account").await.status(), StatusCode::SEE_OTHER);
}
