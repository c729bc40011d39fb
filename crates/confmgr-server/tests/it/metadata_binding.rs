//! Issue 22 (hardening): secret metadata bound under the keyring.
//! A server running in this process on 127.0.0.1:0, on a fresh database of either backend;
//! the tests edit its database directly, as an attacker with write access to it could.

use crate::harness::{TestApp, BOTH};
use confmgr_core::path::SecretPath;
use confmgr_server::services::bootstrap;
use confmgr_server::services::kv::{bind_unbound_metadata, Kv, Read, METADATA_BOUND};
use serde_json::json;
use sqlx::Row;

async fn put(app: &TestApp, path: &str, value: &str) {
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/secret/data/{path}"),
            Some(json!({"data": {"v": value}})),
        )
        .await;
    assert_eq!(status, 200, "{path}: {body}");
}

async fn exec(pool: &sqlx::AnyPool, sql: &str) {
    let done = sqlx::query(sql).execute(pool).await.unwrap();
    assert!(done.rows_affected() >= 1, "{sql} changed nothing");
}

/// Every read of the secret fails like a ciphertext that does not authenticate (500 with
/// a generic body) and shows none of its values; no change to it is accepted either.
async fn assert_refused(app: &TestApp, path: &str, values: &[&str]) {
    for route in [
        format!("/v1/secret/data/{path}"),
        format!("/v1/secret/data/{path}?version=1"),
        format!("/v1/secret/metadata/{path}"),
        format!("/v1/secret/subkeys/{path}"),
    ] {
        let (status, body) = app.call("GET", &route, None).await;
        assert_eq!(
            (status, &body),
            (500, &json!({"errors": ["internal error"]})),
            "{route}"
        );
        for value in values {
            assert!(!body.to_string().contains(value), "{route}: {body}");
        }
    }
    for (method, route, body) in [
        (
            "POST",
            format!("/v1/secret/data/{path}"),
            json!({"data": {"v": "blessed"}}),
        ),
        (
            "PATCH",
            format!("/v1/secret/data/{path}"),
            json!({"data": {"w": "x"}}),
        ),
        (
            "POST",
            format!("/v1/secret/undelete/{path}"),
            json!({"versions": [1]}),
        ),
        (
            "POST",
            format!("/v1/secret/metadata/{path}"),
            json!({"max_versions": 3}),
        ),
    ] {
        let mut request = app.request(method, &route);
        if method == "PATCH" {
            request = request.header("content-type", "application/merge-patch+json");
        }
        let status = request.json(&body).send().await.unwrap().status().as_u16();
        assert_eq!(status, 500, "{method} {route}");
    }
}

/// The current version of the secret at `path` is served, with `v` = `value`.
async fn assert_served(app: &TestApp, path: &str, value: &str) {
    let (status, body) = app
        .call("GET", &format!("/v1/secret/data/{path}"), None)
        .await;
    assert_eq!(status, 200, "{path}: {body}");
    assert_eq!(body["data"]["data"]["v"], value, "{path}: {body}");
}

async fn versions_stored(pool: &sqlx::AnyPool, path: &str) -> i64 {
    sqlx::query("select count(*) as n from kv_versions where path = $1")
        .bind(path.to_owned())
        .fetch_one(pool)
        .await
        .unwrap()
        .get("n")
}

/// Makes the app's own keyring refuse unbound secrets now (the key worker does it too,
/// in the background, within its first pass).
async fn bound(app: &TestApp) {
    while !app.state.keyring.metadata_bound() {
        // Races the worker for the marker's insert at most once.
        let _ = bind_unbound_metadata(&app.store, &app.state.keyring, 500).await;
    }
}

#[tokio::test]
async fn a_current_version_set_back_in_the_database_fails_loudly() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        bound(&app).await;
        for value in ["one-old", "two-old", "three-current"] {
            put(&app, "app/db", value).await;
        }
        let pool = app.raw_db().await;
        exec(
            &pool,
            "update kv_secrets set current_version = 1 where path = 'app/db'",
        )
        .await;
        assert_refused(&app, "app/db", &["one-old", "two-old", "three-current"]).await;
        assert_eq!(
            versions_stored(&pool, "app/db").await,
            3,
            "{db:?}: no write landed on the edited secret"
        );
        // The refusal is the edit's doing: put back, the secret reads as before.
        exec(
            &pool,
            "update kv_secrets set current_version = 3 where path = 'app/db'",
        )
        .await;
        assert_served(&app, "app/db", "three-current").await;
        // The oldest version is bound as well.
        exec(
            &pool,
            "update kv_secrets set oldest_version = 2 where path = 'app/db'",
        )
        .await;
        assert_refused(&app, "app/db", &["one-old"]).await;
    }
}

