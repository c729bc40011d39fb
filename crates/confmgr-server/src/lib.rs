//! The ConfMgr server: configuration, HTTP API, services over storage and crypto.

pub mod audit;
pub mod auth;
pub mod auth_cache;
pub mod body;
pub mod cert_expiry;
pub mod client_cert;
pub mod config;
pub mod database_iam;
pub mod error;
pub mod http;
pub mod kms;
pub mod launch;
pub mod login_guard;
pub mod metrics;
pub mod services;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod tls;

use axum::extract::Request;
use axum::ServiceExt;
use state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tower::Layer;

/// Serves the API over HTTPS on an already-bound listener until `shutdown` completes, then
/// lets in-flight requests finish for up to `grace`.
pub async fn run_tls(
    state: AppState,
    listener: std::net::TcpListener,
    tls: axum_server::tls_rustls::RustlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> std::io::Result<()> {
    let _confirming = AbortOnDrop(auth::keep_tokens_verified(state.clone()));
    let router = http::router(state);
    let app = tower::util::MapRequestLayer::new(http::rewrite_list_method).layer(router);
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(grace));
    });
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, tls)?
        .map(http::JsonErrorsAcceptor)
        .handle(handle)
        .serve(
            ServiceExt::<axum::http::Request<_>>::into_make_service_with_connect_info::<SocketAddr>(
                app,
            ),
        )
        .await
}

/// Serves the API on an already-bound listener until `shutdown` completes. Taking the
/// listener and the shutdown future lets tests bind `127.0.0.1:0` and stop deterministically.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _confirming = AbortOnDrop(auth::keep_tokens_verified(state.clone()));
    let router = http::router(state);
    // The LIST rewrite must wrap the router: routing picks the handler by method.
    let app = tower::util::MapRequestLayer::new(http::rewrite_list_method).layer(router);
    axum::serve(
        http::JsonErrorsListener(listener),
        ServiceExt::<Request>::into_make_service_with_connect_info::<http::PeerAddr>(app),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Background work that lives exactly as long as the server serving: it stops when the
/// serve future ends or is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
