//! Building the application: resolve the signing secret, connect and migrate the database,
//! wire the adapters, bind the listener (port 0 picks a free one) and assemble the server
//! from the middleware of its own modules (`tls`, `cors`, `request_log`, `problem`).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::error::QueryPayloadError;
use actix_web::middleware::{Condition, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use gatehouse_domain::{Clock, SystemClock};
use gatehouse_persistence::Database;
use secrecy::ExposeSecret;
use utoipa_swagger_ui::SwaggerUi;

use gatehouse_api::OwnedResources;
use gatehouse_api::openapi;
use gatehouse_http::methods::{self, Methods};
use gatehouse_http::problem::{self, ApiError};
use gatehouse_http::state::AppState;

use crate::metrics::{self, Metrics};
use crate::settings::Settings;
use crate::{cors, housekeeping, request_log, signing_secret, tls};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub use crate::error::StartupError;

/// A built, bound, not yet awaited server, and its metrics listener when there is one.
pub struct Application {
    port: u16,
    server: Server,
    metrics: Option<(u16, Server)>,
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
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        Self::build_on(settings, clock, listener).await
    }

    /// As [`Application::build_with_clock`], serving on an already bound `listener`, so
    /// that a caller who picked a free port can name it in `server.public_url` first.
    pub async fn build_on(
        settings: Settings,
        clock: Arc<dyn Clock>,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        let secret = signing_secret::resolve(&settings)?;
        let mut database = Database::connect_with_timeout(
            settings.database.url.expose_secret(),
            std::time::Duration::from_secs(settings.database.timeout_secs.max(1).into()),
        )
        .await?;
        database.migrate_up().await?;
        let metrics = match settings
            .server
            .metrics_address
            .as_deref()
            .map(str::trim)
            .filter(|address| !address.is_empty())
        {
            Some(address) => Some((
                Arc::new(Metrics::new()),
                TcpListener::bind(address).map_err(|error| {
                    StartupError::Config(format!(
                        "server.metrics_address `{address}` cannot be listened on: {error}"
                    ))
                })?,
            )),
            None => None,
        };
        let state = crate::state::build(
            &settings,
            &mut database,
            secret,
            clock.clone(),
            metrics.as_ref().map(|(metrics, _)| metrics),
        )?;
        let owned = crate::state::owned(&database, &clock);
        crate::courier::spawn(
            state.courier.clone(),
            state.mail_wake.clone(),
            std::time::Duration::from_millis(settings.mail.poll_interval_ms.max(10).into()),
        );
        housekeeping::spawn(
            state.clone(),
            clock,
            std::time::Duration::from_secs(settings.auth.housekeeping_interval_secs.max(1).into()),
        );
        Self::serve(&settings, state, owned, listener, metrics)
    }

    /// Assembles the server around already wired state, on `listener`.
    fn serve(
        settings: &Settings,
        state: AppState,
        owned: OwnedResources,
        listener: TcpListener,
        metrics: Option<(Arc<Metrics>, TcpListener)>,
    ) -> Result<Self, StartupError> {
        let port = listener.local_addr()?.port();
        let counted = metrics
            .as_ref()
            .map(|(metrics, _)| web::Data::from(metrics.clone()));
        let metrics = match metrics {
            Some((metrics, listener)) => Some(metrics_server(metrics, listener)?),
            None => None,
        };
        let state = web::Data::new(state);
        let owned = web::Data::new(owned);
        let openapi = openapi::document();
        let methods = web::Data::new(Methods::from_document(&openapi));
        let document = web::Data::new(
            openapi::Served::new(&openapi)
                .map_err(|error| StartupError::Config(format!("the OpenAPI document: {error}")))?,
        );
        drop(openapi);
        let cors_origins = settings.server.cors_allowed_origins.clone();
        let tls = tls::server_config(settings)?;
        let hsts = tls
            .as_ref()
            .map(|_| tls::hsts(settings.server.hsts_max_age_secs));
        let server = HttpServer::new(move || {
            let app = App::new();
            let app = match &counted {
                Some(metrics) => app.app_data(metrics.clone()),
                None => app,
            };
            app.app_data(state.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::Validation(vec![gatehouse_http::problem::FieldError {
                        field: "id".into(),
                        message: format!("not a valid UUID: {error}"),
                    }])
                    .into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    // Every parameter is read as text, so what fails is the query's shape:
                    // a parameter given twice (`duplicate field `offset``).
                    let message = match error {
                        QueryPayloadError::Deserialize(error) => error.to_string(),
                        other => other.to_string(),
                    };
                    let field = message.split('`').nth(1).unwrap_or("query").to_owned();
                    ApiError::Validation(vec![gatehouse_http::problem::FieldError {
                        field,
                        message,
                    }])
                    .into()
                }))
                .configure(|cfg| gatehouse_api::configure(cfg, &owned))
                .configure(gatehouse_pages::configure)
                .service(
                    // GET only, as Swagger UI's own routes: other methods fall through to
                    // the fallback's 405 with `Allow`.
                    web::resource(gatehouse_http::paths::DOCUMENT)
                        .guard(actix_web::guard::Get())
                        .app_data(document.clone())
                        .to(openapi::Served::serve),
                )
                .service(
                    SwaggerUi::new(gatehouse_http::paths::SWAGGER_UI).config(
                        utoipa_swagger_ui::Config::with_oauth_config(
                            [gatehouse_http::paths::DOCUMENT],
                            utoipa_swagger_ui::oauth::Config::new()
                                .client_id(crate::state::SWAGGER_UI_CLIENT)
                                .app_name("gatehouse")
                                .use_pkce_with_authorization_code_grant(true),
                        ),
                    ),
                )
                .app_data(methods.clone())
                .default_service(web::to(methods::fallback))
                .wrap(ErrorHandlers::new().default_handler(problem::for_bare_errors))
                .wrap(Condition::new(
                    !cors_origins.is_empty(),
                    cors::allowlist(&cors_origins),
                ))
                .wrap(tls::security_headers(hsts.as_deref()))
                .wrap(from_fn(request_log::request_context))
                .wrap(Condition::new(counted.is_some(), from_fn(metrics::track)))
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
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, when `server.metrics_address` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Serves until the server stops (a signal, or its handle); the metrics listener stops
    /// with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Some((_, metrics)) = self.metrics else {
            return self.server.await;
        };
        let handle = metrics.handle();
        let metrics = tokio::spawn(metrics);
        let served = self.server.await;
        handle.stop(true).await;
        let _ = metrics.await;
        served
    }
}

/// The metrics listener: `GET /metrics` alone, on one worker, stopped with the main server
/// (it takes no signals of its own).
fn metrics_server(
    metrics: Arc<Metrics>,
    listener: TcpListener,
) -> Result<(u16, Server), StartupError> {
    let port = listener.local_addr()?.port();
    let metrics = web::Data::from(metrics);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .configure(crate::metrics::configure)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((port, server))
}
