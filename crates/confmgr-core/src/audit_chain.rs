//! The keyed audit chain and its published head (DESIGN 5).
//!
//! Each database has one random 256-bit chain key, stored wrapped by the root key
//! (AES-256-GCM, associated data `confmgr/v1/audit-chain-key|{keyed_from}`) and rewrapped by
//! `rekey` like the keyring terms, so it never changes under sealed events. The MAC key is
//! derived from it, domain-separated: `HMAC-SHA256(chain key, "confmgr/v1/audit-chain")`.
//!
//! From seq `keyed_from` on, a link is `hash = HMAC-SHA256(mac key, prev_hash || canonical
//! event)`; whoever can write the database but does not hold the root key cannot recompute
//! it. Events sealed before the key existed (seq < `keyed_from`, an upgraded database) keep
//! their unkeyed link `SHA-256(prev_hash || canonical event)` and verify as such: that prefix
//! is only as strong as it always was. `keyed_from` is bound into the wrapped key's associated
//! data, so moving it makes the key fail to unwrap.
//!
//! The chain head (`seq`, `hash` of the last sealed event) is published outside the database
//! as a [`ChainHead::record_line`]; verifying against a head noted earlier detects a
//! truncated tail.
//!
//! Pure: no I/O.

use crate::audit::{chain_hash, hash_hex, AuditEvent};
use crate::crypto::{self, hmac_sha256 as hmac, RootKey, KEY_BYTES};
use crate::CryptoError;
use rand::RngCore;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The label the MAC key is derived with.
pub const CHAIN_MAC_LABEL: &[u8] = b"confmgr/v1/audit-chain";

/// `type` of a head record in `CONFMGR_AUDIT_FILE`.
pub const HEAD_RECORD_TYPE: &str = "chain_head";

fn wrap_aad(keyed_from: i64) -> Vec<u8> {
    format!("confmgr/v1/audit-chain-key|{keyed_from}").into_bytes()
}

/// The database's chain key (the random secret, and the MAC key derived from it).
pub struct ChainKey {
    secret: Zeroizing<[u8; KEY_BYTES]>,
    mac_key: Zeroizing<[u8; 32]>,
}

impl ChainKey {
    pub fn generate() -> Self {
        let mut secret = Zeroizing::new([0u8; KEY_BYTES]);
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        Self::from_secret(secret)
    }

    fn from_secret(secret: Zeroizing<[u8; KEY_BYTES]>) -> Self {
        let mac_key = Zeroizing::new(hmac(&secret, &[CHAIN_MAC_LABEL]));
        Self { secret, mac_key }
    }

    /// The key as stored: wrapped by the root key, bound to `keyed_from`.
    pub fn wrap(&self, root: &RootKey, keyed_from: i64) -> Result<WrappedChainKey, CryptoError> {
        let (nonce, wrapped_key) =
            crypto::seal(&root.0, &wrap_aad(keyed_from), self.secret.as_ref())?;
        Ok(WrappedChainKey {
            keyed_from,
            nonce,
            wrapped_key,
        })
    }

    pub fn unwrap(root: &RootKey, wrapped: &WrappedChainKey) -> Result<Self, CryptoError> {
        let bytes = crypto::open(
            &root.0,
            &wrap_aad(wrapped.keyed_from),
            &wrapped.nonce,
            &wrapped.wrapped_key,
        )?;
        let secret: [u8; KEY_BYTES] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed("chain key length"))?;
        Ok(Self::from_secret(Zeroizing::new(secret)))
    }

    /// The MAC of a retention checkpoint at `seq` with the hash of its last purged event:
    /// `HMAC-SHA256(mac key, "confmgr/v1/audit-checkpoint|{seq}|" || hash)`.
    pub fn checkpoint_mac(&self, seq: i64, hash: &[u8]) -> Vec<u8> {
        let label = format!("confmgr/v1/audit-checkpoint|{seq}|");
        hmac(&self.mac_key, &[label.as_bytes(), hash]).to_vec()
    }

    /// `HMAC-SHA256(mac key, prev_hash || canonical event)`.
    pub fn link(&self, prev_hash: &[u8], event: &AuditEvent) -> Vec<u8> {
        hmac(&self.mac_key, &[prev_hash, &event.canonical()]).to_vec()
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(<redacted>)")
    }
}

