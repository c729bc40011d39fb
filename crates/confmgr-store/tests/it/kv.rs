use crate::backends::Backends;
use confmgr_core::audit::AuditEvent;
use confmgr_core::crypto::{Keyring, RootKey, SealedVersion, TermKey, VersionAddress};
use confmgr_core::kv::{KvConfig, SecretMeta, VersionMeta};
use confmgr_core::metadata_mac::MetadataMac;
use confmgr_store::{AuditFilter, NewVersion, SecretState, StoreError, StoreTx};

fn version(version: i64) -> VersionMeta {
    VersionMeta {
        version,
        created_at: 100 + version,
        deletion_time: None,
        destroyed: false,
    }
}

/// Version `v` of `path` on the `secret` mount, `x` sealed under `ring`.
fn sealed_x(ring: &Keyring, path: &str, v: i64) -> SealedVersion {
    let at = VersionAddress {
        mount: "secret",
        path,
        version: v,
    };
    ring.seal(at, b"x").unwrap()
}

/// Appends `versions` of `path` (`x` sealed under `ring`), each the current one with a
/// made-up MAC (`mac(1, v)`) in `meta`.
async fn append_bound(
    tx: &mut StoreTx,
    ring: &Keyring,
    path: &str,
    meta: &mut SecretMeta,
    versions: std::ops::RangeInclusive<i64>,
) {
    for v in versions {
        meta.current_version = v;
        meta.binding = Some(mac(1, u8::try_from(v).unwrap()));
        let sealed = sealed_x(ring, path, v);
        let new = NewVersion {
            info: &version(v),
            sealed: &sealed,
            meta,
            prune_below: None,
        };
        tx.append_version("secret", path, &new).await.unwrap();
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
        let (read_config, read_state) = tx
            .secret_and_config_for_update("secret", "app/api")
            .await
            .unwrap()
            .expect("the secret and its mount");
        assert_eq!(read_state.versions, vec![version(2), version(3)]);
        let read_meta = read_state.meta;
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
        let (read_state, current) = tx
            .secret_with_version("secret", "app/api", None)
            .await
            .unwrap()
            .expect("the secret");
        assert_eq!(read_state.meta, meta);
        assert_eq!(read_state.versions, vec![version(2), version(3)]);
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
        let (config, state, seen) = conn
            .secret_and_config_unlocked("secret", "app/web")
            .await
            .unwrap()
            .expect("the secret");
        let mut meta = state.meta;
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
    let (_, state, seen) = conn
        .secret_and_config_unlocked("secret", "app/web")
        .await
        .unwrap()
        .unwrap();
    let mut meta = state.meta;
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
    let stored = stored.meta;
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

fn mac(term: i64, byte: u8) -> MetadataMac {
    MetadataMac {
        term,
        tag: vec![byte; 32],
    }
}

/// Migration 0007: each secret's metadata MAC (term and tag) is stored and read back with
/// the state of every version, written with each change, replaced only over the MAC that
/// was read, and found by the backfill (no MAC) and the rewrap (an older term).
#[tokio::test]
async fn metadata_macs_are_stored_read_with_version_states_and_replaced_conditionally() {
    let backends = Backends::new().await;
    let ring = Keyring::from_terms([TermKey::generate(1)]);
    for store in &backends.stores {
        let mut tx = store.begin().await.unwrap();
        let mut meta = tx.ensure_secret("secret", "app/mac", 1).await.unwrap();
        assert_eq!(meta.binding, None, "a new record has no MAC yet");
        tx.ensure_secret("secret", "app/old", 1).await.unwrap();
        append_bound(&mut tx, &ring, "app/mac", &mut meta, 1..=3).await;
        tx.set_deletion_time("secret", "app/mac", &[2], Some(77))
            .await
            .unwrap();
        tx.destroy_versions("secret", "app/mac", &[1])
            .await
            .unwrap();
        tx.set_metadata_binding("secret", "app/mac", &mac(1, 9))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let state = tx.secret_state("secret", "app/mac").await.unwrap().unwrap();
        meta.binding = Some(mac(1, 9));
        let expected = SecretState {
            meta: meta.clone(),
            versions: vec![
                VersionMeta {
                    destroyed: true,
                    ..version(1)
                },
                VersionMeta {
                    deletion_time: Some(77),
                    ..version(2)
                },
                version(3),
            ],
        };
        assert_eq!(state, expected);
        assert_eq!(
            tx.secret_state_for_update("secret", "app/mac")
                .await
                .unwrap()
                .unwrap(),
            expected
        );
        let (with_version, _) = tx
            .secret_with_version("secret", "app/mac", Some(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(with_version, expected);
        let (_, for_update) = tx
            .secret_and_config_for_update("secret", "app/mac")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(for_update, expected);
        let empty = tx.secret_state("secret", "app/old").await.unwrap().unwrap();
        assert!(empty.versions.is_empty() && empty.meta.binding.is_none());

        // the backfill finds the secret without a MAC, the rewrap the one under term 1
        let unbound = tx.unbound_secrets(10).await.unwrap();
        assert_eq!(
            unbound.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
            vec!["app/old"]
        );
        assert!(tx.secrets_bound_below_term(1, 10).await.unwrap().is_empty());
        let below = tx.secrets_bound_below_term(2, 10).await.unwrap();
        assert_eq!(below.len(), 1);
        assert_eq!(below[0].state, expected);
        // a MAC keyed by a term keeps it in use (counted apart from the data keys it wraps)
        let root = RootKey::generate();
        tx.insert_term(&root.wrap_term(&TermKey::generate(1)).unwrap(), 0)
            .await
            .unwrap();
        assert_eq!(
            tx.term_usage().await.unwrap()[0].wrapped_keys,
            2,
            "versions 2 and 3 (1 is destroyed)"
        );
        assert_eq!(tx.metadata_macs_keyed_by(1).await.unwrap(), 1);
        assert_eq!(tx.metadata_macs_keyed_by(2).await.unwrap(), 0);
        // start-up refuses a term that a MAC names and the keyring lacks
        assert_eq!(tx.unknown_terms().await.unwrap(), Vec::<i64>::new());
        tx.set_metadata_binding("secret", "app/old", &mac(7, 1))
            .await
            .unwrap();
        assert_eq!(tx.unknown_terms().await.unwrap(), vec![7]);
        tx.update_secret("secret", "app/old", &empty.meta)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        // replaced only over the MAC that was read (or over none, for the backfill)
        assert!(!tx
            .replace_metadata_binding("secret", "app/mac", Some(&mac(1, 8)), &mac(2, 1))
            .await
            .unwrap());
        assert!(!tx
            .replace_metadata_binding("secret", "app/mac", None, &mac(2, 1))
            .await
            .unwrap());
        assert!(tx
            .replace_metadata_binding("secret", "app/mac", Some(&mac(1, 9)), &mac(2, 1))
            .await
            .unwrap());
        assert!(tx
            .replace_metadata_binding("secret", "app/old", None, &mac(2, 2))
            .await
            .unwrap());
        assert!(tx.unbound_secrets(10).await.unwrap().is_empty());
        assert!(tx.secrets_bound_below_term(2, 10).await.unwrap().is_empty());
        assert_eq!(
            tx.secret("secret", "app/mac")
                .await
                .unwrap()
                .unwrap()
                .binding,
            Some(mac(2, 1))
        );
        // update_secret writes the MAC it is given, including none
        let mut old = tx.secret("secret", "app/old").await.unwrap().unwrap();
        assert_eq!(old.binding, Some(mac(2, 2)));
        old.binding = None;
        tx.update_secret("secret", "app/old", &old).await.unwrap();
        assert_eq!(
            tx.secret("secret", "app/old")
                .await
                .unwrap()
                .unwrap()
                .binding,
            None
        );
        tx.commit().await.unwrap();
    }
}

/// On PostgreSQL a locking read that waits for another change to the secret returns the
/// row as that change left it, and must return the versions as that change left them too
/// (its subqueries read the snapshot from before the wait): otherwise a fresh metadata MAC
/// is checked against stale versions and a concurrent write looks like edited rows.
#[tokio::test]
async fn a_locking_read_that_waited_for_a_change_sees_that_change_s_versions() {
    let backends = Backends::new().await;
    let ring = Keyring::from_terms([TermKey::generate(1)]);
    let store = &backends.stores[1];
    let seal = |v: i64| sealed_x(&ring, "app/race", v);
    let mut tx = store.begin().await.unwrap();
    let mut meta = tx.ensure_secret("secret", "app/race", 1).await.unwrap();
    append_bound(&mut tx, &ring, "app/race", &mut meta, 1..=2).await;
    tx.commit().await.unwrap();

    // Each locking read starts while another transaction holds the row and adds a version
    // (pruning the oldest); it must see the row and the versions after that change.
    for (round, reader) in [
        "secret_and_config_for_update",
        "secret_state_for_update",
        "secrets_bound_below_term",
    ]
    .into_iter()
    .enumerate()
    {
        let v = 3 + i64::try_from(round).unwrap();
        let mut holder = store.begin().await.unwrap();
        holder
            .secret_state_for_update("secret", "app/race")
            .await
            .unwrap()
            .unwrap();
        let mut waiter = store.begin().await.unwrap();
        let read = async {
            let state = match reader {
                "secret_and_config_for_update" => {
                    waiter
                        .secret_and_config_for_update("secret", "app/race")
                        .await
                        .unwrap()
                        .unwrap()
                        .1
                }
                "secret_state_for_update" => waiter
                    .secret_state_for_update("secret", "app/race")
                    .await
                    .unwrap()
                    .unwrap(),
                _ => {
                    let mut found = waiter.secrets_bound_below_term(2, 10).await.unwrap();
                    assert_eq!(found.len(), 1, "{reader}");
                    found.remove(0).state
                }
            };
            waiter.commit().await.unwrap();
            state
        };
        let change = async {
            // Long enough for the reader to be waiting on the row lock.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            meta.current_version = v;
            meta.oldest_version = v - 1;
            meta.binding = Some(mac(1, u8::try_from(v).unwrap()));
            let sealed = seal(v);
            let new = NewVersion {
                info: &version(v),
                sealed: &sealed,
                meta: &meta,
                prune_below: Some(v - 1),
            };
            holder
                .append_version("secret", "app/race", &new)
                .await
                .unwrap();
            holder.commit().await.unwrap();
        };
        let (state, ()) = tokio::join!(read, change);
        assert_eq!(
            state,
            SecretState {
                meta: meta.clone(),
                versions: vec![version(v - 1), version(v)],
            },
            "{reader}: the row and its versions after the change it waited for"
        );
    }
}
