//! Walks the sealed chain from its start (genesis or the latest retention checkpoint) and
//! reports the first broken link, then checks nothing stayed unsealed too long.

use confmgr_core::audit::{Verifier, VerifyReport, GENESIS_HASH};
use confmgr_core::time::now_micros;
use confmgr_store::{Store, StoreError};

const PAGE: i64 = 5000;

pub async fn verify(store: &Store, unsealed_max_age_secs: i64) -> Result<VerifyReport, StoreError> {
    let mut tx = store.begin().await?;
    let (start_seq, start_hash) = tx
        .latest_checkpoint()
        .await?
        .unwrap_or((0, GENESIS_HASH.to_vec()));
    let mut verifier = Verifier::new(start_seq, start_hash);
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
    let _ = verifier.check_unsealed(&unsealed, now_micros(), unsealed_max_age_secs * 1_000_000);
    Ok(verifier.report())
}
