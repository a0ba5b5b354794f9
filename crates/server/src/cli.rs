//! The `gatehouse` command line: `serve` (default), `migrate`, `create-admin`,
//! `import-users`, `backup`, `clients`, `apis`, `upstream`, `openapi`, `gen-secret`, `gen-key`,
//! `config` and `hash-cost`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gatehouse_domain::Role;
use gatehouse_domain::auth::{RegisterError, Registration};
use gatehouse_domain::users::{ImportOutcome, ImportedUser};
use gatehouse_persistence::Database;
use secrecy::{ExposeSecret, SecretString};

use crate::settings::Settings;
use crate::startup::{Application, StartupError};
use gatehouse_api::openapi;
use gatehouse_http::state::AppState;

use crate::telemetry;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "Authentication and user service")]
struct Cli {
    /// TOML configuration file (also GATEHOUSE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply, roll back or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Copy the SQLite database to FILE (a new file) while gatehouse serves: a consistent
    /// snapshot of everything committed before the copy began. To restore, stop gatehouse
    /// and put the copy in the database's place (see docs/operations.md). PostgreSQL is
    /// backed up with its own tools.
    Backup { file: PathBuf },
    /// Create an administrator account. The password is read from a prompt, or from the
    /// first line of standard input when it is not a terminal.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        full_name: Option<String>,
    },
    /// Import users from a JSON-lines file, one `{email, hashed_password, full_name?, role?,
    /// is_active?}` per line, keeping their argon2 or bcrypt hashes (upgraded at their first
    /// login). Every line is checked first; if any is bad, nothing is imported. Emails that
    /// already have an account are skipped, so a second run imports nothing twice.
    ImportUsers { file: PathBuf },
    /// Register, list or remove OAuth clients (apps that sign people in through
    /// `/oauth2/authorize`).
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Register, list or remove the APIs behind gatehouse (resource servers): their
    /// identifiers (the `aud` of their tokens) and scopes.
    Apis {
        #[command(subcommand)]
        action: crate::apis_cli::ApisAction,
    },
    /// List the queue of outgoing emails, or try dead ones again.
    Mail {
        #[command(subcommand)]
        action: crate::mail_cli::MailAction,
    },
    /// List or revoke a person's personal access tokens.
    Tokens {
        #[command(subcommand)]
        action: crate::tokens_cli::TokensAction,
    },
    /// List the upstream identity providers, or check that one works (its settings, and
    /// an OpenID Connect provider's discovery and keys, fetched now).
    Upstream {
        #[command(subcommand)]
        action: UpstreamAction,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print a new random secret for GATEHOUSE__JWT__SECRET.
    GenSecret,
    /// Write a new Ed25519 key pair for `jwt.algorithm = "EdDSA"`: `<name>.pem` (private,
    /// mode 0600) and `<name>.pub.pem` in DIR.
    GenKey {
        #[arg(long, default_value = "data")]
        dir: PathBuf,
        /// File name stem; `jwt-ed25519` or `jwt-rsa` by default.
        #[arg(long)]
        name: Option<String>,
        /// `ed25519` for EdDSA, `rsa` (3072 bits) for RS256/PS256.
        #[arg(long, value_enum, default_value_t = KeyType::Ed25519)]
        r#type: KeyType,
    },
    /// Print the effective settings, secrets redacted.
    Config,
    /// Time password hashing with the configured argon2id parameters, to tune them for this
    /// machine: the median time of one hash alone, and how many hashes a second the hashing
    /// workers do when all of them are busy.
    HashCost {
        #[arg(long, default_value_t = 9)]
        samples: u32,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KeyType {
    Ed25519,
    Rsa,
}

#[derive(Subcommand)]
enum UpstreamAction {
    /// The configured providers: id, kind, name, whether sign-up is allowed, and the
    /// redirect URI to register at each.
    List,
    /// Says what is wrong with provider ID, in plain words, or that it works.
    Check { id: String },
}

#[derive(Subcommand)]
enum ClientsAction {
    /// Register a client. A confidential client's secret is printed once; only its digest
    /// is kept.
    Add {
        /// The `client_id`: letters, digits, `.`, `_` or `-`.
        #[arg(long)]
        id: String,
        /// The name shown on the consent page.
        #[arg(long)]
        name: String,
        /// A browser or native app: no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// A redirect URI, matched exactly (repeat for several; at least one unless the
        /// client uses the client credentials grant or is a resource server).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Where `/oauth2/logout` may send the browser afterwards (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Part of the same service: skip the consent page.
        #[arg(long)]
        first_party: bool,
        /// An API that accepts gatehouse's tokens: it may introspect them (confidential
        /// clients only).
        #[arg(long)]
        resource_server: bool,
        /// May use the client credentials grant (confidential clients only), on the APIs
        /// `gatehouse clients set-apis` gives it.
        #[arg(long)]
        client_credentials: bool,
        /// May use the device authorization grant (a device whose person approves it on
        /// the `/device` page).
        #[arg(long)]
        device_code: bool,
    },
    /// Set the registered APIs and scopes a client may ask tokens for, replacing what it
    /// had (no `--api`: none).
    SetApis {
        id: String,
        /// An API and some of its scopes: `IDENTIFIER=SCOPE[,SCOPE...]` (repeat for
        /// several APIs).
        #[arg(long = "api")]
        apis: Vec<String>,
    },
    /// List the registered clients.
    List,
    /// Remove a client; its sessions end at once.
    Remove { id: String },
    /// Give a confidential client a new secret, printed once; the present one stays good
    /// for the overlap so its servers can move to the new one.
    RotateSecret {
        id: String,
        /// Hours the present secret is still accepted (0 to 720; 0 ends it now).
        #[arg(long, default_value_t = 24)]
        overlap_hours: u32,
    },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the last migrations.
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::Openapi => {
            let json = openapi::document()
                .to_pretty_json()
                .map_err(|e| e.to_string())?;
            println!("{json}");
            return Ok(());
        }
        Command::GenSecret => {
            println!("{}", gatehouse_security::generate_secret().expose_secret());
            return Ok(());
        }
        Command::GenKey { dir, name, r#type } => return gen_key(&dir, name, r#type),
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    // Kept until the process ends: dropping it flushes the log.
    let _log = telemetry::init(settings.log_format());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        match command {
            Command::Serve => serve(settings).await,
            Command::Migrate { action } => migrate(&settings, action).await,
            Command::Backup { file } => backup(&settings, &file).await,
            Command::CreateAdmin { email, full_name } => {
                create_admin(&settings, email, full_name).await
            }
            Command::ImportUsers { file } => import_users(&settings, &file).await,
            Command::Clients { action } => clients(&settings, action).await,
            Command::Apis { action } => {
                crate::apis_cli::run(&app_state(&settings).await?, action).await
            }
            Command::Mail { action } => {
                crate::mail_cli::run(&app_state(&settings).await?, action).await
            }
            Command::Tokens { action } => {
                crate::tokens_cli::run(&app_state(&settings).await?, action).await
            }
            Command::Upstream { action } => upstream(&settings, action).await,
            Command::Config => {
                print!("{}", settings.redacted_toml());
                Ok(())
            }
            Command::HashCost { samples } => hash_cost(&settings, samples).await,
            Command::Openapi | Command::GenSecret | Command::GenKey { .. } => {
                unreachable!("handled above")
            }
        }
    })
}

fn gen_key(dir: &std::path::Path, name: Option<String>, key_type: KeyType) -> Result<(), String> {
    use gatehouse_security::keys;
    use std::io::Write;
    let (private, public, default_name) = match key_type {
        KeyType::Ed25519 => keys::generate_ed25519().map(|(a, b)| (a, b, "jwt-ed25519")),
        KeyType::Rsa => keys::generate_rsa(3072).map(|(a, b)| (a, b, "jwt-rsa")),
    }
    .map_err(|e| e.to_string())?;
    let name = name.unwrap_or_else(|| default_name.to_owned());
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let private_path = dir.join(format!("{name}.pem"));
    let public_path = dir.join(format!("{name}.pub.pem"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&private_path)
        .and_then(|mut file| file.write_all(private.expose_secret().as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", private_path.display()))?;
    std::fs::write(&public_path, &public).map_err(|e| e.to_string())?;
    let kid = keys::private_key_id(&private).map_err(|e| e.to_string())?;
    println!("private key: {} (kid {kid})", private_path.display());
    println!("public key:  {}", public_path.display());
    Ok(())
}

async fn hash_cost(settings: &Settings, samples: u32) -> Result<(), String> {
    use gatehouse_domain::ports::PasswordHasher as _;
    let (hasher, pool) = crate::state::password_hasher(settings).map_err(|e| e.to_string())?;
    let hasher = std::sync::Arc::new(hasher);
    let workers = pool.workers();
    let samples = samples.max(1);
    let password = gatehouse_security::generate_secret();
    // One unmeasured hash first: it pays the one-time costs (the worker thread's first run,
    // the allocator's first mappings) that a running server has long paid.
    hasher.hash(&password).await.map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    for _ in 0..samples {
        let started = std::time::Instant::now();
        hasher.hash(&password).await.map_err(|e| e.to_string())?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    // What the pool does with every worker busy: hashes side by side share the memory bus
    // and the caches, so each is slower than one alone.
    let started = std::time::Instant::now();
    let mut together = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (hasher, password) = (hasher.clone(), password.clone());
        together.spawn(async move {
            for _ in 0..samples {
                hasher.hash(&password).await?;
            }
            Ok::<_, gatehouse_domain::ports::HashingError>(())
        });
    }
    while let Some(worker) = together.join_next().await {
        worker
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let capacity = (workers * samples as usize) as f64 / started.elapsed().as_secs_f64();
    println!(
        "argon2id m={} KiB t={} p={}: {median:.1} ms per hash alone (median of {}); {workers} workers busy together: {capacity:.1} hashes/s",
        settings.password.memory_kib,
        settings.password.iterations,
        settings.password.parallelism,
        times.len(),
    );
    Ok(())
}

async fn serve(settings: Settings) -> Result<(), String> {
    let application = Application::build(settings.clone())
        .await
        .map_err(|e| e.to_string())?;
    let scheme = if settings.server.tls_cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    let base = format!("{scheme}://{}:{}", settings.server.host, application.port());
    tracing::info!(address = %base, swagger_ui = %format!("{base}/swagger-ui/"), "gatehouse is listening");
    application
        .run_until_stopped()
        .await
        .map_err(|e| e.to_string())
}

async fn backup(settings: &Settings, file: &std::path::Path) -> Result<(), String> {
    let database = Database::connect(settings.database.url.expose_secret())
        .await
        .map_err(|e| e.to_string())?;
    database.backup_to(file).await.map_err(|e| e.to_string())?;
    println!("backed up to {}", file.display());
    Ok(())
}

async fn migrate(settings: &Settings, action: MigrateAction) -> Result<(), String> {
    let database = Database::connect(settings.database.url.expose_secret())
        .await
        .map_err(|e| e.to_string())?;
    match action {
        MigrateAction::Up => database.migrate_up().await.map_err(|e| e.to_string())?,
        MigrateAction::Down { steps } => database
            .migrate_down(steps)
            .await
            .map_err(|e| e.to_string())?,
        MigrateAction::Status => {}
    }
    for migration in database
        .migration_status()
        .await
        .map_err(|e| e.to_string())?
    {
        let state = if migration.applied {
            "applied"
        } else {
            "pending"
        };
        println!("{state:8} {}", migration.name);
    }
    Ok(())
}

/// The application's use cases on the configured, migrated database, for commands.
async fn app_state(settings: &Settings) -> Result<AppState, String> {
    let error = |e: StartupError| e.to_string();
    let secret = crate::signing_secret::resolve(settings).map_err(error)?;
    let mut database = Database::connect(settings.database.url.expose_secret())
        .await
        .map_err(|e| e.to_string())?;
    database.migrate_up().await.map_err(|e| e.to_string())?;
    // A server may be running beside the command: it must hear of what the command changes.
    database.announce_changes();
    crate::state::build(
        settings,
        &mut database,
        secret,
        std::sync::Arc::new(gatehouse_domain::SystemClock),
        None,
    )
    .map_err(error)
}

async fn clients(settings: &Settings, action: ClientsAction) -> Result<(), String> {
    use gatehouse_domain::oauth::{NewClient, RegisterClientError};
    let state = app_state(settings).await?;
    match action {
        ClientsAction::Add {
            id,
            name,
            public,
            redirect_uris,
            post_logout_redirect_uris,
            first_party,
            resource_server,
            client_credentials,
            device_code,
        } => {
            let registered = state
                .oauth
                .register_client(NewClient {
                    id,
                    name,
                    public,
                    redirect_uris,
                    post_logout_redirect_uris,
                    first_party,
                    resource_server,
                    client_credentials,
                    device_code,
                })
                .await;
            let (client, secret) = match registered {
                Ok(done) => done,
                Err(RegisterClientError::Invalid(errors)) => return Err(errors.summary()),
                Err(other) => return Err(other.to_string()),
            };
            println!("client_id:     {}", client.id);
            println!("type:          {}", client.kind.as_str());
            if let Some(secret) = secret {
                println!("client_secret: {}", secret.expose_secret());
                println!("(shown once: only its digest is kept)");
            }
            Ok(())
        }
        ClientsAction::List => {
            for client in state.oauth.clients().await.map_err(|e| e.to_string())? {
                let uris: Vec<&str> = client.redirect_uris.iter().map(|u| u.as_str()).collect();
                println!(
                    "{}\t{}\t{}{}{}\t{}",
                    client.id,
                    client.kind.as_str(),
                    client.name.as_str(),
                    if client.first_party {
                        " (first party)"
                    } else {
                        ""
                    },
                    if client.resource_server {
                        " (resource server)"
                    } else {
                        ""
                    },
                    uris.join(" ")
                );
            }
            Ok(())
        }
        ClientsAction::SetApis { id, apis } => {
            use gatehouse_domain::oauth::{ApiAccessError, NewApiAccess};
            let access = apis
                .iter()
                .map(|entry| {
                    let (identifier, scopes) = entry.rsplit_once('=').ok_or_else(|| {
                        format!("`{entry}`: write an API as IDENTIFIER=SCOPE[,SCOPE...]")
                    })?;
                    Ok(NewApiAccess {
                        identifier: identifier.to_owned(),
                        scopes: scopes.split(',').map(str::to_owned).collect(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            match state.oauth.set_api_access(&id, access).await {
                Ok(stored) => {
                    for entry in stored {
                        let scopes: Vec<&str> = entry.scopes.iter().map(|s| s.as_str()).collect();
                        println!("{}\t{}", entry.identifier.as_str(), scopes.join(" "));
                    }
                    Ok(())
                }
                Err(ApiAccessError::Invalid(errors)) => Err(errors.summary()),
                Err(ApiAccessError::NotFound) => Err(format!("no client `{id}`")),
                Err(other) => Err(other.to_string()),
            }
        }
        ClientsAction::RotateSecret { id, overlap_hours } => {
            let overlap = chrono::Duration::hours(overlap_hours.into());
            let (secret, until) = state
                .oauth
                .rotate_secret(&id, overlap)
                .await
                .map_err(|e| e.to_string())?;
            println!("client_secret: {}", secret.expose_secret());
            println!("(shown once: only its digest is kept)");
            println!(
                "the previous secret is accepted until {}",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            Ok(())
        }
        ClientsAction::Remove { id } => {
            if state
                .oauth
                .remove_client(&id)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("removed {id}");
                Ok(())
            } else {
                Err(format!("no client `{id}`"))
            }
        }
    }
}

async fn upstream(settings: &Settings, action: UpstreamAction) -> Result<(), String> {
    use gatehouse_domain::upstream::{IdentityProviders, ProviderId};
    let providers = crate::upstream::providers(settings);
    match action {
        UpstreamAction::List => {
            for provider in providers.providers() {
                let kind = &settings.upstream[provider.id.as_str()].kind;
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    provider.id,
                    serde_json::to_value(kind)
                        .ok()
                        .and_then(|kind| kind.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    provider.name,
                    if provider.allow_signup {
                        "sign-up allowed"
                    } else {
                        "sign-in only"
                    },
                    gatehouse_upstream::redirect_uri(&settings.server.public_url, &provider.id),
                );
            }
            Ok(())
        }
        UpstreamAction::Check { id } => {
            let id = ProviderId::parse(&id).map_err(|error| format!("`{id}`: {error}"))?;
            if !settings.upstream.contains_key(id.as_str()) {
                return Err(format!(
                    "no provider `{id}` is configured ([upstream.{id}])"
                ));
            }
            let report = providers
                .check(&id)
                .await
                .map_err(|reason| format!("{id}: {reason}"))?;
            println!("{id}: {report}");
            Ok(())
        }
    }
}

/// One line of an import file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    email: String,
    hashed_password: String,
    full_name: Option<String>,
    role: Option<String>,
    is_active: Option<bool>,
}

async fn import_users(settings: &Settings, file: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let state = app_state(settings).await?;
    let mut valid = Vec::new();
    let mut bad = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record = match serde_json::from_str::<ImportLine>(line) {
            Ok(record) => record,
            Err(error) => {
                bad.push(format!("line {number}: not a valid record: {error}"));
                continue;
            }
        };
        let checked = state.users.validate_import(ImportedUser {
            email: record.email,
            hashed_password: record.hashed_password,
            full_name: record.full_name,
            role: record.role,
            is_active: record.is_active,
        });
        match checked {
            Ok(user) if !seen.insert(user.email.clone()) => {
                bad.push(format!(
                    "line {number}: {} appears twice in the file",
                    user.email
                ));
            }
            Ok(user) => valid.push(user),
            Err(errors) => bad.push(format!("line {number}: {}", errors.summary())),
        }
    }
    if !bad.is_empty() {
        for line in &bad {
            eprintln!("{line}");
        }
        return Err(format!(
            "{} invalid line(s); nothing was imported",
            bad.len()
        ));
    }
    let (mut imported, mut existing) = (0, 0);
    for user in &valid {
        match state.users.import(user).await.map_err(|e| e.to_string())? {
            ImportOutcome::Imported(_) => imported += 1,
            ImportOutcome::AlreadyExists => existing += 1,
        }
    }
    println!("imported {imported} user(s), skipped {existing} already present");
    Ok(())
}

async fn create_admin(
    settings: &Settings,
    email: String,
    full_name: Option<String>,
) -> Result<(), String> {
    let password = read_password()?;
    let state = app_state(settings).await?;
    let registration = Registration {
        email,
        password,
        full_name,
    };
    match state
        .auth
        .register_with_role(registration, Role::Admin)
        .await
    {
        Ok(user) => {
            println!("created admin {} ({})", user.email, user.id);
            Ok(())
        }
        Err(RegisterError::Invalid(errors)) => Err(errors.summary()),
        Err(other) => Err(other.to_string()),
    }
}

fn read_password() -> Result<SecretString, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let second = rpassword::prompt_password("Repeat: ").map_err(|e| e.to_string())?;
        if first != second {
            return Err("the passwords differ".into());
        }
        return Ok(SecretString::from(first));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}
