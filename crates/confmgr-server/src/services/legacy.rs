//! The legacy API of the earlier Python secret manager (DESIGN.md section 4): opaque
//! base64 secrets under random ids. Each is an ordinary KV v2 secret `legacy/<uuid>` with
//! data `{"value": "<base64>"}`, written and read through the KV service, so it is
//! encrypted, versioned and audited like any other and can be migrated with the KV API.

use super::kv::{Data, Kv, Read};
use crate::error::{Error, Result};
use base64::Engine;
use confmgr_core::crypto::RootKey;
use confmgr_core::path::SecretPath;
use serde_json::Value;
use uuid::Uuid;
use zeroize::Zeroizing;

const VALUE: &str = "value";

/// Where the secret with this id lives on its mount.
pub fn path(id: Uuid) -> Result<SecretPath> {
    Ok(SecretPath::parse(&format!("legacy/{}", id.hyphenated()))?)
}

/// What the digest key is derived for; a new purpose gets a new label.
const DIGEST_KEY_LABEL: &[u8] = b"confmgr/v1/digest-key|legacy-secret-id";
/// Bytes of the MAC shown (128 bits, as hex).
const DIGEST_BYTES: usize = 16;

/// A legacy secret id is a bearer credential: whoever holds it reads the secret. Audit
/// events and logs name it only by this keyed digest, `hmac:` and 32 hex digits: HMAC-SHA256
/// of the (lowercase, hyphenated) id under a key derived from the root key. The same id
/// always gives the same digest on every replica, so its events can be correlated; without
/// the root key a digest cannot be tied to an id. A `rekey` changes every digest.
pub fn id_digest(root: &RootKey, id: Uuid) -> String {
    let mac = root.keyed_digest(DIGEST_KEY_LABEL, id.hyphenated().to_string().as_bytes());
    let hex: String = mac[..DIGEST_BYTES]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("hmac:{hex}")
}

/// The path an audit event names for the legacy secret `id` (on the `secret` mount):
/// `legacy/<digest>` instead of `legacy/<id>`.
pub fn audit_path(root: &RootKey, id: Uuid) -> String {
    format!("legacy/{}", id_digest(root, id))
}

/// Standard alphabet with canonical padding, as Python's `base64.b64encode` writes it; the
/// complaint names no byte or offset, since those would be part of the secret.
fn check_base64(secret: &str) -> Result<()> {
    match base64::engine::general_purpose::STANDARD.decode(secret) {
        Ok(bytes) => {
            drop(Zeroizing::new(bytes));
            Ok(())
        }
        Err(_) => Err(Error::Invalid(
            "secret is not valid base64 (standard alphabet, padded, no line breaks)".into(),
        )),
    }
}

/// Stores a new secret under `id`. Create-only (`cas: 0`), so an id is never reused even
/// if two ever collided.
pub async fn create(kv: &Kv<'_>, id: Uuid, secret: String) -> Result<()> {
    check_base64(&secret)?;
    let mut data = Data::new();
    data.insert(VALUE.into(), Value::String(secret));
    kv.write(&path(id)?, data, Some(0)).await?;
    Ok(())
}

/// The base64 secret stored under `id`. `NotFound` when there is none, or when its current
/// version was deleted or destroyed through the KV API.
pub async fn fetch(kv: &Kv<'_>, id: Uuid) -> Result<String> {
    match kv.read(&path(id)?, None).await? {
        Read::Found(view) => match view.data.and_then(|mut data| data.remove(VALUE)) {
            Some(Value::String(secret)) => Ok(secret),
            // Someone rewrote it through the KV API without a string `value`. The message
            // does not name the id (a credential): the request's audit event names its digest.
            _ => Err(Error::Internal(format!(
                "the legacy secret has no string \"{VALUE}\" field"
            ))),
        },
        Read::Gone(_) => Err(Error::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict_and_errors_say_nothing_of_the_value() {
        for good in ["", "AA==", "aGVsbG8=", "/+/+"] {
            assert!(check_base64(good).is_ok(), "{good}");
        }
        for bad in [
            "A",
            "AA=",
            "aGVsbG8",
            "aGV sbG8=",
            "aGVs\nbG8=",
            "-_-_",
            "hunter2!",
        ] {
            let err = check_base64(bad).unwrap_err().to_string();
            assert!(!err.contains(bad), "{err}");
            assert!(!err.contains("offset"), "{err}");
        }
    }

    #[test]
    fn digests_are_stable_keyed_and_never_the_id() {
        let root = RootKey::generate();
        let id = Uuid::new_v4();
        let upper = Uuid::try_parse(&id.to_string().to_uppercase()).unwrap();
        let digest = id_digest(&root, id);
        assert_eq!(digest, id_digest(&root, upper));
        assert!(digest.starts_with("hmac:") && digest.len() == 5 + 2 * DIGEST_BYTES);
        assert!(!digest.contains(&id.simple().to_string()[..8]), "{digest}");
        assert_ne!(digest, id_digest(&root, Uuid::new_v4()));
        assert_ne!(digest, id_digest(&RootKey::generate(), id), "keyed");
        assert_eq!(audit_path(&root, id), format!("legacy/{digest}"));
    }

    #[test]
    fn any_uuid_spelling_names_one_path() {
        let id = Uuid::new_v4();
        let upper = Uuid::try_parse(&id.to_string().to_uppercase()).unwrap();
        assert_eq!(path(upper).unwrap().as_str(), format!("legacy/{id}"));
    }
}
