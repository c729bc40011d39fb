//! Load on the server from wrk (Debian's `wrk` package) driven by bench/confmgr.lua.

use crate::step::StepResult;
use crate::system;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What one wrk run asks of the server.
#[derive(Clone, Debug)]
pub struct WrkLoad {
    /// `read`, `write`, `login`, `lookup-self`, `mount-info` or `healthz` (see bench/confmgr.lua).
    pub mode: &'static str,
    pub base_url: String,
    pub threads: usize,
    pub connections: usize,
}

/// The files the Lua script reads its tokens and AppRole credentials from.
#[derive(Clone, Debug)]
pub struct WrkFiles {
    pub script: PathBuf,
    pub tokens: PathBuf,
    pub approles: PathBuf,
    pub secrets_per_client: usize,
}

/// The line `done()` in bench/confmgr.lua prints.
#[derive(Debug, Deserialize)]
struct WrkReport {
    requests: u64,
    duration_us: u64,
    connect_errors: u64,
    read_errors: u64,
    write_errors: u64,
    status_errors: u64,
    timeouts: u64,
    p50_us: u64,
    p99_us: u64,
    #[serde(default)]
    statuses: BTreeMap<String, u64>,
}

pub fn check_installed() -> Result<()> {
    match std::process::Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => bail!("wrk is not installed: `apt-get install -y wrk` (Debian's package), then rerun `just bench`"),
    }
}

pub async fn run(load: &WrkLoad, files: &WrkFiles, duration: Duration) -> Result<StepResult> {
    let mut command = tokio::process::Command::new("wrk");
    command
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", duration.as_secs()))
        // logins wait up to 2 s for an argon2 slot; a longer timeout counts them as answers
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&files.script)
        .arg(&load.base_url)
        .env("BENCH_MODE", load.mode)
        .env("BENCH_TOKENS", &files.tokens)
        .env("BENCH_APPROLES", &files.approles)
        .env("BENCH_SECRETS", files.secrets_per_client.to_string());
    let stdout = system::stdout_of(&mut command, &format!("wrk {}", load.mode)).await?;
    parse(&stdout).with_context(|| format!("wrk {} printed no RESULT line: {stdout}", load.mode))
}

fn parse(stdout: &str) -> Result<StepResult> {
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .context("no RESULT line")?;
    let report: WrkReport = serde_json::from_str(line)?;
    let errors = report.connect_errors
        + report.read_errors
        + report.write_errors
        + report.status_errors
        + report.timeouts;
    let seconds = report.duration_us as f64 / 1e6;
    Ok(StepResult {
        requests: report.requests,
        errors,
        throughput: report.requests.saturating_sub(errors) as f64 / seconds.max(1e-6),
        p50_ms: report.p50_us as f64 / 1000.0,
        p99_ms: report.p99_us as f64 / 1000.0,
        error_statuses: report.statuses,
    })
}

pub fn script_path(repo: &Path) -> PathBuf {
    repo.join("bench/confmgr.lua")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_result_line_and_counts_every_kind_of_error() {
        let out = "Running 1s test\nRESULT {\"requests\":1000,\"duration_us\":2000000,\"connect_errors\":1,\"read_errors\":2,\"write_errors\":3,\"status_errors\":4,\"timeouts\":5,\"p50_us\":1500,\"p99_us\":9000,\"max_us\":12000,\"statuses\":{\"429\":4}}\n";
        let result = parse(out).unwrap();
        assert_eq!(result.requests, 1000);
        assert_eq!(result.errors, 15);
        assert!((result.throughput - 492.5).abs() < 1e-9);
        assert!((result.p50_ms - 1.5).abs() < 1e-9);
        assert!((result.p99_ms - 9.0).abs() < 1e-9);
        assert_eq!(result.error_statuses.get("429"), Some(&4));
    }

    #[test]
    fn no_result_line_is_an_error() {
        assert!(parse("Running 1s test\n").is_err());
    }
}
