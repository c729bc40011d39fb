//! Envelope encryption (DESIGN.md section 3).
//!
//! root key ──wraps──► keyring terms ──wrap──► one data key per secret version ──encrypts──► data
//!
//! Every layer is AES-256-GCM with a fresh random 96-bit nonce, and every ciphertext carries
//! associated data naming where it belongs, so a row copied to another path, version or term
//! fails authentication instead of decrypting.

use crate::metadata_mac::MetadataMac;
use crate::CryptoError;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine;
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

pub const KEY_BYTES: usize = 32;
pub const NONCE_BYTES: usize = 12;
/// Format of stored version ciphertexts; bumped if the layout or associated data ever change.
pub const VERSION_FORMAT: i64 = 1;

type KeyBytes = Zeroizing<[u8; KEY_BYTES]>;

type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 under a 256-bit key. HMAC pads a key shorter than SHA-256's 64-byte block
/// with zeros (RFC 2104), so the key is given padded, where building the MAC cannot fail.
pub(crate) fn hmac_sha256_keyed(key: &[u8; KEY_BYTES]) -> HmacSha256 {
    let mut block = Zeroizing::new([0u8; 64]);
    block[..KEY_BYTES].copy_from_slice(key);
    <HmacSha256 as KeyInit>::new(GenericArray::from_slice(block.as_ref()))
}

/// HMAC-SHA256 under a 256-bit key over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8; KEY_BYTES], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_sha256_keyed(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn random_key() -> KeyBytes {
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    OsRng.fill_bytes(key.as_mut());
    key
}

pub(crate) fn seal(
    key: &[u8; KEY_BYTES],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Encryption)?;
    Ok((nonce.to_vec(), ciphertext))
}

pub(crate) fn open(
    key: &[u8; KEY_BYTES],
    aad: &[u8],
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if nonce.len() != NONCE_BYTES {
        return Err(CryptoError::Malformed("nonce length"));
    }
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Authentication)
}

fn key_from_vec(bytes: Zeroizing<Vec<u8>>) -> Result<KeyBytes, CryptoError> {
    let array: [u8; KEY_BYTES] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Malformed("key length"))?;
    Ok(Zeroizing::new(array))
}

/// The root key: wraps keyring terms. Never stored in the database.
#[derive(Clone)]
pub struct RootKey(pub(crate) KeyBytes);

impl RootKey {
    /// HMAC-SHA256 of `input` under a key derived from the root key for one purpose
    /// (`HMAC(HMAC(root, label), input)`): a digest that names a credential without
    /// revealing it and that cannot be computed without the root key.
    pub fn keyed_digest(&self, label: &[u8], input: &[u8]) -> [u8; 32] {
        let key = Zeroizing::new(hmac_sha256(&self.0, &[label]));
        hmac_sha256(&key, &[input])
    }

    pub fn generate() -> Self {
        Self(random_key())
    }

    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| CryptoError::RootKey("not valid base64".into()))?,
        );
        if decoded.len() != KEY_BYTES {
            return Err(CryptoError::RootKey(format!(
                "must decode to {KEY_BYTES} bytes, got {}",
                decoded.len()
            )));
        }
        key_from_vec(decoded).map(Self)
    }

    /// Base64 of the key, for printing once in `--dev` mode or writing a key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    pub fn wrap_term(&self, term: &TermKey) -> Result<WrappedTerm, CryptoError> {
        let (nonce, wrapped_key) = seal(&self.0, &term_aad(term.term), term.key.as_ref())?;
        Ok(WrappedTerm {
            term: term.term,
            nonce,
            wrapped_key,
        })
    }

    pub fn unwrap_term(&self, wrapped: &WrappedTerm) -> Result<TermKey, CryptoError> {
        let key = open(
            &self.0,
            &term_aad(wrapped.term),
            &wrapped.nonce,
            &wrapped.wrapped_key,
        )?;
        Ok(TermKey {
            term: wrapped.term,
            key: key_from_vec(key)?,
        })
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

fn term_aad(term: i64) -> Vec<u8> {
    format!("confmgr/v1/term|{term}").into_bytes()
}

/// One keyring term: a key-encryption key for data keys.
pub struct TermKey {
    term: i64,
    key: KeyBytes,
}

impl TermKey {
    pub fn generate(term: i64) -> Self {
        Self {
            term,
            key: random_key(),
        }
    }
    pub fn term(&self) -> i64 {
        self.term
    }
}

impl fmt::Debug for TermKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TermKey {{ term: {}, key: <redacted> }}", self.term)
    }
}

