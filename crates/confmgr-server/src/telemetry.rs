use crate::config::LogFormat;
use axum::extract::{MatchedPath, Request};
use std::io::IsTerminal;
use tracing::Span;
use tracing_subscriber::EnvFilter;

/// Logs go to stderr so that stdout carries only what a command is asked to print
/// (the root token from `init`, for instance). The filter was checked by the config.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The span every request's log lines carry: its id (the `X-Request-Id` the audit event
/// also records), method and route template. Never the raw path or query, which may name
/// secrets or carry tokens.
pub fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
    )
}
