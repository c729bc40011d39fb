//! Liveness and readiness probes, and Vault's `sys/health` status override.

use crate::harness::{metric, send, Db, TestApp};
use sqlx::Connection;

#[tokio::test]
async fn probes_answer_and_readiness_fails_while_the_database_takes_no_writes() {
    let app = TestApp::start(Db::Sqlite).await;
    let get = |path: &str| send(app.client.get(format!("{}{path}", app.base)));
    let (status, body) = get("/healthz").await;
    assert_eq!((status, &body["status"]), (200, &serde_json::json!("ok")));
    let (status, body) = get("/readyz").await;
    assert_eq!(
        (status, &body["status"]),
        (200, &serde_json::json!("ready"))
    );
    let (status, _) = get("/v1/sys/health?activecode=204").await;
    assert_eq!(status, 204);
    let (status, body) = get("/v1/sys/health").await;
    assert_eq!(
        (status, &body["initialized"]),
        (200, &serde_json::json!(true))
    );

    // Another process holds SQLite's write lock: no audited request could be answered.
    let mut blocker = sqlx::AnyConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("begin exclusive")
        .execute(&mut blocker)
        .await
        .unwrap();
    let (status, body) = get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("audit log unwritable"),
        "{body}"
    );
    // Liveness does not depend on the database.
    assert_eq!(get("/healthz").await.0, 200);
    sqlx::query("rollback").execute(&mut blocker).await.unwrap();
    assert_eq!(get("/readyz").await.0, 200);
}

#[tokio::test]
async fn metrics_move_with_requests_and_name_routes_not_paths() {
    let app = TestApp::start(Db::Sqlite).await;
    let value = metric;
    let before = app.scrape().await;
    for _ in 0..3 {
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/data/team-x/very-secret-name",
                Some(serde_json::json!({"data": {"k": "v"}})),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = app
        .call(
            "POST",
            "/v1/auth/approle/login",
            Some(serde_json::json!({"role_id": "00000000-0000-4000-8000-000000000000", "secret_id": "x.y"})),
        )
        .await;
    assert_eq!(status, 400);
    let after = app.scrape().await;

    let writes = r#"confmgr_http_requests_total{route="/v1/secret/data/{*path}",method="POST",status="200"}"#;
    assert_eq!(
        value(&after, writes) - value(&before, writes),
        3.0,
        "{after}"
    );
    let failures = r#"confmgr_logins_total{method="approle",outcome="failure"}"#;
    assert_eq!(value(&after, failures), 1.0, "{after}");
    let timed = r#"confmgr_http_request_duration_seconds_count{route="/v1/secret/data/{*path}",method="POST"}"#;
    assert!(value(&after, timed) >= 3.0, "{after}");
    assert!(
        value(&after, "confmgr_keyring_active_term") >= 1.0,
        "{after}"
    );
    for state in ["idle", "in_use", "waiting"] {
        let series = format!(r#"confmgr_db_connections{{state="{state}"}}"#);
        assert!(after.contains(&series), "{series} missing: {after}");
    }
    let term = format!(
        r#"confmgr_keyring_wrapped_keys{{term="{}"}}"#,
        value(&after, "confmgr_keyring_active_term")
    );
    assert_eq!(
        value(&after, &term) - value(&before, &term),
        3.0,
        "three new versions wrap three data keys under the active term: {after}"
    );
    let audited = "confmgr_audit_batch_size_sum";
    assert!(
        value(&after, audited) - value(&before, audited) >= 1.0,
        "the refused login was audited through the group writer (writes commit their event in their own transaction): {after}"
    );
    assert!(
        !after.contains("very-secret-name"),
        "paths never become labels"
    );
}

/// SIGTERM with a request half sent and an idle keep-alive connection: the request still
/// gets its answer, the idle connection is closed, the process exits 0 within the grace.
#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_exits_cleanly() {
    use confmgr_testkit::ServerProcess;
    use std::path::Path;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let mut server = ServerProcess::start(
        Path::new(crate::process::BIN),
        &[
            "--dev",
            "--data-dir",
            data.to_str().unwrap(),
            "--dev-root-token",
            "root",
        ],
        &[],
    )
    .await
    .unwrap();
    let addr = server.addr();

    // An idle keep-alive connection: one answered request, then nothing.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = vec![0u8; 4096];
    let n = idle.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));

    // A write whose body is half sent when the signal arrives.
    let body = br#"{"data":{"k":"finished after SIGTERM"}}"#;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/secret/data/shutdown HTTP/1.1\r\nHost: x\r\nX-Vault-Token: root\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let pid = server.pid().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // New connections are refused once shutdown began.
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");

    slow.write_all(&body[10..]).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The idle connection was closed by the server (EOF), not left hanging.
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), idle.read(&mut buffer))
        .await
        .expect("idle connection closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let status = server
        .wait_exit(std::time::Duration::from_secs(10))
        .await
        .expect("exited within the grace period");
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(
        server.stderr().contains("shutting down"),
        "{}",
        server.stderr()
    );
}

