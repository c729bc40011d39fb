//! Vault-compatible AppRole: roles are ConfMgr's API clients, secret_ids their client secrets.

use super::flex::{Flex, NotList};
use super::render::{auth_response, envelope, no_content, RequestId};
use super::schemas::{AuthResponse, Keys, Role, RoleId};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::approle::{self, RoleSettings};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use confmgr_api::{ErrorBody, VaultResponse};
use confmgr_core::policy::Capability;
use confmgr_store::ClientRecord;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/approle/login", post(login))
        .route("/v1/auth/approle/role", get(list_roles))
        .route("/v1/auth/approle/role/", get(list_roles))
        .route(
            "/v1/auth/approle/role/{name}",
            get(read_role)
                .post(write_role)
                .put(write_role)
                .delete(delete_role),
        )
        .route(
            "/v1/auth/approle/role/{name}/role-id",
            get(role_id).post(set_role_id).put(set_role_id),
        )
        .merge(super::approle_secret_ids::router())
        .merge(super::approle_fields::router())
}

pub(super) fn role_path(name: &str) -> String {
    format!("auth/approle/role/{name}")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ApproleLoginRequest)]
struct LoginRequest {
    #[serde(default)]
    role_id: String,
    #[serde(default)]
    secret_id: String,
}

#[utoipa::path(
    post,
    path = "/v1/auth/approle/login",
    tag = "auth/approle",
    operation_id = "approle_login",
    summary = "Log in with a role_id and secret_id",
    description = "Unauthenticated. Answers a token with the client's policies. Failed attempts are limited per client and per source address (429 with Retry-After).",
    request_body = LoginRequest,
    responses((status = 200, description = "Logged in", body = AuthResponse), (status = 400, description = "Wrong or missing role_id or secret_id (`invalid role or secret ID`)", body = ErrorBody), (status = 429, description = "Too many failed logins; retry after the Retry-After header's seconds", body = ErrorBody))
)]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    id: RequestId,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Response> {
    if request.role_id.is_empty() {
        return Err(Error::Invalid("missing role_id".into()));
    }
    // Name the client tried in the audit event, but only when it looks like a role_id: a
    // secret pasted into the wrong field must not land in the log.
    if uuid::Uuid::parse_str(&request.role_id).is_ok() {
        crate::audit::scope::note_actor("", "", "", &request.role_id);
    }
    let (token, record) = approle::login(
        &state.store,
        &state.access,
        &state.root_key,
        &request.role_id,
        &request.secret_id,
        peer.ip().to_canonical(),
    )
    .await?;
    Ok(auth_response(id, token.expose(), &record))
}

/// Vault's role fields and ConfMgr's own; any other field is refused (400 naming it), so a
/// misspelled setting cannot be silently dropped.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleRequest {
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    token_policies: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    policies: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    token_ttl: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    token_max_ttl: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    secret_id_ttl: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Count)]
    secret_id_num_uses: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    secret_id_bound_cidrs: Flex,
    /// Vault's deprecated name of `secret_id_bound_cidrs` (used when that is absent).
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    bound_cidr_list: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    token_bound_cidrs: Flex,
    /// A role_id of the caller's choosing (generated when absent on creation).
    #[serde(default)]
    role_id: Option<String>,
    /// `false` only: ConfMgr has no cluster-local (unreplicated) storage to keep them in.
    #[serde(default)]
    local_secret_ids: Option<bool>,
    /// The name hvac sends for `local_secret_ids`; `false` only likewise.
    #[serde(default)]
    enable_local_secret_ids: Option<bool>,
    /// ConfMgr: client certificates (`auth/cert/login`) that log in as this client, with
    /// the names of Vault's cert-role fields.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    allowed_common_names: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    allowed_dns_sans: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    allowed_uri_sans: Flex,
    /// `true` only: ConfMgr always requires a secret_id (refused with 400 otherwise).
    #[serde(default)]
    bind_secret_id: Option<bool>,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Count)]
    token_num_uses: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    token_explicit_max_ttl: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    token_period: Flex,
    /// Vault's deprecated name of `token_period`.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    period: Flex,
    #[serde(default)]
    #[schema(value_type = String)]
    token_type: Flex,
    #[serde(default)]
    token_no_default_policy: Option<bool>,
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/approle/role/{name}",
    tag = "auth/approle",
    operation_id = "approle_write_role",
    summary = "Create or update an API client (role)",
    description = "Needs `create` or `update` on `auth/approle/role/<name>`. Absent fields keep their value (defaults on creation). Every field Vault documents is enforced (`token_period`, `token_num_uses`, `token_explicit_max_ttl`, `token_no_default_policy` shape the login tokens; `role_id` chooses the role_id) or refused with 400 naming it (`bind_secret_id=false`, `local_secret_ids=true`, a batch `token_type`), never ignored; so is any unknown field.",
    params(("name" = String, Path, description = "The API client's (role's) name")),
    request_body = RoleRequest,
    responses((status = 204, description = "Saved"))
)]
async fn write_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<RoleRequest>,
) -> Result<Response> {
    caller.authorize_any(&role_path(&name), &[Capability::Create, Capability::Update])?;
    let settings = role_settings(request)?;
    approle::write_role(&state.store, &state.access.auth_cache, &name, settings).await?;
    Ok(no_content())
}

