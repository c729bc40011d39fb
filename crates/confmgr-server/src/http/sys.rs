//! `sys/*` routes that Vault clients call before anything else.

use super::render::{envelope, RequestId};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::state::AppState;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use confmgr_api::sys::HealthResponse;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sys/health", get(health).head(health))
        .route("/v1/sys/internal/ui/mounts/{*path}", get(mount_info))
}

/// Unauthenticated, bare JSON (no envelope), as Vault answers it.
async fn health() -> Json<HealthResponse> {
    Json(HealthResponse {
        initialized: true,
        sealed: false,
        standby: false,
        performance_standby: false,
        replication_performance_mode: "disabled".into(),
        replication_dr_mode: "disabled".into(),
        server_time_utc: chrono::Utc::now().timestamp(),
        version: env!("CARGO_PKG_VERSION").into(),
        cluster_name: "confmgr".into(),
    })
}

/// The vault CLI asks which engine serves a path before every `kv` command; a 404 would make
/// it fall back to KV v1, so the `secret` mount answers as KV v2.
async fn mount_info(_caller: Caller, id: RequestId, Path(raw): Path<String>) -> Result<Response> {
    let first = raw.trim_start_matches('/').split('/').next().unwrap_or("");
    if first != "secret" {
        return Err(Error::NotFound);
    }
    let data = json!({
        "type": "kv",
        "path": "secret/",
        "description": "key/value secret storage",
        "accessor": "kv_secret",
        "local": false,
        "seal_wrap": false,
        "external_entropy_access": false,
        "options": {"version": "2"},
        "config": {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": false},
    });
    Ok(envelope(id, data).into_response())
}
