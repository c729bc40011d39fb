//! `sys/keys/*`: keyring rotation, status, rewrap and retirement (ConfMgr's own; Vault's
//! `sys/rotate` and `sys/key-status` are accepted as aliases for rotate and status).

use super::render::{envelope, no_content, RequestId};
use super::schemas::{KeyStatus, Rotated};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::keys;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use confmgr_api::{ErrorBody, VaultResponse};
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

#[utoipa::path(
    method(post, put),
    path = "/v1/sys/keys/rotate",
    tag = "sys/keys",
    operation_id = "keys_rotate",
    summary = "Start a new keyring term",
    description = "Needs `update` or `sudo` on `sys/keys/rotate`. New data keys are wrapped by the new term; old ones stay readable until rewrapped. Refused (400) while the keyring holds 32 terms: rewrap, retire old terms, then rotate. Also served at Vault's `/v1/sys/rotate`.",
    responses((status = 200, description = "The new term", body = VaultResponse<Rotated>), (status = 400, description = "The keyring holds the most terms it may: the message says to rewrap and retire first", body = ErrorBody))
)]
async fn rotate(State(state): State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize_any("sys/keys/rotate", &[Capability::Update, Capability::Sudo])?;
    let term = keys::rotate(&state.store, &state.root_key, &state.keyring).await?;
    Ok(envelope(id, json!({ "term": term })))
}

#[utoipa::path(
    get,
    path = "/v1/sys/keys/status",
    tag = "sys/keys",
    operation_id = "keys_status",
    summary = "Keyring terms and rewrap progress",
    description = "Needs `read` on `sys/keys/status`. Also served at Vault's `/v1/sys/key-status`.",
    responses((status = 200, description = "The keyring", body = VaultResponse<KeyStatus>))
)]
async fn status(State(state): State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize("sys/keys/status", Capability::Read)?;
    let status = keys::status(&state.store, &state.keyring).await?;
    Ok(envelope(id, status))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/sys/keys/rewrap",
    tag = "sys/keys",
    operation_id = "keys_rewrap",
    summary = "Re-wrap every data key with the active term, in the background",
    description = "Needs `update` or `sudo` on `sys/keys/rewrap`. Resumes after a restart; progress in `sys/keys/status`.",
    responses((status = 204, description = "Requested"))
)]
async fn rewrap(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    caller.authorize_any("sys/keys/rewrap", &[Capability::Update, Capability::Sudo])?;
    keys::request_rewrap(&state.store).await?;
    Ok(no_content())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RetireRequest {
    term: Option<i64>,
}

#[utoipa::path(
    method(post, put),
    path = "/v1/sys/keys/retire",
    tag = "sys/keys",
    operation_id = "keys_retire",
    summary = "Retire an old keyring term",
    description = "Needs `update` or `sudo` on `sys/keys/retire`. Refused (400) while data keys are still wrapped by it, for the newest term, or within 10 s of the newest term's creation.",
    request_body = RetireRequest,
    responses((status = 204, description = "Retired"))
)]
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
