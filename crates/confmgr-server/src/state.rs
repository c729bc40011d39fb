use crate::audit::Audit;
use crate::auth_cache::{self, AuthCache};
use crate::login_guard::LoginGuard;
use confmgr_core::credentials::HashCost;
use confmgr_core::crypto::Keyring;
use confmgr_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Shared by every request. Key material arrives here explicitly from start-up, never from a global.
/// One `Arc`: axum clones the state for every middleware layer of every request, and one
/// counter is cheaper to move than one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl From<Shared> for AppState {
    fn from(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

/// What `AppState` holds.
pub struct Shared {
    pub store: Store,
    pub keyring: Arc<Keyring>,
    /// Wraps new keyring terms (rotation). Zeroized on drop, never logged.
    pub root_key: Arc<confmgr_core::crypto::RootKey>,
    pub limits: Limits,
    pub access: Arc<AccessSettings>,
    pub audit: Arc<Audit>,
    pub legacy_api: crate::config::LegacyApi,
    /// CAs for client certificates, when the HTTPS listener asks for them.
    pub client_cas: Option<Arc<crate::client_cert::ClientCas>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Set by the first SIGTERM: `/readyz` fails while requests are still served.
    pub draining: crate::shutdown::Draining,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Token lifetimes, login limits and the argon2 cost of client secrets.
pub struct AccessSettings {
    /// Seconds a token lives when neither its client nor its request says otherwise.
    pub default_token_ttl: i64,
    /// Seconds a token may be renewed up to, from its creation.
    pub max_token_ttl: i64,
    pub hash_cost: HashCost,
    pub login_guard: LoginGuard,
    /// Recent token lookups and ACLs (see `auth_cache` for why this is safe).
    pub auth_cache: AuthCache,
}

impl AccessSettings {
    pub fn new(
        default_token_ttl: i64,
        max_token_ttl: i64,
        hash_cost: HashCost,
        login_guard: LoginGuard,
    ) -> Self {
        Self {
            default_token_ttl,
            max_token_ttl,
            hash_cost,
            login_guard,
            auth_cache: AuthCache::new(auth_cache::DEFAULT_TTL),
        }
    }

    /// How long token lookups and ACLs are reused (capped at one second; zero: never).
    pub fn with_auth_cache(mut self, ttl: Duration) -> Self {
        self.auth_cache = AuthCache::new(ttl);
        self
    }
}
