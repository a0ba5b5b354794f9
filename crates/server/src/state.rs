//! What every handler can reach: the use cases, wired to their adapters.

use std::sync::Arc;

use gatehouse_domain::audit::{Audit, AuditLog};
use gatehouse_domain::auth::{AuthPolicy, AuthPorts};
use gatehouse_domain::mail::Mailer;
use gatehouse_domain::meter::{Meter, NoMeter};
use gatehouse_domain::mfa::{MfaPolicy, MfaPorts, MfaRepository, MfaService};
use gatehouse_domain::oauth::{
    AuthorizationCodeRepository, Client, ClientId, ClientKind, ClientName, ClientRepository,
    OAuthPolicy, OAuthPorts, OAuthService, RedirectUri,
};
use gatehouse_domain::owned::OwnedItems;
use gatehouse_domain::passkeys::{PasskeyPorts, PasskeyService};
use gatehouse_domain::ports::{
    PasswordHasher, PasswordVerifier, SessionRepository, UserRepository,
};
use gatehouse_domain::reauth::ClientTrust;
use gatehouse_domain::recovery::ActionTokenRepository;
use gatehouse_domain::recovery::{Links, RecoveryPorts, RecoveryService};
use gatehouse_domain::throttle::{Throttle, ThrottleRepository};
use gatehouse_domain::upstream::{
    IdentityRepository, UpstreamFlowRepository, UpstreamPolicy, UpstreamPorts, UpstreamService,
};
use gatehouse_domain::users::UserPorts;
use gatehouse_domain::{AuthService, Clock, SessionLifetimes, UserService};
use gatehouse_mail::{FileOutbox, SmtpMailer, SmtpSettings, SmtpTls, parse_sender};
use gatehouse_persistence::{
    AccountStores, Database, SeaActionTokenRepository, SeaAuditLog, SeaAuthorizationCodeRepository,
    SeaClientRepository, SeaIdentityRepository, SeaMfaRepository, SeaThrottleRepository,
    SeaUpstreamFlowRepository,
};
use gatehouse_security::{
    ActiveKey, Argon2Config, Argon2Hasher, CsrfKey, FlowKey, HashingPool, JwtConfig, JwtService,
    RandomTokens, RetiredKey, RsaScheme, SealingKey, SigningKeys, TotpAuthenticators,
};
use secrecy::SecretString;

use crate::error::StartupError;
use crate::metrics::Metrics;
use crate::settings::{JwtAlgorithm, MailTransport, Settings, SmtpTlsMode};
use gatehouse_api::OwnedResources;
use gatehouse_http::cookies::Cookies;
use gatehouse_http::state::AppState;

/// The configured key ring: the active key (the HS256 secret or a private key file) and
/// the retired secrets and public keys that still verify.
fn signing_keys(settings: &Settings, secret: SecretString) -> Result<SigningKeys, StartupError> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| StartupError::Config(format!("cannot read {}: {e}", path.display())))
    };
    let jwt = &settings.jwt;
    let rsa = match jwt.algorithm {
        JwtAlgorithm::PS256 => RsaScheme::Ps256,
        _ => RsaScheme::Rs256,
    };
    let private_key = || {
        let path = jwt.private_key_file.as_deref().ok_or_else(|| {
            StartupError::Config(format!(
                "jwt.algorithm is {} but jwt.private_key_file is not set: set GATEHOUSE__JWT__PRIVATE_KEY_FILE to a key written by `gatehouse gen-key`",
                jwt.algorithm.as_str()
            ))
        })?;
        read(path).map(SecretString::from)
    };
    let active = match jwt.algorithm {
        JwtAlgorithm::HS256 => ActiveKey::Hs256(secret),
        JwtAlgorithm::EdDSA => ActiveKey::Ed25519(private_key()?),
        JwtAlgorithm::RS256 | JwtAlgorithm::PS256 => ActiveKey::Rsa(rsa, private_key()?),
    };
    let mut retired: Vec<RetiredKey> = jwt
        .retired_secrets
        .iter()
        .cloned()
        .map(RetiredKey::Hs256)
        .collect();
    for path in &jwt.retired_public_key_files {
        retired.push(RetiredKey::Public {
            pem: read(path)?,
            rsa,
        });
    }
    Ok(SigningKeys { active, retired })
}

