//! Prometheus metrics, served on a listener of their own (`server.metrics_address`; off by
//! default) in the OpenMetrics text format at `GET /metrics`.
//!
//! Labels are bounded and name no one: route templates (`/api/v1/users/{id}`, never a raw
//! path), methods, status codes, event kinds, outcomes, grant types, throttle buckets and
//! statement kinds. No account, address, client, IP or path value is ever a label.
//!
//! What is counted where: requests by the middleware here ([`track`]); sign-ins, security
//! events, throttle refusals and grants by the use cases through the domain's
//! [`Meter`] port, which [`Metrics`] implements (emails by the courier's tries); the hashing
//! pool, the database pools, statements and the session cache by their own crates' figures,
//! read at each scrape.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_domain::meter::{LoginOutcome, MailOutcome, Meter};
use gatehouse_domain::throttle::Bucket;
use gatehouse_persistence::Database;
use gatehouse_security::pool::HashingPool;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::RwLock;

/// Request latencies, in seconds: 0.5 ms to 10 s.
const LATENCY: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Statement latencies, in seconds: 50 µs to 5 s.
const STATEMENT: [f64; 13] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 5.0,
];
/// Waits for a hashing worker, in seconds: none to 5 s.
const HASHING_WAIT: [f64; 12] = [
    0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Arc<str>,
    status: u16,
}

/// The most paths whose route template is remembered: only paths that are their own template
/// (routes without parameters), so what clients send cannot fill it; bounded all the same.
const REMEMBERED_PATHS: usize = 1024;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabels {
    bucket: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatementLabels {
    statement: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: &'static str,
}

/// Every metric of one running application, and its registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    /// Route templates of parameterless routes, by path: finding a path's template walks the
    /// routing table.
    routes: RwLock<HashMap<String, Arc<str>>>,
    events: Family<EventLabels, Counter>,
    logins: Family<OutcomeLabels, Counter>,
    throttled: Family<BucketLabels, Counter>,
    grants: Family<GrantLabels, Counter>,
    emails: Family<OutcomeLabels, Counter>,
    hashing_wait: Histogram,
    hashing_queued: Gauge,
    hashing_refused: Counter,
    statements: Family<StatementLabels, Histogram, fn() -> Histogram>,
    statement_errors: Family<StatementLabels, Counter>,
    connections: Family<PoolLabels, Gauge>,
    cache: Family<CacheLabels, Counter>,
    /// The figures read at each scrape.
    sources: std::sync::OnceLock<Sources>,
}

/// What is read at each scrape.
struct Sources {
    database: Database,
    hashing: Arc<HashingPool>,
}

fn request_histogram() -> Histogram {
    Histogram::new(LATENCY.iter().copied())
}

