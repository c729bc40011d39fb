//! A client that hangs up mid-request does not cancel the server's work midway: a
//! cancelled database call can leave a pooled connection inside a transaction (sqlx#2805).
//!
//! A write whose database connection dies after its `commit` was sent (issue 22, item 8)
//! answers 503 `outcome unknown: …`, whether the commit was made or not, never a plain
//! `storage unavailable` (which promises nothing changed).

use crate::harness::{Db, TestApp};
use serde_json::json;
use sqlx::{Connection, Row};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(pool)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

/// Runs `statements` in order on the superuser pool.
async fn admin_sql(admin: &sqlx::PgPool, statements: &[&str]) {
    for statement in statements {
        sqlx::query(statement).execute(admin).await.unwrap();
    }
}

/// Sets `synchronous_standby_names` and waits until the reload reached the backends:
/// `pg_reload_conf` only signals the postmaster, and a write sent before the server's
/// pooled backends got the signal commits without waiting for the standby (seen in CI).
async fn set_standby_names(admin: &sqlx::PgPool, value: &str) {
    let statement = if value.is_empty() {
        "alter system reset synchronous_standby_names".to_owned()
    } else {
        format!("alter system set synchronous_standby_names = '{value}'")
    };
    admin_sql(admin, &[&statement, "select pg_reload_conf()"]).await;
    wait_for("the configuration reload", async || {
        let mut fresh = sqlx::PgConnection::connect_with(&admin.connect_options())
            .await
            .unwrap();
        let seen: String =
            sqlx::query_scalar("select current_setting('synchronous_standby_names')")
                .fetch_one(&mut fresh)
                .await
                .unwrap();
        seen == value
    })
    .await;
}

/// Terminates the backend with process id `pid`.
async fn terminate(admin: &sqlx::PgPool, pid: i32) {
    sqlx::query("select pg_terminate_backend($1)")
        .bind(pid)
        .execute(admin)
        .await
        .unwrap();
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

/// The backend of the server's write transaction that waits on `wait_event` at commit
/// (it holds a lock on `kv_versions`), once there is one.
async fn committing_backend(admin: &sqlx::PgPool, wait_event: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "select a.pid from pg_stat_activity a join pg_locks l on l.pid = a.pid \
             where a.wait_event = $1 and l.relation = 'kv_versions'::regclass limit 1",
        )
        .bind(wait_event)
        .fetch_optional(admin)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no write waiting on {wait_event} at commit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts `data` with `cas` in the background; the answer comes through the handle.
fn write_in_background(
    server: &confmgr_testkit::ServerProcess,
    root: &str,
    id: &str,
    body: serde_json::Value,
) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
    let request = reqwest::Client::new()
        .post(format!("{}/v1/secret/data/cut", server.url()))
        .header("X-Vault-Token", root)
        .header("X-Request-Id", id)
        .json(&body);
    tokio::spawn(async move {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    })
}

#[track_caller]
fn assert_outcome_unknown(status: u16, body: &serde_json::Value) {
    assert_eq!(status, 503, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("outcome unknown: ")),
        "{body}"
    );
}

/// The connection of a write dies after its `commit` was sent, once when PostgreSQL had
/// committed it (a backend terminated while it waits for a synchronous standby: "the
/// transaction has already committed locally") and once when it had not (terminated while
/// a deferred trigger waits for a lock at commit). Both answer `outcome unknown`; the
/// first did change the secret, the second did not, and the client could not tell them
/// apart. The audit log has the first write's in-transaction event (200) and, for both,
/// the 503 the client actually got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_after_its_commit_was_sent_answers_outcome_unknown() {
    let pg = confmgr_testkit::TestPostgres::private().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (server, root, url) =
        crate::outage::start_server_on_new_database(&pg, dir.path(), 30).await;
    let (status, body) = crate::process::call(
        &server,
        &root,
        "POST",
        "/v1/secret/data/cut",
        json!({"data": {"v": "1"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let admin = confmgr_testkit::connect(&url).await.unwrap();
    let current = async || -> i64 {
        sqlx::query_scalar("select max(version)::bigint from kv_versions where path = 'cut'")
            .fetch_one(&admin)
            .await
            .unwrap()
    };

    // Made: commits wait for a standby that does not exist; the write's backend is
    // terminated there, after its commit record was written.
    set_standby_names(&admin, "nobody").await;
    let made = write_in_background(
        &server,
        &root,
        "cut-made",
        json!({"options": {"cas": 1}, "data": {"v": "2"}}),
    );
    terminate(&admin, committing_backend(&admin, "SyncRep").await).await;
    set_standby_names(&admin, "").await;
    let (status, body) = made.await.unwrap();
    assert_outcome_unknown(status, &body);
    assert_eq!(current().await, 2, "the first write was made");

    // Not made: a deferred trigger makes the commit wait for a lock the test holds.
    admin_sql(
        &admin,
        &[
            "create function confmgr_test_hold() returns trigger language plpgsql as \
             $$ begin perform pg_advisory_xact_lock(4242); return null; end $$",
            "create constraint trigger confmgr_test_hold after insert on kv_versions \
             deferrable initially deferred for each row execute function confmgr_test_hold()",
        ],
    )
    .await;
    let mut holder = admin.acquire().await.unwrap();
    sqlx::query("select pg_advisory_lock(4242)")
        .execute(&mut *holder)
        .await
        .unwrap();
    let not_made = write_in_background(
        &server,
        &root,
        "cut-not-made",
        json!({"options": {"cas": 2}, "data": {"v": "3"}}),
    );
    terminate(&admin, committing_backend(&admin, "advisory").await).await;
    let (status, body) = not_made.await.unwrap();
    assert_outcome_unknown(status, &body);
    sqlx::query("select pg_advisory_unlock(4242)")
        .execute(&mut *holder)
        .await
        .unwrap();
    drop(holder);
    admin_sql(&admin, &["drop trigger confmgr_test_hold on kv_versions"]).await;
    assert_eq!(current().await, 2, "the second write was not made");

    // What each client got is in the audit log, next to what the first write committed.
    let statuses = async |id: &str| -> Vec<i64> {
        sqlx::query_scalar(
            "select status::bigint from audit_events where request_id = $1 order by status",
        )
        .bind(id)
        .fetch_all(&admin)
        .await
        .unwrap()
    };
    assert_eq!(
        statuses("cut-made").await,
        [200, 503],
        "{}",
        server.stderr()
    );
    assert_eq!(statuses("cut-not-made").await, [503]);
    server.stop().await.unwrap();
}
