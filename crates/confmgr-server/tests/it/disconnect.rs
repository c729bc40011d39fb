//! A client that hangs up mid-request does not cancel the server's work midway: a
//! cancelled database call can leave a pooled connection inside a transaction (sqlx#2805).

use crate::harness::{Db, TestApp};
use serde_json::json;
use sqlx::Row;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(pool)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_write_whose_client_hangs_up_still_completes_with_its_audit_event() {
    let app = TestApp::start(Db::Postgres).await;
    let (status, _) = app
        .call(
            "POST",
            "/v1/secret/data/held",
            Some(json!({"data": {"v": "1"}})),
        )
        .await;
    assert_eq!(status, 200);
    let pool = app.raw_db().await;

    // Hold the secret's row lock so the next write waits inside its transaction.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("select path from kv_secrets where mount = 'secret' and path = 'held' for update")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = r#"{"data":{"v":"2"}}"#;
    let request = format!(
        "POST /v1/secret/data/held HTTP/1.1\r\nHost: {addr}\r\nX-Vault-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.token,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    wait_for("the write to wait on the row lock", async || {
        count(
            &pool,
            "select count(*)::bigint from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        )
        .await
            > 0
    })
    .await;

    // Hang up, give the server time to notice, then let the write go on.
    drop(stream);
    tokio::time::sleep(Duration::from_millis(500)).await;
    blocker.rollback().await.unwrap();

    wait_for("version 2 to be written", async || {
        count(
            &pool,
            "select count(*)::bigint from kv_versions where mount = 'secret' and path = 'held' and version = 2",
        )
        .await
            == 1
    })
    .await;
    wait_for("the write's audit event", async || {
        count(
            &pool,
            "select count(*)::bigint from audit_events where operation = 'write' and path = 'data/held' and version = 2 and status = 200",
        )
        .await
            == 1
    })
    .await;
    // And no connection was left inside a transaction.
    wait_for("no backend idle in transaction", async || {
        count(
            &pool,
            "select count(*)::bigint from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'",
        )
        .await
            == 0
    })
    .await;
}
