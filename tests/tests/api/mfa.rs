//! Multi-factor authentication through HTTP: enrolment, the two-step password grant, the
//! hosted two-step sign-in, recovery codes, replay and skew, throttling under a burst,
//! disabling, admin reset, the admin policy and `amr`. Codes are computed by the tests' own
//! RFC 6238 implementation (`gatehouse_tests::totp`), on the server's injected clock.

use std::sync::Arc;

use chrono::Duration;
use gatehouse_domain::Clock;
use gatehouse_tests::oidc::{
    Agent, authorize_url, input_value, pkce, query_of, register_client, spa,
};
use gatehouse_tests::totp::{Enrolled, claims, code_at, enrol, mfa_token, second_step};
use gatehouse_tests::{ManualClock, PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADA: &str = "ada@example.com";

/// An app on a hand-moved clock, with Ada enrolled; the clock has moved one step on, so
/// that the enrolment's code is in the past.
struct Harness {
    app: TestApp,
    clock: Arc<ManualClock>,
    ada: Enrolled,
    ada_id: String,
}

async fn harness_with(customize: impl FnOnce(&mut gatehouse_server::Settings)) -> Harness {
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(customize)
        .clock(clock.clone())
        .spawn()
        .await;
    let user = app.register_ok(ADA).await;
    let token = app.login(ADA).await;
    let ada = enrol(&app, &token, clock.now()).await;
    clock.advance(Duration::seconds(30));
    Harness {
        app,
        clock,
        ada,
        ada_id: user["id"].as_str().unwrap().to_owned(),
    }
}

async fn harness() -> Harness {
    harness_with(|_| {}).await
}

impl Harness {
    fn code(&self, offset_secs: i64) -> String {
        code_at(
            &self.ada.secret,
            self.clock.now() + Duration::seconds(offset_secs),
        )
    }

    /// A full two-step login with the current code; moves the clock a step on after it.
    async fn login(&self) -> Value {
        let token = mfa_token(&self.app, ADA).await;
        let response = second_step(&self.app, &token, ("otp", &self.code(0))).await;
        assert_eq!(response.status(), StatusCode::OK, "second step");
        self.clock.advance(Duration::seconds(30));
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn mfa_is_on_only_after_a_valid_code_and_its_secret_is_sealed_at_rest() {
    let clock = ManualClock::new();
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    app.register_ok(ADA).await;
    let token = app.login(ADA).await;
    let started: Value = app
        .client
        .post(app.url("/api/v1/users/me/mfa/totp"))
        .bearer_auth(&token)
        .json(&json!({"current_password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = started["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(started["qr_svg"].as_str().unwrap().contains("<svg"));

    // Pending: the password alone still signs in, and the status says off.
    assert_eq!(
        app.login_response(ADA, PASSWORD).await.status(),
        StatusCode::OK
    );
    let status: Value = app
        .bearer_get("/api/v1/users/me/mfa", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["enabled"], false);

    let confirm = |code: String| {
        app.client
            .post(app.url("/api/v1/users/me/mfa/totp/confirm"))
            .bearer_auth(&token)
            .json(&json!({"code": code}))
            .send()
    };
    let wrong = confirm(code_at(secret, clock.now() + Duration::seconds(90)))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["code"],
        "invalid_mfa_code"
    );
    assert_eq!(
        app.login_response(ADA, PASSWORD).await.status(),
        StatusCode::OK
    );

    let right = confirm(code_at(secret, clock.now())).await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    let codes: Value = right.json().await.unwrap();
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);
    let status: Value = app
        .bearer_get("/api/v1/users/me/mfa", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["enabled"], true);
    assert_eq!(status["recovery_codes_left"], 10);
    let again = app
        .client
        .post(app.url("/api/v1/users/me/mfa/totp"))
        .bearer_auth(&token)
        .json(&json!({"current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(login_status(&app).await, StatusCode::FORBIDDEN);

    // What is stored: neither the secret (in base32 or as bytes) nor any recovery code.
    let stored = app.stored_mfa_secret().await.unwrap();
    assert!(stored.starts_with("v1."), "sealed: {stored}");
    assert!(!stored.contains(secret));
    let digests = app.stored_recovery_codes().await;
    assert_eq!(digests.len(), 10);
    assert!(
        digests.iter().all(|digest| digest.len() == 64),
        "{digests:?}"
    );
    for code in codes["recovery_codes"].as_array().unwrap() {
        let code = code.as_str().unwrap().replace('-', "");
        assert!(!digests.iter().any(|digest| digest.contains(&code)));
    }
    assert_eq!(app.audited("mfa_enrolled").await, 1);
}

async fn login_status(app: &TestApp) -> StatusCode {
    app.login_response(ADA, PASSWORD).await.status()
}

#[tokio::test]
async fn a_two_step_login_gives_tokens_that_say_pwd_otp_and_refresh_keeps_it() {
    let h = harness().await;
    let tokens = h.login().await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"], json!(["pwd", "otp"]));
    assert_eq!(
        h.app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::OK
    );
    let refreshed: Value = h
        .app
        .refresh(tokens["refresh_token"].as_str().unwrap(), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims(refreshed["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );
    // An account without MFA is not asked, and its tokens say `pwd`.
    h.app.register_ok("bob@example.com").await;
    let bob = h.app.login_tokens("bob@example.com").await;
    assert_eq!(
        claims(bob["access_token"].as_str().unwrap())["amr"],
        json!(["pwd"])
    );
    assert_eq!(h.app.audited("mfa_succeeded").await, 1);
}

#[tokio::test]
async fn each_recovery_code_signs_in_once() {
    let h = harness().await;
    for code in &h.ada.recovery_codes {
        let token = mfa_token(&h.app, ADA).await;
        // However it is typed: upper case, without dashes.
        let typed = code.replace('-', "").to_uppercase();
        let response = second_step(&h.app, &token, ("recovery_code", &typed)).await;
        assert_eq!(response.status(), StatusCode::OK, "{code}");
        let again = mfa_token(&h.app, ADA).await;
        let reused = second_step(&h.app, &again, ("recovery_code", code)).await;
        assert_eq!(reused.status(), StatusCode::BAD_REQUEST, "{code} reused");
        // A success after the failure clears the account's count.
        let cleared = second_step(&h.app, &again, ("otp", &h.code(0))).await;
        assert_eq!(cleared.status(), StatusCode::OK);
        h.clock.advance(Duration::seconds(30));
    }
    assert_eq!(h.app.audited("recovery_code_used").await, 10);
    let status: Value = h
        .app
        .bearer_get(
            "/api/v1/users/me/mfa",
            h.login().await["access_token"].as_str().unwrap(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["recovery_codes_left"], 0);
}

#[tokio::test]
async fn a_code_is_refused_a_second_time_within_its_window() {
    let h = harness().await;
    let code = h.code(0);
    let first = mfa_token(&h.app, ADA).await;
    assert_eq!(
        second_step(&h.app, &first, ("otp", &code)).await.status(),
        StatusCode::OK
    );
    let second = mfa_token(&h.app, ADA).await;
    let replayed = second_step(&h.app, &second, ("otp", &code)).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    let body: Value = replayed.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // Nor an older one: the step before the one used.
    let older = second_step(&h.app, &second, ("otp", &h.code(-30))).await;
    assert_eq!(older.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn one_step_of_skew_is_accepted_and_two_are_not() {
    let h = harness().await;
    h.clock.advance(Duration::seconds(90));
    let token = mfa_token(&h.app, ADA).await;
    for offset in [-60, 60] {
        let response = second_step(&h.app, &token, ("otp", &h.code(offset))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{offset} s");
    }
    let behind = second_step(&h.app, &token, ("otp", &h.code(-30))).await;
    assert_eq!(behind.status(), StatusCode::OK, "one step behind");
    let token = mfa_token(&h.app, ADA).await;
    let ahead = second_step(&h.app, &token, ("otp", &h.code(30))).await;
    assert_eq!(ahead.status(), StatusCode::OK, "one step ahead");
}

#[tokio::test]
async fn a_burst_of_40_wrong_codes_has_at_most_the_limit_checked() {
    let h = harness().await;
    let token = mfa_token(&h.app, ADA).await;
    let right = h.code(0);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let answers =
        futures::future::join_all((0..40).map(|_| second_step(&h.app, &token, ("otp", wrong))))
            .await;
    let throttled = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let refused = answers
        .iter()
        .filter(|r| r.status() == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!(throttled + refused, 40);
    assert!(refused <= 5, "{refused} codes checked");
    assert_eq!(h.app.audited("mfa_failed").await, refused as i64);
    // The account is locked for codes and passwords alike, the right code included.
    let locked = second_step(&h.app, &token, ("otp", &right)).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_status(&h.app).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_mfa_token_is_single_use_bound_to_its_client_and_expires() {
    let h = harness().await;
    // Two completions race with two valid factors: one wins.
    let token = mfa_token(&h.app, ADA).await;
    let code = h.code(0);
    let (a, b) = tokio::join!(
        second_step(&h.app, &token, ("otp", &code)),
        second_step(&h.app, &token, ("recovery_code", &h.ada.recovery_codes[0])),
    );
    let wins = [a.status(), b.status()]
        .iter()
        .filter(|s| **s == StatusCode::OK)
        .count();
    assert_eq!(wins, 1, "{} {}", a.status(), b.status());
    h.clock.advance(Duration::seconds(30));

    // Asked for by a registered client, completed by it only.
    let admin = h.app.admin_token("admin@example.com").await;
    register_client(&h.app, &admin, spa("cli", "http://127.0.0.1/cb")).await;
    let response = h
        .app
        .token(&[
            ("grant_type", "password"),
            ("username", ADA),
            ("password", PASSWORD),
            ("client_id", "cli"),
        ])
        .await;
    let bound: Value = response.json().await.unwrap();
    let bound = bound["mfa_token"].as_str().unwrap();
    let elsewhere = second_step(&h.app, bound, ("otp", &h.code(0))).await;
    assert_eq!(elsewhere.status(), StatusCode::BAD_REQUEST);
    let own = h
        .app
        .token(&[
            (
                "grant_type",
                "urn:gatehouse:params:oauth:grant-type:mfa-otp",
            ),
            ("mfa_token", bound),
            ("otp", &h.code(0)),
            ("client_id", "cli"),
        ])
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    h.clock.advance(Duration::seconds(30));

    // A client_id that names no registered client is ignored (as Swagger UI's may be),
    // however long.
    let long = "c".repeat(5000);
    let response = h
        .app
        .token(&[
            ("grant_type", "password"),
            ("username", ADA),
            ("password", PASSWORD),
            ("client_id", &long),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Five minutes, no more.
    let token = mfa_token(&h.app, ADA).await;
    h.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let late = second_step(&h.app, &token, ("otp", &h.code(0))).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    // Neither code nor factor, or both: invalid_request.
    let token = mfa_token(&h.app, ADA).await;
    let both = h
        .app
        .token(&[
            (
                "grant_type",
                "urn:gatehouse:params:oauth:grant-type:mfa-otp",
            ),
            ("mfa_token", &token),
            ("otp", &h.code(0)),
            ("recovery_code", &h.ada.recovery_codes[1]),
        ])
        .await;
    assert_eq!(both.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        both.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn disabling_and_new_recovery_codes_need_the_password_and_a_code() {
    let h = harness().await;
    let access = h.login().await["access_token"].as_str().unwrap().to_owned();
    let send = |path: &'static str, delete: bool, body: Value| {
        let url = h.app.url(path);
        let request = if delete {
            h.app.client.delete(url)
        } else {
            h.app.client.post(url)
        };
        request.bearer_auth(&access).json(&body).send()
    };
    let wrong_password = send(
        "/api/v1/users/me/mfa",
        true,
        json!({"current_password": "wrong horse battery staple", "otp": h.code(0)}),
    )
    .await
    .unwrap();
    assert_eq!(wrong_password.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        wrong_password.json::<Value>().await.unwrap()["code"],
        "wrong_password"
    );
    let no_code = send(
        "/api/v1/users/me/mfa",
        true,
        json!({"current_password": PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(no_code.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_code = send(
        "/api/v1/users/me/mfa",
        true,
        json!({"current_password": PASSWORD, "otp": "12345x"}),
    )
    .await
    .unwrap();
    assert_eq!(wrong_code.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        wrong_code.json::<Value>().await.unwrap()["code"],
        "invalid_mfa_code"
    );

    let renewed = send(
        "/api/v1/users/me/mfa/recovery-codes",
        false,
        json!({"current_password": PASSWORD, "otp": h.code(0)}),
    )
    .await
    .unwrap();
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    let new_code = renewed["recovery_codes"][0].as_str().unwrap().to_owned();
    let token = mfa_token(&h.app, ADA).await;
    let old = second_step(&h.app, &token, ("recovery_code", &h.ada.recovery_codes[0])).await;
    assert_eq!(old.status(), StatusCode::BAD_REQUEST, "old codes are void");
    let new = second_step(&h.app, &token, ("recovery_code", &new_code)).await;
    assert_eq!(new.status(), StatusCode::OK);
    h.clock.advance(Duration::seconds(30));

    let off = send(
        "/api/v1/users/me/mfa",
        true,
        json!({"current_password": PASSWORD, "otp": h.code(0)}),
    )
    .await
    .unwrap();
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    assert_eq!(login_status(&h.app).await, StatusCode::OK);
    for kind in ["mfa_disabled", "recovery_codes_regenerated", "mfa_failed"] {
        assert!(h.app.audited(kind).await >= 1, "{kind} audited");
    }
}

#[tokio::test]
async fn an_admin_sees_and_resets_a_users_mfa_and_nobody_else_may() {
    let h = harness().await;
    let admin = h.app.admin_token("root@example.com").await;
    let viewed: Value = h
        .app
        .bearer_get(&format!("/api/v1/users/{}", h.ada_id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(viewed["mfa_enabled"], true);
    let listed: Value = h
        .app
        .bearer_get("/api/v1/users?q=ada", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["mfa_enabled"], true);
    // Not in the user's own view.
    let ada = h.login().await;
    let me: Value = h
        .app
        .bearer_get("/api/v1/users/me", ada["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert!(me.get("mfa_enabled").is_none());

    let path = format!("/api/v1/users/{}/mfa", h.ada_id);
    let by_ada = h
        .app
        .client
        .delete(h.app.url(&path))
        .bearer_auth(ada["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(by_ada.status(), StatusCode::FORBIDDEN);
    let reset = h
        .app
        .client
        .delete(h.app.url(&path))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(login_status(&h.app).await, StatusCode::OK);
    let status: Value = h.app.bearer_get(&path, &admin).await.json().await.unwrap();
    assert_eq!(status["enabled"], false);
    assert_eq!(h.app.audited("mfa_reset").await, 1);
    let unknown = h
        .app
        .client
        .delete(
            h.app
                .url(&format!("/api/v1/users/{}/mfa", uuid::Uuid::now_v7())),
        )
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn with_the_admin_policy_admin_scopes_need_a_second_factor() {
    let clock = ManualClock::new();
    let app = TestApp::builder()
        .settings(|settings| settings.mfa.required_for_admins = true)
        .clock(clock.clone())
        .spawn()
        .await;
    let admin = app.admin_token("root@example.com").await;
    let scope = claims(&admin)["scope"].as_str().unwrap().to_owned();
    assert!(!scope.contains("users:"), "{scope}");
    let asked = app.login_with_scope("root@example.com", "users:read").await;
    assert_eq!(asked.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        asked.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );

    // The hosted sign-in sends such an admin to enrolment.
    let mut browser = Agent::new(&app);
    let signed_in = browser
        .sign_in_at("/signin", "root@example.com", PASSWORD)
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()["location"], "/account?mfa=required");
    let account = browser
        .get("/account?mfa=required")
        .await
        .text()
        .await
        .unwrap();
    assert!(account.contains("needs two-step verification"), "{account}");

    let enrolled = enrol(&app, &admin, clock.now()).await;
    clock.advance(Duration::seconds(30));
    let token = mfa_token(&app, "root@example.com").await;
    let response = second_step(
        &app,
        &token,
        ("otp", &code_at(&enrolled.secret, clock.now())),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert!(
        claims(access)["scope"]
            .as_str()
            .unwrap()
            .contains("users:read")
    );
    assert_eq!(
        app.bearer_get("/api/v1/users", access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_hosted_sign_in_asks_for_the_code_after_the_password() {
    let h = harness().await;
    let mut browser = Agent::new(&h.app);
    let signed_in = browser.sign_in_at("/signin", ADA, PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::OK, "the code page");
    assert!(!browser.cookies.keys().any(|name| name.contains("session")));
    let html = signed_in.text().await.unwrap();
    assert!(html.contains("Two-step verification"), "{html}");
    let csrf = input_value(&html, "csrf").unwrap();
    let mfa_token = input_value(&html, "mfa_token").unwrap();
    let return_to = input_value(&html, "return_to").unwrap();

    let wrong = browser
        .post_form(
            "/signin/mfa",
            &[
                ("csrf", &csrf),
                ("mfa_token", &mfa_token),
                ("return_to", &return_to),
                ("otp", "000000"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::OK);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("wrong or was already used")
    );
    // A forged form (no CSRF) is refused before anything is checked.
    let forged = browser
        .post_form(
            "/signin/mfa",
            &[("mfa_token", &mfa_token), ("otp", &h.code(0))],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let right = browser
        .post_form(
            "/signin/mfa",
            &[
                ("csrf", &csrf),
                ("mfa_token", &mfa_token),
                ("return_to", &return_to),
                ("otp", &h.code(0)),
            ],
        )
        .await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert!(browser.cookies.keys().any(|name| name.contains("session")));
    let account = browser.get("/account").await;
    assert_eq!(account.status(), StatusCode::OK);
    assert!(
        account
            .text()
            .await
            .unwrap()
            .contains("recovery codes left")
    );
    assert_eq!(h.app.browser_sessions_by("pwd otp").await, 1);
}

#[tokio::test]
async fn the_account_page_enrols_with_the_qr_code_and_shows_recovery_codes_once() {
    let clock = ManualClock::new();
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    app.register_ok(ADA).await;
    let mut browser = Agent::new(&app);
    let signed_in = browser.sign_in_at("/signin", ADA, PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let account = browser.get("/account").await.text().await.unwrap();
    let csrf = input_value(&account, "csrf").unwrap();
    let started = browser
        .post_form(
            "/account/mfa/start",
            &[("csrf", &csrf), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(started.status(), StatusCode::OK);
    let html = started.text().await.unwrap();
    assert!(html.contains("<svg"), "a QR code");
    let secret = html
        .split("<code id=\"totp-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    let done = browser
        .post_form(
            "/account/mfa/confirm",
            &[("csrf", &csrf), ("code", &code_at(&secret, clock.now()))],
        )
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let html = done.text().await.unwrap();
    assert_eq!(html.matches("<li><code>").count(), 10, "{html}");
    assert_eq!(login_status(&app).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_rotated_key_still_opens_old_secrets_and_reseals_them() {
    let old_key = "old mfa key 0123456789abcdef0123456789";
    let new_key = "new mfa key 0123456789abcdef0123456789";
    let clock = ManualClock::new();
    let before = TestApp::builder()
        .settings(|settings| settings.mfa.encryption_key = Some(old_key.into()))
        .clock(clock.clone())
        .spawn()
        .await;
    before.register_ok(ADA).await;
    let token = before.login(ADA).await;
    let enrolled = enrol(&before, &token, clock.now()).await;
    let sealed = || before.stored_mfa_secret();
    let under_old = sealed().await.unwrap();

    // The same database, the new key current and the old one retired.
    let database = before.database_url.clone();
    let after = TestApp::builder()
        .settings(|settings| {
            settings.database.url = database.clone().into();
            settings.mfa.encryption_key = Some(new_key.into());
            settings.mfa.retired_encryption_keys = vec![old_key.into()];
        })
        .clock(clock.clone())
        .spawn()
        .await;
    signs_in_with_the_next_code(&after, &clock, &enrolled.secret).await;
    let under_new = sealed().await.unwrap();
    assert_ne!(
        under_old.split('.').nth(1),
        under_new.split('.').nth(1),
        "sealed again under the new key"
    );

    // The old key can go now: the secret opens with the new one alone.
    let database = before.database_url.clone();
    let later = TestApp::builder()
        .settings(|settings| {
            settings.database.url = database.into();
            settings.mfa.encryption_key = Some(new_key.into());
        })
        .clock(clock.clone())
        .spawn()
        .await;
    signs_in_with_the_next_code(&later, &clock, &enrolled.secret).await;
}

/// Ada signs in on `app` with her password, then the code of the next time step.
async fn signs_in_with_the_next_code(app: &TestApp, clock: &ManualClock, secret: &str) {
    clock.advance(Duration::seconds(30));
    let step = mfa_token(app, ADA).await;
    let code = code_at(secret, clock.now());
    assert_eq!(
        second_step(app, &step, ("otp", &code)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_id_token_after_a_two_step_hosted_sign_in_says_pwd_otp() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = gatehouse_security::keys::generate_ed25519().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, secrecy::ExposeSecret::expose_secret(&private)).unwrap();
    let h = harness_with(move |settings| {
        settings.jwt.algorithm = gatehouse_server::settings::JwtAlgorithm::EdDSA;
        settings.jwt.private_key_file = Some(key);
    })
    .await;
    let admin = h.app.admin_token("root@example.com").await;
    const CALLBACK: &str = "https://app.example.com/callback";
    register_client(&h.app, &admin, spa("spa", CALLBACK)).await;

    let mut browser = Agent::new(&h.app);
    let html = browser
        .sign_in_at("/signin", ADA, PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    let signed_in = browser
        .post_form(
            "/signin/mfa",
            &[
                ("csrf", &input_value(&html, "csrf").unwrap()),
                ("mfa_token", &input_value(&html, "mfa_token").unwrap()),
                ("return_to", &input_value(&html, "return_to").unwrap()),
                ("otp", &h.code(0)),
            ],
        )
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);

    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &h.app,
        &[
            ("response_type", "code"),
            ("client_id", "spa"),
            ("redirect_uri", CALLBACK),
            ("scope", "openid me"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let location = browser.authorize(&url, ADA).await;
    let code = query_of(&location)["code"].clone();
    let tokens: Value = h
        .app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", "spa"),
            ("code_verifier", &verifier),
        ])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );
}
