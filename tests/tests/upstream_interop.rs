//! gatehouse signing people in through an OpenID provider nobody here wrote: the npm
//! package `oidc-provider` (tests/upstream/provider.mjs starts it in memory, with its own
//! development sign-in page, RS256 keys, PKCE required and RFC 9207 `iss` on every answer).
//! gatehouse knows it only by its issuer (discovery) and the client registered there.
//!
//! Needs Node 20+ and the package installed: `(cd tests/upstream && npm ci)`, then
//! `cargo test -p gatehouse-tests --test upstream_interop -- --ignored` (`.ci/run` does
//! this).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use gatehouse_server::settings::{UpstreamKind, UpstreamSettings};
use gatehouse_tests::oidc::{Agent, input_value, query_of};
use gatehouse_tests::{PASSWORD, TestApp};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// The provider's process: killed when dropped.
struct Provider {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    issuer: String,
}

impl Provider {
    fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/upstream/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs tests/upstream/provider.mjs (npm ci in tests/upstream first)");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("the provider starts").unwrap();
        let issuer = first
            .strip_prefix("ISSUER ")
            .unwrap_or_else(|| panic!("the provider's first line: {first}"))
            .to_owned();
        Self {
            child,
            stdin,
            lines,
            issuer,
        }
    }

    /// Registers a confidential client of gatehouse's callback for `provider`.
    fn register(&mut self, app: &TestApp, provider: &str) {
        let client = serde_json::json!({
            "client_id": "gatehouse",
            "client_secret": "upstream-test-secret",
            "redirect_uris": [format!("{}/upstream/{provider}/callback", app.address)],
        });
        writeln!(self.stdin, "{client}").unwrap();
        let answer = self.lines.next().unwrap().unwrap();
        assert_eq!(answer, "CLIENT gatehouse");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A browser at the provider: its own cookie jar (every cookie sent everywhere, which the
/// provider's path-scoped cookies tolerate).
struct AtProvider {
    client: reqwest::Client,
    cookies: HashMap<String, String>,
    issuer: String,
    /// How many times the provider showed its sign-in page.
    sign_in_pages: usize,
}

impl AtProvider {
    fn new(issuer: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            issuer: issuer.to_owned(),
            sign_in_pages: 0,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let jar = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request.header(COOKIE, jar).send().await.unwrap();
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (name, value) = text.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() || text.to_ascii_lowercase().contains("max-age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    /// From gatehouse's redirect to the provider, signs in as `login` on the provider's
    /// own page when it shows it, and returns where the provider sends the browser back.
    async fn sign_in(&mut self, authorization: &str, login: &str, app: &TestApp) -> String {
        let mut url = authorization.to_owned();
        for _ in 0..8 {
            if url.starts_with(&app.address) {
                return url;
            }
            let response = self.send(self.client.get(&url)).await;
            if response.status() == StatusCode::OK {
                let html = response.text().await.unwrap();
                let action = html
                    .split("action=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_else(|| panic!("the provider's sign-in form: {html}"))
                    .to_owned();
                assert_eq!(input_value(&html, "prompt").as_deref(), Some("login"));
                self.sign_in_pages += 1;
                let form = [("prompt", "login"), ("login", login), ("password", "any")];
                let posted = self.send(self.client.post(&action).form(&form)).await;
                url = self.next(&posted);
                continue;
            }
            url = self.next(&response);
        }
        panic!("the provider never sent the browser back");
    }

    fn next(&self, response: &reqwest::Response) -> String {
        assert!(
            response.status().is_redirection(),
            "the provider answered {}",
            response.status()
        );
        let location = response.headers()[LOCATION].to_str().unwrap();
        if location.starts_with('/') {
            format!("{}{location}", self.issuer)
        } else {
            location.to_owned()
        }
    }
}

/// The provider, and a gatehouse that offers it as `node` ("Node provider").
async fn start(
    customize: impl FnOnce(&mut gatehouse_server::settings::Settings),
) -> (Provider, TestApp) {
    let mut provider = Provider::start();
    let issuer = provider.issuer.clone();
    let app = TestApp::builder()
        .settings(move |s| {
            s.upstream.insert(
                "node".into(),
                UpstreamSettings {
                    kind: UpstreamKind::Oidc,
                    name: Some("Node provider".into()),
                    issuer: Some(issuer),
                    client_id: "gatehouse".into(),
                    client_secret: Some("upstream-test-secret".into()),
                    ..UpstreamSettings::default()
                },
            );
            customize(s);
        })
        .spawn()
        .await;
    provider.register(&app, "node");
    (provider, app)
}

/// Presses "Continue with Node provider" on the sign-in page (or, with `path`, posts that
/// form of the account page): the provider's authorization URL.
async fn begin(browser: &mut Agent<'_>, path: &str, page: &str) -> String {
    let html = browser.get(page).await.text().await.unwrap();
    assert!(html.contains("Node provider"), "{html}");
    let csrf = input_value(&html, "csrf").unwrap();
    let started = browser
        .post_form(path, &[("csrf", &csrf), ("provider", "node")])
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    started.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
#[ignore = "needs node and `npm ci` in tests/upstream; run with --ignored"]
async fn a_person_signs_in_and_up_through_an_independent_openid_provider() {
    let (provider, app) = start(|_| {}).await;
    let mut browser = Agent::new(&app);
    let at_provider = begin(&mut browser, "/upstream/node/start", "/signin").await;
    assert!(at_provider.starts_with(&provider.issuer), "{at_provider}");
    let sent = query_of(&at_provider);
    assert_eq!(sent["code_challenge_method"], "S256");
    assert!(sent.contains_key("nonce") && sent.contains_key("state"));
    let mut person = AtProvider::new(&provider.issuer);
    let back = person.sign_in(&at_provider, "alice", &app).await;
    assert_eq!(person.sign_in_pages, 1);
    // The provider names itself in its answer (RFC 9207).
    assert_eq!(query_of(&back)["iss"], provider.issuer);

    // A forged `iss` (a mix-up) is refused, and the answer's state is then used up.
    let forged = back.replace(
        &format!("iss={}", urlencoding(&provider.issuer)),
        "iss=https%3A%2F%2Fevil.example",
    );
    assert_ne!(forged, back);
    assert_eq!(browser.get(&forged).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(browser.get(&back).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.browser_sessions().await.0, 0);

    // Again, and this time the answer is the provider's own: an account without a password,
    // signed in; the provider remembered the person, so no second sign-in page.
    let at_provider = begin(&mut browser, "/upstream/node/start", "/signin").await;
    let back = person.sign_in(&at_provider, "alice", &app).await;
    assert_eq!(person.sign_in_pages, 1);
    let signed_in = browser.get(&back).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[LOCATION], "/account");
    let account = browser.get("/account").await.text().await.unwrap();
    assert!(account.contains("alice@example.org"), "{account}");
    assert_eq!(app.stored_identities_of("alice@example.org").await, 1);
    assert_eq!(app.audited("upstream_sign_in").await, 1);
    // The same callback twice opens nothing more.
    assert_eq!(browser.get(&back).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.browser_sessions().await, (1, 1));
    // Her password grant answers exactly as a wrong password does (she has none).
    app.register_ok("zed@example.org").await;
    let wrong = app
        .login_response("zed@example.org", "not the password")
        .await;
    let (status, body) = (wrong.status(), wrong.text().await.unwrap());
    let grant = app.login_response("alice@example.org", PASSWORD).await;
    assert_eq!(
        (grant.status(), grant.text().await.unwrap()),
        (status, body)
    );
}

#[tokio::test]
#[ignore = "needs node and `npm ci` in tests/upstream; run with --ignored"]
async fn the_provider_is_asked_for_a_fresh_sign_in_to_re_authenticate() {
    let (provider, app) = start(|s| s.auth.reauthentication_seconds = 1).await;
    let mut browser = Agent::new(&app);
    let mut person = AtProvider::new(&provider.issuer);
    let at_provider = begin(&mut browser, "/upstream/node/start", "/signin").await;
    let back = person.sign_in(&at_provider, "ren", &app).await;
    assert_eq!(browser.get(&back).await.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    // The provider still has Ren's session, yet shows its sign-in page again.
    let at_provider = begin(&mut browser, "/account/reauthenticate", "/account").await;
    assert_eq!(query_of(&at_provider)["prompt"], "login");
    let back = person.sign_in(&at_provider, "ren", &app).await;
    assert_eq!(person.sign_in_pages, 2);
    let fresh = browser.get(&back).await;
    assert_eq!(fresh.headers()[LOCATION], "/account?done=reauthenticated");
}

#[tokio::test]
#[ignore = "needs node and `npm ci` in tests/upstream; run with --ignored"]
async fn the_providers_addresses_never_open_an_existing_account() {
    let (provider, app) = start(|_| {}).await;
    app.register_ok("unverified-mallory@example.org").await;
    app.register_ok("bea@example.org").await;
    let mut browser = Agent::new(&app);
    // An address the provider did not verify: no account, no session, no offer.
    let at_provider = begin(&mut browser, "/upstream/node/start", "/signin").await;
    let mut mallory = AtProvider::new(&provider.issuer);
    let back = mallory
        .sign_in(&at_provider, "unverified-mallory", &app)
        .await;
    assert_eq!(browser.get(&back).await.status(), StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key("gatehouse-link"));
    // A verified one: offered for linking, nothing opened until Bea signs in and confirms.
    let at_provider = begin(&mut browser, "/upstream/node/start", "/signin").await;
    let mut bea = AtProvider::new(&provider.issuer);
    let back = bea.sign_in(&at_provider, "bea", &app).await;
    let offered = browser.get(&back).await;
    assert_eq!(offered.headers()[LOCATION], "/upstream/link");
    assert_eq!(app.browser_sessions().await.0, 0);
    browser
        .sign_in_at(
            "/signin?return_to=%2Fupstream%2Flink",
            "bea@example.org",
            PASSWORD,
        )
        .await;
    let html = browser.get("/upstream/link").await.text().await.unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let linked = browser
        .post_form("/upstream/link", &[("csrf", &csrf)])
        .await;
    assert_eq!(linked.headers()[LOCATION], "/account?done=linked");
    assert_eq!(app.stored_identities_of("bea@example.org").await, 1);
    assert_eq!(app.stored_accounts().await, 2);
}

/// `text` as a query value.
fn urlencoding(text: &str) -> String {
    url_form(&[("v", text)])
        .strip_prefix("v=")
        .unwrap()
        .to_owned()
}

fn url_form(pairs: &[(&str, &str)]) -> String {
    gatehouse_tests::oidc::form_body(pairs)
}
