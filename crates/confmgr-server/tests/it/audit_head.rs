//! Issue 22 (hardening): keyed audit chain and its published head.
//!
//! The chain head (`seq`, `hash`) is published outside the database (the audit file after
//! each seal pass, the verify report) and verification against a head noted earlier reports
//! a truncated tail; links are keyed by a chain key wrapped by the root key, so a rewrite by
//! someone without it is found; rekey keeps the key; events sealed before the key existed
//! still verify.

use crate::harness::{audit_settings, purge_before, seal_all, test_access, TestApp, BOTH};
use confmgr_core::audit::{seal_events, AuditEvent, Outcome, GENESIS_HASH};
use confmgr_core::audit_chain::ChainHead;
use confmgr_core::crypto::RootKey;
use confmgr_server::audit::chain::ChainKeys;
use confmgr_server::audit::{self, sealer, AuditSettings};
use confmgr_server::services::bootstrap;
use confmgr_server::state::Limits;
use confmgr_store::Store;
use serde_json::{json, Value};
use std::sync::Arc;

async fn writes(app: &TestApp, prefix: &str, n: usize) {
    for i in 0..n {
        let (status, body) = app
            .call(
                "POST",
                &format!("/v1/secret/data/{prefix}{i}"),
                Some(json!({"data": {"i": i}})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// The report of the server's verification, without going through HTTP (which would add an
/// event of its own to the chain).
async fn report(app: &TestApp, expect: Option<ChainHead>) -> Value {
    let report = audit::verify(&app.store, app.state.audit.chain_keys(), 60, expect)
        .await
        .unwrap();
    serde_json::to_value(report).unwrap()
}

fn head_of(report: &Value) -> ChainHead {
    ChainHead::parse(&format!(
        "{}:{}",
        report["last_seq"],
        report["last_hash"].as_str().unwrap()
    ))
    .unwrap()
}

async fn verify_api(app: &TestApp, query: &str) -> (u16, Value) {
    let (status, body) = app
        .call("POST", &format!("/v1/sys/audit/verify{query}"), None)
        .await;
    (status, body["data"].clone())
}

#[tokio::test]
async fn a_truncated_tail_is_reported_against_the_expected_head() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        writes(&app, "t", 8).await;
        seal_all(&app).await;
        let before = report(&app, None).await;
        assert_eq!(before["ok"], true, "{db:?}: {before}");
        assert_eq!(before["last_hash"].as_str().unwrap().len(), 64);
        let head = head_of(&before);
        assert!(head.seq >= 8);

        // Whoever can write the database deletes the last three sealed events.
        let pool = app.raw_db().await;
        sqlx::query("delete from audit_events where seq > $1")
            .bind(head.seq - 3)
            .execute(&pool)
            .await
            .unwrap();
        // The shorter chain verifies on its own...
        let alone = report(&app, None).await;
        assert_eq!(alone["ok"], true, "{db:?}: {alone}");
        assert_eq!(alone["last_seq"], head.seq - 3);
        // ...but not against the head noted before.
        let (status, found) = verify_api(&app, &format!("?expect_head={head}")).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["ok"], false, "{db:?}: {found}");
        assert_eq!(
            found["first_break"],
            json!({"kind": "truncated", "expected_seq": head.seq, "last_seq": head.seq - 3}),
            "{db:?}"
        );
        assert_eq!(found["expected_head"], "not_found");

        // New events sealed over the cut reach the seq again, with other hashes.
        writes(&app, "u", 4).await;
        seal_all(&app).await;
        let found = report(&app, Some(head.clone())).await;
        assert_eq!(
            (
                found["first_break"]["kind"].clone(),
                found["first_break"]["seq"].clone(),
                found["first_break"]["expected_hash"].clone()
            ),
            (json!("head_mismatch"), json!(head.seq), json!(head.hash)),
            "{db:?}: {found}"
        );

        // A malformed head is refused.
        let (status, body) = app
            .call("GET", "/v1/sys/audit/verify?expect_head=12", None)
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["errors"][0].as_str().unwrap().contains("SEQ:HASH"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_expected_head_is_found_in_an_intact_chain() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        writes(&app, "h", 3).await;
        seal_all(&app).await;
        let head = head_of(&report(&app, None).await);
        writes(&app, "h", 3).await;
        seal_all(&app).await;
        let (status, found) = verify_api(&app, &format!("?expect_head={head}")).await;
        assert_eq!(status, 200);
        assert_eq!(found["ok"], true, "{db:?}: {found}");
        assert_eq!(found["expected_head"], "found");
        assert!(found["last_seq"].as_i64().unwrap() > head.seq);
        assert_eq!(
            found["keyed_from"], 1,
            "{db:?}: a new database is keyed throughout"
        );
    }
}

/// Rewrites seq `from`.. as someone who can write the database but holds no root key: the
/// event at `from` edited, and its hash and every later link recomputed (unkeyed).
async fn rewrite_unkeyed(store: &Store, pool: &sqlx::AnyPool, from: i64) {
    let mut tx = store.begin().await.unwrap();
    let stored = tx.sealed_events_after(from - 1, 10_000).await.unwrap();
    drop(tx);
    let prev = stored[0].seal.as_ref().unwrap().prev_hash.clone();
    let mut events: Vec<AuditEvent> = stored.iter().map(|s| s.event.clone()).collect();
    events[0].outcome = Outcome::Ok;
    events[0].path = "data/nothing-to-see".into();
    let seals = seal_events(from - 1, &prev, &events);
    sqlx::query("update audit_events set path = $1, outcome = $2 where seq = $3")
        .bind(events[0].path.clone())
        .bind(events[0].outcome.as_str())
        .bind(from)
        .execute(pool)
        .await
        .unwrap();
    for seal in &seals {
        sqlx::query("update audit_events set prev_hash = $1, hash = $2 where seq = $3")
            .bind(seal.prev_hash.clone())
            .bind(seal.hash.clone())
            .bind(seal.seq)
            .execute(pool)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_chain_rewritten_without_the_key_is_found() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        writes(&app, "k", 6).await;
        seal_all(&app).await;
        let before = report(&app, None).await;
        assert_eq!(before["ok"], true, "{db:?}: {before}");
        let pool = app.raw_db().await;
        let id: String = sqlx::query_scalar("select event_id from audit_events where seq = 3")
            .fetch_one(&pool)
            .await
            .unwrap();
        // Edit seq 3 and recompute the chain from there on, consistently, with SHA-256.
        rewrite_unkeyed(&app.store, &pool, 3).await;
        let found = report(&app, None).await;
        assert_eq!(
            found["first_break"],
            json!({"kind": "edited", "seq": 3, "event_id": id}),
            "{db:?}: {found}"
        );
        let (_, api) = verify_api(&app, "").await;
        assert_eq!(api["first_break"]["kind"], "edited", "{db:?}: {api}");
    }
}

#[tokio::test]
async fn each_seal_pass_publishes_the_head_to_the_audit_file() {
    for db in BOTH {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.jsonl");
        let settings = AuditSettings {
            file: Some(file.clone()),
            ..audit_settings()
        };
        let app = TestApp::start_audited(db, Limits::default(), test_access(), settings).await;
        writes(&app, "f", 4).await;
        seal_all(&app).await;
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let heads: Vec<&Value> = lines
            .iter()
            .filter(|line| line["type"] == "chain_head")
            .collect();
        assert!(!heads.is_empty(), "{db:?}: no head in\n{text}");
        // Event lines are as before: no `type`, no seal.
        for event in lines.iter().filter(|line| line.get("type").is_none()) {
            assert!(event["event_id"].is_string(), "{event}");
            assert!(event.get("hash").is_none(), "{event}");
        }
        // Heads only move forward, and each one is the stored hash at its seq.
        let last = heads.last().unwrap();
        for pair in heads.windows(2) {
            assert!(pair[0]["seq"].as_i64() < pair[1]["seq"].as_i64(), "{text}");
        }
        let head = ChainHead::parse(&format!(
            "{}:{}",
            last["seq"],
            last["hash"].as_str().unwrap()
        ))
        .unwrap();
        assert!(last["time"].as_str().unwrap().ends_with('Z'));
        let mut tx = app.store.begin().await.unwrap();
        let stored = tx.sealed_events_after(head.seq - 1, 1).await.unwrap();
        drop(tx);
        assert_eq!(
            stored[0].seal.as_ref().unwrap().hash,
            head.hash_bytes(),
            "{db:?}"
        );
        let found = report(&app, Some(head)).await;
        assert_eq!(found["expected_head"], "found", "{db:?}: {found}");
    }
}

#[tokio::test]
async fn rekey_keeps_the_chain_key_and_verification() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        writes(&app, "r", 4).await;
        seal_all(&app).await;
        let before = report(&app, None).await;
        let new_root = RootKey::generate();
        bootstrap::rekey(&app.store, &app.state.root_key, &new_root)
            .await
            .unwrap();
        // A server started with the new root key verifies the same chain.
        let restarted = ChainKeys::new(Arc::new(new_root));
        let after = audit::verify(&app.store, &restarted, 60, Some(head_of(&before)))
            .await
            .unwrap();
        assert!(after.ok, "{db:?}: {after:?}");
        assert!(after.checked >= 4);
        assert_eq!(after.keyed_from, Some(1));
        // The old root key no longer opens the chain key.
        let old = ChainKeys::new(Arc::clone(&app.state.root_key));
        assert!(audit::verify(&app.store, &old, 60, None).await.is_err());
        // The running server keeps sealing with the key it holds.
        writes(&app, "s", 2).await;
        seal_all(&app).await;
        let later = audit::verify(&app.store, &restarted, 60, None)
            .await
            .unwrap();
        assert!(later.ok, "{db:?}: {later:?}");
        assert!(later.last_seq > after.last_seq);
    }
}