#[tokio::test]
async fn edited_deleted_or_swapped_version_rows_fail_loudly() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        bound(&app).await;
        for path in ["del", "dest", "swap", "gone", "gone-current", "undel"] {
            put(&app, path, &format!("{path}-first")).await;
            put(&app, path, &format!("{path}-second")).await;
        }
        for (route, versions) in [("delete/swap", json!([1])), ("delete/undel", json!([2]))] {
            let (status, _) = app
                .call(
                    "POST",
                    &format!("/v1/secret/{route}"),
                    Some(json!({ "versions": versions })),
                )
                .await;
            assert_eq!(status, 204, "{route}");
        }
        let pool = app.raw_db().await;
        // A live version marked deleted or destroyed (hiding it) ...
        exec(
            &pool,
            "update kv_versions set deletion_time = 1 where path = 'del' and version = 2",
        )
        .await;
        exec(
            &pool,
            "update kv_versions set destroyed = 1 where path = 'dest' and version = 2",
        )
        .await;
        // ... a soft delete moved from version 1 to version 2 ...
        let deleted: Option<i64> = sqlx::query(
            "select deletion_time from kv_versions where path = 'swap' and version = 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("deletion_time");
        assert!(deleted.is_some());
        exec(
            &pool,
            "update kv_versions set deletion_time = null where path = 'swap' and version = 1",
        )
        .await;
        sqlx::query(
            "update kv_versions set deletion_time = $1 where path = 'swap' and version = 2",
        )
        .bind(deleted)
        .execute(&pool)
        .await
        .unwrap();
        // ... a version row deleted, the current one deleted with the pointer set back, and a
        // soft-deleted current version brought back by clearing its deletion time.
        exec(
            &pool,
            "delete from kv_versions where path = 'gone' and version = 1",
        )
        .await;
        exec(
            &pool,
            "delete from kv_versions where path = 'gone-current' and version = 2",
        )
        .await;
        exec(
            &pool,
            "update kv_secrets set current_version = 1 where path = 'gone-current'",
        )
        .await;
        exec(
            &pool,
            "update kv_versions set deletion_time = null where path = 'undel' and version = 2",
        )
        .await;
        for path in ["del", "dest", "swap", "gone", "gone-current", "undel"] {
            assert_refused(
                &app,
                path,
                &[&format!("{path}-first"), &format!("{path}-second")],
            )
            .await;
        }
        // Untouched secrets are served, and the legitimate changes above verified.
        put(&app, "fine", "fine-value").await;
        assert_served(&app, "fine", "fine-value").await;
    }
}

#[tokio::test]
async fn a_mac_copied_replayed_or_removed_fails_loudly() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        bound(&app).await;
        for path in ["source", "target", "replayed", "stripped"] {
            put(&app, path, &format!("{path}-first")).await;
        }
        let pool = app.raw_db().await;
        // One secret's MAC copied onto another.
        exec(
            &pool,
            "update kv_secrets set
                 meta_mac_term = (select meta_mac_term from kv_secrets where path = 'source'),
                 meta_mac = (select meta_mac from kv_secrets where path = 'source')
             where path = 'target'",
        )
        .await;
        // A whole metadata row put back as it was before a later write (its own old MAC).
        let old = sqlx::query(
            "select current_version, updated_at, meta_mac_term, meta_mac from kv_secrets where path = 'replayed'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let (current, updated, term, tag): (i64, i64, i64, Vec<u8>) = (
            old.get("current_version"),
            old.get("updated_at"),
            old.get("meta_mac_term"),
            old.get("meta_mac"),
        );
        put(&app, "replayed", "replayed-second").await;
        sqlx::query(
            "update kv_secrets set current_version = $1, updated_at = $2, meta_mac_term = $3, meta_mac = $4 where path = 'replayed'",
        )
        .bind(current)
        .bind(updated)
        .bind(term)
        .bind(tag)
        .execute(&pool)
        .await
        .unwrap();
        // A MAC removed, as if the row predated migration 0007, after every secret was bound.
        exec(
            &pool,
            "update kv_secrets set meta_mac_term = null, meta_mac = null where path = 'stripped'",
        )
        .await;
        assert_refused(&app, "target", &["target-first"]).await;
        assert_refused(&app, "replayed", &["replayed-first", "replayed-second"]).await;
        assert_refused(&app, "stripped", &["stripped-first"]).await;
        assert_served(&app, "source", "source-first").await;
    }
}

