//! Keyring rotation (doc/keys.md): new terms, the background rewrap of stored data keys
//! under the newest term, retiring terms that wrap nothing, and keeping every replica's
//! in-memory keyring in step with the database.

use crate::audit;
use crate::error::{Error, Result};
use confmgr_core::crypto::{Keyring, RootKey, TermKey, VersionAddress, WrappedTerm};
use confmgr_core::time::now_micros;
use confmgr_store::{Store, TermUsage};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// A term is rotated before it has wrapped this many data keys (NIST's bound for random
/// 96-bit GCM nonces under one key is 2^32; this leaves a wide margin).
pub const MAX_WRAPS_PER_TERM: i64 = 1 << 30;
/// How often every replica looks for terms added or retired elsewhere.
const REFRESH_EVERY: Duration = Duration::from_millis(500);
/// How often automatic rotation is considered.
const AUTO_ROTATE_EVERY: Duration = Duration::from_secs(60);
/// How often a running rewrap logs its progress.
const REWRAP_LOG_EVERY: Duration = Duration::from_secs(10);
/// A term is retired only once the newer term has been active this long, so no replica
/// still wraps new data keys with it (each refreshes every `REFRESH_EVERY`).
pub const RETIRE_AFTER_ROTATION: Duration = Duration::from_secs(10);
const REWRAP_REQUESTED: &str = "rewrap_requested_at";
const REWRAP_DONE: &str = "rewrap_done";
const REWRAP_FINISHED: &str = "rewrap_finished_at";

#[derive(Clone, Copy, Debug)]
pub struct KeySettings {
    /// Rotate when the active term is older than this many days; 0 = by count only.
    pub rotation_days: u32,
    /// Versions re-wrapped per transaction.
    pub rewrap_batch: i64,
    /// Pause between rewrap batches, so a rewrap never starves requests.
    pub rewrap_pause: Duration,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            rotation_days: 0,
            rewrap_batch: 500,
            rewrap_pause: Duration::from_millis(20),
        }
    }
}

/// The most terms the keyring may hold. Every replica unwraps and holds each one, and
/// re-reads them all every `REFRESH_EVERY`; a rotation beyond this is refused until a rewrap
/// and retirements make room (doc/keys.md).
pub const MAX_TERMS: usize = 32;

/// Adds term max+1 wrapped by the root key; this replica uses it at once, others within
/// `REFRESH_EVERY`. Refused (400) when the keyring already holds `MAX_TERMS` terms.
pub async fn rotate(store: &Store, root: &RootKey, keyring: &Keyring) -> Result<i64> {
    let mut tx = audit::begin_write(store).await?;
    let terms = tx.keyring_terms().await?;
    if terms.len() >= MAX_TERMS {
        let usage = tx.term_usage().await?;
        return Err(Error::Invalid(keyring_full(&usage)));
    }
    let next = terms.iter().map(|t| t.term).max().unwrap_or(0) + 1;
    let term = TermKey::generate(next);
    tx.insert_term(&root.wrap_term(&term)?, now_micros())
        .await?;
    tx.commit().await?;
    keyring.add(term);
    tracing::info!(
        term = next,
        "keyring rotated: new data keys are wrapped by the new term"
    );
    Ok(next)
}

/// Why a rotation is refused at `MAX_TERMS`, and what makes room.
fn keyring_full(usage: &[TermUsage]) -> String {
    let newest = usage.iter().map(|u| u.term).max().unwrap_or(0);
    let older = usage.iter().filter(|u| u.term < newest);
    let wrapping = older.clone().filter(|u| u.wrapped_keys > 0).count();
    let retirable = older.filter(|u| u.wrapped_keys == 0).count();
    let held = usage.len();
    if wrapping > 0 {
        format!(
            "the keyring holds {held} terms, the most it may ({MAX_TERMS}), and {wrapping} older terms still wrap data keys: run the rewrap first (`confmgr keys rewrap --follow`), then retire the old terms (`confmgr keys retire <term>`), then rotate"
        )
    } else {
        format!(
            "the keyring holds {held} terms, the most it may ({MAX_TERMS}): retire the {retirable} older terms that wrap no data key (`confmgr keys retire <term>`), then rotate"
        )
    }
}

#[derive(Debug, Serialize)]
pub struct KeyStatus {
    pub active_term: i64,
    pub terms: Vec<TermStatus>,
    pub rewrap: RewrapStatus,
}

