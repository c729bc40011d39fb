//! Vault's token roles: `auth/token/roles/:name` (create, read, list, delete). Tokens are
//! created against them at `auth/token/create/:name` (`token.rs`).

use super::flex::{Flex, NotList};
use super::render::{envelope, no_content, RequestId};
use super::schemas::Keys;
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::token_roles::{self, RoleUpdate};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use confmgr_api::{ErrorBody, VaultResponse};
use confmgr_core::policy::Capability;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/token/roles", get(list))
        .route("/v1/auth/token/roles/", get(list))
        .route(
            "/v1/auth/token/roles/{name}",
            get(read).post(write).put(write).delete(delete),
        )
}

fn role_path(name: &str) -> String {
    format!("auth/token/roles/{name}")
}

/// Every field Vault documents for token roles; those ConfMgr cannot honour are refused
/// when they would restrict or grant something (never silently dropped), and any other
/// field answers 400 naming it.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TokenRoleRequest)]
struct RoleBody {
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    allowed_policies: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    disallowed_policies: Flex,
    /// Refused unless empty: policy globs are not supported.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    allowed_policies_glob: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    disallowed_policies_glob: Flex,
    #[serde(default)]
    orphan: Option<bool>,
    #[serde(default)]
    renewable: Option<bool>,
    #[serde(default)]
    path_suffix: Option<String>,
    /// Refused unless empty: identity entities are not supported.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    allowed_entity_aliases: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    token_period: Flex,
    /// Vault's deprecated name of `token_period`.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    period: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    token_explicit_max_ttl: Flex,
    /// Vault's deprecated name of `token_explicit_max_ttl`.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    explicit_max_ttl: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    token_bound_cidrs: Flex,
    /// Vault's deprecated name of `token_bound_cidrs`.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    bound_cidrs: Flex,
    #[serde(default)]
    token_no_default_policy: Option<bool>,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Count)]
    token_num_uses: Flex,
    /// `service`, `default` or `default-service`; batch types are refused.
    #[serde(default)]
    token_type: Option<String>,
}

fn first_of<T>(a: Option<T>, b: Option<T>) -> Option<T> {
    a.or(b)
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/roles/{name}",
    tag = "auth/token",
    operation_id = "token_role_write",
    summary = "Create or update a token role",
    description = "Needs `create` or `update` on `auth/token/roles/<name>`. Absent fields keep their value (Vault's defaults on creation: renewable, `default-service` type). `allowed_policies` may not hold `root`. Glob and entity-alias fields, batch token types and any unknown field answer 400.",
    params(("name" = String, Path, description = "The role's name")),
    request_body = RoleBody,
    responses((status = 204, description = "Saved"), (status = 400, description = "A refused field or value", body = ErrorBody))
)]
async fn write(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response> {
    caller.authorize_any(&role_path(&name), &[Capability::Create, Capability::Update])?;
    for (field, value) in [
        ("allowed_policies_glob", &body.allowed_policies_glob),
        ("disallowed_policies_glob", &body.disallowed_policies_glob),
        ("allowed_entity_aliases", &body.allowed_entity_aliases),
    ] {
        if value.strings(field)?.is_some_and(|v| !v.is_empty()) {
            return Err(Error::Invalid(format!(
                "{field} is not supported by ConfMgr"
            )));
        }
    }
    let update = RoleUpdate {
        allowed_policies: body.allowed_policies.strings("allowed_policies")?,
        disallowed_policies: body.disallowed_policies.strings("disallowed_policies")?,
        orphan: body.orphan,
        renewable: body.renewable,
        period: first_of(
            body.token_period.seconds("token_period")?,
            body.period.seconds("period")?,
        ),
        explicit_max_ttl: first_of(
            body.token_explicit_max_ttl
                .seconds("token_explicit_max_ttl")?,
            body.explicit_max_ttl.seconds("explicit_max_ttl")?,
        ),
        path_suffix: body.path_suffix,
        token_bound_cidrs: first_of(
            body.token_bound_cidrs.strings("token_bound_cidrs")?,
            body.bound_cidrs.strings("bound_cidrs")?,
        ),
        token_no_default_policy: body.token_no_default_policy,
        token_num_uses: body.token_num_uses.count("token_num_uses")?,
        token_type: body.token_type,
    };
    token_roles::write(&state.store, &name, update).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/v1/auth/token/roles/{name}",
    tag = "auth/token",
    operation_id = "token_role_read",
    summary = "Read a token role",
    description = "Needs `read` on `auth/token/roles/<name>`. 404 for an unknown role.",
    params(("name" = String, Path, description = "The role's name")),
    responses((status = 200, description = "The role, in Vault's shape", body = VaultResponse<Object>))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    _: NotList,
    id: RequestId,
    Path(name): Path<String>,
) -> Result<Response> {
    caller.authorize(&role_path(&name), Capability::Read)?;
    let (name, role) = token_roles::read(&state.store, &name).await?;
    let body: Value = json!({
        "name": name,
        "allowed_policies": role.allowed_policies,
        "disallowed_policies": role.disallowed_policies,
        "allowed_policies_glob": [],
        "disallowed_policies_glob": [],
        "allowed_entity_aliases": [],
        "orphan": role.orphan,
        "renewable": role.renewable,
        "path_suffix": role.path_suffix,
        "period": role.period,
        "token_period": role.period,
        "explicit_max_ttl": role.explicit_max_ttl,
        "token_explicit_max_ttl": role.explicit_max_ttl,
        "token_bound_cidrs": role.token_bound_cidrs,
        "token_no_default_policy": role.token_no_default_policy,
        "token_num_uses": role.token_num_uses,
        "token_type": role.token_type,
    });
    Ok(envelope(id, body))
}

#[utoipa::path(
    get,
    path = "/v1/auth/token/roles",
    tag = "auth/token",
    operation_id = "token_role_list",
    summary = "List token roles",
    description = "Needs `list` on `auth/token/roles/`. Also served at `/v1/auth/token/roles/`; Vault's `LIST` method is accepted. 404 when there is none, as in Vault.",
    params(("list" = Option<bool>, Query, description = "Accepted (what Vault's `LIST` method sends)")),
    responses((status = 200, description = "The role names", body = VaultResponse<Keys>))
)]
async fn list(State(state): State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize_list("auth/token/roles/")?;
    Ok(envelope(
        id,
        json!({ "keys": token_roles::list(&state.store).await? }),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/auth/token/roles/{name}",
    tag = "auth/token",
    operation_id = "token_role_delete",
    summary = "Delete a token role",
    description = "Needs `delete` on `auth/token/roles/<name>`. Tokens created from it keep working. 204 for an unknown role too, as in Vault.",
    params(("name" = String, Path, description = "The role's name")),
    responses((status = 204, description = "Deleted"))
)]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response> {
    caller.authorize(&role_path(&name), Capability::Delete)?;
    token_roles::delete(&state.store, &name).await?;
    Ok(no_content())
}
