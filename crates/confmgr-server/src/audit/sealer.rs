//! Background sealing into the hash chain (one sealer at a time across replicas) and
//! retention of old sealed events.

use confmgr_core::audit::{seal_events, GENESIS_HASH};
use confmgr_core::time::now_micros;
use confmgr_store::{Store, StoreError};
use std::time::Duration;

const SEAL_EVERY: Duration = Duration::from_millis(250);
const SEAL_BATCH: i64 = 2000;
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

pub fn start(store: Store, retention_days: u32) {
    let sealing = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SEAL_EVERY);
        loop {
            tick.tick().await;
            if let Err(error) = seal_once(&sealing).await {
                tracing::warn!(%error, "audit sealing failed; will retry");
            }
        }
    });
    if retention_days > 0 {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETENTION_EVERY);
            loop {
                tick.tick().await;
                let cutoff = now_micros() - i64::from(retention_days) * 86_400 * 1_000_000;
                match purge_before(&store, cutoff).await {
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

/// Seals every committed, unsealed event (up to a batch) in one transaction. Returns how many.
pub async fn seal_once(store: &Store) -> Result<usize, StoreError> {
    let mut tx = store.begin_write().await?;
    if !tx.try_sealer_lock().await? {
        return Ok(0);
    }
    let pending = tx.unsealed_events(SEAL_BATCH).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let (last_seq, last_hash) = tx.last_seal().await?.unwrap_or((0, GENESIS_HASH.to_vec()));
    let events: Vec<_> = pending.iter().map(|stored| stored.event.clone()).collect();
    let seals = seal_events(last_seq, &last_hash, &events);
    let rows: Vec<_> = pending.iter().map(|stored| stored.id).zip(seals).collect();
    tx.apply_seals(&rows, now_micros()).await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Purges sealed events older than `cutoff` (microseconds) and records a checkpoint.
pub async fn purge_before(store: &Store, cutoff: i64) -> Result<Option<(i64, i64)>, StoreError> {
    let mut tx = store.begin_write().await?;
    if !tx.try_sealer_lock().await? {
        return Ok(None);
    }
    let outcome = tx.purge_sealed_before(cutoff, now_micros()).await?;
    tx.commit().await?;
    Ok(outcome)
}
