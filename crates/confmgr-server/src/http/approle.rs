//! Vault-compatible AppRole: roles are ConfMgr's API clients, secret_ids their client secrets.

use super::flex::{Flex, NotList};
use super::render::{auth_response, envelope, no_content, RequestId};
use super::schemas::{AuthResponse, Keys, Role, RoleId, SecretIdCreated, SecretIdInfo};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::approle::{self, RoleSettings, SecretRequest};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use confmgr_api::{ErrorBody, VaultResponse};
use confmgr_core::policy::Capability;
use confmgr_core::time::rfc3339;
use confmgr_store::ClientSecretRecord;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
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
        .route("/v1/auth/approle/role/{name}/role-id", get(role_id))
        .route(
            "/v1/auth/approle/role/{name}/secret-id",
            post(generate_secret).put(generate_secret).get(list_secrets),
        )
        .route(
            "/v1/auth/approle/role/{name}/secret-id/lookup",
            post(lookup_secret),
        )
        .route(
            "/v1/auth/approle/role/{name}/secret-id/destroy",
            post(destroy_secret).delete(destroy_secret),
        )
        .route(
            "/v1/auth/approle/role/{name}/secret-id-accessor/lookup",
            post(lookup_accessor),
        )
        .route(
            "/v1/auth/approle/role/{name}/secret-id-accessor/destroy",
            post(destroy_accessor).delete(destroy_accessor),
        )
}

