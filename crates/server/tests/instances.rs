//! Whole `gatehouse` processes: several instances on one PostgreSQL database, an outage of
//! that database under a running instance, a graceful shutdown, and the faults of SPEC §15
//! (`kill -9` under refresh storms, PostgreSQL restarted under load, SQLite on a full disk).
//!
//! The PostgreSQL tests start throwaway clusters with `.ci/postgres.sh` (PostgreSQL server
//! binaries needed; run as root they run the server as `postgres`), so they are ignored by
//! default: `cargo test -p gatehouse-server --test instances -- --ignored` (`.ci/run` does).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const SECRET: &str = "a-secret-shared-by-every-instance-of-the-test";
const PASSWORD: &str = "correct horse battery staple";
/// The longest another instance may take to see a change (it takes milliseconds).
const PROPAGATION: Duration = Duration::from_secs(2);

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/postgres.sh")
}

/// A throwaway PostgreSQL cluster, stopped and deleted on drop.
struct Cluster {
    data: String,
    url: String,
}

/// One cluster at a time: starting two at once could pick the same port.
static CLUSTERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Cluster {
    fn start() -> Self {
        let output = Command::new("bash")
            .arg(script())
            .env("GATEHOUSE_PG_PORT", free_port().to_string())
            .output()
            .expect("bash runs .ci/postgres.sh");
        assert!(
            output.status.success(),
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let exports = String::from_utf8(output.stdout).unwrap();
        let value = |name: &str| {
            exports
                .lines()
                .find_map(|line| line.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} in {exports}"))
                .to_owned()
        };
        Cluster {
            url: value("TEST_DATABASE_URL"),
            data: value("GATEHOUSE_PGDATA"),
        }
    }

    fn control(&self, action: &str) {
        let status = Command::new("bash")
            .arg(script())
            .args([action, &self.data])
            .status()
            .unwrap();
        assert!(status.success(), "postgres.sh {action} failed");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.data])
            .status();
    }
}

