//! Reference workloads: PostgreSQL's own pgbench against the same database, same run.

use crate::step::{quantile, StepResult};
use crate::system;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A pgbench workload: one of the scripts in bench/pgbench, or a built-in one.
#[derive(Clone, Debug)]
pub enum Workload {
    Script(PathBuf),
    Builtin(&'static str),
}

#[derive(Clone, Debug)]
pub struct Pgbench {
    pub program: PathBuf,
    /// A libpq URI with the mutual TLS parameters, as the server uses.
    pub url: String,
    pub clients: usize,
    pub threads: usize,
    /// Where per-transaction logs go while a run is parsed.
    pub log_dir: PathBuf,
}

impl Pgbench {
    pub fn find() -> Result<PathBuf> {
        let program = confmgr_testkit::postgres_bindir()
            .map(|dir| dir.join("pgbench"))
            .filter(|path| path.exists());
        program.context("pgbench not found (it ships with the PostgreSQL server binaries: `apt-get install -y postgresql`)")
    }

    /// `pgbench -i`: the tables of the built-in workloads, in the database of `url`.
    pub async fn initialize(program: &Path, url: &str, scale: u32) -> Result<()> {
        let mut command = tokio::process::Command::new(program);
        command.args(["-i", "-q", "-s", &scale.to_string(), url]);
        system::stdout_of(&mut command, "pgbench -i").await?;
        Ok(())
    }

    pub async fn run(
        &self,
        name: &str,
        workload: &Workload,
        duration: Duration,
    ) -> Result<StepResult> {
        let prefix = self
            .log_dir
            .join(name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(["-n", "-M", "prepared"])
            .arg(format!("-c{}", self.clients))
            .arg(format!("-j{}", self.threads))
            .arg(format!("-T{}", duration.as_secs()))
            .arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()));
        match workload {
            Workload::Script(path) => command.arg("-f").arg(path),
            Workload::Builtin(builtin) => command.arg("-b").arg(builtin),
        };
        command.arg(&self.url);
        let stdout = system::stdout_of(&mut command, &format!("pgbench {name}")).await?;
        let mut latencies_ms = Vec::new();
        let mut failed = 0u64;
        for log in self.logs_of(&prefix)? {
            let text = std::fs::read_to_string(&log)?;
            let (mut latencies, failures) = parse_log(&text);
            latencies_ms.append(&mut latencies);
            failed += failures;
            std::fs::remove_file(&log)?;
        }
        latencies_ms.sort_by(f64::total_cmp);
        let tps = parse_tps(&stdout)
            .with_context(|| format!("pgbench {name} printed no tps: {stdout}"))?;
        Ok(StepResult {
            requests: latencies_ms.len() as u64 + failed,
            errors: failed,
            throughput: tps,
            p50_ms: quantile(&latencies_ms, 0.50),
            p99_ms: quantile(&latencies_ms, 0.99),
            error_statuses: Default::default(),
        })
    }

    fn logs_of(&self, prefix: &Path) -> Result<Vec<PathBuf>> {
        let stem = format!(
            "{}.",
            prefix.file_name().unwrap_or_default().to_string_lossy()
        );
        let mut logs = Vec::new();
        for entry in std::fs::read_dir(&self.log_dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&stem))
            {
                logs.push(path);
            }
        }
        Ok(logs)
    }
}

/// Latencies (ms) of the committed transactions in a pgbench per-transaction log, and how
/// many failed. A line is `client_id transaction_no time script_no time_epoch time_us`,
/// `time` in microseconds or `failed`/`skipped`.
fn parse_log(text: &str) -> (Vec<f64>, u64) {
    let mut latencies = Vec::new();
    let mut failed = 0;
    for line in text.lines() {
        match line.split_whitespace().nth(2) {
            Some(field) => match field.parse::<f64>() {
                Ok(us) => latencies.push(us / 1000.0),
                Err(_) => failed += 1,
            },
            None => continue,
        }
    }
    (latencies, failed)
}

/// `tps = 1234.567890 (without initial connection time)`
fn parse_tps(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("tps = "))
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_latencies_and_failures_from_a_transaction_log() {
        let log = "0 1 1500 0 1733300000 123456\n0 2 2500 0 1733300000 223456\n1 1 failed 0 1733300000 323456\n";
        let (latencies, failed) = parse_log(log);
        assert_eq!(latencies, vec![1.5, 2.5]);
        assert_eq!(failed, 1);
    }

    #[test]
    fn reads_tps_from_the_summary() {
        let out = "latency average = 9.876 ms\ninitial connection time = 45.6 ms\ntps = 3240.123456 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(3240.123456));
        assert_eq!(parse_tps("nothing"), None);
    }
}
