//! KV v2 routes on mount `secret`, in Vault's shapes.

use super::flex::{Flex, NotList};
use super::render::{gone, kv_envelope, no_content, version_metadata, RequestId};
use super::schemas::{KvConfig, MetadataOrList, ReadNotFound, SubkeysNotFound};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::kv::{ConfigUpdate, IfMissing, Kv, MetadataUpdate, Read, VersionChange};
use crate::state::AppState;
use axum::extract::{MatchedPath, Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use confmgr_api::kv::{
    ConfigBody, ListResponse, MetadataPatchRequest, MetadataRequest, MetadataResponse,
    ReadResponse, SubkeysResponse, VersionMetadata, VersionSummary, VersionsRequest, WriteOptions,
    WriteRequest,
};
use confmgr_api::{ErrorBody, VaultResponse};
use confmgr_core::duration;
use confmgr_core::kv::CustomMetadataChange;
use confmgr_core::path::SecretPath;
use confmgr_core::policy::Capability;
use confmgr_core::time::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};

const MOUNT: &str = "secret";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/secret/data/{*path}",
            get(read)
                .post(write)
                .put(write)
                .patch(patch)
                .delete(delete_latest),
        )
        .route(
            "/v1/secret/delete/{*path}",
            post(change_versions).put(change_versions),
        )
        .route(
            "/v1/secret/undelete/{*path}",
            post(change_versions).put(change_versions),
        )
        .route(
            "/v1/secret/destroy/{*path}",
            post(change_versions).put(change_versions),
        )
        .route(
            "/v1/secret/metadata/{*path}",
            get(metadata_or_list)
                .post(write_metadata)
                .put(write_metadata)
                .patch(patch_metadata)
                .delete(delete_metadata),
        )
        .route("/v1/secret/metadata", get(list_root))
        .route("/v1/secret/metadata/", get(list_root))
        .route(
            "/v1/secret/config",
            get(read_config).post(write_config).put(write_config),
        )
        .route("/v1/secret/subkeys/{*path}", get(subkeys))
        .route("/v1/secret/rollback/{*path}", post(rollback).put(rollback))
}

pub(super) fn kv(state: &AppState) -> Kv<'_> {
    Kv {
        store: &state.store,
        keyring: &state.keyring,
        root: &state.root_key,
        mount: MOUNT,
    }
}

#[derive(Deserialize, Default)]
struct VersionQuery {
    version: Option<i64>,
    depth: Option<u32>,
    list: Option<String>,
}

impl VersionQuery {
    fn version(&self) -> Result<Option<i64>> {
        match self.version {
            Some(v) if v < 0 => Err(Error::Invalid(
                "version must be a non-negative integer".into(),
            )),
            other => Ok(other),
        }
    }
    fn is_list(&self) -> bool {
        matches!(self.list.as_deref(), Some("true" | "1"))
    }
}

#[utoipa::path(
    get,
    path = "/v1/secret/data/{path}",
    tag = "kv",
    operation_id = "kv_read",
    summary = "Read a secret version",
    description = "Needs `read` on `secret/data/<path>`. A deleted or destroyed version answers 404 with the envelope (`data` null, its metadata), as Vault does.",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is"), ("version" = Option<i64>, Query, description = "A version number; absent or 0: the current version")),
    responses(
        (status = 200, description = "The version's data and metadata", body = VaultResponse<ReadResponse>),
        (status = 404, description = "No such secret or version (`errors` empty), or the version is deleted or destroyed (the envelope with `data` null)", body = ReadNotFound),
        (status = 405, description = "`LIST` (or `list=true`): a data path cannot be listed, as in Vault (`unsupported operation`); list `secret/metadata/<path>/` instead", body = ErrorBody),
    )
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    _: NotList,
    id: RequestId,
    Path(raw): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Result<Response> {
    let path = SecretPath::parse(&raw)?;
    caller.authorize(&acl_path("data", &path), Capability::Read)?;
    match kv(&state).read(&path, query.version()?).await? {
        Read::Found(view) => {
            let metadata = version_metadata(&view);
            Ok(Json(kv_envelope(
                id,
                ReadResponse {
                    data: view.data,
                    metadata,
                },
            ))
            .into_response())
        }
        Read::Gone(view) => Err(gone(kv_envelope(
            id,
            ReadResponse {
                data: None,
                metadata: version_metadata(&view),
            },
        ))),
    }
}

