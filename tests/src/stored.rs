//! What the database holds, for tests to arrange states no API reaches and to prove what
//! is stored (digests, never secrets; nothing left behind). The one place of the suite
//! that knows table and column names: a test asks by meaning (`stored_accounts`,
//! `audited`), and a schema change is answered here.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use crate::TestApp;

impl TestApp {
    /// How many accounts exist.
    pub async fn stored_accounts(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM users").await
    }

    /// How many todos exist, of every owner.
    pub async fn stored_todos(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM todos").await
    }

    /// How many upstream identities are linked to the account with `email`.
    pub async fn stored_identities_of(&self, email: &str) -> i64 {
        self.count_where(
            "SELECT COUNT(*) FROM identities i JOIN users u ON u.id = i.user_id WHERE u.email = $1",
            vec![email.into()],
        )
        .await
    }

    /// How many sessions exist, ended ones included.
    pub async fn stored_sessions(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM sessions").await
    }

    /// How many sessions the OAuth client `client` holds that have not ended.
    pub async fn live_sessions_of(&self, client: &str) -> i64 {
        self.count_where(
            "SELECT COUNT(*) FROM sessions WHERE client_id = $1 AND revoked_at IS NULL",
            vec![client.into()],
        )
        .await
    }

    /// How many browser sessions (of the hosted pages) exist, and how many have not ended.
    pub async fn browser_sessions(&self) -> (i64, i64) {
        let all = "SELECT COUNT(*) FROM sessions WHERE kind = 'browser'";
        let live = format!("{all} AND revoked_at IS NULL");
        (self.count(all).await, self.count(&live).await)
    }

    /// How many browser sessions were opened by the methods `amr` (`pwd otp`).
    pub async fn browser_sessions_by(&self, amr: &str) -> i64 {
        self.count_where(
            "SELECT COUNT(*) FROM sessions WHERE kind = 'browser' AND amr = $1",
            vec![amr.into()],
        )
        .await
    }

    /// How many refresh tokens exist, and whether `raw` is among them as sent.
    pub async fn stored_refresh_tokens(&self, raw: &str) -> (i64, bool) {
        let count = self.count("SELECT COUNT(*) FROM refresh_tokens").await;
        let found = self
            .query_string(
                "SELECT token_hash FROM refresh_tokens WHERE token_hash = $1",
                vec![raw.into()],
            )
            .await;
        (count, found.is_some())
    }

    /// Which of `raws` (refresh tokens of one session) may still be used (stored and not
    /// rotated); and how many such tokens their session has in all.
    pub async fn live_refresh_tokens(&self, raws: &[&str]) -> (Vec<String>, i64) {
        let count = self
            .count_where(
                "SELECT COUNT(*) FROM refresh_tokens WHERE rotated_at IS NULL AND session_id IN \
                 (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)",
                vec![crate::digest(raws[0]).into()],
            )
            .await;
        let mut live = Vec::new();
        for raw in raws {
            let digest = crate::digest(raw);
            let found = self
                .count_where(
                    "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $1 AND rotated_at IS NULL",
                    vec![digest.into()],
                )
                .await;
            if found == 1 {
                live.push((*raw).to_owned());
            }
        }
        (live, count)
    }

