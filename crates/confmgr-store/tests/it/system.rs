use crate::backends::Backends;
use confmgr_core::crypto::{RootKey, TermKey};
use confmgr_store::{StoreError, TokenRecord};

#[tokio::test]
async fn initialization_happens_once_and_keyring_round_trips() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let root = RootKey::generate();
        let wrapped = root.wrap_term(&TermKey::generate(1)).unwrap();
        let mut tx = store.begin().await.unwrap();
        assert!(!tx.is_initialized().await.unwrap());
        tx.mark_initialized(1).await.unwrap();
        tx.insert_term(&wrapped, 1).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        assert!(tx.is_initialized().await.unwrap());
        assert!(matches!(
            tx.mark_initialized(2).await,
            Err(StoreError::AlreadyInitialized)
        ));
        drop(tx);

        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.keyring_terms().await.unwrap(), vec![wrapped.clone()]);
        assert!(root
            .unwrap_term(&tx.keyring_terms().await.unwrap()[0])
            .is_ok());
    }
}

#[tokio::test]
async fn tokens_are_found_by_digest() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let record = TokenRecord {
            digest: vec![7; 32],
            accessor: "acc".into(),
            display_name: "root".into(),
            policies: vec!["root".into()],
            client_id: None,
            parent_accessor: None,
            created_at: 5,
            expires_at: Some(10),
            revoked_at: None,
            issuer: "confmgr".into(),
            ttl: 0,
            max_expires_at: Some(20),
            bound_cidrs: vec!["10.0.0.0/8".into()],
            meta: [("role_name".to_string(), "x".to_string())].into(),
            period: 30,
            explicit_max_ttl: 60,
            num_uses: 3,
            renewable: true,
            role_name: Some("r".into()),
            path: "auth/token/create/r".into(),
        };
        let mut tx = store.begin().await.unwrap();
        tx.insert_token(&record).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.token_by_digest(&[7; 32]).await.unwrap(), Some(record));
        assert_eq!(tx.token_by_digest(&[8; 32]).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_token_comes_with_the_texts_of_its_stored_policies_in_one_lookup() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let record = TokenRecord {
            digest: vec![9; 32],
            accessor: "acc-policies".into(),
            display_name: "approle".into(),
            policies: vec!["readers".into(), "missing".into(), "writers".into()],
            issuer: "confmgr".into(),
            ..TokenRecord::default()
        };
        let mut tx = store.begin().await.unwrap();
        tx.insert_token(&record).await.unwrap();
        let alone = TokenRecord {
            digest: vec![10; 32],
            accessor: "acc-no-policies".into(),
            policies: vec!["missing".into()],
            ..record.clone()
        };
        tx.insert_token(&alone).await.unwrap();
        tx.put_policy("readers", "path \"a/*\" { capabilities = [\"read\"] }", 1)
            .await
            .unwrap();
        tx.put_policy("writers", "path \"b/*\" { capabilities = [\"update\"] }", 1)
            .await
            .unwrap();
        tx.put_policy("unrelated", "path \"c/*\" {}", 1)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let mut reads = store.reads().await.unwrap();
        let (found, mut texts) = reads
            .token_with_policy_texts(&[9; 32])
            .await
            .unwrap()
            .expect("the token is found");
        texts.sort();
        assert_eq!(found, record);
        assert_eq!(
            texts,
            vec![
                (
                    "readers".to_string(),
                    "path \"a/*\" { capabilities = [\"read\"] }".to_string()
                ),
                (
                    "writers".to_string(),
                    "path \"b/*\" { capabilities = [\"update\"] }".to_string()
                ),
            ],
            "only the token's own policies that exist, with their texts"
        );

        let (_, texts) = reads
            .token_with_policy_texts(&[10; 32])
            .await
            .unwrap()
            .unwrap();
        assert!(texts.is_empty(), "no stored policy: {texts:?}");
        assert!(reads
            .token_with_policy_texts(&[11; 32])
            .await
            .unwrap()
            .is_none());

        // Many at once, past one statement's worth of digests (500): the known ones sit
        // in different statements, unknown digests are left out.
        let mut digests: Vec<Vec<u8>> = (0..600u32)
            .map(|i| [vec![0xee; 28], i.to_be_bytes().to_vec()].concat())
            .collect();
        digests[3] = vec![9; 32];
        digests[550] = vec![10; 32];
        let mut many = reads.tokens_with_policy_texts(&digests).await.unwrap();
        many.sort_by(|a, b| a.0.digest.cmp(&b.0.digest));
        assert_eq!(many.len(), 2, "only the stored tokens come back");
        assert_eq!(many[0].0, record);
        assert_eq!(many[0].1.len(), 2);
        assert_eq!(many[1].0, alone);
        assert!(many[1].1.is_empty());
        assert!(reads
            .tokens_with_policy_texts(&[])
            .await
            .unwrap()
            .is_empty());
    }
}

async fn access_change_marker(store: &confmgr_store::Store) -> String {
    let mut reads = store.reads().await.unwrap();
    reads.access_change_marker().await.unwrap()
}

