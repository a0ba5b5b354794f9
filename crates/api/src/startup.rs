//! Building the application: resolve the signing secret, connect and migrate the database,
//! wire the adapters, bind the listener (port 0 picks a free one) and assemble the middleware.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{App, HttpResponse, HttpServer, web};
use gatehouse_domain::{Clock, SystemClock};
use gatehouse_persistence::{Database, DatabaseError};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;
use utoipa_swagger_ui::SwaggerUi;

use crate::openapi;
use crate::problem::{ApiError, ProblemDetails, problem_response};
use crate::routes;
use crate::settings::{Profile, Settings};
use crate::state::AppState;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Shortest accepted JWT secret, in bytes.
pub const MIN_SECRET_BYTES: usize = gatehouse_security::jwt::MIN_SECRET_BYTES;
const SECRET_FILE: &str = "jwt-secret";

/// Secrets from tutorials and examples that must never sign production tokens.
const WELL_KNOWN_SECRETS: &[&str] = &[
    "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
    "your-256-bit-secret",
    "a-string-secret-at-least-256-bits-long",
    "change-me-to-a-long-random-secret-of-at-least-32-bytes",
    "changemechangemechangemechangeme",
    "secretsecretsecretsecretsecretsecret",
    "your-secret-key-here-must-be-at-least-32-bytes",
];

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A built, bound, not yet awaited server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects, migrates, wires and binds, per `settings`.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with the clock every expiry is judged by (tests move it).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let secret = resolve_jwt_secret(&settings)?;
        let database = Database::connect_with_timeout(
            &settings.database.url,
            std::time::Duration::from_secs(settings.database.timeout_secs.max(1).into()),
        )
        .await?;
        database.migrate_up().await?;
        let state = AppState::build(&settings, &database, secret, clock.clone())?;
        spawn_housekeeping(
            state.clone(),
            clock,
            std::time::Duration::from_secs(settings.auth.housekeeping_interval_secs.max(1).into()),
        );
        Self::build_with_state(&settings, state)
    }

    /// Binds and assembles the server around already wired state.
    pub fn build_with_state(settings: &Settings, state: AppState) -> Result<Self, StartupError> {
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(state);
        let openapi = openapi::document();
        let cors_origins = settings.server.cors_allowed_origins.clone();
        let tls = tls_config(settings)?;
        let hsts = tls.as_ref().map(|_| {
            format!(
                "max-age={}; includeSubDomains",
                settings.server.hsts_max_age_secs
            )
        });
        let server = HttpServer::new(move || {
            let mut headers = DefaultHeaders::new()
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::REFERRER_POLICY, "no-referrer"));
            if let Some(hsts) = &hsts {
                headers = headers.add((header::STRICT_TRANSPORT_SECURITY, hsts.as_str()));
            }
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::Validation(vec![crate::problem::FieldError {
                        field: "id".into(),
                        message: format!("not a valid UUID: {error}"),
                    }])
                    .into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    ApiError::BadRequest {
                        code: "bad_query",
                        detail: format!("The query string could not be read: {error}."),
                    }
                    .into()
                }))
                .configure(routes::configure)
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .url("/api-docs/openapi.json", openapi.clone()),
                )
                .default_service(web::to(|| async {
                    ApiError::NotFound.error_response_owned()
                }))
                .wrap(ErrorHandlers::new().default_handler(problem_for_bare_errors))
                .wrap(cors(&cors_origins))
                .wrap(headers)
                .wrap_fn(|req, srv| {
                    let request_id = uuid::Uuid::now_v7();
                    let span = tracing::info_span!(
                        "http_request",
                        %request_id,
                        method = %req.method(),
                        path = %req.path(),
                        user_id = tracing::field::Empty,
                    );
                    let started = Instant::now();
                    let response = span.in_scope(|| srv.call(req));
                    async move {
                        let mut response = response.await?;
                        if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
                            response
                                .headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), value);
                        }
                        tracing::info!(
                            status = response.status().as_u16(),
                            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                            "request completed"
                        );
                        Ok(response)
                    }
                    .instrument(span)
                })
        });
        let mut server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        };
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        Ok(Self {
            port,
            server: server
                .shutdown_timeout(settings.server.shutdown_grace_secs.into())
                .run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

impl ApiError {
    fn error_response_owned(&self) -> HttpResponse {
        actix_web::ResponseError::error_response(self)
    }
}

/// The rustls server configuration when a certificate and key are configured.
fn tls_config(settings: &Settings) -> Result<Option<rustls::ServerConfig>, StartupError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = match (
        &settings.server.tls_cert_file,
        &settings.server.tls_key_file,
    ) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            return Err(StartupError::Config(
                "TLS needs both server.tls_cert_file and server.tls_key_file (GATEHOUSE__SERVER__TLS_CERT_FILE, GATEHOUSE__SERVER__TLS_KEY_FILE)".into(),
            ));
        }
    };
    let unreadable = |path: &Path, error: &dyn std::fmt::Display| {
        StartupError::Config(format!("cannot read {}: {error}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable(cert, &e))?;
    if chain.is_empty() {
        return Err(unreadable(cert, &"no certificate in the file"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(chain, private)
        })
        .map_err(|e| StartupError::Config(format!("invalid TLS certificate or key: {e}")))?;
    Ok(Some(config))
}

/// CORS for the configured origins only: an origin is allowed when it equals one of them,
/// never reflected otherwise. With none configured, no CORS headers are sent.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
        .max_age(600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Deletes expired and revoked sessions and used or expired emailed tokens every `every`,
/// on its own task so requests never wait for it. Every instance may run it: the deletes are
/// idempotent.
fn spawn_housekeeping(state: AppState, clock: Arc<dyn Clock>, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match state.auth.purge_sessions().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired sessions purged"),
                Err(error) => tracing::warn!(%error, "session purge failed"),
            }
            if let Err(error) = state.throttle.purge().await {
                tracing::warn!(%error, "throttle purge failed");
            }
            match state.recovery.purge(clock.now()).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "used or expired emailed tokens purged"),
                Err(error) => tracing::warn!(%error, "token purge failed"),
            }
        }
    });
}