    /// The queued emails as stored: each row's columns joined in one string (to prove
    /// what is not in them), with its status.
    pub async fn stored_mail(&self) -> Vec<(String, String)> {
        let db = self.db().await;
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT kind, sealed, status, COALESCE(last_error, '') FROM mail_queue",
            ))
            .await
            .expect("query runs");
        rows.iter()
            .map(|row| {
                let column = |i| row.try_get_by_index::<String>(i).unwrap_or_default();
                ([column(0), column(1), column(3)].join(" "), column(2))
            })
            .collect()
    }

    /// How many emailed tokens (reset, verification) exist, and whether `raw` is among
    /// them as sent.
    pub async fn stored_action_tokens(&self, raw: &str) -> (i64, bool) {
        let count = self.count("SELECT COUNT(*) FROM action_tokens").await;
        let found = self
            .query_string(
                "SELECT token_hash FROM action_tokens WHERE token_hash = $1",
                vec![raw.into()],
            )
            .await;
        (count, found.is_some())
    }

    /// How many personal access tokens exist (revoked ones included), and whether `raw`
    /// is stored anywhere in their rows as sent.
    pub async fn stored_personal_tokens(&self, raw: &str) -> (i64, bool) {
        let count = self
            .count("SELECT COUNT(*) FROM sessions WHERE kind = 'personal'")
            .await;
        let found = self
            .query_string(
                "SELECT id FROM sessions WHERE browser_token_hash = $1 OR name = $1",
                vec![raw.into()],
            )
            .await;
        (count, found.is_some())
    }

    /// How many audit events of `kind` were recorded.
    pub async fn audited(&self, kind: &str) -> i64 {
        self.count_where(
            "SELECT COUNT(*) FROM audit_events WHERE kind = $1",
            vec![kind.into()],
        )
        .await
    }

    /// How many registered clients have the id `id`.
    pub async fn stored_clients(&self, id: &str) -> i64 {
        self.count_where(
            "SELECT COUNT(*) FROM oauth_clients WHERE id = $1",
            vec![id.into()],
        )
        .await
    }

    /// What is stored of client `id`'s secret.
    pub async fn stored_client_secret(&self, id: &str) -> String {
        self.query_string(
            "SELECT secret_hash FROM oauth_clients WHERE id = $1",
            vec![id.into()],
        )
        .await
        .expect("a confidential client")
    }

    /// The stored form of the (only) authenticator secret.
    pub async fn stored_mfa_secret(&self) -> Option<String> {
        self.query_string("SELECT secret FROM mfa_credentials", vec![])
            .await
    }

    /// What is stored of the recovery codes.
    pub async fn stored_recovery_codes(&self) -> Vec<String> {
        self.strings("SELECT code_hash FROM mfa_recovery_codes")
            .await
    }

    /// The password hash stored for the account of `email` (stored normalized).
    pub async fn stored_hash(&self, email: &str) -> String {
        self.query_string(
            "SELECT password_hash FROM users WHERE email = $1",
            vec![email.into()],
        )
        .await
        .expect("user exists")
    }

    /// Whether the account of `email` is stored as verified.
    pub async fn stored_verified(&self, email: &str) -> bool {
        let verified = self
            .query_string(
                "SELECT CAST(is_verified AS TEXT) FROM users WHERE email = $1",
                vec![email.into()],
            )
            .await
            .expect("user exists");
        matches!(verified.as_str(), "true" | "1")
    }

    /// Makes `email` an admin, as `gatehouse create-admin` would have.
    pub async fn make_admin(&self, email: &str) {
        self.execute(
            "UPDATE users SET role = $1 WHERE email = $2",
            vec!["admin".into(), email.into()],
        )
        .await;
    }

    /// Marks every account verified, as their emailed links would.
    pub async fn verify_every_account(&self) {
        self.execute("UPDATE users SET is_verified = $1", vec![true.into()])
            .await;
    }

    /// Deactivates `email`'s account behind the service's back (no session is ended).
    pub async fn deactivate_in_storage(&self, email: &str) {
        self.execute(
            "UPDATE users SET is_active = $1 WHERE email = $2",
            vec![false.into(), email.into()],
        )
        .await;
    }

    /// Stores `hash` as `email`'s password hash, as an import or an older release would.
    pub async fn store_password_hash(&self, email: &str, hash: &str) {
        self.execute(
            "UPDATE users SET password_hash = $1 WHERE email = $2",
            vec![hash.into(), email.into()],
        )
        .await;
    }

    /// Stores `scope` as every session's granted scopes, as if granted by an older release.
    pub async fn store_session_scopes(&self, scope: &str) {
        self.execute("UPDATE sessions SET scope = $1", vec![scope.into()])
            .await;
    }

    /// Makes client `id` a third-party app after the fact.
    pub async fn make_third_party(&self, id: &str) {
        self.execute(
            "UPDATE oauth_clients SET first_party = $1 WHERE id = $2",
            vec![false.into(), id.into()],
        )
        .await;
    }

    /// Stores `n` audit events of `kind` for no account, all at once (as a busy service's
    /// log would have them).
    pub async fn store_audit_events(&self, n: u32, kind: &str) {
        let (id, now) = if self.database_url.starts_with("sqlite") {
            (
                "randomblob(16)",
                "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')",
            )
        } else {
            ("gen_random_uuid()", "now()")
        };
        let sql = format!(
            "INSERT INTO audit_events (id, kind, created_at) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             SELECT {id}, $2, {now} FROM n"
        );
        self.execute(&sql, vec![n.into(), kind.into()]).await;
    }

    /// Breaks the storage under the running app: the accounts' table is gone.
    pub async fn break_storage(&self) {
        self.execute("ALTER TABLE users RENAME TO users_gone", vec![])
            .await;
    }

    /// A direct connection to the app's database, to arrange or inspect stored state.
    async fn db(&self) -> DatabaseConnection {
        let url = if self.database_url.starts_with("sqlite") {
            format!("{}?mode=rw", self.database_url)
        } else {
            self.database_url.clone()
        };
        Database::connect(url)
            .await
            .expect("connect to the app database")
    }

    /// Runs a statement written with `$1`-style placeholders on either database.
    async fn execute(&self, sql: &str, values: Vec<sea_orm::Value>) -> u64 {
        let db = self.db().await;
        let backend = db.get_database_backend();
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            placeholders(sql, backend),
            values,
        ))
        .await
        .expect("statement runs")
        .rows_affected()
    }

    /// The first column of the first row of a query, as a string.
    async fn query_string(&self, sql: &str, values: Vec<sea_orm::Value>) -> Option<String> {
        let db = self.db().await;
        let backend = db.get_database_backend();
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                placeholders(sql, backend),
                values,
            ))
            .await
            .expect("query runs")?;
        row.try_get_by_index::<String>(0).ok()
    }

    /// How many rows a `SELECT COUNT(*)` query counts.
    async fn count(&self, sql: &str) -> i64 {
        let db = self.db().await;
        let backend = db.get_database_backend();
        let row = db
            .query_one_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("query runs")
            .expect("one row");
        row.try_get_by_index::<i64>(0).expect("a count")
    }

    /// How many rows a `SELECT COUNT(*)` query with `$1`-style placeholders counts.
    async fn count_where(&self, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
        let db = self.db().await;
        let backend = db.get_database_backend();
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                placeholders(sql, backend),
                values,
            ))
            .await
            .expect("query runs")
            .expect("one row");
        row.try_get_by_index::<i64>(0).expect("a count")
    }

    /// The first column of every row of a query, as strings.
    async fn strings(&self, sql: &str) -> Vec<String> {
        let db = self.db().await;
        let backend = db.get_database_backend();
        db.query_all_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("query runs")
            .iter()
            .map(|row| row.try_get_by_index::<String>(0).expect("text"))
            .collect()
    }
}

fn placeholders(sql: &str, backend: sea_orm::DatabaseBackend) -> String {
    match backend {
        sea_orm::DatabaseBackend::Postgres => sql.to_owned(),
        _ => {
            let mut out = sql.to_owned();
            for n in (1..=9).rev() {
                out = out.replace(&format!("${n}"), "?");
            }
            out
        }
    }
}
