//! `sys/*` and token bodies.

use serde::{Deserialize, Serialize};

/// `GET /v1/sys/health`, answered bare (not in the envelope), as Vault does.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    pub initialized: bool,
    pub sealed: bool,
    pub standby: bool,
    pub performance_standby: bool,
    pub replication_performance_mode: String,
    pub replication_dr_mode: String,
    pub server_time_utc: i64,
    pub version: String,
    pub cluster_name: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenLookup {
    pub accessor: String,
    pub creation_time: i64,
    pub creation_ttl: i64,
    pub display_name: String,
    pub entity_id: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub expire_time: Option<String>,
    pub explicit_max_ttl: i64,
    /// The token the caller sent (empty for a lookup by accessor).
    pub id: String,
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<std::collections::BTreeMap<String, String>>, required = true)
    )]
    pub meta: Option<serde_json::Value>,
    pub num_uses: i64,
    pub orphan: bool,
    pub path: String,
    pub policies: Vec<String>,
    pub renewable: bool,
    pub ttl: i64,
    #[serde(rename = "type")]
    pub token_type: String,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub issue_time: String,
    /// Seconds; present for periodic tokens only, as in Vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i64>,
    /// The token role it was created against; present only then, as in Vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Who vouches for the identity behind the token (ConfMgr extension).
    pub issuer: String,
}
