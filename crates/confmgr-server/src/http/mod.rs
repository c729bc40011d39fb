//! The HTTP surface: one router per resource, merged here, wrapped in the limits every
//! route shares (body size, timeout, request id, JSON error bodies, the `LIST` method).

mod approle;
mod approle_fields;
mod approle_secret_ids;
mod audit;
mod capabilities;
mod cert;
mod docs;
mod flex;
mod keys;
mod kv;
mod legacy;
mod middleware;
mod openapi;
mod policies;
mod raw_errors;
mod render;
mod schemas;
mod sys;
mod token;
mod token_roles;
mod wrapping;

use crate::error::error_response;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use middleware::rewrite_list_method;
pub use openapi::document as openapi_document;
pub use raw_errors::{JsonErrorsAcceptor, JsonErrorsListener, PeerAddr};

pub fn api_router() -> Router<AppState> {
    Router::new()
        .merge(kv::router())
        .merge(sys::router())
        .merge(token::router())
        .merge(token_roles::router())
        .merge(capabilities::router())
        .merge(approle::router())
        .merge(cert::router())
        .merge(keys::router())
        .merge(policies::router())
        .merge(audit::router())
        .route("/metrics", axum::routing::get(crate::metrics::serve))
        .route("/openapi.json", axum::routing::get(openapi::serve))
        .merge(docs::router())
        .merge(legacy::router())
        .merge(wrapping::router())
}

/// The routes with every shared layer, ready to serve (still missing the `LIST` rewrite,
/// which must run before routing: see `crate::app`).
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    api_router()
        .fallback(|| async {
            error_response(StatusCode::NOT_FOUND, vec!["no handler for route".into()])
        })
        // Innermost first: each `layer` wraps everything above it.
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(state.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            wrapping::wrap_responses,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn(middleware::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::client_cert::require,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::audit::record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::client_cert::inspect,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::from_fn(middleware::sanitize_request_id))
        .layer(axum::middleware::from_fn(
            middleware::finish_despite_hang_up,
        ))
        .layer(axum::middleware::from_fn(middleware::peer_address))
        .with_state(state)
}
