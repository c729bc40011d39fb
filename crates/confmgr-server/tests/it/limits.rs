use crate::harness::{send, Db, TestApp};
use confmgr_server::state::Limits;
use serde_json::json;

#[tokio::test]
async fn bad_input_gets_clear_errors_and_changes_nothing() {
    let app = TestApp::start_with(
        Db::Sqlite,
        Limits {
            max_body_bytes: 4096,
            ..Limits::default()
        },
    )
    .await;
    app.call(
        "POST",
        "/v1/secret/data/keep",
        Some(json!({"data": {"v": "original"}})),
    )
    .await;

    let big = json!({"data": {"v": "x".repeat(5000)}});
    let (status, body) = app.call("POST", "/v1/secret/data/keep", Some(big)).await;
    assert_eq!(
        (status, body),
        (413, json!({"errors": ["request body too large"]}))
    );

    let cases: [(&str, &str, &str); 5] = [
        (
            "/v1/secret/data/keep",
            "{not json",
            "failed to parse JSON input",
        ),
        (
            "/v1/secret/data/keep",
            r#"{"data": "str"}"#,
            "no data provided",
        ),
        (
            "/v1/secret/data/keep",
            r#"{"other": 1}"#,
            "no data provided",
        ),
        (
            "/v1/secret/data/keep",
            r#"{"data": {"a": 1}, "options": {"cas": "one"}}"#,
            "failed to parse JSON input",
        ),
        (
            "/v1/secret/data/a//b",
            r#"{"data": {"a": 1}}"#,
            "empty segment",
        ),
    ];
    for (path, raw, expected) in cases {
        let (status, body) = send(
            app.request("POST", path)
                .header("Content-Type", "application/json")
                .body(raw),
        )
        .await;
        assert_eq!(status, 400, "{path} {raw} -> {body}");
        let message = body["errors"][0].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{message:?} should mention {expected:?}"
        );
    }
    // HTTP clients normalise `..` away, so this one goes over a raw socket.
    let raw = raw_request(
        &app,
        "POST",
        "/v1/secret/data/a/../keep",
        r#"{"data": {"a": 1}}"#,
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(
        raw.contains("must not contain '.' or '..' segments"),
        "{raw}"
    );
    let long = format!("/v1/secret/data/{}", "a".repeat(600));
    assert_eq!(
        app.call("POST", &long, Some(json!({"data": {}}))).await.0,
        400
    );
    let (status, body) = app
        .call(
            "POST",
            "/v1/secret/data/keep",
            Some(json!({"data": {"a": 1}, "options": {"cas": "hunter2"}})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        !body.to_string().contains("hunter2"),
        "errors never echo submitted values: {body}"
    );

    let (status, body) = app.call("TRACE", "/v1/secret/data/keep", None).await;
    assert_eq!(
        (status, body),
        (405, json!({"errors": ["unsupported operation"]}))
    );
    let (status, body) = app.call("GET", "/v1/not/a/route", None).await;
    assert_eq!((status, body["errors"].is_array()), (404, true));

    let (_, body) = app.call("GET", "/v1/secret/metadata/keep", None).await;
    assert_eq!(
        body["data"]["current_version"], 1,
        "no failed request wrote a version"
    );
    let (_, body) = app.call("GET", "/v1/secret/data/keep", None).await;
    assert_eq!(body["data"]["data"]["v"], "original");
}

#[tokio::test]
async fn request_ids_are_echoed() {
    let app = TestApp::start(Db::Sqlite).await;
    let response = app
        .request("GET", "/v1/secret/config")
        .header("X-Request-Id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "req-123");
    let response = app
        .request("GET", "/v1/secret/config")
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}

async fn raw_request(app: &TestApp, method: &str, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nX-Vault-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        app.token,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn a_request_past_its_timeout_answers_503_and_changes_nothing() {
    use sqlx::Connection;
    let limits = Limits {
        request_timeout: std::time::Duration::from_secs(1),
        ..Limits::default()
    };
    let app = TestApp::start_with(Db::Sqlite, limits).await;
    app.call(
        "POST",
        "/v1/secret/data/slow",
        Some(json!({"data": {"v": 1}})),
    )
    .await;

    // Another process holds SQLite's write lock, so the server's write cannot finish in time.
    let mut blocker = sqlx::AnyConnection::connect(&app.db_url).await.unwrap();
    sqlx::raw_sql("begin immediate")
        .execute(&mut blocker)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (status, body) = app
        .call(
            "POST",
            "/v1/secret/data/slow",
            Some(json!({"data": {"v": 2}})),
        )
        .await;
    let waited = started.elapsed();
    // Timed out; and since the locked database cannot take the request's audit event either,
    // the audit layer fails closed with its own 503.
    assert_eq!(status, 503);
    // The audit wait counts against the timeout (1 s, plus a 250 ms floor for the commit):
    // a stalled database does not hold the answer back. The bound is loose on purpose.
    assert!(
        waited < std::time::Duration::from_secs(3),
        "answered after {waited:?}, past the 1 s timeout"
    );
    let message = body["errors"][0].as_str().unwrap_or_default();
    assert!(
        message == "request timed out" || message == "audit log unavailable",
        "{body}"
    );
    sqlx::raw_sql("rollback")
        .execute(&mut blocker)
        .await
        .unwrap();
    blocker.close().await.unwrap();

    let (status, body) = app.call("GET", "/v1/secret/data/slow", None).await;
    assert_eq!((status, body["data"]["data"]["v"].clone()), (200, json!(1)));
    assert_eq!(
        body["data"]["metadata"]["version"], 1,
        "the timed-out write left nothing behind"
    );
    // The timed-out request's event stayed queued and is written once the lock is gone.
    let mut recorded = false;
    for _ in 0..100 {
        let (status, body) = app
            .call(
                "GET",
                "/v1/sys/audit/events?limit=100&path_prefix=data/slow",
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        recorded = body["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|event| event["status"] == 503);
        if recorded {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recorded, "the 503 of the timed-out write was audited");
}
