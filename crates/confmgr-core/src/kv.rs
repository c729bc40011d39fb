//! KV v2 rules that do not depend on storage: check-and-set, version pruning, deletion state.

use crate::metadata_mac::MetadataMac;
use crate::time::Micros;
use crate::ValidationError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const DEFAULT_MAX_VERSIONS: i64 = 10;
pub const MAX_CUSTOM_METADATA_KEYS: usize = 64;
pub const MAX_CUSTOM_METADATA_KEY_BYTES: usize = 128;
pub const MAX_CUSTOM_METADATA_VALUE_BYTES: usize = 512;

/// How a metadata write changes `custom_metadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CustomMetadataChange {
    #[default]
    Keep,
    /// `POST metadata`: the given map replaces the old one.
    Replace(BTreeMap<String, String>),
    /// `PATCH metadata` (JSON merge patch): `None` removes a key.
    Merge(BTreeMap<String, Option<String>>),
}

impl CustomMetadataChange {
    /// The resulting map, within Vault's limits (64 keys, 128-byte keys, 512-byte values).
    pub fn apply(
        self,
        current: Option<BTreeMap<String, String>>,
    ) -> Result<Option<BTreeMap<String, String>>, ValidationError> {
        let result = match self {
            Self::Keep => return Ok(current),
            Self::Replace(map) => map,
            Self::Merge(changes) => {
                let mut map = current.unwrap_or_default();
                for (key, value) in changes {
                    match value {
                        Some(value) => map.insert(key, value),
                        None => map.remove(&key),
                    };
                }
                map
            }
        };
        if result.len() > MAX_CUSTOM_METADATA_KEYS {
            return Err(ValidationError::new(format!(
                "custom_metadata may hold at most {MAX_CUSTOM_METADATA_KEYS} keys"
            )));
        }
        let fits = |(k, v): (&String, &String)| {
            !k.is_empty()
                && k.len() <= MAX_CUSTOM_METADATA_KEY_BYTES
                && v.len() <= MAX_CUSTOM_METADATA_VALUE_BYTES
        };
        if !result.iter().all(fits) {
            return Err(ValidationError::new(format!(
                "custom_metadata keys must be 1 to {MAX_CUSTOM_METADATA_KEY_BYTES} bytes and values at most {MAX_CUSTOM_METADATA_VALUE_BYTES} bytes"
            )));
        }
        Ok(Some(result))
    }
}

/// Mount-wide settings (`secret/config`). The default, all zeros, is what Vault stores and
/// answers until configured: `max_versions` 0 means the built-in default of 10.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvConfig {
    pub max_versions: i64,
    pub cas_required: bool,
    /// Seconds; 0 means versions are never deleted automatically.
    pub delete_version_after: i64,
}

/// Per-secret settings and state (`secret/metadata/:path`). Zero settings inherit the mount's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretMeta {
    pub current_version: i64,
    pub oldest_version: i64,
    pub max_versions: i64,
    pub cas_required: bool,
    pub delete_version_after: i64,
    pub custom_metadata: Option<BTreeMap<String, String>>,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// The MAC that binds this metadata and its versions' states under the keyring
    /// (`crate::metadata_mac`); `None` on rows written before migration 0007 and on a
    /// record created in the current transaction.
    pub binding: Option<MetadataMac>,
}

impl SecretMeta {
    pub fn new(now: Micros) -> Self {
        Self {
            current_version: 0,
            oldest_version: 0,
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: None,
            created_at: now,
            updated_at: now,
            binding: None,
        }
    }

    pub fn effective_max_versions(&self, config: &KvConfig) -> i64 {
        [self.max_versions, config.max_versions]
            .into_iter()
            .find(|v| *v > 0)
            .unwrap_or(DEFAULT_MAX_VERSIONS)
    }

    /// Vault lets the shorter of the secret's and the mount's `delete_version_after` win.
    pub fn effective_delete_after(&self, config: &KvConfig) -> i64 {
        match (self.delete_version_after, config.delete_version_after) {
            (0, m) => m,
            (s, 0) => s,
            (s, m) => s.min(m),
        }
    }

    /// Check-and-set as Vault does it: `cas` must equal the current version (0: not yet written).
    pub fn check_cas(&self, config: &KvConfig, cas: Option<i64>) -> Result<(), ValidationError> {
        match cas {
            None if self.cas_required || config.cas_required => Err(ValidationError::new(
                "check-and-set parameter required for this call",
            )),
            Some(expected) if expected != self.current_version => Err(ValidationError::new(
                "check-and-set parameter did not match the current version",
            )),
            _ => Ok(()),
        }
    }

    /// After a write of `current_version`: versions below the returned one are to be removed.
    pub fn prune_below(&self, config: &KvConfig) -> Option<i64> {
        let keep_from = self.current_version - self.effective_max_versions(config) + 1;
        (keep_from > self.oldest_version.max(1)).then_some(keep_from)
    }
}

