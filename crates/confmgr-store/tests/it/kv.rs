use crate::backends::Backends;
use confmgr_core::audit::AuditEvent;
use confmgr_core::crypto::{Keyring, TermKey, VersionAddress};
use confmgr_core::kv::{KvConfig, VersionMeta};
use confmgr_store::{AuditFilter, NewVersion, StoreError};

fn version(version: i64) -> VersionMeta {
    VersionMeta {
        version,
        created_at: 100 + version,
        deletion_time: None,
        destroyed: false,
    }
}

#[tokio::test]
async fn versions_round_trip_prune_delete_and_destroy() {
    let backends = Backends::new().await;
    let ring = Keyring::from_terms([TermKey::generate(1)]);
    for store in &backends.stores {
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.kv_config("secret").await.unwrap(),
            Some(KvConfig::default())
        );
        let mut meta = tx.ensure_secret("secret", "app/db", 1).await.unwrap();
        assert_eq!(meta.current_version, 0);
        for v in 1..=3 {
            let at = VersionAddress {
                mount: "secret",
                path: "app/db",
                version: v,
            };
            let sealed = ring.seal(at, format!("value-{v}").as_bytes()).unwrap();
            tx.insert_version("secret", "app/db", &version(v), &sealed)
                .await
                .unwrap();
        }
        meta.current_version = 3;
        meta.oldest_version = 1;
        meta.custom_metadata = Some([("owner".to_string(), "ops".to_string())].into());
        tx.update_secret("secret", "app/db", &meta).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.secret_for_update("secret", "app/db").await.unwrap(),
            Some(meta.clone())
        );
        let (info, sealed) = tx
            .sealed_version("secret", "app/db", 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info, version(2));
        let at = VersionAddress {
            mount: "secret",
            path: "app/db",
            version: 2,
        };
        assert_eq!(
            ring.open(at, &sealed.unwrap()).unwrap().as_slice(),
            b"value-2"
        );

        tx.prune_versions_below("secret", "app/db", 2)
            .await
            .unwrap();
        tx.set_deletion_time("secret", "app/db", &[2], Some(50))
            .await
            .unwrap();
        tx.destroy_versions("secret", "app/db", &[3]).await.unwrap();
        let versions = tx.versions("secret", "app/db").await.unwrap();
        assert_eq!(
            versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(versions[0].deletion_time, Some(50));
        assert!(versions[1].destroyed);
        let (_, destroyed) = tx
            .sealed_version("secret", "app/db", 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            destroyed, None,
            "destroy erases the ciphertext and wrapped key"
        );
        tx.set_deletion_time("secret", "app/db", &[2], None)
            .await
            .unwrap();
        assert_eq!(
            tx.versions("secret", "app/db").await.unwrap()[0].deletion_time,
            None
        );
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        tx.delete_secret("secret", "app/db").await.unwrap();
        assert_eq!(
            tx.secret_for_update("secret", "app/db").await.unwrap(),
            None
        );
        assert!(tx.versions("secret", "app/db").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn rollback_leaves_nothing_behind() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin().await.unwrap();
        tx.ensure_secret("secret", "tmp", 1).await.unwrap();
        drop(tx);
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.secret_for_update("secret", "tmp").await.unwrap(), None);
    }
}

#[tokio::test]
async fn prefix_listing_is_literal() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin().await.unwrap();
        for path in ["a/b", "a/c/d", "a_x", "a%/e", "b"] {
            tx.ensure_secret("secret", path, 1).await.unwrap();
        }
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let mut found = tx.paths_with_prefix("secret", "a/").await.unwrap();
        found.sort();
        assert_eq!(found, vec!["a/b", "a/c/d"]);
        assert_eq!(
            tx.paths_with_prefix("secret", "a%/").await.unwrap(),
            vec!["a%/e"]
        );
        assert_eq!(tx.paths_with_prefix("secret", "").await.unwrap().len(), 5);
        let config = KvConfig {
            max_versions: 3,
            cas_required: true,
            delete_version_after: 60,
        };
        tx.set_kv_config("secret", &config).await.unwrap();
        assert_eq!(tx.kv_config("secret").await.unwrap(), Some(config));
    }
}