#[derive(Debug, Serialize)]
pub struct TermStatus {
    pub term: i64,
    pub created_time: String,
    pub wrapped_keys: i64,
}

#[derive(Debug, Serialize)]
pub struct RewrapStatus {
    /// Requested and not finished (resumes after a restart).
    pub running: bool,
    /// Data keys still wrapped by an older term.
    pub pending: i64,
    /// Data keys re-wrapped since the current rewrap was requested.
    pub done: i64,
    pub requested_time: Option<String>,
    pub finished_time: Option<String>,
}

pub async fn status(store: &Store, keyring: &Keyring) -> Result<KeyStatus> {
    let mut tx = store.begin().await?;
    let usage = tx.term_usage().await?;
    let requested = tx.state_value(REWRAP_REQUESTED).await?;
    let done = tx.state_value(REWRAP_DONE).await?;
    let finished = tx.state_value(REWRAP_FINISHED).await?;
    tx.commit().await?;
    let active_term = keyring
        .active_term()
        .or_else(|| usage.last().map(|u| u.term))
        .unwrap_or(0);
    let pending = usage
        .iter()
        .filter(|u| u.term < active_term)
        .map(|u| u.wrapped_keys)
        .sum();
    let time = |micros: Option<String>| {
        micros
            .and_then(|m| m.parse::<i64>().ok())
            .map(confmgr_core::time::rfc3339)
    };
    Ok(KeyStatus {
        active_term,
        terms: usage
            .iter()
            .map(|u: &TermUsage| TermStatus {
                term: u.term,
                created_time: confmgr_core::time::rfc3339(u.created_at),
                wrapped_keys: u.wrapped_keys,
            })
            .collect(),
        rewrap: RewrapStatus {
            running: requested.is_some(),
            pending,
            done: done.and_then(|d| d.parse().ok()).unwrap_or(0),
            requested_time: time(requested),
            finished_time: time(finished),
        },
    })
}

