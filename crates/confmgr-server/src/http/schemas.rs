//! Schemas of answers that handlers build as JSON values (Vault's shapes, many fields fixed by
//! compatibility). They exist for the OpenAPI document only; the `openapi` tests check real
//! answers against them, so a handler that drifts from its schema fails a test.
#![allow(dead_code, clippy::large_enum_variant)]

use confmgr_api::kv::{ListResponse, MetadataResponse, ReadResponse, SubkeysResponse};
use confmgr_api::{ErrorBody, VaultResponse};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Vault's `auth` block: the token a login, token creation or renewal hands out.
#[derive(ToSchema)]
pub struct AuthBlock {
    /// The token itself: shown once, never stored in clear.
    client_token: String,
    accessor: String,
    policies: Vec<String>,
    token_policies: Vec<String>,
    /// Always null (no identity policies).
    #[schema(value_type = Option<Vec<String>>, required = true)]
    identity_policies: Option<Vec<String>>,
    metadata: BTreeMap<String, String>,
    /// Seconds until the token expires (0: never).
    lease_duration: i64,
    renewable: bool,
    entity_id: String,
    /// Always `"service"`.
    token_type: String,
    orphan: bool,
    /// Always null (no MFA).
    #[schema(value_type = Option<Object>, required = true)]
    mfa_requirement: Option<Value>,
    num_uses: i64,
    /// Who vouches for the identity behind the token (ConfMgr extension).
    issuer: String,
}

/// The envelope of logins, token creation and renewal: `data` is null, `auth` holds the token.
#[derive(ToSchema)]
pub struct AuthResponse {
    request_id: String,
    lease_id: String,
    renewable: bool,
    lease_duration: i64,
    #[schema(value_type = Option<Object>, required = true)]
    data: Option<Value>,
    #[schema(value_type = Option<Object>, required = true)]
    wrap_info: Option<Value>,
    #[schema(required = true)]
    warnings: Option<Vec<String>>,
    auth: AuthBlock,
}

/// `secret/config`: the mount's defaults.
#[derive(ToSchema)]
pub struct KvConfig {
    max_versions: i64,
    cas_required: bool,
    /// A Go-style duration (`"0s"`: versions are kept until deleted).
    delete_version_after: String,
}

/// A LIST answer: names, sub-folders with a trailing `/`.
#[derive(ToSchema)]
pub struct Keys {
    keys: Vec<String>,
}

/// `sys/policies/acl` LIST: the names twice, as Vault answers (`policies` for older clients).
#[derive(ToSchema)]
pub struct PolicyNames {
    keys: Vec<String>,
    policies: Vec<String>,
}

/// `sys/policies/acl/:name`.
#[derive(ToSchema)]
pub struct Policy {
    name: String,
    /// The policy text (HCL or JSON).
    policy: String,
}

/// `sys/policy/:name`, the older API: the text is called `rules`.
#[derive(ToSchema)]
pub struct LegacyPolicy {
    name: String,
    rules: String,
}

/// `auth/approle/role/:name`: an API client, in AppRole's field names. Fields ConfMgr does
/// not support are answered with their neutral value.
#[derive(ToSchema)]
pub struct Role {
    name: String,
    role_id: String,
    issuer: String,
    bind_secret_id: bool,
    local_secret_ids: bool,
    policies: Vec<String>,
    token_policies: Vec<String>,
    /// Seconds.
    token_ttl: i64,
    /// Seconds.
    token_max_ttl: i64,
    token_explicit_max_ttl: i64,
    token_bound_cidrs: Vec<String>,
    token_no_default_policy: bool,
    token_num_uses: i64,
    token_period: i64,
    token_type: String,
    /// Seconds (0: secret_ids do not expire).
    secret_id_ttl: i64,
    /// 0: unlimited.
    secret_id_num_uses: i64,
    secret_id_bound_cidrs: Vec<String>,
    allowed_common_names: Vec<String>,
    allowed_dns_sans: Vec<String>,
    allowed_uri_sans: Vec<String>,
}

#[derive(ToSchema)]
pub struct RoleId {
    role_id: String,
}

