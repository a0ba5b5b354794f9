//! Passkeys through the API, with software authenticators that make real signatures
//! (`webauthn-authenticator-rs`): registration, sign-in without a password, and the attacks
//! on both. The app's public URL is `http://localhost:<port>` (WebAuthn needs a domain; the
//! tests still connect to 127.0.0.1).

use futures::future::join_all;
use gatehouse_tests::{PASSWORD, TestApp, problem_code};
use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs_proto::{AllowCredentials, PublicKeyCredential};

/// An app whose public URL has a domain name, so that passkeys work.
async fn app() -> TestApp {
    TestApp::builder()
        .settings(|s| s.server.public_url = format!("http://localhost:{}", s.server.port))
        .spawn()
        .await
}

/// The origin the app's pages are served from, as a browser would name it.
fn origin(app: &TestApp) -> Url {
    Url::parse(&app.settings.server.public_url).unwrap()
}

/// A passkey of an account, as a test holds it: the authenticator, the credential's id and
/// the account's user handle (which a synced passkey would return; the software ones do
/// not keep it).
struct Held<A> {
    key: A,
    credential: Vec<u8>,
    handle: Vec<u8>,
}

/// Registers a passkey on `token`'s account with `key`: the API's answer and what it holds.
async fn register<A: WebauthnAuthenticator>(
    app: &TestApp,
    token: &str,
    mut key: A,
) -> (Value, Held<A>) {
    let begun = app
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/users/me/passkeys/registration/begin",
            token,
            Some(&json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(begun.status(), StatusCode::OK);
    let begun: Value = begun.json().await.unwrap();
    let options: CreationChallengeResponse =
        serde_json::from_value(begun["options"].clone()).unwrap();
    let handle = options.public_key.user.id.clone();
    let answer = key.do_registration(origin(app), options).unwrap();
    let credential = answer.raw_id.clone();
    let finished = app
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/users/me/passkeys/registration/finish",
            token,
            Some(&json!({
                "ceremony": begun["ceremony"],
                "name": "Laptop",
                "credential": serde_json::to_value(&answer).unwrap(),
            })),
        )
        .await;
    assert_eq!(finished.status(), StatusCode::CREATED);
    let passkey: Value = finished.json().await.unwrap();
    (
        passkey,
        Held {
            key,
            credential,
            handle,
        },
    )
}

/// Begins a passkey sign-in: the ceremony and the options.
async fn begin_sign_in(app: &TestApp) -> (String, RequestChallengeResponse) {
    let begun = app
        .client
        .post(app.url("/api/v1/auth/passkey"))
        .send()
        .await
        .unwrap();
    assert_eq!(begun.status(), StatusCode::OK);
    let begun: Value = begun.json().await.unwrap();
    (
        begun["ceremony"].as_str().unwrap().to_owned(),
        serde_json::from_value(begun["options"].clone()).unwrap(),
    )
}

/// `held`'s answer to `options`, from `from`: as a browser with a discoverable credential
/// answers (the software authenticators keep no user handle and pick their credential
/// from `allowCredentials`, which a discoverable sign-in leaves empty: both are added here,
/// outside what is signed).
fn assertion<A: WebauthnAuthenticator>(
    held: &mut Held<A>,
    mut options: RequestChallengeResponse,
    from: Url,
) -> PublicKeyCredential {
    options.public_key.allow_credentials = vec![AllowCredentials {
        type_: "public-key".into(),
        id: held.credential.clone(),
        transports: None,
    }];
    options.mediation = None;
    let mut answer = held.key.do_authentication(from, options).unwrap();
    answer.response.user_handle = Some(held.handle.clone());
    answer
}

/// Finishes a passkey sign-in at the token endpoint.
async fn finish(app: &TestApp, ceremony: &str, answer: &PublicKeyCredential) -> reqwest::Response {
    let credential = serde_json::to_string(answer).unwrap();
    app.token(&[
        (
            "grant_type",
            "urn:gatehouse:params:oauth:grant-type:passkey",
        ),
        ("ceremony", ceremony),
        ("credential", &credential),
    ])
    .await
}

/// Signs in with `held`: the token endpoint's answer.
async fn sign_in<A: WebauthnAuthenticator>(app: &TestApp, held: &mut Held<A>) -> reqwest::Response {
    let (ceremony, options) = begin_sign_in(app).await;
    let answer = assertion(held, options, origin(app));
    finish(app, &ceremony, &answer).await
}