/// Rows written before migration 0007 have no MAC: they are served (as before the change)
/// until the key worker's backfill has bound every secret, bound by their next write in
/// the meantime, and refused without a MAC once the backfill has finished.
#[tokio::test]
async fn secrets_from_before_migration_0007_are_bound_then_a_missing_mac_is_refused() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        bound(&app).await;
        for path in ["legacy/a", "legacy/b", "legacy/c"] {
            put(&app, path, &format!("{path}-value")).await;
        }
        let pool = app.raw_db().await;
        // The state of a database migrated to 0007 by a server that has not bound it yet.
        exec(
            &pool,
            "update kv_secrets set meta_mac_term = null, meta_mac = null",
        )
        .await;
        exec(
            &pool,
            &format!("delete from system_state where key = '{METADATA_BOUND}'"),
        )
        .await;
        // A replica starting on it (this process's keyring already saw the marker).
        let keyring = bootstrap::unlock(&app.store, &app.state.root_key)
            .await
            .unwrap();
        assert!(!keyring.metadata_bound());
        let kv = Kv {
            store: &app.store,
            keyring: &keyring,
            root: &app.state.root_key,
            mount: "secret",
        };
        let a = SecretPath::parse("legacy/a").unwrap();
        match kv.read(&a, None).await.unwrap() {
            Read::Found(view) => assert_eq!(view.data.unwrap()["v"], "legacy/a-value"),
            Read::Gone(_) => panic!("{db:?}: an unbound secret is served until the backfill"),
        }
        // A write binds the secret it changes.
        let b = SecretPath::parse("legacy/b").unwrap();
        kv.write(
            &b,
            serde_json::Map::from_iter([("v".into(), json!("b2"))]),
            None,
        )
        .await
        .unwrap();
        let unbound = |pool: sqlx::AnyPool| async move {
            sqlx::query("select path from kv_secrets where meta_mac is null order by path")
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>("path"))
                .collect::<Vec<_>>()
        };
        assert_eq!(unbound(pool.clone()).await, vec!["legacy/a", "legacy/c"]);
        // The backfill binds the rest, then records that every secret is bound.
        assert_eq!(
            bind_unbound_metadata(&app.store, &keyring, 1)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            bind_unbound_metadata(&app.store, &keyring, 1)
                .await
                .unwrap(),
            1
        );
        assert!(!keyring.metadata_bound());
        assert_eq!(
            bind_unbound_metadata(&app.store, &keyring, 1)
                .await
                .unwrap(),
            0
        );
        assert!(keyring.metadata_bound());
        assert!(unbound(pool.clone()).await.is_empty());
        // Bound as they were stored: every replica verifies and serves them.
        for (path, value) in [
            ("legacy/a", "legacy/a-value"),
            ("legacy/b", "b2"),
            ("legacy/c", "legacy/c-value"),
        ] {
            let (status, body) = app
                .call("GET", &format!("/v1/secret/data/{path}"), None)
                .await;
            assert_eq!(
                (status, &body["data"]["data"]["v"]),
                (200, &json!(value)),
                "{db:?} {path}"
            );
        }
        // From now on a missing MAC is an edit: refused by this replica and by one that
        // starts later (it reads the marker).
        exec(
            &pool,
            "update kv_secrets set meta_mac_term = null, meta_mac = null where path = 'legacy/c'",
        )
        .await;
        assert_refused(&app, "legacy/c", &["legacy/c-value"]).await;
        let later = bootstrap::unlock(&app.store, &app.state.root_key)
            .await
            .unwrap();
        let kv = Kv {
            store: &app.store,
            keyring: &later,
            root: &app.state.root_key,
            mount: "secret",
        };
        let c = SecretPath::parse("legacy/c").unwrap();
        assert!(kv.read(&c, None).await.is_err(), "{db:?}");
        assert!(later.metadata_bound());
    }
}

/// The rewrap MACs every secret's metadata again under the active term; until it has, a
/// term that keys a MAC (here: of a secret whose data keys are all gone) cannot retire.
#[tokio::test]
async fn a_rewrap_moves_metadata_macs_to_the_active_term_before_the_old_term_retires() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        bound(&app).await;
        put(&app, "rot/a", "a-first").await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/metadata/rot/m",
                Some(json!({"max_versions": 3})),
            )
            .await;
        assert_eq!(status, 204);
        let (status, _) = app.call("POST", "/v1/sys/keys/rotate", None).await;
        assert_eq!(status, 200);
        let pool = app.raw_db().await;
        let under = |term: i64| {
            let pool = pool.clone();
            async move {
                sqlx::query("select count(*) as n from kv_secrets where meta_mac_term = $1")
                    .bind(term)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
                    .get::<i64, _>("n")
            }
        };
        assert_eq!((under(1).await, under(2).await), (2, 0));
        // Changes after the rotation MAC under the new term.
        put(&app, "rot/a", "a-second").await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/destroy/rot/a",
                Some(json!({"versions": [1]})),
            )
            .await;
        assert_eq!(status, 204);
        assert_eq!((under(1).await, under(2).await), (1, 1));
        let message = app.retire_refused(1).await;
        assert!(
            message.contains("still keys the metadata MACs of 1 secrets"),
            "{db:?}: {message}"
        );
        let keys = (&app.state.root_key, &app.state.keyring);
        while confmgr_server::services::keys::rewrap_batch(&app.store, keys.0, keys.1, 1)
            .await
            .unwrap()
            > 0
        {}
        assert_eq!((under(1).await, under(2).await), (0, 2));
        // Nothing keeps term 1 any more; only the wait for other replicas to load term 2.
        let message = app.retire_refused(1).await;
        assert!(message.contains("became active"), "{db:?}: {message}");
        assert_served(&app, "rot/a", "a-second").await;
        let (status, body) = app.call("GET", "/v1/secret/metadata/rot/m", None).await;
        assert_eq!((status, &body["data"]["max_versions"]), (200, &json!(3)));
    }
}