#[tokio::test]
async fn a_write_reads_settings_and_metadata_at_once_and_appends_in_one_call() {
    let backends = Backends::new().await;
    let ring = Keyring::from_terms([TermKey::generate(1)]);
    for store in &backends.stores {
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.secret_and_config_for_update("secret", "app/api")
                .await
                .unwrap(),
            None,
            "no metadata yet"
        );
        let config = KvConfig {
            max_versions: 2,
            cas_required: true,
            delete_version_after: 0,
        };
        tx.set_kv_config("secret", &config).await.unwrap();
        let mut meta = tx.ensure_secret("secret", "app/api", 1).await.unwrap();
        for v in 1..=3 {
            let at = VersionAddress {
                mount: "secret",
                path: "app/api",
                version: v,
            };
            let sealed = ring.seal(at, format!("value-{v}").as_bytes()).unwrap();
            meta.current_version = v;
            meta.updated_at = 10 * v;
            let prune_below = (v == 3).then_some(2);
            if let Some(below) = prune_below {
                meta.oldest_version = below;
            }
            let new = NewVersion {
                info: &version(v),
                sealed: &sealed,
                meta: &meta,
                prune_below,
            };
            tx.append_version("secret", "app/api", &new).await.unwrap();
        }
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let (read_config, read_meta) = tx
            .secret_and_config_for_update("secret", "app/api")
            .await
            .unwrap()
            .expect("the secret and its mount");
        assert_eq!(read_config, config);
        assert_eq!(read_meta, meta);
        assert_eq!(read_meta.current_version, 3);
        assert_eq!(read_meta.oldest_version, 2);
        assert_eq!(read_meta.updated_at, 30);
        assert_eq!(
            tx.versions("secret", "app/api")
                .await
                .unwrap()
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>(),
            vec![2, 3],
            "version 1 pruned, 3 inserted, in the same call"
        );
        let (_, sealed) = tx
            .sealed_version("secret", "app/api", 3)
            .await
            .unwrap()
            .unwrap();
        let at = VersionAddress {
            mount: "secret",
            path: "app/api",
            version: 3,
        };
        assert_eq!(
            ring.open(at, &sealed.unwrap()).unwrap().as_slice(),
            b"value-3"
        );

        // a read's one statement: the current version, a named one, a pruned one, no path
        let (read_meta, current) = tx
            .secret_with_version("secret", "app/api", None)
            .await
            .unwrap()
            .expect("the secret");
        assert_eq!(read_meta, meta);
        let (info, current_sealed) = current.expect("the current version");
        assert_eq!(info, version(3));
        assert_eq!(
            ring.open(at, &current_sealed.unwrap()).unwrap().as_slice(),
            b"value-3"
        );
        let (_, second) = tx
            .secret_with_version("secret", "app/api", Some(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.expect("version 2").0, version(2));
        let (_, pruned) = tx
            .secret_with_version("secret", "app/api", Some(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pruned, None, "version 1 was pruned");
        assert_eq!(
            tx.secret_with_version("secret", "app/none", None)
                .await
                .unwrap(),
            None
        );
        tx.destroy_versions("secret", "app/api", &[3])
            .await
            .unwrap();
        let (_, destroyed) = tx
            .secret_with_version("secret", "app/api", None)
            .await
            .unwrap()
            .unwrap();
        let (info, sealed) = destroyed.expect("a destroyed version keeps its metadata");
        assert!(info.destroyed);
        assert_eq!(sealed, None);
        assert_eq!(
            tx.secret_and_config_for_update("other-mount", "app/api")
                .await
                .unwrap(),
            None,
            "a mount that does not exist"
        );
    }
}

#[tokio::test]
async fn an_unlocked_write_applies_only_onto_the_row_it_read() {
    let backends = Backends::new().await;
    let ring = Keyring::from_terms([TermKey::generate(1)]);
    let seal = |v: i64| {
        let at = VersionAddress {
            mount: "secret",
            path: "app/web",
            version: v,
        };
        ring.seal(at, format!("value-{v}").as_bytes()).unwrap()
    };
    let event = |v: i64| AuditEvent {
        event_id: format!("write-{v}"),
        operation: "update".into(),
        mount: "secret".into(),
        path: "data/app/web".into(),
        version: Some(v),
        status: 200,
        ..AuditEvent::default()
    };

    let sqlite = &backends.stores[0];
    let mut conn = sqlite.autocommit().await.unwrap();
    assert!(matches!(
        conn.secret_and_config_unlocked("secret", "app/web").await,
        Err(StoreError::NotOnSqlite(_))
    ));

    let store = &backends.stores[1];
    let mut tx = store.begin().await.unwrap();
    tx.set_kv_config(
        "secret",
        &KvConfig {
            max_versions: 1,
            ..KvConfig::default()
        },
    )
    .await
    .unwrap();
    tx.ensure_secret("secret", "app/web", 1).await.unwrap();
    tx.commit().await.unwrap();

    let mut conn = store.autocommit().await.unwrap();
    assert_eq!(
        conn.secret_and_config_unlocked("secret", "app/none")
            .await
            .unwrap(),
        None,
        "no metadata row"
    );
    for v in 1..=2 {
        let (config, mut meta, seen) = conn
            .secret_and_config_unlocked("secret", "app/web")
            .await
            .unwrap()
            .expect("the secret");
        assert_eq!(config.max_versions, 1);
        assert_eq!(meta.current_version, v - 1);
        meta.current_version = v;
        meta.updated_at = 1000 + v;
        let prune_below = (v > 1).then_some(v);
        if let Some(below) = prune_below {
            meta.oldest_version = below;
        }
        let sealed = seal(v);
        let new = NewVersion {
            info: &version(v),
            sealed: &sealed,
            meta: &meta,
            prune_below,
        };
        let applied = conn
            .append_version_if_unchanged("secret", "app/web", &new, &seen, Some(&event(v)))
            .await
            .unwrap();
        assert!(applied, "nothing changed the row between read and write");
    }

    // Another change lands between the read and the write: the write applies nothing.
    let (_, mut meta, seen) = conn
        .secret_and_config_unlocked("secret", "app/web")
        .await
        .unwrap()
        .unwrap();
    let mut other = store.begin().await.unwrap();
    let mut changed = meta.clone();
    changed.custom_metadata = Some([("owner".to_string(), "ops".to_string())].into());
    other
        .update_secret("secret", "app/web", &changed)
        .await
        .unwrap();
    other.commit().await.unwrap();
    meta.current_version = 3;
    meta.oldest_version = 3;
    let sealed = seal(3);
    let new = NewVersion {
        info: &version(3),
        sealed: &sealed,
        meta: &meta,
        prune_below: Some(3),
    };
    let applied = conn
        .append_version_if_unchanged("secret", "app/web", &new, &seen, Some(&event(3)))
        .await
        .unwrap();
    assert!(!applied, "the row changed after the read");

    let mut tx = store.begin().await.unwrap();
    let (_, stored) = tx
        .secret_and_config_for_update("secret", "app/web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored, changed,
        "the other change stands, the raced one is absent"
    );
    assert_eq!(stored.current_version, 2);
    assert_eq!(
        tx.versions("secret", "app/web")
            .await
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>(),
        vec![2],
        "version 1 pruned by the second write; version 3 not inserted, version 2 not pruned"
    );
    let (_, current) = tx
        .secret_with_version("secret", "app/web", None)
        .await
        .unwrap()
        .unwrap();
    let at = VersionAddress {
        mount: "secret",
        path: "app/web",
        version: 2,
    };
    assert_eq!(
        ring.open(at, &current.unwrap().1.unwrap())
            .unwrap()
            .as_slice(),
        b"value-2"
    );
    let audited: Vec<String> = tx
        .query_audit_events(&AuditFilter::default(), 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.event_id)
        .collect();
    assert_eq!(
        audited,
        vec!["write-1", "write-2"],
        "one event per applied write, none for the raced one"
    );
}
