//! KV v2 bodies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WriteOptions {
    /// Check-and-set: the version the caller believes is current (0: create only).
    #[serde(default)]
    pub cas: Option<i64>,
}

/// `POST|PUT|PATCH secret/data/:path`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WriteRequest {
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(default)]
    pub options: Option<WriteOptions>,
}

/// `POST secret/delete|undelete|destroy/:path`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct VersionsRequest {
    #[serde(default)]
    pub versions: Vec<i64>,
}

/// `POST secret/metadata/:path`: absent fields keep their value.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataRequest {
    #[serde(default)]
    pub max_versions: Option<i64>,
    #[serde(default)]
    pub cas_required: Option<bool>,
    /// A Go duration (`"1h30m"`) or a number of seconds.
    #[serde(default)]
    pub delete_version_after: Option<Value>,
    #[serde(default)]
    pub custom_metadata: Option<BTreeMap<String, String>>,
}

/// `PATCH secret/metadata/:path` (JSON merge patch): a null custom_metadata value removes that key.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataPatchRequest {
    #[serde(default)]
    pub max_versions: Option<i64>,
    #[serde(default)]
    pub cas_required: Option<bool>,
    #[serde(default)]
    pub delete_version_after: Option<Value>,
    #[serde(default)]
    pub custom_metadata: Option<BTreeMap<String, Option<String>>>,
}

/// `GET|POST secret/config`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ConfigBody {
    #[serde(default)]
    pub max_versions: Option<i64>,
    #[serde(default)]
    pub cas_required: Option<bool>,
    #[serde(default)]
    pub delete_version_after: Option<Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct VersionMetadata {
    pub created_time: String,
    pub custom_metadata: Option<BTreeMap<String, String>>,
    /// Empty when not deleted, as in Vault.
    pub deletion_time: String,
    pub destroyed: bool,
    pub version: i64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ReadResponse {
    pub data: Option<Map<String, Value>>,
    pub metadata: VersionMetadata,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct VersionSummary {
    pub created_time: String,
    pub deletion_time: String,
    pub destroyed: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct MetadataResponse {
    pub cas_required: bool,
    pub created_time: String,
    pub current_version: i64,
    pub custom_metadata: Option<BTreeMap<String, String>>,
    pub delete_version_after: String,
    pub max_versions: i64,
    pub oldest_version: i64,
    pub updated_time: String,
    pub versions: BTreeMap<String, VersionSummary>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ListResponse {
    pub keys: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SubkeysResponse {
    pub subkeys: Map<String, Value>,
    pub metadata: VersionMetadata,
}
