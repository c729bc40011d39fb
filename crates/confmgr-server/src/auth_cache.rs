//! A short-lived cache of token lookups and of the ACLs built from policies, so that most
//! authenticated requests need no database round trip before their own work.
//!
//! Why it is safe: a token entry is served at most `ttl` (never more than [`MAX_TTL`], the
//! one-second revocation bound of DESIGN.md) after the database last confirmed it, counted
//! from before that read was sent; only usable tokens are cached, expiry and bound CIDRs
//! are still checked on every request, and this replica forgets everything at once when it
//! revokes a token or changes a policy itself. Other replicas see such a change within
//! `ttl`.
//!
//! How tokens in use stay cached (run by `auth::keep_tokens_verified` every quarter TTL):
//! the database keeps a marker that every change to tokens or policies replaces. When two
//! reads of it are equal, nothing changed between them, so every entry whose state is at
//! least as new as the first read is confirmed as of the second
//! ([`AuthCache::note_access_marker`]): one small read confirms them all. When the marker
//! moved, the tokens in use are read again in batches ([`AuthCache::tokens_due`]).
//! ACLs are keyed by the policy texts they were built from, so one can never be stale.

use confmgr_core::policy::Acl;
use confmgr_store::{PolicyTexts, TokenRecord};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest an entry may live: a revocation must reach every replica within a second.
pub const MAX_TTL: Duration = Duration::from_secs(1);
pub const DEFAULT_TTL: Duration = Duration::from_millis(500);
/// Bounds memory under a flood of distinct tokens; a full map is emptied of stale entries.
const MAX_ENTRIES: usize = 50_000;
/// An ACL built from given policy texts is right for as long as those are the texts, so
/// this only bounds how long an unused one takes memory.
const ACL_LIFETIME: Duration = Duration::from_secs(60);
/// An unchanged marker confirms the entries used within this many TTLs (10 s by default);
/// idle ones are left to expire.
const KEEP_WARM_TTLS: u32 = 20;

/// A token found usable, with the ACL of its policies.
#[derive(Clone)]
pub struct CachedToken {
    pub record: Arc<TokenRecord>,
    pub acl: Arc<Acl>,
}

/// What an ACL is built from: the token's policy names (`root` needs no stored text) and
/// the stored texts of those policies.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AclSource {
    pub names: Vec<String>,
    pub texts: PolicyTexts,
}

pub struct AuthCache {
    ttl: Duration,
    /// Bumped by `forget_all`, so a lookup that started before a revocation on this replica
    /// cannot put its stale answer back afterwards.
    generation: AtomicU64,
    tokens: TimedMap<Vec<u8>, CachedToken>,
    acls: TimedMap<AclSource, Arc<Acl>>,
    /// The access-change marker as the background pass last read it.
    marker: Mutex<Option<MarkerRead>>,
}

/// One read of the database's access-change marker.
struct MarkerRead {
    value: String,
    /// When its answer came: a lookup sent later saw at least the state it saw.
    received: Instant,
    /// Counts the reads; an entry carries the number of the newest read whose state its
    /// own is known to include.
    number: u64,
}

impl AuthCache {
    /// `ttl` is capped at [`MAX_TTL`]; zero turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl: ttl.min(MAX_TTL),
            generation: AtomicU64::new(0),
            tokens: TimedMap::default(),
            acls: TimedMap::default(),
            marker: Mutex::new(None),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Taken before reading the database; pass it back to `put_*`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn token(&self, digest: &[u8]) -> Option<CachedToken> {
        self.tokens.get(digest)
    }

    /// Caches `token` as the database showed it to a read sent at `read_at` (taken before
    /// the read, so the entry never outlives its confirmation by more than `ttl`). A
    /// confirmation older than the one cached is ignored.
    pub fn put_token(
        &self,
        generation: u64,
        read_at: Instant,
        digest: Vec<u8>,
        token: CachedToken,
    ) {
        if self.enabled() && self.generation() == generation {
            let basis = self.marker_read_before(read_at);
            self.tokens.put(digest, token, read_at + self.ttl, basis);
        }
    }

    /// The number of the newest marker read answered before `read_at`: a database read
    /// sent at `read_at` saw every change that read saw.
    fn marker_read_before(&self, read_at: Instant) -> Option<u64> {
        lock(&self.marker)
            .as_ref()
            .filter(|marker| marker.received <= read_at)
            .map(|marker| marker.number)
    }