/// The ACL path of a KV route, as Vault maps it: `secret/<kind>/<path>`.
pub(super) fn acl_path(kind: &str, path: &SecretPath) -> String {
    format!("{MOUNT}/{kind}/{path}")
}

/// Vault asks for `create` on a path that does not exist yet and `update` on one that does.
/// A caller holding both needs no database round trip to learn which applies.
async fn authorize_write(
    caller: &Caller,
    service: &Kv<'_>,
    kind: &str,
    path: &SecretPath,
) -> Result<()> {
    let acl = acl_path(kind, path);
    if caller.holds_all(&acl, &[Capability::Create, Capability::Update]) {
        return Ok(());
    }
    let needed = if service.exists(path).await? {
        Capability::Update
    } else {
        Capability::Create
    };
    caller.authorize(&acl, needed)
}

fn write_parts(request: WriteRequest) -> Result<(serde_json::Map<String, Value>, Option<i64>)> {
    let Some(Value::Object(data)) = request.data else {
        return Err(Error::Invalid("no data provided".into()));
    };
    Ok((data, cas(request.options)?))
}

fn cas(options: Option<WriteOptions>) -> Result<Option<i64>> {
    let cas = options.and_then(|o| o.cas);
    if cas.is_some_and(|c| c < 0) {
        return Err(Error::Invalid("cas must be a non-negative integer".into()));
    }
    Ok(cas)
}

#[utoipa::path(
    method(post, put),
    path = "/v1/secret/data/{path}",
    tag = "kv",
    operation_id = "kv_write",
    summary = "Write a new secret version",
    description = "Needs `create` (new path) or `update` (existing path) on `secret/data/<path>`. With `options.cas`, the write happens only if the current version is `cas` (0: only if the secret does not exist).",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is")),
    request_body = WriteRequest,
    responses((status = 200, description = "The new version's metadata", body = VaultResponse<VersionMetadata>))
)]
async fn write(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Path(raw): Path<String>,
    JsonBody(request): JsonBody<WriteRequest>,
) -> Result<Response> {
    let path = SecretPath::parse(&raw)?;
    let service = kv(&state);
    authorize_write(&caller, &service, "data", &path).await?;
    let (data, cas) = write_parts(request)?;
    let view = service.write(&path, data, cas).await?;
    Ok(Json(kv_envelope(id, version_metadata(&view))).into_response())
}

/// `POST secret/rollback/:path`, ConfMgr's extension: `{"version": n, "options": {"cas": c}}`.
#[derive(Deserialize, utoipa::ToSchema)]
struct RollbackRequest {
    /// The version whose data to restore: a number, or a string of digits as Vault's other
    /// integer fields accept.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Count)]
    version: Flex,
    #[serde(default)]
    options: Option<WriteOptions>,
}

/// Writes version n's data as a new version. Needs `update` on the data path but not
/// `read`: restoring a value must not require being able to see it.
#[utoipa::path(
    method(post, put),
    path = "/v1/secret/rollback/{path}",
    tag = "kv",
    operation_id = "kv_rollback",
    summary = "Write an older version's data as a new version (ConfMgr extension)",
    description = "Needs `update` on `secret/data/<path>`, not `read`: restoring a value does not require seeing it. A deleted or destroyed version cannot be rolled back to (400).",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is")),
    request_body = RollbackRequest,
    responses((status = 200, description = "The new version's metadata", body = VaultResponse<VersionMetadata>))
)]
async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Path(raw): Path<String>,
    JsonBody(request): JsonBody<RollbackRequest>,
) -> Result<Response> {
    let path = SecretPath::parse(&raw)?;
    caller.authorize(&acl_path("data", &path), Capability::Update)?;
    let version = match request.version.count("version") {
        Ok(Some(version)) if version > 0 => version,
        _ => return Err(Error::Invalid("version must be a positive integer".into())),
    };
    let view = kv(&state)
        .rollback(&path, version, cas(request.options)?)
        .await?;
    Ok(Json(kv_envelope(id, version_metadata(&view))).into_response())
}

fn require_merge_patch(headers: &HeaderMap) -> Result<()> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/merge-patch+json") {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType(
            "PATCH requires Content-Type: application/merge-patch+json".into(),
        ))
    }
}

