//! KV v2 bodies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WriteOptions {
    /// Check-and-set: the version the caller believes is current (0: create only).
    #[serde(default)]
    pub cas: Option<i64>,
}

/// `POST|PUT|PATCH secret/data/:path`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WriteRequest {
    /// The version's data: a JSON object whose values may be any JSON. On `PATCH`, a JSON
    /// merge patch (RFC 7396) applied to the current version's data.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Option<Value>,
    #[serde(default)]
    pub options: Option<WriteOptions>,
}

/// `POST secret/delete|undelete|destroy/:path`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VersionsRequest {
    /// The version numbers to change (each at least 1); versions that do not exist are
    /// skipped.
    #[serde(default)]
    pub versions: Vec<i64>,
}

/// `POST secret/metadata/:path`: absent fields keep their value.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MetadataRequest {
    #[serde(default)]
    pub max_versions: Option<i64>,
    #[serde(default)]
    pub cas_required: Option<bool>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Duration>))]
    pub delete_version_after: Option<Value>,
    #[serde(default)]
    pub custom_metadata: Option<BTreeMap<String, String>>,
}

/// `PATCH secret/metadata/:path` (JSON merge patch): a null custom_metadata value removes that key.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MetadataPatchRequest {
    #[serde(default)]
    pub max_versions: Option<i64>,
    #[serde(default)]
    pub cas_required: Option<bool>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Duration>))]
    pub delete_version_after: Option<Value>,
    #[serde(default)]
    pub custom_metadata: Option<BTreeMap<String, Option<String>>>,
}

/// `GET|POST secret/config`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    #[serde(default)]
    pub max_versions: Option<i64>,
    #[serde(default)]
    pub cas_required: Option<bool>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Duration>))]
    pub delete_version_after: Option<Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionMetadata {
    /// RFC 3339, UTC, microseconds.
    pub created_time: String,
    /// The secret's custom metadata (null when it has none).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub custom_metadata: Option<BTreeMap<String, String>>,
    /// Empty when not deleted, as in Vault.
    pub deletion_time: String,
    pub destroyed: bool,
    pub version: i64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadResponse {
    /// The version's data; null when the version is deleted or destroyed (a 404).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>, required = true))]
    pub data: Option<Map<String, Value>>,
    pub metadata: VersionMetadata,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionSummary {
    pub created_time: String,
    pub deletion_time: String,
    pub destroyed: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetadataResponse {
    pub cas_required: bool,
    pub created_time: String,
    pub current_version: i64,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub custom_metadata: Option<BTreeMap<String, String>>,
    /// Shown the way Go prints durations (`"1h30m0s"`); `"0s"`: the mount's setting applies.
    pub delete_version_after: String,
    pub max_versions: i64,
    pub oldest_version: i64,
    pub updated_time: String,
    /// The versions still stored, by number.
    pub versions: BTreeMap<String, VersionSummary>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListResponse {
    /// Direct children, sub-folders with a trailing `/`, in byte order.
    pub keys: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubkeysResponse {
    /// The data's keys with every leaf value replaced by null (nested objects kept down to
    /// `depth`); null when the version is deleted or destroyed (a 404).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>, required = true))]
    pub subkeys: Map<String, Value>,
    pub metadata: VersionMetadata,
}
