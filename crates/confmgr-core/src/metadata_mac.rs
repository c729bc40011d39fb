//! The canonical input of a secret's metadata MAC (doc/design.md, "Metadata binding").
//!
//! A secret's version ciphertexts are bound to their address by AES-GCM associated data, but
//! the clear-text rows beside them (which version is current, which are deleted or destroyed)
//! are not encrypted. Each secret's metadata row carries an HMAC-SHA256 under a key derived
//! from a keyring term (`Keyring::mac_metadata`) over the input built here: the secret's
//! address, every metadata field and the state of every stored version, so that an edited,
//! deleted, replayed or copied row no longer matches and the read fails loudly.
//!
//! Strings are length-prefixed and numbers are decimal between `|` separators, so no two
//! different states give the same input.

use crate::kv::{SecretMeta, VersionMeta};
use std::fmt::Write;

/// Prefix of every input; a new layout takes a new prefix.
pub const METADATA_MAC_DOMAIN: &str = "confmgr/v1/meta";

/// A stored metadata MAC: the keyring term whose derived key made it, and the tag.
#[derive(Clone, PartialEq, Eq)]
pub struct MetadataMac {
    pub term: i64,
    pub tag: Vec<u8>,
}

impl std::fmt::Debug for MetadataMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MetadataMac {{ term: {}, .. }}", self.term)
    }
}

fn push_str(out: &mut String, value: &str) {
    // Writing to a String cannot fail.
    let _ = write!(out, "|{}:{value}", value.len());
}

fn push_int(out: &mut String, value: i64) {
    let _ = write!(out, "|{value}");
}

/// The bytes a secret's metadata MAC covers: mount, path, current and oldest version,
/// `max_versions`, `cas_required`, `delete_version_after`, `custom_metadata`, created and
/// updated time, then the number of stored versions and each one's number, created time,
/// deletion time and destroyed flag in ascending version order. The MAC itself
/// (`SecretMeta::binding`) is not part of it.
pub fn metadata_mac_input(
    mount: &str,
    path: &str,
    meta: &SecretMeta,
    versions: &[VersionMeta],
) -> Vec<u8> {
    let mut out = String::from(METADATA_MAC_DOMAIN);
    push_str(&mut out, mount);
    push_str(&mut out, path);
    for value in [
        meta.current_version,
        meta.oldest_version,
        meta.max_versions,
        i64::from(meta.cas_required),
        meta.delete_version_after,
    ] {
        push_int(&mut out, value);
    }
    match &meta.custom_metadata {
        None => out.push_str("|-"),
        Some(map) => {
            push_int(&mut out, i64::try_from(map.len()).unwrap_or(i64::MAX));
            // A BTreeMap iterates in key order: canonical.
            for (key, value) in map {
                push_str(&mut out, key);
                push_str(&mut out, value);
            }
        }
    }
    push_int(&mut out, meta.created_at);
    push_int(&mut out, meta.updated_at);
    let mut sorted: Vec<&VersionMeta> = versions.iter().collect();
    sorted.sort_by_key(|v| v.version);
    push_int(&mut out, i64::try_from(sorted.len()).unwrap_or(i64::MAX));
    for v in sorted {
        push_int(&mut out, v.version);
        push_int(&mut out, v.created_at);
        match v.deletion_time {
            Some(time) => push_int(&mut out, time),
            None => out.push_str("|-"),
        }
        push_int(&mut out, i64::from(v.destroyed));
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn meta() -> SecretMeta {
        let mut meta = SecretMeta::new(10);
        meta.current_version = 3;
        meta.oldest_version = 1;
        meta
    }

    fn version(n: i64) -> VersionMeta {
        VersionMeta {
            version: n,
            created_at: 100 + n,
            deletion_time: None,
            destroyed: false,
        }
    }

    #[test]
    fn input_is_canonical_and_readable() {
        let versions = [version(2), version(1), version(3)];
        let mut sorted = versions.clone();
        sorted.sort_by_key(|v| v.version);
        assert_eq!(
            metadata_mac_input("secret", "a/b", &meta(), &versions),
            metadata_mac_input("secret", "a/b", &meta(), &sorted)
        );
        assert_eq!(
            String::from_utf8(metadata_mac_input("secret", "a/b", &meta(), &[version(1)])).unwrap(),
            "confmgr/v1/meta|6:secret|3:a/b|3|1|0|0|0|-|10|10|1|1|101|-|0"
        );
    }

    #[test]
    fn every_field_changes_the_input() {
        let base_versions = vec![version(1), version(2), version(3)];
        let base = metadata_mac_input("secret", "a", &meta(), &base_versions);
        let mut changed = Vec::new();
        let with_meta = |f: &dyn Fn(&mut SecretMeta)| {
            let mut m = meta();
            f(&mut m);
            metadata_mac_input("secret", "a", &m, &base_versions)
        };
        changed.push(with_meta(&|m| m.current_version = 2));
        changed.push(with_meta(&|m| m.oldest_version = 2));
        changed.push(with_meta(&|m| m.max_versions = 5));
        changed.push(with_meta(&|m| m.cas_required = true));
        changed.push(with_meta(&|m| m.delete_version_after = 60));
        changed.push(with_meta(&|m| m.custom_metadata = Some(BTreeMap::new())));
        changed.push(with_meta(&|m| {
            m.custom_metadata = Some(BTreeMap::from([("k".into(), "v".into())]))
        }));
        changed.push(with_meta(&|m| m.created_at = 11));
        changed.push(with_meta(&|m| m.updated_at = 11));
        let with_versions = |f: &dyn Fn(&mut Vec<VersionMeta>)| {
            let mut v = base_versions.clone();
            f(&mut v);
            metadata_mac_input("secret", "a", &meta(), &v)
        };
        changed.push(with_versions(&|v| {
            v.remove(1);
        }));
        changed.push(with_versions(&|v| v[1].deletion_time = Some(5)));
        changed.push(with_versions(&|v| v[1].destroyed = true));
        changed.push(with_versions(&|v| v[1].created_at = 1));
        changed.push(with_versions(&|v| v.push(version(4))));
        changed.push(metadata_mac_input("secret", "b", &meta(), &base_versions));
        changed.push(metadata_mac_input("other", "a", &meta(), &base_versions));
        // Length prefixes: moving a separator between mount and path changes the input.
        changed.push(metadata_mac_input(
            "secret|1:a",
            "",
            &meta(),
            &base_versions,
        ));
        for (i, input) in changed.iter().enumerate() {
            assert_ne!(input, &base, "change {i} left the input as it was");
        }
        // Deletion times: swapping them between two versions is a different state.
        let mut swapped = base_versions.clone();
        swapped[0].deletion_time = Some(7);
        let mut other = base_versions;
        other[1].deletion_time = Some(7);
        assert_ne!(
            metadata_mac_input("secret", "a", &meta(), &swapped),
            metadata_mac_input("secret", "a", &meta(), &other)
        );
    }
}