    /// Records a read of the access-change marker, sent at `sent` and answered at
    /// `received`. When it equals the previous read, no token and no policy changed
    /// between the two, so every entry at least as new as the previous read, and used
    /// within [`KEEP_WARM_TTLS`], is confirmed as of `sent`. Returns how many were.
    pub fn note_access_marker(&self, value: String, sent: Instant, received: Instant) -> usize {
        let mut marker = lock(&self.marker);
        let number = marker.as_ref().map_or(0, |previous| previous.number + 1);
        let confirmed = match marker.as_ref() {
            Some(previous) if previous.value == value => self.tokens.confirm(
                previous.number,
                number,
                sent + self.ttl,
                Instant::now().checked_sub(self.ttl * KEEP_WARM_TTLS),
            ),
            _ => 0,
        };
        *marker = Some(MarkerRead {
            value,
            received,
            number,
        });
        confirmed
    }

    /// Whether any token is cached (no marker read is needed otherwise).
    pub fn holds_tokens(&self) -> bool {
        !self.tokens.lock().is_empty()
    }

    /// After the database no longer showed the token as usable.
    pub fn forget_token(&self, digest: &[u8]) {
        self.tokens.remove(digest);
    }

    /// The cached tokens served since they were last confirmed and past the middle of
    /// their TTL: the ones worth confirming again before they expire. Tokens nobody used
    /// are left to expire. Called every quarter TTL, this confirms a busy token about
    /// every half TTL (as often as its lookups were before), with a quarter TTL to spare.
    pub fn tokens_due(&self) -> Vec<Vec<u8>> {
        self.tokens
            .take_used_expiring_before(Instant::now() + self.ttl * 5 / 8)
    }

    pub fn acl(&self, source: &AclSource) -> Option<Arc<Acl>> {
        self.acls.get(source)
    }

    /// Kept even when the token cache is off: an ACL keyed by the texts it was parsed from
    /// cannot go stale, and parsing them again on every request costs CPU for nothing.
    pub fn put_acl(&self, generation: u64, source: AclSource, acl: Arc<Acl>) {
        if self.generation() == generation {
            self.acls
                .put(source, acl, Instant::now() + ACL_LIFETIME, None);
        }
    }

    /// After this replica revoked a token, renewed one or changed a policy.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.tokens.clear();
        self.acls.clear();
    }
}