/// The id of the built-in client of Swagger UI's authorization code flow.
/// The longest leeway `auth.refresh_reuse_leeway_secs` may give (Okta's longest grace
/// period): past it, a stolen token's replay would too easily pass for a retry.
const MOST_REUSE_LEEWAY_SECS: u32 = 60;

pub const SWAGGER_UI_CLIENT: &str = "swagger-ui";

/// The clients the deployment defines: Swagger UI's (public, first party, PKCE), when
/// `oauth.swagger_ui_client` is on.
fn built_in_clients(
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Client>, StartupError> {
    if !settings.oauth.swagger_ui_client {
        return Ok(Vec::new());
    }
    let redirect = format!("{}/swagger-ui/oauth2-redirect.html", settings.issuer());
    let redirect = RedirectUri::parse(&redirect).map_err(|error| {
        StartupError::Config(format!(
            "server.public_url gives Swagger UI the redirect URI {redirect}, which {error}; fix the URL or set oauth.swagger_ui_client = false"
        ))
    })?;
    Ok(vec![Client {
        id: ClientId::parse(SWAGGER_UI_CLIENT).map_err(|e| StartupError::Config(e.to_string()))?,
        name: ClientName::parse("Swagger UI").map_err(|e| StartupError::Config(e.to_string()))?,
        kind: ClientKind::Public,
        redirect_uris: vec![redirect],
        post_logout_redirect_uris: Vec::new(),
        first_party: true,
        resource_server: false,
        client_credentials: false,
        device_code: false,
        created_at: now,
    }])
}

/// The argon2id hasher with the configured parameters, on a pool of the configured size
/// (also returned, for `gatehouse hash-cost`, which reports its size).
pub fn password_hasher(
    settings: &Settings,
) -> Result<(Argon2Hasher, Arc<HashingPool>), StartupError> {
    let pool = match settings.password.hashing_workers {
        0 => HashingPool::per_core(settings.password.hashing_queue),
        workers => HashingPool::new(workers, settings.password.hashing_queue),
    };
    let hashing = Arc::new(pool);
    let hasher = Argon2Hasher::new(
        Argon2Config {
            memory_kib: settings.password.memory_kib,
            iterations: settings.password.iterations,
            parallelism: settings.password.parallelism,
        },
        hashing.clone(),
    )
    .map_err(|error| StartupError::Config(error.to_string()))?;
    Ok((hasher, hashing))
}

/// The configured mail transport.
fn mailer(settings: &Settings) -> Result<Arc<dyn Mailer>, StartupError> {
    let config = |error: gatehouse_domain::mail::MailError| StartupError::Config(error.to_string());
    let from = parse_sender(&settings.mail.from).map_err(config)?;
    Ok(match settings.mail.transport {
        MailTransport::File => Arc::new(FileOutbox::new(settings.outbox_dir(), from)),
        MailTransport::Smtp => Arc::new(
            SmtpMailer::new(SmtpSettings {
                host: settings.mail.smtp_host.clone(),
                port: settings.mail.smtp_port,
                tls: match settings.mail.smtp_tls {
                    SmtpTlsMode::None => SmtpTls::None,
                    SmtpTlsMode::Starttls => SmtpTls::StartTls,
                    SmtpTlsMode::Tls => SmtpTls::Tls,
                },
                username: settings.mail.smtp_username.clone(),
                password: settings.mail.smtp_password.clone(),
                from,
            })
            .map_err(config)?,
        ),
    })
}

/// The storage adapters, one per repository port.
#[derive(Clone)]
pub struct Storage {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub action_tokens: Arc<dyn ActionTokenRepository>,
    pub throttle: Arc<dyn ThrottleRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub clients: Arc<dyn ClientRepository>,
    pub codes: Arc<dyn AuthorizationCodeRepository>,
    pub mfa: Arc<dyn MfaRepository>,
    pub identities: Arc<dyn IdentityRepository>,
    pub upstream_flows: Arc<dyn UpstreamFlowRepository>,
    pub passkeys: Arc<dyn gatehouse_domain::passkeys::PasskeyRepository>,
    pub apis: Arc<dyn gatehouse_domain::apis::ApiRepository>,
    pub personal: Arc<dyn gatehouse_domain::personal::PersonalTokenRepository>,
    pub devices: Arc<dyn gatehouse_domain::oauth::device::DeviceAuthorizationRepository>,
    pub mail: Arc<dyn gatehouse_domain::mail::MailQueue>,
}

impl Storage {
    /// SeaORM repositories on `database`.
    pub fn sea(database: &Database) -> Self {
        // The session check of every request is answered from memory; `AccountStores` is
        // the only way to the user and session stores, and it keeps that memory right.
        let AccountStores {
            users,
            sessions,
            personal,
        } = AccountStores::new(database);
        Self {
            users,
            sessions,
            action_tokens: Arc::new(SeaActionTokenRepository::new(database)),
            throttle: Arc::new(SeaThrottleRepository::new(database)),
            audit: Arc::new(SeaAuditLog::new(database)),
            clients: Arc::new(SeaClientRepository::new(database)),
            codes: Arc::new(SeaAuthorizationCodeRepository::new(database)),
            mfa: Arc::new(SeaMfaRepository::new(database)),
            identities: Arc::new(SeaIdentityRepository::new(database)),
            upstream_flows: Arc::new(SeaUpstreamFlowRepository::new(database)),
            passkeys: Arc::new(gatehouse_persistence::SeaPasskeyRepository::new(database)),
            apis: Arc::new(gatehouse_persistence::apis::SeaApiRepository::new(database)),
            personal,
            devices: Arc::new(
                gatehouse_persistence::devices::SeaDeviceAuthorizations::new(database),
            ),
            mail: Arc::new(gatehouse_persistence::SeaMailQueue::new(database)),
        }
    }
}

/// The owned resources' use cases, each over its SeaORM table on `database`.
pub fn owned(database: &Database, clock: &Arc<dyn Clock>) -> OwnedResources {
    use gatehouse_persistence::todos;
    OwnedResources {
        todos: OwnedItems::new(
            Arc::new(todos::SeaTodoRepository::new(database)),
            clock.clone(),
        ),
    }
}

/// Wires the adapters: SeaORM storage on `database`, an argon2id hasher on a bounded
/// pool, a JWT service with `secret`, and `clock` for every time decision; with `metrics`,
/// everything they count is counted there.
/// `database` reports its statements to `metrics` from then on, for whatever else is built
/// on it too.
pub fn build(
    settings: &Settings,
    database: &mut Database,
    secret: SecretString,
    clock: Arc<dyn Clock>,
    metrics: Option<&Arc<Metrics>>,
) -> Result<AppState, StartupError> {
    let (hasher, hashing) = password_hasher(settings)?;
    if let Some(metrics) = metrics {
        metrics.watch(database, hashing);
    }
    assemble(
        settings,
        Storage::sea(database),
        (hasher, secret),
        clock,
        metrics,
    )
}

/// As [`build`], over any storage adapters, with the hasher and JWT secret given.
fn assemble(
    settings: &Settings,
    storage: Storage,
    (hasher, secret): (Argon2Hasher, SecretString),
    clock: Arc<dyn Clock>,
    metrics: Option<&Arc<Metrics>>,
) -> Result<AppState, StartupError> {
    let meter: Arc<dyn Meter> = match metrics {
        Some(metrics) => metrics.clone(),
        None => Arc::new(NoMeter),
    };
    let mailer = mailer(settings)?;
    let tokens = JwtService::new(JwtConfig {
        keys: signing_keys(settings, secret)?,
        issuer: settings.jwt.issuer.clone(),
        id_token_issuer: settings.issuer(),
        audience: settings.jwt.audience.clone(),
        access_token_ttl: chrono::Duration::seconds(settings.jwt.access_token_ttl_secs.into()),
        leeway: chrono::Duration::seconds(settings.jwt.leeway_secs.into()),
    })
    .map_err(|error| StartupError::Config(error.to_string()))?;
    let Storage {
        users,
        sessions,
        action_tokens,
        throttle,
        audit,
        clients,
        codes,
        mfa,
        identities,
        upstream_flows,
        passkeys,
        apis,
        personal,
        devices,
        mail,
    } = storage;
    let mail_wake = Arc::new(tokio::sync::Notify::new());
    let mail: Arc<dyn gatehouse_domain::mail::MailQueue> =
        Arc::new(crate::courier::WakingQueue::new(mail, mail_wake.clone()));
    let (mfa_key, retired_mfa_keys) = crate::signing_secret::mfa_keys(settings)?;
    let sealer: Arc<dyn gatehouse_domain::mail::MailSealer> = Arc::new(
        gatehouse_security::MailSeal::new(&mfa_key, &retired_mfa_keys),
    );
    let csrf = Arc::new(CsrfKey::from_secret(&mfa_key));
    let authenticators = Arc::new(TotpAuthenticators::new(
        settings.mfa.issuer.clone(),
        SealingKey::from_secret(&mfa_key),
        retired_mfa_keys
            .iter()
            .map(SealingKey::from_secret)
            .collect(),
    ));
    let mfa_policy = MfaPolicy {
        required_for_admins: settings.mfa.required_for_admins,
    };
    let audit = Audit::new(audit, clock.clone()).with_meter(meter.clone());
    let throttle = Throttle::new(throttle, clock.clone(), settings.throttle_policy())
        .with_meter(meter.clone());
    let trusted_proxies = settings
        .server
        .trusted_proxies
        .iter()
        .map(|raw| {
            // Canonical: a proxy configured as `::ffff:a.b.c.d` is the IPv4 proxy.
            raw.trim()
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.to_canonical())
                .map_err(|_| {
                    StartupError::Config(format!(
                        "server.trusted_proxies: `{raw}` is not an IP address"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let hasher = Arc::new(hasher);
    let verifier: Arc<dyn PasswordVerifier> = hasher.clone();
    let hasher: Arc<dyn PasswordHasher> = hasher;
    let lifetimes = SessionLifetimes {
        idle: chrono::Duration::seconds(settings.auth.session_idle_ttl_secs.into()),
        absolute: chrono::Duration::seconds(settings.auth.session_absolute_ttl_secs.into()),
        reuse_leeway: chrono::Duration::seconds(
            settings
                .auth
                .refresh_reuse_leeway_secs
                .min(MOST_REUSE_LEEWAY_SECS)
                .into(),
        ),
    };
    let public_keys = Arc::new(tokens.public_keys().to_vec());
    let tokens = Arc::new(tokens);
    let ports = AuthPorts {
        users: users.clone(),
        hasher: hasher.clone(),
        verifier: verifier.clone(),
        tokens: tokens.clone(),
        sessions: sessions.clone(),
        opaque: Arc::new(RandomTokens),
        clock: clock.clone(),
        throttle: throttle.clone(),
        audit: audit.clone(),
        mfa: mfa.clone(),
        authenticators: authenticators.clone(),
    };
    let policy = AuthPolicy {
        sessions: lifetimes,
        require_verified_email: settings.auth.require_verified_email,
        mfa: mfa_policy,
    };
    let recovery = RecoveryService::new(
        RecoveryPorts {
            users: users.clone(),
            hasher: hasher.clone(),

            tokens: action_tokens,
            opaque: Arc::new(RandomTokens),
            queue: mail.clone(),
            sealer: sealer.clone(),
            clock: clock.clone(),
            throttle: throttle.clone(),
            audit: audit.clone(),
        },
        Links::new(&settings.server.public_url),
    );
    let api_tokens = gatehouse_domain::oauth::audience::ApiTokens::new(
        apis.clone(),
        clients.clone(),
        tokens.clone(),
    );
    let oauth = OAuthService::new(
        OAuthPorts {
            clients,
            apis: apis.clone(),
            codes,
            users: users.clone(),
            sessions: sessions.clone(),
            tokens: tokens.clone(),
            id_tokens: tokens.clone(),
            opaque: Arc::new(RandomTokens),
            clock: clock.clone(),
            throttle: throttle.clone(),
            audit: audit.clone(),
        },
        OAuthPolicy {
            issuer: settings.issuer(),
            sessions: lifetimes,
            built_in: built_in_clients(settings, clock.now())?,
            mfa: mfa_policy,
            audience: settings.jwt.audience.clone(),
        },
    )
    .with_devices(
        devices,
        gatehouse_domain::oauth::DevicePolicy {
            lifetime: chrono::Duration::seconds(settings.device.code_lifetime_secs.into()),
            interval: chrono::Duration::seconds(settings.device.interval_secs.into()),
        },
    );
    let client_trust: Arc<dyn ClientTrust> = Arc::new(oauth.clone());
    let reauthentication = chrono::Duration::seconds(settings.auth.reauthentication_seconds.into());
    let auth = AuthService::new(ports, policy)
        .with_passkeys(Arc::new(gatehouse_domain::passkeys::StoredPasskeys(
            passkeys.clone(),
        )))
        .with_apis(api_tokens, settings.jwt.audience.clone())
        .with_personal_tokens(personal.clone());
    let personal = gatehouse_domain::personal::PersonalTokens::new(
        gatehouse_domain::personal::PersonalTokenPorts {
            tokens: personal,
            sessions: sessions.clone(),
            apis: apis.clone(),
            opaque: Arc::new(RandomTokens),
            clock: clock.clone(),
        },
        gatehouse_domain::reauth::Reauthentication::new(
            gatehouse_domain::attempts::PasswordAttempts::new(
                verifier.clone(),
                throttle.clone(),
                audit.clone(),
            ),
            sessions.clone(),
            client_trust.clone(),
            clock.clone(),
            audit.clone(),
            reauthentication,
        ),
        throttle.clone(),
        audit.clone(),
        gatehouse_domain::personal::PersonalTokenPolicy {
            // A century at most: a date further off than any token will serve.
            max_days: settings.personal_tokens.max_days.min(36_500),
            default_days: settings
                .personal_tokens
                .default_days
                .min(settings.personal_tokens.max_days.min(36_500)),
            allow_no_expiry: settings.personal_tokens.allow_no_expiry,
            mfa: mfa_policy,
        },
    );
    let providers = Arc::new(crate::upstream::providers(settings));
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let providers = providers.clone();
        runtime.spawn(async move { providers.warm().await });
    }
    let upstream = UpstreamService::new(
        UpstreamPorts {
            providers,
            keys: Arc::new(FlowKey::from_secret(&mfa_key)),
            flows: upstream_flows,
            identities,
            users: users.clone(),
            opaque: Arc::new(RandomTokens),
            auth: auth.clone(),
            clock: clock.clone(),
            throttle: throttle.clone(),
            audit: audit.clone(),
            verifier: verifier.clone(),
            sessions: sessions.clone(),
            clients: client_trust.clone(),
            reauthentication,
        },
        UpstreamPolicy::default(),
    );
    let relying_party = gatehouse_passkeys::WebauthnRelyingParty::new(
        &settings.server.public_url,
        &settings.passkeys.extra_origins,
        &settings.passkeys.name,
    );
    if let Some(problem) = relying_party.problem() {
        tracing::warn!(%problem, "passkeys are unavailable");
    }
    let passkeys = PasskeyService::new(PasskeyPorts {
        relying_party: Arc::new(relying_party),
        passkeys,
        users: users.clone(),
        opaque: Arc::new(RandomTokens),
        auth: auth.clone(),
        clock: clock.clone(),
        throttle: throttle.clone(),
        audit: audit.clone(),
        verifier: verifier.clone(),
        sessions: sessions.clone(),
        clients: client_trust.clone(),
        reauthentication,
    });
    Ok(AppState {
        apis: gatehouse_domain::apis::ApiService::new(
            apis,
            clock.clone(),
            settings.jwt.audience.clone(),
        ),
        auth,
        personal,
        upstream,
        passkeys,
        oauth,
        mfa: MfaService::new(MfaPorts {
            repository: mfa,
            authenticators,
            users: users.clone(),
            sessions: sessions.clone(),
            verifier: verifier.clone(),
            clock: clock.clone(),
            throttle: throttle.clone(),
            audit: audit.clone(),
            clients: client_trust.clone(),
            reauthentication,
        }),
        users: UserService::new(UserPorts {
            users,
            hasher,
            verifier,
            sessions,
            clock: clock.clone(),
            throttle: throttle.clone(),
            audit: audit.clone(),
            clients: client_trust,
            reauthentication,
        }),
        courier: gatehouse_domain::courier::Courier::new(
            gatehouse_domain::courier::CourierPorts {
                queue: mail,
                sealer,
                mailer,
                recovery: recovery.clone(),
                clock: clock.clone(),
                meter: meter.clone(),
            },
            settings.mail.courier_policy(),
        ),
        mail_wake,
        recovery,
        throttle,
        audit,
        public_keys,
        trusted_proxies: Arc::new(trusted_proxies),
        cookies: Cookies::new(settings.served_over_tls()),
        csrf,
        id_token_alg: match settings.jwt.algorithm {
            JwtAlgorithm::HS256 => None,
            other => Some(other.as_str()),
        },
    })
}
