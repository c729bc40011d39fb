//! Wrapped responses: stored by token digest, taken once, purged when expired.

use crate::backends::Backends;
use confmgr_core::crypto::SealedVersion;
use confmgr_store::{Backend, WrapRecord};
use std::time::Duration;

fn record(accessor: &str, digest: u8, expires_at: i64) -> WrapRecord {
    WrapRecord {
        accessor: accessor.into(),
        digest: vec![digest; 32],
        creation_path: "secret/data/app/db".into(),
        creation_time: 1_000,
        ttl: 60,
        expires_at,
        wrapped_accessor: String::new(),
        sealed: SealedVersion {
            format: 1,
            term: 1,
            dek_nonce: vec![1; 12],
            wrapped_dek: vec![2; 48],
            nonce: vec![3; 12],
            ciphertext: vec![4; 40],
        },
    }
}

#[tokio::test]
async fn a_wrapping_is_found_by_digest_taken_once_and_purged_when_expired() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let backend = store.backend();
        let live = record("live", 1, 10_000);
        let old = record("old", 2, 500);
        let mut tx = store.begin_write().await.unwrap();
        tx.insert_wrap(&live).await.unwrap();
        tx.insert_wrap(&old).await.unwrap();
        tx.commit().await.unwrap();

        // The digest is unique: a second row for one token cannot exist.
        let mut tx = store.begin_write().await.unwrap();
        assert!(tx.insert_wrap(&record("other", 1, 10_000)).await.is_err());
        drop(tx);

        let mut reads = store.reads().await.unwrap();
        assert_eq!(
            reads.wrap_by_digest(&[1; 32]).await.unwrap(),
            Some(live.clone())
        );
        assert_eq!(reads.wrap_by_digest(&[9; 32]).await.unwrap(), None);
        // Lookup leaves it in place.
        assert!(reads.wrap_by_digest(&[1; 32]).await.unwrap().is_some());
        drop(reads);

        // A taken wrapping in a transaction that rolls back is still there.
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(tx.take_wrap(&[1; 32]).await.unwrap(), Some(live.clone()));
        drop(tx);
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(tx.take_wrap(&[1; 32]).await.unwrap(), Some(live.clone()));
        assert_eq!(tx.take_wrap(&[1; 32]).await.unwrap(), None, "{backend:?}");
        tx.commit().await.unwrap();

        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(tx.purge_expired_wraps(499).await.unwrap(), 0);
        assert_eq!(tx.purge_expired_wraps(500).await.unwrap(), 1);
        tx.commit().await.unwrap();
        let mut reads = store.reads().await.unwrap();
        assert_eq!(reads.wrap_by_digest(&[2; 32]).await.unwrap(), None);

        // Debug output names the row, never its digest or ciphertext.
        let shown = format!("{live:?}");
        assert!(
            shown.contains("live") && !shown.contains("digest"),
            "{shown}"
        );
    }
}

/// Two transactions taking one wrapping on PostgreSQL: the second waits for the first and
/// then finds nothing, so one response can never be unwrapped twice.
#[tokio::test]
async fn concurrent_takes_on_postgres_get_the_wrapping_once() {
    let backends = Backends::new().await;
    let store = &backends.stores[1];
    assert_eq!(store.backend(), Backend::Postgres);
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_wrap(&record("once", 5, 10_000)).await.unwrap();
    tx.commit().await.unwrap();

    let mut first = store.begin_write().await.unwrap();
    assert!(first.take_wrap(&[5; 32]).await.unwrap().is_some());
    let second_store = store.clone();
    let second = tokio::spawn(async move {
        let mut second = second_store.begin_write().await.unwrap();
        let taken = second.take_wrap(&[5; 32]).await.unwrap();
        second.commit().await.unwrap();
        taken
    });
    // The second taker is blocked on the first's row lock until it commits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!second.is_finished());
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), None);
}
