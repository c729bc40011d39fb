//! `sys/*` routes that Vault clients call before anything else.

use super::render::{envelope, RequestId};
use super::schemas::{MountInfo, Status};
use crate::auth::Caller;
use crate::error::error_response;
use crate::error::{Error, Result};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use confmgr_api::sys::HealthResponse;
use confmgr_api::{ErrorBody, VaultResponse};
use serde_json::json;
use std::time::Duration;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sys/health", get(health).head(health))
        .route("/healthz", get(healthz).head(healthz))
        .route("/readyz", get(readyz).head(readyz))
        .route("/v1/sys/internal/ui/mounts/{*path}", get(mount_info))
}

/// Liveness: the process answers. Nothing else is checked, so a database outage never gets
/// the pod restarted (that is what readiness is for).
#[utoipa::path(
    method(get, head),
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    summary = "Liveness",
    description = "The process answers. Nothing else is checked, so a database outage never gets the pod restarted.",
    responses((status = 200, description = "Alive", body = Status))
)]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// How long a readiness check may wait on the database.
const READY_WITHIN: Duration = Duration::from_secs(2);

/// Readiness: the database answers and accepts writes (every audited request needs one), each
/// within `READY_WITHIN`. 503 names what failed; details go to the log, not to this
/// unauthenticated answer.
#[utoipa::path(
    method(get, head),
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    summary = "Readiness",
    description = "The database answers and accepts writes (every audited request needs one), each within 2 s, and the server is not draining after SIGTERM. Unauthenticated; details go to the server log.",
    responses((status = 200, description = "Ready", body = Status), (status = 503, description = "Storage unreachable, the audit log unwritable, or the server draining before shutdown: `errors` names which", body = ErrorBody))
)]
async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.is_draining() {
        // Shutting down: traffic should go elsewhere, though requests are still served.
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            vec!["draining: this server is shutting down".to_owned()],
        );
    }
    let mut problems = Vec::new();
    match tokio::time::timeout(READY_WITHIN, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: storage unreachable");
            problems.push("storage unreachable".to_owned());
        }
        Err(_) => problems.push(format!(
            "storage did not answer within {}s",
            READY_WITHIN.as_secs()
        )),
    }
    if problems.is_empty() {
        let probe = async {
            let mut tx = state.store.begin_write().await?;
            tx.probe_write().await
        };
        match tokio::time::timeout(READY_WITHIN, probe).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: database refuses writes");
                problems.push("audit log unwritable: the database refuses writes".to_owned());
            }
            Err(_) => problems.push(format!(
                "audit log unwritable: no write transaction within {}s",
                READY_WITHIN.as_secs()
            )),
        }
    }
    if problems.is_empty() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        error_response(StatusCode::SERVICE_UNAVAILABLE, problems)
    }
}

/// Vault lets a probe choose the status of a healthy answer (`?activecode=204`); ConfMgr is
/// always initialized, unsealed and active, so only `activecode` applies.
/// Taken as text so that any spelling is refused in our words.
#[derive(serde::Deserialize)]
struct HealthQuery {
    activecode: Option<String>,
}

/// The status a healthy answer carries: 200 unless `activecode` names one from 200 to 599
/// (below 200 is not a final answer; above 599 is not HTTP), else 400.
fn active_status(activecode: Option<&str>) -> Result<StatusCode> {
    let Some(raw) = activecode else {
        return Ok(StatusCode::OK);
    };
    raw.parse::<u16>()
        .ok()
        .filter(|code| (200..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| Error::Invalid("activecode must be an HTTP status from 200 to 599".into()))
}

/// Unauthenticated, bare JSON (no envelope), as Vault answers it.
#[utoipa::path(
    method(get, head),
    path = "/v1/sys/health",
    tag = "sys",
    operation_id = "sys_health",
    summary = "Vault-style health",
    description = "Unauthenticated, bare JSON (no envelope), as Vault answers it. ConfMgr is always initialized, unsealed and active.",
    params(("activecode" = Option<u16>, Query, description = "The status to answer when healthy, 200 to 599 (default 200)")),
    responses((status = 200, description = "Healthy (or the `activecode` status)", body = HealthResponse), (status = 400, description = "`activecode` is not a status from 200 to 599", body = ErrorBody))
)]
async fn health(Query(query): Query<HealthQuery>) -> Result<Response> {
    let status = active_status(query.activecode.as_deref())?;
    let body = Json(HealthResponse {
        initialized: true,
        sealed: false,
        standby: false,
        performance_standby: false,
        replication_performance_mode: "disabled".into(),
        replication_dr_mode: "disabled".into(),
        server_time_utc: chrono::Utc::now().timestamp(),
        version: env!("CARGO_PKG_VERSION").into(),
        cluster_name: "confmgr".into(),
    });
    Ok((status, body).into_response())
}

/// The vault CLI asks which engine serves a path before every `kv` command; a 404 would make
/// it fall back to KV v1, so the `secret` mount answers as KV v2.
#[utoipa::path(
    get,
    path = "/v1/sys/internal/ui/mounts/{path}",
    tag = "sys",
    operation_id = "sys_mount_info",
    summary = "Describe the mount that serves a path",
    description = "Any valid token. The vault CLI asks this before every `kv` command; paths under `secret/` answer KV v2, others 404.",
    params(("path" = String, Path, description = "A path such as `secret/app/db`; may contain `/`")),
    responses((status = 200, description = "The mount", body = VaultResponse<MountInfo>))
)]
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