struct Entry<V> {
    until: Instant,
    /// Put, or served since it was last confirmed (unless a pass took the mark since). A
    /// new entry counts as used: a token looked up on a request is read again once, so
    /// that it joins the entries the access-change marker confirms.
    used: bool,
    /// Last served, or put.
    last_used: Instant,
    /// The newest access-marker read whose state this entry's is known to include.
    basis: Option<u64>,
    value: V,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

struct TimedMap<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K, V> Default for TimedMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> TimedMap<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        lock(&self.entries)
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let now = Instant::now();
        let mut entries = self.lock();
        match entries.get_mut(key) {
            Some(entry) if now < entry.until => {
                entry.used = true;
                entry.last_used = now;
                Some(entry.value.clone())
            }
            _ => None,
        }
    }

    /// Keeps whichever of the cached entry and this one lasts longer; the marks of use
    /// stay.
    fn put(&self, key: K, value: V, until: Instant, basis: Option<u64>) {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(&key) {
            if entry.until < until {
                entry.until = until;
                entry.basis = basis;
                entry.value = value;
            }
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| now < entry.until);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                until,
                used: true,
                last_used: now,
                basis,
                value,
            },
        );
    }

    /// Keys of live entries used since they were put and expiring before `due`; their
    /// marks of use are cleared. Expired entries go.
    fn take_used_expiring_before(&self, due: Instant) -> Vec<K> {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, entry| now < entry.until);
        entries
            .iter_mut()
            .filter(|(_, entry)| entry.used && entry.until < due)
            .map(|(key, entry)| {
                entry.used = false;
                key.clone()
            })
            .collect()
    }

    /// Live entries based on marker read `from` and used since `used_since` (all, when
    /// `None`) now last until `until` at least, based on read `to`. Returns how many.
    fn confirm(&self, from: u64, to: u64, until: Instant, used_since: Option<Instant>) -> usize {
        let now = Instant::now();
        let mut confirmed = 0;
        for entry in self.lock().values_mut() {
            let warm = used_since.is_none_or(|since| entry.last_used >= since);
            if entry.basis == Some(from) && warm && now < entry.until {
                entry.until = entry.until.max(until);
                entry.basis = Some(to);
                entry.used = false;
                confirmed += 1;
            }
        }
        confirmed
    }

    fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.lock().remove(key);
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(accessor: &str) -> CachedToken {
        CachedToken {
            record: Arc::new(TokenRecord {
                accessor: accessor.into(),
                ..TokenRecord::default()
            }),
            acl: Arc::new(Acl::root()),
        }
    }

    fn source(text: &str) -> AclSource {
        AclSource {
            names: vec!["p".into()],
            texts: vec![("p".into(), text.into())],
        }
    }

    #[test]
    fn an_entry_is_served_until_its_ttl_then_forgotten() {
        let cache = AuthCache::new(Duration::from_millis(50));
        let generation = cache.generation();
        cache.put_token(generation, Instant::now(), vec![1], token("a"));
        assert_eq!(cache.token(&[1]).unwrap().record.accessor, "a");
        assert!(cache.token(&[2]).is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(
            cache.token(&[1]).is_none(),
            "expired entries are not served"
        );
    }

    #[test]
    fn the_ttl_counts_from_before_the_database_read() {
        let cache = AuthCache::new(Duration::from_millis(100));
        let read_at = Instant::now() - Duration::from_millis(100);
        cache.put_token(cache.generation(), read_at, vec![1], token("a"));
        assert!(
            cache.token(&[1]).is_none(),
            "a read sent a TTL ago confirms nothing any more"
        );
    }

    #[test]
    fn forget_all_drops_entries_and_refuses_lookups_that_started_before_it() {
        let cache = AuthCache::new(Duration::from_secs(1));
        let before = cache.generation();
        cache.put_token(before, Instant::now(), vec![1], token("a"));
        cache.put_acl(before, source("x"), Arc::new(Acl::root()));
        cache.forget_all();
        assert!(cache.token(&[1]).is_none());
        assert!(cache.acl(&source("x")).is_none());
        cache.put_token(before, Instant::now(), vec![1], token("stale"));
        assert!(cache.token(&[1]).is_none(), "a stale lookup is not cached");
        cache.put_token(cache.generation(), Instant::now(), vec![1], token("fresh"));
        assert_eq!(cache.token(&[1]).unwrap().record.accessor, "fresh");
    }

    #[test]
    fn tokens_used_and_past_the_middle_of_their_ttl_are_due_for_confirmation() {
        let ttl = Duration::from_secs(1);
        let cache = AuthCache::new(ttl);
        let generation = cache.generation();
        let older = Instant::now() - ttl * 6 / 10;
        cache.put_token(generation, older, vec![1], token("used"));
        cache.put_token(generation, older, vec![2], token("idle"));
        cache.put_token(generation, Instant::now(), vec![3], token("young"));
        let mut due = cache.tokens_due();
        due.sort();
        assert_eq!(
            due,
            vec![vec![1], vec![2]],
            "a new entry is read again once, when past the middle of its TTL"
        );
        assert!(cache.tokens_due().is_empty(), "then only when used");
        cache.token(&[1]).unwrap();
        cache.token(&[1]).unwrap();
        cache.token(&[3]).unwrap();
        assert_eq!(
            cache.tokens_due(),
            vec![vec![1]],
            "young: confirmed just now"
        );
        assert!(cache.tokens_due().is_empty(), "each use is reported once");
        cache.token(&[1]).unwrap();
        cache.forget_token(&[1]);
        assert!(
            cache.tokens_due().is_empty(),
            "a forgotten token is not due"
        );
        assert!(cache.token(&[1]).is_none());
    }

    #[test]
    fn a_confirmation_extends_an_entry_and_an_older_one_is_ignored() {
        let ttl = Duration::from_millis(200);
        let cache = AuthCache::new(ttl);
        let generation = cache.generation();
        let first = Instant::now() - Duration::from_millis(150);
        cache.put_token(generation, first, vec![1], token("first"));
        cache.token(&[1]).unwrap();
        cache.put_token(generation, Instant::now(), vec![1], token("confirmed"));
        cache.put_token(generation, first, vec![1], token("older"));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            cache.tokens_due(),
            vec![vec![1]],
            "a confirmation keeps the mark of use"
        );
        let served = cache.token(&[1]).expect("past the first read's TTL");
        assert_eq!(served.record.accessor, "confirmed");
    }

    #[test]
    fn an_unchanged_access_marker_confirms_the_entries_in_use_and_a_moved_one_nothing() {
        let ttl = Duration::from_millis(200);
        let cache = AuthCache::new(ttl);
        let generation = cache.generation();
        let now = Instant::now();
        assert_eq!(cache.note_access_marker("m1".into(), now, now), 0);
        cache.put_token(generation, Instant::now(), vec![1], token("a"));
        cache.put_token(generation, Instant::now(), vec![2], token("b"));
        std::thread::sleep(Duration::from_millis(120));
        let sent = Instant::now();
        assert_eq!(
            cache.note_access_marker("m1".into(), sent, Instant::now()),
            2,
            "nothing changed: both confirmed"
        );
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(
            cache
                .token(&[1])
                .expect("confirmed past its first TTL")
                .record
                .accessor,
            "a"
        );
        let sent = Instant::now();
        assert_eq!(
            cache.note_access_marker("m2".into(), sent, Instant::now()),
            0,
            "a token or policy changed: nothing is confirmed"
        );
        assert_eq!(
            cache.note_access_marker("m2".into(), Instant::now(), Instant::now()),
            0,
            "entries confirmed before the change stay unconfirmed"
        );
        std::thread::sleep(ttl);
        assert!(cache.token(&[1]).is_none());
    }

    #[test]
    fn a_lookup_sent_before_the_last_marker_read_was_answered_is_not_confirmed_by_the_next() {
        let ttl = Duration::from_secs(1);
        let cache = AuthCache::new(ttl);
        let generation = cache.generation();
        let sent = Instant::now();
        let received = sent + Duration::from_millis(5);
        cache.note_access_marker("m".into(), sent, received);
        // It may have seen the database before a change that this marker read already
        // included, so an equal next read says nothing about it.
        cache.put_token(generation, sent, vec![1], token("early"));
        cache.put_token(generation, received, vec![2], token("late"));
        assert_eq!(cache.note_access_marker("m".into(), received, received), 1);
        let entries = cache.tokens.lock();
        assert_eq!(entries[&vec![1]].basis, None, "left to the batch reads");
        assert_eq!(entries[&vec![1]].until, sent + ttl);
        assert_eq!(entries[&vec![2]].basis, Some(1));
    }

    #[test]
    fn only_entries_used_recently_are_confirmed_by_an_unchanged_marker() {
        let map = TimedMap::<u8, u8>::default();
        let now = Instant::now();
        map.put(1, 1, now + Duration::from_secs(1), Some(7));
        map.put(2, 2, now + Duration::from_secs(1), Some(6));
        let later = now + Duration::from_secs(5);
        assert_eq!(
            map.confirm(7, 8, later, Some(Instant::now() + Duration::from_millis(1))),
            0,
            "idle since the cut-off"
        );
        assert_eq!(
            map.confirm(7, 8, later, Some(now)),
            1,
            "only read 7's entry"
        );
        assert_eq!(map.lock()[&1].until, later);
        assert_eq!(map.lock()[&1].basis, Some(8));
        assert_eq!(map.lock()[&2].basis, Some(6));
    }

    #[test]
    fn an_acl_is_found_only_for_the_same_policy_texts() {
        let cache = AuthCache::new(Duration::from_millis(500));
        cache.put_acl(cache.generation(), source("x"), Arc::new(Acl::root()));
        assert!(cache.acl(&source("x")).is_some());
        assert!(
            cache.acl(&source("x changed")).is_none(),
            "a changed policy text is parsed again"
        );
    }

    #[test]
    fn the_ttl_is_capped_at_one_second_and_zero_turns_token_caching_off() {
        assert_eq!(AuthCache::new(Duration::from_secs(60)).ttl, MAX_TTL);
        let off = AuthCache::new(Duration::ZERO);
        off.put_token(off.generation(), Instant::now(), vec![1], token("a"));
        assert!(off.token(&[1]).is_none());
        off.put_acl(off.generation(), source("x"), Arc::new(Acl::root()));
        assert!(
            off.acl(&source("x")).is_some(),
            "an ACL keyed by its texts cannot go stale, so it is kept"
        );
    }
}
