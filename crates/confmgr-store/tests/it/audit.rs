use crate::backends::Backends;
use confmgr_core::audit::{AuditEvent, Outcome};
use confmgr_store::AuditFilter;

fn event(i: usize) -> AuditEvent {
    AuditEvent {
        event_id: format!("e{i}"),
        time: i as i64,
        request_id: format!("r{i}"),
        actor_name: "root".into(),
        operation: "read".into(),
        mount: "secret".into(),
        path: format!("data/p{}", i % 3),
        version: i.is_multiple_of(2).then_some(i as i64),
        outcome: if i.is_multiple_of(5) {
            Outcome::Denied
        } else {
            Outcome::Ok
        },
        status: if i.is_multiple_of(5) { 403 } else { 200 },
        cert_subject: if i.is_multiple_of(7) {
            format!("CN=client-{i}")
        } else {
            String::new()
        },
        cert_fingerprint: if i.is_multiple_of(7) {
            format!("{i:064x}")
        } else {
            String::new()
        },
        ..AuditEvent::default()
    }
}

#[tokio::test]
async fn batched_inserts_round_trip_and_filter() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let events: Vec<AuditEvent> = (0..1201).map(event).collect();
        let mut tx = store.begin_write().await.unwrap();
        tx.insert_audit_events(&events).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let all = tx
            .query_audit_events(&AuditFilter::default(), 0, 5000)
            .await
            .unwrap();
        assert_eq!(all.len(), 1201, "every row of every multi-row statement");
        assert_eq!(all[7].event, events[7]);
        assert!(all.iter().all(|e| e.seal.is_none()));
        let denied = AuditFilter {
            outcome: Some("denied".into()),
            path_prefix: Some("data/p1".into()),
            ..AuditFilter::default()
        };
        let found = tx.query_audit_events(&denied, 0, 5000).await.unwrap();
        assert_eq!(
            found.len(),
            events
                .iter()
                .filter(|e| e.outcome == Outcome::Denied && e.path == "data/p1")
                .count()
        );
        let window = AuditFilter {
            since: Some(100),
            until: Some(110),
            ..AuditFilter::default()
        };
        assert_eq!(
            tx.query_audit_events(&window, 0, 5000).await.unwrap().len(),
            10
        );
        let page = tx
            .query_audit_events(&AuditFilter::default(), all[99].id, 50)
            .await
            .unwrap();
        assert_eq!(
            page[0].event.event_id, "e100",
            "paging continues after the cursor"
        );
        assert_eq!(tx.oldest_unsealed(2).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn seals_are_written_in_batches_and_only_onto_unsealed_events() {
    use confmgr_core::audit::{seal_events, GENESIS_HASH};
    let backends = Backends::new().await;
    for store in &backends.stores {
        // more than one statement's worth (1,000 rows), with a short last chunk
        let events: Vec<AuditEvent> = (0..1201).map(event).collect();
        let mut tx = store.begin_write().await.unwrap();
        tx.insert_audit_events(&events).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin_write().await.unwrap();
        let pending = tx.unsealed_events(5000).await.unwrap();
        assert_eq!(pending.len(), 1201);
        let stored: Vec<AuditEvent> = pending.iter().map(|p| p.event.clone()).collect();
        let seals = seal_events(0, &GENESIS_HASH, &stored);
        let rows: Vec<_> = pending.iter().map(|p| p.id).zip(seals.clone()).collect();
        tx.apply_seals(&rows, 42).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        assert!(tx.unsealed_events(10).await.unwrap().is_empty());
        let sealed = tx.sealed_events_after(0, 5000).await.unwrap();
        assert_eq!(sealed.len(), 1201);
        for (row, seal) in sealed.iter().zip(&seals) {
            assert_eq!(row.seal.as_ref(), Some(seal), "seq {}", seal.seq);
        }
        assert_eq!(sealed[1000].event, events[1000]);
        assert_eq!(
            tx.last_seal().await.unwrap(),
            Some((1201, seals[1200].hash.clone()))
        );
        tx.commit().await.unwrap();

        // sealing a sealed event again is refused and changes nothing
        let mut tx = store.begin_write().await.unwrap();
        let again = seal_events(5000, &GENESIS_HASH, &stored[..1]);
        let refused = tx
            .apply_seals(&[(pending[0].id, again[0].clone())], 43)
            .await;
        assert!(refused.is_err(), "an already sealed event was sealed again");
        drop(tx);
        let mut tx = store.begin().await.unwrap();
        let first = tx.sealed_events_after(0, 1).await.unwrap();
        assert_eq!(first[0].seal.as_ref(), Some(&seals[0]));
    }
}

#[tokio::test]
async fn the_audit_chain_key_is_stored_once_and_rewrapped_in_place() {
    use confmgr_core::audit_chain::WrappedChainKey;
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.audit_chain_key().await.unwrap(),
            None,
            "none until sealed"
        );
        drop(tx);

        let key = WrappedChainKey {
            keyed_from: 6,
            nonce: vec![1; 12],
            wrapped_key: vec![2; 48],
        };
        let mut tx = store.begin_write().await.unwrap();
        tx.insert_audit_chain_key(&key, 42).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin_write().await.unwrap();
        assert!(
            tx.insert_audit_chain_key(&key, 43).await.is_err(),
            "one chain key per database"
        );
        drop(tx);

        let rewrapped = WrappedChainKey {
            nonce: vec![3; 12],
            wrapped_key: vec![4; 48],
            ..key.clone()
        };
        let mut tx = store.begin_write().await.unwrap();
        tx.replace_audit_chain_key_wrapping(&rewrapped)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.audit_chain_key().await.unwrap(), Some(rewrapped.clone()));
        drop(tx);

        // A rewrap never moves keyed_from: a row whose keyed_from changed meanwhile is refused.
        let moved = WrappedChainKey {
            keyed_from: 7,
            ..rewrapped.clone()
        };
        let mut tx = store.begin_write().await.unwrap();
        assert!(tx.replace_audit_chain_key_wrapping(&moved).await.is_err());
        drop(tx);
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.audit_chain_key().await.unwrap(), Some(rewrapped));
    }
}