/// A term as stored: its key encrypted under the root key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedTerm {
    pub term: i64,
    pub nonce: Vec<u8>,
    pub wrapped_key: Vec<u8>,
}

/// Where a version's ciphertext belongs; bound into its associated data.
#[derive(Clone, Copy, Debug)]
pub struct VersionAddress<'a> {
    pub mount: &'a str,
    pub path: &'a str,
    pub version: i64,
}

impl VersionAddress<'_> {
    fn data_aad(&self) -> Vec<u8> {
        format!(
            "confmgr/v1/data|{}|{}|{}",
            self.mount, self.path, self.version
        )
        .into_bytes()
    }
    fn dek_aad(&self, term: i64) -> Vec<u8> {
        format!(
            "confmgr/v1/dek|{term}|{}|{}|{}",
            self.mount, self.path, self.version
        )
        .into_bytes()
    }
}

/// The stored, encrypted form of one secret version.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedVersion {
    pub format: i64,
    pub term: i64,
    pub dek_nonce: Vec<u8>,
    pub wrapped_dek: Vec<u8>,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedVersion {{ format: {}, term: {}, .. }}",
            self.format, self.term
        )
    }
}

/// The unwrapped keyring terms held in memory; the newest term wraps new data keys. Terms
/// are added while the server runs (rotation on this or another replica), so the map sits
/// behind a lock; reads take it for a map lookup only.
#[derive(Debug, Default)]
pub struct Keyring {
    terms: RwLock<BTreeMap<i64, Arc<TermKey>>>,
    /// Set once this process has seen every secret's metadata bound (the backfill after
    /// migration 0007 finished): from then on a secret without a metadata MAC is refused,
    /// even if the database's record of the backfill is deleted later.
    metadata_bound: AtomicBool,
}

/// The MAC key of one term for secret metadata: HMAC-SHA256 keyed by the term's key over a
/// label naming the purpose and the term, so it is independent of the term's use as a
/// key-encryption key.
fn metadata_mac_key(term: &TermKey) -> KeyBytes {
    let label = format!("confmgr/v1/meta-key|{}", term.term);
    Zeroizing::new(hmac_sha256(&term.key, &[label.as_bytes()]))
}

fn metadata_hmac(term: &TermKey, input: &[u8]) -> HmacSha256 {
    let mut mac = hmac_sha256_keyed(&metadata_mac_key(term));
    mac.update(input);
    mac
}

impl Keyring {
    pub fn unwrap_all(root: &RootKey, wrapped: &[WrappedTerm]) -> Result<Self, CryptoError> {
        let mut terms = BTreeMap::new();
        for w in wrapped {
            terms.insert(w.term, Arc::new(root.unwrap_term(w)?));
        }
        Ok(Self {
            terms: RwLock::new(terms),
            metadata_bound: AtomicBool::new(false),
        })
    }

    pub fn from_terms(terms: impl IntoIterator<Item = TermKey>) -> Self {
        Self {
            terms: RwLock::new(terms.into_iter().map(|t| (t.term, Arc::new(t))).collect()),
            metadata_bound: AtomicBool::new(false),
        }
    }

    /// Whether this process has seen every secret's metadata bound (see `metadata_bound`).
    pub fn metadata_bound(&self) -> bool {
        self.metadata_bound.load(Ordering::Acquire)
    }

    /// Records that every secret's metadata is bound; never undone while the process runs.
    pub fn mark_metadata_bound(&self) {
        self.metadata_bound.store(true, Ordering::Release);
    }

    /// MACs a secret's metadata (`crate::metadata_mac::metadata_mac_input`) under the
    /// active term's metadata key.
    pub fn mac_metadata(&self, input: &[u8]) -> Result<MetadataMac, CryptoError> {
        let term = self.active()?;
        let tag = metadata_hmac(&term, input).finalize().into_bytes().to_vec();
        Ok(MetadataMac {
            term: term.term,
            tag,
        })
    }

