//! The unchanged Python `hvac` client against a running server (PostgreSQL over mutual TLS).

use crate::harness::{Db, TestApp};
use std::process::Command;

#[tokio::test]
async fn hvac_kv_v2_round_trip() {
    let probe = Command::new("python3").args(["-c", "import hvac"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "this test needs python3 with hvac: run `pip install hvac` (.ci/run installs it)"
        ),
    }
    let app = TestApp::start(Db::Postgres).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hvac_kv.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .env("VAULT_ADDR", &app.base)
        .env("VAULT_TOKEN", &app.token)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "hvac script failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout.lines().last().unwrap_or("");
    assert!(
        summary.starts_with("hvac: ") && summary.ends_with(" passed, 0 failed"),
        "{stdout}"
    );
}
