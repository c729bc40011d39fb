//! Background sealing into the keyed hash chain (one sealer at a time across replicas),
//! publishing the chain head after each pass that advanced it, and retention of old sealed
//! events.

use super::chain::ChainKeys;
use super::Audit;
use crate::error::Result;
use confmgr_core::audit::{seal_events_with, GENESIS_HASH};
use confmgr_core::audit_chain::ChainHead;
use confmgr_core::time::now_micros;
use confmgr_store::Store;
use std::sync::Arc;
use std::time::Duration;

const SEAL_EVERY: Duration = Duration::from_millis(250);
const SEAL_BATCH: i64 = 2000;
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// The head goes to the log at INFO at most this often (every pass at DEBUG).
const HEAD_LOG_EVERY: Duration = Duration::from_secs(60);

/// What one seal pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sealed {
    /// Events sealed.
    pub events: usize,
    /// The chain's new head, when the pass advanced it.
    pub head: Option<ChainHead>,
}

pub(super) fn start(audit: Arc<Audit>, store: Store, retention_days: u32) {
    let sealing = store.clone();
    let sealer = Arc::clone(&audit);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SEAL_EVERY);
        let mut last_head_log: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            match sealer.seal_pass(&sealing).await {
                Ok(Sealed {
                    head: Some(head), ..
                }) => {
                    if last_head_log.is_none_or(|at| at.elapsed() >= HEAD_LOG_EVERY) {
                        last_head_log = Some(tokio::time::Instant::now());
                        tracing::info!(seq = head.seq, hash = %head.hash, "audit chain head");
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "audit sealing failed; will retry"),
            }
        }
    });
    if retention_days > 0 {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETENTION_EVERY);
            loop {
                tick.tick().await;
                // Bounded at start-up (100 years); saturating all the same, so a cutoff can
                // never wrap into the future and purge everything.
                let kept = i64::from(retention_days).saturating_mul(86_400 * 1_000_000);
                let cutoff = now_micros().saturating_sub(kept);
                match purge_before(&store, audit.chain_keys(), cutoff).await {
                    Ok(Some((seq, purged))) => {
                        tracing::info!(seq, purged, "audit retention purged sealed events")
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "audit retention failed; will retry"),
                }
            }
        });
    }
}

/// Seals every committed, unsealed event (up to a batch) in one transaction, keyed by the
/// database's chain key (created here, under the sealer lock, by the first pass that finds
/// none). The head is not published here: see [`Audit::seal_pass`].
pub async fn seal_once(store: &Store, keys: &ChainKeys) -> Result<Sealed> {
    let mut tx = store.begin_write().await?;
    if !tx.try_sealer_lock().await? {
        return Ok(Sealed::default());
    }
    let pending = tx.unsealed_events(SEAL_BATCH).await?;
    if pending.is_empty() {
        return Ok(Sealed::default());
    }
    let (last_seq, last_hash) = tx.last_seal().await?.unwrap_or((0, GENESIS_HASH.to_vec()));
    let (chain, created) = keys.for_sealing(&mut tx, last_seq + 1).await?;
    let events: Vec<_> = pending.iter().map(|stored| stored.event.clone()).collect();
    let seals = seal_events_with(&chain, last_seq, &last_hash, &events);
    let head = seals
        .last()
        .map(|seal| ChainHead::new(seal.seq, &seal.hash));
    let rows: Vec<_> = pending.iter().map(|stored| stored.id).zip(seals).collect();
    tx.apply_seals(&rows, now_micros()).await?;
    tx.commit().await?;
    if created && last_seq > 0 {
        tracing::warn!(
            keyed_from = last_seq + 1,
            "audit chain key created: events from seq {} on are keyed; the {last_seq} sealed before keep their unkeyed links, which someone who can write the database could recompute (doc/audit.md)",
            last_seq + 1
        );
    } else if created {
        tracing::info!("audit chain key created: every event is keyed from seq 1");
    }
    Ok(Sealed {
        events: rows.len(),
        head,
    })
}

/// Purges sealed events older than `cutoff` (microseconds) and records a checkpoint keyed
/// by the chain key.
pub async fn purge_before(
    store: &Store,
    keys: &ChainKeys,
    cutoff: i64,
) -> Result<Option<(i64, i64)>> {
    let mut tx = store.begin_write().await?;
    if !tx.try_sealer_lock().await? {
        return Ok(None);
    }
    let chain = keys.current(&mut tx).await?;
    let outcome = tx.purge_sealed_before(cutoff, now_micros(), &chain).await?;
    tx.commit().await?;
    Ok(outcome)
}
