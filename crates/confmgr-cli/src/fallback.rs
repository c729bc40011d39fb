//! The encrypted copy of the secrets that `confmgr run --fallback FILE` keeps, so a command
//! still starts while the server is unreachable.
//!
//! Key: 32 random bytes from the OS CSPRNG, generated on first use and kept as base64 in
//! `<config dir>/confmgr/fallback.key` (mode 0600, next to the token file of `confmgr login`).
//! The key never leaves that file; losing it only makes old fallback files unreadable.
//!
//! File (JSON, mode 0600, replaced atomically through a temporary file and a rename):
//!
//! ```json
//! {"format": 1, "kind": "confmgr-run-fallback", "paths": ["app/prod", "app/shared"],
//!  "nonce": "<base64, 12 bytes>", "ciphertext": "<base64, AES-256-GCM with its tag>"}
//! ```
//!
//! The plaintext is `{"saved_at": <unix seconds>, "secrets": [{"path", "version", "data"}]}`.
//! The associated data is `confmgr/v1/run-fallback|1|` followed by the JSON array of the
//! paths asked for, so a file that was edited, copied from another set of paths or encrypted
//! with another key fails to open, and the command is not started.

use crate::files;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The version of the file layout and of the associated data.
pub const FORMAT: u32 = 1;
const KIND: &str = "confmgr-run-fallback";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

/// One secret as fetched: its path, the version read and its data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fetched {
    pub path: String,
    pub version: u64,
    pub data: Map<String, Value>,
}

/// What a fallback file holds once opened.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When it was written (Unix seconds; authenticated with the rest).
    pub saved_at: i64,
    pub secrets: Vec<Fetched>,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: u32,
    kind: String,
    paths: Vec<String>,
    nonce: String,
    ciphertext: String,
}

/// The fallback key, zeroed when dropped; `Debug` never shows it.
pub struct FallbackKey {
    bytes: Zeroizing<[u8; KEY_BYTES]>,
    /// The key file it came from, for messages.
    file: Option<PathBuf>,
}

impl std::fmt::Debug for FallbackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FallbackKey(<redacted>)")
    }
}

impl FallbackKey {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        OsRng.fill_bytes(bytes.as_mut());
        Self { bytes, file: None }
    }

    fn from_text(text: &str, path: &Path) -> Result<Self> {
        let decoded = Zeroizing::new(B64.decode(text.trim()).unwrap_or_default());
        if decoded.len() != KEY_BYTES {
            bail!(
                "{} is not a fallback key (base64 of {KEY_BYTES} bytes); remove it to start over \
                 (fallback files written with it become unreadable)",
                path.display()
            );
        }
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        bytes.copy_from_slice(&decoded);
        Ok(Self {
            bytes,
            file: Some(path.to_owned()),
        })
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.bytes.as_ref()))
    }

    fn describe(&self) -> String {
        match &self.file {
            Some(file) => file.display().to_string(),
            None => "the fallback key in use".into(),
        }
    }
}

/// `<config dir>/confmgr/fallback.key`.
pub fn key_path(config_dir: &Path) -> PathBuf {
    config_dir.join("confmgr").join("fallback.key")
}

/// Reads the key at `path`; `None` when there is none yet.
pub fn read_key(path: &Path) -> Result<Option<FallbackKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    files::warn_if_shared(path);
    FallbackKey::from_text(&text, path).map(Some)
}

