//! Vault-compatible `auth/cert/login`: the client certificate of the TLS connection is
//! the credential. The certificate is checked by `client_cert`; this maps it to a client.

use super::render::{auth_response, RequestId};
use super::schemas::AuthResponse;
use crate::body::JsonBody;
use crate::client_cert::PresentedCert;
use crate::error::Result;
use crate::services::cert_login;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use confmgr_api::ErrorBody;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/auth/cert/login", post(login))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = CertLoginRequest)]
struct LoginRequest {
    /// One client's name, when a certificate matches several.
    #[serde(default)]
    name: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/auth/cert/login",
    tag = "auth/cert",
    operation_id = "cert_login",
    summary = "Log in with the TLS client certificate",
    description = "Unauthenticated: the credential is the client certificate of the TLS connection, verified against `CONFMGR_TLS_CLIENT_CA`, matched to an API client by CN, DNS SAN or URI SAN. Failed attempts are rate-limited like AppRole logins.",
    request_body = LoginRequest,
    responses((status = 200, description = "Logged in", body = AuthResponse), (status = 400, description = "No certificate, or it matches several clients and `name` is missing", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody))
)]
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
