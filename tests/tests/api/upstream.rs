//! Signing in through an upstream identity provider, against a second gatehouse instance
//! as the upstream (an OpenID Connect provider this suite did not configure by hand: its
//! discovery, keys, consent-free first-party client and ID tokens are its own). Each
//! browser is an agent with its own cookie jar, as two hosts would be.

use futures::future::join_all;
use gatehouse_domain::Clock;
use gatehouse_server::settings::{UpstreamKind, UpstreamSettings};
use gatehouse_tests::oidc::{Agent, eddsa_app, input_value, query_of, register_client, spa};
use gatehouse_tests::totp::code_at;
use gatehouse_tests::{ManualClock, PASSWORD, TestApp};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use std::sync::Arc;

/// An upstream gatehouse (EdDSA, with `ada@example.com`, verified) and a gatehouse that
/// offers it as the provider `corp` (and as `other`, the same upstream under a second
/// id); keep the directory alive as long as the apps.
struct Pair {
    upstream: TestApp,
    app: TestApp,
    _keys: (tempfile::TempDir, tempfile::TempDir),
}

/// A fresh Ed25519 signing key (the app then issues ID tokens), in a directory to keep.
fn signing_key() -> (std::path::PathBuf, tempfile::TempDir) {
    use secrecy::ExposeSecret;
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = gatehouse_security::keys::generate_ed25519().unwrap();
    let path = dir.path().join("key.pem");
    std::fs::write(&path, private.expose_secret()).unwrap();
    (path, dir)
}

async fn pair() -> Pair {
    pair_on(None, |_| {}).await
}

/// As [`pair`], the app's time decisions following `clock` when one is given, and its
/// settings changed by `customize`.
async fn pair_on(
    clock: Option<Arc<ManualClock>>,
    customize: impl FnOnce(&mut gatehouse_server::settings::Settings),
) -> Pair {
    let (upstream, admin, keys) = eddsa_app().await;
    upstream.register_ok("ada@example.com").await;
    upstream.verify_every_account().await;
    let issuer = upstream.address.clone();
    let (key, app_keys) = signing_key();
    let mut app = TestApp::builder();
    if let Some(clock) = clock {
        app = app.clock(clock);
    }
    let app = app
        .settings(move |s| {
            s.jwt.algorithm = gatehouse_server::settings::JwtAlgorithm::EdDSA;
            s.jwt.private_key_file = Some(key);
            let corp = UpstreamSettings {
                kind: UpstreamKind::Oidc,
                name: Some("Corp".into()),
                issuer: Some(issuer),
                client_id: "rp".into(),
                ..UpstreamSettings::default()
            };
            let other = UpstreamSettings {
                client_id: "rp-other".into(),
                name: Some("Other".into()),
                ..corp.clone()
            };
            s.upstream.insert("corp".into(), corp);
            s.upstream.insert("other".into(), other);
            customize(s);
        })
        .spawn()
        .await;
    for (id, provider) in [("rp", "corp"), ("rp-other", "other")] {
        let callback = format!("{}/upstream/{provider}/callback", app.address);
        register_client(&upstream, &admin, spa(id, &callback)).await;
    }
    Pair {
        upstream,
        app,
        _keys: (keys, app_keys),
    }
}

/// The sign-in page's button for `provider`: it is there, and its CSRF token and
/// `return_to`.
async fn button(browser: &mut Agent<'_>, provider: &str) -> (String, String) {
    let page = browser.get("/signin").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"/upstream/{provider}/start\"")),
        "{html}"
    );
    assert!(html.contains("Continue with Corp"), "{html}");
    let csrf = input_value(&html, "csrf").unwrap();
    (csrf, "/account".into())
}

/// Starts a sign-in at `provider` and signs in at the upstream as ada: the URL the upstream
/// sends the browser back to (the callback, not yet opened).
async fn callback_url(pair: &Pair, browser: &mut Agent<'_>, provider: &str) -> String {
    let (csrf, return_to) = button(browser, provider).await;
    let started = browser
        .post_form(
            &format!("/upstream/{provider}/start"),
            &[("csrf", &csrf), ("return_to", &return_to)],
        )
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let at_upstream = started.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        at_upstream.starts_with(&pair.upstream.address),
        "{at_upstream}"
    );
    let sent = query_of(&at_upstream);
    assert_eq!(sent["code_challenge_method"], "S256");
    assert!(sent.contains_key("nonce") && sent.contains_key("state"));
    let mut person = Agent::new(&pair.upstream);
    let back = person.authorize(&at_upstream, "ada@example.com").await;
    assert!(
        back.starts_with(&format!(
            "{}/upstream/{provider}/callback",
            pair.app.address
        )),
        "{back}"
    );
    back
}

#[tokio::test]
async fn a_first_sign_in_creates_an_account_without_a_password_and_opens_a_session() {
    let pair = pair().await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    let signed_in = browser.get(&back).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[LOCATION], "/account");
    let account = browser.get("/account").await;
    assert_eq!(account.status(), StatusCode::OK);
    assert!(account.text().await.unwrap().contains("ada@example.com"));

    let app = &pair.app;
    assert_eq!(app.stored_accounts().await, 1);
    assert_eq!(app.audited("upstream_sign_in").await, 1);
    assert_eq!(app.browser_sessions().await.1, 1);
    assert!(app.stored_verified("ada@example.com").await);
    // No password: the password grant answers as for a wrong one.
    let grant = app.login_response("ada@example.com", PASSWORD).await;
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = grant.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    // The second sign-in finds the same account.
    let mut again = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut again, "corp").await;
    assert_eq!(again.get(&back).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.stored_accounts().await, 1);
    assert_eq!(app.audited("upstream_sign_in").await, 2);
}

