//! Keyring rotation, rewrap and retirement (doc/keys.md), in process and with the real
//! binary: rotation under load, a rewrap killed with SIGKILL and resumed, replicas picking
//! up a new term, and start-up refusing rows that name a term the keyring lacks.

use crate::harness::{Db, TestApp};
use crate::process::{call, key_file, run, run_with_env, Initialized, BIN};
use confmgr_testkit::ServerProcess;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Columns = BTreeMap<(String, i64), (Option<i64>, Vec<u8>, Vec<u8>)>;

/// (path, version) → (term, nonce, ciphertext) of every live version.
async fn stored(db_url: &str) -> Columns {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(db_url).await.unwrap();
    let rows = sqlx::query(
        "select path, version, term, nonce, ciphertext from kv_versions where ciphertext is not null",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|row| {
            (
                (row.get("path"), row.get("version")),
                (row.get("term"), row.get("nonce"), row.get("ciphertext")),
            )
        })
        .collect()
}

/// Polls `sys/keys/status` until the rewrap has finished; returns the last status.
async fn wait_for_rewrap(app: &TestApp) -> Value {
    let started = Instant::now();
    loop {
        let (_, body) = app.call("GET", "/v1/sys/keys/status", None).await;
        if body["data"]["rewrap"]["pending"] == 0 && body["data"]["rewrap"]["running"] == false {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "rewrap did not finish: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rotation_under_load_fails_no_request_and_new_versions_use_the_new_term() {
    for db in [Db::Sqlite, Db::Postgres] {
        let app = Arc::new(TestApp::start(db).await);
        for i in 0..8 {
            let (status, body) = app
                .call(
                    "POST",
                    &format!("/v1/secret/data/load/{i}"),
                    Some(json!({"data": {"v": "0"}})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        for worker in 0..4u64 {
            let (app, stop, failures, requests) = (
                Arc::clone(&app),
                Arc::clone(&stop),
                Arc::clone(&failures),
                Arc::clone(&requests),
            );
            workers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("/v1/secret/data/load/{}", (worker * 2 + n) % 8);
                    let (status, _) = if n.is_multiple_of(2) {
                        app.call("GET", &path, None).await
                    } else {
                        app.call("POST", &path, Some(json!({"data": {"v": n.to_string()}})))
                            .await
                    };
                    requests.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, body) = app.call("POST", "/v1/sys/keys/rotate", None).await;
        assert_eq!((status, &body["data"]["term"]), (200, &json!(2)), "{body}");
        let rotated_at = requests.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.await.unwrap();
        }
        assert!(
            requests.load(Ordering::Relaxed) > rotated_at,
            "load kept running"
        );
        assert_eq!(failures.load(Ordering::Relaxed), 0, "no request failed");

        // Every secret reads; the newest version of each was written after the rotation.
        let columns = stored(&app.db_url).await;
        for i in 0..8 {
            let (status, _) = app
                .call("GET", &format!("/v1/secret/data/load/{i}"), None)
                .await;
            assert_eq!(status, 200);
        }
        let (_, body) = app
            .call(
                "POST",
                "/v1/secret/data/load/0",
                Some(json!({"data": {"v": "new"}})),
            )
            .await;
        let version = body["data"]["version"].as_i64().unwrap();
        assert_eq!(
            columns.len() + 1,
            stored(&app.db_url).await.len(),
            "one more version"
        );
        let after = stored(&app.db_url).await;
        assert_eq!(after[&("load/0".to_owned(), version)].0, Some(2));
        assert!(
            after.values().any(|(term, _, _)| *term == Some(1)),
            "old versions stay on term 1"
        );
    }
}

#[tokio::test]
async fn rewrap_moves_data_keys_without_touching_ciphertext_then_the_old_term_retires() {
    for db in [Db::Sqlite, Db::Postgres] {
        let app = Arc::new(TestApp::start(db).await);
        for i in 0..30 {
            let (status, _) = app
                .call(
                    "POST",
                    &format!("/v1/secret/data/rw/{}", i % 10),
                    Some(json!({"data": {"n": i.to_string()}})),
                )
                .await;
            assert_eq!(status, 200);
        }
        let before = stored(&app.db_url).await;
        assert!(before.values().all(|(term, _, _)| *term == Some(1)));

        let (status, _) = app.call("POST", "/v1/sys/keys/rotate", None).await;
        assert_eq!(status, 200);
        let message = app.retire_refused(1).await;
        assert!(message.contains("still wraps 30 data keys"), "{message}");
        app.retire_refused(2).await;

        let (status, _) = app.call("POST", "/v1/sys/keys/rewrap", None).await;
        assert_eq!(status, 204);
        let body = wait_for_rewrap(&app).await;
        assert_eq!(body["data"]["rewrap"]["done"], 30, "{body}");
        assert_eq!(body["data"]["active_term"], 2);
        assert!(
            body["data"]["rewrap"]["finished_time"].is_string(),
            "{body}"
        );

        let after = stored(&app.db_url).await;
        assert_eq!(before.len(), after.len());
        for (key, (term, nonce, ciphertext)) in &after {
            assert_eq!(*term, Some(2), "{key:?}");
            assert_eq!(
                (nonce, ciphertext),
                (&before[key].1, &before[key].2),
                "data ciphertext of {key:?} is byte-identical"
            );
        }
        // Not while replicas may still be loading term 2.
        let message = app.retire_refused(1).await;
        assert!(
            message.contains("once every replica has loaded it"),
            "{message}"
        );
        let pool = app.raw_db().await;
        sqlx::query("update keyring_terms set created_at = created_at - 60000000 where term = 2")
            .execute(&pool)
            .await
            .unwrap();
        let (status, body) = app
            .call("POST", "/v1/sys/keys/retire", Some(json!({"term": 1})))
            .await;
        assert_eq!(status, 204, "{body}");
        let (_, body) = app.call("GET", "/v1/sys/keys/status", None).await;
        assert_eq!(body["data"]["terms"].as_array().unwrap().len(), 1, "{body}");
        for i in 0..10 {
            let (status, body) = app
                .call("GET", &format!("/v1/secret/data/rw/{i}"), None)
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["data"]["n"], json!((20 + i).to_string()));
        }
    }
}

#[tokio::test]
async fn a_rewrap_killed_midway_resumes_after_restart() {
    let db = Initialized::new(Db::Postgres).await;
    let slow = [
        ("CONFMGR_REWRAP_BATCH", "20"),
        ("CONFMGR_REWRAP_PAUSE_MS", "200"),
    ];
    let env: Vec<(&str, &str)> = db.env().into_iter().chain(slow).collect();
    let server = ServerProcess::start(Path::new(BIN), &[], &env)
        .await
        .unwrap();
    let root = db.root.clone();
    let client = reqwest::Client::new();
    for i in 0..200 {
        let status = client
            .post(format!("{}/v1/secret/data/many/{i}", server.url()))
            .header("X-Vault-Token", &root)
            .json(&json!({"data": {"i": i}}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let before = stored(&db.url).await;
    assert_eq!(before.len(), 200);
    assert_eq!(
        call(&server, &root, "POST", "/v1/sys/keys/rotate", Value::Null)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&server, &root, "POST", "/v1/sys/keys/rewrap", Value::Null)
            .await
            .0,
        204
    );
    // Wait until it is partly done, then kill the process.
    let started = Instant::now();
    loop {
        let (_, body) = call(&server, &root, "GET", "/v1/sys/keys/status", Value::Null).await;
        let done = body["data"]["rewrap"]["done"].as_i64().unwrap();
        if done > 0 {
            assert!(
                body["data"]["rewrap"]["pending"].as_i64().unwrap() > 0,
                "{body}"
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await.unwrap();
    let midway = stored(&db.url).await;
    let moved = midway
        .values()
        .filter(|(term, _, _)| *term == Some(2))
        .count();
    assert!(
        moved > 0 && moved < 200,
        "killed midway: {moved} of 200 moved"
    );

    let server = ServerProcess::start(Path::new(BIN), &[], &db.env())
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let (_, body) = call(&server, &root, "GET", "/v1/sys/keys/status", Value::Null).await;
        if body["data"]["rewrap"]["pending"] == 0 && body["data"]["rewrap"]["running"] == false {
            assert_eq!(body["data"]["rewrap"]["done"], 200, "{body}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = stored(&db.url).await;
    for (key, (term, nonce, ciphertext)) in &after {
        assert_eq!(*term, Some(2), "{key:?}");
        assert_eq!((nonce, ciphertext), (&before[key].1, &before[key].2));
    }
    for i in [0, 57, 199] {
        let (status, body) = call(
            &server,
            &root,
            "GET",
            &format!("/v1/secret/data/many/{i}"),
            Value::Null,
        )
        .await;
        assert_eq!((status, &body["data"]["data"]["i"]), (200, &json!(i)));
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_replica_wraps_with_the_new_term_within_a_second() {
    let db = Initialized::new(Db::Postgres).await;
    let a = ServerProcess::start(Path::new(BIN), &[], &db.env())
        .await
        .unwrap();
    let b = ServerProcess::start(Path::new(BIN), &[], &db.env())
        .await
        .unwrap();
    let root = db.root.clone();
    assert_eq!(
        call(&a, &root, "POST", "/v1/sys/keys/rotate", Value::Null)
            .await
            .0,
        200
    );
    let rotated = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (status, body) = call(
        &b,
        &root,
        "POST",
        "/v1/secret/data/replica",
        json!({"data": {"k": "v"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(rotated.elapsed() < Duration::from_secs(3));
    let columns = stored(&db.url).await;
    assert_eq!(columns[&("replica".to_owned(), 1)].0, Some(2));
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn start_up_refuses_rows_naming_a_term_the_keyring_lacks() {
    let db = Initialized::new(Db::Sqlite).await;
    let server = ServerProcess::start(Path::new(BIN), &[], &db.env())
        .await
        .unwrap();
    let root = db.root.clone();
    assert_eq!(
        call(&server, &root, "POST", "/v1/sys/keys/rotate", Value::Null)
            .await
            .0,
        200
    );
    let (status, _) = call(
        &server,
        &root,
        "POST",
        "/v1/secret/data/orphan",
        json!({"data": {"k": "v"}}),
    )
    .await;
    assert_eq!(status, 200);
    server.stop().await.unwrap();

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    sqlx::query("delete from keyring_terms where term = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let env = db.env();
    let mut args = vec!["serve"];
    for (name, value) in env.iter() {
        args.push(match *name {
            "CONFMGR_DATABASE_URL" => "--database-url",
            _ => "--root-key-file",
        });
        args.push(value);
    }
    let out = run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("keyring term(s) 2 that the keyring does not hold"),
        "{stderr}"
    );
}

#[tokio::test]
async fn rekey_wraps_the_keyring_under_a_new_root_key_and_the_old_one_opens_nothing() {
    let db = Initialized::new(Db::Postgres).await;
    let server = ServerProcess::start(Path::new(BIN), &[], &db.env())
        .await
        .unwrap();
    let root = db.root.clone();
    assert_eq!(
        call(&server, &root, "POST", "/v1/sys/keys/rotate", Value::Null)
            .await
            .0,
        200
    );
    for path in ["first", "kept"] {
        let (status, _) = call(
            &server,
            &root,
            "POST",
            &format!("/v1/secret/data/{path}"),
            json!({"data": {"k": path}}),
        )
        .await;
        assert_eq!(status, 200);
    }
    server.stop().await.unwrap();
    let before = stored(&db.url).await;

    let dir = tempfile::tempdir().unwrap();
    let new_key = key_file(dir.path(), "new.key");
    let rekey = |new_key: &str| {
        run_with_env(
            &["rekey"],
            &[
                ("CONFMGR_DATABASE_URL", db.url.as_str()),
                ("CONFMGR_ROOT_KEY_FILE", db.key.to_str().unwrap()),
                ("CONFMGR_NEW_ROOT_KEY_FILE", new_key),
            ],
        )
    };
    let missing = run_with_env(
        &["rekey"],
        &[
            ("CONFMGR_DATABASE_URL", db.url.as_str()),
            ("CONFMGR_ROOT_KEY_FILE", db.key.to_str().unwrap()),
        ],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("CONFMGR_NEW_ROOT_KEY_FILE"));

    let out = rekey(new_key.to_str().unwrap());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rekeyed 2 keyring term(s)"));
    // No data moved: only the keyring's wrapping changed.
    assert_eq!(stored(&db.url).await, before);

    // The old root key opens nothing any more: neither serving nor another rekey.
    let old = run(&[
        "migrate",
        "--database-url",
        &db.url,
        "--root-key-file",
        db.key.to_str().unwrap(),
    ]);
    assert_eq!(old.status.code(), Some(0), "migrate needs no key");
    let again = rekey(new_key.to_str().unwrap());
    assert_ne!(again.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("does not open this database's keyring"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let old_serve = ServerProcess::start(Path::new(BIN), &[], &db.env()).await;
    assert!(
        old_serve.is_err(),
        "the old root key must not start a server"
    );

    let new_env = [
        ("CONFMGR_DATABASE_URL", db.url.as_str()),
        ("CONFMGR_ROOT_KEY_FILE", new_key.to_str().unwrap()),
    ];
    let server = ServerProcess::start(Path::new(BIN), &[], &new_env)
        .await
        .unwrap();
    let (status, body) = call(&server, &root, "GET", "/v1/secret/data/kept", Value::Null).await;
    assert_eq!((status, &body["data"]["data"]["k"]), (200, &json!("kept")));
    server.stop().await.unwrap();
}

async fn rotated_if_due(app: &TestApp, rotation_days: u32) -> Option<i64> {
    let settings = confmgr_server::services::keys::KeySettings {
        rotation_days,
        ..Default::default()
    };
    let state = &app.state;
    confmgr_server::services::keys::rotate_if_due(
        &app.store,
        &state.root_key,
        &state.keyring,
        &settings,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_term_older_than_the_rotation_age_is_rotated_automatically() {
    let app = TestApp::start(Db::Sqlite).await;
    // A fresh term is not due.
    assert_eq!(rotated_if_due(&app, 30).await, None);

    // Term 1 made 31 days ago: due at 30 days, never with rotation by age off (0).
    let pool = app.raw_db().await;
    let month_ago = confmgr_core::time::now_micros() - 31 * 86_400 * 1_000_000;
    sqlx::query("update keyring_terms set created_at = $1 where term = 1")
        .bind(month_ago)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(rotated_if_due(&app, 0).await, None);
    assert_eq!(rotated_if_due(&app, 30).await, Some(2));
    assert_eq!(app.state.keyring.active_term(), Some(2));
    assert_eq!(
        rotated_if_due(&app, 30).await,
        None,
        "the new term is fresh"
    );
}
