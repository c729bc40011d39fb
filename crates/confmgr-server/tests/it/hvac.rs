//! The unchanged Python `hvac` client against a running server (PostgreSQL over mutual TLS).

use crate::harness::{Db, TestApp};
use std::process::Command;

async fn run_script(script: &str, summary_prefix: &str) {
    let probe = Command::new("python3").args(["-c", "import hvac"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "this test needs python3 with hvac: run `pip install hvac` (.ci/run installs it)"
        ),
    }
    let app = TestApp::start(Db::Postgres).await;
    let path = format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new("python3")
        .arg(&path)
        .env("VAULT_ADDR", &app.base)
        .env("VAULT_TOKEN", &app.token)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout.lines().last().unwrap_or("");
    assert!(
        summary.starts_with(summary_prefix) && summary.ends_with(" passed, 0 failed"),
        "{stdout}"
    );
}

#[tokio::test]
async fn hvac_kv_v2_round_trip() {
    run_script("hvac_kv.py", "hvac: ").await;
}

#[tokio::test]
async fn hvac_approle_login_then_reads_allowed_and_denied() {
    run_script("hvac_approle.py", "hvac-approle: ").await;
}

#[tokio::test]
async fn hvac_token_lifecycle_roles_and_capabilities() {
    run_script("hvac_tokens.py", "hvac-tokens: ").await;
}