fn synthetic(i: i64) -> AuditEvent {
    AuditEvent {
        event_id: format!("00000000-0000-4000-8000-{i:012}"),
        time: confmgr_core::time::now_micros(),
        request_id: format!("req-{i}"),
        actor_name: "root".into(),
        operation: "read".into(),
        mount: "secret".into(),
        path: format!("data/old/{i}"),
        outcome: Outcome::Ok,
        status: 200,
        ..AuditEvent::default()
    }
}

async fn insert(store: &Store, events: &[AuditEvent]) {
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_audit_events(events).await.unwrap();
    tx.commit().await.unwrap();
}

/// What a server before migration 0008 did: unkeyed SHA-256 links.
async fn seal_unkeyed(store: &Store) {
    let mut tx = store.begin_write().await.unwrap();
    let pending = tx.unsealed_events(1000).await.unwrap();
    let (last_seq, last_hash) = tx
        .last_seal()
        .await
        .unwrap()
        .unwrap_or((0, GENESIS_HASH.to_vec()));
    let events: Vec<_> = pending.iter().map(|s| s.event.clone()).collect();
    let seals = seal_events(last_seq, &last_hash, &events);
    let rows: Vec<_> = pending.iter().map(|s| s.id).zip(seals).collect();
    tx.apply_seals(&rows, confmgr_core::time::now_micros())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn events_sealed_before_the_chain_key_still_verify() {
    for db in BOTH {
        // Audit off: no background sealer; this test plays the old and the upgraded server.
        let settings = AuditSettings {
            enabled: false,
            ..audit_settings()
        };
        let app = TestApp::start_audited(db, Limits::default(), test_access(), settings).await;
        let store = &app.store;
        insert(store, &(1..=5).map(synthetic).collect::<Vec<_>>()).await;
        seal_unkeyed(store).await;

        // The upgraded server: its first seal pass creates the key, keyed from seq 6.
        let keys = ChainKeys::new(Arc::clone(&app.state.root_key));
        let unkeyed = audit::verify(store, &keys, 60, None).await.unwrap();
        assert!(unkeyed.ok, "{db:?}: {unkeyed:?}");
        assert_eq!((unkeyed.checked, unkeyed.keyed_from), (5, None));
        insert(store, &(6..=8).map(synthetic).collect::<Vec<_>>()).await;
        let sealed = sealer::seal_once(store, &keys).await.unwrap();
        assert_eq!(sealed.events, 3);
        assert_eq!(sealed.head.as_ref().map(|h| h.seq), Some(8));
        let after = audit::verify(store, &keys, 60, sealed.head.clone())
            .await
            .unwrap();
        assert!(after.ok, "{db:?}: {after:?}");
        assert_eq!((after.checked, after.keyed_from), (8, Some(6)));
        // After a restart too.
        let restarted = ChainKeys::new(Arc::clone(&app.state.root_key));
        let again = audit::verify(store, &restarted, 60, None).await.unwrap();
        assert!(again.ok, "{db:?}: {again:?}");

        // Editing the unkeyed prefix and recomputing it is caught by the first keyed link.
        let pool = app.raw_db().await;
        rewrite_prefix(store, &pool).await;
        let found = audit::verify(store, &restarted, 60, None).await.unwrap();
        assert_eq!(
            found.first_break.map(|b| serde_json::to_value(b).unwrap()),
            Some(json!({"kind": "relinked", "seq": 6, "event_id": synthetic(6).event_id})),
            "{db:?}"
        );

        // Moving keyed_from (to pass the keyed events off as unkeyed) stops the key opening.
        sqlx::query("update audit_chain_key set keyed_from = 100")
            .execute(&pool)
            .await
            .unwrap();
        let moved = ChainKeys::new(Arc::clone(&app.state.root_key));
        assert!(audit::verify(store, &moved, 60, None).await.is_err());
    }
}

/// Edits seq 2 and recomputes seq 2 to 5 (the unkeyed prefix) consistently.
async fn rewrite_prefix(store: &Store, pool: &sqlx::AnyPool) {
    let mut tx = store.begin().await.unwrap();
    let stored = tx.sealed_events_after(1, 4).await.unwrap();
    drop(tx);
    let mut events: Vec<AuditEvent> = stored.iter().map(|s| s.event.clone()).collect();
    events[0].path = "data/forged".into();
    let prev = stored[0].seal.as_ref().unwrap().prev_hash.clone();
    let seals = seal_events(1, &prev, &events);
    sqlx::query("update audit_events set path = 'data/forged' where seq = 2")
        .execute(pool)
        .await
        .unwrap();
    for seal in &seals {
        sqlx::query("update audit_events set hash = $1, prev_hash = $2 where seq = $3")
            .bind(seal.hash.clone())
            .bind(seal.prev_hash.clone())
            .bind(seal.seq)
            .execute(pool)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_deleted_prefix_passed_off_as_retention_is_found() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        writes(&app, "p", 8).await;
        seal_all(&app).await;
        // Retention itself: its checkpoint carries a MAC, and the rest verifies from there.
        let cutoff = confmgr_core::time::now_micros();
        let (checkpoint, _) = purge_before(&app, cutoff).await;
        writes(&app, "q", 6).await;
        seal_all(&app).await;
        let kept = report(&app, None).await;
        assert_eq!(kept["ok"], true, "{db:?}: {kept}");
        assert!(kept["last_seq"].as_i64().unwrap() > checkpoint + 5);

        // Whoever can write the database deletes the next three events and adds a checkpoint
        // at the last of them, without the key: no MAC, then a made-up one.
        let pool = app.raw_db().await;
        let upto = checkpoint + 3;
        let hash: Vec<u8> = sqlx::query_scalar("select hash from audit_events where seq = $1")
            .bind(upto)
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query("delete from audit_events where seq <= $1")
            .bind(upto)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "insert into audit_checkpoints (seq, hash, purged, created_at) values ($1, $2, 3, 0)",
        )
        .bind(upto)
        .bind(hash)
        .execute(&pool)
        .await
        .unwrap();
        let found = report(&app, None).await;
        assert_eq!(
            found["first_break"],
            json!({"kind": "checkpoint", "seq": upto}),
            "{db:?}: {found}"
        );
        sqlx::query("update audit_checkpoints set mac = $1 where seq = $2")
            .bind(vec![0u8; 32])
            .bind(upto)
            .execute(&pool)
            .await
            .unwrap();
        let found = report(&app, None).await;
        assert_eq!(
            found["first_break"]["kind"], "checkpoint",
            "{db:?}: {found}"
        );
        assert_eq!(found["checked"], 0);
    }
}