/// A role write's settings, or 400 for a Vault setting ConfMgr cannot honour (naming it).
/// Shared by the role route and the per-field routes (`approle_fields.rs`).
pub(super) fn role_settings(request: RoleRequest) -> Result<RoleSettings> {
    if !matches!(&request.token_type, Flex::Missing | Flex::Text(_))
        || matches!(&request.token_type, Flex::Text(t) if !matches!(t.as_str(), "" | "default" | "service" | "default-service"))
    {
        return Err(Error::Invalid(
            "token_type: ConfMgr issues service tokens only".into(),
        ));
    }
    if request.bind_secret_id == Some(false) {
        return Err(Error::Invalid(
            "bind_secret_id=false is not supported: every client logs in with a secret".into(),
        ));
    }
    if request.local_secret_ids == Some(true) || request.enable_local_secret_ids == Some(true) {
        return Err(Error::Invalid(
            "local_secret_ids=true is not supported: ConfMgr has no cluster-local storage".into(),
        ));
    }
    let secret_id_bound_cidrs = match request
        .secret_id_bound_cidrs
        .strings("secret_id_bound_cidrs")?
    {
        Some(list) => Some(list),
        None => request.bound_cidr_list.strings("bound_cidr_list")?,
    };
    let policies = match request.token_policies.strings("token_policies")? {
        Some(list) => Some(list),
        None => request.policies.strings("policies")?,
    };
    Ok(RoleSettings {
        policies,
        token_ttl: request.token_ttl.seconds("token_ttl")?,
        token_max_ttl: request.token_max_ttl.seconds("token_max_ttl")?,
        secret_id_ttl: request.secret_id_ttl.seconds("secret_id_ttl")?,
        secret_id_num_uses: request.secret_id_num_uses.count("secret_id_num_uses")?,
        secret_id_bound_cidrs,
        role_id: request.role_id.filter(|id| !id.is_empty()),
        token_period: match request.token_period.seconds("token_period")? {
            Some(period) => Some(period),
            None => request.period.seconds("period")?,
        },
        token_explicit_max_ttl: request
            .token_explicit_max_ttl
            .seconds("token_explicit_max_ttl")?,
        token_num_uses: request.token_num_uses.count("token_num_uses")?,
        token_no_default_policy: request.token_no_default_policy,
        token_bound_cidrs: request.token_bound_cidrs.strings("token_bound_cidrs")?,
        cert_common_names: request
            .allowed_common_names
            .strings("allowed_common_names")?,
        cert_dns_sans: request.allowed_dns_sans.strings("allowed_dns_sans")?,
        cert_uri_sans: request.allowed_uri_sans.strings("allowed_uri_sans")?,
    })
}

#[utoipa::path(
    get,
    path = "/v1/auth/approle/role/{name}",
    tag = "auth/approle",
    operation_id = "approle_read_role",
    summary = "Read an API client (role)",
    description = "Needs `read` on `auth/approle/role/<name>`.",
    params(("name" = String, Path, description = "The API client's (role's) name")),
    responses((status = 200, description = "The role", body = VaultResponse<Role>))
)]
async fn read_role(
    State(state): State<AppState>,
    caller: Caller,
    _: NotList,
    id: RequestId,
    Path(name): Path<String>,
) -> Result<Response> {
    caller.authorize(&role_path(&name), Capability::Read)?;
    let client = approle::read_role(&state.store, &name).await?;
    Ok(envelope(id, role_json(&client)))
}