#[tokio::test]
async fn a_callback_is_used_once_by_the_browser_that_began_it() {
    let pair = pair().await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;

    // Another browser (its own cookies) gets nothing from it, and does not use it up.
    let mut thief = Agent::new(&pair.app);
    thief.get("/signin").await;
    let stolen = thief.get(&back).await;
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    assert!(!thief.cookies.contains_key("gatehouse-session"));

    assert_eq!(browser.get(&back).await.status(), StatusCode::SEE_OTHER);
    // Used once: the same answer again is refused.
    let mut replay = Agent::new(&pair.app);
    replay.cookies = browser.cookies.clone();
    replay.cookies.remove("gatehouse-session");
    assert_eq!(replay.get(&back).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(pair.app.browser_sessions().await.0, 1);
    assert!(pair.app.audited("upstream_sign_in_failed").await >= 2);
}

#[tokio::test]
async fn concurrent_callbacks_with_one_code_open_exactly_one_session() {
    let pair = pair().await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    let cookies = browser.cookies.clone();
    let answers = join_all((0..8).map(|_| {
        let mut racer = Agent::new(&pair.app);
        racer.cookies = cookies.clone();
        let back = back.clone();
        async move { racer.get(&back).await.status() }
    }))
    .await;
    let won = answers
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(won, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|s| *s == StatusCode::SEE_OTHER || *s == StatusCode::BAD_REQUEST)
    );
    assert_eq!(pair.app.browser_sessions().await.0, 1);
    assert_eq!(pair.app.stored_accounts().await, 1);
}