/// Gives error responses that actix-web produced without a JSON body (unknown routes,
/// wrong methods, oversized payloads) the same problem+json shape as ours.
fn problem_for_bare_errors<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "There is nothing at this address."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This address does not accept this method.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "The request body is larger than 64 KiB.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "The body's content type is not accepted here.",
        ),
        status if status.is_server_error() => {
            ("internal_error", "Something went wrong on our side.")
        }
        _ => ("bad_request", "The request could not be understood."),
    };
    let (request, original) = response.into_parts();
    let mut replacement = problem_response(status).json(ProblemDetails::new(status, code, detail));
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, replacement).map_into_right_body::<B>(),
    ))
}

/// The HS256 secret: the configured one, checked; in development without one, a random
/// secret generated once into `data_dir` (mode 0600).
pub fn resolve_jwt_secret(settings: &Settings) -> Result<SecretString, StartupError> {
    const HOW: &str = "set GATEHOUSE__JWT__SECRET (or `jwt.secret` in the config file) to at least 32 random bytes, for example the output of `gatehouse gen-secret`";
    match &settings.jwt.secret {
        Some(secret) => {
            let value = secret.expose_secret();
            if value.len() < MIN_SECRET_BYTES {
                return Err(StartupError::Config(format!(
                    "the JWT secret is {} bytes, shorter than the {MIN_SECRET_BYTES} HS256 needs: {HOW}",
                    value.len()
                )));
            }
            let well_known =
                WELL_KNOWN_SECRETS.contains(&value) || value.chars().all(|c| value.starts_with(c));
            if well_known {
                if settings.profile == Profile::Production {
                    return Err(StartupError::Config(format!(
                        "the JWT secret is a well-known example value, so anyone could forge tokens: {HOW}"
                    )));
                }
                tracing::warn!(
                    "the JWT secret is a well-known example value; never use it in production"
                );
            }
            Ok(secret.clone())
        }
        // Asymmetric algorithms sign with key files; the secret only backs HS256.
        None if settings.jwt.algorithm != crate::settings::JwtAlgorithm::HS256 => {
            Ok(generate_secret())
        }
        None if settings.profile == Profile::Production => Err(StartupError::Config(format!(
            "no JWT secret is configured and the profile is production: {HOW}"
        ))),
        None => development_secret(&settings.data_dir),
    }
}

fn development_secret(data_dir: &Path) -> Result<SecretString, StartupError> {
    let path = data_dir.join(SECRET_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= MIN_SECRET_BYTES {
            return Ok(SecretString::from(existing));
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let secret = generate_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(secret.expose_secret().as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "no JWT secret configured: generated a development secret; set GATEHOUSE__JWT__SECRET in production"
    );
    Ok(secret)
}

/// 32 random bytes from a CSPRNG seeded by the OS, hex-encoded (64 characters).
pub fn generate_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    SecretString::from(hex)
}
