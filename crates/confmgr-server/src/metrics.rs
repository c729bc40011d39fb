//! `/metrics`: Prometheus (OpenMetrics text) exposition. One registry per server, held in
//! the state, so tests running several servers in one process do not share numbers.
//! Label values are fixed names and file paths, never secret paths or tokens.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    certificate_days_left: Family<Labels, Gauge>,
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
        Arc::new(Self {
            registry,
            certificate_days_left,
        })
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

pub async fn serve(State(state): State<crate::state::AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