#[tokio::test]
async fn forged_states_and_upstream_errors_are_pages_that_change_nothing() {
    let pair = pair().await;
    let mut browser = Agent::new(&pair.app);
    browser.get("/signin").await;
    for query in [
        "state=forged&code=anything",
        "code=no-state",
        "state=forged&error=access_denied&error_description=no",
        "",
    ] {
        let answer = browser
            .get(&format!("/upstream/corp/callback?{query}"))
            .await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{query}");
        let html = answer.text().await.unwrap();
        assert!(html.contains("/signin"), "a way back: {html}");
    }
    // A real sign-in the person turned down at the upstream.
    let (csrf, return_to) = button(&mut browser, "corp").await;
    let started = browser
        .post_form(
            "/upstream/corp/start",
            &[("csrf", &csrf), ("return_to", &return_to)],
        )
        .await;
    let sent = query_of(started.headers()[LOCATION].to_str().unwrap());
    let denied = browser
        .get(&format!(
            "/upstream/corp/callback?state={}&error=access_denied",
            sent["state"]
        ))
        .await;
    assert_eq!(denied.status(), StatusCode::BAD_REQUEST);
    assert!(denied.text().await.unwrap().contains("access_denied"));
    assert_eq!(pair.app.stored_accounts().await, 0);
    assert_eq!(pair.app.browser_sessions().await.0, 0);
    // An unknown provider, and a start without this browser's CSRF token.
    let unknown = browser
        .post_form("/upstream/nobody/start", &[("csrf", &csrf)])
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let forged = browser
        .post_form("/upstream/corp/start", &[("csrf", "forged")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_answer_brought_to_another_providers_callback_is_refused() {
    let pair = pair().await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    let mixed = back.replace("/upstream/corp/callback", "/upstream/other/callback");
    let answer = browser.get(&mixed).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert_eq!(pair.app.browser_sessions().await.0, 0);
    // The provider's `iss` (RFC 9207) is checked too: another issuer is a mix-up.
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    assert!(
        query_of(&back).contains_key("iss"),
        "the upstream sends iss"
    );
    let mut forged = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(key, value)| match key.as_ref() {
            "iss" => (key.into_owned(), "https://evil.example".to_owned()),
            _ => (key.into_owned(), value.into_owned()),
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let forged = forged.to_string();
    assert_eq!(browser.get(&forged).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(pair.app.browser_sessions().await.0, 0);
}

/// The CSRF token of `browser`'s account page (it is signed in).
async fn account_csrf(browser: &mut Agent<'_>) -> String {
    let html = browser.get("/account").await.text().await.unwrap();
    input_value(&html, "csrf").expect("a CSRF field")
}

/// The link page's confirmation form is there: its CSRF token.
async fn offer_form(browser: &mut Agent<'_>) -> String {
    let page = browser.get("/upstream/link").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Link Corp"), "{html}");
    input_value(&html, "csrf").expect("a CSRF field")
}

#[tokio::test]
async fn an_identity_with_an_accounts_address_is_linked_only_once_its_owner_signs_in_and_confirms()
{
    let pair = pair().await;
    // Ada has a password account here already; so has Bob.
    pair.app.register_ok("ada@example.com").await;
    pair.app.register_ok("bob@example.com").await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    let answer = browser.get(&back).await;
    // Nothing opened, nothing linked: an offer, which only this browser's cookie holds.
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/upstream/link");
    assert!(browser.cookies.contains_key("gatehouse-link"));
    assert!(!browser.cookies.contains_key("gatehouse-session"));
    assert_eq!(pair.app.browser_sessions().await.0, 0);
    assert_eq!(pair.app.stored_accounts().await, 2);
    assert_eq!(pair.app.stored_identities_of("ada@example.com").await, 0);
    let offer = browser.get("/upstream/link").await;
    assert_eq!(offer.status(), StatusCode::OK);
    let html = offer.text().await.unwrap();
    assert!(
        html.contains("ada@example.com") && html.contains("/signin?return_to=%2Fupstream%2Flink"),
        "{html}"
    );
    let mut stranger = Agent::new(&pair.app);
    assert_eq!(
        stranger.get("/upstream/link").await.status(),
        StatusCode::BAD_REQUEST
    );

    // Signed in to Bob's account, the offer is not Bob's to take.
    let as_bob = browser
        .sign_in_at(
            "/signin?return_to=%2Fupstream%2Flink",
            "bob@example.com",
            PASSWORD,
        )
        .await;
    assert_eq!(as_bob.headers()[LOCATION], "/upstream/link");
    assert_eq!(
        browser.get("/upstream/link").await.status(),
        StatusCode::CONFLICT
    );
    let csrf = account_csrf(&mut browser).await;
    let taken_by_bob = browser
        .post_form("/upstream/link", &[("csrf", &csrf)])
        .await;
    assert_eq!(taken_by_bob.status(), StatusCode::CONFLICT);
    assert_eq!(pair.app.stored_identities_of("bob@example.com").await, 0);

    // Ada signs in (in this browser) and confirms: linked, once, however many confirm.
    let as_ada = browser
        .sign_in_at(
            "/signin?return_to=%2Fupstream%2Flink",
            "ada@example.com",
            PASSWORD,
        )
        .await;
    assert_eq!(as_ada.headers()[LOCATION], "/upstream/link");
    let csrf = offer_form(&mut browser).await;
    let cookies = browser
        .cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    let body = gatehouse_tests::oidc::form_body(&[("csrf", &csrf)]);
    let confirmations = join_all((0..6).map(|_| {
        pair.app
            .client
            .post(pair.app.url("/upstream/link"))
            .header("cookie", &cookies)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
    }))
    .await;
    let statuses: Vec<_> = confirmations
        .into_iter()
        .map(|answer| answer.unwrap())
        .map(|answer| {
            let to = answer.headers().get(LOCATION).cloned();
            (answer.status(), to)
        })
        .collect();
    let linked = statuses
        .iter()
        .filter(|(status, to)| {
            *status == StatusCode::SEE_OTHER && to.as_ref().unwrap() == "/account?done=linked"
        })
        .count();
    assert_eq!(linked, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|(status, _)| *status == StatusCode::SEE_OTHER
                || *status == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
    assert_eq!(pair.app.stored_identities_of("ada@example.com").await, 1);
    assert_eq!(pair.app.audited("identity_linked").await, 1);
    let replayed = browser
        .post_form("/upstream/link", &[("csrf", &csrf)])
        .await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);

    // The provider now opens Ada's account.
    let mut elsewhere = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut elsewhere, "corp").await;
    let signed_in = elsewhere.get(&back).await;
    assert_eq!(signed_in.headers()[LOCATION], "/account");
    assert!(
        elsewhere
            .get("/account")
            .await
            .text()
            .await
            .unwrap()
            .contains("ada@example.com")
    );
    assert_eq!(pair.app.stored_accounts().await, 2);
}

#[tokio::test]
async fn a_link_offer_needs_a_sign_in_made_after_it() {
    let pair = pair().await;
    pair.app.register_ok("ada@example.com").await;
    let mut browser = Agent::new(&pair.app);
    // Ada was signed in before the provider asserted her address.
    browser
        .sign_in_at("/signin?return_to=%2Faccount", "ada@example.com", PASSWORD)
        .await;
    let back = callback_url(&pair, &mut browser, "corp").await;
    assert_eq!(
        browser.get(&back).await.headers()[LOCATION],
        "/upstream/link"
    );
    let csrf = offer_form(&mut browser).await;
    let stale = browser
        .post_form("/upstream/link", &[("csrf", &csrf)])
        .await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    assert_eq!(pair.app.stored_identities_of("ada@example.com").await, 0);
    browser
        .sign_in_at(
            "/signin?return_to=%2Fupstream%2Flink",
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let csrf = offer_form(&mut browser).await;
    let linked = browser
        .post_form("/upstream/link", &[("csrf", &csrf)])
        .await;
    assert_eq!(linked.headers()[LOCATION], "/account?done=linked");
    assert_eq!(pair.app.stored_identities_of("ada@example.com").await, 1);
}

/// From the account page, begins signing in again at `provider`: where the browser is sent.
async fn begin_reauthentication(browser: &mut Agent<'_>, provider: &str) -> String {
    let html = browser.get("/account").await.text().await.unwrap();
    assert!(html.contains("Sign in again with"), "{html}");
    let csrf = input_value(&html, "csrf").unwrap();
    let started = browser
        .post_form(
            "/account/reauthenticate",
            &[("csrf", &csrf), ("provider", provider)],
        )
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    started.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// From the account page, tries to begin linking `provider` (a change to how the account
/// signs in): the page's status.
async fn try_link(browser: &mut Agent<'_>, provider: &str) -> StatusCode {
    let csrf = account_csrf(browser).await;
    let answer = browser
        .post_form(
            "/account/identities/link",
            &[("csrf", &csrf), ("provider", provider)],
        )
        .await;
    answer.status()
}

#[tokio::test]
async fn an_account_without_a_password_reauthenticates_by_a_fresh_sign_in_at_its_provider() {
    let pair = pair_on(None, |s| s.auth.reauthentication_seconds = 1).await;
    pair.upstream.register_ok("bob@example.com").await;
    pair.upstream.verify_every_account().await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    assert_eq!(browser.get(&back).await.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    // The sign-in is too old to change how the account signs in.
    assert_eq!(try_link(&mut browser, "other").await, StatusCode::FORBIDDEN);

    // Signing in at the provider as someone else proves nothing about Ada.
    let at_upstream = begin_reauthentication(&mut browser, "corp").await;
    assert!(at_upstream.starts_with(&pair.upstream.address));
    assert_eq!(query_of(&at_upstream)["prompt"], "login");
    let mut bob = Agent::new(&pair.upstream);
    let back = bob.authorize(&at_upstream, "bob@example.com").await;
    assert_eq!(browser.get(&back).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(try_link(&mut browser, "other").await, StatusCode::FORBIDDEN);

    // Ada signs in again at the provider: her session is fresh, the change goes through.
    let at_upstream = begin_reauthentication(&mut browser, "corp").await;
    let mut ada = Agent::new(&pair.upstream);
    let back = ada.authorize(&at_upstream, "ada@example.com").await;
    let fresh = browser.get(&back).await;
    assert_eq!(fresh.status(), StatusCode::SEE_OTHER);
    assert_eq!(fresh.headers()[LOCATION], "/account?done=reauthenticated");
    assert_eq!(try_link(&mut browser, "other").await, StatusCode::SEE_OTHER);
    // The callback of a re-authentication is used once, like any.
    assert_eq!(browser.get(&back).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(pair.app.browser_sessions().await, (1, 1));
}

#[tokio::test]
async fn an_account_without_a_password_makes_a_token_only_soon_after_signing_in() {
    let clock = ManualClock::new();
    let pair = pair_on(Some(clock.clone()), |_| {}).await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    assert_eq!(browser.get(&back).await.status(), StatusCode::SEE_OTHER);
    let html = browser.get("/account").await.text().await.unwrap();
    // No password to ask for: the form has no such field.
    assert!(html.contains("action=\"/account/tokens\"") && !html.contains("token_password"));
    for (wait, status) in [(0, StatusCode::OK), (301, StatusCode::FORBIDDEN)] {
        clock.advance(chrono::Duration::seconds(wait));
        let csrf = account_csrf(&mut browser).await;
        let made = browser
            .post_form(
                "/account/tokens",
                &[
                    ("csrf", csrf.as_str()),
                    ("name", "script"),
                    ("scope", "me"),
                    ("expires_in_days", "7"),
                ],
            )
            .await;
        assert_eq!(made.status(), status, "{wait} s after signing in");
    }
    assert_eq!(pair.app.stored_personal_tokens("").await.0, 1);
}

#[tokio::test]
async fn an_app_asking_for_a_fresh_sign_in_gets_one_at_the_provider_too() {
    use gatehouse_tests::oidc::{authorize_url, pkce};
    let pair = pair().await;
    let admin = pair.app.admin_token("admin@example.com").await;
    let callback = "http://127.0.0.1:9/app-callback";
    register_client(&pair.app, &admin, spa("app", callback)).await;
    let (_, challenge) = pkce();
    let request = |extra: &[(&'static str, &'static str)]| {
        let mut params = vec![
            ("client_id", "app"),
            ("redirect_uri", callback),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        authorize_url(&pair.app, &params)
    };
    // (the request's extra parameters, whether the provider is asked to sign in again)
    let cases: [(&[(&str, &str)], bool); 6] = [
        (&[("idp_hint", "corp")], false),
        (&[("idp_hint", "corp"), ("prompt", "login")], true),
        (&[("idp_hint", "corp"), ("max_age", "60")], true),
        (&[], false),
        (&[("prompt", "login")], true),
        (&[("max_age", "60")], true),
    ];
    for (extra, fresh) in cases {
        let mut browser = Agent::new(&pair.app);
        let first = browser.get(&request(extra)).await;
        assert_eq!(first.status(), StatusCode::SEE_OTHER);
        let mut next = first.headers()[LOCATION].to_str().unwrap().to_owned();
        if next.starts_with("/signin") {
            // Through the sign-in page's button.
            let html = browser.get(&next).await.text().await.unwrap();
            assert_eq!(
                html.contains("name=\"fresh\" value=\"1\""),
                fresh,
                "{extra:?}: {html}"
            );
            let csrf = input_value(&html, "csrf").unwrap();
            let return_to = input_value(&html, "return_to").unwrap();
            let mut form = vec![("csrf", csrf.as_str()), ("return_to", return_to.as_str())];
            if fresh {
                form.push(("fresh", "1"));
            }
            let started = browser.post_form("/upstream/corp/start", &form).await;
            next = started.headers()[LOCATION].to_str().unwrap().to_owned();
        }
        assert!(
            next.starts_with(&pair.upstream.address),
            "{extra:?}: {next}"
        );
        let sent = query_of(&next);
        assert_eq!(
            sent.get("prompt").map(String::as_str) == Some("login"),
            fresh,
            "{extra:?}: {next}"
        );
    }
}

#[tokio::test]
async fn an_unverified_address_creates_no_account() {
    let (upstream, admin, _keys) = eddsa_app().await;
    // Mallory's upstream account claims an address it never verified.
    upstream.register_ok("mallory@example.com").await;
    let issuer = upstream.address.clone();
    let app = TestApp::builder()
        .settings(move |s| {
            s.upstream.insert(
                "corp".into(),
                UpstreamSettings {
                    kind: UpstreamKind::Oidc,
                    name: Some("Corp".into()),
                    issuer: Some(issuer),
                    client_id: "rp".into(),
                    ..UpstreamSettings::default()
                },
            );
        })
        .spawn()
        .await;
    let callback = format!("{}/upstream/corp/callback", app.address);
    register_client(&upstream, &admin, spa("rp", &callback)).await;
    let pair = Pair {
        upstream,
        app,
        _keys: (_keys, tempfile::tempdir().unwrap()),
    };
    pair.app.register_ok("mallory@example.com").await;
    let mut browser = Agent::new(&pair.app);
    let (csrf, return_to) = button(&mut browser, "corp").await;
    let started = browser
        .post_form(
            "/upstream/corp/start",
            &[("csrf", &csrf), ("return_to", &return_to)],
        )
        .await;
    let at_upstream = started.headers()[LOCATION].to_str().unwrap().to_owned();
    let mut person = Agent::new(&pair.upstream);
    let page = person.get(&at_upstream).await;
    let location = page.headers()[LOCATION].to_str().unwrap().to_owned();
    let signed_in = person
        .sign_in_at(&location, "mallory@example.com", PASSWORD)
        .await;
    let mut next = signed_in.headers()[LOCATION].to_str().unwrap().to_owned();
    while next.starts_with('/') {
        let response = person.get(&next).await;
        next = response.headers()[LOCATION].to_str().unwrap().to_owned();
    }
    let answer = browser.get(&next).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key("gatehouse-session"));
    assert_eq!(pair.app.stored_accounts().await, 1);
    assert_eq!(pair.app.browser_sessions().await.0, 0);
}

#[tokio::test]
async fn an_unreachable_provider_is_shown_unavailable_and_never_stops_the_server() {
    let app = TestApp::builder()
        .settings(|s| {
            s.upstream.insert(
                "down".into(),
                UpstreamSettings {
                    kind: UpstreamKind::Oidc,
                    name: Some("Down".into()),
                    // Nothing listens on port 9 of loopback.
                    issuer: Some("http://127.0.0.1:9".into()),
                    client_id: "rp".into(),
                    timeout_secs: 1,
                    ..UpstreamSettings::default()
                },
            );
            s.upstream.insert(
                "broken".into(),
                UpstreamSettings {
                    kind: UpstreamKind::Oidc,
                    name: Some("Broken".into()),
                    client_id: "rp".into(),
                    ..UpstreamSettings::default()
                },
            );
        })
        .spawn()
        .await;
    let mut browser = Agent::new(&app);
    let html = browser.get("/signin").await.text().await.unwrap();
    assert!(
        html.contains("Continue with Broken (unavailable)"),
        "{html}"
    );
    let csrf = input_value(&html, "csrf").unwrap();
    for provider in ["down", "broken"] {
        let answer = browser
            .post_form(&format!("/upstream/{provider}/start"), &[("csrf", &csrf)])
            .await;
        assert_eq!(
            answer.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{provider}"
        );
    }
    let html = browser.get("/signin").await.text().await.unwrap();
    assert!(html.contains("Continue with Down (unavailable)"), "{html}");
    // The password sign-in still works.
    assert_eq!(app.get("/health/ready").await.status(), StatusCode::OK);
}

/// From the account page (signed in as `browser`), links `provider` (giving `password` when
/// the account has one), signing in at the upstream as ada: the account page's answer.
async fn link(
    pair: &Pair,
    browser: &mut Agent<'_>,
    provider: &str,
    password: Option<&str>,
) -> reqwest::Response {
    let html = browser.get("/account").await.text().await.unwrap();
    assert!(
        html.contains(&format!("value=\"{provider}\"")),
        "a link button: {html}"
    );
    let csrf = input_value(&html, "csrf").unwrap();
    let mut form = vec![("csrf", csrf.as_str()), ("provider", provider)];
    if let Some(password) = password {
        form.push(("current_password", password));
    }
    let started = browser.post_form("/account/identities/link", &form).await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let at_upstream = started.headers()[LOCATION].to_str().unwrap().to_owned();
    let mut person = Agent::new(&pair.upstream);
    let back = person.authorize(&at_upstream, "ada@example.com").await;
    browser.get(&back).await
}

#[tokio::test]
async fn a_password_account_links_a_provider_then_signs_in_with_it_and_unlinks_it() {
    let pair = pair().await;
    pair.app.register_ok("ada@example.com").await;
    let mut browser = Agent::new(&pair.app);
    let signed_in = browser
        .sign_in_at("/signin?return_to=%2Faccount", "ada@example.com", PASSWORD)
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    // Linking needs the current password.
    let html = browser.get("/account").await.text().await.unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let refused = browser
        .post_form(
            "/account/identities/link",
            &[
                ("csrf", &csrf),
                ("provider", "corp"),
                ("current_password", "wrong horse"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let linked = link(&pair, &mut browser, "corp", Some(PASSWORD)).await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    assert_eq!(linked.headers()[LOCATION], "/account?done=linked");
    assert_eq!(pair.app.audited("identity_linked").await, 1);

    // The provider now opens this account.
    let mut other = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut other, "corp").await;
    assert_eq!(other.get(&back).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(pair.app.stored_accounts().await, 1);

    // The API lists it and unlinks it (re-authenticated).
    let token = pair.app.login("ada@example.com").await;
    let listed: serde_json::Value = pair
        .app
        .bearer_get("/api/v1/users/me/identities", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["provider"], "corp");
    let subject = listed[0]["subject"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/me/identities/corp/{subject}");
    let without = pair
        .app
        .bearer_send(
            reqwest::Method::DELETE,
            &path,
            &token,
            Some(&serde_json::json!({})),
        )
        .await;
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let unlinked = pair
        .app
        .bearer_send(
            reqwest::Method::DELETE,
            &path,
            &token,
            Some(&serde_json::json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(unlinked.status(), StatusCode::NO_CONTENT);
    let again = pair
        .app
        .bearer_send(
            reqwest::Method::DELETE,
            &path,
            &token,
            Some(&serde_json::json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(pair.app.audited("identity_unlinked").await, 1);
}

#[tokio::test]
async fn racing_unlinks_never_leave_an_account_without_a_password_with_no_way_in() {
    let pair = pair().await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    assert_eq!(browser.get(&back).await.status(), StatusCode::SEE_OTHER);
    // No password: a recent sign-in re-authenticates.
    let linked = link(&pair, &mut browser, "other", None).await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    let html = browser.get("/account").await.text().await.unwrap();
    assert!(
        !html.contains("unlink_password_"),
        "no password to ask for: {html}"
    );
    let csrf = input_value(&html, "csrf").unwrap();
    let token_subject = html
        .split("name=\"subject\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let cookies = browser.cookies.clone();
    let answers = join_all(["corp", "other"].map(|provider| {
        let mut racer = Agent::new(&pair.app);
        racer.cookies = cookies.clone();
        let (csrf, subject) = (csrf.clone(), token_subject.clone());
        async move {
            racer
                .post_form(
                    "/account/identities/unlink",
                    &[
                        ("csrf", &csrf),
                        ("provider", provider),
                        ("subject", &subject),
                    ],
                )
                .await
                .status()
        }
    }))
    .await;
    let done = answers
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    let kept = answers
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((done, kept), (1, 1), "{answers:?}");
    let html = browser.get("/account").await.text().await.unwrap();
    assert_eq!(
        html.matches("/account/identities/unlink").count(),
        1,
        "{html}"
    );
}

#[tokio::test]
async fn an_account_with_two_step_verification_is_asked_for_its_code_after_the_provider() {
    let clock = ManualClock::new();
    let pair = pair_on(Some(clock.clone()), |_| {}).await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    assert_eq!(browser.get(&back).await.status(), StatusCode::SEE_OTHER);
    // No password: the recent sign-in re-authenticates the enrolment.
    let html = browser.get("/account").await.text().await.unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let started = browser
        .post_form("/account/mfa/start", &[("csrf", &csrf)])
        .await;
    assert_eq!(started.status(), StatusCode::OK);
    let html = started.text().await.unwrap();
    let secret = html
        .split("<code id=\"totp-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    let confirmed = browser
        .post_form(
            "/account/mfa/confirm",
            &[("csrf", &csrf), ("code", &code_at(&secret, clock.now()))],
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    clock.advance(chrono::Duration::seconds(30));

    // The provider alone no longer opens a session: the code page comes next.
    let mut next = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut next, "corp").await;
    let step = next.get(&back).await;
    assert_eq!(step.status(), StatusCode::OK);
    assert!(!next.cookies.contains_key("gatehouse-session"));
    let html = step.text().await.unwrap();
    let mfa_token = input_value(&html, "mfa_token").expect("the code page");
    let csrf = input_value(&html, "csrf").unwrap();
    let return_to = input_value(&html, "return_to").unwrap();
    let done = next
        .post_form(
            "/signin/mfa",
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("mfa_token", &mfa_token),
                ("otp", &code_at(&secret, clock.now())),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(next.cookies.contains_key("gatehouse-session"));
    // Only what gatehouse checked: a code, after the provider; never `pwd`.
    assert_eq!(pair.app.browser_sessions_by("otp").await, 1);
    assert_eq!(pair.app.browser_sessions_by("pwd otp").await, 0);
}

/// An app offering GitHub (`github`), whose endpoints are a local stand-in answering in
/// GitHub's documented shapes, with these addresses on `/user/emails`.
async fn with_github(emails: serde_json::Value) -> (TestApp, wiremock::MockServer) {
    use wiremock::matchers::{body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .and(body_string_contains("code=the-code"))
        .and(body_string_contains("code_verifier="))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "gho_16C7e42F292c6912E7710c838347Ae178B4a",
            "token_type": "bearer",
            "scope": "read:user,user:email"
        })))
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header(
            "authorization",
            "Bearer gho_16C7e42F292c6912E7710c838347Ae178B4a",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "login": "octocat", "id": 583231, "name": "The Octocat",
            "email": "unverified-public@example.com"
        })))
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/emails"))
        .respond_with(ResponseTemplate::new(200).set_body_json(emails))
        .mount(&github)
        .await;
    let base = github.uri();
    let app = TestApp::builder()
        .settings(move |s| {
            s.upstream.insert(
                "github".into(),
                UpstreamSettings {
                    kind: UpstreamKind::Github,
                    client_id: "Iv1.test".into(),
                    client_secret: Some("github-secret".into()),
                    authorization_url: Some(format!("{base}/login/oauth/authorize")),
                    token_url: Some(format!("{base}/login/oauth/access_token")),
                    api_url: Some(base),
                    ..UpstreamSettings::default()
                },
            );
        })
        .spawn()
        .await;
    (app, github)
}

/// Starts a GitHub sign-in and comes back with the code GitHub would send.
async fn github_sign_in(app: &TestApp, browser: &mut Agent<'_>) -> reqwest::Response {
    let html = browser.get("/signin").await.text().await.unwrap();
    assert!(html.contains("Continue with GitHub"), "{html}");
    let csrf = input_value(&html, "csrf").unwrap();
    let started = browser
        .post_form("/upstream/github/start", &[("csrf", &csrf)])
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let at_github = started.headers()[LOCATION].to_str().unwrap().to_owned();
    let sent = query_of(&at_github);
    assert_eq!(sent["client_id"], "Iv1.test");
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_eq!(
        sent["redirect_uri"],
        format!("{}/upstream/github/callback", app.address)
    );
    browser
        .get(&format!(
            "/upstream/github/callback?code=the-code&state={}",
            sent["state"]
        ))
        .await
}

#[tokio::test]
async fn github_signs_in_with_its_verified_primary_address_only() {
    let (app, _github) = with_github(serde_json::json!([
        {"email": "octocat@old.example", "primary": false, "verified": true, "visibility": null},
        {"email": "octocat@example.com", "primary": true, "verified": true, "visibility": "public"}
    ]))
    .await;
    let mut browser = Agent::new(&app);
    let answer = github_sign_in(&app, &mut browser).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert!(browser.cookies.contains_key("gatehouse-session"));
    let account = browser.get("/account").await.text().await.unwrap();
    assert!(account.contains("octocat@example.com"), "{account}");
    assert!(
        account.contains("583231"),
        "the identity is GitHub's numeric id: {account}"
    );
    assert_eq!(app.stored_accounts().await, 1);
}

#[tokio::test]
async fn github_without_a_verified_primary_address_creates_no_account() {
    let (app, _github) = with_github(serde_json::json!([
        {"email": "octocat@example.com", "primary": true, "verified": false, "visibility": "public"},
        {"email": "octocat@old.example", "primary": false, "verified": true, "visibility": null}
    ]))
    .await;
    let mut browser = Agent::new(&app);
    let answer = github_sign_in(&app, &mut browser).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key("gatehouse-session"));
    assert_eq!(app.stored_accounts().await, 0);
}

#[tokio::test]
async fn an_app_skips_the_sign_in_page_with_idp_hint_and_its_tokens_name_the_provider_not_a_password()
 {
    use gatehouse_tests::oidc::{authorize_url, pkce};
    let pair = pair().await;
    let admin = pair.app.admin_token("admin@example.com").await;
    let callback = "http://127.0.0.1:9/app-callback";
    register_client(&pair.app, &admin, spa("app", callback)).await;
    let (verifier, challenge) = pkce();
    let request = |hint: &str| {
        authorize_url(
            &pair.app,
            &[
                ("client_id", "app"),
                ("redirect_uri", callback),
                ("response_type", "code"),
                ("scope", "openid email"),
                ("state", "s1"),
                ("nonce", "n1"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("idp_hint", hint),
            ],
        )
    };
    let mut browser = Agent::new(&pair.app);
    let first = browser.get(&request("corp")).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let at_upstream = first.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        at_upstream.starts_with(&pair.upstream.address),
        "{at_upstream}"
    );
    let mut person = Agent::new(&pair.upstream);
    let back = person.authorize(&at_upstream, "ada@example.com").await;
    let signed_in = browser.get(&back).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let resume = signed_in.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(resume.starts_with("/oauth2/authorize?"), "{resume}");
    let to_app = browser.get(&resume).await;
    let location = to_app.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(callback), "{location}");
    let tokens: serde_json::Value = pair
        .app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &query_of(&location)["code"]),
            ("redirect_uri", callback),
            ("client_id", "app"),
            ("code_verifier", &verifier),
        ])
        .await
        .json()
        .await
        .unwrap();
    let id_token = gatehouse_tests::totp::claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], "ada@example.com");
    assert!(
        id_token.get("amr").is_none(),
        "no method gatehouse checked: {id_token}"
    );
    assert_eq!(id_token["idp"], "corp", "{id_token}");
    let access = gatehouse_tests::totp::claims(tokens["access_token"].as_str().unwrap());
    assert!(access.get("amr").is_none(), "{access}");
    assert_eq!(access["idp"], "corp", "{access}");
    // A password's tokens name no provider.
    let password = gatehouse_tests::totp::claims(&pair.app.login("admin@example.com").await);
    assert!(password.get("idp").is_none(), "{password}");

    // An unknown provider's hint shows gatehouse's page, as without one.
    let mut other = Agent::new(&pair.app);
    let page = other.get(&request("nobody")).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert!(
        page.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/signin?")
    );
}

/// A provider nobody configured by hand is gatehouse; this one is a stand-in whose ID
/// tokens the test signs, to send what a real provider must never be believed for.
mod forged_id_tokens {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use secrecy::ExposeSecret;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// An Ed25519 signing key and its public key as a JWK (`kid` "a").
    fn ed25519() -> (EncodingKey, serde_json::Value) {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let (private, public) = gatehouse_security::keys::generate_ed25519().unwrap();
        let der: String = public
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = STANDARD.decode(der).unwrap();
        // The SubjectPublicKeyInfo ends with the 32 bytes of the key.
        let x = URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]);
        let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "a", "x": x});
        let key = EncodingKey::from_ed_pem(private.expose_secret().as_bytes()).unwrap();
        (key, jwk)
    }

    async fn serve_provider(provider: &MockServer, jwk: &serde_json::Value) {
        let uri = provider.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "issuer": uri,
                "authorization_endpoint": format!("{uri}/authorize"),
                "token_endpoint": format!("{uri}/token"),
                "jwks_uri": format!("{uri}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["EdDSA"]
            })))
            .mount(provider)
            .await;
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"keys": [jwk]})),
            )
            .mount(provider)
            .await;
    }

    /// Begins a sign-in and returns the nonce the provider was sent, and the state.
    async fn begin(browser: &mut Agent<'_>) -> (String, String) {
        let html = browser.get("/signin").await.text().await.unwrap();
        let csrf = input_value(&html, "csrf").unwrap();
        let started = browser
            .post_form("/upstream/corp/start", &[("csrf", &csrf)])
            .await;
        assert_eq!(started.status(), StatusCode::SEE_OTHER);
        let sent = query_of(started.headers()[LOCATION].to_str().unwrap());
        (sent["nonce"].clone(), sent["state"].clone())
    }

    #[tokio::test]
    async fn id_tokens_of_another_key_issuer_audience_nonce_or_time_are_refused() {
        let provider = MockServer::start().await;
        let (key, jwk) = ed25519();
        serve_provider(&provider, &jwk).await;
        let issuer = provider.uri();
        let app = TestApp::builder()
            .settings(move |s| {
                s.upstream.insert(
                    "corp".into(),
                    UpstreamSettings {
                        kind: UpstreamKind::Oidc,
                        issuer: Some(issuer),
                        client_id: "rp".into(),
                        ..UpstreamSettings::default()
                    },
                );
            })
            .spawn()
            .await;
        let now = chrono::Utc::now().timestamp();
        let uri = provider.uri();
        let (other_key, _) = ed25519();
        // (what the ID token says, the key and kid it is signed with)
        type Forge = fn(&mut serde_json::Value, &str);
        let cases: [(&str, Forge, bool, &str); 9] = [
            ("a true one", |_, _| {}, false, "a"),
            ("another key", |_, _| {}, true, "a"),
            ("a key no one holds", |_, _| {}, true, "b"),
            (
                "another issuer",
                |c, _| c["iss"] = "https://evil.example".into(),
                false,
                "a",
            ),
            (
                "another audience",
                |c, _| c["aud"] = "someone-else".into(),
                false,
                "a",
            ),
            (
                "another nonce",
                |c, _| c["nonce"] = "not-yours".into(),
                false,
                "a",
            ),
            (
                "an overlong subject",
                |c, _| c["sub"] = "s".repeat(300).into(),
                false,
                "a",
            ),
            (
                "a subject with a NUL",
                |c, _| c["sub"] = "sub\u{0}ject".into(),
                false,
                "a",
            ),
            (
                "an expired one",
                |c, _| {
                    let past = chrono::Utc::now().timestamp() - 3600;
                    c["exp"] = past.into();
                    c["iat"] = (past - 60).into();
                },
                false,
                "a",
            ),
        ];
        for (case, forge, other, kid) in cases {
            let mut browser = Agent::new(&app);
            let (nonce, state) = begin(&mut browser).await;
            let mut claims = serde_json::json!({
                "iss": uri, "aud": "rp", "sub": "subject-1", "iat": now, "exp": now + 300,
                "nonce": nonce, "email": "ada@example.com", "email_verified": true
            });
            forge(&mut claims, &nonce);
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(kid.into());
            let signer = if other { &other_key } else { &key };
            let id_token = jsonwebtoken::encode(&header, &claims, signer).unwrap();
            provider.reset().await;
            serve_provider(&provider, &jwk).await;
            Mock::given(method("POST"))
                .and(path("/token"))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                    "access_token": "at", "token_type": "Bearer", "expires_in": 60,
                    "id_token": id_token
                })))
                .mount(&provider)
                .await;
            let answer = browser
                .get(&format!("/upstream/corp/callback?code=c&state={state}"))
                .await;
            let signed_in = browser.cookies.contains_key("gatehouse-session");
            if case == "a true one" {
                assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{case}");
                assert!(signed_in, "{case}");
            } else {
                assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{case}");
                assert!(!signed_in, "{case}");
            }
        }
        assert_eq!(app.browser_sessions().await.0, 1);
        assert_eq!(app.stored_accounts().await, 1);
        assert!(app.audited("upstream_sign_in_failed").await >= 6);
    }
    /// The stand-in's token endpoint answers an ID token with `claims`, signed by `key`.
    async fn answer_with(
        provider: &MockServer,
        jwk: &serde_json::Value,
        key: &EncodingKey,
        claims: &serde_json::Value,
    ) {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("a".into());
        let id_token = jsonwebtoken::encode(&header, claims, key).unwrap();
        provider.reset().await;
        serve_provider(provider, jwk).await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "at", "token_type": "Bearer", "expires_in": 60,
                "id_token": id_token
            })))
            .mount(provider)
            .await;
    }

    #[tokio::test]
    async fn a_re_authentication_the_provider_says_is_an_old_sign_in_is_refused() {
        let provider = MockServer::start().await;
        let (key, jwk) = ed25519();
        serve_provider(&provider, &jwk).await;
        let issuer = provider.uri();
        let app = TestApp::builder()
            .settings(move |s| {
                s.auth.reauthentication_seconds = 1;
                s.upstream.insert(
                    "corp".into(),
                    UpstreamSettings {
                        kind: UpstreamKind::Oidc,
                        name: Some("Corp".into()),
                        issuer: Some(issuer),
                        client_id: "rp".into(),
                        ..UpstreamSettings::default()
                    },
                );
            })
            .spawn()
            .await;
        let now = chrono::Utc::now().timestamp();
        let claims = |nonce: &str, auth_time: i64| {
            serde_json::json!({
                "iss": provider.uri(), "aud": "rp", "sub": "subject-1", "iat": now,
                "exp": now + 300, "nonce": nonce, "auth_time": auth_time,
                "email": "ada@example.com", "email_verified": true
            })
        };
        let mut browser = Agent::new(&app);
        let (nonce, state) = begin(&mut browser).await;
        answer_with(&provider, &jwk, &key, &claims(&nonce, now)).await;
        let signed_in = browser
            .get(&format!("/upstream/corp/callback?code=c&state={state}"))
            .await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        for (auth_time, expected) in [
            (now - 3600, StatusCode::BAD_REQUEST),
            (chrono::Utc::now().timestamp(), StatusCode::SEE_OTHER),
        ] {
            let sent = query_of(&begin_reauthentication(&mut browser, "corp").await);
            assert_eq!(sent["prompt"], "login");
            answer_with(&provider, &jwk, &key, &claims(&sent["nonce"], auth_time)).await;
            let state = &sent["state"];
            let answer = browser
                .get(&format!("/upstream/corp/callback?code=c&state={state}"))
                .await;
            assert_eq!(answer.status(), expected, "auth_time {auth_time}");
            let allowed = try_link(&mut browser, "corp").await;
            // Still too old after the refused answer; fresh after the other.
            assert_eq!(
                allowed == StatusCode::FORBIDDEN,
                expected == StatusCode::BAD_REQUEST,
                "{allowed}"
            );
        }
    }
}

