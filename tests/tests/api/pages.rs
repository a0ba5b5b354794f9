//! The hosted pages other than the authorization flow's: sign-up, the pages the emails link
//! to (forgot and reset password, verify email) and the account page. Each form is tried
//! as a person would send it and as a forger would.

use gatehouse_tests::oidc::{Agent, input_value};
use gatehouse_tests::{PASSWORD, TestApp, token_in, wait_for_mail};
use reqwest::StatusCode;
use reqwest::header::LOCATION;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// The CSRF token of the page at `path`.
async fn csrf_of(agent: &mut Agent<'_>, path: &str) -> (StatusCode, String, String) {
    let response = agent.get(path).await;
    let status = response.status();
    let html = response.text().await.unwrap();
    (status, input_value(&html, "csrf").unwrap_or_default(), html)
}

async fn signed_in<'a>(app: &'a TestApp, email: &str) -> Agent<'a> {
    let mut agent = Agent::new(app);
    let response = agent.sign_in_at("/signin", email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    agent
}

#[tokio::test]
async fn the_emailed_reset_link_opens_a_page_that_sets_a_new_password() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let mut agent = Agent::new(&app);
    let (status, csrf, _) = csrf_of(&mut agent, "/forgot-password").await;
    assert_eq!(status, StatusCode::OK);
    let sent = agent
        .post_form(
            "/forgot-password",
            &[("csrf", &csrf), ("email", "ada@example.com")],
        )
        .await;
    assert_eq!(sent.status(), StatusCode::OK);
    // An unknown address gets the very same page.
    let unknown = agent
        .post_form(
            "/forgot-password",
            &[("csrf", &csrf), ("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(unknown.text().await.unwrap(), sent.text().await.unwrap());

    let mail = &wait_for_mail(&app, 1).await[0];
    let link_path = "/reset-password";
    let token = token_in(mail, link_path);
    assert!(mail.contains(&format!("{}{link_path}?token=", app.settings.issuer())));
    let (status, csrf, html) = csrf_of(&mut agent, &format!("{link_path}?token={token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(input_value(&html, "token").as_deref(), Some(token.as_str()));

    // A password the policy refuses: the form again, with the reason, and the link still good.
    let weak = agent
        .post_form(
            link_path,
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new_password", "password"),
            ],
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.text().await.unwrap().contains("too common"));
    // Without the CSRF token nothing changes.
    let forged = agent
        .post_form(
            link_path,
            &[("token", &token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let done = agent
        .post_form(
            link_path,
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::OK);

    assert_eq!(
        app.login_response("ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.login_response("ada@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    let again = agent
        .post_form(
            link_path,
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new_password", "yet another passphrase"),
            ],
        )
        .await;
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "the link is single-use"
    );
}

#[tokio::test]
async fn the_verification_link_confirms_only_when_its_button_is_pressed() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let token = app.login("ada@example.com").await;
    let asked = app
        .bearer_send(
            reqwest::Method::POST,
            "/api/v1/auth/verify-email",
            &token,
            None,
        )
        .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let mail = &wait_for_mail(&app, 1).await[0];
    let emailed = token_in(mail, "/verify-email");
    let mut agent = Agent::new(&app);
    let (status, csrf, _) = csrf_of(&mut agent, &format!("/verify-email?token={emailed}")).await;
    assert_eq!(status, StatusCode::OK);
    let verified = || app.stored_verified("ada@example.com");
    assert!(!verified().await, "opening the link changes nothing");
    let confirmed = agent
        .post_form("/verify-email", &[("csrf", &csrf), ("token", &emailed)])
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert!(verified().await);
    let bad = agent
        .post_form(
            "/verify-email",
            &[("csrf", &csrf), ("token", "not-a-token")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn sign_up_creates_the_account_and_signs_it_in() {
    let app = TestApp::builder().spawn().await;
    let mut agent = Agent::new(&app);
    let (_, csrf, _) = csrf_of(&mut agent, "/signup").await;
    let weak = agent
        .post_form(
            "/signup",
            &[
                ("csrf", &csrf),
                ("return_to", "/account"),
                ("email", "ada@example.com"),
                ("full_name", ""),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.text().await.unwrap().contains("Password"));
    let created = agent
        .post_form(
            "/signup",
            &[
                ("csrf", &csrf),
                ("return_to", "/account"),
                ("email", "ada@example.com"),
                ("full_name", "Ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(created.headers()[LOCATION], "/account");
    let page = agent.get("/account").await.text().await.unwrap();
    assert!(page.contains("ada@example.com"));
    // Signing in renewed the CSRF secret: the sign-up page's token of before is dead.
    let stale = agent
        .post_form(
            "/signup",
            &[
                ("csrf", &csrf),
                ("return_to", "/account"),
                ("email", "ada@example.com"),
                ("full_name", ""),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    let (_, csrf, _) = csrf_of(&mut agent, "/signup").await;
    let taken = agent
        .post_form(
            "/signup",
            &[
                ("csrf", &csrf),
                ("return_to", "/account"),
                ("email", "ada@example.com"),
                ("full_name", ""),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_account_page_changes_name_and_password_and_ends_other_sessions() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let api_token = app.login("ada@example.com").await;
    let mut agent = signed_in(&app, "ada@example.com").await;
    let (status, csrf, html) = csrf_of(&mut agent, "/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("This browser"));

    let saved = agent
        .post_form(
            "/account/profile",
            &[("csrf", &csrf), ("full_name", "Ada Lovelace")],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let me: serde_json::Value = app
        .bearer_get("/api/v1/users/me", &api_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["full_name"], "Ada Lovelace");

    let wrong = agent
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", "not my password"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let changed = agent
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    // This browser stays signed in; the API session ended.
    assert_eq!(agent.get("/account").await.status(), StatusCode::OK);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &api_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_account_page_signs_out_another_session_and_only_with_its_csrf_token() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let api = app.login_tokens("ada@example.com").await;
    let access = api["access_token"].as_str().unwrap();
    let sessions: serde_json::Value = app
        .bearer_get("/api/v1/users/me/sessions", access)
        .await
        .json()
        .await
        .unwrap();
    let api_session = sessions[0]["id"].as_str().unwrap().to_owned();
    let mut agent = signed_in(&app, "ada@example.com").await;
    let (_, csrf, html) = csrf_of(&mut agent, "/account").await;
    assert!(html.contains(&api_session));

    let forged = agent
        .post_form(
            "/account/sessions/revoke",
            &[("csrf", "A".repeat(43).as_str()), ("id", &api_session)],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::OK
    );

    // Ending another session needs the password (re-authentication).
    let unconfirmed = agent
        .post_form(
            "/account/sessions/revoke",
            &[("csrf", &csrf), ("id", &api_session)],
        )
        .await;
    assert_eq!(unconfirmed.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::OK
    );
    let revoked = agent
        .post_form(
            "/account/sessions/revoke",
            &[
                ("csrf", &csrf),
                ("id", &api_session),
                ("current_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Signing out ends the browser session for good.
    let out = agent.post_form("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(agent.get("/account").await.status(), StatusCode::SEE_OTHER);
    let live = app.browser_sessions().await.1;
    assert_eq!(live, 0);
}

#[tokio::test]
async fn the_account_page_makes_a_token_shown_once_and_revokes_it_with_its_csrf_token() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let mut agent = signed_in(&app, "ada@example.com").await;
    let (_, csrf, html) = csrf_of(&mut agent, "/account").await;
    assert!(html.contains("Personal access tokens"));

    let form = |csrf: String, password: &'static str| {
        vec![
            ("csrf", csrf),
            ("name", "laptop script".to_owned()),
            ("scope", "me".to_owned()),
            ("expires_in_days", "7".to_owned()),
            ("current_password", password.to_owned()),
        ]
    };
    // A forged CSRF token, then a wrong password: nothing is made.
    for (csrf, password) in [
        ("A".repeat(43), PASSWORD),
        (csrf.clone(), "not the password"),
    ] {
        let fields = form(csrf, password);
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = agent.post_form("/account/tokens", &borrowed).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(app.stored_personal_tokens("").await.0, 0);

    let fields = form(csrf.clone(), PASSWORD);
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let made = agent.post_form("/account/tokens", &borrowed).await;
    assert_eq!(made.status(), StatusCode::OK);
    let html = made.text().await.unwrap();
    let token = html
        .split("<code id=\"personal-token\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    assert!(token.starts_with("gatehouse_pat_"), "{html}");
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &token).await.status(),
        StatusCode::OK
    );

    // Listed on the account page, never with its secret; revoked from there.
    let (_, csrf, html) = csrf_of(&mut agent, "/account").await;
    assert!(html.contains("laptop script") && !html.contains(&token));
    let id = app.bearer_get("/api/v1/users/me/tokens", &token).await;
    let id = id.json::<serde_json::Value>().await.unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = agent
        .post_form(
            "/account/tokens/revoke",
            &[("csrf", "A".repeat(43).as_str()), ("id", &id)],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let revoked = agent
        .post_form("/account/tokens/revoke", &[("csrf", &csrf), ("id", &id)])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.bearer_get("/api/v1/users/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn hostile_queries_and_forms_on_the_pages_never_get_a_5xx() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let mut agent = signed_in(&app, "ada@example.com").await;
    let (_, csrf, _) = csrf_of(&mut agent, "/account").await;
    let hostile = [
        "",
        "%00",
        "%FF%FE",
        "a%0d%0aSet-Cookie:%20x=1",
        "%3Cscript%3Ealert(1)%3C/script%3E",
        "https://evil.test/",
        &"A".repeat(5_000),
        "..%2F..%2Fetc%2Fpasswd",
    ];
    let pages = [
        "/oauth2/authorize",
        "/signin",
        "/signup",
        "/forgot-password",
        "/reset-password",
        "/verify-email",
        "/account",
        "/oauth2/logout",
    ];
    let fields = [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "nonce",
        "return_to",
        "token",
        "id_token_hint",
        "post_logout_redirect_uri",
    ];
    let mut failures = Vec::new();
    for page in pages {
        for value in hostile {
            let query = fields
                .iter()
                .map(|field| format!("{field}={value}"))
                .collect::<Vec<_>>()
                .join("&");
            let status = agent
                .get(&format!("{page}?{query}&client_id=x"))
                .await
                .status();
            if status.is_server_error() {
                failures.push(format!("GET {page} {value:.40}: {status}"));
            }
        }
    }
    let posts = [
        "/oauth2/authorize",
        "/signin",
        "/signup",
        "/forgot-password",
        "/reset-password",
        "/verify-email",
        "/account/profile",
        "/account/password",
        "/account/sessions/revoke",
        "/oauth2/logout",
    ];
    for path in posts {
        for value in hostile {
            let mut body = format!("csrf={csrf}");
            for field in fields.iter().chain(&[
                "email",
                "password",
                "new_password",
                "current_password",
                "full_name",
                "id",
                "decision",
            ]) {
                body.push_str(&format!("&{field}={value}"));
            }
            let response = app
                .client
                .post(app.url(path))
                .header(
                    "cookie",
                    agent
                        .cookies
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            if response.status().is_server_error() {
                failures.push(format!("POST {path} {value:.40}: {}", response.status()));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Still serving (the confirmed logout among the posts signed the browser out).
    assert_eq!(agent.get("/signin").await.status(), StatusCode::OK);
}
