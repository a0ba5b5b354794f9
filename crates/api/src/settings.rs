//! Configuration: built-in defaults, then an optional TOML file (`--config FILE` or
//! `GATEHOUSE_CONFIG`), then environment variables `GATEHOUSE__SECTION__KEY`.

use std::path::{Path, PathBuf};

use config::{Config, Environment, File};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// A session not refreshed for this long expires (7 days).
    pub session_idle_ttl_secs: u32,
    /// No session outlives this (30 days).
    pub session_absolute_ttl_secs: u32,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// One `.eml` file per message under `mail.outbox_dir`.
    File,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTlsMode {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// The sender, e.g. `gatehouse <no-reply@example.com>`.
    pub from: String,
    /// Where the file transport writes; `data_dir/outbox` when empty.
    pub outbox_dir: Option<PathBuf>,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTlsMode,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
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
    pub trusted_proxies: Vec<String>,
    /// Origins allowed to call the API from a browser (`https://app.example.com`); exact
    /// matches only, never a reflected origin. Empty: no CORS headers at all.
    pub cors_allowed_origins: Vec<String>,
    /// PEM certificate chain; with `tls_key_file`, the server speaks only HTTPS (rustls)
    /// and sends `Strict-Transport-Security`.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the certificate.
    pub tls_key_file: Option<PathBuf>,
    /// `max-age` of the HSTS header sent over TLS (one year).
    pub hsts_max_age_secs: u32,
    /// On SIGTERM or SIGINT, how long in-flight requests may take before they are cut off.
    pub shutdown_grace_secs: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`.
    pub url: String,
    /// How long a request waits for a database connection before it gets 503.
    pub timeout_secs: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    /// `HS256` (a shared secret), `EdDSA` (an Ed25519 key file), or `RS256` / `PS256` (an
    /// RSA key file) for services that only verify RSA. Asymmetric keys are published as JWKS.
    pub algorithm: JwtAlgorithm,
    /// HS256 key: the UTF-8 bytes of this string, at least 32 bytes.
    pub secret: Option<SecretString>,
    /// Former HS256 secrets, still accepted for verification after a rotation.
    pub retired_secrets: Vec<SecretString>,
    /// EdDSA, RS256, PS256: the PEM private key that signs (`gatehouse gen-key` writes one).
    pub private_key_file: Option<PathBuf>,
    /// SPKI PEM public keys of retired signing keys (Ed25519 or RSA), still accepted for
    /// verification. RSA ones verify PS256 when `algorithm` is PS256, RS256 otherwise.
    pub retired_public_key_files: Vec<PathBuf>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u32,
    pub leeway_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            profile: Profile::Development,
            data_dir: PathBuf::from("data"),
            server: ServerSettings {
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
            },
            database: DatabaseSettings {
                url: "sqlite://data/gatehouse.db".into(),
                timeout_secs: 5,
            },
            jwt: JwtSettings {
                algorithm: JwtAlgorithm::HS256,
                secret: None,
                retired_secrets: Vec::new(),
                private_key_file: None,
                retired_public_key_files: Vec::new(),
                issuer: "gatehouse".into(),
                audience: "gatehouse".into(),
                access_token_ttl_secs: 15 * 60,
                leeway_secs: 30,
            },
            password: PasswordSettings {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1,
                hashing_workers: 0,
                hashing_queue: 64,
            },
            auth: AuthSettings {
                session_idle_ttl_secs: 7 * 24 * 3600,
                session_absolute_ttl_secs: 30 * 24 * 3600,
                require_verified_email: false,
                housekeeping_interval_secs: 3600,
                login_failures_per_account: 5,
                login_failures_per_ip: 20,
                login_window_secs: 15 * 60,
                registrations_per_ip: 20,
                password_resets_per_ip: 10,
                verification_emails_per_user: 5,
                ip_window_secs: 3600,
            },
            mail: MailSettings {
                transport: MailTransport::File,
                from: "gatehouse <no-reply@localhost>".into(),
                outbox_dir: None,
                smtp_host: "localhost".into(),
                smtp_port: 587,
                smtp_tls: SmtpTlsMode::Starttls,
                smtp_username: None,
                smtp_password: None,
            },
            log: LogSettings {
                format: LogFormat::Pretty,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid configuration: {0}")]
    Config(#[from] config::ConfigError),
}

impl Settings {
    /// Loads defaults, then `file` (or `GATEHOUSE_CONFIG`), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("GATEHOUSE_CONFIG").map(PathBuf::from));
        let d = Settings::default();
        let mut builder = Config::builder()
            .set_default("profile", d.profile.as_str())?
            .set_default("data_dir", d.data_dir.to_string_lossy().as_ref())?
            .set_default("server.host", d.server.host)?
            .set_default("server.port", d.server.port)?
            .set_default("server.workers", d.server.workers as u64)?
            .set_default("server.public_url", d.server.public_url)?
            .set_default("server.hsts_max_age_secs", d.server.hsts_max_age_secs)?
            .set_default("server.shutdown_grace_secs", d.server.shutdown_grace_secs)?
            .set_default("database.url", d.database.url)?
            .set_default("database.timeout_secs", d.database.timeout_secs)?
            .set_default("jwt.algorithm", "HS256")?
            .set_default("jwt.retired_public_key_files", Vec::<String>::new())?
            .set_default("jwt.retired_secrets", Vec::<String>::new())?
            .set_default("jwt.issuer", d.jwt.issuer)?
            .set_default("jwt.audience", d.jwt.audience)?
            .set_default("jwt.access_token_ttl_secs", d.jwt.access_token_ttl_secs)?
            .set_default("jwt.leeway_secs", d.jwt.leeway_secs)?
            .set_default("password.memory_kib", d.password.memory_kib)?
            .set_default("password.iterations", d.password.iterations)?
            .set_default("password.parallelism", d.password.parallelism)?
            .set_default(
                "password.hashing_workers",
                d.password.hashing_workers as u64,
            )?
            .set_default("password.hashing_queue", d.password.hashing_queue as u64)?
            .set_default("auth.session_idle_ttl_secs", d.auth.session_idle_ttl_secs)?
            .set_default(
                "auth.session_absolute_ttl_secs",
                d.auth.session_absolute_ttl_secs,
            )?
            .set_default("auth.require_verified_email", d.auth.require_verified_email)?
            .set_default(
                "auth.housekeeping_interval_secs",
                d.auth.housekeeping_interval_secs,
            )?
            .set_default("server.trusted_proxies", Vec::<String>::new())?
            .set_default("server.cors_allowed_origins", Vec::<String>::new())?
            .set_default(
                "auth.login_failures_per_account",
                d.auth.login_failures_per_account,
            )?
            .set_default("auth.login_failures_per_ip", d.auth.login_failures_per_ip)?
            .set_default("auth.login_window_secs", d.auth.login_window_secs)?
            .set_default("auth.registrations_per_ip", d.auth.registrations_per_ip)?
            .set_default("auth.password_resets_per_ip", d.auth.password_resets_per_ip)?
            .set_default(
                "auth.verification_emails_per_user",
                d.auth.verification_emails_per_user,
            )?
            .set_default("auth.ip_window_secs", d.auth.ip_window_secs)?
            .set_default("mail.transport", "file")?
            .set_default("mail.from", d.mail.from)?
            .set_default("mail.smtp_host", d.mail.smtp_host)?
            .set_default("mail.smtp_port", d.mail.smtp_port)?
            .set_default("mail.smtp_tls", "starttls")?
            .set_default("log.format", "pretty")?;
        if let Some(file) = file {
            builder = builder.add_source(File::from(file).required(true));
        }
        builder = builder.add_source(
            Environment::with_prefix("GATEHOUSE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("server.trusted_proxies")
                .with_list_parse_key("server.cors_allowed_origins")
                .with_list_parse_key("jwt.retired_public_key_files")
                .with_list_parse_key("jwt.retired_secrets"),
        );
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        // `try_parsing` would turn an all-digit secret into a number and back, changing it;
        // the key must be exactly the configured string.
        if let Ok(raw) = std::env::var("GATEHOUSE__JWT__SECRET") {
            settings.jwt.secret = Some(raw.into());
        }
        if let Ok(raw) = std::env::var("GATEHOUSE__JWT__RETIRED_SECRETS") {
            settings.jwt.retired_secrets = raw
                .split(',')
                .filter(|s| !s.is_empty())
                .map(SecretString::from)
                .collect();
        }
        if let Ok(raw) = std::env::var("GATEHOUSE__MAIL__SMTP_PASSWORD") {
            settings.mail.smtp_password = Some(raw.into());
        }
        Ok(settings)
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
                window: chrono::Duration::hours(1),
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

    /// The effective settings as TOML, with every secret replaced by `[REDACTED]`.
    pub fn redacted_toml(&self) -> String {
        let secret = if self.jwt.secret.is_some() {
            "[REDACTED]"
        } else {
            "(not set: generated under data_dir in development)"
        };
        let view = serde_json::json!({
            "profile": self.profile.as_str(),
            "data_dir": self.data_dir.to_string_lossy(),
            "server": {
                "host": self.server.host,
                "port": self.server.port,
                "workers": self.server.workers,
                "public_url": self.server.public_url,
                "trusted_proxies": self.server.trusted_proxies,
                "cors_allowed_origins": self.server.cors_allowed_origins,
                "tls_cert_file": self.server.tls_cert_file.as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
                "tls_key_file": self.server.tls_key_file.as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
                "hsts_max_age_secs": self.server.hsts_max_age_secs,
                "shutdown_grace_secs": self.server.shutdown_grace_secs,
            },
            "database": {
                "url": gatehouse_persistence::database::redact(&self.database.url),
                "timeout_secs": self.database.timeout_secs,
            },
            "jwt": {
                "algorithm": self.jwt.algorithm.as_str(),
                "secret": secret,
                "retired_secrets": vec!["[REDACTED]"; self.jwt.retired_secrets.len()],
                "private_key_file": self.jwt.private_key_file.as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
                "retired_public_key_files": self.jwt.retired_public_key_files.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>(),
                "issuer": self.jwt.issuer,
                "audience": self.jwt.audience,
                "access_token_ttl_secs": self.jwt.access_token_ttl_secs,
                "leeway_secs": self.jwt.leeway_secs,
            },
            "password": {
                "memory_kib": self.password.memory_kib,
                "iterations": self.password.iterations,
                "parallelism": self.password.parallelism,
                "hashing_workers": self.password.hashing_workers,
                "hashing_queue": self.password.hashing_queue,
            },
            "auth": {
                "session_idle_ttl_secs": self.auth.session_idle_ttl_secs,
                "session_absolute_ttl_secs": self.auth.session_absolute_ttl_secs,
                "require_verified_email": self.auth.require_verified_email,
                "housekeeping_interval_secs": self.auth.housekeeping_interval_secs,
                "login_failures_per_account": self.auth.login_failures_per_account,
                "login_failures_per_ip": self.auth.login_failures_per_ip,
                "login_window_secs": self.auth.login_window_secs,
                "registrations_per_ip": self.auth.registrations_per_ip,
                "password_resets_per_ip": self.auth.password_resets_per_ip,
                "verification_emails_per_user": self.auth.verification_emails_per_user,
                "ip_window_secs": self.auth.ip_window_secs,
            },
            "mail": {
                "transport": match self.mail.transport { MailTransport::File => "file", MailTransport::Smtp => "smtp" },
                "from": self.mail.from,
                "outbox_dir": self.outbox_dir().to_string_lossy(),
                "smtp_host": self.mail.smtp_host,
                "smtp_port": self.mail.smtp_port,
                "smtp_tls": match self.mail.smtp_tls { SmtpTlsMode::None => "none", SmtpTlsMode::Starttls => "starttls", SmtpTlsMode::Tls => "tls" },
                "smtp_username": self.mail.smtp_username.clone().unwrap_or_default(),
                "smtp_password": if self.mail.smtp_password.is_some() { "[REDACTED]" } else { "" },
            },
            "log": { "format": match self.log.format { LogFormat::Pretty => "pretty", LogFormat::Json => "json" } },
        });
        toml::to_string(&view)
            .unwrap_or_else(|error| format!("# could not render settings: {error}\n"))
    }
}
