//! `sys/policies/acl/:name` (and the older `sys/policy/:name` that hvac's
//! `create_or_update_policy` uses).

use super::render::{envelope, no_content, RequestId};
use super::schemas::{Policy, PolicyNames};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::policies;
use crate::state::AppState;
use axum::extract::{MatchedPath, Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use confmgr_api::VaultResponse;
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

#[derive(Deserialize, utoipa::ToSchema)]
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

#[utoipa::path(
    get,
    path = "/v1/sys/policies/acl",
    tag = "sys/policies",
    operation_id = "policies_list",
    summary = "List ACL policies",
    description = "Needs `list` on `sys/policies/acl/`. Also served at `/v1/sys/policies/acl/`; Vault's `LIST` method is accepted.",
    params(("list" = Option<bool>, Query, description = "Accepted (what Vault's `LIST` method sends)")),
    responses((status = 200, description = "The policy names", body = VaultResponse<PolicyNames>))
)]
async fn list(State(state): State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize_list("sys/policies/acl/")?;
    let keys = policies::list(&state.store).await?;
    Ok(envelope(id, json!({ "keys": keys, "policies": keys })))
}

#[utoipa::path(
    get,
    path = "/v1/sys/policy",
    tag = "sys/policies",
    operation_id = "policy_list_legacy",
    summary = "List ACL policies (older API)",
    description = "Needs `list` on `sys/policies/acl/`.",
    responses((status = 200, description = "The policy names", body = VaultResponse<PolicyNames>))
)]
async fn list_legacy(state: State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    list(state, caller, id).await
}

/// Both APIs answer the same policy; the older one calls its text `rules`.
#[utoipa::path(
    get,
    path = "/v1/sys/policies/acl/{name}",
    tag = "sys/policies",
    operation_id = "policies_read",
    summary = "Read an ACL policy",
    description = "Needs `read` on `sys/policies/acl/<name>`. The older `/v1/sys/policy/{name}` answers the same with the text in `rules`.",
    params(("name" = String, Path, description = "The policy's name")),
    responses((status = 200, description = "The policy", body = VaultResponse<Policy>))
)]
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

#[utoipa::path(
    method(put, post),
    path = "/v1/sys/policies/acl/{name}",
    tag = "sys/policies",
    operation_id = "policies_write",
    summary = "Create or replace an ACL policy",
    description = "Needs `create` or `update` on `sys/policies/acl/<name>`. The text is HCL or JSON; a policy that does not parse is refused (400). Also served at `/v1/sys/policy/{name}`.",
    params(("name" = String, Path, description = "The policy's name")),
    request_body = PolicyBody,
    responses((status = 204, description = "Saved"))
)]
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
    policies::write(&state.store, &state.access.auth_cache, &name, &text).await?;
    Ok(no_content())
}

#[utoipa::path(
    delete,
    path = "/v1/sys/policies/acl/{name}",
    tag = "sys/policies",
    operation_id = "policies_delete",
    summary = "Delete an ACL policy",
    description = "Needs `delete` on `sys/policies/acl/<name>`. Also served at `/v1/sys/policy/{name}`.",
    params(("name" = String, Path, description = "The policy's name")),
    responses((status = 204, description = "Deleted"))
)]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response> {
    caller.authorize(&acl_path(&name), Capability::Delete)?;
    policies::delete(&state.store, &state.access.auth_cache, &name).await?;
    Ok(no_content())
}
