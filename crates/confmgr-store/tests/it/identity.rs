mod token_lifecycle;

use crate::backends::Backends;
use confmgr_core::cert_binding::CertBindings;
use confmgr_store::{ClientRecord, ClientSecretRecord, TokenRecord};

pub(crate) fn token(accessor: &str, parent: Option<&str>, client: Option<&str>) -> TokenRecord {
    TokenRecord {
        digest: accessor.as_bytes().to_vec(),
        accessor: accessor.into(),
        display_name: accessor.into(),
        policies: vec!["p".into()],
        client_id: client.map(Into::into),
        parent_accessor: parent.map(Into::into),
        created_at: 1,
        expires_at: Some(100),
        revoked_at: None,
        issuer: "confmgr".into(),
        ttl: 99,
        max_expires_at: None,
        bound_cidrs: vec![],
        meta: Default::default(),
        period: 0,
        explicit_max_ttl: 0,
        num_uses: 0,
        renewable: true,
        role_name: None,
        path: "auth/token/create".into(),
    }
}

pub(crate) fn client(name: &str) -> ClientRecord {
    ClientRecord {
        client_id: format!("id-{name}"),
        name: name.into(),
        issuer: "confmgr".into(),
        policies: vec!["app".into()],
        token_ttl: 60,
        token_max_ttl: 120,
        secret_id_ttl: 0,
        secret_id_num_uses: 0,
        secret_id_bound_cidrs: vec!["127.0.0.1/32".into()],
        token_bound_cidrs: vec![],
        cert: Default::default(),
        token_period: 0,
        token_explicit_max_ttl: 0,
        token_num_uses: 0,
        token_no_default_policy: false,
        created_at: 1,
        updated_at: 1,
    }
}

#[tokio::test]
async fn revoking_a_token_revokes_its_descendants_only() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin_write().await.unwrap();
        for (accessor, parent) in [
            ("root", None),
            ("a", Some("root")),
            ("b", Some("a")),
            ("c", Some("root")),
            ("other", None),
        ] {
            tx.insert_token(&token(accessor, parent, None))
                .await
                .unwrap();
        }
        assert_eq!(tx.revoke_token_tree("a", 7).await.unwrap(), 2);
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        for (accessor, revoked) in [
            ("root", false),
            ("a", true),
            ("b", true),
            ("c", false),
            ("other", false),
        ] {
            let record = tx.token_by_accessor(accessor).await.unwrap().unwrap();
            assert_eq!(record.revoked_at.is_some(), revoked, "{accessor}");
        }
        tx.set_token_expiry("c", Some(55)).await.unwrap();
        assert_eq!(
            tx.token_by_accessor("c").await.unwrap().unwrap().expires_at,
            Some(55)
        );
    }
}

#[tokio::test]
async fn clients_secrets_and_policies() {
    let backends = Backends::new().await;
    for store in &backends.stores {
        let mut tx = store.begin_write().await.unwrap();
        tx.upsert_client(&client("web")).await.unwrap();
        let mut changed = client("web");
        changed.client_id = "ignored-on-update".into();
        changed.policies = vec!["other".into()];
        tx.upsert_client(&changed).await.unwrap();
        let stored = tx.client_by_name("web").await.unwrap().unwrap();
        assert_eq!(
            (stored.client_id.as_str(), stored.policies.clone()),
            ("id-web", vec!["other".to_string()])
        );
        assert_eq!(
            tx.client_by_id("id-web").await.unwrap().unwrap().name,
            "web"
        );
        tx.upsert_client(&client("api")).await.unwrap();
        assert_eq!(tx.client_names().await.unwrap(), vec!["api", "web"]);
        assert!(tx.clients_with_cert_bindings().await.unwrap().is_empty());
        let mut bound = client("api");
        bound.cert = CertBindings {
            common_names: vec!["api-*".into()],
            dns_sans: vec![],
            uri_sans: vec!["spiffe://prod/api".into()],
        };
        tx.upsert_client(&bound).await.unwrap();
        let with_certs = tx.clients_with_cert_bindings().await.unwrap();
        assert_eq!(with_certs.len(), 1);
        assert_eq!(with_certs[0].cert, bound.cert);
        assert_eq!(with_certs[0].client_id, "id-api");

        let secret = ClientSecretRecord {
            accessor: "acc1".into(),
            client_id: "id-web".into(),
            lookup_id: "lookup1".into(),
            phc: "$argon2id$...".into(),
            metadata: [("k".to_string(), "v".to_string())].into(),
            cidr_list: vec![],
            created_at: 1,
            expires_at: None,
            uses_left: Some(2),
            token_bound_cidrs: vec!["10.0.0.0/8".into()],
        };
        tx.insert_client_secret(&secret).await.unwrap();
        assert_eq!(
            tx.client_secret_by_lookup_id("lookup1").await.unwrap(),
            Some(secret.clone())
        );
        tx.set_client_secret_uses("acc1", 1).await.unwrap();
        assert_eq!(
            tx.client_secret_by_accessor("acc1")
                .await
                .unwrap()
                .unwrap()
                .uses_left,
            Some(1)
        );
        assert_eq!(
            tx.client_secret_accessors("id-web").await.unwrap(),
            vec!["acc1"]
        );
        tx.insert_token(&token("t1", None, Some("id-web")))
            .await
            .unwrap();
        assert_eq!(tx.revoke_client_tokens("id-web", 9).await.unwrap(), 1);
        assert!(tx.delete_client("id-web").await.unwrap());
        assert_eq!(
            tx.client_secret_by_lookup_id("lookup1").await.unwrap(),
            None
        );

        tx.put_policy("p1", "path \"a\" {}", 1).await.unwrap();
        tx.put_policy("p1", "path \"b\" {}", 2).await.unwrap();
        assert_eq!(
            tx.policy_text("p1").await.unwrap().as_deref(),
            Some("path \"b\" {}")
        );
        // `default` is stored by migration 0009.
        assert_eq!(tx.policy_names().await.unwrap(), vec!["default", "p1"]);
        assert!(tx.delete_policy("p1").await.unwrap());
        assert!(!tx.delete_policy("p1").await.unwrap());
        tx.commit().await.unwrap();
    }
}
