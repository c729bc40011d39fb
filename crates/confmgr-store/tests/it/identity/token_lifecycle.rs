//! Storage of the token lifecycle (issue 28): use-limited tokens, orphaning revocation,
//! token roles, custom role_ids, tidying expired secret_ids, and what migration 0009 adds.

use super::{client, token};
use crate::backends::Backends;
use confmgr_store::{ClientSecretRecord, TokenRecord};

fn secret(accessor: &str, client_id: &str, expires_at: Option<i64>) -> ClientSecretRecord {
    ClientSecretRecord {
        accessor: accessor.into(),
        client_id: client_id.into(),
        lookup_id: format!("lookup-{accessor}"),
        phc: "$argon2id$...".into(),
        metadata: Default::default(),
        cidr_list: vec![],
        created_at: 1,
        expires_at,
        uses_left: None,
        token_bound_cidrs: vec![],
    }
}

#[tokio::test]
async fn the_use_that_reaches_zero_revokes_the_token_and_its_children() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin_write().await.unwrap();
        tx.insert_token(&TokenRecord {
            num_uses: 2,
            ..token("limited", None, None)
        })
        .await
        .unwrap();
        tx.insert_token(&token("child", Some("limited"), None))
            .await
            .unwrap();
        tx.insert_token(&token("free", None, None)).await.unwrap();
        assert_eq!(tx.use_token("limited", 5).await.unwrap(), Some(1));
        assert_eq!(
            tx.token_by_accessor("limited")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            None
        );
        assert_eq!(tx.use_token("limited", 6).await.unwrap(), Some(0));
        for accessor in ["limited", "child"] {
            assert_eq!(
                tx.token_by_accessor(accessor)
                    .await
                    .unwrap()
                    .unwrap()
                    .revoked_at,
                Some(6),
                "{accessor}"
            );
        }
        // Spent: nothing left to use. Unlimited tokens have no uses to count.
        assert_eq!(tx.use_token("limited", 7).await.unwrap(), None);
        assert_eq!(tx.use_token("free", 7).await.unwrap(), None);
        assert_eq!(
            tx.token_by_accessor("free")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            None
        );
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_uses_never_spend_one_use_twice() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin_write().await.unwrap();
        tx.insert_token(&TokenRecord {
            num_uses: 3,
            ..token("racy", None, None)
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
        // Eight transactions at once, each spending a use: exactly three get one.
        let attempts: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut tx = store.begin_write().await.unwrap();
                    let left = tx.use_token("racy", 10 + i).await.unwrap();
                    tx.commit().await.unwrap();
                    left
                })
            })
            .collect();
        let mut granted = Vec::new();
        for attempt in attempts {
            granted.extend(attempt.await.unwrap());
        }
        granted.sort();
        assert_eq!(granted, vec![0, 1, 2]);
    }
}

#[tokio::test]
async fn revoke_orphan_leaves_the_children_working() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin_write().await.unwrap();
        tx.insert_token(&token("parent", None, None)).await.unwrap();
        tx.insert_token(&token("kid", Some("parent"), None))
            .await
            .unwrap();
        tx.insert_token(&token("grandkid", Some("kid"), None))
            .await
            .unwrap();
        assert!(tx
            .revoke_token_orphaning_children("parent", 3)
            .await
            .unwrap());
        assert!(!tx
            .revoke_token_orphaning_children("parent", 4)
            .await
            .unwrap());
        let kid = tx.token_by_accessor("kid").await.unwrap().unwrap();
        assert_eq!((kid.revoked_at, kid.parent_accessor), (None, None));
        // The grandchild still hangs off its own parent.
        let grandkid = tx.token_by_accessor("grandkid").await.unwrap().unwrap();
        assert_eq!(grandkid.parent_accessor.as_deref(), Some("kid"));
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn token_roles_round_trip() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin_write().await.unwrap();
        assert!(tx.token_role_names().await.unwrap().is_empty());
        tx.put_token_role("ci", r#"{"orphan":true}"#, 1)
            .await
            .unwrap();
        tx.put_token_role("ci", r#"{"orphan":false}"#, 2)
            .await
            .unwrap();
        tx.put_token_role("app", "{}", 2).await.unwrap();
        assert_eq!(
            tx.token_role("ci").await.unwrap().as_deref(),
            Some(r#"{"orphan":false}"#)
        );
        assert_eq!(tx.token_role_names().await.unwrap(), vec!["app", "ci"]);
        assert!(tx.delete_token_role("ci").await.unwrap());
        assert!(!tx.delete_token_role("ci").await.unwrap());
        assert_eq!(tx.token_role("ci").await.unwrap(), None);
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn a_custom_role_id_carries_the_secrets_and_tokens_along() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin_write().await.unwrap();
        let mut web = client("web");
        web.token_period = 60;
        web.token_num_uses = 4;
        web.token_explicit_max_ttl = 600;
        web.token_no_default_policy = true;
        tx.upsert_client(&web).await.unwrap();
        tx.insert_client_secret(&secret("s1", "id-web", None))
            .await
            .unwrap();
        tx.insert_token(&token("t1", None, Some("id-web")))
            .await
            .unwrap();
        tx.change_client_id(&web, "my-custom-role-id")
            .await
            .unwrap();
        assert_eq!(tx.client_by_id("id-web").await.unwrap(), None);
        let moved = tx.client_by_name("web").await.unwrap().unwrap();
        assert_eq!(
            moved,
            confmgr_store::ClientRecord {
                client_id: "my-custom-role-id".into(),
                ..web
            }
        );
        assert_eq!(
            tx.client_secret_accessors("my-custom-role-id")
                .await
                .unwrap(),
            vec!["s1"]
        );
        assert_eq!(
            tx.token_by_accessor("t1")
                .await
                .unwrap()
                .unwrap()
                .client_id
                .as_deref(),
            Some("my-custom-role-id")
        );
        assert_eq!(tx.client_names().await.unwrap(), vec!["web"]);
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn tidy_removes_only_expired_secret_ids() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin_write().await.unwrap();
        tx.upsert_client(&client("web")).await.unwrap();
        for (accessor, expires) in [
            ("old", Some(5)),
            ("edge", Some(10)),
            ("later", Some(11)),
            ("never", None),
        ] {
            tx.insert_client_secret(&secret(accessor, "id-web", expires))
                .await
                .unwrap();
        }
        assert_eq!(tx.delete_expired_client_secrets(10).await.unwrap(), 2);
        assert_eq!(
            tx.client_secret_accessors("id-web").await.unwrap(),
            vec!["later", "never"]
        );
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn migrations_store_the_default_policy() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin().await.unwrap();
        let text = tx.policy_text("default").await.unwrap().unwrap();
        for path in [
            "auth/token/lookup-self",
            "auth/token/renew-self",
            "auth/token/revoke-self",
            "sys/capabilities-self",
            // migration 0021, now that responses can be wrapped
            "sys/wrapping/wrap",
            "sys/wrapping/lookup",
            "sys/wrapping/unwrap",
        ] {
            assert!(text.contains(path), "{path} missing from:\n{text}");
        }
        confmgr_core::policy::Policy::parse("default", &text).unwrap();
        tx.commit().await.unwrap();
    }
}