fn role_path(name: &str) -> String {
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
struct RoleRequest {
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
    /// Accepted only when it is the role's current role_id: ConfMgr generates role_ids.
    #[serde(default)]
    role_id: Option<String>,
    /// Accepted for compatibility and ignored: ConfMgr has no cluster-local storage.
    #[serde(default)]
    #[allow(dead_code)]
    local_secret_ids: Option<bool>,
    /// The name hvac sends for `local_secret_ids`; accepted and ignored likewise.
    #[serde(default)]
    #[allow(dead_code)]
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
    /// Accepted for compatibility; ConfMgr always requires a secret_id.
    #[serde(default)]
    bind_secret_id: Option<bool>,
    /// Vault settings ConfMgr does not enforce: refused when they would restrict, rather
    /// than silently ignored.
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
    /// `false` only: every ConfMgr token may look up, renew and revoke itself.
    #[serde(default)]
    token_no_default_policy: Option<bool>,
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/approle/role/{name}",
    tag = "auth/approle",
    operation_id = "approle_write_role",
    summary = "Create or update an API client (role)",
    description = "Needs `create` or `update` on `auth/approle/role/<name>`. Absent fields keep their value (defaults on creation). Vault settings ConfMgr does not enforce (`token_num_uses`, `token_explicit_max_ttl`, `token_period`, `token_type` other than service, `bind_secret_id=false`) are refused with 400 rather than ignored.",
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
    for (field, value) in [
        ("token_num_uses", &request.token_num_uses),
        ("token_explicit_max_ttl", &request.token_explicit_max_ttl),
        ("token_period", &request.token_period),
        ("period", &request.period),
    ] {
        if value.seconds(field).ok().flatten().unwrap_or(1) != 0 && !matches!(value, Flex::Missing)
        {
            return Err(Error::Invalid(format!(
                "{field} is not supported by ConfMgr (use token_max_ttl)"
            )));
        }
    }
    if !matches!(&request.token_type, Flex::Missing | Flex::Text(_))
        || matches!(&request.token_type, Flex::Text(t) if !matches!(t.as_str(), "" | "default" | "service"))
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
    if request.token_no_default_policy == Some(true) {
        return Err(Error::Invalid(
            "token_no_default_policy=true is not supported: every token may look up, renew and revoke itself".into(),
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
    let settings = RoleSettings {
        policies,
        token_ttl: request.token_ttl.seconds("token_ttl")?,
        token_max_ttl: request.token_max_ttl.seconds("token_max_ttl")?,
        secret_id_ttl: request.secret_id_ttl.seconds("secret_id_ttl")?,
        secret_id_num_uses: request.secret_id_num_uses.count("secret_id_num_uses")?,
        secret_id_bound_cidrs,
        role_id: request.role_id.filter(|id| !id.is_empty()),
        token_bound_cidrs: request.token_bound_cidrs.strings("token_bound_cidrs")?,
        cert_common_names: request
            .allowed_common_names
            .strings("allowed_common_names")?,
        cert_dns_sans: request.allowed_dns_sans.strings("allowed_dns_sans")?,
        cert_uri_sans: request.allowed_uri_sans.strings("allowed_uri_sans")?,
    };
    approle::write_role(&state.store, &name, settings).await?;
    Ok(no_content())
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
    Ok(envelope(
        id,
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
            "token_explicit_max_ttl": 0,
            "token_bound_cidrs": client.token_bound_cidrs,
            "token_no_default_policy": false,
            "token_num_uses": 0,
            "token_period": 0,
            "token_type": "default",
            "secret_id_ttl": client.secret_id_ttl,
            "secret_id_num_uses": client.secret_id_num_uses,
            "secret_id_bound_cidrs": client.secret_id_bound_cidrs,
            "allowed_common_names": client.cert.common_names,
            "allowed_dns_sans": client.cert.dns_sans,
            "allowed_uri_sans": client.cert.uri_sans,
        }),
    ))
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
struct SecretIdRequest {
    /// A JSON object of strings, encoded as a string (Vault's shape) or given as an object.
    #[serde(default)]
    #[schema(value_type = Option<confmgr_api::schema::StringMap>)]
    metadata: Option<Value>,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    cidr_list: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    ttl: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Count)]
    num_uses: Flex,
    /// Not supported per secret (set token_bound_cidrs on the client): refused, not ignored.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    token_bound_cidrs: Flex,
}

fn metadata_map(raw: Option<Value>) -> Result<BTreeMap<String, String>> {
    let invalid = || Error::Invalid("metadata must be a JSON object of strings".into());
    match raw {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(BTreeMap::new()),
        Some(Value::String(text)) => serde_json::from_str(&text).map_err(|_| invalid()),
        Some(object @ Value::Object(_)) => serde_json::from_value(object).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/approle/role/{name}/secret-id",
    tag = "auth/approle",
    operation_id = "approle_generate_secret_id",
    summary = "Generate a secret_id",
    description = "Needs `create` or `update` on `auth/approle/role/<name>/secret-id`. The secret_id is shown once and stored only as an argon2id hash.",
    params(("name" = String, Path, description = "The API client's (role's) name")),
    request_body = SecretIdRequest,
    responses((status = 200, description = "The new secret_id", body = VaultResponse<SecretIdCreated>))
)]
async fn generate_secret(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<SecretIdRequest>,
) -> Result<Response> {
    caller.authorize_any(
        &format!("{}/secret-id", role_path(&name)),
        &[Capability::Create, Capability::Update],
    )?;
    if request
        .token_bound_cidrs
        .strings("token_bound_cidrs")?
        .is_some_and(|c| !c.is_empty())
    {
        return Err(Error::Invalid(
            "token_bound_cidrs per secret_id is not supported: set token_bound_cidrs on the client"
                .into(),
        ));
    }
    let secret_request = SecretRequest {
        metadata: metadata_map(request.metadata)?,
        cidr_list: request.cidr_list.strings("cidr_list")?.unwrap_or_default(),
        ttl: request.ttl.seconds("ttl")?,
        num_uses: request.num_uses.count("num_uses")?,
    };
    let (secret, record) =
        approle::generate_secret(&state.store, &state.access, &name, secret_request).await?;
    let ttl = record
        .expires_at
        .map(|at| (at - record.created_at) / 1_000_000)
        .unwrap_or(0);
    Ok(envelope(
        id,
        json!({
            "secret_id": secret.expose(),
            "secret_id_accessor": record.accessor,
            "secret_id_ttl": ttl,
            "secret_id_num_uses": record.uses_left.unwrap_or(0),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/auth/approle/role/{name}/secret-id",
    tag = "auth/approle",
    operation_id = "approle_list_secret_id_accessors",
    summary = "List a role's secret_id accessors",
    description = "Needs `list` on `auth/approle/role/<name>/secret-id/`. Vault's `LIST` method is accepted.",
    params(("name" = String, Path, description = "The API client's (role's) name"), ("list" = Option<bool>, Query, description = "Accepted (what Vault's `LIST` method sends)")),
    responses((status = 200, description = "The accessors", body = VaultResponse<Keys>))
)]
async fn list_secrets(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Path(name): Path<String>,
) -> Result<Response> {
    caller.authorize_list(&format!("{}/secret-id/", role_path(&name)))?;
    Ok(envelope(
        id,
        json!({ "keys": approle::secret_accessors(&state.store, &name).await? }),
    ))
}

fn secret_info(record: &ClientSecretRecord) -> Value {
    json!({
        "secret_id_accessor": record.accessor,
        "creation_time": rfc3339(record.created_at),
        "last_updated_time": rfc3339(record.created_at),
        "expiration_time": record.expires_at.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "secret_id_ttl": record.expires_at.map(|at| (at - record.created_at) / 1_000_000).unwrap_or(0),
        "secret_id_num_uses": record.uses_left.unwrap_or(0),
        "metadata": record.metadata,
        "cidr_list": record.cidr_list,
        "token_bound_cidrs": [],
    })
}

/// Any other field is refused: `{"secretid": ...}` must not pass for a destroy of nothing.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SecretIdBody {
    #[serde(default)]
    secret_id: String,
}

impl SecretIdBody {
    fn secret_id(&self) -> Result<&str> {
        required("secret_id", &self.secret_id)
    }
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SecretIdAccessorBody)]
struct AccessorBody {
    #[serde(default)]
    secret_id_accessor: String,
}

impl AccessorBody {
    fn accessor(&self) -> Result<&str> {
        required("secret_id_accessor", &self.secret_id_accessor)
    }
}

/// Vault takes a `DELETE`'s fields from the query string (`vault delete …/secret-id/destroy
/// secret_id=…` sends them there); a `DELETE` here takes them from the body, or else from
/// the query. Other query parameters are ignored.
#[derive(Deserialize, Default)]
struct DeleteQuery {
    #[serde(default)]
    secret_id: String,
    #[serde(default)]
    secret_id_accessor: String,
}

/// Vault's answer to an absent or empty field: 400 `missing <field>`.
fn required<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    if value.trim().is_empty() {
        Err(Error::Invalid(format!("missing {field}")))
    } else {
        Ok(value)
    }
}

#[utoipa::path(
    post,
    path = "/v1/auth/approle/role/{name}/secret-id/lookup",
    tag = "auth/approle",
    operation_id = "approle_lookup_secret_id",
    summary = "Look up a secret_id by value",
    description = "Needs `update` on `auth/approle/role/<name>/secret-id/lookup`.",
    params(("name" = String, Path, description = "The API client's (role's) name")),
    request_body = SecretIdBody,
    responses((status = 200, description = "What is known about it (never its value)", body = VaultResponse<SecretIdInfo>))
)]
async fn lookup_secret(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SecretIdBody>,
) -> Result<Response> {
    caller.authorize(
        &format!("{}/secret-id/lookup", role_path(&name)),
        Capability::Update,
    )?;
    let record =
        approle::secret_by_value(&state.store, &state.access, &name, body.secret_id()?).await?;
    Ok(envelope(id, secret_info(&record)))
}