/// Reads the key at `path`, creating it (0600, directory 0700) when there is none. Two
/// processes creating it at once agree on one key: the file appears complete or not at all.
pub fn load_or_create_key(path: &Path) -> Result<FallbackKey> {
    if let Some(key) = read_key(path)? {
        return Ok(key);
    }
    if let Some(dir) = path.parent() {
        files::create_private_dir(dir)?;
    }
    let mut key = FallbackKey::generate();
    key.file = Some(path.to_owned());
    let text = Zeroizing::new(format!("{}\n", B64.encode(key.bytes.as_ref())));
    // Written whole under a temporary name, then linked into place: link fails if another
    // process got there first, and then its key is the one to use.
    let temp = path.with_file_name(format!(
        ".fallback.key.{}.{}.tmp",
        std::process::id(),
        crate::clock::now_seconds()
    ));
    files::write_private(&temp, text.as_bytes())?;
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(key),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => read_key(path)?
            .ok_or_else(|| anyhow!("{} vanished while it was created", path.display())),
        Err(error) => Err(error).with_context(|| format!("cannot create {}", path.display())),
    }
}

fn aad(paths: &[String]) -> Result<Vec<u8>> {
    let mut aad = format!("confmgr/v1/run-fallback|{FORMAT}|").into_bytes();
    aad.extend(serde_json::to_vec(paths)?);
    Ok(aad)
}

/// Encrypts `snapshot` for `paths` (in the order asked for) and writes it to `file`.
pub fn save(file: &Path, key: &FallbackKey, paths: &[String], snapshot: &Snapshot) -> Result<()> {
    let plaintext = Zeroizing::new(serde_json::to_vec(snapshot)?);
    let mut nonce = [0u8; NONCE_BYTES];
    OsRng.fill_bytes(&mut nonce);
    let ciphertext = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &aad(paths)?,
            },
        )
        .map_err(|_| anyhow!("cannot encrypt the fallback copy"))?;
    let envelope = Envelope {
        format: FORMAT,
        kind: KIND.into(),
        paths: paths.to_vec(),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
    };
    let mut text = serde_json::to_vec_pretty(&envelope)?;
    text.push(b'\n');
    files::write_private(file, &text)
}

