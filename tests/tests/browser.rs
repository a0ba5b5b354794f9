//! Swagger UI in a real headless Chromium: register with "Try it out", press "Authorize",
//! log in through the OAuth2 password form, call `GET /api/v1/users/me`, then create a todo
//! and see it listed.
//!
//! Needs a running chromedriver: `CHROMEDRIVER_URL=http://127.0.0.1:9515 cargo test -p
//! gatehouse-tests --test browser -- --ignored` (`.ci/run` does this). Screenshots of each
//! step land in `target/browser-screenshots/` (or `BROWSER_SCREENSHOT_DIR`).

use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use gatehouse_tests::{PASSWORD, spawn_app};

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
    let app = spawn_app().await;
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
    // The dialog offers every scope of the document, each with its description.
    let dialog = wait_for(&client, ".modal-ux-content")
        .await
        .text()
        .await
        .unwrap();
    let checkboxes = client
        .find_all(Locator::Css(
            ".modal-ux-content .scopes input[type=checkbox]",
        ))
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
    wait_for(&client, ".auth-btn-wrapper .btn.modal-btn.authorize")
        .await
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