/// The clear-text state of one version (its data lives elsewhere, encrypted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionMeta {
    pub version: i64,
    pub created_at: Micros,
    pub deletion_time: Option<Micros>,
    pub destroyed: bool,
}

impl VersionMeta {
    /// Soft-deleted (deletion time reached) or destroyed: its data must not be served.
    pub fn is_gone(&self, now: Micros) -> bool {
        self.destroyed || self.deletion_time.is_some_and(|t| t <= now)
    }
}

/// Vault's `subkeys`: the shape of the data with every leaf replaced by null.
/// `depth` 0 means unlimited; at the depth limit, objects become null too.
pub fn subkeys(data: &Map<String, Value>, depth: u32) -> Map<String, Value> {
    data.iter()
        .map(|(key, value)| {
            let shape = match value {
                Value::Object(inner) if depth != 1 => {
                    Value::Object(subkeys(inner, depth.saturating_sub(1)))
                }
                _ => Value::Null,
            };
            (key.clone(), shape)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cas_rules() {
        let config = KvConfig::default();
        let mut meta = SecretMeta::new(0);
        assert!(meta.check_cas(&config, None).is_ok());
        assert!(meta.check_cas(&config, Some(0)).is_ok());
        meta.current_version = 3;
        assert!(meta.check_cas(&config, Some(0)).is_err());
        assert!(meta.check_cas(&config, Some(3)).is_ok());
        let err = meta.check_cas(&config, Some(2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "check-and-set parameter did not match the current version"
        );
        meta.cas_required = true;
        assert_eq!(
            meta.check_cas(&config, None).unwrap_err().to_string(),
            "check-and-set parameter required for this call"
        );
    }

    #[test]
    fn pruning_keeps_max_versions() {
        let config = KvConfig {
            max_versions: 3,
            ..KvConfig::default()
        };
        let mut meta = SecretMeta::new(0);
        meta.oldest_version = 1;
        meta.current_version = 3;
        assert_eq!(meta.prune_below(&config), None);
        meta.current_version = 4;
        assert_eq!(meta.prune_below(&config), Some(2));
        meta.max_versions = 1;
        assert_eq!(meta.prune_below(&config), Some(4));
    }

    #[test]
    fn effective_settings() {
        let config = KvConfig {
            max_versions: 0,
            cas_required: false,
            delete_version_after: 60,
        };
        let mut meta = SecretMeta::new(0);
        assert_eq!(meta.effective_max_versions(&config), DEFAULT_MAX_VERSIONS);
        meta.max_versions = 4;
        assert_eq!(meta.effective_max_versions(&config), 4);
        assert_eq!(meta.effective_delete_after(&config), 60);
        meta.delete_version_after = 30;
        assert_eq!(meta.effective_delete_after(&config), 30);
    }

    #[test]
    fn custom_metadata_changes() {
        let current = Some(BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]));
        assert_eq!(
            CustomMetadataChange::Keep.apply(current.clone()),
            Ok(current.clone())
        );
        let merged = CustomMetadataChange::Merge(BTreeMap::from([
            ("a".to_string(), None),
            ("c".to_string(), Some("3".to_string())),
        ]))
        .apply(current.clone());
        assert_eq!(
            merged,
            Ok(Some(BTreeMap::from([
                ("b".to_string(), "2".to_string()),
                ("c".to_string(), "3".to_string())
            ])))
        );
        let replaced = CustomMetadataChange::Replace(BTreeMap::new()).apply(current);
        assert_eq!(replaced, Ok(Some(BTreeMap::new())));
        let too_long =
            CustomMetadataChange::Replace(BTreeMap::from([("k".to_string(), "v".repeat(513))]));
        assert!(too_long.apply(None).is_err());
        let too_many = (0..65).map(|i| (i.to_string(), String::new())).collect();
        assert!(CustomMetadataChange::Replace(too_many).apply(None).is_err());
    }

    #[test]
    fn gone_versions() {
        let v = VersionMeta {
            version: 1,
            created_at: 0,
            deletion_time: Some(100),
            destroyed: false,
        };
        assert!(!v.is_gone(99));
        assert!(v.is_gone(100));
        assert!(VersionMeta {
            destroyed: true,
            deletion_time: None,
            ..v
        }
        .is_gone(0));
    }

    #[test]
    fn subkeys_shape() {
        let data = json!({"a": 1, "b": {"c": "x", "d": {"e": true}}});
        let Value::Object(map) = data else {
            unreachable!()
        };
        assert_eq!(
            Value::Object(subkeys(&map, 0)),
            json!({"a": null, "b": {"c": null, "d": {"e": null}}})
        );
        assert_eq!(
            Value::Object(subkeys(&map, 1)),
            json!({"a": null, "b": null})
        );
        assert_eq!(
            Value::Object(subkeys(&map, 2)),
            json!({"a": null, "b": {"c": null, "d": null}})
        );
    }
}
