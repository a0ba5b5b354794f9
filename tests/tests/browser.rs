//! gatehouse in a real headless Chromium:
//! - Swagger UI: register with "Try it out", press "Authorize", log in through the OAuth2
//!   password form, call `GET /api/v1/users/me`, then create a todo and see it listed;
//! - Swagger UI's authorization code flow (PKCE, the built-in client) through the hosted
//!   sign-in page, in the window Swagger UI opens;
//! - a single-page app on another origin (`tests/browser/spa.html`) signing in with the
//!   code flow and PKCE, then calling `/users/me` with the token;
//! - the emailed password-reset link opened in the browser, a new password set;
//! - two-step verification set up on the account page (the key typed into the tests' own
//!   TOTP), then a sign-in with password and code.
//! - a SPA's sign-in through an upstream provider (a second gatehouse, on another host):
//!   "Continue with …" on the hosted page, the provider's own page, and back with tokens.
//! - a device signed in by the device authorization grant: the `oauth2` crate asks and
//!   polls, as a TV app would, while its person signs in and allows it on `/device`.
//!
//! Needs a running chromedriver: `CHROMEDRIVER_URL=http://127.0.0.1:9515 cargo test -p
//! gatehouse-tests --test browser -- --ignored` (`.ci/run` does this). Screenshots of each
//! step land in `target/browser-screenshots/` (or `BROWSER_SCREENSHOT_DIR`).

use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use gatehouse_tests::{PASSWORD, TestApp};

const WAIT: Duration = Duration::from_secs(20);

async fn browser() -> Client {
    let url = std::env::var("CHROMEDRIVER_URL").expect("CHROMEDRIVER_URL names a chromedriver");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--window-size=1400,2000"],
        }),
    );
    // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&url)
        .await
        .expect("a chromedriver session")
}

async fn wait_for(client: &Client, css: &str) -> Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("`{css}` never appeared: {error}"))
}

/// Saves a PNG of the page; CI keeps them as artifacts.
async fn screenshot(client: &Client, name: &str) {
    let dir = std::env::var_os("BROWSER_SCREENSHOT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots")
        });
    std::fs::create_dir_all(&dir).expect("a screenshot directory");
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
}

/// Replaces the JSON in an operation's request-body editor.
async fn fill_body(client: &Client, block: &str, json: &str) {
    let body = wait_for(client, &format!("{block} textarea.body-param__text")).await;
    body.click().await.unwrap();
    body.send_keys(&(Key::Control + "a")).await.unwrap();
    body.send_keys(&Key::Backspace.to_string()).await.unwrap();
    body.send_keys(json).await.unwrap();
}

async fn execute(client: &Client, block: &str) {
    wait_for(client, &format!("{block} .execute"))
        .await
        .click()
        .await
        .unwrap();
}

/// The body text of the live response shown in operation block `block`, if any.
async fn response_body(client: &Client, block: &str) -> Option<String> {
    let css = format!("{block} .live-responses-table .response-col_description pre");
    let pre = client.find(Locator::Css(&css)).await.ok()?;
    pre.text().await.ok()
}