#[utoipa::path(
    patch,
    path = "/v1/secret/data/{path}",
    tag = "kv",
    operation_id = "kv_patch",
    summary = "Merge-patch the current version into a new version",
    description = "Needs `patch` on `secret/data/<path>`. `data` is a JSON merge patch (RFC 7396): a null value removes that key.",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is")),
    request_body(content = WriteRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The new version's metadata", body = VaultResponse<VersionMetadata>),
        (status = 415, description = "Content-Type is not application/merge-patch+json", body = ErrorBody),
    )
)]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    headers: HeaderMap,
    Path(raw): Path<String>,
    JsonBody(request): JsonBody<WriteRequest>,
) -> Result<Response> {
    require_merge_patch(&headers)?;
    let path = SecretPath::parse(&raw)?;
    caller.authorize(&acl_path("data", &path), Capability::Patch)?;
    let (data, cas) = write_parts(request)?;
    let view = kv(&state).patch(&path, data, cas).await?;
    Ok(Json(kv_envelope(id, version_metadata(&view))).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/secret/data/{path}",
    tag = "kv",
    operation_id = "kv_delete_latest",
    summary = "Soft-delete the current version",
    description = "Needs `delete` on `secret/data/<path>`. The data stays recoverable with undelete.",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is")),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_latest(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response> {
    let path = SecretPath::parse(&raw)?;
    caller.authorize(&acl_path("data", &path), Capability::Delete)?;
    kv(&state).delete_latest(&path).await?;
    Ok(no_content())
}

/// `POST|PUT secret/{delete,undelete,destroy}/:path`: one handler, the route names the change.
#[utoipa::path(
    method(post, put),
    path = "/v1/secret/delete/{path}",
    tag = "kv",
    operation_id = "kv_delete_versions",
    summary = "Soft-delete versions",
    description = "Needs `update` on `secret/delete/<path>`. The same body and answers serve `secret/undelete/<path>` (restore soft-deleted versions) and `secret/destroy/<path>` (crypto-shred: the versions' data keys are erased, for good).",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is")),
    request_body = VersionsRequest,
    responses((status = 204, description = "Done"))
)]
async fn change_versions(
    State(state): State<AppState>,
    caller: Caller,
    route: MatchedPath,
    Path(raw): Path<String>,
    JsonBody(request): JsonBody<VersionsRequest>,
) -> Result<Response> {
    let (change, kind) = match route.as_str() {
        "/v1/secret/undelete/{*path}" => (VersionChange::Undelete, "undelete"),
        "/v1/secret/destroy/{*path}" => (VersionChange::Destroy, "destroy"),
        _ => (VersionChange::Delete, "delete"),
    };
    let path = SecretPath::parse(&raw)?;
    caller.authorize(&acl_path(kind, &path), Capability::Update)?;
    if let Some(bad) = request.versions.iter().find(|v| **v < 1) {
        return Err(Error::Invalid(format!(
            "versions: {bad} is not a version number (versions start at 1)"
        )));
    }
    kv(&state)
        .change_versions(&path, &request.versions, change)
        .await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/v1/secret/metadata/{path}",
    tag = "kv",
    operation_id = "kv_metadata_or_list",
    summary = "Read a secret's metadata, or list the keys under a folder",
    description = "Without `list`: needs `read` on `secret/metadata/<path>` and answers the metadata and version history. With `list=true` (Vault's `LIST` method is accepted and means the same): needs `list` on `secret/metadata/<path>/` and answers the keys directly under the folder, sub-folders with a trailing `/`.",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is"), ("list" = Option<bool>, Query, description = "`true`: list the folder instead (what Vault's `LIST` method does)")),
    responses((status = 200, description = "The metadata (without `list`) or the keys (with `list=true`)", body = MetadataOrList))
)]
async fn metadata_or_list(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Path(raw): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Result<Response> {
    if query.is_list() {
        return list(&state, &caller, id, &raw).await;
    }
    let path = SecretPath::parse(&raw)?;
    caller.authorize(&acl_path("metadata", &path), Capability::Read)?;
    let (meta, versions) = kv(&state).metadata(&path).await?;
    let body = MetadataResponse {
        cas_required: meta.cas_required,
        created_time: rfc3339(meta.created_at),
        current_version: meta.current_version,
        custom_metadata: meta.custom_metadata,
        delete_version_after: duration::format_seconds(meta.delete_version_after),
        max_versions: meta.max_versions,
        oldest_version: meta.oldest_version,
        updated_time: rfc3339(meta.updated_at),
        versions: versions
            .iter()
            .map(|v| {
                let summary = VersionSummary {
                    created_time: rfc3339(v.created_at),
                    deletion_time: v.deletion_time.map(rfc3339).unwrap_or_default(),
                    destroyed: v.destroyed,
                };
                (v.version.to_string(), summary)
            })
            .collect(),
    };
    Ok(Json(kv_envelope(id, body)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/secret/metadata",
    tag = "kv",
    operation_id = "kv_list_root",
    summary = "List the keys at the top of the mount",
    description = "Needs `list` on `secret/metadata/`. Only with `list=true` or the `LIST` method; also served at `/v1/secret/metadata/`.",
    params(("list" = bool, Query, description = "Must be `true` (or send `LIST`)")),
    responses((status = 200, description = "The top-level keys", body = VaultResponse<ListResponse>))
)]
async fn list_root(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Query(query): Query<VersionQuery>,
) -> Result<Response> {
    if !query.is_list() {
        return Err(Error::Invalid("missing secret path".into()));
    }
    list(&state, &caller, id, "").await
}

async fn list(state: &AppState, caller: &Caller, id: RequestId, raw: &str) -> Result<Response> {
    let prefix = SecretPath::parse_prefix(raw)?;
    caller.authorize_list(&format!("{MOUNT}/metadata/{prefix}"))?;
    let keys = kv(state).list(&prefix).await?;
    Ok(Json(kv_envelope(id, ListResponse { keys })).into_response())
}

/// A duration field of a KV body: at most 100 years (`duration::MAX_SECONDS`), so adding it
/// to a timestamp cannot wrap; errors name the field.
fn seconds(value: &Value, field: &str) -> Result<i64> {
    match value {
        Value::String(text) => Ok(duration::parse_field(field, text)?),
        Value::Number(n) => match n.as_i64() {
            Some(seconds) => Ok(duration::check_field(field, seconds)?),
            None => Err(Error::Invalid(format!(
                "{field} must be a whole number of seconds of at most 100 years"
            ))),
        },
        _ => Err(Error::Invalid(format!(
            "{field} must be a duration string such as \"1h30m\""
        ))),
    }
}

fn non_negative(value: Option<i64>, field: &str) -> Result<Option<i64>> {
    match value {
        Some(v) if v < 0 => Err(Error::Invalid(format!(
            "{field} must be a non-negative integer"
        ))),
        other => Ok(other),
    }
}

fn metadata_update(
    max_versions: Option<i64>,
    cas_required: Option<bool>,
    delete_version_after: Option<&Value>,
    custom_metadata: CustomMetadataChange,
) -> Result<MetadataUpdate> {
    Ok(MetadataUpdate {
        max_versions: non_negative(max_versions, "max_versions")?,
        cas_required,
        delete_version_after: delete_version_after
            .map(|v| seconds(v, "delete_version_after"))
            .transpose()?,
        custom_metadata,
    })
}

#[utoipa::path(
    method(post, put),
    path = "/v1/secret/metadata/{path}",
    tag = "kv",
    operation_id = "kv_write_metadata",
    summary = "Set a secret's settings and custom metadata",
    description = "Needs `create` or `update` on `secret/metadata/<path>`. Absent fields keep their value; `custom_metadata` replaces the whole map. Creates the secret's metadata if it has none.",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is")),
    request_body = MetadataRequest,
    responses((status = 204, description = "Saved"))
)]
async fn write_metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    JsonBody(request): JsonBody<MetadataRequest>,
) -> Result<Response> {
    let path = SecretPath::parse(&raw)?;
    let service = kv(&state);
    authorize_write(&caller, &service, "metadata", &path).await?;
    let custom = request
        .custom_metadata
        .map_or(CustomMetadataChange::Keep, CustomMetadataChange::Replace);
    let update = metadata_update(
        request.max_versions,
        request.cas_required,
        request.delete_version_after.as_ref(),
        custom,
    )?;
    service
        .update_metadata(&path, update, IfMissing::Create)
        .await?;
    Ok(no_content())
}

