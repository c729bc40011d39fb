use confmgr_core::crypto::Keyring;
use confmgr_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Shared by every request. Key material arrives here explicitly from start-up, never from a global.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub keyring: Arc<Keyring>,
    pub limits: Limits,
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