/// Waits until the live response of the operation block `block` shows `status`, and
/// returns the response body text.
async fn live_response(client: &Client, block: &str, status: &str) -> String {
    let status_css = format!("{block} .live-responses-table .response .response-col_status");
    let started = std::time::Instant::now();
    loop {
        if let Ok(cell) = client.find(Locator::Css(&status_css)).await {
            let text = cell.text().await.unwrap_or_default();
            let shown = text.trim();
            if shown.starts_with(status) {
                return response_body(client, block).await.expect("a response body");
            }
            if !shown.is_empty() {
                let body = response_body(client, block).await.unwrap_or_default();
                panic!("{block} answered `{shown}`, expected {status}: {body}");
            }
        }
        assert!(started.elapsed() < WAIT, "{block} never answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The part of the Authorize dialog for one OAuth2 flow (`password`, `authorizationCode`).
async fn flow_container(client: &Client, flow: &str) -> Element {
    let xpath = format!("//div[contains(@class,'auth-container')][.//h4[contains(., '{flow}')]]");
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|error| panic!("no {flow} flow in the dialog: {error}"))
}

async fn open_and_try(client: &Client, block: &str) {
    wait_for(client, &format!("{block} .opblock-summary-control"))
        .await
        .click()
        .await
        .unwrap();
    wait_for(client, &format!("{block} .try-out__btn"))
        .await
        .click()
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium: set CHROMEDRIVER_URL and run with --ignored"]
async fn swagger_ui_register_authorize_and_call_users_me() {
    let app = TestApp::builder().spawn().await;
    let client = browser().await;
    client.goto(&app.url("/swagger-ui/")).await.unwrap();

    // Register through "Try it out".
    let register = "#operations-auth-register";
    open_and_try(&client, register).await;
    fill_body(
        &client,
        register,
        &format!(
            r#"{{"email": "swagger@example.com", "password": "{PASSWORD}", "full_name": "Swagger User"}}"#
        ),
    )
    .await;
    execute(&client, register).await;
    let created = live_response(&client, register, "201").await;
    assert!(created.contains("swagger@example.com"), "{created}");
    screenshot(&client, "1-registered").await;

    // Authorize with the OAuth2 password form.
    wait_for(&client, ".auth-wrapper .btn.authorize")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&client, "#oauth_username")
        .await
        .send_keys("swagger@example.com")
        .await
        .unwrap();
    wait_for(&client, "#oauth_password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    screenshot(&client, "2-authorize-dialog").await;
    // The password flow's part of the dialog offers every scope of the document, each with
    // its description.
    let password_flow = flow_container(&client, "password").await;
    let dialog = password_flow.text().await.unwrap();
    let checkboxes = password_flow
        .find_all(Locator::Css(".scopes input[type=checkbox]"))
        .await
        .unwrap();
    assert_eq!(
        checkboxes.len(),
        gatehouse_domain::Scope::ALL.len(),
        "one checkbox per scope: {dialog}"
    );
    for scope in gatehouse_domain::Scope::ALL {
        let (scope, description) = (scope.as_str(), scope.description());
        assert!(
            dialog.contains(scope),
            "scope {scope} is not offered: {dialog}"
        );
        assert!(
            dialog.contains(description),
            "{description:?} missing: {dialog}"
        );
    }
    password_flow
        .find(Locator::Css(".auth-btn-wrapper .btn.modal-btn.authorize"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Swagger UI turns the Authorize button into Logout once the token request succeeded,
    // and shows "Auth Error" otherwise.
    wait_for(
        &client,
        r#".auth-btn-wrapper button[aria-label="Remove authorization"]"#,
    )
    .await;
    let dialog = wait_for(&client, ".modal-ux-content")
        .await
        .text()
        .await
        .unwrap();
    assert!(dialog.contains("Authorized"), "{dialog}");
    screenshot(&client, "3-authorized").await;
    wait_for(&client, ".auth-btn-wrapper .btn-done")
        .await
        .click()
        .await
        .unwrap();

    // Call GET /api/v1/users/me with the token Swagger UI now holds.
    let me = "#operations-users-me";
    open_and_try(&client, me).await;
    execute(&client, me).await;
    let body = live_response(&client, me, "200").await;
    screenshot(&client, "4-users-me").await;
    assert!(body.contains("swagger@example.com"), "{body}");
    assert!(body.contains("Swagger User"), "{body}");

    // Create a todo with the same token, then see it in the list.
    let create = "#operations-todos-create_todo";
    open_and_try(&client, create).await;
    fill_body(
        &client,
        create,
        r#"{"title": "Written from Swagger UI", "description": "through the Authorize button"}"#,
    )
    .await;
    execute(&client, create).await;
    let created = live_response(&client, create, "201").await;
    assert!(created.contains("Written from Swagger UI"), "{created}");

    let list = "#operations-todos-list_todos";
    open_and_try(&client, list).await;
    execute(&client, list).await;
    let listed = live_response(&client, list, "200").await;
    screenshot(&client, "5-todos-listed").await;
    assert!(listed.contains("Written from Swagger UI"), "{listed}");
    assert!(listed.contains(r#""total": 1"#), "{listed}");

    client.close().await.ok();
}

/// Types into the hosted sign-in page and submits it.
async fn sign_in_on_hosted_page(client: &Client, email: &str, password: &str) {
    wait_for(client, "#email")
        .await
        .send_keys(email)
        .await
        .unwrap();
    wait_for(client, "#password")
        .await
        .send_keys(password)
        .await
        .unwrap();
    wait_for(client, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
}

/// Waits until the element `css` shows text containing `expected`; returns it.
async fn wait_for_text(client: &Client, css: &str, expected: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(expected) {
            return text;
        }
        if started.elapsed() > WAIT {
            let url = client.current_url().await.map(|u| u.to_string());
            let source: String = client
                .source()
                .await
                .unwrap_or_default()
                .chars()
                .take(2000)
                .collect();
            panic!("`{css}` never showed {expected:?}; last: {text:?}, at {url:?}: {source}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium: set CHROMEDRIVER_URL and run with --ignored"]
async fn a_spa_signs_in_through_the_hosted_page_with_code_and_pkce() {
    let page_template = include_str!("../browser/spa.html");
    // The SPA's host must exist before the app, whose CORS allowlist names it.
    let placeholder = serve_static_later().await;
    // ID tokens (`openid`) need an asymmetric key.
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("key.pem");
    let (private, _) = gatehouse_security::keys::generate_ed25519().unwrap();
    std::fs::write(&key, secrecy::ExposeSecret::expose_secret(&private)).unwrap();
    let app = gatehouse_tests::TestApp::builder()
        .settings({
            let origin = placeholder.origin.clone();
            move |s| {
                s.server.cors_allowed_origins = vec![origin];
                s.jwt.algorithm = gatehouse_server::settings::JwtAlgorithm::EdDSA;
                s.jwt.private_key_file = Some(key);
            }
        })
        .spawn()
        .await;
    placeholder.set(
        page_template
            .replace("__ISSUER__", &app.address)
            .replace("__CLIENT_ID__", "spa"),
    );
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok("ada@example.com").await;
    let registered = app
        .client
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({
            "id": "spa", "name": "Example SPA", "public": true, "first_party": true,
            "redirect_uris": [format!("{}/callback", placeholder.origin)],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), reqwest::StatusCode::CREATED);

    let client = browser().await;
    client.goto(&placeholder.origin).await.unwrap();
    wait_for(&client, "#sign-in").await.click().await.unwrap();
    // The hosted sign-in page, with the client's name.
    let heading = wait_for_text(&client, "main", "Example SPA").await;
    assert!(heading.contains("Sign in"), "{heading}");
    screenshot(&client, "spa-1-hosted-sign-in").await;
    sign_in_on_hosted_page(&client, "ada@example.com", PASSWORD).await;
    // Back at the SPA, which exchanged the code and called /users/me.
    let status = wait_for_text(&client, "#status", "Signed in as").await;
    assert_eq!(status, "Signed in as ada@example.com");
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&placeholder.origin)
    );
    screenshot(&client, "spa-2-signed-in").await;
    client.close().await.ok();
}

/// A stand-in for a SPA's static host on a free loopback port: it serves one page for
/// every GET, a page known only once the app it talks to has started.
struct LaterPage {
    origin: String,
    page: std::sync::Arc<std::sync::Mutex<String>>,
}

impl LaterPage {
    fn set(&self, page: String) {
        *self.page.lock().unwrap() = page;
    }
}

async fn serve_static_later() -> LaterPage {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let page = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let served = page.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let page = served.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let _ = socket.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    LaterPage { origin, page }
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium: set CHROMEDRIVER_URL and run with --ignored"]
async fn swagger_ui_authorizes_with_the_code_flow_through_the_hosted_sign_in() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let client = browser().await;
    client.goto(&app.url("/swagger-ui/")).await.unwrap();
    let main = client.window().await.unwrap();
    wait_for(&client, ".auth-wrapper .btn.authorize")
        .await
        .click()
        .await
        .unwrap();
    let code_flow = flow_container(&client, "authorizationCode").await;
    let text = code_flow.text().await.unwrap();
    assert!(text.contains("PKCE"), "{text}");
    screenshot(&client, "swagger-code-1-dialog").await;
    code_flow
        .find(Locator::Css(".auth-btn-wrapper .btn.modal-btn.authorize"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Swagger UI opens the authorization endpoint in a window of its own.
    let started = std::time::Instant::now();
    let popup = loop {
        let windows = client.windows().await.unwrap();
        if let Some(other) = windows.into_iter().find(|w| *w != main) {
            break other;
        }
        assert!(started.elapsed() < WAIT, "no sign-in window opened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    client.switch_to_window(popup).await.unwrap();
    wait_for_text(&client, "main", "Sign in").await;
    screenshot(&client, "swagger-code-2-hosted-sign-in").await;
    sign_in_on_hosted_page(&client, "ada@example.com", PASSWORD).await;
    // The window goes back to Swagger UI's oauth2-redirect.html, which hands the code to
    // the main window and closes.
    let started = std::time::Instant::now();
    while client.windows().await.unwrap().len() > 1 {
        assert!(started.elapsed() < WAIT, "the sign-in window never closed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.switch_to_window(main).await.unwrap();
    wait_for(
        &client,
        r#".auth-btn-wrapper button[aria-label="Remove authorization"]"#,
    )
    .await;
    screenshot(&client, "swagger-code-3-authorized").await;
    wait_for(&client, ".auth-btn-wrapper .btn-done")
        .await
        .click()
        .await
        .unwrap();
    let me = "#operations-users-me";
    open_and_try(&client, me).await;
    execute(&client, me).await;
    let body = live_response(&client, me, "200").await;
    assert!(body.contains("ada@example.com"), "{body}");
    screenshot(&client, "swagger-code-4-users-me").await;
    client.close().await.ok();
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium: set CHROMEDRIVER_URL and run with --ignored"]
async fn the_emailed_reset_link_sets_a_new_password_in_the_browser() {
    let app = TestApp::builder().spawn().await;
    app.register_ok("ada@example.com").await;
    let client = browser().await;
    client.goto(&app.url("/signin")).await.unwrap();
    client
        .find(Locator::LinkText("Forgot your password?"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "#email")
        .await
        .send_keys("ada@example.com")
        .await
        .unwrap();
    wait_for(&client, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "main", "Check your email").await;
    screenshot(&client, "reset-1-sent").await;

    let mail = &gatehouse_tests::wait_for_mail(&app, 1).await[0];
    let token = gatehouse_tests::token_in(mail, "/reset-password");
    // The link as the email has it: the public URL, never the request's Host.
    let link = format!("{}/reset-password?token={token}", app.settings.issuer());
    assert!(mail.contains(&link), "{mail}");
    client.goto(&link).await.unwrap();
    let new_password = "a fresh passphrase for ada";
    wait_for(&client, "#new_password")
        .await
        .send_keys(new_password)
        .await
        .unwrap();
    screenshot(&client, "reset-2-new-password").await;
    wait_for(&client, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "main", "Password changed").await;
    screenshot(&client, "reset-3-done").await;

    let old = app.login_response("ada@example.com", PASSWORD).await;
    assert_eq!(
        old.status(),
        reqwest::StatusCode::BAD_REQUEST,
        "the old password is refused"
    );
    let new = app.login_response("ada@example.com", new_password).await;
    assert_eq!(new.status(), reqwest::StatusCode::OK);
    client.close().await.ok();
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium: set CHROMEDRIVER_URL and run with --ignored"]
async fn every_hosted_page_renders_with_its_stylesheet_and_no_script() {
    let app = TestApp::builder().spawn().await;
    let admin = app.admin_token("admin@example.com").await;
    let registered = app
        .client
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({
            "id": "partner", "name": "Partner App", "public": true, "first_party": false,
            "redirect_uris": ["https://partner.example.com/callback"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), reqwest::StatusCode::CREATED);
    let client = browser().await;
    let visit = |path: &str| app.url(path);
    let pages = [
        ("page-signup", "/signup", "Create an account"),
        (
            "page-forgot-password",
            "/forgot-password",
            "Forgot your password?",
        ),
        (
            "page-reset-password",
            "/reset-password?token=x",
            "Choose a new password",
        ),
        (
            "page-verify-email",
            "/verify-email?token=x",
            "Confirm your email address",
        ),
        (
            "page-bad-authorize",
            "/oauth2/authorize?client_id=nobody",
            "This sign-in link is not valid",
        ),
    ];
    for (name, path, heading) in pages {
        client.goto(&visit(path)).await.unwrap();
        wait_for_text(&client, "h1", heading).await;
        // No script on any page.
        let scripts = client.find_all(Locator::Css("script")).await.unwrap();
        assert!(scripts.is_empty(), "{path} has a script");
        screenshot(&client, name).await;
    }
    // Sign up in the browser, then the account page.
    client.goto(&visit("/signup")).await.unwrap();
    wait_for(&client, "#email")
        .await
        .send_keys("ada@example.com")
        .await
        .unwrap();
    wait_for(&client, "#full_name")
        .await
        .send_keys("Ada Lovelace")
        .await
        .unwrap();
    wait_for(&client, "#password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    wait_for(&client, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "main", "Signed in as ada@example.com").await;
    screenshot(&client, "page-account").await;
    // A third-party client's consent page.
    let (_, challenge) = gatehouse_tests::oidc::pkce();
    let authorize = gatehouse_tests::oidc::authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "partner"),
            ("redirect_uri", "https://partner.example.com/callback"),
            ("scope", "openid email"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    // HS256 here: `openid` is refused; ask for an API scope a third-party app may hold
    // instead (`me` is for first-party apps only).
    let authorize = authorize
        .replace("openid+email", "todos%3Aread")
        .replace("openid%20email", "todos%3Aread");
    client.goto(&authorize).await.unwrap();
    wait_for_text(&client, "main", "Partner App").await;
    let page = client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Read your todos"), "{page}");
    assert!(!page.contains("Read and manage your own account"), "{page}");
    screenshot(&client, "page-consent").await;
    // Logout without a hint asks first.
    client.goto(&visit("/oauth2/logout")).await.unwrap();
    wait_for_text(&client, "h1", "Sign out?").await;
    screenshot(&client, "page-logout-confirm").await;
    wait_for(&client, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "h1", "Signed out").await;
    client.goto(&visit("/account")).await.unwrap();
    wait_for_text(&client, "h1", "Sign in").await;
    client.close().await.ok();
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium: set CHROMEDRIVER_URL and run with --ignored"]
async fn two_step_verification_is_set_up_and_used_in_the_hosted_pages() {
    use gatehouse_domain::Clock as _;
    let clock = gatehouse_tests::ManualClock::new();
    let app = gatehouse_tests::TestApp::builder()
        .clock(clock.clone())
        .spawn()
        .await;
    app.register_ok("ada@example.com").await;
    let client = browser().await;

    // Enrol on the account page: the key under the QR code goes into the tests' own TOTP.
    client.goto(&app.url("/signin")).await.unwrap();
    sign_in_on_hosted_page(&client, "ada@example.com", PASSWORD).await;
    wait_for_text(&client, "h1", "Your account").await;
    // Setting it up needs the password again (re-authentication).
    wait_for(&client, "#mfa_password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    wait_for(&client, "form[action='/account/mfa/start'] button")
        .await
        .click()
        .await
        .unwrap();
    let secret = wait_for(&client, "#totp-secret")
        .await
        .text()
        .await
        .unwrap();
    wait_for(&client, "figure.qr svg").await;
    assert!(
        client
            .find_all(Locator::Css("script"))
            .await
            .unwrap()
            .is_empty()
    );
    screenshot(&client, "mfa-1-enrol").await;
    wait_for(&client, "#code")
        .await
        .send_keys(&gatehouse_tests::totp::code_at(&secret, clock.now()))
        .await
        .unwrap();
    wait_for(&client, "form[action='/account/mfa/confirm'] button")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&client, "#recovery-codes").await;
    let codes = client
        .find_all(Locator::Css("#recovery-codes li"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    screenshot(&client, "mfa-2-recovery-codes").await;

    // Sign out, then in again: the password, then the code page.
    client.goto(&app.url("/account")).await.unwrap();
    wait_for(&client, "form[action='/signout'] button")
        .await
        .click()
        .await
        .unwrap();
    clock.advance(chrono::Duration::seconds(30));
    client.goto(&app.url("/signin")).await.unwrap();
    sign_in_on_hosted_page(&client, "ada@example.com", PASSWORD).await;
    wait_for_text(&client, "h1", "Two-step verification").await;
    screenshot(&client, "mfa-3-code-page").await;
    wait_for(&client, "#otp")
        .await
        .send_keys(&gatehouse_tests::totp::code_at(&secret, clock.now()))
        .await
        .unwrap();
    wait_for(&client, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "h1", "Your account").await;
    wait_for_text(&client, "main", "recovery codes left").await;
    screenshot(&client, "mfa-4-signed-in").await;
    client.close().await.ok();
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium: set CHROMEDRIVER_URL and run with --ignored"]
async fn a_spa_signs_in_with_an_upstream_provider_on_its_own_page() {
    use gatehouse_server::settings::{JwtAlgorithm, UpstreamKind, UpstreamSettings};
    let page_template = include_str!("../browser/spa.html");
    let placeholder = serve_static_later().await;
    let keys = tempfile::tempdir().unwrap();
    let key = |name: &str| {
        let path = keys.path().join(name);
        let (private, _) = gatehouse_security::keys::generate_ed25519().unwrap();
        std::fs::write(&path, secrecy::ExposeSecret::expose_secret(&private)).unwrap();
        path
    };
    // The upstream, at `localhost` so that the browser keeps its cookies apart from the
    // app's at `127.0.0.1` (as two hosts would be).
    let upstream_key = key("upstream.pem");
    let upstream = TestApp::builder()
        .settings(move |s| {
            s.server.public_url = s.server.public_url.replace("127.0.0.1", "localhost");
            s.jwt.algorithm = JwtAlgorithm::EdDSA;
            s.jwt.private_key_file = Some(upstream_key);
        })
        .spawn()
        .await;
    upstream.register_ok("ada@example.com").await;
    upstream.verify_every_account().await;
    let issuer = upstream.settings.server.public_url.clone();
    let app_key = key("app.pem");
    let app = TestApp::builder()
        .settings({
            let origin = placeholder.origin.clone();
            move |s| {
                s.server.cors_allowed_origins = vec![origin];
                s.jwt.algorithm = JwtAlgorithm::EdDSA;
                s.jwt.private_key_file = Some(app_key);
                s.upstream.insert(
                    "corp".into(),
                    UpstreamSettings {
                        kind: UpstreamKind::Oidc,
                        name: Some("Corp SSO".into()),
                        issuer: Some(issuer),
                        client_id: "gatehouse".into(),
                        ..UpstreamSettings::default()
                    },
                );
            }
        })
        .spawn()
        .await;
    placeholder.set(
        page_template
            .replace("__ISSUER__", &app.address)
            .replace("__CLIENT_ID__", "spa"),
    );
    let register = |at: &TestApp, admin: String, body: serde_json::Value| {
        let request = at
            .client
            .post(at.url("/api/v1/clients"))
            .bearer_auth(admin)
            .json(&body)
            .send();
        async move {
            assert_eq!(
                request.await.unwrap().status(),
                reqwest::StatusCode::CREATED
            )
        }
    };
    register(
        &upstream,
        upstream.admin_token("admin@example.com").await,
        serde_json::json!({
            "id": "gatehouse", "name": "The app's gatehouse", "public": true, "first_party": true,
            "redirect_uris": [format!("{}/upstream/corp/callback", app.address)],
        }),
    )
    .await;
    register(
        &app,
        app.admin_token("admin@example.com").await,
        serde_json::json!({
            "id": "spa", "name": "Example SPA", "public": true, "first_party": true,
            "redirect_uris": [format!("{}/callback", placeholder.origin)],
        }),
    )
    .await;

    let client = browser().await;
    client.goto(&placeholder.origin).await.unwrap();
    wait_for(&client, "#sign-in").await.click().await.unwrap();
    // gatehouse's page offers the provider; the person picks it.
    wait_for_text(&client, "main", "Continue with Corp SSO").await;
    screenshot(&client, "upstream-1-choose").await;
    client
        .find(Locator::XPath(
            "//button[contains(., 'Continue with Corp SSO')]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The provider's own sign-in page, on its own host.
    wait_for_text(&client, "main", "Sign in").await;
    let at = client.current_url().await.unwrap();
    assert_eq!(at.host_str(), Some("localhost"), "{at}");
    screenshot(&client, "upstream-2-provider").await;
    sign_in_on_hosted_page(&client, "ada@example.com", PASSWORD).await;
    // Back at the SPA, which exchanged gatehouse's code and called /users/me.
    let status = wait_for_text(&client, "#status", "Signed in as").await;
    assert_eq!(status, "Signed in as ada@example.com");
    screenshot(&client, "upstream-3-signed-in").await;
    client.close().await.ok();
}

/// chromedriver's WebAuthn extension: a virtual authenticator for the session, as a
/// platform authenticator with discoverable credentials and user verification that
/// always succeeds (W3C WebAuthn §11.3, "Add Virtual Authenticator").
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.expect("a session");
        base_url.join(&format!("session/{session}/webauthn/authenticator"))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium: set CHROMEDRIVER_URL and run with --ignored"]
async fn a_passkey_added_on_the_account_page_signs_a_spa_in_without_a_password() {
    let page_template = include_str!("../browser/spa.html");
    let placeholder = serve_static_later().await;
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("key.pem");
    let (private, _) = gatehouse_security::keys::generate_ed25519().unwrap();
    std::fs::write(&key, secrecy::ExposeSecret::expose_secret(&private)).unwrap();
    // WebAuthn needs a domain name: the app is `localhost` to the browser.
    let app = TestApp::builder()
        .settings({
            let origin = placeholder.origin.clone();
            move |s| {
                s.server.public_url = format!("http://localhost:{}", s.server.port);
                s.server.cors_allowed_origins = vec![origin];
                s.jwt.algorithm = gatehouse_server::settings::JwtAlgorithm::EdDSA;
                s.jwt.private_key_file = Some(key);
            }
        })
        .spawn()
        .await;
    let public = app.settings.server.public_url.clone();
    placeholder.set(
        page_template
            .replace("__ISSUER__", &public)
            .replace("__CLIENT_ID__", "spa"),
    );
    let admin = app.admin_token("admin@example.com").await;
    app.register_ok("ada@example.com").await;
    let registered = app
        .client
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({
            "id": "spa", "name": "Example SPA", "public": true, "first_party": true,
            "redirect_uris": [format!("{}/callback", placeholder.origin)],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), reqwest::StatusCode::CREATED);

    let client = browser().await;
    client
        .issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("a virtual authenticator");
    // Signed in with the password, Ada adds a passkey on her account page.
    client
        .goto(&format!("{public}/signin?return_to=%2Faccount"))
        .await
        .unwrap();
    sign_in_on_hosted_page(&client, "ada@example.com", PASSWORD).await;
    wait_for_text(&client, "main", "Passkeys").await;
    let name = wait_for(&client, "#passkey_name").await;
    name.clear().await.unwrap();
    name.send_keys("This laptop").await.unwrap();
    wait_for(&client, "#passkey_password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    wait_for(&client, "form[data-passkey=register] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&client, ".notice", "The passkey is added").await;
    wait_for_text(&client, "main", "This laptop").await;
    screenshot(&client, "passkey-1-added").await;
    wait_for(&client, "form[action='/signout'] button")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "h1", "Sign in").await;

    // The SPA sends her to the hosted sign-in; the passkey alone signs her in.
    client.goto(&placeholder.origin).await.unwrap();
    wait_for(&client, "#sign-in").await.click().await.unwrap();
    wait_for_text(&client, "main", "Example SPA").await;
    let button = wait_for(&client, "form[data-passkey=sign-in] button[type=submit]").await;
    screenshot(&client, "passkey-2-sign-in").await;
    button.click().await.unwrap();
    let status = wait_for_text(&client, "#status", "Signed in as").await;
    assert_eq!(status, "Signed in as ada@example.com");
    screenshot(&client, "passkey-3-signed-in").await;
    client.close().await.ok();
    assert_eq!(app.audited("passkey_registered").await, 1);
    assert_eq!(app.audited("passkey_sign_in").await, 1);
}

#[tokio::test]
#[ignore = "needs chromedriver and Chromium: set CHROMEDRIVER_URL and run with --ignored"]
async fn a_device_run_by_the_oauth2_crate_is_allowed_on_the_device_page() {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthType, ClientId, DeviceAuthorizationUrl, Scope, StandardDeviceAuthorizationResponse,
        TokenResponse, TokenUrl,
    };

    let app = TestApp::builder()
        .settings(|s| s.device.interval_secs = 1)
        .spawn()
        .await;
    let root = app.admin_token("root@example.com").await;
    gatehouse_tests::oidc::register_client(
        &app,
        &root,
        serde_json::json!({"id": "tv", "name": "Living room TV", "public": true, "device_code": true}),
    )
    .await;
    app.register_ok("ada@example.com").await;

    let device = BasicClient::new(ClientId::new("tv".into()))
        .set_auth_type(AuthType::RequestBody)
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(app.url("/oauth2/device_authorization")).unwrap(),
        )
        .set_token_uri(TokenUrl::new(app.url("/api/v1/auth/token")).unwrap());
    // As the crate advises: never follow a redirect from an authorization server.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let details: StandardDeviceAuthorizationResponse = device
        .exchange_device_code()
        .add_scope(Scope::new("todos:read".into()))
        .request_async(&http)
        .await
        .expect("the device's codes");
    let complete = details
        .verification_uri_complete()
        .expect("verification_uri_complete")
        .secret()
        .to_owned();
    let user_code = details.user_code().secret().to_owned();
    // The device polls while its person decides.
    let polling = device.exchange_device_access_token(&details).request_async(
        &http,
        tokio::time::sleep,
        Some(Duration::from_secs(120)),
    );

    let person = async {
        let client = browser().await;
        client.goto(&complete).await.unwrap();
        sign_in_on_hosted_page(&client, "ada@example.com", PASSWORD).await;
        let entered = wait_for(&client, "#user_code").await;
        assert_eq!(
            entered.prop("value").await.unwrap().as_deref(),
            Some(user_code.as_str())
        );
        screenshot(&client, "device-1-code").await;
        wait_for(&client, "button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        wait_for_text(&client, "main", "Living room TV").await;
        wait_for_text(&client, "#user-code", &user_code).await;
        screenshot(&client, "device-2-allow").await;
        wait_for(&client, "button[value=allow]")
            .await
            .click()
            .await
            .unwrap();
        wait_for_text(&client, "main", "is signed in on your device").await;
        screenshot(&client, "device-3-done").await;
        client.close().await.ok();
    };
    let (tokens, ()) = tokio::join!(polling, person);
    let tokens = tokens.expect("the device's tokens");
    let scopes: Vec<String> = tokens
        .scopes()
        .map(|scopes| scopes.iter().map(|scope| scope.to_string()).collect())
        .unwrap_or_default();
    assert_eq!(scopes, ["todos:read"]);
    assert!(tokens.refresh_token().is_some());
    let todos = app
        .bearer_get("/api/v1/todos", tokens.access_token().secret())
        .await;
    assert_eq!(todos.status(), reqwest::StatusCode::OK);
}