/// Opens `file` for `paths`. Every failure is an error that names the file and what to do;
/// none of them contains a secret value.
pub fn load(file: &Path, key: &FallbackKey, paths: &[String]) -> Result<Snapshot> {
    let shown = file.display();
    let text = std::fs::read(file).with_context(|| format!("cannot read {shown}"))?;
    let envelope: Envelope = serde_json::from_slice(&text).map_err(|_| {
        anyhow!("{shown} is not a confmgr fallback file (it was modified or is another file)")
    })?;
    if envelope.kind != KIND {
        bail!(
            "{shown} is not a confmgr fallback file (kind {:?})",
            envelope.kind
        );
    }
    if envelope.format != FORMAT {
        bail!(
            "{shown} has format {}; this confmgr reads format {FORMAT}",
            envelope.format
        );
    }
    if envelope.paths != paths {
        bail!(
            "{shown} holds the secrets of {}, not of {}: use one fallback file per set of --path",
            envelope.paths.join(", "),
            paths.join(", ")
        );
    }
    let refused = || {
        anyhow!(
            "{shown} failed authentication: it was modified, or it was encrypted with another \
             key than {}; not using it",
            key.describe()
        )
    };
    let nonce = B64.decode(&envelope.nonce).map_err(|_| refused())?;
    let ciphertext = B64.decode(&envelope.ciphertext).map_err(|_| refused())?;
    if nonce.len() != NONCE_BYTES {
        return Err(refused());
    }
    let plaintext = Zeroizing::new(
        key.cipher()
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad(paths)?,
                },
            )
            .map_err(|_| refused())?,
    );
    let snapshot: Snapshot = serde_json::from_slice(&plaintext).map_err(|_| refused())?;
    let stored: Vec<&str> = snapshot.secrets.iter().map(|s| s.path.as_str()).collect();
    if stored != paths.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(refused());
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn snapshot(paths: &[String]) -> Snapshot {
        Snapshot {
            saved_at: 1_767_225_600,
            secrets: paths
                .iter()
                .enumerate()
                .map(|(i, path)| Fetched {
                    path: path.clone(),
                    version: i as u64 + 1,
                    data: json!({"DB_PASSWORD": format!("pw-{i}"), "PORT": 5432})
                        .as_object()
                        .unwrap()
                        .clone(),
                })
                .collect(),
        }
    }

    fn paths(list: &[&str]) -> Vec<String> {
        list.iter().map(|p| p.to_string()).collect()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn round_trip_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = key_path(&dir.path().join("cfg"));
        let key = load_or_create_key(&key_file).unwrap();
        assert_eq!(mode(&key_file), 0o600);
        assert_eq!(mode(key_file.parent().unwrap()), 0o700);
        // The second call reads the same key.
        let again = load_or_create_key(&key_file).unwrap();
        assert_eq!(key.bytes.as_ref(), again.bytes.as_ref());

        let file = dir.path().join("app.fallback");
        let which = paths(&["app/prod", "app/shared"]);
        save(&file, &key, &which, &snapshot(&which)).unwrap();
        assert_eq!(mode(&file), 0o600);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("pw-0"), "{text}");
        assert_eq!(load(&file, &again, &which).unwrap(), snapshot(&which));
        // Only the key and the fallback file: no temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn refusals() {
        let dir = tempfile::tempdir().unwrap();
        let key = FallbackKey::generate();
        let file = dir.path().join("f.json");
        let which = paths(&["app/prod", "app/shared"]);
        save(&file, &key, &which, &snapshot(&which)).unwrap();

        // Another key.
        let error = load(&file, &FallbackKey::generate(), &which).unwrap_err();
        assert!(
            error.to_string().contains("failed authentication"),
            "{error}"
        );
        // Other paths, or the same paths in another order.
        let error = load(&file, &key, &paths(&["app/prod"])).unwrap_err();
        assert!(
            error.to_string().contains("holds the secrets of"),
            "{error}"
        );
        let swapped = paths(&["app/shared", "app/prod"]);
        assert!(load(&file, &key, &swapped).is_err());

        // The header's paths edited to match: the associated data no longer matches.
        let text = std::fs::read_to_string(&file).unwrap();
        let mut envelope: Value = serde_json::from_str(&text).unwrap();
        envelope["paths"] = json!(["app/shared", "app/prod"]);
        std::fs::write(&file, serde_json::to_vec(&envelope).unwrap()).unwrap();
        let error = load(&file, &key, &swapped).unwrap_err();
        assert!(
            error.to_string().contains("failed authentication"),
            "{error}"
        );

        // One flipped bit in the ciphertext.
        save(&file, &key, &which, &snapshot(&which)).unwrap();
        let mut envelope: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let mut bytes = B64
            .decode(envelope["ciphertext"].as_str().unwrap())
            .unwrap();
        bytes[3] ^= 1;
        envelope["ciphertext"] = json!(B64.encode(bytes));
        std::fs::write(&file, serde_json::to_vec(&envelope).unwrap()).unwrap();
        let error = load(&file, &key, &which).unwrap_err();
        assert!(
            error.to_string().contains("failed authentication"),
            "{error}"
        );

        // Another format version.
        envelope["format"] = json!(2);
        std::fs::write(&file, serde_json::to_vec(&envelope).unwrap()).unwrap();
        let error = load(&file, &key, &which).unwrap_err();
        assert!(error.to_string().contains("format 2"), "{error}");

        std::fs::write(&file, "garbage").unwrap();
        let error = load(&file, &key, &which).unwrap_err();
        assert!(
            error.to_string().contains("not a confmgr fallback file"),
            "{error}"
        );
    }

    #[test]
    fn bad_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fallback.key");
        std::fs::write(&path, "c2hvcnQ=\n").unwrap();
        let error = read_key(&path).unwrap_err();
        assert!(
            error.to_string().contains("is not a fallback key"),
            "{error}"
        );
        assert!(read_key(&dir.path().join("none")).unwrap().is_none());
        assert_eq!(
            format!("{:?}", FallbackKey::generate()),
            "FallbackKey(<redacted>)"
        );
    }
}