    /// Checks a stored metadata MAC under the term that made it (constant time).
    pub fn verify_metadata(&self, input: &[u8], mac: &MetadataMac) -> Result<(), CryptoError> {
        let term = self.term(mac.term)?;
        metadata_hmac(&term, input)
            .verify_slice(&mac.tag)
            .map_err(|_| CryptoError::MetadataAuthentication)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<i64, Arc<TermKey>>> {
        // A panic while holding the lock cannot leave the map half-changed (one insert).
        self.terms
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a term unwrapped from storage; a term already held is kept.
    pub fn add(&self, term: TermKey) {
        let mut terms = self
            .terms
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        terms.entry(term.term).or_insert_with(|| Arc::new(term));
    }

    /// Forgets a retired term: nothing stored names it any more.
    pub fn remove(&self, term: i64) {
        let mut terms = self
            .terms
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        terms.remove(&term);
    }

    pub fn active_term(&self) -> Option<i64> {
        self.read().keys().next_back().copied()
    }

    /// The term keys themselves, for wrapping them under another root key (rekey).
    pub fn term_keys(&self) -> Vec<Arc<TermKey>> {
        self.read().values().cloned().collect()
    }

    pub fn terms(&self) -> Vec<i64> {
        self.read().keys().copied().collect()
    }

    fn term(&self, term: i64) -> Result<Arc<TermKey>, CryptoError> {
        self.read()
            .get(&term)
            .cloned()
            .ok_or(CryptoError::UnknownTerm(term))
    }

    fn active(&self) -> Result<Arc<TermKey>, CryptoError> {
        self.read()
            .values()
            .next_back()
            .cloned()
            .ok_or(CryptoError::UnknownTerm(0))
    }

    /// Encrypts `plaintext` under a fresh data key wrapped by the active term.
    pub fn seal(
        &self,
        at: VersionAddress<'_>,
        plaintext: &[u8],
    ) -> Result<SealedVersion, CryptoError> {
        let term = self.active()?;
        let data_key = random_key();
        let (nonce, ciphertext) = seal(&data_key, &at.data_aad(), plaintext)?;
        let (dek_nonce, wrapped_dek) = seal(&term.key, &at.dek_aad(term.term), data_key.as_ref())?;
        Ok(SealedVersion {
            format: VERSION_FORMAT,
            term: term.term,
            dek_nonce,
            wrapped_dek,
            nonce,
            ciphertext,
        })
    }

    pub fn open(
        &self,
        at: VersionAddress<'_>,
        sealed: &SealedVersion,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let data_key = self.unwrap_data_key(at, sealed)?;
        open(&data_key, &at.data_aad(), &sealed.nonce, &sealed.ciphertext)
    }

    fn unwrap_data_key(
        &self,
        at: VersionAddress<'_>,
        sealed: &SealedVersion,
    ) -> Result<KeyBytes, CryptoError> {
        if sealed.format != VERSION_FORMAT {
            return Err(CryptoError::UnsupportedFormat(sealed.format));
        }
        let term = self.term(sealed.term)?;
        key_from_vec(open(
            &term.key,
            &at.dek_aad(sealed.term),
            &sealed.dek_nonce,
            &sealed.wrapped_dek,
        )?)
    }

    /// Wraps a version's data key under the active term again; the data ciphertext and its
    /// nonce are untouched (the data key does not change). `None` when already there.
    pub fn rewrap(
        &self,
        at: VersionAddress<'_>,
        sealed: &SealedVersion,
    ) -> Result<Option<SealedVersion>, CryptoError> {
        let active = self.active()?;
        if sealed.term == active.term {
            return Ok(None);
        }
        let data_key = self.unwrap_data_key(at, sealed)?;
        let (dek_nonce, wrapped_dek) =
            seal(&active.key, &at.dek_aad(active.term), data_key.as_ref())?;
        Ok(Some(SealedVersion {
            term: active.term,
            dek_nonce,
            wrapped_dek,
            ..sealed.clone()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derived digest is plain HMAC-SHA256 twice: legacy-id digests recorded before
    /// `keyed_digest` existed keep their values.
    #[test]
    fn keyed_digest_is_hmac_of_a_derived_key() {
        let root = RootKey::generate();
        let plain = |key: &[u8], input: &[u8]| -> Vec<u8> {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        };
        let derived = plain(root.0.as_ref(), b"label");
        assert_eq!(
            root.keyed_digest(b"label", b"input").to_vec(),
            plain(&derived, b"input")
        );
        assert_ne!(
            root.keyed_digest(b"label", b"input"),
            root.keyed_digest(b"other", b"input")
        );
    }
    use proptest::prelude::*;

    fn keyring() -> Keyring {
        Keyring::from_terms([TermKey::generate(1)])
    }

    fn at(path: &str, version: i64) -> VersionAddress<'_> {
        VersionAddress {
            mount: "secret",
            path,
            version,
        }
    }

    #[test]
    fn rotation_and_rewrap_keep_the_data_ciphertext() {
        let ring = keyring();
        let sealed = ring.seal(at("a/b", 3), b"hunter2").unwrap();
        assert_eq!(ring.rewrap(at("a/b", 3), &sealed).unwrap(), None);
        ring.add(TermKey::generate(2));
        assert_eq!(ring.active_term(), Some(2));
        assert_eq!(ring.terms(), vec![1, 2]);
        // Old versions still open; new ones use term 2.
        assert_eq!(
            ring.open(at("a/b", 3), &sealed).unwrap().as_slice(),
            b"hunter2"
        );
        assert_eq!(ring.seal(at("a/b", 4), b"x").unwrap().term, 2);
        let moved = ring.rewrap(at("a/b", 3), &sealed).unwrap().unwrap();
        assert_eq!(moved.term, 2);
        assert_eq!(
            (&moved.nonce, &moved.ciphertext),
            (&sealed.nonce, &sealed.ciphertext)
        );
        assert_ne!(moved.wrapped_dek, sealed.wrapped_dek);
        assert_eq!(
            ring.open(at("a/b", 3), &moved).unwrap().as_slice(),
            b"hunter2"
        );
        // The rewrapped key is bound to its address like any other.
        assert!(ring.open(at("a/b", 4), &moved).is_err());
        // Once term 1 is gone, only the rewrapped version opens.
        ring.remove(1);
        assert!(matches!(
            ring.open(at("a/b", 3), &sealed),
            Err(CryptoError::UnknownTerm(1))
        ));
        assert_eq!(
            ring.open(at("a/b", 3), &moved).unwrap().as_slice(),
            b"hunter2"
        );
    }

    #[test]
    fn seal_open_round_trip() {
        let ring = keyring();
        let sealed = ring.seal(at("a/b", 1), b"hunter2").unwrap();
        assert_eq!(sealed.term, 1);
        assert_eq!(sealed.nonce.len(), NONCE_BYTES);
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            ring.open(at("a/b", 1), &sealed).unwrap().as_slice(),
            b"hunter2"
        );
    }

    #[test]
    fn same_plaintext_twice_gives_different_ciphertexts() {
        let ring = keyring();
        let one = ring.seal(at("a", 1), b"same").unwrap();
        let two = ring.seal(at("a", 1), b"same").unwrap();
        assert_ne!(one.ciphertext, two.ciphertext);
        assert_ne!(one.wrapped_dek, two.wrapped_dek);
    }

    #[test]
    fn moved_ciphertext_fails() {
        let ring = keyring();
        let sealed = ring.seal(at("a", 1), b"x").unwrap();
        assert_eq!(
            ring.open(at("b", 1), &sealed),
            Err(CryptoError::Authentication)
        );
        assert_eq!(
            ring.open(at("a", 2), &sealed),
            Err(CryptoError::Authentication)
        );
        let other = VersionAddress {
            mount: "other",
            path: "a",
            version: 1,
        };
        assert_eq!(ring.open(other, &sealed), Err(CryptoError::Authentication));
    }

    #[test]
    fn wrong_term_or_unknown_term_fails() {
        let ring = Keyring::from_terms([TermKey::generate(1), TermKey::generate(2)]);
        let mut sealed = ring.seal(at("a", 1), b"x").unwrap();
        assert_eq!(sealed.term, 2);
        sealed.term = 1;
        assert_eq!(
            ring.open(at("a", 1), &sealed),
            Err(CryptoError::Authentication)
        );
        sealed.term = 9;
        assert_eq!(
            ring.open(at("a", 1), &sealed),
            Err(CryptoError::UnknownTerm(9))
        );
    }

    #[test]
    fn root_key_wraps_terms_and_wrong_root_fails() {
        let root = RootKey::generate();
        let term = TermKey::generate(1);
        let wrapped = root.wrap_term(&term).unwrap();
        assert_eq!(
            root.unwrap_term(&wrapped).unwrap().key.as_ref(),
            term.key.as_ref()
        );
        assert_eq!(
            RootKey::generate().unwrap_term(&wrapped).err(),
            Some(CryptoError::Authentication)
        );
        let mut moved = wrapped.clone();
        moved.term = 2;
        assert_eq!(
            root.unwrap_term(&moved).err(),
            Some(CryptoError::Authentication)
        );
    }

    #[test]
    fn root_key_parsing() {
        let root = RootKey::generate();
        assert!(RootKey::from_base64(&root.to_base64()).is_ok());
        assert!(matches!(
            RootKey::from_base64("not base64!"),
            Err(CryptoError::RootKey(_))
        ));
        assert!(
            matches!(RootKey::from_base64("AAAA"), Err(CryptoError::RootKey(m)) if m.contains("32 bytes"))
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let root = RootKey::generate();
        let shown = format!("{root:?} {:?}", TermKey::generate(3));
        assert!(!shown.contains(root.to_base64().as_str()));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn metadata_macs_verify_under_their_term_only() {
        let ring = Keyring::from_terms([TermKey::generate(1)]);
        let mac = ring.mac_metadata(b"state one").unwrap();
        assert_eq!(mac.term, 1);
        assert_eq!(mac.tag.len(), 32);
        assert_eq!(ring.verify_metadata(b"state one", &mac), Ok(()));
        assert_eq!(
            ring.verify_metadata(b"state two", &mac),
            Err(CryptoError::MetadataAuthentication)
        );
        let mut short = mac.clone();
        short.tag.truncate(16);
        assert_eq!(
            ring.verify_metadata(b"state one", &short),
            Err(CryptoError::MetadataAuthentication)
        );
        // After a rotation new MACs use the new term; the old one still verifies.
        ring.add(TermKey::generate(2));
        let newer = ring.mac_metadata(b"state one").unwrap();
        assert_eq!(newer.term, 2);
        assert_ne!(newer.tag, mac.tag);
        assert_eq!(ring.verify_metadata(b"state one", &mac), Ok(()));
        // A MAC claiming another term does not verify, and a retired term is unknown.
        let relabelled = MetadataMac {
            term: 2,
            tag: mac.tag.clone(),
        };
        assert_eq!(
            ring.verify_metadata(b"state one", &relabelled),
            Err(CryptoError::MetadataAuthentication)
        );
        ring.remove(1);
        assert_eq!(
            ring.verify_metadata(b"state one", &mac),
            Err(CryptoError::UnknownTerm(1))
        );
        // Another keyring (another database) does not verify this one's MACs.
        let other = Keyring::from_terms([TermKey::generate(2)]);
        assert_eq!(
            other.verify_metadata(b"state one", &newer),
            Err(CryptoError::MetadataAuthentication)
        );
    }

    #[test]
    fn metadata_bound_latch() {
        let ring = keyring();
        assert!(!ring.metadata_bound());
        ring.mark_metadata_bound();
        assert!(ring.metadata_bound());
    }

    proptest! {
        #[test]
        fn any_single_byte_flip_is_detected(data in proptest::collection::vec(any::<u8>(), 1..200), pos in any::<usize>(), field in 0usize..4) {
            let ring = keyring();
            let mut sealed = ring.seal(at("p", 3), &data).unwrap();
            let target = match field { 0 => &mut sealed.ciphertext, 1 => &mut sealed.nonce, 2 => &mut sealed.wrapped_dek, _ => &mut sealed.dek_nonce };
            let i = pos % target.len();
            target[i] ^= 0x01;
            prop_assert!(ring.open(at("p", 3), &sealed).is_err());
        }

        #[test]
        fn round_trips_any_data(data in proptest::collection::vec(any::<u8>(), 0..500)) {
            let ring = keyring();
            let sealed = ring.seal(at("p", 1), &data).unwrap();
            let opened = ring.open(at("p", 1), &sealed).unwrap();
            prop_assert_eq!(opened.as_slice(), data.as_slice());
        }
    }
}
