//! Liveness and readiness probes, and Vault's `sys/health` status override.

use crate::harness::{send, Db, TestApp};
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