/// A role as Vault's role read shows it, and ConfMgr's additions (`name`, `role_id`,
/// `issuer`, the certificate patterns).
pub(super) fn role_json(client: &ClientRecord) -> Value {
    json!({
        "name": client.name,
        "role_id": client.client_id,
        "issuer": client.issuer,
        "bind_secret_id": true,
        "local_secret_ids": false,
        "policies": client.policies,
        "token_policies": client.policies,
        "token_ttl": client.token_ttl,
        "token_max_ttl": client.token_max_ttl,
        "token_explicit_max_ttl": client.token_explicit_max_ttl,
        "token_bound_cidrs": client.token_bound_cidrs,
        "token_no_default_policy": client.token_no_default_policy,
        "token_num_uses": client.token_num_uses,
        "token_period": client.token_period,
        "period": client.token_period,
        "token_type": "default",
        "secret_id_ttl": client.secret_id_ttl,
        "secret_id_num_uses": client.secret_id_num_uses,
        "secret_id_bound_cidrs": client.secret_id_bound_cidrs,
        "allowed_common_names": client.cert.common_names,
        "allowed_dns_sans": client.cert.dns_sans,
        "allowed_uri_sans": client.cert.uri_sans,
    })
}

#[utoipa::path(
    get,
    path = "/v1/auth/approle/role",
    tag = "auth/approle",
    operation_id = "approle_list_roles",
    summary = "List API clients (roles)",
    description = "Needs `list` on `auth/approle/role/`. Also served at `/v1/auth/approle/role/`; Vault's `LIST` method is accepted.",
    params(("list" = Option<bool>, Query, description = "Accepted (what Vault's `LIST` method sends); the answer is the list either way")),
    responses((status = 200, description = "The role names", body = VaultResponse<Keys>))
)]
async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
) -> Result<Response> {
    caller.authorize_list("auth/approle/role/")?;
    Ok(envelope(
        id,
        json!({ "keys": approle::list_roles(&state.store).await? }),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/auth/approle/role/{name}",
    tag = "auth/approle",
    operation_id = "approle_delete_role",
    summary = "Delete an API client (role), its secret_ids and tokens",
    description = "Needs `delete` on `auth/approle/role/<name>`.",
    params(("name" = String, Path, description = "The API client's (role's) name")),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response> {
    caller.authorize(&role_path(&name), Capability::Delete)?;
    approle::delete_role(&state.store, &state.access.auth_cache, &name).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/v1/auth/approle/role/{name}/role-id",
    tag = "auth/approle",
    operation_id = "approle_read_role_id",
    summary = "Read a role's role_id",
    description = "Needs `read` on `auth/approle/role/<name>/role-id`.",
    params(("name" = String, Path, description = "The API client's (role's) name")),
    responses((status = 200, description = "The role_id", body = VaultResponse<RoleId>))
)]
async fn role_id(
    State(state): State<AppState>,
    caller: Caller,
    _: NotList,
    id: RequestId,
    Path(name): Path<String>,
) -> Result<Response> {
    caller.authorize(&format!("{}/role-id", role_path(&name)), Capability::Read)?;
    let client = approle::read_role(&state.store, &name).await?;
    Ok(envelope(id, json!({ "role_id": client.client_id })))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ApproleRoleIdBody)]
struct RoleIdBody {
    #[serde(default)]
    role_id: String,
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/approle/role/{name}/role-id",
    tag = "auth/approle",
    operation_id = "approle_set_role_id",
    summary = "Set a role's role_id",
    description = "Needs `create` or `update` on `auth/approle/role/<name>/role-id`. The role keeps its secret_ids and tokens; the old role_id no longer logs in. 400 `missing role_id`, 400 `role_id already in use` (another role has it), 404 for an unknown role.",
    params(("name" = String, Path, description = "The API client's (role's) name")),
    request_body = RoleIdBody,
    responses((status = 204, description = "Set"), (status = 400, description = "Missing or taken role_id", body = ErrorBody), (status = 404, description = "No such role", body = ErrorBody))
)]
async fn set_role_id(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RoleIdBody>,
) -> Result<Response> {
    caller.authorize_any(
        &format!("{}/role-id", role_path(&name)),
        &[Capability::Create, Capability::Update],
    )?;
    approle::set_role_id(&state.store, &state.access.auth_cache, &name, &body.role_id).await?;
    Ok(no_content())
}
