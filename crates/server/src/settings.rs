//! Configuration: built-in defaults, then an optional TOML file (`--config FILE` or
//! `GATEHOUSE_CONFIG`), then environment variables `GATEHOUSE__SECTION__KEY`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Generates a JWT secret under `data_dir` when none is configured.
    Development,
    /// Refuses to start without a strong, explicitly configured secret.
    Production,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Development => "development",
            Profile::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    pub profile: Profile,
    /// Where the SQLite database, the development secret and the mail outbox live.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub jwt: JwtSettings,
    pub password: PasswordSettings,
    pub auth: AuthSettings,
    pub mail: MailSettings,
    pub log: LogSettings,
    pub oauth: OAuthSettings,
    pub mfa: MfaSettings,
    pub passkeys: PasskeySettings,
    pub personal_tokens: PersonalTokenSettings,
    pub device: DeviceSettings,
    /// Upstream identity providers people may sign in with, by id (`[upstream.google]`):
    /// the id is part of URLs, tokens (`idp`) and stored identities, so it must not change.
    pub upstream: BTreeMap<String, UpstreamSettings>,
}

/// The protocol an upstream provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    /// Any OpenID Connect provider, found by its `issuer` (discovery).
    Oidc,
    /// Google: OpenID Connect at `https://accounts.google.com`.
    Google,
    /// GitHub: OAuth 2.0 and its user and emails API (GitHub is not OpenID Connect).
    Github,
}

/// One upstream identity provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct UpstreamSettings {
    pub kind: UpstreamKind,
    /// The name on its button; by default the kind's ("Google", "GitHub") or the id.
    #[serde(serialize_with = "or_empty")]
    pub name: Option<String>,
    /// The OpenID Connect issuer (`oidc`: required; `google`: Google's).
    #[serde(serialize_with = "or_empty")]
    pub issuer: Option<String>,
    /// The client id gatehouse was registered under at the provider.
    pub client_id: String,
    /// Its client secret, here or (better) in `client_secret_file`.
    #[serde(serialize_with = "redacted_or_empty")]
    pub client_secret: Option<SecretString>,
    /// A file holding the client secret (its first line).
    #[serde(serialize_with = "or_empty")]
    pub client_secret_file: Option<PathBuf>,
    /// The scopes asked for; by default `openid email profile` (`github`: `read:user
    /// user:email`).
    #[serde(deserialize_with = "list")]
    pub scopes: Vec<String>,
    /// A first sign-in with an identity no account has creates an account (when the
    /// provider asserts a verified address that no account uses).
    pub allow_signup: bool,
    /// When not empty, only addresses in these domains may create an account.
    #[serde(deserialize_with = "list")]
    pub allowed_email_domains: Vec<String>,
    /// `github` only, for GitHub Enterprise Server: its authorization and token endpoints
    /// and its API's base URL.
    #[serde(serialize_with = "or_empty")]
    pub authorization_url: Option<String>,
    #[serde(serialize_with = "or_empty")]
    pub token_url: Option<String>,
    #[serde(serialize_with = "or_empty")]
    pub api_url: Option<String>,
    /// Seconds each call to the provider may take.
    pub timeout_secs: u32,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            kind: UpstreamKind::Oidc,
            name: None,
            issuer: None,
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            scopes: Vec::new(),
            allow_signup: true,
            allowed_email_domains: Vec::new(),
            authorization_url: None,
            token_url: None,
            api_url: None,
            timeout_secs: 10,
        }
    }
}

/// Passkeys (WebAuthn). The relying party id is the host of `server.public_url`, which
/// must be a domain name (`localhost` in development), not an IP address.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PasskeySettings {
    /// The name authenticators show beside the passkey.
    pub name: String,
    /// Origins besides `server.public_url`'s whose passkey answers are accepted (another
    /// port or subdomain that serves the same sign-in, for example).
    #[serde(deserialize_with = "list")]
    pub extra_origins: Vec<String>,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        Self {
            name: "gatehouse".into(),
            extra_origins: Vec::new(),
        }
    }
}

