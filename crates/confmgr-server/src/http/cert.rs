//! Vault-compatible `auth/cert/login`: the client certificate of the TLS connection is
//! the credential. The certificate is checked by `client_cert`; this maps it to a client.

use super::render::{auth_response, RequestId};
use crate::body::JsonBody;
use crate::client_cert::PresentedCert;
use crate::error::Result;
use crate::services::cert_login;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/auth/cert/login", post(login))
}

#[derive(Deserialize, Default)]
struct LoginRequest {
    /// One client's name, when a certificate matches several.
    #[serde(default)]
    name: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    presented: Option<Extension<Arc<PresentedCert>>>,
    id: RequestId,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Response> {
    let name = request.name.filter(|name| !name.trim().is_empty());
    let (token, record) = cert_login::login(
        &state.store,
        &state.access,
        presented.as_ref().map(|Extension(cert)| cert.as_ref()),
        name.as_deref(),
        peer.ip().to_canonical(),
    )
    .await?;
    Ok(auth_response(id, token.expose(), &record))
}
