//! A short-lived cache of token lookups and of the ACLs built from policies, so that most
//! authenticated requests need no database round trip before their own work.
//!
//! Why it is safe: an entry lives at most `ttl` (never more than [`MAX_TTL`], the
//! one-second revocation bound of DESIGN.md), only usable tokens are cached, expiry and
//! bound CIDRs are still checked on every request, and this replica forgets everything at
//! once when it revokes a token or changes a policy itself. Other replicas see such a
//! change within `ttl`.

use confmgr_core::policy::Acl;
use confmgr_store::TokenRecord;
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

/// A token found usable, with the ACL of its policies.
#[derive(Clone)]
pub struct CachedToken {
    pub record: Arc<TokenRecord>,
    pub acl: Arc<Acl>,
}

pub struct AuthCache {
    ttl: Duration,
    /// Bumped by `forget_all`, so a lookup that started before a revocation on this replica
    /// cannot put its stale answer back afterwards.
    generation: AtomicU64,
    tokens: TimedMap<Vec<u8>, CachedToken>,
    acls: TimedMap<Vec<String>, Arc<Acl>>,
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

    /// Taken before reading the database; pass it back to `put_*`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn token(&self, digest: &[u8]) -> Option<CachedToken> {
        self.tokens.get(digest)
    }

    pub fn put_token(&self, generation: u64, digest: Vec<u8>, token: CachedToken) {
        if self.enabled() && self.generation() == generation {
            self.tokens.put(digest, token, self.ttl);
        }
    }

    pub fn acl(&self, policies: &[String]) -> Option<Arc<Acl>> {
        self.acls.get(policies)
    }

    pub fn put_acl(&self, generation: u64, policies: Vec<String>, acl: Arc<Acl>) {
        if self.enabled() && self.generation() == generation {
            self.acls.put(policies, acl, self.ttl);
        }
    }

    /// After this replica revoked a token, renewed one or changed a policy.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.tokens.clear();
        self.acls.clear();
    }
}

struct TimedMap<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for TimedMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> TimedMap<K, V> {
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((until, value)) if Instant::now() < *until => Some(value.clone()),
            _ => None,
        }
    }

    fn put(&self, key: K, value: V, ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (until, _)| now < *until);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (now + ttl, value));
    }

    fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
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

    #[test]
    fn an_entry_is_served_until_its_ttl_then_forgotten() {
        let cache = AuthCache::new(Duration::from_millis(50));
        let generation = cache.generation();
        cache.put_token(generation, vec![1], token("a"));
        assert_eq!(cache.token(&[1]).unwrap().record.accessor, "a");
        assert!(cache.token(&[2]).is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(
            cache.token(&[1]).is_none(),
            "expired entries are not served"
        );
    }

    #[test]
    fn forget_all_drops_entries_and_refuses_lookups_that_started_before_it() {
        let cache = AuthCache::new(Duration::from_secs(1));
        let before = cache.generation();
        cache.put_token(before, vec![1], token("a"));
        cache.put_acl(before, vec!["p".into()], Arc::new(Acl::root()));
        cache.forget_all();
        assert!(cache.token(&[1]).is_none());
        assert!(cache.acl(&["p".to_owned()]).is_none());
        cache.put_token(before, vec![1], token("stale"));
        assert!(cache.token(&[1]).is_none(), "a stale lookup is not cached");
        cache.put_token(cache.generation(), vec![1], token("fresh"));
        assert_eq!(cache.token(&[1]).unwrap().record.accessor, "fresh");
    }

    #[test]
    fn the_ttl_is_capped_at_one_second_and_zero_turns_caching_off() {
        assert_eq!(AuthCache::new(Duration::from_secs(60)).ttl, MAX_TTL);
        let off = AuthCache::new(Duration::ZERO);
        off.put_token(off.generation(), vec![1], token("a"));
        assert!(off.token(&[1]).is_none());
    }
}