#[utoipa::path(
    patch,
    path = "/v1/secret/metadata/{path}",
    tag = "kv",
    operation_id = "kv_patch_metadata",
    summary = "Merge-patch a secret's settings and custom metadata",
    description = "Needs `patch` on `secret/metadata/<path>`. A null `custom_metadata` value removes that key.",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is")),
    request_body(content = MetadataPatchRequest, content_type = "application/merge-patch+json"),
    responses(
        (status = 204, description = "Saved"),
        (status = 415, description = "Content-Type is not application/merge-patch+json", body = ErrorBody),
    )
)]
async fn patch_metadata(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(raw): Path<String>,
    JsonBody(request): JsonBody<MetadataPatchRequest>,
) -> Result<Response> {
    require_merge_patch(&headers)?;
    let path = SecretPath::parse(&raw)?;
    caller.authorize(&acl_path("metadata", &path), Capability::Patch)?;
    let custom = request
        .custom_metadata
        .map_or(CustomMetadataChange::Keep, CustomMetadataChange::Merge);
    let update = metadata_update(
        request.max_versions,
        request.cas_required,
        request.delete_version_after.as_ref(),
        custom,
    )?;
    kv(&state)
        .update_metadata(&path, update, IfMissing::NotFound)
        .await?;
    Ok(no_content())
}

