//! AppRole secret_ids: generated and custom ones, their lookup, listing and destruction
//! by value or accessor, and `tidy/secret-id`. Routes under `auth/approle/` like the role
//! routes in `approle.rs`.

use super::approle::role_path;
use super::flex::Flex;
use super::render::{envelope, no_content, RequestId};
use super::schemas::{Keys, SecretIdCreated, SecretIdInfo};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::approle::{self, SecretRequest};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use confmgr_api::{ErrorBody, VaultResponse};
use confmgr_core::policy::Capability;
use confmgr_core::time::rfc3339;
use confmgr_store::ClientSecretRecord;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/auth/approle/role/{name}/secret-id",
            post(generate_secret).put(generate_secret).get(list_secrets),
        )
        .route(
            "/v1/auth/approle/role/{name}/custom-secret-id",
            post(custom_secret).put(custom_secret),
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
        .route("/v1/auth/approle/tidy/secret-id", post(tidy).put(tidy))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SecretIdRequest {
    /// `custom-secret-id` only: the secret_id to register.
    #[serde(default)]
    secret_id: Option<String>,
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
    /// Where its login tokens may be used from: within the client's `token_bound_cidrs`.
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
    if request.secret_id.is_some() {
        return Err(Error::Invalid(
            "secret_id: choose a secret_id at role/<name>/custom-secret-id".into(),
        ));
    }
    new_secret(state, id, name, request).await
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/approle/role/{name}/custom-secret-id",
    tag = "auth/approle",
    operation_id = "approle_custom_secret_id",
    summary = "Register a secret_id of the caller's choosing",
    description = "Needs `create` or `update` on `auth/approle/role/<name>/custom-secret-id`. Same fields and answer as `secret-id`, plus `secret_id` (required, at most 1024 bytes). Stored only as an argon2id hash, found by a keyed digest (a key derived from the root key), so the database holds nothing to guess it from faster than through argon2. 400 `secret_id is already registered` if the role holds it already.",
    params(("name" = String, Path, description = "The API client's (role's) name")),
    request_body = SecretIdRequest,
    responses((status = 200, description = "The secret_id and its accessor", body = VaultResponse<SecretIdCreated>), (status = 400, description = "Missing or registered secret_id, or a refused field", body = ErrorBody))
)]
async fn custom_secret(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<SecretIdRequest>,
) -> Result<Response> {
    caller.authorize_any(
        &format!("{}/custom-secret-id", role_path(&name)),
        &[Capability::Create, Capability::Update],
    )?;
    if request.secret_id.as_deref().unwrap_or_default().is_empty() {
        return Err(Error::Invalid("missing secret_id".into()));
    }
    new_secret(state, id, name, request).await
}

async fn new_secret(
    state: AppState,
    id: RequestId,
    name: String,
    request: SecretIdRequest,
) -> Result<Response> {
    let secret_request = SecretRequest {
        custom: request.secret_id.map(zeroize::Zeroizing::new),
        metadata: metadata_map(request.metadata)?,
        cidr_list: request.cidr_list.strings("cidr_list")?.unwrap_or_default(),
        token_bound_cidrs: request
            .token_bound_cidrs
            .strings("token_bound_cidrs")?
            .unwrap_or_default(),
        ttl: request.ttl.seconds("ttl")?,
        num_uses: request.num_uses.count("num_uses")?,
    };
    let (secret, record) = approle::generate_secret(
        &state.store,
        &state.access,
        &state.root_key,
        &name,
        secret_request,
    )
    .await?;
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
        "token_bound_cidrs": record.token_bound_cidrs,
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
    responses((status = 200, description = "What is known about it (never its value)", body = VaultResponse<SecretIdInfo>), (status = 204, description = "The role holds no such secret_id (as Vault answers)"), (status = 404, description = "No such role", body = ErrorBody))
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
    // An unknown role is a 404; a secret_id the role does not hold answers 204 (Vault).
    match approle::secret_by_value(
        &state.store,
        &state.access,
        &state.root_key,
        &name,
        body.secret_id()?,
    )
    .await
    {
        Ok(record) => Ok(envelope(id, secret_info(&record))),
        Err(Error::NotFound) => {
            approle::read_role(&state.store, &name).await?;
            Ok(no_content())
        }
        Err(other) => Err(other),
    }
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
    match approle::secret_by_value(
        &state.store,
        &state.access,
        &state.root_key,
        &name,
        secret_id,
    )
    .await
    {
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
    let accessor = body.accessor()?;
    match approle::secret_by_accessor(&state.store, &name, accessor).await {
        Ok(record) => Ok(envelope(id, secret_info(&record))),
        // Vault's answer for an accessor the role does not hold: 404 with the reason in
        // `data.error` (an unknown role stays a plain 404).
        Err(Error::NotFound) if approle::read_role(&state.store, &name).await.is_ok() => {
            let body = VaultResponse::new(
                id.0,
                Some(json!({
                    "error": format!("failed to find accessor entry for secret_id_accessor: {accessor:?}")
                })),
            );
            Err(Error::Gone(
                serde_json::to_value(body).map_err(|e| Error::Internal(e.to_string()))?,
            ))
        }
        Err(other) => Err(other),
    }
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

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/approle/tidy/secret-id",
    tag = "auth/approle",
    operation_id = "approle_tidy_secret_id",
    summary = "Remove expired secret_ids",
    description = "Needs `update` on `auth/approle/tidy/secret-id`. Answers 202 with Vault's warning, as Vault does; ConfMgr has already removed them when it answers (one statement), and the warning says how many.",
    responses((status = 202, description = "Done", body = VaultResponse<Object>))
)]
async fn tidy(State(state): State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize("auth/approle/tidy/secret-id", Capability::Update)?;
    let removed = approle::tidy_secrets(&state.store).await?;
    let mut body = VaultResponse::<Value>::new(id.0, None);
    body.warnings = Some(vec![
        "Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.".into(),
        format!("ConfMgr removed {removed} expired secret_id(s)."),
    ]);
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
