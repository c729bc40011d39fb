//! `/metrics`: Prometheus (OpenMetrics text) exposition. One registry per server, held in
//! the state, so tests running several servers in one process do not share numbers.
//! Label values are fixed names and file paths, never secret paths or tokens.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

type Labels = Vec<(String, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub struct Metrics {
    registry: Registry,
    certificate_days_left: Family<Labels, Gauge>,
    http_requests: Family<Labels, Counter>,
    http_duration: Histograms,
    logins: Family<Labels, Counter>,
    rate_limited: Counter,
    db_connections: Family<Labels, Gauge>,
    db_circuit_open: Gauge,
    db_circuit_opened: Counter,
    keyring_active_term: Gauge,
    keyring_wrapped_keys: Family<Labels, Gauge>,
    audit_batch_size: Histogram,
    audit_commit_seconds: Histogram,
    audit_write_failures: Counter,
    audit_unsealed_events: Gauge,
    audit_seal_lag_seconds: Gauge<f64, AtomicU64>,
    auth_cache_hits: Counter,
    auth_cache_misses: Counter,
    tokens_confirmed_by_marker: Counter,
    tokens_read_again: Counter,
}

/// How the background pass confirmed cached tokens.
#[derive(Clone, Copy, Debug)]
pub enum Confirmation {
    /// The access-change marker showed that no token or policy changed.
    MarkerUnchanged,
    /// Read again from the database.
    ReadAgain,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("confmgr");
        let build_info = Family::<Labels, Gauge>::default();
        registry.register(
            "build_info",
            "ConfMgr build: the version label, value 1",
            build_info.clone(),
        );
        build_info
            .get_or_create(&vec![(
                "version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )])
            .set(1);
        let certificate_days_left = Family::<Labels, Gauge>::default();
        registry.register(
            "certificate_days_left",
            "Whole days until the certificate expires (negative once expired), per certificate the server holds",
            certificate_days_left.clone(),
        );
        let http_requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route template, method and status",
            http_requests.clone(),
        );
        let http_duration: Histograms = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route template and method",
            http_duration.clone(),
        );
        let logins = Family::<Labels, Counter>::default();
        registry.register(
            "logins",
            "Login attempts by method (approle, cert) and outcome (success, failure, rate_limited, error)",
            logins.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429 by the login limits",
            rate_limited.clone(),
        );
        let db_connections = Family::<Labels, Gauge>::default();
        registry.register(
            "db_connections",
            "Database pool connections by state (in_use, idle) and callers waiting for one (waiting), at scrape time",
            db_connections.clone(),
        );
        let db_circuit_open = Gauge::default();
        registry.register(
            "db_circuit_open",
            "1 while the database refuses connections and requests that need it answer 503 at once (PostgreSQL only), at scrape time",
            db_circuit_open.clone(),
        );
        let db_circuit_opened = Counter::default();
        registry.register(
            "db_circuit_opened",
            "Times the database refused a connection and requests began failing at once",
            db_circuit_opened.clone(),
        );
        let keyring_active_term = Gauge::default();
        registry.register(
            "keyring_active_term",
            "The keyring term wrapping new data keys",
            keyring_active_term.clone(),
        );
        let keyring_wrapped_keys = Family::<Labels, Gauge>::default();
        registry.register(
            "keyring_wrapped_keys",
            "Stored data keys wrapped by each keyring term, at scrape time (rewrap moves them to the newest term)",
            keyring_wrapped_keys.clone(),
        );
        let audit_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "audit_batch_size",
            "Audit events written per group commit",
            audit_batch_size.clone(),
        );
        let audit_commit_seconds = latency_histogram();
        registry.register(
            "audit_commit_seconds",
            "Time to insert and commit one audit group",
            audit_commit_seconds.clone(),
        );
        let audit_write_failures = Counter::default();
        registry.register(
            "audit_write_failures",
            "Audit groups that could not be written (their requests answered 503)",
            audit_write_failures.clone(),
        );
        let audit_unsealed_events = Gauge::default();
        registry.register(
            "audit_unsealed_events",
            "Audit events not yet sealed into the hash chain, at scrape time",
            audit_unsealed_events.clone(),
        );
        let audit_seal_lag_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "audit_seal_lag_seconds",
            "Age of the oldest unsealed audit event (0 when all are sealed), at scrape time",
            audit_seal_lag_seconds.clone(),
        );
        let auth_cache_lookups = Family::<Labels, Counter>::default();
        registry.register(
            "auth_cache_lookups",
            "Token checks by result: hit (answered by the auth cache) or miss (read from the database)",
            auth_cache_lookups.clone(),
        );
        // Fetched once: looking a label set up in the family on every request costs more
        // than the count.
        let auth_cache_hits = auth_cache_lookups
            .get_or_create(&labels(&[("result", "hit")]))
            .clone();
        let auth_cache_misses = auth_cache_lookups
            .get_or_create(&labels(&[("result", "miss")]))
            .clone();
        let auth_tokens_confirmed = Family::<Labels, Counter>::default();
        registry.register(
            "auth_tokens_confirmed",
            "Cached tokens in use confirmed again in the background, so requests did not have to look them up: by marker (no token or policy changed) or read (read again from the database)",
            auth_tokens_confirmed.clone(),
        );
        let tokens_confirmed_by_marker = auth_tokens_confirmed
            .get_or_create(&labels(&[("by", "marker")]))
            .clone();
        let tokens_read_again = auth_tokens_confirmed
            .get_or_create(&labels(&[("by", "read")]))
            .clone();
        Arc::new(Self {
            auth_cache_hits,
            auth_cache_misses,
            tokens_confirmed_by_marker,
            tokens_read_again,
            audit_batch_size,
            audit_commit_seconds,
            audit_write_failures,
            audit_unsealed_events,
            audit_seal_lag_seconds,
            registry,
            certificate_days_left,
            http_requests,
            http_duration,
            logins,
            rate_limited,
            db_connections,
            db_circuit_open,
            db_circuit_opened,
            keyring_active_term,
            keyring_wrapped_keys,
        })
    }

    pub fn count_auth_cache(&self, hit: bool) {
        if hit {
            self.auth_cache_hits.inc();
        } else {
            self.auth_cache_misses.inc();
        }
    }

    pub fn count_tokens_confirmed(&self, how: Confirmation, tokens: usize) {
        let counter = match how {
            Confirmation::MarkerUnchanged => &self.tokens_confirmed_by_marker,
            Confirmation::ReadAgain => &self.tokens_read_again,
        };
        counter.inc_by(tokens as u64);
    }

    /// One group commit of the audit writer.
    pub fn observe_audit_batch(&self, events: usize, seconds: f64, committed: bool) {
        self.audit_batch_size.observe(events as f64);
        self.audit_commit_seconds.observe(seconds);
        if !committed {
            self.audit_write_failures.inc();
        }
    }

    fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.http_requests
            .get_or_create(&labels(&[
                ("route", route),
                ("method", method),
                ("status", &status),
            ]))
            .inc();
        self.http_duration
            .get_or_create(&labels(&[("route", route), ("method", method)]))
            .observe(seconds);
        let login = match route {
            "/v1/auth/approle/login" => Some("approle"),
            "/v1/auth/cert/login" => Some("cert"),
            _ => None,
        };
        if status == "429" {
            self.rate_limited.inc();
        }
        if let Some(login) = login {
            let outcome = match status.as_str() {
                "200" => "success",
                "429" => "rate_limited",
                // The server failed, not the caller's credentials.
                s if s.starts_with('5') => "error",
                _ => "failure",
            };
            self.logins
                .get_or_create(&labels(&[("method", login), ("outcome", outcome)]))
                .inc();
        }
    }

    /// `certificate` names the setting (`CONFMGR_TLS_CERT`, ...), `path` the file.
    pub fn set_certificate_days_left(&self, certificate: &str, path: &str, days: i64) {
        self.certificate_days_left
            .get_or_create(&vec![
                ("certificate".to_owned(), certificate.to_owned()),
                ("path".to_owned(), path.to_owned()),
            ])
            .set(days);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Middleware: counts and times every request by its route template (never the raw path,
/// which may name secrets).
pub async fn track(
    State(state): State<crate::state::AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// What the metrics read from the database at scrape time: the unsealed audit summary
/// (when audit is on) and the keys each term wraps, in one read transaction.
struct StoredGauges {
    unsealed: Option<(i64, Option<i64>)>,
    terms: Vec<confmgr_store::TermUsage>,
}

async fn stored_gauges(
    store: &confmgr_store::Store,
    audit_enabled: bool,
) -> Result<StoredGauges, confmgr_store::StoreError> {
    let mut tx = store.begin().await?;
    let unsealed = if audit_enabled {
        Some(tx.unsealed_summary().await?)
    } else {
        None
    };
    let terms = tx.term_usage().await?;
    tx.commit().await?;
    Ok(StoredGauges { unsealed, terms })
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    description = "Unauthenticated, OpenMetrics text. Labels carry route templates, never secret paths. The metrics are listed in doc/operations.md.",
    responses((status = 200, description = "The metrics", content_type = "application/openmetrics-text"))
)]
pub async fn serve(State(state): State<crate::state::AppState>) -> Response {
    let pool = state.store.pool_stats();
    let metrics = &state.metrics;
    for (name, value) in [
        ("in_use", pool.in_use),
        ("idle", pool.idle),
        ("waiting", pool.waiting),
    ] {
        metrics
            .db_connections
            .get_or_create(&labels(&[("state", name)]))
            .set(i64::from(value));
    }
    if let Some(circuit) = state.store.circuit_stats() {
        metrics.db_circuit_open.set(i64::from(circuit.open));
        let seen = metrics.db_circuit_opened.get();
        metrics
            .db_circuit_opened
            .inc_by(circuit.opened.saturating_sub(seen));
    }
    metrics
        .keyring_active_term
        .set(state.keyring.active_term().unwrap_or(0));
    // A database outage leaves these at their last values; the request and readiness
    // metrics show the outage.
    if let Ok(stored) = stored_gauges(&state.store, state.audit.settings().enabled).await {
        if let Some((unsealed, oldest)) = stored.unsealed {
            metrics.audit_unsealed_events.set(unsealed);
            let lag = oldest.map_or(0.0, |time| {
                (confmgr_core::time::now_micros() - time).max(0) as f64 / 1e6
            });
            metrics.audit_seal_lag_seconds.set(lag);
        }
        // Retired terms drop out of the series.
        metrics.keyring_wrapped_keys.clear();
        for usage in stored.terms {
            metrics
                .keyring_wrapped_keys
                .get_or_create(&labels(&[("term", &usage.term.to_string())]))
                .set(usage.wrapped_keys);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
