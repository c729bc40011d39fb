//! Audit events and their tamper-evident hash chain (DESIGN 5).
//!
//! An [`AuditEvent`] records who did what to which path and how it ended; it never holds a
//! secret value, token, client secret or key. The sealer chains committed events in seal
//! order: each gets a [`Seal`] with `seq` (1, 2, 3, ...), `prev_hash` (the previous event's
//! `hash`, or [`GENESIS_HASH`] for seq 1) and `hash = SHA-256(prev_hash || canonical event)`
//! (see [`AuditEvent::canonical`]). The [`Verifier`] walks a sealed chain in seq order and
//! reports the first edited, deleted or reordered event, and events left unsealed too long.
//!
//! Pure: no I/O, no clock. Callers pass `now` where it matters.

use crate::audit_chain::{Chain, ChainHead};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// How a request ended, as recorded in the audit log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Ok,
    Denied,
    NotFound,
    Invalid,
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Denied,
        Outcome::NotFound,
        Outcome::Invalid,
        Outcome::Error,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::NotFound => "not_found",
            Outcome::Invalid => "invalid",
            Outcome::Error => "error",
        }
    }

    /// The inverse of [`Outcome::as_str`] (exact, case-sensitive).
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The outcome of an HTTP status: 1xx–3xx `ok`; 401 and 403 `denied`; 404 `not_found`;
    /// any other 4xx `invalid`; 5xx and anything outside 100–599 `error`.
    pub fn from_status(status: u16) -> Outcome {
        match status {
            100..=399 => Outcome::Ok,
            401 | 403 => Outcome::Denied,
            404 => Outcome::NotFound,
            400..=499 => Outcome::Invalid,
            _ => Outcome::Error,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event. Never holds a secret value, token, client secret or key (DESIGN 5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// UUID, set by the server.
    pub event_id: String,
    /// Microseconds since the Unix epoch, UTC.
    pub time: i64,
    pub request_id: String,
    /// Client name or token display name; `""` when anonymous.
    pub actor_name: String,
    /// Token accessor; `""` when none.
    pub actor_accessor: String,
    pub issuer: String,
    pub client_id: String,
    pub remote_addr: String,
    pub user_agent: String,
    /// E.g. `read`, `write`, `login`.
    pub operation: String,
    pub mount: String,
    pub path: String,
    pub version: Option<i64>,
    pub outcome: Outcome,
    pub status: u16,
    /// Subject of the client certificate on the connection (RFC 4514 string); `""` when none.
    pub cert_subject: String,
    /// SHA-256 of that certificate's DER, lowercase hex; `""` when none.
    pub cert_fingerprint: String,
}

impl AuditEvent {
    /// The bytes hashed into the chain. This format is part of the stored data: changing
    /// it breaks verification of every sealed event.
    ///
    /// Format: one JSON object, UTF-8, no whitespace, keys in exactly this order:
    ///
    /// ```text
    /// {"event_id":S,"time":T,"request_id":S,"actor_name":S,"actor_accessor":S,"issuer":S,
    ///  "client_id":S,"remote_addr":S,"user_agent":S,"operation":S,"mount":S,"path":S,
    ///  "version":N|null,"outcome":S,"status":N[,"cert_subject":S,"cert_fingerprint":S]}
    /// ```
    /// where the bracketed pair is present only when either value is not empty.
    /// (shown wrapped; the real bytes have no newline), for example
    ///
    /// ```text
    /// {"event_id":"e1","time":"2024-05-01T12:00:00.000000Z","request_id":"r1","actor_name":"ci","actor_accessor":"acc","issuer":"confmgr","client_id":"c1","remote_addr":"10.0.0.1:5000","user_agent":"hvac","operation":"read","mount":"secret","path":"app/db","version":3,"outcome":"ok","status":200}
    /// ```
    ///
    /// - `T` is the time as RFC 3339 UTC with exactly six fractional digits and a `Z`
    ///   (`YYYY-MM-DDTHH:MM:SS.ffffffZ`). A time outside chrono's range (about ±262,000
    ///   years) is written as its integer microseconds instead, so distinct times always
    ///   give distinct bytes.
    /// - `N` is a decimal integer without sign for non-negative values, `-` otherwise.
    /// - `outcome` is one of `ok`, `denied`, `not_found`, `invalid`, `error`.
    /// - Strings `S` are JSON strings: `"` and `\` become `\"` and `\\`; U+0008, U+0009,
    ///   U+000A, U+000C, U+000D become `\b`, `\t`, `\n`, `\f`, `\r`; every other character
    ///   below U+0020 becomes `\u00xx` (lowercase hex); everything else, non-ASCII
    ///   included, is copied as UTF-8.
    pub fn canonical(&self) -> Vec<u8> {
        let mut w = JsonObject::new();
        self.write_fields(&mut w);
        w.finish().into_bytes()
    }

    /// The JSON line for export and SIEMs: the same keys and values as
    /// [`AuditEvent::canonical`] (time as RFC 3339), followed, when `seal` is given, by
    /// `"seq":N,"prev_hash":H,"hash":H` with hashes in lowercase hex. No trailing newline.
    pub fn to_json_line(&self, seal: Option<&Seal>) -> String {
        let mut w = JsonObject::new();
        self.write_fields(&mut w);
        if let Some(seal) = seal {
            w.int("seq", seal.seq);
            w.string("prev_hash", &hash_hex(&seal.prev_hash));
            w.string("hash", &hash_hex(&seal.hash));
        }
        w.finish()
    }

    fn write_fields(&self, w: &mut JsonObject) {
        w.string("event_id", &self.event_id);
        match DateTime::<Utc>::from_timestamp_micros(self.time) {
            Some(t) => w.string("time", &t.to_rfc3339_opts(SecondsFormat::Micros, true)),
            None => w.int("time", self.time),
        }
        w.string("request_id", &self.request_id);
        w.string("actor_name", &self.actor_name);
        w.string("actor_accessor", &self.actor_accessor);
        w.string("issuer", &self.issuer);
        w.string("client_id", &self.client_id);
        w.string("remote_addr", &self.remote_addr);
        w.string("user_agent", &self.user_agent);
        w.string("operation", &self.operation);
        w.string("mount", &self.mount);
        w.string("path", &self.path);
        match self.version {
            Some(v) => w.int("version", v),
            None => w.null("version"),
        }
        w.string("outcome", self.outcome.as_str());
        w.int("status", i64::from(self.status));
        // Added after the first release: written only when set, so the bytes (and hashes)
        // of every event without a client certificate are what they always were.
        if !self.cert_subject.is_empty() || !self.cert_fingerprint.is_empty() {
            w.string("cert_subject", &self.cert_subject);
            w.string("cert_fingerprint", &self.cert_fingerprint);
        }
    }
}

/// A hand-written JSON object writer: fixed key order, fixed escaping, infallible.
struct JsonObject {
    out: String,
}

impl JsonObject {
    fn new() -> Self {
        Self {
            out: String::from("{"),
        }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        push_json_string(&mut self.out, key);
        self.out.push(':');
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        push_json_string(&mut self.out, value);
    }

    fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        self.out.push_str(&value.to_string());
    }

    fn null(&mut self, key: &str) {
        self.key(key);
        self.out.push_str("null");
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

fn push_json_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Lowercase hex, as hashes appear in exported lines.
pub fn hash_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// An event's place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    pub seq: i64,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// The `prev_hash` of seq 1.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// `hash = SHA-256(prev_hash || canonical event)`.
pub fn chain_hash(prev_hash: &[u8], event: &AuditEvent) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(event.canonical());
    h.finalize().to_vec()
}

/// Seals events in the given order with unkeyed links, continuing a chain whose last link is
/// `(last_seq, last_hash)`: use `(0, &GENESIS_HASH)` for a new chain. The i-th event gets
/// `seq = last_seq + 1 + i`. The server seals with [`seal_events_with`] and its keyed chain.
pub fn seal_events(last_seq: i64, last_hash: &[u8], events: &[AuditEvent]) -> Vec<Seal> {
    seal_events_with(&Chain::unkeyed(), last_seq, last_hash, events)
}

/// [`seal_events`] with the links of `chain` (keyed from its `keyed_from`).
pub fn seal_events_with(
    chain: &Chain,
    last_seq: i64,
    last_hash: &[u8],
    events: &[AuditEvent],
) -> Vec<Seal> {
    let mut prev = last_hash.to_vec();
    let mut seq = last_seq;
    events
        .iter()
        .map(|event| {
            seq += 1;
            let hash = chain.link(seq, &prev, event);
            Seal {
                seq,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
            }
        })
        .collect()
}

/// The first problem [`Verifier`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Break {
    /// The event's stored hash does not match its content: a field was edited.
    Edited { seq: i64, event_id: String },
    /// A sequence number is missing: an event was deleted. Also used for a seq lower than
    /// expected (a duplicate or a step back), with the values seen.
    Missing { expected_seq: i64, found_seq: i64 },
    /// The event is intact but not linked to its predecessor: events were reordered (or the
    /// predecessor edited/replaced).
    Relinked { seq: i64, event_id: String },
    /// An event has stayed unsealed longer than allowed.
    Unsealed { event_id: String, age_seconds: i64 },
    /// The retention checkpoint verification starts from does not match its MAC (or lacks
    /// one where retention writes one): it was not written by retention.
    Checkpoint { seq: i64 },
    /// The chain ends before the expected head's seq: sealed events were cut off its end.
    Truncated { expected_seq: i64, last_seq: i64 },
    /// The event at the expected head's seq has another hash: the chain was rewritten there
    /// or before (or the head belongs to another database).
    HeadMismatch {
        seq: i64,
        expected_hash: String,
        found_hash: String,
    },
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Break::Edited { seq, event_id } => {
                write!(f, "event seq {seq} ({event_id}) was edited: its hash does not match its content")
            }
            Break::Missing {
                expected_seq,
                found_seq,
            } if found_seq > expected_seq => write!(
                f,
                "events missing: expected seq {expected_seq}, found seq {found_seq}"
            ),
            Break::Missing {
                expected_seq,
                found_seq,
            } => write!(
                f,
                "sequence out of order: expected seq {expected_seq}, found seq {found_seq} again"
            ),
            Break::Relinked { seq, event_id } => write!(
                f,
                "event seq {seq} ({event_id}) is not linked to its predecessor: events were reordered or replaced"
            ),
            Break::Unsealed {
                event_id,
                age_seconds,
            } => write!(
                f,
                "event {event_id} has been unsealed for {age_seconds} seconds"
            ),
            Break::Checkpoint { seq } => write!(
                f,
                "the retention checkpoint at seq {seq} does not match its MAC: it was not written by retention"
            ),
            Break::Truncated {
                expected_seq,
                last_seq,
            } => write!(
                f,
                "chain truncated: it ends at seq {last_seq}, before the expected head at seq {expected_seq}"
            ),
            Break::HeadMismatch {
                seq,
                expected_hash,
                found_hash,
            } => write!(
                f,
                "head mismatch at seq {seq}: expected hash {expected_hash}, found {found_hash}"
            ),
        }
    }
}