/// Personal access tokens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PersonalTokenSettings {
    /// The longest lifetime a token may be given, in days (365).
    pub max_days: u32,
    /// The lifetime of a token made without one (30 days, at most `max_days`).
    pub default_days: u32,
    /// Whether people may make tokens that never expire (no).
    pub allow_no_expiry: bool,
    /// Tokens one person may make per hour (20).
    pub per_user_per_hour: u32,
}

impl Default for PersonalTokenSettings {
    fn default() -> Self {
        let policy = gatehouse_domain::personal::PersonalTokenPolicy::default();
        let limits = gatehouse_domain::throttle::ThrottlePolicy::default();
        Self {
            max_days: policy.max_days,
            default_days: policy.default_days,
            allow_no_expiry: policy.allow_no_expiry,
            per_user_per_hour: limits.personal_token_user.max,
        }
    }
}

/// The device authorization grant (RFC 8628).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DeviceSettings {
    /// How long a device code and its user code live (600 seconds).
    pub code_lifetime_secs: u32,
    /// The least time between two polls of one device code (5 seconds).
    pub interval_secs: u32,
    /// Wrong user codes one client network may enter per 15 minutes (10).
    pub user_code_failures_per_ip: u32,
    /// Device sign-ins one client network may begin per 15 minutes (60).
    pub starts_per_ip: u32,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self {
            code_lifetime_secs: 600,
            interval_secs: 5,
            user_code_failures_per_ip: gatehouse_domain::throttle::ThrottlePolicy::default()
                .device_code_ip
                .max,
            starts_per_ip: gatehouse_domain::throttle::ThrottlePolicy::default()
                .device_start_ip
                .max,
        }
    }
}

/// Multi-factor authentication (TOTP).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MfaSettings {
    /// Encrypts TOTP secrets at rest: at least 32 bytes, e.g. the output of `gatehouse
    /// gen-secret`. Required in production; in development one is generated once into
    /// `data_dir`.
    #[serde(serialize_with = "generated_in_development")]
    pub encryption_key: Option<SecretString>,
    /// Former keys, which still open secrets sealed before a rotation; each secret is
    /// sealed again under the current key the next time its code is accepted.
    #[serde(deserialize_with = "list", serialize_with = "all_redacted")]
    pub retired_encryption_keys: Vec<SecretString>,
    /// Admin scopes only for sessions opened with a second factor: an admin without MFA
    /// signs in with a user's scopes and is sent to enrolment by the hosted sign-in.
    pub required_for_admins: bool,
    /// The name authenticator apps show beside the account.
    pub issuer: String,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            encryption_key: None,
            retired_encryption_keys: Vec::new(),
            required_for_admins: false,
            issuer: "gatehouse".into(),
        }
    }
}

