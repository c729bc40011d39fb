//! DESIGN.md invariants: no plaintext or token at rest, tampering and moved rows fail loudly.

use crate::harness::{Db, TestApp, BOTH};
use confmgr_store::{Store, StoreOptions};
use confmgr_testkit::TestPostgres;
use serde_json::json;
use sqlx::Row;

const TABLES: [&str; 11] = [
    "system_state",
    "keyring_terms",
    "tokens",
    "kv_mounts",
    "kv_secrets",
    "kv_versions",
    "clients",
    "client_secrets",
    "policies",
    "audit_events",
    "audit_checkpoints",
];

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything the database holds, as text a dump would show (bytea as hex on PostgreSQL,
/// the raw file bytes on SQLite).
pub async fn dump(app: &TestApp, db: Db) -> String {
    match db {
        Db::Postgres => {
            let pool = confmgr_testkit::connect(&app.db_url).await.unwrap();
            let mut out = String::new();
            for table in TABLES {
                let rows = sqlx::query(&format!("select row_to_json(t)::text as j from {table} t"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                for row in rows {
                    out.push_str(&row.get::<String, _>("j"));
                    out.push('\n');
                }
            }
            out
        }
        Db::Sqlite => {
            let path = app.db_url.trim_start_matches("sqlite://").to_owned();
            let mut bytes = Vec::new();
            for file in [path.clone(), format!("{path}-wal")] {
                bytes.extend(std::fs::read(&file).unwrap_or_default());
            }
            assert!(!bytes.is_empty());
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

#[tokio::test]
async fn database_holds_no_plaintext_and_no_token() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let canary = "canary-3b1f9e0c-plaintext-value";
        for version in 0..3 {
            let (status, _) = app
                .call(
                    "POST",
                    "/v1/secret/data/app/canary",
                    Some(json!({"data": {"password": canary, "n": version}})),
                )
                .await;
            assert_eq!(status, 200);
        }
        app.call("PATCH", "/v1/secret/data/app/canary", None).await;
        let (_, body) = app.call("GET", "/v1/secret/data/app/canary", None).await;
        assert_eq!(
            body["data"]["data"]["password"], canary,
            "the canary is really stored"
        );

        let dumped = dump(&app, db).await;
        assert!(
            dumped.contains("app/canary"),
            "{db:?}: the dump covers the secret's rows"
        );
        for needle in [
            canary.to_owned(),
            hex(canary.as_bytes()),
            app.token.clone(),
            hex(app.token.as_bytes()),
        ] {
            assert!(
                !dumped.contains(&needle),
                "{db:?}: database contains {needle}"
            );
        }
    }
}

async fn crypto_fields(
    pool: &sqlx::AnyPool,
    path: &str,
    version: i64,
) -> (i64, i64, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let row = sqlx::query("select format, term, dek_nonce, wrapped_dek, nonce, ciphertext from kv_versions where path = $1 and version = $2")
        .bind(path.to_owned())
        .bind(version)
        .fetch_one(pool)
        .await
        .unwrap();
    (
        row.get("format"),
        row.get("term"),
        row.get("dek_nonce"),
        row.get("wrapped_dek"),
        row.get("nonce"),
        row.get("ciphertext"),
    )
}

async fn overwrite(
    pool: &sqlx::AnyPool,
    path: &str,
    version: i64,
    f: (i64, i64, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>),
) {
    let done = sqlx::query(
        "update kv_versions set format = $1, term = $2, dek_nonce = $3, wrapped_dek = $4, nonce = $5, ciphertext = $6 where path = $7 and version = $8",
    )
    .bind(f.0)
    .bind(f.1)
    .bind(f.2)
    .bind(f.3)
    .bind(f.4)
    .bind(f.5)
    .bind(path.to_owned())
    .bind(version)
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn assert_read_fails_generically(app: &TestApp, path: &str, must_not_contain: &[&str]) {
    let (status, body) = app.call("GET", path, None).await;
    assert_eq!(status, 500, "{path}: {body}");
    assert_eq!(body, json!({"errors": ["internal error"]}));
    for secret in must_not_contain {
        assert!(!body.to_string().contains(secret));
    }
}

#[tokio::test]
async fn moved_and_tampered_ciphertexts_fail_loudly() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        app.call(
            "POST",
            "/v1/secret/data/a",
            Some(json!({"data": {"v": "alpha-secret"}})),
        )
        .await;
        app.call(
            "POST",
            "/v1/secret/data/a",
            Some(json!({"data": {"v": "alpha-two"}})),
        )
        .await;
        app.call(
            "POST",
            "/v1/secret/data/b",
            Some(json!({"data": {"v": "beta-secret"}})),
        )
        .await;
        app.call(
            "POST",
            "/v1/secret/data/c",
            Some(json!({"data": {"v": "gamma-secret"}})),
        )
        .await;
        let pool = app.raw_db().await;

        // Version 1's row copied onto version 2 of the same path.
        let a1 = crypto_fields(&pool, "a", 1).await;
        overwrite(&pool, "a", 2, a1.clone()).await;
        assert_read_fails_generically(&app, "/v1/secret/data/a", &["alpha"]).await;
        // Copied onto another path.
        overwrite(&pool, "b", 1, a1).await;
        assert_read_fails_generically(&app, "/v1/secret/data/b", &["alpha", "beta"]).await;
        // One flipped byte in a ciphertext.
        let mut c1 = crypto_fields(&pool, "c", 1).await;
        c1.5[3] ^= 0x01;
        overwrite(&pool, "c", 1, c1).await;
        assert_read_fails_generically(&app, "/v1/secret/data/c", &["gamma"]).await;
        // The untouched version still reads.
        let (status, body) = app.call("GET", "/v1/secret/data/a?version=1", None).await;
        assert_eq!(
            (status, body["data"]["data"]["v"].clone()),
            (200, json!("alpha-secret"))
        );
    }
}

#[tokio::test]
async fn same_plaintext_twice_gives_different_ciphertexts() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        for path in ["x", "x", "y"] {
            app.call(
                "POST",
                &format!("/v1/secret/data/{path}"),
                Some(json!({"data": {"same": "value"}})),
            )
            .await;
        }
        let pool = app.raw_db().await;
        let (x1, x2, y1) = (
            crypto_fields(&pool, "x", 1).await,
            crypto_fields(&pool, "x", 2).await,
            crypto_fields(&pool, "y", 1).await,
        );
        assert_ne!(x1.5, x2.5);
        assert_ne!(x1.5, y1.5);
        assert_ne!(x1.4, x2.4, "nonces differ");
        assert_ne!(x1.3, x2.3, "each version has its own data key");
    }
}

#[tokio::test]
async fn destroy_erases_ciphertext_and_wrapped_key() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        app.call(
            "POST",
            "/v1/secret/data/gone",
            Some(json!({"data": {"v": "shred-me"}})),
        )
        .await;
        app.call(
            "POST",
            "/v1/secret/destroy/gone",
            Some(json!({"versions": [1]})),
        )
        .await;
        let pool = app.raw_db().await;
        let row = sqlx::query("select count(*) as n from kv_versions where path = 'gone' and destroyed = 1 and ciphertext is null and wrapped_dek is null and nonce is null and dek_nonce is null")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.get::<i64, _>("n"), 1);
    }
}

#[tokio::test]
async fn postgres_refuses_a_connection_without_client_certificate() {
    let pg = TestPostgres::shared().await.unwrap();
    let url = pg.fresh_database().await.unwrap();
    assert!(Store::connect(&url, &StoreOptions::default()).await.is_ok());
    let without = TestPostgres::without_client_cert(&url);
    assert!(!without.contains("sslcert"));
    let refused = Store::connect(&without, &StoreOptions::default()).await;
    assert!(
        refused.is_err(),
        "PostgreSQL accepted a connection without a client certificate"
    );
}
