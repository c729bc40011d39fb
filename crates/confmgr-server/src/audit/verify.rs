//! Walks the sealed chain from its start (genesis or the latest retention checkpoint, whose
//! MAC must match) with the database's chain key, and reports the first broken link; then
//! checks that the chain reaches the expected head, if one was given, and that nothing
//! stayed unsealed too long.

use super::chain::ChainKeys;
use crate::error::Result;
use confmgr_core::audit::{Verifier, VerifyReport, GENESIS_HASH};
use confmgr_core::audit_chain::ChainHead;
use confmgr_core::time::now_micros;
use confmgr_store::Store;

const PAGE: i64 = 5000;

pub async fn verify(
    store: &Store,
    keys: &ChainKeys,
    unsealed_max_age_secs: i64,
    expect: Option<ChainHead>,
) -> Result<VerifyReport> {
    let mut tx = store.begin().await?;
    let chain = keys.current(&mut tx).await?;
    let checkpoint = tx.latest_checkpoint_mac().await?;
    let checkpoint_ok = checkpoint
        .as_ref()
        .is_none_or(|c| chain.checkpoint_ok(c.seq, &c.hash, c.mac.as_deref()));
    let (start_seq, start_hash) = checkpoint
        .map(|c| (c.seq, c.hash))
        .unwrap_or((0, GENESIS_HASH.to_vec()));
    let mut verifier = Verifier::with_chain(start_seq, start_hash, chain);
    if !checkpoint_ok {
        verifier.reject_checkpoint();
    }
    if let Some(head) = expect {
        verifier.expect_head(head);
    }
    let mut after = start_seq;
    'pages: loop {
        let page = tx.sealed_events_after(after, PAGE).await?;
        let Some(last) = page.last().and_then(|e| e.seal.as_ref()).map(|s| s.seq) else {
            break;
        };
        for stored in &page {
            if let Some(seal) = &stored.seal {
                if verifier.feed(seal, &stored.event).is_err() {
                    break 'pages;
                }
            }
        }
        after = last;
    }
    let unsealed = tx.oldest_unsealed(100).await?;
    tx.commit().await?;
    let _ = verifier.check_head();
    let _ = verifier.check_unsealed(
        &unsealed,
        now_micros(),
        unsealed_max_age_secs.saturating_mul(1_000_000),
    );
    let report = verifier.report();
    // The head, published outside the database (no secrets: a seq and a MAC).
    tracing::info!(
        ok = report.ok,
        last_seq = report.last_seq,
        last_hash = %report.last_hash,
        keyed_from = report.keyed_from,
        "audit chain verified"
    );
    Ok(report)
}