/// Asks the background worker (of any replica) to re-wrap every data key under the active
/// term. The request is stored, so it survives a restart.
pub async fn request_rewrap(store: &Store) -> Result<()> {
    let mut tx = audit::begin_write(store).await?;
    if tx.state_value(REWRAP_REQUESTED).await?.is_none() {
        tx.set_state_value(REWRAP_REQUESTED, Some(&now_micros().to_string()))
            .await?;
        tx.set_state_value(REWRAP_DONE, Some("0")).await?;
        tx.set_state_value(REWRAP_FINISHED, None).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One batch of the rewrap: returns how many data keys moved (0 when nothing is left, which
/// also marks the rewrap finished).
pub async fn rewrap_batch(
    store: &Store,
    root: &RootKey,
    keyring: &Keyring,
    batch: i64,
) -> Result<usize> {
    let active = keyring
        .active_term()
        .ok_or_else(|| Error::Internal("empty keyring".into()))?;
    let mut tx = store.begin_write().await?;
    let versions = tx.versions_below_term(active, batch).await?;
    let mut moved = 0usize;
    for version in &versions {
        let at = VersionAddress {
            mount: &version.mount,
            path: &version.path,
            version: version.version,
        };
        if let Some(rewrapped) = keyring.rewrap(at, &version.sealed)? {
            if tx.replace_wrapped_dek(version, &rewrapped).await? {
                moved += 1;
            }
        }
    }
    // Secrets' metadata MACs keyed by older terms move too (doc/design.md, metadata binding).
    let (macs_found, macs_moved) =
        crate::services::kv::rebind_below_term(&mut tx, keyring, root, active, batch).await?;
    let nothing_left = versions.is_empty() && macs_found == 0;
    let done: i64 = tx
        .state_value(REWRAP_DONE)
        .await?
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
        + i64::try_from(moved).unwrap_or(0);
    tx.set_state_value(REWRAP_DONE, Some(&done.to_string()))
        .await?;
    if nothing_left {
        tx.set_state_value(REWRAP_REQUESTED, None).await?;
        tx.set_state_value(REWRAP_FINISHED, Some(&now_micros().to_string()))
            .await?;
    }
    tx.commit().await?;
    Ok(if nothing_left {
        0
    } else {
        (moved + macs_moved).max(1)
    })
}

/// Removes a term that is not active and wraps no stored data key.
pub async fn retire(store: &Store, keyring: &Keyring, term: i64) -> Result<()> {
    let mut tx = audit::begin_write(store).await?;
    let usage = tx.term_usage().await?;
    let Some(found) = usage.iter().find(|u| u.term == term) else {
        return Err(Error::NotFound);
    };
    // Judged from the database, not this replica's keyring, which may not have loaded a
    // rotation made elsewhere yet.
    let newest = usage.last().unwrap_or(found);
    if newest.term == term || keyring.active_term() == Some(term) {
        return Err(Error::Invalid(format!(
            "term {term} is the active term: rotate first, then rewrap, then retire it"
        )));
    }
    if found.wrapped_keys > 0 {
        return Err(Error::Invalid(format!(
            "term {term} still wraps {} data keys: run a rewrap (`confmgr keys rewrap`) and retire it when it wraps none",
            found.wrapped_keys
        )));
    }
    let macs = tx.metadata_macs_keyed_by(term).await?;
    if macs > 0 {
        return Err(Error::Invalid(format!(
            "term {term} still keys the metadata MACs of {macs} secrets: run a rewrap (`confmgr keys rewrap`) and retire it when it keys none"
        )));
    }
    // Response wrappings are sealed like secret versions but never re-wrapped (they live at
    // most the token max TTL): the term stays until the last one is spent or expires.
    let now = now_micros();
    tx.purge_expired_wraps(now).await?;
    let wraps = tx.live_wraps_keyed_by(term, now).await?;
    if wraps > 0 {
        return Err(Error::Invalid(format!(
            "term {term} still wraps the data keys of {wraps} response wrappings: retire it once they are unwrapped or expired (at most CONFMGR_TOKEN_MAX_TTL)"
        )));
    }
    let active_for = Duration::from_micros(u64::try_from(now - newest.created_at).unwrap_or(0));
    if active_for < RETIRE_AFTER_ROTATION {
        return Err(Error::Invalid(format!(
            "term {} became active {}s ago: retire term {term} once every replica has loaded it ({}s after the rotation)",
            newest.term,
            active_for.as_secs(),
            RETIRE_AFTER_ROTATION.as_secs()
        )));
    }
    tx.delete_term(term).await?;
    tx.commit().await?;
    keyring.remove(term);
    tracing::info!(term, "keyring term retired");
    Ok(())
}

/// Start-up check: every term a stored version names must be in the keyring.
pub async fn check_no_unknown_terms(store: &Store) -> Result<()> {
    let mut tx = store.begin().await?;
    let unknown = tx.unknown_terms().await?;
    tx.commit().await?;
    if unknown.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = unknown.iter().map(i64::to_string).collect();
    Err(Error::Internal(format!(
        "stored secret versions or metadata MACs name keyring term(s) {} that the keyring does not hold: their data cannot be decrypted. Restore the keyring_terms rows from a backup; refusing to start",
        list.join(", ")
    )))
}

/// Brings the in-memory keyring in step with the database: adds terms rotated on another
/// replica, forgets retired ones.
pub async fn refresh(store: &Store, root: &RootKey, keyring: &Keyring) -> Result<()> {
    let mut tx = store.begin().await?;
    let wrapped = tx.keyring_terms().await?;
    tx.commit().await?;
    reconcile(root, keyring, &wrapped)
}

/// `refresh` once it has read the stored terms (which may be older than what this replica
/// holds by then).
fn reconcile(root: &RootKey, keyring: &Keyring, wrapped: &[WrappedTerm]) -> Result<()> {
    let held = keyring.terms();
    for term in wrapped.iter().filter(|w| !held.contains(&w.term)) {
        keyring.add(root.unwrap_term(term)?);
        tracing::info!(term = term.term, "keyring term added by another replica");
    }
    // Only terms older than the newest one read can have been retired: a term above it was
    // rotated in here after this read began (the active term is never retired), and
    // forgetting it would seal new versions under the old term and fail to open its own.
    let newest_read = wrapped.iter().map(|w| w.term).max().unwrap_or(0);
    for term in held
        .iter()
        .filter(|t| **t < newest_read && !wrapped.iter().any(|w| w.term == **t))
    {
        keyring.remove(*term);
    }
    Ok(())
}

/// Rotates when the active term is older than `rotation_days` or has wrapped
/// `MAX_WRAPS_PER_TERM` data keys; returns the new term, if any.
pub async fn rotate_if_due(
    store: &Store,
    root: &RootKey,
    keyring: &Keyring,
    settings: &KeySettings,
) -> Result<Option<i64>> {
    let mut tx = store.begin().await?;
    let usage = tx.term_usage().await?;
    tx.commit().await?;
    let Some(active) = usage.last() else {
        return Ok(None);
    };
    let age_days = (now_micros() - active.created_at) / (86_400 * 1_000_000);
    let too_old = settings.rotation_days > 0 && age_days >= i64::from(settings.rotation_days);
    if too_old || active.wrapped_keys >= MAX_WRAPS_PER_TERM {
        tracing::info!(
            term = active.term,
            age_days,
            wrapped_keys = active.wrapped_keys,
            "rotating the keyring automatically"
        );
        return Ok(Some(rotate(store, root, keyring).await?));
    }
    Ok(None)
}

/// The per-process worker: keyring refresh, automatic rotation, and the rewrap while one is
/// requested. Errors are logged and retried; the worker never stops the server.
pub fn spawn_worker(
    store: Store,
    root: Arc<RootKey>,
    keyring: Arc<Keyring>,
    settings: KeySettings,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_rotation_check = tokio::time::Instant::now() - AUTO_ROTATE_EVERY;
        let mut last_progress_log = tokio::time::Instant::now();
        loop {
            if let Err(error) = refresh(&store, &root, &keyring).await {
                tracing::warn!(%error, "keyring refresh failed");
            }
            // Secrets written before migration 0007 get their metadata MAC (a no-op once done).
            if let Err(error) =
                crate::services::kv::bind_unbound_metadata(&store, &keyring, settings.rewrap_batch)
                    .await
            {
                tracing::warn!(%error, "binding secrets' metadata failed; retrying");
            }
            if last_rotation_check.elapsed() >= AUTO_ROTATE_EVERY {
                last_rotation_check = tokio::time::Instant::now();
                if let Err(error) = rotate_if_due(&store, &root, &keyring, &settings).await {
                    tracing::warn!(%error, "automatic key rotation failed");
                }
            }
            match rewrap_pending(&store).await {
                Ok(true) => {
                    match rewrap_batch(&store, &root, &keyring, settings.rewrap_batch).await {
                        Ok(0) => tracing::info!(
                            "rewrap finished: every data key is wrapped by the active term"
                        ),
                        Ok(_) => {
                            if last_progress_log.elapsed() >= REWRAP_LOG_EVERY {
                                last_progress_log = tokio::time::Instant::now();
                                log_rewrap_progress(&store, &keyring).await;
                            }
                            tokio::time::sleep(settings.rewrap_pause).await;
                            continue;
                        }
                        Err(error) => tracing::warn!(%error, "rewrap batch failed; retrying"),
                    }
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot read the rewrap state"),
            }
            tokio::time::sleep(REFRESH_EVERY).await;
        }
    })
}

async fn log_rewrap_progress(store: &Store, keyring: &Keyring) {
    if let Ok(status) = status(store, keyring).await {
        tracing::info!(
            done = status.rewrap.done,
            pending = status.rewrap.pending,
            active_term = status.active_term,
            "rewrap progress"
        );
    }
}

async fn rewrap_pending(store: &Store) -> Result<bool> {
    let mut tx = store.begin().await?;
    let requested = tx.state_value(REWRAP_REQUESTED).await?;
    tx.commit().await?;
    Ok(requested.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_that_read_before_a_local_rotation_keeps_the_new_term() {
        let root = RootKey::generate();
        let (one, two, three) = (
            TermKey::generate(1),
            TermKey::generate(2),
            TermKey::generate(3),
        );
        let stored = [root.wrap_term(&two).unwrap()];
        // term 1 was retired elsewhere; term 3 was rotated in here after the read
        let keyring = Keyring::from_terms([one, two, three]);
        reconcile(&root, &keyring, &stored).unwrap();
        assert_eq!(keyring.terms(), vec![2, 3]);
        assert_eq!(keyring.active_term(), Some(3));
    }

    #[test]
    fn a_full_keyring_says_what_makes_room() {
        let usage = |wrapped: i64| -> Vec<TermUsage> {
            (1..=i64::try_from(MAX_TERMS).unwrap())
                .map(|term| TermUsage {
                    term,
                    created_at: 0,
                    wrapped_keys: if term == 3 { wrapped } else { 0 },
                })
                .collect()
        };
        let busy = keyring_full(&usage(5));
        assert!(
            busy.contains("1 older terms still wrap data keys"),
            "{busy}"
        );
        assert!(busy.contains("run the rewrap first"), "{busy}");
        let idle = keyring_full(&usage(0));
        assert!(idle.contains("retire the 31 older terms"), "{idle}");
        assert!(!idle.contains("rewrap"), "{idle}");
    }
}