/// The result of a verification run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// No break found.
    pub ok: bool,
    /// Sealed events that verified.
    pub checked: u64,
    pub first_break: Option<Break>,
    /// The seq of the last event that verified (the start seq when none did).
    pub last_seq: i64,
    /// The hash at `last_seq`, lowercase hex: with `last_seq`, the chain head to note
    /// outside the database when `ok`.
    pub last_hash: String,
    /// The first seq sealed with the chain key; `null` while the database has none yet.
    /// Lower seqs are the unkeyed prefix of an upgraded database.
    pub keyed_from: Option<i64>,
    /// How an expected head was found, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_head: Option<HeadCheck>,
}

/// What became of the expected head given to a verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadCheck {
    /// The chain holds the head (the same hash at its seq) and verified up to it.
    Found,
    /// The head is older than the retention checkpoint: its event was purged, so it cannot
    /// be compared.
    Purged,
    /// Not found: see `first_break` (`truncated` or `head_mismatch`), or an earlier break
    /// stopped the walk before its seq.
    NotFound,
}

/// Streaming verifier: start from genesis (`0`, [`GENESIS_HASH`]) or a retention checkpoint
/// (`seq`, `hash` of the last deleted event), feed sealed events in seq order; it stops at
/// the first break.
///
/// Each [`Verifier::feed`] classifies, in this order:
/// 1. `seal.seq` is not the expected seq (the previous seq + 1) → [`Break::Missing`] with
///    `expected_seq` and `found_seq` as seen. A higher seq means events were deleted; a lower
///    one (a duplicate, a step back) is reported the same way.
/// 2. `chain_hash(seal.prev_hash, event) != seal.hash` → [`Break::Edited`]: the event (or its
///    stored hash) no longer matches what was sealed.
/// 3. `seal.prev_hash` is not the previous event's hash → [`Break::Relinked`]: the event is
///    intact but sits after the wrong predecessor (reordered events; or its predecessor was
///    edited and its hash recomputed, or replaced).
/// 4. Otherwise the event verifies and becomes the predecessor of the next one.
///
/// Two events swapped together with their seq numbers (each keeping its own stored seal)
/// therefore show up as `Relinked` at the first swapped position.
///
/// The chain alone cannot tell that events were cut off its end: give the head noted
/// outside the database to [`Verifier::expect_head`] and call [`Verifier::check_head`]
/// after the last event.
#[derive(Clone, Debug)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: Vec<u8>,
    last_seq: i64,
    checked: u64,
    broken: Option<Break>,
    chain: Chain,
    start_seq: i64,
    head: Option<(ChainHead, HeadCheck)>,
}