fn statement_histogram() -> Histogram {
    Histogram::new(STATEMENT.iter().copied())
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let metrics = Self {
            requests: Family::new_with_constructor(request_histogram),
            routes: RwLock::default(),
            events: Family::default(),
            logins: Family::default(),
            throttled: Family::default(),
            grants: Family::default(),
            emails: Family::default(),
            hashing_wait: Histogram::new(HASHING_WAIT.iter().copied()),
            hashing_queued: Gauge::default(),
            hashing_refused: Counter::default(),
            statements: Family::new_with_constructor(statement_histogram),
            statement_errors: Family::default(),
            connections: Family::default(),
            cache: Family::default(),
            sources: std::sync::OnceLock::new(),
            registry: Registry::default(),
        };
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by method, route template and status (its _count: the requests answered)",
            metrics.requests.clone(),
        );
        registry.register(
            "security_events",
            "Security events recorded in the audit trail, by kind",
            metrics.events.clone(),
        );
        registry.register(
            "logins",
            "Sign-ins by outcome: success, wrong_password, throttled, second_factor_asked, second_factor_failed",
            metrics.logins.clone(),
        );
        registry.register(
            "throttle_refusals",
            "Requests refused by a brute-force limit, by bucket",
            metrics.throttled.clone(),
        );
        registry.register(
            "token_grants",
            "Token endpoint requests by grant type and outcome (issued or refused)",
            metrics.grants.clone(),
        );
        registry.register(
            "emails",
            "Tries to deliver queued emails: taken by the transport (sent), failed and due again (retried), failed for the last time (dead)",
            metrics.emails.clone(),
        );
        registry.register(
            "hashing_wait_seconds",
            "Time a password hash waited for a hashing worker",
            metrics.hashing_wait.clone(),
        );
        registry.register(
            "hashing_queue_depth",
            "Password hashes waiting for a worker now",
            metrics.hashing_queued.clone(),
        );
        registry.register(
            "hashing_refused",
            "Password hashes refused because the queue was full (answered 503)",
            metrics.hashing_refused.clone(),
        );
        registry.register(
            "db_statement_duration_seconds",
            "Time a database statement took, by kind (select, insert, update, delete, begin, commit, ...)",
            metrics.statements.clone(),
        );
        registry.register(
            "db_statement_errors",
            "Database statements that failed, by kind",
            metrics.statement_errors.clone(),
        );
        registry.register(
            "db_connections",
            "Database connections by pool (shared, or read and write on SQLite) and state (idle, busy, max)",
            metrics.connections.clone(),
        );
        registry.register(
            "session_cache_lookups",
            "Per-request session lookups answered from memory (hit) or the database (miss)",
            metrics.cache.clone(),
        );
        // The outcomes and buckets dashboards and alerts read are shown from the start,
        // at zero.
        for outcome in LoginOutcome::ALL {
            drop(metrics.logins.get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            }));
        }
        for bucket in Bucket::ALL {
            drop(metrics.throttled.get_or_create(&BucketLabels {
                bucket: bucket.as_str(),
            }));
        }
        for outcome in MailOutcome::ALL {
            drop(metrics.emails.get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            }));
        }
        Self {
            registry,
            ..metrics
        }
    }

    /// Reads the database's and the hashing pool's figures at each scrape, and has the
    /// database report every statement (before the stores are built from it).
    pub fn watch(self: &Arc<Self>, database: &mut Database, hashing: Arc<HashingPool>) {
        let statements = self.clone();
        database.observe_statements(Arc::new(move |kind, elapsed, failed| {
            let labels = StatementLabels { statement: kind };
            statements
                .statements
                .get_or_create(&labels)
                .observe(elapsed.as_secs_f64());
            if failed {
                statements.statement_errors.get_or_create(&labels).inc();
            }
        }));
        let waits = self.clone();
        hashing.observe_waits(Arc::new(move |waited: Duration| {
            waits.hashing_wait.observe(waited.as_secs_f64())
        }));
        let _ = self.sources.set(Sources {
            database: database.clone(),
            hashing,
        });
    }

    /// The OpenMetrics text of every metric now.
    pub fn render(&self) -> String {
        if let Some(sources) = self.sources.get() {
            for pool in sources.database.pool_use() {
                let busy = pool.open.saturating_sub(pool.idle);
                for (state, value) in [("idle", pool.idle), ("busy", busy), ("max", pool.max)] {
                    self.connections
                        .get_or_create(&PoolLabels {
                            pool: pool.pool,
                            state,
                        })
                        .set(i64::from(value));
                }
            }
            let (hits, misses) = sources.database.session_cache_counts();
            for (result, value) in [("hit", hits), ("miss", misses)] {
                self.cache
                    .get_or_create(&CacheLabels { result })
                    .inner()
                    .store(value, Ordering::Relaxed);
            }
            self.hashing_queued
                .set(i64::try_from(sources.hashing.queued()).unwrap_or(i64::MAX));
            self.hashing_refused
                .inner()
                .store(sources.hashing.refused(), Ordering::Relaxed);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn request(&self, request: &HttpRequest, status: u16, elapsed: Duration) {
        let labels = RequestLabels {
            method: method_of(request.method()),
            route: self.route(request),
            status,
        };
        self.requests
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The route template `request` was routed by, or `unmatched`.
    fn route(&self, request: &HttpRequest) -> Arc<str> {
        let path = request.path();
        let known = self
            .routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(path)
            .cloned();
        if let Some(route) = known {
            return route;
        }
        let route: Arc<str> = request
            .match_pattern()
            .map_or_else(|| Arc::from("unmatched"), Arc::from);
        if *route == *path {
            let mut routes = self
                .routes
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if routes.len() < REMEMBERED_PATHS {
                routes.insert(path.to_owned(), route.clone());
            }
        }
        route
    }
}

impl Meter for Metrics {
    fn event(&self, kind: &'static str) {
        self.events
            .get_or_create(&EventLabels { event: kind })
            .inc();
    }

    fn login(&self, outcome: LoginOutcome) {
        self.logins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    fn throttled(&self, bucket: &'static str) {
        self.throttled.get_or_create(&BucketLabels { bucket }).inc();
    }

    fn grant(&self, grant: &'static str, issued: bool) {
        self.grants
            .get_or_create(&GrantLabels {
                grant_type: grant,
                outcome: if issued { "issued" } else { "refused" },
            })
            .inc();
    }

    fn mail(&self, outcome: MailOutcome) {
        self.emails
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }
}

/// Counts every request: its method, route template (`unmatched` when no route took it)
/// and status, and how long it took.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.request(
            response.request(),
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}

/// A request's method as a label: the standard ones, `other` for the rest (a client may send
/// any token as a method).
fn method_of(method: &Method) -> &'static str {
    [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
    ]
    .into_iter()
    .find(|(standard, _)| standard == method)
    .map_or("other", |(_, name)| name)
}

/// `GET /metrics` on the metrics listener.
async fn scrape(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics.render())
}

/// The metrics listener's routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config.route("/metrics", web::get().to(scrape));
}
