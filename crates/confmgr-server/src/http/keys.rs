//! `sys/keys/*`: keyring rotation, status, rewrap and retirement (ConfMgr's own; Vault's
//! `sys/rotate` and `sys/key-status` are accepted as aliases for rotate and status).

use super::render::{envelope, no_content, RequestId};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::keys;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use confmgr_core::policy::Capability;
use serde::Deserialize;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sys/keys/rotate", post(rotate).put(rotate))
        .route("/v1/sys/rotate", post(rotate).put(rotate))
        .route("/v1/sys/keys/status", get(status))
        .route("/v1/sys/key-status", get(status))
        .route("/v1/sys/keys/rewrap", post(rewrap).put(rewrap))
        .route("/v1/sys/keys/retire", post(retire).put(retire))
}

async fn rotate(State(state): State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize_any("sys/keys/rotate", &[Capability::Update, Capability::Sudo])?;
    let term = keys::rotate(&state.store, &state.root_key, &state.keyring).await?;
    Ok(envelope(id, json!({ "term": term })))
}

async fn status(State(state): State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize("sys/keys/status", Capability::Read)?;
    let status = keys::status(&state.store, &state.keyring).await?;
    Ok(envelope(id, status))
}

async fn rewrap(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    caller.authorize_any("sys/keys/rewrap", &[Capability::Update, Capability::Sudo])?;
    keys::request_rewrap(&state.store).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct RetireRequest {
    term: Option<i64>,
}

async fn retire(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<RetireRequest>,
) -> Result<Response> {
    caller.authorize_any("sys/keys/retire", &[Capability::Update, Capability::Sudo])?;
    let term = request
        .term
        .filter(|t| *t > 0)
        .ok_or_else(|| Error::Invalid("missing \"term\": the keyring term to retire".into()))?;
    keys::retire(&state.store, &state.keyring, term).await?;
    Ok(no_content())
}
