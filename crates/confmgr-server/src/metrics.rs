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
    keyring_active_term: Gauge,
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
            "Login attempts by method (approle, cert) and outcome (success, failure, rate_limited)",
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
            "Database pool connections by state (in_use, idle), at scrape time",
            db_connections.clone(),
        );
        let keyring_active_term = Gauge::default();
        registry.register(
            "keyring_active_term",
            "The keyring term wrapping new data keys",
            keyring_active_term.clone(),
        );
        Arc::new(Self {
            registry,
            certificate_days_left,
            http_requests,
            http_duration,
            logins,
            rate_limited,
            db_connections,
            keyring_active_term,
        })
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

pub async fn serve(State(state): State<crate::state::AppState>) -> Response {
    let (size, idle) = state.store.pool_connections();
    let metrics = &state.metrics;
    metrics
        .db_connections
        .get_or_create(&labels(&[("state", "in_use")]))
        .set(i64::from(size.saturating_sub(idle)));
    metrics
        .db_connections
        .get_or_create(&labels(&[("state", "idle")]))
        .set(i64::from(idle));
    metrics
        .keyring_active_term
        .set(state.keyring.active_term().unwrap_or(0));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