#[utoipa::path(
    method(post, delete),
    path = "/v1/auth/approle/role/{name}/secret-id/destroy",
    tag = "auth/approle",
    operation_id = "approle_destroy_secret_id",
    summary = "Destroy a secret_id by value",
    description = "Needs `update` or `delete` on `auth/approle/role/<name>/secret-id/destroy`. As in Vault, 204 answers both a destroy and a secret_id this role does not hold (unknown, already destroyed, or another role's): the answer does not say which, and another role's secret_id is left as it is and still logs in. A missing `secret_id` or any other field answers 400.",
    params(("name" = String, Path, description = "The API client's (role's) name"), ("secret_id" = Option<String>, Query, description = "`DELETE` without a body only, where Vault's CLI sends it: the secret_id")),
    request_body = SecretIdBody,
    responses(
        (status = 204, description = "The role no longer holds this secret_id (destroyed now, or never held)"),
        (status = 400, description = "`secret_id` missing or empty, or a field other than `secret_id`", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
    )
)]
async fn destroy_secret(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    Path(name): Path<String>,
    Query(query): Query<DeleteQuery>,
    JsonBody(mut body): JsonBody<SecretIdBody>,
) -> Result<Response> {
    caller.authorize_any(
        &format!("{}/secret-id/destroy", role_path(&name)),
        &[Capability::Update, Capability::Delete],
    )?;
    if method == Method::DELETE && body.secret_id.is_empty() {
        body.secret_id = query.secret_id;
    }
    let secret_id = body.secret_id()?;
    // An unknown role is a 404; a secret_id the role does not hold is not an error (Vault).
    approle::read_role(&state.store, &name).await?;
    match approle::secret_by_value(&state.store, &state.access, &name, secret_id).await {
        Ok(record) => approle::destroy_secret(&state.store, &record.accessor).await?,
        Err(Error::NotFound) => {}
        Err(other) => return Err(other),
    }
    Ok(no_content())
}