/// The auth cache trusts an unchanged marker to mean that no token and no policy changed,
/// so every change that can make a cached token or ACL stale must move it, and a change
/// rolled back must not.
#[tokio::test]
async fn every_change_to_tokens_or_policies_moves_the_access_change_marker() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let backend = store.backend();
        let marker = || access_change_marker(store);
        let token = TokenRecord {
            digest: vec![12; 32],
            accessor: "acc-marker".into(),
            policies: vec!["p".into()],
            issuer: "confmgr".into(),
            ..TokenRecord::default()
        };
        let start = marker().await;
        assert!(!start.is_empty());
        assert_eq!(marker().await, start, "{backend:?}: reading moves nothing");

        let mut tx = store.begin().await.unwrap();
        tx.insert_token(&token).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            marker().await,
            start,
            "{backend:?}: a new token is in no cache yet"
        );

        let mut seen = vec![start];
        let mut expect_moved = |now: String, what: &str| {
            assert!(
                !seen.contains(&now),
                "{backend:?}: {what} did not move the marker"
            );
            seen.push(now);
        };
        let mut tx = store.begin().await.unwrap();
        tx.put_policy("p", "path \"a/*\" {}", 1).await.unwrap();
        tx.commit().await.unwrap();
        expect_moved(marker().await, "creating a policy");

        let mut tx = store.begin().await.unwrap();
        tx.put_policy("p", "path \"b/*\" {}", 2).await.unwrap();
        tx.commit().await.unwrap();
        expect_moved(marker().await, "changing a policy");

        let mut tx = store.begin().await.unwrap();
        tx.set_token_expiry("acc-marker", Some(99)).await.unwrap();
        tx.commit().await.unwrap();
        expect_moved(marker().await, "renewing a token");

        let before_rollback = marker().await;
        let mut tx = store.begin().await.unwrap();
        tx.revoke_token_tree("acc-marker", 5).await.unwrap();
        drop(tx);
        assert_eq!(
            marker().await,
            before_rollback,
            "{backend:?}: a revocation rolled back changed nothing"
        );

        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.revoke_token_tree("acc-marker", 5).await.unwrap(), 1);
        tx.commit().await.unwrap();
        expect_moved(marker().await, "revoking a token");

        let mut tx = store.begin().await.unwrap();
        assert!(tx.delete_policy("p").await.unwrap());
        tx.commit().await.unwrap();
        expect_moved(marker().await, "deleting a policy");
    }
}

/// On PostgreSQL the marker's row lock is taken at commit, after every other lock of the
/// transaction: a token change does not wait for another transaction that changed tokens
/// and has not committed yet, so overlapping revocations (a parent's tree, one of its
/// children) cannot deadlock on the marker.
#[tokio::test]
async fn a_token_change_waits_for_the_access_marker_only_at_commit() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        // SQLite has one writer at a time: the second transaction would wait for the first
        // whatever the triggers do.
        if store.backend() != confmgr_store::Backend::Postgres {
            continue;
        }
        let mut setup = store.begin().await.unwrap();
        for (digest, accessor, parent) in [
            (21u8, "acc-parent", None),
            (22, "acc-child", Some("acc-parent")),
        ] {
            setup
                .insert_token(&TokenRecord {
                    digest: vec![digest; 32],
                    accessor: accessor.into(),
                    parent_accessor: parent.map(str::to_owned),
                    issuer: "confmgr".into(),
                    ..TokenRecord::default()
                })
                .await
                .unwrap();
        }
        setup.commit().await.unwrap();
        let before = access_change_marker(store).await;

        let mut renewing = store.begin().await.unwrap();
        renewing
            .set_token_expiry("acc-parent", Some(1_000))
            .await
            .unwrap();
        let mut revoking = store.begin().await.unwrap();
        let revoked = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            revoking.revoke_token_tree("acc-child", 5),
        )
        .await
        .expect("a token change must not wait for another open transaction's marker lock")
        .unwrap();
        assert_eq!(revoked, 1);
        revoking.commit().await.unwrap();
        renewing.commit().await.unwrap();

        let after = access_change_marker(store).await;
        assert_ne!(
            after, before,
            "both changes moved the marker at their commits"
        );
    }
}

#[tokio::test]
async fn a_new_sqlite_database_and_its_wal_are_private_to_the_server_user() {
    use confmgr_store::{Store, StoreOptions};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let store = Store::connect(
        &format!("sqlite://{}", path.display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let mut checked = 0;
    for name in ["new.db", "new.db-wal", "new.db-shm"] {
        let Ok(metadata) = std::fs::metadata(dir.path().join(name)) else {
            continue;
        };
        let mode = metadata.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
        checked += 1;
    }
    assert!(checked >= 2, "the database and its WAL exist");

    // An existing file keeps the mode its operator gave it.
    let shared = dir.path().join("shared.db");
    std::fs::write(&shared, b"").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    let store = Store::connect(
        &format!("sqlite://{}", shared.display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

/// The pool does not ping a connection before every use (a round trip per request), only one
/// that sat idle: a connection the database dropped meanwhile is replaced, not failed on.
#[tokio::test]
async fn an_idle_connection_that_died_is_replaced_before_use() {
    let pg = confmgr_testkit::TestPostgres::shared().await.unwrap();
    let url = pg.fresh_database().await.unwrap();
    let options = confmgr_store::StoreOptions {
        max_connections: 1,
        ..confmgr_store::StoreOptions::default()
    };
    let store = confmgr_store::Store::connect(&url, &options).await.unwrap();
    store.migrate().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.is_initialized().await.unwrap());
    drop(tx);

    let admin = confmgr_testkit::connect(&url).await.unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(
        terminated,
        vec![true],
        "the store's one pooled connection was killed"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let mut reads = store.reads().await.unwrap();
    assert!(
        !reads.is_initialized().await.unwrap(),
        "answered on a fresh connection"
    );
}