/// The chain key as stored in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedChainKey {
    /// The first seq sealed with the key; lower seqs are the unkeyed prefix.
    pub keyed_from: i64,
    pub nonce: Vec<u8>,
    pub wrapped_key: Vec<u8>,
}

/// How the links of one database's chain are computed: unkeyed below `keyed_from`, keyed from
/// there (all unkeyed while the database has no chain key yet).
#[derive(Clone, Debug, Default)]
pub struct Chain {
    keyed: Option<(Arc<ChainKey>, i64)>,
}

impl Chain {
    /// A chain without a key: every link is unkeyed (a database sealed before keying, or
    /// tests of the plain chain).
    pub fn unkeyed() -> Self {
        Self { keyed: None }
    }

    pub fn keyed(key: Arc<ChainKey>, keyed_from: i64) -> Self {
        Self {
            keyed: Some((key, keyed_from)),
        }
    }

    /// The first keyed seq, if the chain has a key.
    pub fn keyed_from(&self) -> Option<i64> {
        self.keyed.as_ref().map(|(_, from)| *from)
    }

    /// The MAC retention stores with a checkpoint; `None` while the chain has no key.
    pub fn checkpoint_mac(&self, seq: i64, hash: &[u8]) -> Option<Vec<u8>> {
        self.keyed
            .as_ref()
            .map(|(key, _)| key.checkpoint_mac(seq, hash))
    }

    /// Whether a stored checkpoint may start verification: with a key, its MAC must match,
    /// and only a checkpoint below `keyed_from` (made before the key existed) may lack one.
    /// Without a key every checkpoint is taken as it is (as before the chain was keyed).
    pub fn checkpoint_ok(&self, seq: i64, hash: &[u8], mac: Option<&[u8]>) -> bool {
        match (&self.keyed, mac) {
            (None, _) => true,
            (Some((key, _)), Some(mac)) => key.checkpoint_mac(seq, hash) == mac,
            (Some((_, from)), None) => seq < *from,
        }
    }

    /// The `hash` of the event at `seq` linked after `prev_hash`.
    pub fn link(&self, seq: i64, prev_hash: &[u8], event: &AuditEvent) -> Vec<u8> {
        match &self.keyed {
            Some((key, from)) if seq >= *from => key.link(prev_hash, event),
            _ => chain_hash(prev_hash, event),
        }
    }
}

/// A chain head: the seq and hash of a sealed event, as noted outside the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainHead {
    pub seq: i64,
    /// Lowercase hex.
    pub hash: String,
}

impl ChainHead {
    pub fn new(seq: i64, hash: &[u8]) -> Self {
        Self {
            seq,
            hash: hash_hex(hash),
        }
    }

