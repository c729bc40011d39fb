//! `sys/policies/acl/:name` (and the older `sys/policy/:name` that hvac's
//! `create_or_update_policy` uses).

use super::render::{envelope, no_content, RequestId};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::policies;
use crate::state::AppState;
use axum::extract::{MatchedPath, Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use confmgr_core::policy::Capability;
use serde::Deserialize;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sys/policies/acl", get(list))
        .route("/v1/sys/policies/acl/", get(list))
        .route(
            "/v1/sys/policies/acl/{name}",
            get(read).put(write).post(write).delete(delete),
        )
        .route("/v1/sys/policy", get(list_legacy))
        .route(
            "/v1/sys/policy/{name}",
            get(read).put(write).post(write).delete(delete),
        )
}

#[derive(Deserialize)]
struct PolicyBody {
    #[serde(default)]
    policy: Option<String>,
    /// The older API's name for the same text.
    #[serde(default)]
    rules: Option<String>,
}

fn acl_path(name: &str) -> String {
    format!("sys/policies/acl/{name}")
}

async fn list(State(state): State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize_list("sys/policies/acl/")?;
    let keys = policies::list(&state.store).await?;
    Ok(envelope(id, json!({ "keys": keys, "policies": keys })))
}

async fn list_legacy(state: State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    list(state, caller, id).await
}

/// Both APIs answer the same policy; the older one calls its text `rules`.
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    route: MatchedPath,
    Path(name): Path<String>,
) -> Result<Response> {
    caller.authorize(&acl_path(&name), Capability::Read)?;
    let (name, text) = policies::read(&state.store, &name).await?;
    let field = if route.as_str().starts_with("/v1/sys/policy/") {
        "rules"
    } else {
        "policy"
    };
    Ok(envelope(id, json!({ "name": name, field: text })))
}

async fn write(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> Result<Response> {
    caller.authorize_any(&acl_path(&name), &[Capability::Create, Capability::Update])?;
    let text = body
        .policy
        .or(body.rules)
        .ok_or_else(|| Error::Invalid("'policy' parameter not supplied or empty".into()))?;
    policies::write(&state.store, &name, &text).await?;
    Ok(no_content())
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response> {
    caller.authorize(&acl_path(&name), Capability::Delete)?;
    policies::delete(&state.store, &name).await?;
    Ok(no_content())
}