#[tokio::test]
async fn an_account_made_by_a_provider_sets_a_password_by_email_and_admins_see_its_identities() {
    use gatehouse_tests::{token_in, wait_for_mail};
    let pair = pair().await;
    let mut browser = Agent::new(&pair.app);
    let back = callback_url(&pair, &mut browser, "corp").await;
    assert_eq!(browser.get(&back).await.status(), StatusCode::SEE_OTHER);

    // Admins see the identity; a user's token does not reach it.
    let admin = pair.app.admin_token("admin@example.com").await;
    let users: serde_json::Value = pair
        .app
        .bearer_get("/api/v1/users?q=ada", &admin)
        .await
        .json()
        .await
        .unwrap();
    let id = users["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/{id}/identities");
    let seen: serde_json::Value = pair
        .app
        .bearer_get(&path, &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen[0]["provider"], "corp", "{seen}");
    pair.app.register_ok("bob@example.com").await;
    let bob = pair.app.login("bob@example.com").await;
    assert_eq!(
        pair.app.bearer_get(&path, &bob).await.status(),
        StatusCode::FORBIDDEN
    );

    // The reset email sets a first password, which then signs in.
    let asked = pair
        .app
        .post_json(
            "/api/v1/auth/password-reset",
            &serde_json::json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let token = token_in(&wait_for_mail(&pair.app, 1).await[0], "/reset-password");
    let reset = pair
        .app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &serde_json::json!({"token": token, "new_password": "a first password of hers"}),
        )
        .await;
    assert!(reset.status().is_success(), "{}", reset.status());
    assert_eq!(
        pair.app
            .login_response("ada@example.com", "a first password of hers")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_burst_of_callbacks_from_one_network_is_cut_off() {
    let app = TestApp::builder()
        .settings(|s| {
            s.auth.upstream_sign_ins_per_ip = 5;
            s.upstream.insert(
                "corp".into(),
                UpstreamSettings {
                    kind: UpstreamKind::Oidc,
                    issuer: Some("http://127.0.0.1:9".into()),
                    client_id: "rp".into(),
                    timeout_secs: 1,
                    ..UpstreamSettings::default()
                },
            );
        })
        .spawn()
        .await;
    let mut browser = Agent::new(&app);
    browser.get("/signin").await;
    let cookies = browser.cookies.clone();
    let answers = join_all((0..20).map(|n| {
        let mut racer = Agent::new(&app);
        racer.cookies = cookies.clone();
        async move {
            racer
                .get(&format!("/upstream/corp/callback?state=guess-{n}&code=c"))
                .await
                .status()
        }
    }))
    .await;
    let judged = answers
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    let throttled = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(judged + throttled, 20, "{answers:?}");
    assert!(judged <= 5, "{judged} state guesses were judged");
    assert_eq!(app.audited("upstream_sign_in_failed").await, judged as i64);
}

#[tokio::test]
async fn a_slow_or_oversized_provider_is_unavailable_not_a_hang_or_a_500() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    /// A provider whose discovery would work, but arrives after 5 s or weighs 2 MiB.
    async fn provider(delay: u64, padding: usize) -> MockServer {
        let server = MockServer::start().await;
        let uri = server.uri();
        let discovery = serde_json::json!({
            "issuer": uri,
            "authorization_endpoint": format!("{uri}/authorize"),
            "token_endpoint": format!("{uri}/token"),
            "jwks_uri": format!("{uri}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "padding": "x".repeat(padding),
        });
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(discovery)
                    .set_delay(std::time::Duration::from_secs(delay)),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"keys": []})))
            .mount(&server)
            .await;
        server
    }
    let (fine, slow, huge) = (
        provider(0, 0).await,
        provider(5, 0).await,
        provider(0, 2 << 20).await,
    );
    let uris = [
        ("fine", fine.uri()),
        ("slow", slow.uri()),
        ("huge", huge.uri()),
    ];
    let app = TestApp::builder()
        .settings(move |s| {
            for (id, issuer) in uris {
                s.upstream.insert(
                    id.into(),
                    UpstreamSettings {
                        kind: UpstreamKind::Oidc,
                        issuer: Some(issuer),
                        client_id: "rp".into(),
                        timeout_secs: 1,
                        ..UpstreamSettings::default()
                    },
                );
            }
        })
        .spawn()
        .await;
    let mut browser = Agent::new(&app);
    let html = browser.get("/signin").await.text().await.unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    // The same discovery, on time and small, works: the others fail for their delay and size.
    for (provider, expected) in [
        ("fine", StatusCode::SEE_OTHER),
        ("slow", StatusCode::SERVICE_UNAVAILABLE),
        ("huge", StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let answer = browser
            .post_form(&format!("/upstream/{provider}/start"), &[("csrf", &csrf)])
            .await;
        assert_eq!(answer.status(), expected, "{provider}");
    }
}