/// A new secret_id: shown once.
#[derive(ToSchema)]
pub struct SecretIdCreated {
    secret_id: String,
    secret_id_accessor: String,
    /// Seconds (0: no expiry).
    secret_id_ttl: i64,
    /// 0: unlimited.
    secret_id_num_uses: i64,
}

/// What is known about a secret_id (never its value).
#[derive(ToSchema)]
pub struct SecretIdInfo {
    secret_id_accessor: String,
    creation_time: String,
    last_updated_time: String,
    /// `0001-01-01T00:00:00Z` when it does not expire, as Vault answers.
    expiration_time: String,
    secret_id_ttl: i64,
    secret_id_num_uses: i64,
    metadata: BTreeMap<String, String>,
    cidr_list: Vec<String>,
    token_bound_cidrs: Vec<String>,
}

/// `sys/keys/rotate`: the keyring term now used for new data keys.
#[derive(ToSchema)]
pub struct Rotated {
    term: i64,
}

#[derive(ToSchema)]
pub struct KeyStatus {
    active_term: i64,
    terms: Vec<TermStatus>,
    rewrap: RewrapStatus,
}

#[derive(ToSchema)]
pub struct TermStatus {
    term: i64,
    created_time: String,
    /// Data keys wrapped by this term.
    wrapped_keys: i64,
}

#[derive(ToSchema)]
pub struct RewrapStatus {
    /// Requested and not finished (resumes after a restart).
    running: bool,
    /// Data keys still wrapped by an older term.
    pending: i64,
    /// Data keys re-wrapped since the current rewrap was requested.
    done: i64,
    #[schema(required = true)]
    requested_time: Option<String>,
    #[schema(required = true)]
    finished_time: Option<String>,
}

/// A page of audit events, oldest first (fields in doc/audit.md).
#[derive(ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    events: Vec<Value>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<i64>,
}

/// The audit hash chain, checked from genesis or the last retention checkpoint.
#[derive(ToSchema)]
pub struct VerifyReport {
    /// No break found.
    ok: bool,
    /// Sealed events that verified.
    checked: u64,
    /// The first problem: `kind` is `edited`, `missing`, `relinked`, `checkpoint`,
    /// `truncated`, `head_mismatch` or `unsealed`.
    #[schema(value_type = Option<Object>, required = true)]
    first_break: Option<Value>,
    /// The seq of the last event that verified.
    last_seq: i64,
    /// The hash at `last_seq` (lowercase hex): the chain head to keep outside the database.
    last_hash: String,
    /// The first seq linked with the keyed MAC; null until the chain key exists.
    #[schema(required = true)]
    keyed_from: Option<i64>,
    /// With `expect_head`: `found`, `purged` (older than the retention checkpoint) or
    /// `not_found`.
    expected_head: Option<String>,
}

/// The mount the vault CLI asks about before each `kv` command: always KV v2 on `secret/`.
#[derive(Serialize, ToSchema)]
pub struct MountInfo {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    description: String,
    accessor: String,
    local: bool,
    seal_wrap: bool,
    external_entropy_access: bool,
    #[schema(value_type = Object)]
    options: Value,
    #[schema(value_type = Object)]
    config: Value,
}

/// `/healthz` and `/readyz` when all is well.
#[derive(ToSchema)]
pub struct Status {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    status: String,
}

/// `GET secret/metadata/:path`: the metadata, or with `list=true` (the `LIST` method) the
/// keys under the path.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum MetadataOrList {
    Metadata(VaultResponse<MetadataResponse>),
    List(VaultResponse<ListResponse>),
}

/// The legacy API's answer to `create`.
#[derive(ToSchema)]
pub struct LegacyCreated {
    /// A UUID: the only way to fetch the secret back.
    secret_id: String,
}

/// The legacy API's answer to `fetch`.
#[derive(ToSchema)]
pub struct LegacyFetched {
    /// The secret's bytes, base64, exactly as stored.
    secret: String,
}

/// A read's 404: the version is deleted or destroyed (the envelope, its `data` null), or
/// there is no such secret or version (`errors` empty).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ReadNotFound {
    Gone(VaultResponse<ReadResponse>),
    Missing(ErrorBody),
}

/// A subkeys read's 404, as [`ReadNotFound`].
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SubkeysNotFound {
    Gone(VaultResponse<SubkeysResponse>),
    Missing(ErrorBody),
}