async fn dev_server_with(
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> confmgr_testkit::ServerProcess {
    let data = dir.join("d");
    confmgr_testkit::ServerProcess::start(
        std::path::Path::new(crate::process::BIN),
        &[
            "--dev",
            "--data-dir",
            data.to_str().unwrap(),
            "--dev-root-token",
            "root",
        ],
        env,
    )
    .await
    .unwrap()
}

fn sigterm(server: &confmgr_testkit::ServerProcess) {
    let pid = server.pid().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
}

/// During the drain after SIGTERM, `/readyz` answers 503 "draining" so endpoints stop
/// routing here, while new connections and writes are still served; a second signal exits
/// at once (130) instead of waiting out the drain.
#[tokio::test]
async fn sigterm_drain_fails_readiness_but_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = dev_server_with(dir.path(), &[("CONFMGR_SHUTDOWN_DRAIN_SECS", "600")]).await;
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    sigterm(&server);
    // The flag is set as the signal is handled: poll until readiness reports the drain.
    let mut answer = None;
    for _ in 0..100 {
        let response = http.get(format!("{base}/readyz")).send().await.unwrap();
        if response.status() == 503 {
            answer = Some(response.json::<serde_json::Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let body = answer.expect("/readyz never reported the drain");
    assert_eq!(body["errors"][0], "draining: this server is shutting down");

    // Still serving, on fresh connections too: a write and a read.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let write = fresh
        .post(format!("{base}/v1/secret/data/drain"))
        .header("X-Vault-Token", "root")
        .json(&serde_json::json!({"data": {"k": "written while draining"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 200, "{}", write.text().await.unwrap());
    let read = fresh
        .get(format!("{base}/v1/secret/data/drain"))
        .header("X-Vault-Token", "root")
        .send()
        .await
        .unwrap();
    let read: serde_json::Value = read.json().await.unwrap();
    assert_eq!(read["data"]["data"]["k"], "written while draining");
    let health = fresh.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness does not fail during the drain"
    );

    sigterm(&server);
    let status = server
        .wait_exit(std::time::Duration::from_secs(20))
        .await
        .expect("a second signal ends the drain at once");
    assert_eq!(status.code(), Some(130), "{}", server.stderr());
    assert!(server.stderr().contains("draining"), "{}", server.stderr());
}

/// After a short drain the listener closes and the process exits cleanly on its own.
#[tokio::test]
async fn sigterm_drain_ends_and_the_server_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = dev_server_with(dir.path(), &[("CONFMGR_SHUTDOWN_DRAIN_SECS", "1")]).await;
    sigterm(&server);
    let status = server
        .wait_exit(std::time::Duration::from_secs(30))
        .await
        .expect("exited after the drain");
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    let stderr = server.stderr();
    let drain = stderr.find("draining").expect("drain logged");
    let finish = stderr.find("finishing in-flight").expect("grace logged");
    assert!(
        drain < finish,
        "the drain comes before the listener closes: {stderr}"
    );
}

/// Out-of-range shutdown settings stop the start with one line each.
#[tokio::test]
async fn shutdown_settings_out_of_range_are_refused_at_start() {
    let output = tokio::process::Command::new(crate::process::BIN)
        .args(["--dev", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env("CONFMGR_SHUTDOWN_DRAIN_SECS", "601")
        .env("CONFMGR_SHUTDOWN_GRACE_SECS", "0")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CONFMGR_SHUTDOWN_DRAIN_SECS: 601 is more than 600"),
        "{stderr}"
    );
    assert!(
        stderr.contains("CONFMGR_SHUTDOWN_GRACE_SECS: 0 is not between 1 and 3600"),
        "{stderr}"
    );
}