impl Verifier {
    /// The next expected seq is `start_seq + 1`, linked to `start_hash`; links unkeyed.
    pub fn new(start_seq: i64, start_hash: Vec<u8>) -> Self {
        Self::with_chain(start_seq, start_hash, Chain::unkeyed())
    }

    /// [`Verifier::new`] for a chain whose links are computed by `chain`.
    pub fn with_chain(start_seq: i64, start_hash: Vec<u8>, chain: Chain) -> Self {
        Self {
            expected_seq: start_seq.saturating_add(1),
            prev_hash: start_hash,
            last_seq: start_seq,
            checked: 0,
            broken: None,
            chain,
            start_seq,
            head: None,
        }
    }

    /// The chain must reach `head.seq` with `head.hash` there. A head at the start (a
    /// retention checkpoint) is compared with the start hash at once; one before it was
    /// purged and cannot be compared ([`HeadCheck::Purged`]). Call before feeding.
    pub fn expect_head(&mut self, head: ChainHead) {
        let check = if head.seq < self.start_seq {
            HeadCheck::Purged
        } else {
            HeadCheck::NotFound
        };
        self.head = Some((head, check));
        if self.head_seq() == Some(self.start_seq) {
            let start_hash = self.prev_hash.clone();
            self.compare_head(self.start_seq, &start_hash);
        }
    }

    fn head_seq(&self) -> Option<i64> {
        self.head.as_ref().map(|(head, _)| head.seq)
    }

    fn compare_head(&mut self, seq: i64, hash: &[u8]) {
        let Some((head, check)) = &mut self.head else {
            return;
        };
        if head.seq != seq {
            return;
        }
        let found = hash_hex(hash);
        if found == head.hash {
            *check = HeadCheck::Found;
        } else if self.broken.is_none() {
            self.broken = Some(Break::HeadMismatch {
                seq,
                expected_hash: head.hash.clone(),
                found_hash: found,
            });
        }
    }

