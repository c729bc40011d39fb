//! Log lines carry their request's id and route template, storage calls have spans, and
//! a log filter that does not parse is refused at start-up.

use crate::process::{root_token, run_with_env, BIN};
use confmgr_testkit::ServerProcess;
use serde_json::{json, Value};
use std::path::Path;

/// The names of the spans a JSON log line was emitted in, outermost first, and the
/// request span's fields.
fn spans(line: &Value) -> (Vec<&str>, Option<&Value>) {
    let list = line["spans"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let names = list.iter().filter_map(|s| s["name"].as_str()).collect();
    let request = list.iter().find(|s| s["name"] == "request");
    (names, request)
}

#[tokio::test]
async fn log_lines_carry_the_request_id_route_and_storage_spans() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let server = ServerProcess::start(
        Path::new(BIN),
        &["--dev", "--data-dir", data.to_str().unwrap()],
        &[
            ("CONFMGR_LOG", "debug,sqlx=debug"),
            ("CONFMGR_LOG_FORMAT", "json"),
        ],
    )
    .await
    .unwrap();
    let root = root_token(&server.stdout()).unwrap();
    let client = reqwest::Client::new();
    let given = "req-7f3a-given-by-the-caller";
    let response = client
        .post(format!("{}/v1/secret/data/app/logged", server.url()))
        .header("X-Vault-Token", &root)
        .header("X-Request-Id", given)
        .json(&json!({"data": {"k": "v"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-request-id"],
        given,
        "the id is echoed"
    );
    let response = client
        .get(format!("{}/v1/secret/data/app/logged", server.url()))
        .header("X-Vault-Token", &root)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a generated id is a UUID: {generated}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let stderr = server.stderr();
    let lines: Vec<Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(!lines.is_empty(), "JSON log lines: {stderr}");
    // The write's audit insert runs in `commit`; the read's ciphertext comes from
    // `secret_with_version`.
    for (id, storage_span) in [
        (given, "commit"),
        (generated.as_str(), "secret_with_version"),
    ] {
        let of_request: Vec<&Value> = lines
            .iter()
            .filter(|line| spans(line).1.is_some_and(|r| r["request_id"] == id))
            .collect();
        assert!(
            !of_request.is_empty(),
            "no log line carries request id {id}"
        );
        for line in &of_request {
            let request = spans(line).1.unwrap();
            assert_eq!(request["route"], "/v1/secret/data/{*path}", "{line}");
            assert!(request["method"].is_string(), "{line}");
        }
        let storage: Vec<&str> = of_request
            .iter()
            .flat_map(|line| spans(line).0)
            .filter(|name| *name != "request")
            .collect();
        assert!(
            storage.contains(&storage_span),
            "the storage calls of request {id} log inside their spans, found {storage:?}"
        );
    }
    // The route template, never the secret's path, names the request.
    assert!(
        lines.iter().all(|line| spans(line)
            .1
            .is_none_or(|r| !r.to_string().contains("app/logged"))),
        "a request span names the raw path"
    );
    server.stop().await.unwrap();
}

#[test]
fn a_log_filter_that_does_not_parse_stops_start_up() {
    let output = run_with_env(&["--dev"], &[("CONFMGR_LOG", "confmgr_server=loud")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a log filter"), "{stderr}");
    assert!(stderr.contains("confmgr_server=loud"), "{stderr}");
}
