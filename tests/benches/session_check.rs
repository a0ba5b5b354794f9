//! What the session check costs `GET /api/v1/users/me`.
//!
//! Two instances of the real application share one SQLite database: one as shipped (the
//! session and its user read in one joined query), one whose sessions are answered from
//! memory after the first read (so a request reads only its user, as it would with no
//! session check). Each is loaded in turn, several rounds, with the same token and the same
//! number of concurrent connections, and the figures are printed side by side. Run with
//! `cargo bench -p gatehouse-tests --bench session_check` (release build); the ratio is the
//! figure to read, since both run in one process on one machine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_api::state::{AppState, Storage};
use gatehouse_api::{Application, Settings};
use gatehouse_domain::ports::{Rotation, SessionRepository, TokenDigest, UserRepository};
use gatehouse_domain::{
    RepositoryError, Session, SessionId, SessionLifetimes, SystemClock, User, UserId,
};
use gatehouse_persistence::Database;

const CONNECTIONS: usize = 16;
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

/// Serves sessions from memory after the first read, so a request only reads its user;
/// everything else goes to the database.
struct RememberedSessions {
    inner: Arc<dyn SessionRepository>,
    users: Arc<dyn UserRepository>,
    seen: Mutex<HashMap<SessionId, Session>>,
}

#[async_trait]
impl SessionRepository for RememberedSessions {
    async fn create(
        &self,
        session: &Session,
        refresh: &TokenDigest,
    ) -> Result<(), RepositoryError> {
        self.inner.create(session, refresh).await
    }
    async fn find(&self, id: SessionId) -> Result<Option<Session>, RepositoryError> {
        if let Some(session) = self.seen.lock().unwrap().get(&id) {
            return Ok(Some(session.clone()));
        }
        let found = self.inner.find(id).await?;
        if let Some(session) = &found {
            self.seen.lock().unwrap().insert(id, session.clone());
        }
        Ok(found)
    }
    async fn find_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let Some(session) = self.find(id).await? else {
            return Ok(None);
        };
        let user = self.users.find_by_id(session.user_id).await?;
        Ok(user.map(|user| (session, user)))
    }
    async fn find_by_refresh(
        &self,
        refresh: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError> {
        self.inner.find_by_refresh(refresh).await
    }
    async fn rotate(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        now: DateTime<Utc>,
        lifetimes: SessionLifetimes,
    ) -> Result<Rotation, RepositoryError> {
        self.inner.rotate(old, new, now, lifetimes).await
    }
    async fn list_live(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepositoryError> {
        self.inner.list_live(user, now).await
    }
    async fn revoke(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        self.inner.revoke(user, id, now).await
    }
    async fn revoke_all(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        self.inner.revoke_all(user, keep, now).await
    }
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        self.inner.purge(before).await
    }
}

struct Figures {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort();
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }
}

async fn load(client: &reqwest::Client, url: &str, token: &str, duration: Duration) -> Figures {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < duration {
                    let sent = Instant::now();
                    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    response.bytes().await.unwrap();
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Figures {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    }
}

async fn start(settings: &Settings, storage: Storage) -> String {
    let secret = settings.jwt.secret.clone().unwrap();
    let state = AppState::assemble(settings, storage, secret, Arc::new(SystemClock)).unwrap();
    let application = Application::build_with_state(settings, state).unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    address
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    settings.server.port = 0;
    settings.jwt.secret = Some("a-benchmark-secret-that-is-long-enough".into());
    settings.database.url = format!("sqlite://{}/bench.db", dir.path().display());

    let database = Database::connect(&settings.database.url).await.unwrap();
    database.migrate_up().await.unwrap();
    let checked = Storage::sea(&database);
    let mut remembered = checked.clone();
    remembered.sessions = Arc::new(RememberedSessions {
        inner: checked.sessions.clone(),
        users: checked.users.clone(),
        seen: Mutex::new(HashMap::new()),
    });
    let with_check = start(&settings, checked).await;
    let without_check = start(&settings, remembered).await;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    let password = "correct horse battery staple";
    client
        .post(format!("{with_check}/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "bench@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    let tokens: serde_json::Value = client
        .post(format!("{with_check}/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "bench@example.com"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();

    let targets = [
        ("with session check", with_check),
        ("without (sessions in memory)", without_check),
    ];
    for (_, address) in &targets {
        load(
            &client,
            &format!("{address}/api/v1/users/me"),
            &token,
            Duration::from_secs(1),
        )
        .await;
    }
    let mut totals = [
        (0usize, Duration::ZERO, Vec::new()),
        (0, Duration::ZERO, Vec::new()),
    ];
    for _ in 0..ROUNDS {
        for (i, (_, address)) in targets.iter().enumerate() {
            let figures = load(
                &client,
                &format!("{address}/api/v1/users/me"),
                &token,
                ROUND,
            )
            .await;
            totals[i].0 += figures.requests;
            totals[i].1 += figures.elapsed;
            totals[i].2.extend(figures.latencies);
        }
    }
    println!(
        "GET /api/v1/users/me, {CONNECTIONS} connections, {ROUNDS} alternating rounds of {}s each, SQLite",
        ROUND.as_secs()
    );
    let mut rates = Vec::new();
    for (i, (name, _)) in targets.iter().enumerate() {
        let (requests, elapsed, latencies) = std::mem::take(&mut totals[i]);
        let mut figures = Figures {
            requests,
            elapsed,
            latencies,
        };
        let rate = figures.per_second();
        rates.push(rate);
        println!(
            "{name:30} {rate:9.0} req/s   p50 {:6.2} ms   p99 {:6.2} ms",
            figures.percentile(0.50).as_secs_f64() * 1000.0,
            figures.percentile(0.99).as_secs_f64() * 1000.0,
        );
    }
    println!(
        "throughput with the session check: {:.2} of without ({:.1}% cost)",
        rates[0] / rates[1],
        (1.0 - rates[0] / rates[1]) * 100.0
    );
}