#[utoipa::path(
    delete,
    path = "/v1/secret/metadata/{path}",
    tag = "kv",
    operation_id = "kv_delete_metadata",
    summary = "Delete a secret: every version and its metadata, for good",
    description = "Needs `delete` on `secret/metadata/<path>`.",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is")),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response> {
    let path = SecretPath::parse(&raw)?;
    caller.authorize(&acl_path("metadata", &path), Capability::Delete)?;
    kv(&state).delete_metadata(&path).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/v1/secret/config",
    tag = "kv",
    operation_id = "kv_read_config",
    summary = "Read the mount's defaults",
    description = "Needs `read` on `secret/config`.",
    responses((status = 200, description = "The mount's defaults", body = VaultResponse<KvConfig>))
)]
async fn read_config(
    State(state): State<AppState>,
    caller: Caller,
    _: NotList,
    id: RequestId,
) -> Result<Response> {
    caller.authorize(&format!("{MOUNT}/config"), Capability::Read)?;
    let config = kv(&state).mount_config().await?;
    let body = json!({
        "max_versions": config.max_versions,
        "cas_required": config.cas_required,
        "delete_version_after": duration::format_seconds(config.delete_version_after),
    });
    Ok(Json(kv_envelope(id, body)).into_response())
}

#[utoipa::path(
    method(post, put),
    path = "/v1/secret/config",
    tag = "kv",
    operation_id = "kv_write_config",
    summary = "Set the mount's defaults",
    description = "Needs `create` or `update` on `secret/config`. Absent fields keep their value.",
    request_body = ConfigBody,
    responses((status = 204, description = "Saved"))
)]
async fn write_config(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<ConfigBody>,
) -> Result<Response> {
    caller.authorize_any(
        &format!("{MOUNT}/config"),
        &[Capability::Create, Capability::Update],
    )?;
    let update = ConfigUpdate {
        max_versions: non_negative(request.max_versions, "max_versions")?,
        cas_required: request.cas_required,
        delete_version_after: request
            .delete_version_after
            .as_ref()
            .map(|v| seconds(v, "delete_version_after"))
            .transpose()?,
    };
    kv(&state).update_mount_config(update).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/v1/secret/subkeys/{path}",
    tag = "kv",
    operation_id = "kv_subkeys",
    summary = "Read a version's keys without its values",
    description = "Needs `read` on `secret/subkeys/<path>`. Every leaf value is null.",
    params(("path" = String, Path, description = "The secret's path under the mount; may contain `/` (`app/prod/db`), sent as is"), ("version" = Option<i64>, Query, description = "A version number; absent or 0: the current version"), ("depth" = Option<u32>, Query, description = "How deep to descend into nested objects; 0 (default): all the way")),
    responses(
        (status = 200, description = "The keys", body = VaultResponse<SubkeysResponse>),
        (status = 404, description = "No such secret or version (`errors` empty), or the version is deleted or destroyed (the envelope with `subkeys` null)", body = SubkeysNotFound),
    )
)]
async fn subkeys(
    State(state): State<AppState>,
    caller: Caller,
    _: NotList,
    id: RequestId,
    Path(raw): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Result<Response> {
    let path = SecretPath::parse(&raw)?;
    caller.authorize(&acl_path("subkeys", &path), Capability::Read)?;
    let depth = query.depth.unwrap_or(0);
    match kv(&state).read(&path, query.version()?).await? {
        Read::Found(view) => {
            let shape = confmgr_core::kv::subkeys(&view.data.clone().unwrap_or_default(), depth);
            let body = json!({"subkeys": shape, "metadata": version_metadata(&view)});
            Ok(Json(kv_envelope(id, body)).into_response())
        }
        Read::Gone(view) => Err(gone(kv_envelope(
            id,
            json!({"subkeys": null, "metadata": version_metadata(&view)}),
        ))),
    }
}
