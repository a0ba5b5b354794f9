//! Test harness: start the real gatehouse application on port 0 with a fresh database
//! (SQLite in a temporary directory, or a new PostgreSQL database when `TEST_DATABASE_URL`
//! is set) and talk HTTP to it.

pub mod document;
pub mod oidc;
mod stored;
pub mod totp;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_domain::Clock;
use gatehouse_server::{Application, Settings};
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use secrecy::ExposeSecret;
use serde_json::Value;

/// The HS256 secret test apps sign with, so tests can forge tokens.
pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";
/// The scopes a token request without `scope` gets for a user, as the token response
/// writes them: derived from the domain, never a copy.
pub fn user_scopes() -> String {
    gatehouse_domain::ScopeSet::all_for(gatehouse_domain::Role::User).to_string()
}

/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// A clock that tests move by hand; it starts at the real time.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc::now())))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the metrics listener, when `server.metrics_address` is set.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub database_url: String,
    pub settings: Settings,
    _data_dir: tempfile::TempDir,
}

/// A change to a test app's settings.
type Customize<'a> = Box<dyn FnOnce(&mut Settings) + 'a>;

/// How a test app is started: `TestApp::builder()`, then what the test needs, then
/// [`Builder::spawn`].
#[must_use]
pub struct Builder<'a> {
    customize: Vec<Customize<'a>>,
    clock: Option<Arc<ManualClock>>,
    production_hashing: bool,
}

impl TestApp {
    /// A test app with default settings, but for password hashing: argon2id at a test-only
    /// cost (see [`TEST_HASHING`]) unless [`Builder::production_hashing`].
    pub fn builder<'a>() -> Builder<'a> {
        Builder {
            customize: Vec::new(),
            clock: None,
            production_hashing: false,
        }
    }
}

/// The argon2id cost of test apps (KiB, passes): the algorithm and every code path of the
/// production one, at a fraction of its work. Tests that look at the stored hash's
/// parameters, or need hashing to be slow, ask for [`Builder::production_hashing`].
pub const TEST_HASHING: (u32, u32) = (256, 1);

impl<'a> Builder<'a> {
    /// Adjusts the settings (after the harness's own; several calls apply in order).
    pub fn settings(mut self, customize: impl FnOnce(&mut Settings) + 'a) -> Self {
        self.customize.push(Box::new(customize));
        self
    }

    /// Every time decision follows `clock`.
    pub fn clock(mut self, clock: Arc<ManualClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// argon2id at the cost a deployment gets by default.
    pub fn production_hashing(mut self) -> Self {
        self.production_hashing = true;
        self
    }

    /// Starts the app on a free port with a fresh database.
    pub async fn spawn(self) -> TestApp {
        spawn(self).await
    }
}

async fn spawn(builder: Builder<'_>) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let mut settings = Settings {
        data_dir: data_dir.path().to_path_buf(),
        ..Settings::default()
    };
    // The port is picked first, so that the public URL (the issuer, the emails' links) is
    // the address tests reach the app at.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("a bound port").port();
    settings.server.port = port;
    settings.server.public_url = format!("http://127.0.0.1:{port}");
    settings.server.workers = 2;
    settings.jwt.secret = Some(TEST_SECRET.into());
    if !builder.production_hashing {
        (settings.password.memory_kib, settings.password.iterations) = TEST_HASHING;
    }
    settings.database.url = match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => fresh_postgres_database(&admin_url).await,
        _ => format!("sqlite://{}/gatehouse.db", data_dir.path().display()),
    }
    .into();
    for customize in builder.customize {
        customize(&mut settings);
    }

    let clock: Arc<dyn Clock> = match builder.clock {
        Some(clock) => clock,
        None => Arc::new(gatehouse_domain::SystemClock),
    };
    let application = Application::build_on(settings.clone(), clock, listener)
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let metrics_address = application
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(application.run_until_stopped());

    TestApp {
        address,
        metrics_address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client"),
        database_url: settings.database.url.expose_secret().to_owned(),
        settings,
        _data_dir: data_dir,
    }
}

