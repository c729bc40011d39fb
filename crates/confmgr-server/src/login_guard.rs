//! Brute-force limits for logins: failed attempts are counted per client (`role_id`) and per
//! source address in fixed windows, and argon2 verifications run on blocking threads behind
//! a semaphore, so a flood of wrong secrets gets 429s instead of starving other requests.
//! Counts live in this replica's memory: each replica enforces its own limit.

use crate::error::Error;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a login waits for a hashing slot before it is turned away.
const HASH_QUEUE_WAIT: Duration = Duration::from_secs(2);
const MAX_TRACKED_KEYS: usize = 100_000;

pub struct LoginGuard {
    per_client: u32,
    per_address: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
    hashing: Semaphore,
}

impl LoginGuard {
    pub fn new(
        per_client: u32,
        per_address: u32,
        window: Duration,
        concurrent_hashes: usize,
    ) -> Self {
        Self {
            per_client,
            per_address,
            window,
            failures: Mutex::new(HashMap::new()),
            hashing: Semaphore::new(concurrent_hashes.max(1)),
        }
    }

    fn keys(client: &str, address: &str) -> [(String, u32); 2] {
        [
            (format!("client:{client}"), 0),
            (format!("addr:{address}"), 1),
        ]
    }

    fn limit(&self, which: u32) -> u32 {
        if which == 0 {
            self.per_client
        } else {
            self.per_address
        }
    }

    /// Refuses (429) while either the client or the address is over its failure limit.
    pub fn check(&self, client: &str, address: &str) -> Result<(), Error> {
        let now = Instant::now();
        let failures = self
            .failures
            .lock()
            .map_err(|_| Error::Internal("login guard poisoned".into()))?;
        for (key, which) in Self::keys(client, address) {
            if let Some((start, count)) = failures.get(&key) {
                let elapsed = now.duration_since(*start);
                if elapsed < self.window && *count >= self.limit(which) {
                    let retry_after = (self.window - elapsed).as_secs().max(1);
                    return Err(Error::RateLimited { retry_after });
                }
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, client: &str, address: &str) {
        let now = Instant::now();
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > MAX_TRACKED_KEYS {
            let window = self.window;
            failures.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        for (key, _) in Self::keys(client, address) {
            let entry = failures.entry(key).or_insert((now, 0));
            if now.duration_since(entry.0) >= self.window {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }

    /// Runs a CPU-heavy argon2 job on a blocking thread, at most N at a time.
    pub async fn hash_job<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.hash_job_for(None, job).await
    }

    /// Like `hash_job`, for a login: the failure limits are checked again once a hashing
    /// slot is free, so logins queued behind a flood are refused without being hashed.
    pub async fn login_hash_job<T: Send + 'static>(
        &self,
        client: &str,
        address: &str,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.hash_job_for(Some((client, address)), job).await
    }

    async fn hash_job_for<T: Send + 'static>(
        &self,
        login: Option<(&str, &str)>,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let permit = tokio::time::timeout(HASH_QUEUE_WAIT, self.hashing.acquire())
            .await
            .map_err(|_| Error::RateLimited { retry_after: 1 })?
            .map_err(|_| Error::Internal("hashing semaphore closed".into()))?;
        if let Some((client, address)) = login {
            self.check(client, address)?;
        }
        let outcome = tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| Error::Internal(format!("hashing task: {e}")));
        drop(permit);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_over_the_limit_are_refused_until_the_window_passes() {
        let guard = LoginGuard::new(2, 5, Duration::from_millis(200), 1);
        assert!(guard.check("c", "a").is_ok());
        guard.record_failure("c", "a");
        assert!(guard.check("c", "a").is_ok());
        guard.record_failure("c", "a");
        assert!(matches!(
            guard.check("c", "a"),
            Err(Error::RateLimited { .. })
        ));
        assert!(guard.check("other-client", "other-addr").is_ok());
        // The address limit catches many clients from one address.
        for i in 0..5 {
            guard.record_failure(&format!("c{i}"), "b");
        }
        assert!(matches!(
            guard.check("fresh", "b"),
            Err(Error::RateLimited { .. })
        ));
        std::thread::sleep(Duration::from_millis(250));
        assert!(guard.check("c", "a").is_ok());
    }
}