/// The OpenID Connect provider: the authorization code flow and the hosted pages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct OAuthSettings {
    /// Offer Swagger UI's "Authorize" the authorization code flow through the built-in
    /// public client `swagger-ui` (redirecting to `<public_url>/swagger-ui/oauth2-redirect.html`).
    pub swagger_ui_client: bool,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            swagger_ui_client: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthSettings {
    /// A session not refreshed for this long expires (7 days).
    pub session_idle_ttl_secs: u32,
    /// No session outlives this (30 days).
    pub session_absolute_ttl_secs: u32,
    /// A refresh token presented again this soon after its rotation, its successor unused,
    /// continues the session (a retry after a lost answer); 0 makes it a replay. At most 60.
    pub refresh_reuse_leeway_secs: u32,
    /// Refuse logins of accounts whose email is not verified.
    pub require_verified_email: bool,
    /// How often expired sessions and tokens are deleted.
    pub housekeeping_interval_secs: u32,
    /// Failed logins per account (normalized email) within `login_window_secs`.
    pub login_failures_per_account: u32,
    /// Failed logins per client IP within `login_window_secs`.
    pub login_failures_per_ip: u32,
    pub login_window_secs: u32,
    /// Registrations per client IP within `ip_window_secs`.
    pub registrations_per_ip: u32,
    /// Password-reset requests per client IP within `ip_window_secs`.
    pub password_resets_per_ip: u32,
    pub ip_window_secs: u32,
    /// Verification emails one user may ask for within an hour.
    pub verification_emails_per_user: u32,
    /// How recent a sign-in re-authenticates an account without a password for a change
    /// to how it signs in (accounts with one give their current password).
    pub reauthentication_seconds: u32,
    /// Steps of upstream sign-ins (begun or come back) per client IP within
    /// `login_window_secs`.
    pub upstream_sign_ins_per_ip: u32,
    /// Passkey sign-ins begun per client IP within `login_window_secs` (each assertion also
    /// counts against the account and the IP as a password attempt does).
    pub passkey_sign_ins_per_ip: u32,
    /// Wrong secrets per OAuth client within `login_window_secs` (past it, even a right one
    /// waits).
    pub client_secret_failures_per_client: u32,
    /// Wrong client secrets per client IP within `login_window_secs`.
    pub client_secret_failures_per_ip: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// One `.eml` file per message under `mail.outbox_dir`.
    File,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTlsMode {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// The sender, e.g. `gatehouse <no-reply@example.com>`.
    pub from: String,
    /// Where the file transport writes; `data_dir/outbox` when empty.
    #[serde(serialize_with = "or_empty")]
    pub outbox_dir: Option<PathBuf>,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTlsMode,
    #[serde(serialize_with = "or_empty")]
    pub smtp_username: Option<String>,
    #[serde(serialize_with = "redacted_or_empty")]
    pub smtp_password: Option<SecretString>,
    /// Tries of a queued email before it is dead (an admin may retry it).
    pub max_attempts: u32,
    /// The wait after a first failed try; it doubles after each further one...
    pub retry_first_secs: u32,
    /// ...up to this.
    pub retry_longest_secs: u32,
    /// How often each instance looks for queued emails that are due (an email queued on
    /// this instance is tried at once).
    pub poll_interval_ms: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ServerSettings {
    pub host: String,
    /// 0 picks a free port (tests use it).
    pub port: u16,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// The URL users reach the service at, for links in emails. Never taken from `Host`.
    pub public_url: String,
    /// Proxies whose `X-Forwarded-For` is believed (exact IP addresses). Empty: the peer
    /// address is the client.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
    /// Origins allowed to call the API from a browser (`https://app.example.com`); exact
    /// matches only, never a reflected origin. Empty: no CORS headers at all.
    #[serde(deserialize_with = "list")]
    pub cors_allowed_origins: Vec<String>,
    /// PEM certificate chain; with `tls_key_file`, the server speaks only HTTPS (rustls)
    /// and sends `Strict-Transport-Security`.
    #[serde(serialize_with = "or_empty")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the certificate.
    #[serde(serialize_with = "or_empty")]
    pub tls_key_file: Option<PathBuf>,
    /// `max-age` of the HSTS header sent over TLS (one year).
    pub hsts_max_age_secs: u32,
    /// On SIGTERM or SIGINT, how long in-flight requests may take before they are cut off.
    pub shutdown_grace_secs: u32,
    /// `HOST:PORT` of a second listener serving Prometheus metrics at `GET /metrics`
    /// (`127.0.0.1:9464`, say; port 0 picks a free one). Empty: no metrics are kept.
    /// Keep it off the public network: anyone who reaches it reads the service's traffic.
    #[serde(serialize_with = "or_empty")]
    pub metrics_address: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`: a secret, since it may carry
    /// a password (shown with the password masked).
    #[serde(serialize_with = "database_url")]
    pub url: SecretString,
    /// How long a request waits for a database connection before it gets 503.
    pub timeout_secs: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct JwtSettings {
    /// `HS256` (a shared secret), `EdDSA` (an Ed25519 key file), or `RS256` / `PS256` (an
    /// RSA key file) for services that only verify RSA. Asymmetric keys are published as JWKS.
    pub algorithm: JwtAlgorithm,
    /// HS256 key: the UTF-8 bytes of this string, at least 32 bytes.
    #[serde(serialize_with = "generated_in_development")]
    pub secret: Option<SecretString>,
    /// Former HS256 secrets, still accepted for verification after a rotation.
    #[serde(deserialize_with = "list", serialize_with = "all_redacted")]
    pub retired_secrets: Vec<SecretString>,
    /// EdDSA, RS256, PS256: the PEM private key that signs (`gatehouse gen-key` writes one).
    #[serde(serialize_with = "or_empty")]
    pub private_key_file: Option<PathBuf>,
    /// SPKI PEM public keys of retired signing keys (Ed25519 or RSA), still accepted for
    /// verification. RSA ones verify PS256 when `algorithm` is PS256, RS256 otherwise.
    #[serde(deserialize_with = "list")]
    pub retired_public_key_files: Vec<PathBuf>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u32,
    pub leeway_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum JwtAlgorithm {
    HS256,
    EdDSA,
    RS256,
    PS256,
}

impl JwtAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::EdDSA => "EdDSA",
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::PS256 => "PS256",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PasswordSettings {
    /// argon2id memory cost in KiB.
    pub memory_kib: u32,
    /// argon2id passes.
    pub iterations: u32,
    /// argon2id lanes.
    pub parallelism: u32,
    /// Concurrent hashes; 0 means one per core.
    pub hashing_workers: usize,
    /// Hash requests that may wait for a worker before new ones get 503.
    pub hashing_queue: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LogSettings {
    /// `pretty` or `json`; unset, `json` under the `production` profile, else `pretty`.
    #[serde(serialize_with = "or_empty")]
    pub format: Option<LogFormat>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            profile: Profile::Development,
            data_dir: PathBuf::from("data"),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            jwt: JwtSettings::default(),
            password: PasswordSettings::default(),
            auth: AuthSettings::default(),
            mail: MailSettings::default(),
            log: LogSettings::default(),
            oauth: OAuthSettings::default(),
            mfa: MfaSettings::default(),
            passkeys: PasskeySettings::default(),
            personal_tokens: PersonalTokenSettings::default(),
            device: DeviceSettings::default(),
            upstream: BTreeMap::new(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            workers: 0,
            public_url: "http://127.0.0.1:8000".into(),
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
            tls_cert_file: None,
            tls_key_file: None,
            hsts_max_age_secs: 365 * 24 * 3600,
            shutdown_grace_secs: 30,
            metrics_address: None,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            // Empty: `Settings::load` puts it under `data_dir`.
            url: SecretString::default(),
            timeout_secs: 5,
        }
    }
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            algorithm: JwtAlgorithm::HS256,
            secret: None,
            retired_secrets: Vec::new(),
            private_key_file: None,
            retired_public_key_files: Vec::new(),
            issuer: "gatehouse".into(),
            audience: "gatehouse".into(),
            access_token_ttl_secs: 15 * 60,
            leeway_secs: 30,
        }
    }
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            hashing_workers: 0,
            hashing_queue: 64,
        }
    }
}

/// A domain default duration as a whole number of seconds, the unit of the settings.
fn secs(duration: chrono::Duration) -> u32 {
    u32::try_from(duration.num_seconds()).unwrap_or(u32::MAX)
}

impl Default for AuthSettings {
    /// The domain's own defaults for session lifetimes and throttling, so each is written
    /// once (`SessionLifetimes::default`, `ThrottlePolicy::default`).
    fn default() -> Self {
        let sessions = gatehouse_domain::SessionLifetimes::default();
        let limits = gatehouse_domain::throttle::ThrottlePolicy::default();
        Self {
            session_idle_ttl_secs: secs(sessions.idle),
            session_absolute_ttl_secs: secs(sessions.absolute),
            refresh_reuse_leeway_secs: secs(sessions.reuse_leeway),
            require_verified_email: false,
            housekeeping_interval_secs: 3600,
            login_failures_per_account: limits.login_account.max,
            login_failures_per_ip: limits.login_ip.max,
            login_window_secs: secs(limits.login_account.window),
            registrations_per_ip: limits.register_ip.max,
            password_resets_per_ip: limits.reset_ip.max,
            ip_window_secs: secs(limits.register_ip.window),
            verification_emails_per_user: limits.verify_email.max,
            reauthentication_seconds: secs(gatehouse_domain::reauth::DEFAULT_WINDOW),
            upstream_sign_ins_per_ip: limits.upstream_ip.max,
            passkey_sign_ins_per_ip: limits.passkey_ip.max,
            client_secret_failures_per_client: limits.client_secret.max,
            client_secret_failures_per_ip: limits.client_ip.max,
        }
    }
}

impl Default for MailSettings {
    /// The courier's own defaults (`CourierPolicy::default`).
    fn default() -> Self {
        let courier = gatehouse_domain::courier::CourierPolicy::default();
        Self {
            transport: MailTransport::File,
            from: "gatehouse <no-reply@localhost>".into(),
            outbox_dir: None,
            smtp_host: "localhost".into(),
            smtp_port: 587,
            smtp_tls: SmtpTlsMode::Starttls,
            smtp_username: None,
            smtp_password: None,
            max_attempts: courier.max_attempts,
            retry_first_secs: secs(courier.first_backoff),
            retry_longest_secs: secs(courier.longest_backoff),
            poll_interval_ms: 1000,
        }
    }
}

impl MailSettings {
    /// How the courier tries, from these settings.
    pub fn courier_policy(&self) -> gatehouse_domain::courier::CourierPolicy {
        gatehouse_domain::courier::CourierPolicy {
            max_attempts: self.max_attempts.max(1),
            first_backoff: chrono::Duration::seconds(self.retry_first_secs.max(1).into()),
            longest_backoff: chrono::Duration::seconds(
                self.retry_longest_secs
                    .max(self.retry_first_secs)
                    .max(1)
                    .into(),
            ),
            ..gatehouse_domain::courier::CourierPolicy::default()
        }
    }
}

/// A list setting: an array in the file, comma-separated in the environment.
fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: From<String>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Listed {
        Items(Vec<String>),
        Text(String),
    }
    let items = match Listed::deserialize(deserializer)? {
        Listed::Items(items) => items,
        Listed::Text(text) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .map(T::from)
        .collect())
}

// How `gatehouse config` shows what TOML cannot (unset values) and must not (secrets).

const REDACTED: &str = "[REDACTED]";

fn or_empty<S: Serializer, T: Serialize>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => value.serialize(serializer),
        None => serializer.serialize_str(""),
    }
}

fn redacted_or_empty<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if value.is_some() { REDACTED } else { "" })
}

fn generated_in_development<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(match value {
        Some(_) => REDACTED,
        None => "(not set: generated under data_dir in development)",
    })
}

fn all_redacted<S: Serializer>(values: &[SecretString], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(|_| REDACTED))
}

fn database_url<S: Serializer>(url: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&gatehouse_persistence::database::redact(
        url.expose_secret(),
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid configuration: {0}")]
    Config(#[from] config::ConfigError),
}

impl Settings {
    /// The log format: as configured, else JSON in production (for log collectors) and
    /// pretty lines in development.
    pub fn log_format(&self) -> LogFormat {
        self.log.format.unwrap_or(match self.profile {
            Profile::Production => LogFormat::Json,
            Profile::Development => LogFormat::Pretty,
        })
    }

    /// Loads defaults, then `file` (or `GATEHOUSE_CONFIG`), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("GATEHOUSE_CONFIG").map(PathBuf::from));
        let mut builder = Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(File::from(file).required(true));
        }
        // No `try_parsing`: every value stays the exact string given (an all-digit secret
        // keeps its leading zeros) and is converted by the type of its field.
        builder = builder.add_source(
            Environment::with_prefix("GATEHOUSE")
                .prefix_separator("__")
                .separator("__"),
        );
        let settings: Self = builder.build()?.try_deserialize()?;
        Ok(settings.with_derived_defaults())
    }

    /// Fills the defaults that depend on other settings: without a database URL, the
    /// SQLite database lives in `data_dir` (`sqlite://<data_dir>/gatehouse.db`).
    fn with_derived_defaults(mut self) -> Self {
        if self.database.url.expose_secret().is_empty() {
            let url = format!("sqlite://{}/gatehouse.db", self.data_dir.display());
            self.database.url = url.into();
        }
        self
    }

    /// The OpenID Connect issuer: `server.public_url` without a trailing slash, as
    /// discovery, ID tokens and the `iss` of every code redirect name it.
    pub fn issuer(&self) -> String {
        self.server.public_url.trim_end_matches('/').to_owned()
    }

    /// Whether browsers reach the service over TLS (the public URL is `https`), so that the
    /// hosted pages' cookies are `Secure` and `__Host-` prefixed.
    pub fn served_over_tls(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }

    /// The throttling limits.
    pub fn throttle_policy(&self) -> gatehouse_domain::throttle::ThrottlePolicy {
        use gatehouse_domain::throttle::{Limit, ThrottlePolicy};
        let login = chrono::Duration::seconds(self.auth.login_window_secs.into());
        let ip = chrono::Duration::seconds(self.auth.ip_window_secs.into());
        ThrottlePolicy {
            login_account: Limit {
                max: self.auth.login_failures_per_account,
                window: login,
            },
            login_ip: Limit {
                max: self.auth.login_failures_per_ip,
                window: login,
            },
            register_ip: Limit {
                max: self.auth.registrations_per_ip,
                window: ip,
            },
            reset_ip: Limit {
                max: self.auth.password_resets_per_ip,
                window: ip,
            },
            verify_email: Limit {
                max: self.auth.verification_emails_per_user,
                window: ThrottlePolicy::default().verify_email.window,
            },
            upstream_ip: Limit {
                max: self.auth.upstream_sign_ins_per_ip,
                window: login,
            },
            passkey_ip: Limit {
                max: self.auth.passkey_sign_ins_per_ip,
                window: login,
            },
            client_secret: Limit {
                max: self.auth.client_secret_failures_per_client,
                window: login,
            },
            client_ip: Limit {
                max: self.auth.client_secret_failures_per_ip,
                window: login,
            },
            personal_token_user: Limit {
                max: self.personal_tokens.per_user_per_hour,
                window: chrono::Duration::hours(1),
            },
            device_code_ip: Limit {
                max: self.device.user_code_failures_per_ip,
                window: ThrottlePolicy::default().device_code_ip.window,
            },
            device_start_ip: Limit {
                max: self.device.starts_per_ip,
                window: ThrottlePolicy::default().device_start_ip.window,
            },
        }
    }

    /// Where the file mail transport writes.
    pub fn outbox_dir(&self) -> PathBuf {
        self.mail
            .outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// The effective settings as TOML, with every secret replaced by `[REDACTED]` (the
    /// database URL keeps all but its password).
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.mail.outbox_dir = Some(self.outbox_dir());
        toml::to_string(&shown)
            .unwrap_or_else(|error| format!("# could not render settings: {error}\n"))
    }
}