#[tokio::test]
async fn a_passkey_registered_through_the_api_signs_in_without_a_password() {
    let app = app().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let (passkey, mut held) = register(&app, &token, SoftPasskey::new(true)).await;
    assert_eq!(passkey["name"], "Laptop");
    assert_eq!(passkey["backup_eligible"], false);
    let listed: Value = app
        .bearer_get("/api/v1/users/me/passkeys", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(listed[0]["last_used_at"].is_null());

    let signed_in = sign_in(&app, &mut held).await;
    let status = signed_in.status();
    let tokens: Value = signed_in.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = gatehouse_tests::totp::claims(tokens["access_token"].as_str().unwrap());
    // A key bound to its device, unlocked by the person: no password was used.
    assert_eq!(claims["amr"], json!(["hwk", "mfa", "user"]), "{claims}");
    let me = app
        .bearer_get("/api/v1/users/me", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
    let listed: Value = app
        .bearer_get("/api/v1/users/me/passkeys", &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(!listed[0]["last_used_at"].is_null(), "{listed}");
    assert_eq!(app.audited("passkey_registered").await, 1);
    assert_eq!(app.audited("passkey_sign_in").await, 1);
    // Again: the counter moved on.
    assert_eq!(sign_in(&app, &mut held).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_ceremony_is_finished_once_however_many_finishes_race() {
    let app = app().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let (_, mut held) = register(&app, &token, SoftPasskey::new(true)).await;
    let (ceremony, options) = begin_sign_in(&app).await;
    let answer = assertion(&mut held, options, origin(&app));
    let sessions_before = app.stored_sessions().await;
    let answers = join_all((0..8).map(|_| finish(&app, &ceremony, &answer))).await;
    let statuses: Vec<_> = answers.iter().map(reqwest::Response::status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
    assert_eq!(app.stored_sessions().await, sessions_before + 1);
    // The same answer again, later: the ceremony is gone.
    assert_eq!(
        finish(&app, &ceremony, &answer).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn answers_from_another_origin_or_another_ceremony_or_key_or_with_a_bad_signature_are_refused()
 {
    let app = app().await;
    app.register_ok("ada@example.com").await;
    app.register_ok("bob@example.com").await;
    let ada = app.login("ada@example.com").await;
    let bob = app.login("bob@example.com").await;
    let (_, mut ada_key) = register(&app, &ada, SoftPasskey::new(true)).await;
    let (_, mut bob_key) = register(&app, &bob, SoftPasskey::new(true)).await;

    // Signed for another origin (another port of the same host).
    let (ceremony, options) = begin_sign_in(&app).await;
    let elsewhere = Url::parse("http://localhost:1").unwrap();
    let answer = assertion(&mut ada_key, options, elsewhere);
    assert_eq!(
        finish(&app, &ceremony, &answer).await.status(),
        StatusCode::BAD_REQUEST
    );
    // The challenge of one ceremony, brought to another.
    let (first, options) = begin_sign_in(&app).await;
    let (second, _) = begin_sign_in(&app).await;
    let answer = assertion(&mut ada_key, options, origin(&app));
    assert_eq!(
        finish(&app, &second, &answer).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_ne!(first, second);
    // Bob's key claiming to be Ada's credential (her handle, her credential id).
    let (ceremony, options) = begin_sign_in(&app).await;
    let mut answer = assertion(&mut bob_key, options, origin(&app));
    answer.response.user_handle = Some(ada_key.handle.clone());
    answer.raw_id = ada_key.credential.clone();
    assert_eq!(
        finish(&app, &ceremony, &answer).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Bob's own credential under Ada's handle.
    let (ceremony, options) = begin_sign_in(&app).await;
    let mut answer = assertion(&mut bob_key, options, origin(&app));
    answer.response.user_handle = Some(ada_key.handle.clone());
    assert_eq!(
        finish(&app, &ceremony, &answer).await.status(),
        StatusCode::BAD_REQUEST
    );
    // A signature with a bit flipped.
    let (ceremony, options) = begin_sign_in(&app).await;
    let mut answer = assertion(&mut ada_key, options, origin(&app));
    let last = answer.response.signature.len() - 1;
    answer.response.signature[last] ^= 1;
    assert_eq!(
        finish(&app, &ceremony, &answer).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Not JSON at all, and a ceremony nobody began.
    let (ceremony, _) = begin_sign_in(&app).await;
    let garbage = app
        .token(&[
            (
                "grant_type",
                "urn:gatehouse:params:oauth:grant-type:passkey",
            ),
            ("ceremony", &ceremony),
            ("credential", "{not json"),
        ])
        .await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    let (_, options) = begin_sign_in(&app).await;
    let answer = assertion(&mut ada_key, options, origin(&app));
    assert_eq!(
        finish(&app, "made-up-ceremony", &answer).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert!(app.audited("passkey_sign_in_failed").await >= 4);
    assert_eq!(app.audited("passkey_sign_in").await, 0);
    // Ada's key still works.
    assert_eq!(sign_in(&app, &mut ada_key).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_counter_that_goes_backwards_is_refused_and_audited() {
    let app = app().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let (token_key, _) = SoftToken::new(true).unwrap();
    let (_, mut held) = register(&app, &token, token_key).await;
    // A copy of the authenticator, taken before it was used.
    let copy = held.key.to_cbor().unwrap();
    assert_eq!(sign_in(&app, &mut held).await.status(), StatusCode::OK);
    assert_eq!(sign_in(&app, &mut held).await.status(), StatusCode::OK);
    let mut clone = Held {
        key: SoftToken::from_cbor(&copy).unwrap(),
        credential: held.credential.clone(),
        handle: held.handle.clone(),
    };
    let refused = sign_in(&app, &mut clone).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.audited("passkey_sign_in").await, 2);
    assert_eq!(app.audited("passkey_sign_in_failed").await, 1);
    // The original goes on.
    assert_eq!(sign_in(&app, &mut held).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_burst_of_bad_assertions_is_bounded_by_the_accounts_limit() {
    let app = app().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let (_, mut held) = register(&app, &token, SoftPasskey::new(true)).await;
    let mut bad = Vec::new();
    for _ in 0..8 {
        let (ceremony, options) = begin_sign_in(&app).await;
        let mut answer = assertion(&mut held, options, origin(&app));
        answer.response.signature[0] ^= 1;
        bad.push((ceremony, answer));
    }
    let answers = join_all(bad.iter().map(|(c, a)| finish(&app, c, a))).await;
    let statuses: Vec<_> = answers.iter().map(reqwest::Response::status).collect();
    let limit = app.settings.auth.login_failures_per_account as usize;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count(),
        limit,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::BAD_REQUEST || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Locked: even a right assertion waits, as a right password would.
    let right = sign_in(&app, &mut held).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn registration_needs_re_authentication_and_the_session_that_began_it() {
    let app = app().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let without = app
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/users/me/passkeys/registration/begin",
            &token,
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        problem_code(without).await,
        (
            StatusCode::FORBIDDEN,
            "reauthentication_required".to_owned()
        )
    );
    let wrong = app
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/users/me/passkeys/registration/begin",
            &token,
            Some(&json!({"current_password": "not it at all"})),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // Begun in one session, finished from another: refused.
    let begun: Value = app
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/users/me/passkeys/registration/begin",
            &token,
            Some(&json!({"current_password": PASSWORD})),
        )
        .await
        .json()
        .await
        .unwrap();
    let options: CreationChallengeResponse =
        serde_json::from_value(begun["options"].clone()).unwrap();
    let answer = SoftPasskey::new(true)
        .do_registration(origin(&app), options)
        .unwrap();
    let other = app.login("ada@example.com").await;
    let body = json!({"ceremony": begun["ceremony"], "name": "Laptop", "credential": serde_json::to_value(&answer).unwrap()});
    let elsewhere = app
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/users/me/passkeys/registration/finish",
            &other,
            Some(&body),
        )
        .await;
    assert_eq!(
        problem_code(elsewhere).await,
        (StatusCode::BAD_REQUEST, "ceremony_invalid".to_owned())
    );
    // A blank name is refused before the ceremony is looked at.
    let blank = app
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/users/me/passkeys/registration/finish",
            &token,
            Some(&json!({"ceremony": begun["ceremony"], "name": "  ", "credential": serde_json::to_value(&answer).unwrap()})),
        )
        .await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.audited("passkey_registered").await, 0);
}

#[tokio::test]
async fn the_last_passkey_of_an_account_without_a_password_stays_even_when_removals_race() {
    let app = app().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let (first, _) = register(&app, &token, SoftPasskey::new(true)).await;
    let (second, mut held) = register(&app, &token, SoftPasskey::new(true)).await;
    // The account gives its password up (as one made by a provider has none).
    app.store_password_hash("ada@example.com", "!").await;
    let token = sign_in(&app, &mut held)
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let remove = |id: &Value| {
        let path = format!("/api/v1/users/me/passkeys/{}", id.as_str().unwrap());
        let token = token.clone();
        let app = &app;
        async move {
            app.bearer_send(reqwest::Method::DELETE, &path, &token, Some(&json!({})))
                .await
                .status()
        }
    };
    let (a, b) = tokio::join!(remove(&first["id"]), remove(&second["id"]));
    let mut statuses = [a, b];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::NO_CONTENT, StatusCode::CONFLICT]);
    let listed: Value = app
        .bearer_get("/api/v1/users/me/passkeys", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(app.audited("passkey_removed").await, 1);
}

#[tokio::test]
async fn passkeys_are_renamed_and_admins_see_and_remove_them() {
    let app = app().await;
    let admin = app.admin_token("admin@example.com").await;
    let ada = app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let (passkey, _) = register(&app, &token, SoftPasskey::new(true)).await;
    let path = format!(
        "/api/v1/users/me/passkeys/{}",
        passkey["id"].as_str().unwrap()
    );
    let renamed = app
        .bearer_send(
            reqwest::Method::PATCH,
            &path,
            &token,
            Some(&json!({"name": "Phone"})),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(renamed.json::<Value>().await.unwrap()["name"], "Phone");
    let control = app
        .bearer_send(
            reqwest::Method::PATCH,
            &path,
            &token,
            Some(&json!({"name": "a\u{7}b"})),
        )
        .await;
    assert_eq!(control.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let user = ada["id"].as_str().unwrap();
    let listed: Value = app
        .bearer_get(&format!("/api/v1/users/{user}/passkeys"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["name"], "Phone", "{listed}");
    let not_admin = app
        .bearer_get(&format!("/api/v1/users/{user}/passkeys"), &token)
        .await;
    assert_eq!(not_admin.status(), StatusCode::FORBIDDEN);
    let removed = app
        .bearer_send(
            reqwest::Method::DELETE,
            &format!(
                "/api/v1/users/{user}/passkeys/{}",
                passkey["id"].as_str().unwrap()
            ),
            &admin,
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let gone = app
        .bearer_send(
            reqwest::Method::PATCH,
            &path,
            &token,
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        problem_code(gone).await,
        (StatusCode::NOT_FOUND, "passkey_not_found".to_owned())
    );
}

#[tokio::test]
async fn a_ceremony_begun_on_one_instance_finishes_on_another() {
    let one = app().await;
    // A second instance on the same database, serving the same public URL (behind one
    // load balancer).
    let (database, public) = (
        one.database_url.clone(),
        one.settings.server.public_url.clone(),
    );
    let two = TestApp::builder()
        .settings(move |s| {
            s.database.url = database.into();
            s.server.public_url = public;
        })
        .spawn()
        .await;
    one.register_ok("ada@example.com").await;
    let token = one.login("ada@example.com").await;
    // Registration begun on one, finished on the other.
    let begun: Value = one
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/users/me/passkeys/registration/begin",
            &token,
            Some(&json!({"current_password": PASSWORD})),
        )
        .await
        .json()
        .await
        .unwrap();
    let options: CreationChallengeResponse =
        serde_json::from_value(begun["options"].clone()).unwrap();
    let handle = options.public_key.user.id.clone();
    let mut key = SoftPasskey::new(true);
    let answer = key.do_registration(origin(&one), options).unwrap();
    let finished = two
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/users/me/passkeys/registration/finish",
            &token,
            Some(&json!({"ceremony": begun["ceremony"], "name": "Laptop",
                "credential": serde_json::to_value(&answer).unwrap()})),
        )
        .await;
    assert_eq!(finished.status(), StatusCode::CREATED);
    let mut held = Held {
        key,
        credential: answer.raw_id.clone(),
        handle,
    };
    // A sign-in begun on the other, finished on the one.
    let (ceremony, options) = begin_sign_in(&two).await;
    let answer = assertion(&mut held, options, origin(&one));
    assert_eq!(
        finish(&one, &ceremony, &answer).await.status(),
        StatusCode::OK
    );
    // And not again on either.
    assert_eq!(
        finish(&two, &ceremony, &answer).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn without_a_domain_name_passkeys_say_they_are_unavailable() {
    // The harness's public URL is http://127.0.0.1:<port>.
    let app = TestApp::builder().spawn().await;
    let begun = app
        .client
        .post(app.url("/api/v1/auth/passkey"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem_code(begun).await,
        (StatusCode::CONFLICT, "passkeys_unavailable".to_owned())
    );
}

mod pages {
    use super::*;
    use gatehouse_tests::oidc::{Agent, input_value};
    use reqwest::header::{CONTENT_TYPE, LOCATION};

    /// The value of the `data-…` form's CSRF field on `html`.
    fn csrf(html: &str) -> String {
        input_value(html, "csrf").expect("a CSRF field")
    }

    #[tokio::test]
    async fn only_the_pages_that_offer_passkeys_carry_the_script_and_its_policy() {
        let app = app().await;
        let sign_in = app.get("/signin").await;
        let policy = sign_in.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let html = sign_in.text().await.unwrap();
        assert!(html.contains(r#"<script src="/static/passkeys.js" defer></script>"#));
        assert!(html.contains(r#"data-passkey="sign-in""#), "{html}");
        assert!(!html.contains("<script>"), "no inline script: {html}");
        for path in ["/signup", "/forgot-password"] {
            let page = app.get(path).await;
            let policy = page.headers()["content-security-policy"].to_str().unwrap();
            assert!(!policy.contains("script-src"), "{path}: {policy}");
            assert!(!page.text().await.unwrap().contains("<script"), "{path}");
        }
        let script = app.get("/static/passkeys.js").await;
        assert_eq!(script.status(), StatusCode::OK);
        assert!(
            script.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        // Where passkeys cannot work, the sign-in page has neither.
        let plain = TestApp::builder().spawn().await;
        let page = plain.get("/signin").await;
        let policy = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(!policy.contains("script-src"), "{policy}");
        assert!(!page.text().await.unwrap().contains("data-passkey"));
    }

    #[tokio::test]
    async fn a_passkey_added_on_the_account_page_signs_a_browser_in_without_a_password() {
        let app = app().await;
        app.register_ok("ada@example.com").await;
        let mut browser = Agent::new(&app);
        browser
            .sign_in_at("/signin?return_to=%2Faccount", "ada@example.com", PASSWORD)
            .await;
        let html = browser.get("/account").await.text().await.unwrap();
        assert!(html.contains(r#"data-passkey="register""#), "{html}");
        let token = csrf(&html);
        let begun = browser
            .post_form(
                "/account/passkeys/begin",
                &[("csrf", &token), ("current_password", PASSWORD)],
            )
            .await;
        assert_eq!(begun.status(), StatusCode::OK);
        let begun: Value = begun.json().await.unwrap();
        let options: CreationChallengeResponse =
            serde_json::from_value(begun["options"].clone()).unwrap();
        let handle = options.public_key.user.id.clone();
        let mut key = SoftPasskey::new(true);
        let answer = key.do_registration(origin(&app), options).unwrap();
        let credential = answer.raw_id.clone();
        let added = browser
            .post_form(
                "/account/passkeys",
                &[
                    ("csrf", &token),
                    ("name", "Phone"),
                    ("ceremony", begun["ceremony"].as_str().unwrap()),
                    ("credential", &serde_json::to_string(&answer).unwrap()),
                ],
            )
            .await;
        assert_eq!(added.status(), StatusCode::SEE_OTHER);
        assert_eq!(added.headers()[LOCATION], "/account?done=passkey");
        let html = browser.get("/account").await.text().await.unwrap();
        assert!(html.contains("Phone"), "{html}");

        // Another browser, no password.
        let mut held = Held {
            key,
            credential,
            handle,
        };
        let mut other = Agent::new(&app);
        let html = other
            .get("/signin?return_to=%2Faccount")
            .await
            .text()
            .await
            .unwrap();
        let token = csrf(&html);
        let begun = other
            .post_form("/signin/passkey/begin", &[("csrf", &token)])
            .await;
        assert_eq!(begun.status(), StatusCode::OK);
        let begun: Value = begun.json().await.unwrap();
        let options: RequestChallengeResponse =
            serde_json::from_value(begun["options"].clone()).unwrap();
        let ceremony = begun["ceremony"].as_str().unwrap().to_owned();
        let answer = assertion(&mut held, options, origin(&app));
        let answer = serde_json::to_string(&answer).unwrap();
        // A forged answer first: the page says no, and nobody is signed in.
        let refused = other
            .post_form(
                "/signin/passkey",
                &[
                    ("csrf", &token),
                    ("return_to", "/account"),
                    ("ceremony", "not-the-ceremony"),
                    ("credential", &answer),
                ],
            )
            .await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(!other.cookies.contains_key("gatehouse-session"));
        let signed_in = other
            .post_form(
                "/signin/passkey",
                &[
                    ("csrf", &token),
                    ("return_to", "/account"),
                    ("ceremony", &ceremony),
                    ("credential", &answer),
                ],
            )
            .await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        assert_eq!(signed_in.headers()[LOCATION], "/account");
        assert!(other.cookies.contains_key("gatehouse-session"));
        let account = other.get("/account").await.text().await.unwrap();
        assert!(account.contains("ada@example.com"));
        assert_eq!(app.browser_sessions_by("hwk mfa user").await, 1);
        // Without the page's CSRF token, no ceremony begins.
        let mut stranger = Agent::new(&app);
        let forged = stranger
            .post_form("/signin/passkey/begin", &[("csrf", "forged")])
            .await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    }
}

/// Begins giving a passkey as the second step after `mfa_token`'s password: the answer.
async fn begin_second_factor(app: &TestApp, mfa_token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/passkey/second-factor"))
        .json(&json!({ "mfa_token": mfa_token }))
        .send()
        .await
        .unwrap()
}

/// The ceremony and options of a second step begun for `mfa_token`.
async fn second_factor_ceremony(
    app: &TestApp,
    mfa_token: &str,
) -> (String, RequestChallengeResponse) {
    let begun = begin_second_factor(app, mfa_token).await;
    assert_eq!(begun.status(), StatusCode::OK);
    let begun: Value = begun.json().await.unwrap();
    (
        begun["ceremony"].as_str().unwrap().to_owned(),
        serde_json::from_value(begun["options"].clone()).unwrap(),
    )
}

/// Finishes the password grant's second step with a passkey's answer.
async fn finish_second_factor(
    app: &TestApp,
    mfa_token: &str,
    ceremony: &str,
    answer: &PublicKeyCredential,
) -> reqwest::Response {
    let credential = serde_json::to_string(answer).unwrap();
    app.token(&[
        (
            "grant_type",
            "urn:gatehouse:params:oauth:grant-type:mfa-passkey",
        ),
        ("mfa_token", mfa_token),
        ("ceremony", ceremony),
        ("credential", &credential),
    ])
    .await
}

#[tokio::test]
async fn a_passkey_is_the_second_factor_after_a_password_and_completes_the_password_grant() {
    let app = app().await;
    app.register_ok("ada@example.com").await;
    let elsewhere = app.login("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let (_, mut held) = register(&app, &token, SoftPasskey::new(true)).await;
    // A second factor turned on: the account's other sessions end, the caller's goes on.
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &elsewhere)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &token).await.status(),
        StatusCode::OK
    );

    // The password alone no longer signs in: the passkey is asked for.
    let mfa_token = gatehouse_tests::totp::mfa_token(&app, "ada@example.com").await;
    let (ceremony, options) = second_factor_ceremony(&app, &mfa_token).await;
    // The options name the account's passkey, and only it.
    let allowed: Vec<_> = options
        .public_key
        .allow_credentials
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(allowed, vec![held.credential.clone()]);
    let answer = assertion(&mut held, options, origin(&app));
    // The answer under another ceremony's mfa_token, or with no mfa_token: refused.
    let other_step = gatehouse_tests::totp::mfa_token(&app, "ada@example.com").await;
    assert_eq!(
        finish_second_factor(&app, &other_step, &ceremony, &answer)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // (That refusal spent the ceremony.) A fresh one completes the grant.
    let (ceremony, options) = second_factor_ceremony(&app, &mfa_token).await;
    let answer = assertion(&mut held, options, origin(&app));
    let granted = finish_second_factor(&app, &mfa_token, &ceremony, &answer).await;
    let status = granted.status();
    let tokens: Value = granted.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = gatehouse_tests::totp::claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        claims["amr"],
        json!(["pwd", "hwk", "mfa", "user"]),
        "{claims}"
    );
    assert!(tokens["refresh_token"].is_string());
    // Replayed, the same answer opens nothing more.
    assert_eq!(
        finish_second_factor(&app, &mfa_token, &ceremony, &answer)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // A spent mfa_token begins no new ceremony either.
    assert_eq!(
        begin_second_factor(&app, &mfa_token).await.status(),
        StatusCode::BAD_REQUEST
    );
    // An account with a passkey and no authenticator app has no code to give.
    let coded = gatehouse_tests::totp::second_step(&app, &other_step, ("otp", "123456")).await;
    assert_eq!(coded.status(), StatusCode::BAD_REQUEST);
    assert!(app.audited("passkey_sign_in").await >= 1);
}

#[tokio::test]
async fn a_second_step_takes_only_its_own_accounts_passkey_and_its_own_ceremony() {
    let app = app().await;
    app.register_ok("ada@example.com").await;
    app.register_ok("bob@example.com").await;
    let ada = app.login("ada@example.com").await;
    let bob = app.login("bob@example.com").await;
    let (_, mut ada_key) = register(&app, &ada, SoftPasskey::new(true)).await;
    let (_, mut bob_key) = register(&app, &bob, SoftPasskey::new(true)).await;

    // Bob's password, then Ada's passkey: refused.
    let bobs_step = gatehouse_tests::totp::mfa_token(&app, "bob@example.com").await;
    let (ceremony, options) = second_factor_ceremony(&app, &bobs_step).await;
    let answer = assertion(&mut ada_key, options, origin(&app));
    assert_eq!(
        finish_second_factor(&app, &bobs_step, &ceremony, &answer)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // A passwordless sign-in's ceremony is no second step.
    let (ceremony, options) = begin_sign_in(&app).await;
    let answer = assertion(&mut bob_key, options, origin(&app));
    assert_eq!(
        finish_second_factor(&app, &bobs_step, &ceremony, &answer)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // Nor is a second step a passwordless sign-in.
    let (ceremony, options) = second_factor_ceremony(&app, &bobs_step).await;
    let answer = assertion(&mut bob_key, options, origin(&app));
    assert_eq!(
        finish(&app, &ceremony, &answer).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Signed for another origin.
    let (ceremony, options) = second_factor_ceremony(&app, &bobs_step).await;
    let answer = assertion(
        &mut bob_key,
        options,
        Url::parse("http://localhost:1").unwrap(),
    );
    assert_eq!(
        finish_second_factor(&app, &bobs_step, &ceremony, &answer)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.audited("passkey_sign_in").await, 0);

    // Eight racing finishes of one ceremony: exactly one session.
    let (ceremony, options) = second_factor_ceremony(&app, &bobs_step).await;
    let answer = assertion(&mut bob_key, options, origin(&app));
    let before = app.stored_sessions().await;
    let answers =
        join_all((0..8).map(|_| finish_second_factor(&app, &bobs_step, &ceremony, &answer))).await;
    let statuses: Vec<_> = answers.iter().map(reqwest::Response::status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(app.stored_sessions().await, before + 1);

    // An account without a passkey is told to give a code instead.
    app.register_ok("cy@example.com").await;
    let cy = app.login("cy@example.com").await;
    gatehouse_tests::totp::enrol(&app, &cy, chrono::Utc::now()).await;
    let cys_step = gatehouse_tests::totp::mfa_token(&app, "cy@example.com").await;
    assert_eq!(
        problem_code(begin_second_factor(&app, &cys_step).await).await,
        (StatusCode::NOT_FOUND, "passkey_not_found".to_owned())
    );
    // A made-up token begins nothing.
    let made_up = "A".repeat(43);
    assert_eq!(
        begin_second_factor(&app, &made_up).await.status(),
        StatusCode::BAD_REQUEST
    );
}

mod second_step_pages {
    use super::*;
    use gatehouse_tests::oidc::{Agent, input_value};
    use reqwest::header::LOCATION;

    /// Posts the second step's passkey form.
    async fn finish(browser: &mut Agent<'_>, fields: Vec<(&str, String)>) -> reqwest::Response {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        browser.post_form("/signin/mfa/passkey", &pairs).await
    }

    #[tokio::test]
    async fn the_hosted_sign_in_asks_for_the_passkey_after_the_password() {
        let app = app().await;
        app.register_ok("ada@example.com").await;
        let token = app.login("ada@example.com").await;
        let (_, mut held) = register(&app, &token, SoftPasskey::new(true)).await;

        let mut browser = Agent::new(&app);
        let step = browser
            .sign_in_at("/signin?return_to=%2Faccount", "ada@example.com", PASSWORD)
            .await;
        assert_eq!(step.status(), StatusCode::OK);
        let policy = step.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        let html = step.text().await.unwrap();
        assert!(!browser.cookies.contains_key("gatehouse-session"));
        // A passkey is the account's only second factor: no code fields, the passkey form.
        assert!(
            html.contains(r#"data-begin="/signin/mfa/passkey/begin""#),
            "{html}"
        );
        assert!(!html.contains(r#"name="otp""#), "{html}");
        let csrf = input_value(&html, "csrf").unwrap();
        let mfa_token = input_value(&html, "mfa_token").unwrap();

        let begun = browser
            .post_form(
                "/signin/mfa/passkey/begin",
                &[
                    ("csrf", &csrf),
                    ("return_to", "/account"),
                    ("mfa_token", &mfa_token),
                ],
            )
            .await;
        assert_eq!(begun.status(), StatusCode::OK);
        let begun: Value = begun.json().await.unwrap();
        let options: RequestChallengeResponse =
            serde_json::from_value(begun["options"].clone()).unwrap();
        let ceremony = begun["ceremony"].as_str().unwrap().to_owned();
        let answer = serde_json::to_string(&assertion(&mut held, options, origin(&app))).unwrap();
        let fields = |ceremony: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("return_to", "/account".to_owned()),
                ("mfa_token", mfa_token.clone()),
                ("ceremony", ceremony.to_owned()),
                ("credential", answer.clone()),
            ]
        };
        // Another ceremony's token: the step again, saying no, and no session.
        let refused = finish(&mut browser, fields("not-the-ceremony")).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.text().await.unwrap().contains("not accepted"));
        assert!(!browser.cookies.contains_key("gatehouse-session"));
        // The ceremony was not spent by that: it finishes the sign-in.
        let ceremony: &'static str = Box::leak(ceremony.into_boxed_str());
        let signed_in = finish(&mut browser, fields(ceremony)).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        assert_eq!(signed_in.headers()[LOCATION], "/account");
        assert!(browser.cookies.contains_key("gatehouse-session"));
        assert_eq!(app.browser_sessions_by("pwd hwk mfa user").await, 1);
        // Replayed from another browser: nothing.
        let mut other = Agent::new(&app);
        let replayed = finish(&mut other, fields(ceremony)).await;
        assert_ne!(replayed.status(), StatusCode::SEE_OTHER);
        assert!(!other.cookies.contains_key("gatehouse-session"));
    }

    #[tokio::test]
    async fn an_account_with_an_app_and_a_passkey_is_offered_both() {
        let app = app().await;
        app.register_ok("ada@example.com").await;
        let token = app.login("ada@example.com").await;
        gatehouse_tests::totp::enrol(&app, &token, chrono::Utc::now()).await;
        register(&app, &token, SoftPasskey::new(true)).await;
        let mut browser = Agent::new(&app);
        let step = browser
            .sign_in_at("/signin?return_to=%2Faccount", "ada@example.com", PASSWORD)
            .await;
        let html = step.text().await.unwrap();
        assert!(html.contains(r#"name="otp""#), "{html}");
        assert!(
            html.contains(r#"data-begin="/signin/mfa/passkey/begin""#),
            "{html}"
        );
        // Without the passkey, no passkey form and no script.
        app.register_ok("bob@example.com").await;
        let bob = app.login("bob@example.com").await;
        gatehouse_tests::totp::enrol(&app, &bob, chrono::Utc::now()).await;
        let mut browser = Agent::new(&app);
        let step = browser
            .sign_in_at("/signin?return_to=%2Faccount", "bob@example.com", PASSWORD)
            .await;
        let policy = step.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!policy.contains("script-src"), "{policy}");
        let html = step.text().await.unwrap();
        assert!(html.contains(r#"name="otp""#), "{html}");
        assert!(!html.contains("data-passkey"), "{html}");
    }
}