#[utoipa::path(
    post,
    path = "/v1/auth/approle/role/{name}/secret-id-accessor/lookup",
    tag = "auth/approle",
    operation_id = "approle_lookup_secret_id_accessor",
    summary = "Look up a secret_id by accessor",
    description = "Needs `update` on `auth/approle/role/<name>/secret-id-accessor/lookup`.",
    params(("name" = String, Path, description = "The API client's (role's) name")),
    request_body = AccessorBody,
    responses((status = 200, description = "What is known about it", body = VaultResponse<SecretIdInfo>))
)]
async fn lookup_accessor(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<AccessorBody>,
) -> Result<Response> {
    caller.authorize(
        &format!("{}/secret-id-accessor/lookup", role_path(&name)),
        Capability::Update,
    )?;
    let record = approle::secret_by_accessor(&state.store, &name, body.accessor()?).await?;
    Ok(envelope(id, secret_info(&record)))
}

#[utoipa::path(
    method(post, delete),
    path = "/v1/auth/approle/role/{name}/secret-id-accessor/destroy",
    tag = "auth/approle",
    operation_id = "approle_destroy_secret_id_accessor",
    summary = "Destroy a secret_id by accessor",
    description = "Needs `update` or `delete` on `auth/approle/role/<name>/secret-id-accessor/destroy`. An accessor this role does not hold (unknown, or another role's, which is left as it is) answers 404. A missing `secret_id_accessor` or any other field answers 400.",
    params(("name" = String, Path, description = "The API client's (role's) name"), ("secret_id_accessor" = Option<String>, Query, description = "`DELETE` without a body only, where Vault's CLI sends it: the accessor")),
    request_body = AccessorBody,
    responses(
        (status = 204, description = "Destroyed"),
        (status = 400, description = "`secret_id_accessor` missing or empty, or a field other than `secret_id_accessor`", body = ErrorBody),
        (status = 404, description = "No such role, or the role holds no secret_id with this accessor", body = ErrorBody),
    )
)]
async fn destroy_accessor(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    Path(name): Path<String>,
    Query(query): Query<DeleteQuery>,
    JsonBody(mut body): JsonBody<AccessorBody>,
) -> Result<Response> {
    caller.authorize_any(
        &format!("{}/secret-id-accessor/destroy", role_path(&name)),
        &[Capability::Update, Capability::Delete],
    )?;
    if method == Method::DELETE && body.secret_id_accessor.is_empty() {
        body.secret_id_accessor = query.secret_id_accessor;
    }
    let record = approle::secret_by_accessor(&state.store, &name, body.accessor()?).await?;
    approle::destroy_secret(&state.store, &record.accessor).await?;
    Ok(no_content())
}