/// A `gatehouse serve` process, killed on drop.
struct Instance {
    child: Child,
    base: String,
    _dir: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Instance {
    async fn start(database_url: Option<&str>, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut instance = Self::start_in(dir.path(), database_url, env).await;
        instance._dir = Some(dir);
        instance
    }

    /// An instance working in `dir` (its SQLite database and keys under `dir/data`), so
    /// that another may start on the same data after it.
    async fn start_in(
        dir: &std::path::Path,
        database_url: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let mut command = Command::new(BIN);
        command.arg("serve").current_dir(dir);
        for (key, _) in std::env::vars() {
            if key.starts_with("GATEHOUSE") {
                command.env_remove(key);
            }
        }
        command
            .env("GATEHOUSE__SERVER__PORT", port.to_string())
            .env("GATEHOUSE__JWT__SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = database_url {
            command.env("GATEHOUSE__DATABASE__URL", url);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("gatehouse starts");
        let instance = Instance {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: None,
        };
        let started = Instant::now();
        loop {
            if let Ok(response) = client().get(instance.url("/health/live")).send().await
                && response.status() == StatusCode::OK
            {
                return instance;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "gatehouse did not come up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn register(&self, email: &str) -> Response {
        client()
            .post(self.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
    }

    async fn token(&self, form: &[(&str, &str)]) -> Response {
        client()
            .post(self.url("/api/v1/auth/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, email: &str, password: &str) -> Response {
        self.token(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", password),
        ])
        .await
    }

    async fn tokens(&self, email: &str) -> Value {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn refresh(&self, refresh_token: &str) -> Response {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn me(&self, access_token: &str) -> Response {
        client()
            .get(self.url("/api/v1/users/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// Asserts that this instance refuses `access_token` once another instance's change
    /// reached it. The change comes through PostgreSQL's `NOTIFY`, which is delivered after
    /// the other instance has answered: within milliseconds, and here at most
    /// [`PROPAGATION`]. Returns how long it took.
    async fn refuses_soon(&self, access_token: &str) -> Duration {
        let started = Instant::now();
        loop {
            let status = self.me(access_token).await.status();
            if status == StatusCode::UNAUTHORIZED {
                return started.elapsed();
            }
            assert_eq!(status, StatusCode::OK);
            assert!(
                started.elapsed() < PROPAGATION,
                "still accepted {:?} after the change",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits (at most 60 s) until `/health/ready` answers 200 again after an outage.
    async fn ready_again(&self) {
        let started = Instant::now();
        loop {
            let ready = client().get(self.url("/health/ready")).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "never recovered"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Asserts a token-endpoint error (RFC 6749 §5.2) with this status and `error`.
async fn assert_oauth_error(response: Response, status: StatusCode, error: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], error);
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

fn refresh_token(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().unwrap()
}

/// The digest gatehouse stores for an opaque token (SHA-256, hex).
fn digest(raw: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(raw.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The digests of the refresh tokens still usable in the session of refresh token `any`.
async fn live_refresh_tokens(database_url: &str, any: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = sea_orm::Database::connect(database_url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT token_hash FROM refresh_tokens WHERE rotated_at IS NULL AND session_id = \
             (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)",
            [digest(any).into()],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

#[tokio::test]
#[ignore = "starts PostgreSQL: run with --ignored (.ci/run does)"]
async fn two_instances_on_one_postgres_share_tokens_revocation_reuse_detection_and_throttling() {
    let _one_at_a_time = CLUSTERS.lock().await;
    let cluster = Cluster::start();
    // Every reuse a replay: the retry within the leeway has a test of its own
    // (`a_refresh_retried_on_another_instance_goes_on_and_a_replay_there_still_revokes`).
    let strict = [("GATEHOUSE__AUTH__REFRESH_REUSE_LEEWAY_SECS", "0")];
    let a = Instance::start(Some(&cluster.url), &strict).await;
    let b = Instance::start(Some(&cluster.url), &strict).await;

    // A token issued by one instance is accepted by the other.
    assert_eq!(
        a.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let tokens = a.tokens("ada@example.com").await;
    let me = b.me(access(&tokens)).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(
        me.json::<Value>().await.unwrap()["email"],
        "ada@example.com"
    );

    // Logout on one is refused on the other at once, though the other has just answered
    // for this session (and remembers it).
    assert_eq!(a.me(access(&tokens)).await.status(), StatusCode::OK);
    let logout = client()
        .post(b.url("/api/v1/auth/logout"))
        .bearer_auth(access(&tokens))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        a.me(access(&tokens)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a.refresh(refresh_token(&tokens)).await.status(),
        StatusCode::BAD_REQUEST
    );

    // Refresh-token reuse is detected across instances and ends the session everywhere.
    let first = a.tokens("ada@example.com").await;
    let rotated = a.refresh(refresh_token(&first)).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    assert_eq!(b.me(access(&rotated)).await.status(), StatusCode::OK);
    let replay = b.refresh(refresh_token(&first)).await;
    assert_oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        a.refresh(refresh_token(&rotated)).await.status(),
        StatusCode::BAD_REQUEST
    );
    // B made the change: it refuses at once; A as soon as the change reaches it.
    assert_eq!(
        b.me(access(&rotated)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    a.refuses_soon(access(&rotated)).await;

    // A password change on one instance ends older tokens on the other as soon as the
    // change reaches it.
    let fresh = a.tokens("ada@example.com").await;
    assert_eq!(b.me(access(&fresh)).await.status(), StatusCode::OK);
    let changed = client()
        .put(a.url("/api/v1/users/me/password"))
        .bearer_auth(access(&fresh))
        .json(&json!({"current_password": PASSWORD, "new_password": "another long passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    b.refuses_soon(access(&fresh)).await;

    // Failed logins count across instances: five spread over both, then both refuse.
    for attempt in 0..5 {
        let instance = if attempt % 2 == 0 { &a } else { &b };
        let response = instance
            .login("ada@example.com", "not the password at all")
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "attempt {attempt}"
        );
    }
    for instance in [&a, &b] {
        let response = instance
            .login("ada@example.com", "another long passphrase")
            .await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
    }

    // Logins on B racing a password change on A: no session they open survives, on either
    // instance, though B has just answered for each (and remembers it).
    assert_eq!(
        a.register("bob@example.com").await.status(),
        StatusCode::CREATED
    );
    let owner = a.tokens("bob@example.com").await;
    let done = AtomicBool::new(false);
    let attacker = || async {
        let mut grants = Vec::new();
        while !done.load(Ordering::SeqCst) {
            let response = b.login("bob@example.com", PASSWORD).await;
            if response.status() == StatusCode::OK {
                let grant: Value = response.json().await.unwrap();
                b.me(access(&grant)).await;
                grants.push(grant);
            }
        }
        grants
    };
    let change = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let changed = client()
            .put(a.url("/api/v1/users/me/password"))
            .bearer_auth(access(&owner))
            .json(&json!({"current_password": PASSWORD, "new_password": "another long passphrase"}))
            .send()
            .await
            .unwrap()
            .status();
        tokio::time::sleep(Duration::from_millis(200)).await;
        done.store(true, Ordering::SeqCst);
        changed
    };
    let (first, second, third, changed) = tokio::join!(attacker(), attacker(), attacker(), change);
    assert_eq!(changed, StatusCode::NO_CONTENT);
    let grants: Vec<Value> = [first, second, third].into_iter().flatten().collect();
    assert!(!grants.is_empty(), "no login ran before the change");
    for grant in &grants {
        for instance in [&a, &b] {
            instance.refuses_soon(access(grant)).await;
        }
        assert_eq!(
            b.refresh(refresh_token(grant)).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
}

/// `full_name` of the account `GET /users/me` answers for, once it answers `wanted`
/// (writes reach other instances through the database, a moment after they commit).
async fn name_once(instance: &Instance, tokens: &Value, wanted: Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let me: Value = instance.me(access(tokens)).await.json().await.unwrap();
        if me["full_name"] == wanted || Instant::now() > deadline {
            return me["full_name"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
#[ignore = "starts PostgreSQL: run with --ignored (.ci/run does)"]
async fn a_write_on_one_instance_makes_the_others_forget_only_what_it_changed() {
    let _one_at_a_time = CLUSTERS.lock().await;
    let cluster = Cluster::start();
    let a = Instance::start(Some(&cluster.url), &[]).await;
    let b = Instance::start(Some(&cluster.url), &[]).await;
    for email in ["ada@example.com", "bob@example.com"] {
        assert_eq!(a.register(email).await.status(), StatusCode::CREATED);
    }
    let ada = a.tokens("ada@example.com").await;
    let ada_elsewhere = a.tokens("ada@example.com").await;
    let bob = a.tokens("bob@example.com").await;
    for tokens in [&ada, &ada_elsewhere, &bob] {
        assert_eq!(b.me(access(tokens)).await.status(), StatusCode::OK);
    }

    // A change no instance hears of (triggers off for this one statement's connection):
    // an instance that answers with the old name answers from memory.
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&cluster.url).await.unwrap();
    db.execute_unprepared(
        "SET session_replication_role = replica; UPDATE users SET full_name = 'Quietly'; \
         SET session_replication_role = origin;",
    )
    .await
    .unwrap();
    assert_eq!(name_once(&a, &bob, json!("Quietly")).await, "Quietly");
    assert_eq!(
        b.me(access(&bob)).await.json::<Value>().await.unwrap()["full_name"],
        Value::Null
    );

    // Bob's session is refreshed on A: only its use is recorded, which no instance needs
    // to hear of, so B still answers from memory.
    assert_eq!(
        a.refresh(refresh_token(&bob)).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(PROPAGATION).await;
    assert_eq!(
        b.me(access(&bob)).await.json::<Value>().await.unwrap()["full_name"],
        Value::Null,
        "a refresh made the other instance forget"
    );

    // One of Ada's sessions ends on A: B refuses it, and keeps serving her other session
    // and Bob's from memory.
    let logout = client()
        .post(a.url("/api/v1/auth/logout"))
        .bearer_auth(access(&ada))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    b.refuses_soon(access(&ada)).await;
    for tokens in [&ada_elsewhere, &bob] {
        let me: Value = b.me(access(tokens)).await.json().await.unwrap();
        assert_eq!(me["full_name"], Value::Null, "forgotten: {me}");
    }

    // Ada's account changes on A: B forgets every session of hers, and still not Bob's.
    let renamed = client()
        .patch(a.url("/api/v1/users/me"))
        .bearer_auth(access(&ada_elsewhere))
        .json(&json!({"full_name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(name_once(&b, &ada_elsewhere, json!("Ada")).await, "Ada");
    let me: Value = b.me(access(&bob)).await.json().await.unwrap();
    assert_eq!(me["full_name"], Value::Null, "forgotten: {me}");
}

#[tokio::test]
#[ignore = "starts PostgreSQL: run with --ignored (.ci/run does)"]
async fn a_personal_access_token_revoked_on_one_instance_is_refused_on_the_other() {
    let _one_at_a_time = CLUSTERS.lock().await;
    let cluster = Cluster::start();
    let a = Instance::start(Some(&cluster.url), &[]).await;
    let b = Instance::start(Some(&cluster.url), &[]).await;
    assert_eq!(
        a.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let session = a.tokens("ada@example.com").await;
    let made = |name: &'static str| {
        let (a, session) = (&a, &session);
        async move {
            let response = client()
                .post(a.url("/api/v1/users/me/tokens"))
                .bearer_auth(access(session))
                .json(&json!({"name": name, "current_password": PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.unwrap()
        }
    };
    let revoked = made("revoked").await;
    let kept = made("kept").await;
    let secret = |token: &Value| token["token"].as_str().unwrap().to_owned();
    // B checks both and keeps its answers in memory.
    for token in [&revoked, &kept] {
        assert_eq!(b.me(&secret(token)).await.status(), StatusCode::OK);
        assert_eq!(b.me(&secret(token)).await.status(), StatusCode::OK);
    }

    let response = client()
        .delete(a.url(&format!(
            "/api/v1/users/me/tokens/{}",
            revoked["id"].as_str().unwrap()
        )))
        .bearer_auth(access(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    b.refuses_soon(&secret(&revoked)).await;
    assert_eq!(b.me(&secret(&kept)).await.status(), StatusCode::OK);

    // A password change on B ends the other token on A.
    let changed = client()
        .put(b.url("/api/v1/users/me/password"))
        .bearer_auth(access(&session))
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    a.refuses_soon(&secret(&kept)).await;
}

#[tokio::test]
#[ignore = "starts PostgreSQL: run with --ignored (.ci/run does)"]
async fn a_session_kept_in_memory_outlives_its_old_idle_expiry_once_another_instance_refreshed_it()
{
    let _one_at_a_time = CLUSTERS.lock().await;
    let cluster = Cluster::start();
    let idle = [("GATEHOUSE__AUTH__SESSION_IDLE_TTL_SECS", "3")];
    let a = Instance::start(Some(&cluster.url), &idle).await;
    let b = Instance::start(Some(&cluster.url), &idle).await;
    assert_eq!(
        a.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let tokens = a.tokens("ada@example.com").await;
    let opened = Instant::now();
    assert_eq!(b.me(access(&tokens)).await.status(), StatusCode::OK); // B keeps it
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        a.refresh(refresh_token(&tokens)).await.status(),
        StatusCode::OK
    );
    // Past the idle expiry B kept, within the one the refresh set: B reads the session
    // again and accepts the access token, which has not expired.
    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(opened.elapsed()) + Duration::from_millis(500),
    )
    .await;
    assert!(
        opened.elapsed() < Duration::from_secs(5),
        "the machine was too slow to tell"
    );
    assert_eq!(b.me(access(&tokens)).await.status(), StatusCode::OK);
}

#[tokio::test]
#[ignore = "starts PostgreSQL: run with --ignored (.ci/run does)"]
async fn a_refresh_retried_on_another_instance_goes_on_and_a_replay_there_still_revokes() {
    let _one_at_a_time = CLUSTERS.lock().await;
    let cluster = Cluster::start();
    let a = Instance::start(Some(&cluster.url), &[]).await;
    let b = Instance::start(Some(&cluster.url), &[]).await;
    assert_eq!(
        a.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );

    // A rotates; its answer is lost; the client's retry lands on B (a load balancer's
    // choice) and goes on.
    let first = a.tokens("ada@example.com").await;
    let lost: Value = a.refresh(refresh_token(&first)).await.json().await.unwrap();
    let retried = b.refresh(refresh_token(&first)).await;
    assert_eq!(retried.status(), StatusCode::OK);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(a.me(access(&retried)).await.status(), StatusCode::OK);

    // Two more retries at once, one on each instance: one live pair is left, whichever
    // wins.
    let (on_a, on_b) = tokio::join!(
        a.refresh(refresh_token(&first)),
        b.refresh(refresh_token(&first))
    );
    let mut issued = vec![refresh_token(&retried).to_owned()];
    for response in [on_a, on_b] {
        if response.status() == StatusCode::OK {
            let pair: Value = response.json().await.unwrap();
            issued.push(refresh_token(&pair).to_owned());
        } else {
            assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
        }
    }
    let live = live_refresh_tokens(&cluster.url, refresh_token(&first)).await;
    assert_eq!(live.len(), 1, "{live:?}");
    let live = issued
        .iter()
        .find(|raw| digest(raw) == live[0])
        .expect("the live token is one a retry answered");
    let live = a.refresh(live).await;
    assert_eq!(live.status(), StatusCode::OK);
    let live: Value = live.json().await.unwrap();

    // The successor that died unused, presented on B: a replay, and the session ends on
    // both instances.
    let replay = b.refresh(refresh_token(&lost)).await;
    assert_oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(b.me(access(&live)).await.status(), StatusCode::UNAUTHORIZED);
    a.refuses_soon(access(&live)).await;
}

#[tokio::test]
#[ignore = "starts PostgreSQL: run with --ignored (.ci/run does)"]
async fn an_instance_answers_503_while_postgres_is_down_and_recovers_by_itself() {
    let _one_at_a_time = CLUSTERS.lock().await;
    let cluster = Cluster::start();
    let timeout_secs = 2;
    let instance = Instance::start(
        Some(&cluster.url),
        &[("GATEHOUSE__DATABASE__TIMEOUT_SECS", "2")],
    )
    .await;
    assert_eq!(
        instance.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let tokens = instance.tokens("ada@example.com").await;

    cluster.control("pause");
    let limit = Duration::from_secs(timeout_secs * 2 + 3);

    let started = Instant::now();
    let ready = client()
        .get(instance.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());

    let started = Instant::now();
    let me = instance.me(access(&tokens)).await;
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
    assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(me.headers().contains_key("retry-after"));
    assert_eq!(
        me.headers()["content-type"],
        "application/problem+json",
        "{:?}",
        me.headers()
    );
    let problem: Value = me.json().await.unwrap();
    assert_eq!(problem["code"], "database_unavailable");

    let register = instance.register("bob@example.com").await;
    assert_eq!(register.status(), StatusCode::SERVICE_UNAVAILABLE);
    let unavailable = StatusCode::SERVICE_UNAVAILABLE;
    let login = instance.login("ada@example.com", PASSWORD).await;
    assert_oauth_error(login, unavailable, "temporarily_unavailable").await;
    let refresh = instance.refresh(refresh_token(&tokens)).await;
    assert_oauth_error(refresh, unavailable, "temporarily_unavailable").await;

    // Back up: the same instance serves again without a restart.
    cluster.control("resume");
    instance.ready_again().await;
    assert_eq!(instance.me(access(&tokens)).await.status(), StatusCode::OK);
    assert_eq!(
        instance.register("bob@example.com").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits() {
    // Slow hashing makes a registration take a while: the request is still running when
    // the signal arrives.
    let mut instance = Instance::start(None, &[("GATEHOUSE__PASSWORD__ITERATIONS", "60")]).await;
    let url = instance.url("/api/v1/auth/register");
    let in_flight = tokio::spawn(async move {
        let started = Instant::now();
        let response = client()
            .post(url)
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
            .send()
            .await;
        (response, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    instance.signal("TERM");

    let (response, took) = in_flight.await.unwrap();
    let response = response.expect("the in-flight request is answered");
    assert_eq!(response.status(), StatusCode::CREATED, "after {took:?}");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = instance.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(
        client()
            .get(instance.url("/health/live"))
            .send()
            .await
            .is_err(),
        "still accepting connections"
    );
}

/// Refresh storms on four sessions, gatehouse killed with `kill -9` in the middle, three
/// times, and started again on the same data: every session goes on from the refresh
/// token its client holds, whether its last refresh was answered (the rotation survived) or
/// was in flight when the process died (a retry within the leeway, its answer lost).
async fn sessions_survive_kill_9_during_refresh_storms(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let env = [("GATEHOUSE__AUTH__REFRESH_REUSE_LEEWAY_SECS", "60")];
    let mut instance = Instance::start_in(dir.path(), database_url, &env).await;
    assert_eq!(
        instance.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(refresh_token(&instance.tokens("ada@example.com").await).to_owned());
    }
    let (mut checks, mut lost_answers) = (0, 0);
    for round in 0..3u64 {
        let storms: Vec<_> = held
            .iter()
            .cloned()
            .map(|mut token| {
                let url = instance.url("/api/v1/auth/token");
                tokio::spawn(async move {
                    // The token this client holds: the last one answered to it.
                    loop {
                        let response = client()
                            .post(&url)
                            .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                            .send()
                            .await;
                        let Ok(response) = response else {
                            // The process died with this refresh in flight.
                            return (token, true);
                        };
                        let Ok(body) = response.json::<Value>().await else {
                            return (token, true);
                        };
                        match body["refresh_token"].as_str() {
                            Some(next) => token = next.to_owned(),
                            None => panic!("a refresh was refused mid-storm: {body}"),
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300 + 150 * round)).await;
        instance.child.kill().unwrap();
        instance.child.wait().unwrap();
        held.clear();
        for storm in storms {
            let (token, in_flight) = storm.await.unwrap();
            lost_answers += usize::from(in_flight);
            held.push(token);
        }
        instance = Instance::start_in(dir.path(), database_url, &env).await;
        for token in held.iter_mut() {
            let response = instance.refresh(token).await;
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "a session ended by the crash (round {round})"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(instance.me(access(&body)).await.status(), StatusCode::OK);
            *token = refresh_token(&body).to_owned();
            checks += 1;
        }
    }
    assert_eq!(checks, 12);
    eprintln!("{checks} sessions checked after kill -9, {lost_answers} with a refresh in flight");
}

#[tokio::test]
async fn sqlite_sessions_survive_kill_9_during_refresh_storms() {
    sessions_survive_kill_9_during_refresh_storms(None).await;
}

#[tokio::test]
#[ignore = "starts PostgreSQL: run with --ignored (.ci/run does)"]
async fn postgres_sessions_survive_kill_9_during_refresh_storms() {
    let _one_at_a_time = CLUSTERS.lock().await;
    let cluster = Cluster::start();
    sessions_survive_kill_9_during_refresh_storms(Some(&cluster.url)).await;
}

#[tokio::test]
#[ignore = "starts PostgreSQL: run with --ignored (.ci/run does)"]
async fn postgres_restarted_under_load_gives_503_with_retry_after_and_never_500() {
    let _one_at_a_time = CLUSTERS.lock().await;
    let cluster = Cluster::start();
    let instance = Instance::start(
        Some(&cluster.url),
        &[
            ("GATEHOUSE__DATABASE__TIMEOUT_SECS", "2"),
            ("GATEHOUSE__AUTH__REGISTRATIONS_PER_IP", "100000"),
        ],
    )
    .await;
    assert_eq!(
        instance.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let tokens = instance.tokens("ada@example.com").await;
    let access_token = access(&tokens).to_owned();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // Load: reads, sign-ups and refreshes, four clients each, until told to stop.
    let mut load = Vec::new();
    for i in 0..12 {
        let (base, stop, access_token) =
            (instance.base.clone(), stop.clone(), access_token.clone());
        // Each refreshing client has a session of its own.
        let mut refresh = refresh_token(&instance.tokens("ada@example.com").await).to_owned();
        load.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let request = match i % 3 {
                        0 => client()
                            .get(format!("{base}/api/v1/users/me"))
                            .bearer_auth(&access_token),
                        1 => client()
                            .post(format!("{base}/api/v1/auth/register"))
                            .json(&json!({"email": format!("load-{i}-{n}@example.com"), "password": PASSWORD})),
                        _ => client()
                            .post(format!("{base}/api/v1/auth/token"))
                            .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
                    };
                    let Ok(response) = request.send().await else {
                        continue;
                    };
                    let status = response.status();
                    let retry_after = response.headers().contains_key("retry-after");
                    if i % 3 == 2 && status == StatusCode::OK {
                        let body: Value = response.json().await.unwrap();
                        refresh = refresh_token(&body).to_owned();
                    }
                    seen.push((status, retry_after));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.control("pause");
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.control("resume");
    // Back: the same instance serves again without a restart.
    instance.ready_again().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut unavailable = 0;
    for task in load {
        for (status, retry_after) in task.await.unwrap() {
            assert!(
                !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
                "{status}"
            );
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(retry_after, "a 503 without Retry-After");
                unavailable += 1;
            }
        }
    }
    assert!(unavailable > 0, "the outage was never seen");
    assert_eq!(instance.me(&access_token).await.status(), StatusCode::OK);
    assert_eq!(
        instance.register("bob@example.com").await.status(),
        StatusCode::CREATED
    );
}

/// SQLite on a small filesystem of its own (tmpfs, mounted here when the machine lets us):
/// filled up, writes get 503 with `Retry-After` while reads go on; with room again, writes
/// resume and nothing was lost.
#[tokio::test]
async fn sqlite_on_a_full_disk_refuses_writes_with_503_and_resumes_when_room_returns() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(mount.path())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !mounted {
        eprintln!(
            "skipped: this machine does not let the test mount a small filesystem (tmpfs needs root)"
        );
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_path_buf());
    let instance = Instance::start_in(mount.path(), None, &[]).await;
    assert_eq!(
        instance.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let tokens = instance.tokens("ada@example.com").await;

    // Fill the filesystem to the last byte.
    let filler = mount.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let mut refused = 0;
    for n in 0..20 {
        let response = instance.register(&format!("full-{n}@example.com")).await;
        let status = response.status();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(response.headers().contains_key("retry-after"));
            refused += 1;
        }
    }
    assert!(refused > 0, "writes went through on a full disk");
    // Reads go on.
    assert_eq!(instance.me(access(&tokens)).await.status(), StatusCode::OK);

    // Room again: writes resume, and what was written before is there.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    loop {
        let status = instance.register("bob@example.com").await.status();
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "writes never resumed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        instance.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let refreshed = instance.refresh(refresh_token(&tokens)).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

/// An SMTP server (aiosmtpd, from `SMTP_TEST_PYTHON`'s environment) on `port`, storing what
/// it receives in the Maildir `maildir`; stopped on drop.
struct SmtpServer(Child);

impl SmtpServer {
    async fn start(python: &str, port: u16, maildir: &std::path::Path) -> Self {
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not come up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        SmtpServer(child)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The messages in `maildir` addressed to `to`.
fn received_by(maildir: &std::path::Path, to: &str) -> usize {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .filter(|mail| mail.contains(&format!("To: {to}")))
        .count()
}

/// SMTP down when two resets are asked for, gatehouse killed (`kill -9`) and started again
/// in between, then SMTP up: each email arrives, once.
#[tokio::test]
#[ignore = "needs aiosmtpd: set SMTP_TEST_PYTHON to a Python with it and run with --ignored (.ci/run does)"]
async fn emails_queued_while_smtp_is_down_arrive_once_it_is_up_across_a_restart() {
    let python = std::env::var("SMTP_TEST_PYTHON").expect("SMTP_TEST_PYTHON");
    let port = free_port();
    let port_text = port.to_string();
    let env = [
        ("GATEHOUSE__MAIL__TRANSPORT", "smtp"),
        ("GATEHOUSE__MAIL__SMTP_HOST", "127.0.0.1"),
        ("GATEHOUSE__MAIL__SMTP_PORT", port_text.as_str()),
        ("GATEHOUSE__MAIL__SMTP_TLS", "none"),
        ("GATEHOUSE__MAIL__RETRY_FIRST_SECS", "1"),
        ("GATEHOUSE__MAIL__RETRY_LONGEST_SECS", "2"),
        ("GATEHOUSE__MAIL__POLL_INTERVAL_MS", "200"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut instance = Instance::start_in(dir.path(), None, &env).await;
    for email in ["ada@example.com", "bob@example.com"] {
        assert_eq!(instance.register(email).await.status(), StatusCode::CREATED);
    }
    let reset = |instance: &Instance, email: &'static str| {
        client()
            .post(instance.url("/api/v1/auth/password-reset"))
            .json(&json!({ "email": email }))
            .send()
    };
    assert_eq!(
        reset(&instance, "ada@example.com").await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    // A few tries fail against the closed port; then the process dies.
    tokio::time::sleep(Duration::from_secs(3)).await;
    instance.child.kill().unwrap();
    instance.child.wait().unwrap();
    instance = Instance::start_in(dir.path(), None, &env).await;
    assert_eq!(
        reset(&instance, "bob@example.com").await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mail = tempfile::tempdir().unwrap();
    // aiosmtpd makes the Maildir itself, and refuses a directory that is not one.
    let maildir = mail.path().join("maildir");
    let _smtp = SmtpServer::start(&python, port, &maildir).await;
    let started = Instant::now();
    while received_by(&maildir, "ada@example.com") == 0
        || received_by(&maildir, "bob@example.com") == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the queued emails never arrived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing arrives twice.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(received_by(&maildir, "ada@example.com"), 1);
    assert_eq!(received_by(&maildir, "bob@example.com"), 1);
    drop(instance);
}

/// The emails in an instance's file outbox (`data/outbox` under its directory).
fn outbox_of(instance: &Instance) -> Vec<String> {
    let dir = instance._dir.as_ref().unwrap().path().join("data/outbox");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Two instances' couriers racing for one queue (`FOR UPDATE SKIP LOCKED`): every email is
/// delivered, and by one of them only.
#[tokio::test]
#[ignore = "starts PostgreSQL: run with --ignored (.ci/run does)"]
async fn two_instances_deliver_each_queued_email_once() {
    let _one_at_a_time = CLUSTERS.lock().await;
    let cluster = Cluster::start();
    let env = [
        // Shared, as instances must share it: it also seals the queued emails.
        (
            "GATEHOUSE__MFA__ENCRYPTION_KEY",
            "an-mfa-key-shared-by-every-instance-of-the-test",
        ),
        ("GATEHOUSE__MAIL__POLL_INTERVAL_MS", "20"),
        ("GATEHOUSE__AUTH__PASSWORD_RESETS_PER_IP", "1000"),
        ("GATEHOUSE__AUTH__REGISTRATIONS_PER_IP", "1000"),
    ];
    let a = Instance::start(Some(&cluster.url), &env).await;
    let b = Instance::start(Some(&cluster.url), &env).await;
    let people: Vec<String> = (0..30).map(|n| format!("person-{n}@example.com")).collect();
    for email in &people {
        assert_eq!(a.register(email).await.status(), StatusCode::CREATED);
    }
    // Asked on both instances at once: each queues and wakes its own courier, and each
    // courier also polls for the other's.
    let asked: Vec<_> = people
        .iter()
        .enumerate()
        .map(|(n, email)| {
            let url = if n % 2 == 0 { &a } else { &b }.url("/api/v1/auth/password-reset");
            let email = email.clone();
            tokio::spawn(async move {
                client()
                    .post(url)
                    .json(&json!({ "email": email }))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for request in asked {
        assert_eq!(request.await.unwrap(), StatusCode::ACCEPTED);
    }
    let started = Instant::now();
    let delivered = loop {
        let delivered: Vec<String> = outbox_of(&a).into_iter().chain(outbox_of(&b)).collect();
        if delivered.len() >= people.len() {
            // Give a double delivery the time to show.
            tokio::time::sleep(Duration::from_secs(1)).await;
            break outbox_of(&a)
                .into_iter()
                .chain(outbox_of(&b))
                .collect::<Vec<_>>();
        }
        if started.elapsed() > Duration::from_secs(30) {
            use sea_orm::{ConnectionTrait, DbBackend, Statement};
            let db = sea_orm::Database::connect(&cluster.url).await.unwrap();
            let rows = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT status || ' ' || attempts || ' ' || COALESCE(last_error, '-') || ' ' || COALESCE(claimed_until::text, '-') FROM mail_queue",
                ))
                .await
                .unwrap();
            let rows: Vec<String> = rows
                .iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap())
                .collect();
            panic!(
                "emails missing: {} delivered, queue {rows:?}",
                delivered.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        delivered.len(),
        people.len(),
        "an email was delivered twice"
    );
    for email in &people {
        let to = format!("To: {email}");
        assert_eq!(
            delivered.iter().filter(|mail| mail.contains(&to)).count(),
            1,
            "{email}"
        );
    }
}