/// Creates an empty database on the server behind `admin_url` and returns its URL.
async fn fresh_postgres_database(admin_url: &str) -> String {
    let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    admin
        .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
        .await
        .expect("create a test database");
    admin.close().await.ok();
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    let (server, _) = base.rsplit_once('/').expect("database URL with a path");
    format!("{server}/{name}")
}

/// Whether the suite runs against PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty())
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers an account that must succeed, and returns its JSON.
    pub async fn register_ok(&self, email: &str) -> Value {
        let response = self.register(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("user JSON")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /api/v1/auth/token` with a form.
    pub async fn token(&self, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url("/api/v1/auth/token"))
            .form(form)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn login_response(&self, email: &str, password: &str) -> Response {
        self.token(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", password),
        ])
        .await
    }

    /// Logs in with [`PASSWORD`], asking for `scope`.
    pub async fn login_with_scope(&self, email: &str, scope: &str) -> Response {
        self.token(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
            ("scope", scope),
        ])
        .await
    }

    /// Logs in with [`PASSWORD`] and returns the whole token response.
    pub async fn login_tokens(&self, email: &str) -> Value {
        let response = self.login_response(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("token JSON")
    }

    /// `grant_type=refresh_token`, optionally narrowing the scope.
    pub async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token(&form).await
    }

    /// Logs in with [`PASSWORD`] and returns the access token.
    pub async fn login(&self, email: &str) -> String {
        let response = self.login_response(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn bearer_get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// A request with a bearer token and, if given, a JSON body.
    pub async fn bearer_send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// Registers an account, makes it an admin in the database, and logs it in.
    pub async fn admin_token(&self, email: &str) -> String {
        self.register_ok(email).await;
        self.make_admin(email).await;
        self.login(email).await
    }

    /// The served OpenAPI document.
    pub async fn document(&self) -> document::Document {
        let response = self.get("/api-docs/openapi.json").await;
        assert_eq!(response.status(), StatusCode::OK);
        document::Document(response.json().await.expect("the document"))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }
}

/// The status and problem `code` of an error response.
pub async fn problem_code(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// Turns the refresh-token reuse leeway off: every presentation of a rotated refresh token
/// is a replay that ends its session, as the strict rule (SPEC §4) is tested.
pub fn no_reuse_leeway(settings: &mut Settings) {
    settings.auth.refresh_reuse_leeway_secs = 0;
}

/// The digest gatehouse stores for an opaque token (SHA-256, hex), computed here on its own.
pub fn digest(raw: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(raw.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The messages in the file outbox, oldest first, with quoted-printable soft breaks undone.
pub fn outbox(app: &TestApp) -> Vec<String> {
    let dir = app.settings.outbox_dir();
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(_) => return Vec::new(),
    };
    files.sort();
    files
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|raw| unfold_mail(&raw))
        .collect()
}

/// Undoes quoted-printable soft line breaks and `=3D`, enough to read links.
pub fn unfold_mail(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// Waits (at most 10 s) until the outbox holds `count` messages, and returns them.
pub async fn wait_for_mail(app: &TestApp, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let mails = outbox(app);
        if mails.len() >= count {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {count} mails, found {}", outbox(app).len());
}

/// Asks for a password-reset link for `email` (answered 202) and returns the token of the
/// link mailed for it: the first reset link among the messages that arrive after the request.
pub async fn reset_link(app: &TestApp, email: &str) -> String {
    let before: std::collections::HashSet<String> = outbox(app).into_iter().collect();
    let response = app
        .post_json(
            "/api/v1/auth/password-reset",
            &serde_json::json!({"email": email}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    for _ in 0..100 {
        if let Some(mail) = outbox(app)
            .iter()
            .find(|mail| !before.contains(*mail) && mail.contains("/reset-password?token="))
        {
            return token_in(mail, "/reset-password");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no reset link was mailed to {email}");
}

/// Sets `password` with the reset link `token`.
pub async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> Response {
    app.post_json(
        "/api/v1/auth/password-reset/confirm",
        &serde_json::json!({"token": token, "new_password": password}),
    )
    .await
}

/// The token of the first link to `path` in `mail`.
pub fn token_in(mail: &str, path: &str) -> String {
    let marker = format!("{path}?token=");
    let start = mail
        .find(&marker)
        .unwrap_or_else(|| panic!("no {path} link in {mail}"))
        + marker.len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}