    /// The checkpoint verification starts from was refused ([`Chain::checkpoint_ok`]):
    /// nothing after it can be trusted. Call before feeding.
    pub fn reject_checkpoint(&mut self) {
        if self.broken.is_none() {
            self.broken = Some(Break::Checkpoint {
                seq: self.start_seq,
            });
        }
    }

    /// After the last sealed event: an expected head beyond the chain's end is a
    /// [`Break::Truncated`]. Returns the first break, if any.
    pub fn check_head(&mut self) -> Result<(), Break> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        if let Some(seq) = self.head_seq() {
            if seq > self.last_seq {
                let b = Break::Truncated {
                    expected_seq: seq,
                    last_seq: self.last_seq,
                };
                self.broken = Some(b.clone());
                return Err(b);
            }
        }
        Ok(())
    }

    /// Checks the next sealed event (see the type's doc for the rule). Returns the first
    /// break; after a break every further call returns that same break.
    pub fn feed(&mut self, seal: &Seal, event: &AuditEvent) -> Result<(), Break> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        let found = if seal.seq != self.expected_seq {
            Some(Break::Missing {
                expected_seq: self.expected_seq,
                found_seq: seal.seq,
            })
        } else if self.chain.link(seal.seq, &seal.prev_hash, event) != seal.hash {
            Some(Break::Edited {
                seq: seal.seq,
                event_id: event.event_id.clone(),
            })
        } else if seal.prev_hash != self.prev_hash {
            Some(Break::Relinked {
                seq: seal.seq,
                event_id: event.event_id.clone(),
            })
        } else {
            None
        };
        match found {
            Some(b) => {
                self.broken = Some(b.clone());
                Err(b)
            }
            None => {
                self.prev_hash.clone_from(&seal.hash);
                self.last_seq = seal.seq;
                self.expected_seq = seal.seq.saturating_add(1);
                self.checked += 1;
                self.compare_head(seal.seq, &seal.hash);
                match &self.broken {
                    Some(b) => Err(b.clone()),
                    None => Ok(()),
                }
            }
        }
    }

    /// Unsealed events `(event_id, time)` whose age at `now` is greater than
    /// `max_age_micros` are a break; the oldest such event is reported (the first one given,
    /// among equally old). `age_seconds` is rounded down. If a break was already found, that
    /// break is returned instead.
    pub fn check_unsealed(
        &mut self,
        unsealed: &[(String, i64)],
        now: i64,
        max_age_micros: i64,
    ) -> Result<(), Break> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        let mut oldest: Option<(&str, i64)> = None;
        for (event_id, time) in unsealed {
            let age = now.saturating_sub(*time);
            if age > max_age_micros && oldest.is_none_or(|(_, a)| age > a) {
                oldest = Some((event_id, age));
            }
        }
        match oldest {
            Some((event_id, age)) => {
                let b = Break::Unsealed {
                    event_id: event_id.to_owned(),
                    age_seconds: age / 1_000_000,
                };
                self.broken = Some(b.clone());
                Err(b)
            }
            None => Ok(()),
        }
    }

    /// The hash of the last verified event (the start hash when none verified yet).
    pub fn last_hash(&self) -> &[u8] {
        &self.prev_hash
    }

    pub fn report(&self) -> VerifyReport {
        VerifyReport {
            ok: self.broken.is_none(),
            checked: self.checked,
            first_break: self.broken.clone(),
            last_seq: self.last_seq,
            last_hash: hash_hex(&self.prev_hash),
            keyed_from: self.chain.keyed_from(),
            expected_head: self.head.as_ref().map(|(_, check)| *check),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const T0: i64 = 1_714_564_800_000_000; // 2024-05-01T12:00:00Z

    fn event(i: i64) -> AuditEvent {
        AuditEvent {
            event_id: format!("00000000-0000-4000-8000-{i:012}"),
            time: T0 + i * 1_000,
            request_id: format!("req-{i}"),
            actor_name: "ci-deploy".into(),
            actor_accessor: format!("acc{i}"),
            issuer: "confmgr".into(),
            client_id: "7d1f3c2a-0000-4000-8000-000000000001".into(),
            remote_addr: "10.0.0.7:51234".into(),
            user_agent: "hvac/2.1".into(),
            operation: if i % 3 == 0 { "write" } else { "read" }.into(),
            mount: "secret".into(),
            path: format!("app/prod/db{i}"),
            version: if i % 4 == 0 { None } else { Some(i) },
            outcome: Outcome::Ok,
            status: 200,
            cert_subject: String::new(),
            cert_fingerprint: String::new(),
        }
    }

    fn chain(n: i64) -> (Vec<AuditEvent>, Vec<Seal>) {
        let events: Vec<_> = (1..=n).map(event).collect();
        let seals = seal_events(0, &GENESIS_HASH, &events);
        (events, seals)
    }

    fn verify_from(
        start_seq: i64,
        start_hash: &[u8],
        seals: &[Seal],
        events: &[AuditEvent],
    ) -> VerifyReport {
        let mut v = Verifier::new(start_seq, start_hash.to_vec());
        for (s, e) in seals.iter().zip(events) {
            if v.feed(s, e).is_err() {
                break;
            }
        }
        v.report()
    }

    fn verify(seals: &[Seal], events: &[AuditEvent]) -> VerifyReport {
        verify_from(0, &GENESIS_HASH, seals, events)
    }

    #[test]
    fn outcome_strings_and_statuses() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.as_str())
            );
            assert_eq!(o.to_string(), o.as_str());
        }
        assert_eq!(Outcome::parse("OK"), None);
        assert_eq!(Outcome::parse("notfound"), None);
        let cases = [
            (200, Outcome::Ok),
            (204, Outcome::Ok),
            (307, Outcome::Ok),
            (400, Outcome::Invalid),
            (401, Outcome::Denied),
            (403, Outcome::Denied),
            (404, Outcome::NotFound),
            (405, Outcome::Invalid),
            (413, Outcome::Invalid),
            (429, Outcome::Invalid),
            (500, Outcome::Error),
            (503, Outcome::Error),
            (0, Outcome::Error),
            (600, Outcome::Error),
        ];
        for (status, want) in cases {
            assert_eq!(Outcome::from_status(status), want, "status {status}");
        }
    }

    #[test]
    fn canonical_snapshot() {
        let e = AuditEvent {
            event_id: "e1".into(),
            time: T0,
            request_id: "r1".into(),
            actor_name: "ci".into(),
            actor_accessor: "acc".into(),
            issuer: "confmgr".into(),
            client_id: "c1".into(),
            remote_addr: "10.0.0.1:5000".into(),
            user_agent: "hvac".into(),
            operation: "read".into(),
            mount: "secret".into(),
            path: "app/db".into(),
            version: Some(3),
            outcome: Outcome::Ok,
            status: 200,
            cert_subject: String::new(),
            cert_fingerprint: String::new(),
        };
        let want = r#"{"event_id":"e1","time":"2024-05-01T12:00:00.000000Z","request_id":"r1","actor_name":"ci","actor_accessor":"acc","issuer":"confmgr","client_id":"c1","remote_addr":"10.0.0.1:5000","user_agent":"hvac","operation":"read","mount":"secret","path":"app/db","version":3,"outcome":"ok","status":200}"#;
        assert_eq!(String::from_utf8(e.canonical()).unwrap(), want);
        assert_eq!(e.canonical(), e.clone().canonical());
        // The chain hash is pinned too: changing it breaks every stored chain.
        assert_eq!(
            hash_hex(&chain_hash(&GENESIS_HASH, &e)),
            hash_hex(&Sha256::digest(
                [&GENESIS_HASH[..], want.as_bytes()].concat()
            ))
        );

        let odd = AuditEvent {
            time: T0 + 1,
            actor_name: String::new(),
            path: "a\"b\\c\n\u{1}\u{7f}é/ü".into(),
            version: None,
            outcome: Outcome::NotFound,
            status: 404,
            ..e.clone()
        };
        let s = String::from_utf8(odd.canonical()).unwrap();
        assert!(s.contains(r#""time":"2024-05-01T12:00:00.000001Z""#), "{s}");
        assert!(s.contains(r#""actor_name":"""#), "{s}");
        assert!(
            s.contains("\"path\":\"a\\\"b\\\\c\\n\\u0001\u{7f}é/ü\""),
            "{s}"
        );
        assert!(
            s.ends_with(r#""version":null,"outcome":"not_found","status":404}"#),
            "{s}"
        );

        // A client certificate appends two keys; without one the bytes are as above.
        let with_cert = AuditEvent {
            cert_subject: "CN=build-bot,O=ci".into(),
            cert_fingerprint: "ab01".into(),
            ..e
        };
        assert_eq!(
            String::from_utf8(with_cert.canonical()).unwrap(),
            want.replace(
                "}",
                r#","cert_subject":"CN=build-bot,O=ci","cert_fingerprint":"ab01"}"#
            )
        );
    }

    #[test]
    fn canonical_time_out_of_chrono_range_stays_distinct() {
        let mut a = event(1);
        a.time = i64::MAX;
        let mut b = a.clone();
        b.time = i64::MAX - 1;
        assert_ne!(a.canonical(), b.canonical());
        let v: Value = serde_json::from_slice(&a.canonical()).unwrap();
        assert_eq!(v["time"], Value::from(i64::MAX));
        assert_ne!(a.canonical(), event(1).canonical());
    }

    #[test]
    fn json_line_fields() {
        let (events, seals) = chain(3);
        let e = &events[1];
        let expected_keys = [
            "event_id",
            "time",
            "request_id",
            "actor_name",
            "actor_accessor",
            "issuer",
            "client_id",
            "remote_addr",
            "user_agent",
            "operation",
            "mount",
            "path",
            "version",
            "outcome",
            "status",
        ];

        let line = e.to_json_line(None);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = expected_keys.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(obj["event_id"], e.event_id.as_str());
        assert_eq!(obj["time"], "2024-05-01T12:00:00.002000Z");
        assert_eq!(obj["path"], e.path.as_str());
        assert_eq!(obj["version"], Value::from(2));
        assert_eq!(obj["outcome"], "ok");
        assert_eq!(obj["status"], 200);
        // Without a seal, the line is the canonical form.
        assert_eq!(line.as_bytes(), e.canonical());

        let line = e.to_json_line(Some(&seals[1]));
        let v: Value = serde_json::from_str(&line).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = expected_keys.to_vec();
        want.extend(["seq", "prev_hash", "hash"]);
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(obj["seq"], 2);
        assert_eq!(obj["prev_hash"], hash_hex(&seals[0].hash).as_str());
        assert_eq!(obj["hash"], hash_hex(&seals[1].hash).as_str());
        assert_eq!(hash_hex(&seals[1].hash).len(), 64);

        let mut none = events[0].clone();
        none.version = None;
        let v: Value = serde_json::from_str(&none.to_json_line(None)).unwrap();
        assert_eq!(v["version"], Value::Null);
    }

    #[test]
    fn seal_events_links_and_continues() {
        let (events, seals) = chain(5);
        assert_eq!(seals.len(), 5);
        assert_eq!(seals[0].seq, 1);
        assert_eq!(seals[0].prev_hash, GENESIS_HASH.to_vec());
        for w in seals.windows(2) {
            assert_eq!(w[1].prev_hash, w[0].hash);
            assert_eq!(w[1].seq, w[0].seq + 1);
        }
        for (s, e) in seals.iter().zip(&events) {
            assert_eq!(s.hash, chain_hash(&s.prev_hash, e));
            assert_eq!(s.hash.len(), 32);
        }
        // Sealing in two batches gives the same chain as one batch.
        let first = seal_events(0, &GENESIS_HASH, &events[..2]);
        let rest = seal_events(2, &first[1].hash, &events[2..]);
        assert_eq!([first, rest].concat(), seals);
        assert!(seal_events(7, &GENESIS_HASH, &[]).is_empty());
    }

    #[test]
    fn intact_chain_verifies() {
        let (events, seals) = chain(20);
        let r = verify(&seals, &events);
        assert_eq!(
            r,
            VerifyReport {
                ok: true,
                checked: 20,
                first_break: None,
                last_seq: 20,
                last_hash: hash_hex(&seals[19].hash),
                keyed_from: None,
                expected_head: None,
            }
        );
        // From a retention checkpoint after seq 10.
        let mut v = Verifier::new(seals[9].seq, seals[9].hash.clone());
        for (s, e) in seals[10..].iter().zip(&events[10..]) {
            v.feed(s, e).unwrap();
        }
        assert_eq!(v.last_hash(), seals[19].hash.as_slice());
        let r = v.report();
        assert!(r.ok);
        assert_eq!(r.checked, 10);
        assert_eq!(r.last_seq, 20);
        // An empty run is fine and reports the start.
        let r = Verifier::new(10, seals[9].hash.clone()).report();
        assert_eq!((r.ok, r.checked, r.last_seq), (true, 0, 10));
    }

    #[test]
    fn checkpoint_with_wrong_hash_is_relinked() {
        let (events, seals) = chain(20);
        let r = verify_from(10, &seals[8].hash, &seals[10..], &events[10..]);
        assert_eq!(
            r.first_break,
            Some(Break::Relinked {
                seq: 11,
                event_id: events[10].event_id.clone()
            })
        );
        assert_eq!(r.checked, 0);
        assert_eq!(r.last_seq, 10);
    }

    #[test]
    fn edited_fields_are_found_at_their_seq() {
        let (events, seals) = chain(20);
        type Edit = fn(&mut AuditEvent);
        let edits: [(&str, Edit); 9] = [
            ("path", |e| e.path.push('x')),
            ("outcome", |e| e.outcome = Outcome::Denied),
            ("actor_name", |e| e.actor_name = "someone-else".into()),
            ("actor_accessor", |e| e.actor_accessor.clear()),
            ("version", |e| {
                e.version = e.version.map_or(Some(1), |v| Some(v + 1))
            }),
            ("version none", |e| e.version = None),
            ("time", |e| e.time += 1),
            ("status", |e| e.status = 403),
            ("event_id", |e| e.event_id = "other".into()),
        ];
        for (name, edit) in edits {
            for idx in [0usize, 6, 19] {
                let mut ev = events.clone();
                edit(&mut ev[idx]);
                if ev[idx] == events[idx] {
                    continue; // e.g. version already None
                }
                let r = verify(&seals, &ev);
                assert!(!r.ok, "{name} at {idx}");
                assert_eq!(
                    r.first_break,
                    Some(Break::Edited {
                        seq: seals[idx].seq,
                        event_id: ev[idx].event_id.clone()
                    }),
                    "{name} at {idx}"
                );
                assert_eq!(r.checked, idx as u64);
                assert_eq!(r.last_seq, idx as i64);
            }
        }
    }

    #[test]
    fn edited_stored_hash_is_edited() {
        let (events, mut seals) = chain(5);
        seals[2].hash[0] ^= 1;
        let r = verify(&seals, &events);
        assert_eq!(
            r.first_break,
            Some(Break::Edited {
                seq: 3,
                event_id: events[2].event_id.clone()
            })
        );
    }

    #[test]
    fn edit_with_recomputed_hash_is_relinked_at_the_next_event() {
        let (mut events, mut seals) = chain(5);
        events[2].path = "forged".into();
        seals[2].hash = chain_hash(&seals[2].prev_hash, &events[2]);
        let r = verify(&seals, &events);
        assert_eq!(
            r.first_break,
            Some(Break::Relinked {
                seq: 4,
                event_id: events[3].event_id.clone()
            })
        );
    }

    #[test]
    fn deleted_event_is_missing() {
        let (mut events, mut seals) = chain(20);
        events.remove(7);
        seals.remove(7);
        let r = verify(&seals, &events);
        assert_eq!(
            r.first_break,
            Some(Break::Missing {
                expected_seq: 8,
                found_seq: 9
            })
        );
        assert_eq!((r.ok, r.checked, r.last_seq), (false, 7, 7));

        // Deleting the first event after genesis too.
        let (mut events, mut seals) = chain(3);
        events.remove(0);
        seals.remove(0);
        assert_eq!(
            verify(&seals, &events).first_break,
            Some(Break::Missing {
                expected_seq: 1,
                found_seq: 2
            })
        );
    }

    #[test]
    fn duplicated_seq_is_missing_with_values_seen() {
        let (events, seals) = chain(6);
        let mut v = Verifier::new(0, GENESIS_HASH.to_vec());
        for i in 0..5 {
            v.feed(&seals[i], &events[i]).unwrap();
        }
        let b = Break::Missing {
            expected_seq: 6,
            found_seq: 5,
        };
        assert_eq!(v.feed(&seals[4], &events[4]), Err(b.clone()));
        // Sticky: even a correct next event returns the same break.
        assert_eq!(v.feed(&seals[5], &events[5]), Err(b.clone()));
        assert_eq!(v.check_unsealed(&[], T0, 1), Err(b.clone()));
        let r = v.report();
        assert_eq!((r.ok, r.checked, r.last_seq), (false, 5, 5));
        assert_eq!(r.first_break, Some(b));
    }

    #[test]
    fn swapped_events_are_relinked_at_the_first_swapped_position() {
        let (events, seals) = chain(20);
        for (a, b) in [(4usize, 5usize), (4, 12), (0, 1), (18, 19)] {
            let mut ev = events.clone();
            let mut se = seals.clone();
            // Swap positions and seq numbers; each event keeps its own stored seal otherwise.
            ev.swap(a, b);
            se.swap(a, b);
            let (sa, sb) = (se[a].seq, se[b].seq);
            se[a].seq = sb;
            se[b].seq = sa;
            assert_eq!(se[a].seq, (a + 1) as i64);
            let r = verify(&se, &ev);
            assert_eq!(
                r.first_break,
                Some(Break::Relinked {
                    seq: (a + 1) as i64,
                    event_id: events[b].event_id.clone()
                }),
                "swap {a} {b}"
            );
            assert_eq!(r.checked, a as u64);
        }
    }

    #[test]
    fn old_unsealed_events_break() {
        let (events, seals) = chain(3);
        let mut v = Verifier::new(0, GENESIS_HASH.to_vec());
        for (s, e) in seals.iter().zip(&events) {
            v.feed(s, e).unwrap();
        }
        let now = T0 + 3_600_000_000;
        let max = 60_000_000; // one minute
        let fresh = vec![
            ("a".to_string(), now - 1_000_000),
            ("b".to_string(), now - max), // exactly the limit is still fine
            ("c".to_string(), now + 5_000_000), // clock skew: negative age
        ];
        assert_eq!(v.check_unsealed(&fresh, now, max), Ok(()));
        assert!(v.report().ok);

        let stale = vec![
            ("a".to_string(), now - 1_000_000),
            ("old".to_string(), now - 90_500_000),
            ("older".to_string(), now - 600_000_000),
        ];
        let b = Break::Unsealed {
            event_id: "older".into(),
            age_seconds: 600,
        };
        assert_eq!(v.check_unsealed(&stale, now, max), Err(b.clone()));
        let r = v.report();
        assert_eq!(r.first_break, Some(b.clone()));
        assert_eq!((r.ok, r.checked, r.last_seq), (false, 3, 3));
        assert_eq!(v.check_unsealed(&[], now, max), Err(b));
    }

    #[test]
    fn report_serializes_with_kind_tags() {
        let r = VerifyReport {
            ok: false,
            checked: 4,
            first_break: Some(Break::Missing {
                expected_seq: 5,
                found_seq: 7,
            }),
            last_seq: 4,
            last_hash: "ab".into(),
            keyed_from: Some(3),
            expected_head: None,
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({
                "ok": false, "checked": 4, "last_seq": 4, "last_hash": "ab", "keyed_from": 3,
                "first_break": {"kind": "missing", "expected_seq": 5, "found_seq": 7}
            })
        );
        let r = VerifyReport {
            expected_head: Some(HeadCheck::NotFound),
            first_break: Some(Break::Truncated {
                expected_seq: 9,
                last_seq: 4,
            }),
            ..r
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["expected_head"], "not_found");
        assert_eq!(
            v["first_break"],
            serde_json::json!({"kind": "truncated", "expected_seq": 9, "last_seq": 4})
        );
        let b = Break::HeadMismatch {
            seq: 2,
            expected_hash: "aa".into(),
            found_hash: "bb".into(),
        };
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"kind": "head_mismatch", "seq": 2, "expected_hash": "aa", "found_hash": "bb"})
        );
        let b = Break::Unsealed {
            event_id: "e".into(),
            age_seconds: 3,
        };
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({"kind": "unsealed", "event_id": "e", "age_seconds": 3})
        );
        assert!(b.to_string().contains("unsealed"));
    }

    #[test]
    fn event_serde_round_trip() {
        let e = event(5);
        let back: AuditEvent = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }

    // ---- properties ----

    const STRING_FIELDS: usize = 13;

    fn string_field(e: &mut AuditEvent, i: usize) -> &mut String {
        match i {
            0 => &mut e.event_id,
            1 => &mut e.request_id,
            2 => &mut e.actor_name,
            3 => &mut e.actor_accessor,
            4 => &mut e.issuer,
            5 => &mut e.client_id,
            6 => &mut e.remote_addr,
            7 => &mut e.user_agent,
            8 => &mut e.operation,
            9 => &mut e.mount,
            10 => &mut e.path,
            11 => &mut e.cert_subject,
            _ => &mut e.cert_fingerprint,
        }
    }

    fn text() -> impl Strategy<Value = String> {
        // Mostly ASCII, with quotes, backslashes, control characters and some non-ASCII.
        prop_oneof![
            4 => "[ -~]{0,12}",
            1 => "[\"\\\\\\x00-\\x1f\\x7féü€😀a-z/]{0,8}",
        ]
    }

    fn arb_event() -> impl Strategy<Value = AuditEvent> {
        (
            proptest::collection::vec(text(), STRING_FIELDS),
            any::<i64>(),
            proptest::option::of(any::<i64>()),
            0usize..5,
            any::<u16>(),
        )
            .prop_map(|(s, time, version, o, status)| AuditEvent {
                event_id: s[0].clone(),
                time,
                request_id: s[1].clone(),
                actor_name: s[2].clone(),
                actor_accessor: s[3].clone(),
                issuer: s[4].clone(),
                client_id: s[5].clone(),
                remote_addr: s[6].clone(),
                user_agent: s[7].clone(),
                operation: s[8].clone(),
                mount: s[9].clone(),
                path: s[10].clone(),
                cert_subject: s[11].clone(),
                cert_fingerprint: s[12].clone(),
                version,
                outcome: Outcome::ALL[o],
                status,
            })
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_detected(
            events in proptest::collection::vec(arb_event(), 1..8),
            pick in any::<prop::sample::Index>(),
            field in 0..STRING_FIELDS,
            pos in any::<prop::sample::Index>(),
            byte in prop_oneof![0u8..0x80, any::<u8>()],
        ) {
            let seals = seal_events(0, &GENESIS_HASH, &events);
            let idx = pick.index(events.len());
            let mut tampered = events.clone();
            let s = string_field(&mut tampered[idx], field);
            let mut bytes = std::mem::take(s).into_bytes();
            if bytes.is_empty() {
                bytes.push(byte);
            } else {
                let p = pos.index(bytes.len());
                prop_assume!(bytes[p] != byte);
                bytes[p] = byte;
            }
            let changed = String::from_utf8(bytes);
            prop_assume!(changed.is_ok());
            *s = changed.unwrap_or_default();

            let r = verify(&seals, &tampered);
            prop_assert!(!r.ok);
            prop_assert_eq!(r.first_break, Some(Break::Edited {
                seq: seals[idx].seq,
                event_id: tampered[idx].event_id.clone(),
            }));
            prop_assert_eq!(r.checked, idx as u64);
            // The untampered chain verifies.
            prop_assert!(verify(&seals, &events).ok);
        }

        #[test]
        fn canonical_is_json_holding_the_event(e in arb_event()) {
            let c = e.canonical();
            prop_assert_eq!(&c, &e.clone().canonical());
            let v: Value = serde_json::from_slice(&c).unwrap();
            let mut ev = e.clone();
            for i in 0..STRING_FIELDS {
                let key = [
                    "event_id", "request_id", "actor_name", "actor_accessor", "issuer",
                    "client_id", "remote_addr", "user_agent", "operation", "mount", "path",
                    "cert_subject", "cert_fingerprint",
                ][i];
                let no_cert = e.cert_subject.is_empty() && e.cert_fingerprint.is_empty();
                if i >= 11 && no_cert {
                    prop_assert!(v.get(key).is_none());
                } else {
                    prop_assert_eq!(v[key].as_str(), Some(string_field(&mut ev, i).as_str()));
                }
            }
            prop_assert_eq!(v["version"].as_i64(), e.version);
            prop_assert_eq!(v["outcome"].as_str(), Some(e.outcome.as_str()));
            prop_assert_eq!(v["status"].as_u64(), Some(u64::from(e.status)));
            match DateTime::<Utc>::from_timestamp_micros(e.time) {
                Some(t) => {
                    let s = v["time"].as_str().unwrap();
                    if (0..=9999).contains(&chrono::Datelike::year(&t)) {
                        let back = DateTime::parse_from_rfc3339(s).unwrap();
                        prop_assert_eq!(back.timestamp_micros(), e.time);
                    }
                }
                None => prop_assert_eq!(v["time"].as_i64(), Some(e.time)),
            }
        }

        #[test]
        fn distinct_times_give_distinct_canonical(a in any::<i64>(), b in any::<i64>()) {
            prop_assume!(a != b);
            let (mut x, mut y) = (event(1), event(1));
            x.time = a;
            y.time = b;
            prop_assert_ne!(x.canonical(), y.canonical());
        }
    }
}
