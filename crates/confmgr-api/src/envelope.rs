use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Vault's response envelope. Every Vault-shaped route answers in it, so existing clients
/// (hvac, the vault CLI, External Secrets) parse ConfMgr's answers unchanged.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VaultResponse<T> {
    pub request_id: String,
    pub lease_id: String,
    pub renewable: bool,
    pub lease_duration: i64,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub data: Option<T>,
    /// Null unless the request asked for wrapping (`X-Vault-Wrap-TTL`): Vault's `wrap_info`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>, required = true))]
    pub wrap_info: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub warnings: Option<Vec<String>>,
    /// Null except on logins, token creation and renewal.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>, required = true))]
    pub auth: Option<Value>,
    /// `"kv"` on KV routes, absent elsewhere.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mount_type: String,
}

impl<T> VaultResponse<T> {
    pub fn new(request_id: String, data: Option<T>) -> Self {
        Self {
            request_id,
            lease_id: String::new(),
            renewable: false,
            lease_duration: 0,
            data,
            wrap_info: None,
            warnings: None,
            auth: None,
            mount_type: String::new(),
        }
    }

    pub fn with_mount_type(mut self, mount_type: &str) -> Self {
        self.mount_type = mount_type.to_owned();
        self
    }
}

/// Every error answers `{"errors": [...]}`; a missing path answers an empty list, as Vault does.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub errors: Vec<String>,
}