    /// `SEQ:HASH` with a positive seq and 64 hex digits (either case).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("{text:?} is not a chain head: expected SEQ:HASH, a positive seq and the 64 hex digits of its hash (from a `chain_head` line of CONFMGR_AUDIT_FILE or the verify report's last_seq and last_hash)")
        };
        let (seq, hash) = text.trim().split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        if seq < 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Self {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }

    /// The hash as bytes (the hex was checked by `parse`; otherwise undecodable pairs are 0).
    pub fn hash_bytes(&self) -> Vec<u8> {
        self.hash
            .as_bytes()
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .unwrap_or(0)
            })
            .collect()
    }

    /// The line published to `CONFMGR_AUDIT_FILE` after a seal pass (no trailing newline):
    /// `{"type":"chain_head","seq":N,"hash":"…","time":"…"}`, `time` in RFC 3339 UTC. Event
    /// lines never have a `type` key.
    pub fn record_line(&self, time_micros: i64) -> String {
        let time = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(time_micros)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default();
        format!(
            "{{\"type\":\"{HEAD_RECORD_TYPE}\",\"seq\":{},\"hash\":\"{}\",\"time\":\"{time}\"}}",
            self.seq, self.hash
        )
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{seal_events, seal_events_with, Break, Verifier, GENESIS_HASH};

    fn event(i: i64) -> AuditEvent {
        AuditEvent {
            event_id: format!("e{i}"),
            time: 1_714_564_800_000_000 + i,
            operation: "read".into(),
            path: format!("data/app/{i}"),
            status: 200,
            ..AuditEvent::default()
        }
    }

    fn verify(chain: &Chain, seals: &[crate::audit::Seal], events: &[AuditEvent]) -> Verifier {
        let mut v = Verifier::with_chain(0, GENESIS_HASH.to_vec(), chain.clone());
        for (s, e) in seals.iter().zip(events) {
            if v.feed(s, e).is_err() {
                break;
            }
        }
        v
    }

    #[test]
    fn keyed_links_are_hmac_and_differ_from_unkeyed() {
        let key = Arc::new(ChainKey::generate());
        let chain = Chain::keyed(Arc::clone(&key), 1);
        let e = event(1);
        let keyed = chain.link(1, &GENESIS_HASH, &e);
        assert_eq!(keyed.len(), 32);
        assert_ne!(keyed, chain_hash(&GENESIS_HASH, &e));
        assert_eq!(keyed, key.link(&GENESIS_HASH, &e));
        // Another key gives another link.
        assert_ne!(keyed, ChainKey::generate().link(&GENESIS_HASH, &e));
        // Below keyed_from the link is the unkeyed one.
        let later = Chain::keyed(key, 5);
        assert_eq!(
            later.link(4, &GENESIS_HASH, &e),
            chain_hash(&GENESIS_HASH, &e)
        );
        assert_eq!(later.keyed_from(), Some(5));
        assert_eq!(Chain::unkeyed().keyed_from(), None);
    }

    #[test]
    fn the_padded_key_gives_plain_hmac() {
        use hmac::Mac;
        let key = [7u8; KEY_BYTES];
        let mut plain = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
        plain.update(b"ab");
        plain.update(b"c");
        let want: [u8; 32] = plain.finalize().into_bytes().into();
        assert_eq!(hmac(&key, &[b"ab", b"c"]), want);
    }

    #[test]
    fn wrap_binds_keyed_from_and_the_root_key() {
        let root = RootKey::generate();
        let key = ChainKey::generate();
        let wrapped = key.wrap(&root, 7).unwrap();
        let back = ChainKey::unwrap(&root, &wrapped).unwrap();
        let e = event(1);
        assert_eq!(back.link(&GENESIS_HASH, &e), key.link(&GENESIS_HASH, &e));
        // Moving keyed_from (to extend the unkeyed prefix) makes the key fail to open.
        let moved = WrappedChainKey {
            keyed_from: 100,
            ..wrapped.clone()
        };
        assert!(ChainKey::unwrap(&root, &moved).is_err());
        assert!(ChainKey::unwrap(&RootKey::generate(), &wrapped).is_err());
        // Rewrapped under another root key (rekey), the key is the same.
        let new_root = RootKey::generate();
        let rewrapped = back.wrap(&new_root, 7).unwrap();
        let again = ChainKey::unwrap(&new_root, &rewrapped).unwrap();
        assert_eq!(again.link(&GENESIS_HASH, &e), key.link(&GENESIS_HASH, &e));
        assert!(!format!("{key:?}").contains(&hash_hex(key.secret.as_ref())));
    }

    #[test]
    fn an_unkeyed_rewrite_of_a_keyed_chain_is_edited() {
        let chain = Chain::keyed(Arc::new(ChainKey::generate()), 1);
        let events: Vec<_> = (1..=6).map(event).collect();
        let seals = seal_events_with(&chain, 0, &GENESIS_HASH, &events);
        let v = verify(&chain, &seals, &events);
        assert!(v.report().ok, "{:?}", v.report());
        // Someone without the key edits event 3 and recomputes every later link the only
        // way they can: unkeyed.
        let mut forged_events = events.clone();
        forged_events[2].outcome = crate::audit::Outcome::Denied;
        let forged = seal_events(0, &GENESIS_HASH, &forged_events);
        let r = verify(&chain, &forged, &forged_events).report();
        assert_eq!(
            r.first_break,
            Some(Break::Edited {
                seq: 1,
                event_id: "e1".into()
            })
        );
        // Recomputing only from the edited event on breaks there.
        let mut tail = seals.clone();
        let rest = seal_events(2, &seals[1].hash, &forged_events[2..]);
        tail.splice(2.., rest);
        let r = verify(&chain, &tail, &forged_events).report();
        assert_eq!(
            r.first_break,
            Some(Break::Edited {
                seq: 3,
                event_id: "e3".into()
            })
        );
    }

    #[test]
    fn an_unkeyed_prefix_verifies_before_keyed_from() {
        let key = Arc::new(ChainKey::generate());
        let events: Vec<_> = (1..=8).map(event).collect();
        // Sealed before the upgrade: seq 1-4 unkeyed; after it, keyed from seq 5.
        let old = seal_events(0, &GENESIS_HASH, &events[..4]);
        let chain = Chain::keyed(key, 5);
        let new = seal_events_with(&chain, 4, &old[3].hash, &events[4..]);
        let seals = [old, new].concat();
        let r = verify(&chain, &seals, &events).report();
        assert!(r.ok, "{r:?}");
        assert_eq!((r.checked, r.last_seq, r.keyed_from), (8, 8, Some(5)));
        // An unkeyed link at or after keyed_from is not accepted.
        let unkeyed = seal_events(0, &GENESIS_HASH, &events);
        let r = verify(&chain, &unkeyed, &events).report();
        assert_eq!(
            r.first_break,
            Some(Break::Edited {
                seq: 5,
                event_id: "e5".into()
            })
        );
    }

    fn verify_head(
        start: i64,
        seals: &[crate::audit::Seal],
        events: &[AuditEvent],
        head: ChainHead,
    ) -> crate::audit::VerifyReport {
        let start_hash = match start {
            0 => GENESIS_HASH.to_vec(),
            s => seals[usize::try_from(s - 1).unwrap()].hash.clone(),
        };
        let skip = usize::try_from(start).unwrap();
        let mut v = Verifier::with_chain(start, start_hash, Chain::unkeyed());
        v.expect_head(head);
        for (s, e) in seals[skip..].iter().zip(&events[skip..]) {
            if v.feed(s, e).is_err() {
                break;
            }
        }
        let _ = v.check_head();
        v.report()
    }

    #[test]
    fn expected_heads_find_truncation_and_rewrites() {
        use crate::audit::HeadCheck;
        let events: Vec<_> = (1..=10).map(event).collect();
        let seals = seal_events(0, &GENESIS_HASH, &events);
        let head = |i: usize| ChainHead::new(seals[i].seq, &seals[i].hash);

        // The head at the end, and one before it: found.
        for i in [9, 4] {
            let r = verify_head(0, &seals, &events, head(i));
            assert!(r.ok, "{r:?}");
            assert_eq!(r.expected_head, Some(HeadCheck::Found));
            assert_eq!(
                (r.last_seq, r.last_hash.clone()),
                (10, hash_hex(&seals[9].hash))
            );
        }
        // The last 3 events deleted: the chain verifies on its own but ends too early.
        let r = verify_head(0, &seals[..7], &events[..7], head(9));
        assert!(!r.ok);
        assert_eq!(
            r.first_break,
            Some(Break::Truncated {
                expected_seq: 10,
                last_seq: 7
            })
        );
        assert_eq!(r.expected_head, Some(HeadCheck::NotFound));
        // Everything deleted.
        let r = verify_head(0, &[], &[], head(0));
        assert_eq!(
            r.first_break,
            Some(Break::Truncated {
                expected_seq: 1,
                last_seq: 0
            })
        );
        // The tail rewritten consistently (unkeyed chain): the head's hash differs.
        let mut forged_events = events.clone();
        forged_events[6].path = "forged".into();
        let mut forged = seals.clone();
        forged.splice(6.., seal_events(6, &seals[5].hash, &forged_events[6..]));
        let r = verify_head(0, &forged, &forged_events, head(9));
        assert_eq!(
            r.first_break,
            Some(Break::HeadMismatch {
                seq: 10,
                expected_hash: hash_hex(&seals[9].hash),
                found_hash: hash_hex(&forged[9].hash),
            })
        );
        // From a retention checkpoint at seq 5: a head there is compared with the
        // checkpoint; one before it was purged.
        let r = verify_head(5, &seals, &events, head(4));
        assert!(r.ok);
        assert_eq!(r.expected_head, Some(HeadCheck::Found));
        let r = verify_head(5, &seals, &events, head(2));
        assert!(r.ok);
        assert_eq!(r.expected_head, Some(HeadCheck::Purged));
        let wrong = ChainHead::new(5, &[0; 32]);
        let r = verify_head(5, &seals, &events, wrong);
        assert!(matches!(
            r.first_break,
            Some(Break::HeadMismatch { seq: 5, .. })
        ));
        assert_eq!(r.checked, 0);
    }

    #[test]
    fn checkpoints_are_keyed() {
        let key = Arc::new(ChainKey::generate());
        let chain = Chain::keyed(Arc::clone(&key), 10);
        let hash = [7u8; 32];
        let mac = chain.checkpoint_mac(12, &hash).unwrap();
        assert!(chain.checkpoint_ok(12, &hash, Some(&mac)));
        // Another seq, another hash or another key: refused.
        assert!(!chain.checkpoint_ok(13, &hash, Some(&mac)));
        assert!(!chain.checkpoint_ok(12, &[8u8; 32], Some(&mac)));
        let other = Chain::keyed(Arc::new(ChainKey::generate()), 10);
        assert!(!other.checkpoint_ok(12, &hash, Some(&mac)));
        // Without a MAC: only below keyed_from (made before the key existed).
        assert!(!chain.checkpoint_ok(12, &hash, None));
        assert!(!chain.checkpoint_ok(10, &hash, None));
        assert!(chain.checkpoint_ok(9, &hash, None));
        assert!(Chain::unkeyed().checkpoint_ok(12, &hash, None));
        assert_eq!(Chain::unkeyed().checkpoint_mac(12, &hash), None);
        assert_ne!(mac, key.link(&hash, &event(1)));
        let mut v = Verifier::with_chain(12, hash.to_vec(), chain);
        v.reject_checkpoint();
        assert_eq!(v.report().first_break, Some(Break::Checkpoint { seq: 12 }));
        assert_eq!(v.check_head(), Err(Break::Checkpoint { seq: 12 }));
    }

    #[test]
    fn heads_parse_and_print() {
        let head = ChainHead::new(12, &[0xab; 32]);
        assert_eq!(head.to_string(), format!("12:{}", "ab".repeat(32)));
        assert_eq!(ChainHead::parse(&head.to_string()).unwrap(), head);
        assert_eq!(
            ChainHead::parse(&format!(" 12:{} ", "AB".repeat(32))).unwrap(),
            head
        );
        assert_eq!(head.hash_bytes(), vec![0xab; 32]);
        for bad in ["", "12", "0:".to_owned().as_str(), "x:ab", "-1:ab"] {
            assert!(ChainHead::parse(bad).is_err(), "{bad}");
        }
        assert!(ChainHead::parse(&format!("0:{}", "ab".repeat(32))).is_err());
        assert!(ChainHead::parse(&format!("3:{}", "zz".repeat(32))).is_err());
        assert!(ChainHead::parse(&format!("3:{}", "ab".repeat(31))).is_err());
        let line = head.record_line(1_714_564_800_000_000);
        assert_eq!(
            line,
            format!(
                r#"{{"type":"chain_head","seq":12,"hash":"{}","time":"2024-05-01T12:00:00.000000Z"}}"#,
                "ab".repeat(32)
            )
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["type"], HEAD_RECORD_TYPE);
    }
}
