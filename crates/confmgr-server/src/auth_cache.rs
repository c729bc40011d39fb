//! A short-lived cache of token lookups and of the ACLs built from policies, so that most
//! authenticated requests need no database round trip before their own work.
//!
//! Why it is safe: a token entry is served at most `ttl` (never more than [`MAX_TTL`], the
//! one-second revocation bound of DESIGN.md) after the database last confirmed it, counted
//! from before that read was sent; only usable tokens are cached, expiry and bound CIDRs
//! are still checked on every request, and this replica forgets everything at once when it
//! revokes a token or changes a policy itself. Other replicas see such a change within
//! `ttl`. Tokens in use are confirmed again in batches ([`AuthCache::tokens_due`], run by
//! `auth::keep_tokens_verified`), so a busy token does not cost a lookup every `ttl`.
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
}

impl AuthCache {
    /// `ttl` is capped at [`MAX_TTL`]; zero turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl: ttl.min(MAX_TTL),
            generation: AtomicU64::new(0),
            tokens: TimedMap::default(),
            acls: TimedMap::default(),
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
            self.tokens.put(digest, token, read_at + self.ttl);
        }
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

    pub fn put_acl(&self, generation: u64, source: AclSource, acl: Arc<Acl>) {
        if self.enabled() && self.generation() == generation {
            self.acls.put(source, acl, Instant::now() + ACL_LIFETIME);
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
    /// Served since it was put or confirmed (unless a pass took the mark since).
    used: bool,
    value: V,
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
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut entries = self.lock();
        match entries.get_mut(key) {
            Some(entry) if Instant::now() < entry.until => {
                entry.used = true;
                Some(entry.value.clone())
            }
            _ => None,
        }
    }

    /// Keeps whichever of the cached entry and this one lasts longer; `used` stays.
    fn put(&self, key: K, value: V, until: Instant) {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(&key) {
            if entry.until < until {
                entry.until = until;
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
                used: false,
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
        assert!(
            cache.tokens_due().is_empty(),
            "being looked up is not being used"
        );
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
    fn the_ttl_is_capped_at_one_second_and_zero_turns_caching_off() {
        assert_eq!(AuthCache::new(Duration::from_secs(60)).ttl, MAX_TTL);
        let off = AuthCache::new(Duration::ZERO);
        off.put_token(off.generation(), Instant::now(), vec![1], token("a"));
        assert!(off.token(&[1]).is_none());
    }
}
