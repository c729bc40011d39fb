//! A closed-loop load generator: N connections each reading random secrets back to back.

use anyhow::{bail, Result};
use rand::Rng;
use std::time::{Duration, Instant};

pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl LoadResult {
    pub fn summary(&self) -> String {
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            self.throughput, self.p50_ms, self.p99_ms, self.errors
        )
    }
}

pub async fn seed(base: &str, token: &str, count: usize) -> Result<()> {
    let client = reqwest::Client::new();
    for i in 0..count {
        let status = client
            .post(format!("{base}/v1/secret/data/bench/s{i}"))
            .header("X-Vault-Token", token)
            .json(&serde_json::json!({"data": {"user": format!("u{i}"), "password": format!("p{i}")}}))
            .send()
            .await?
            .status();
        if !status.is_success() {
            bail!("seeding answered {status}");
        }
    }
    Ok(())
}

pub async fn run_load(
    base: &str,
    token: &str,
    secrets: usize,
    connections: usize,
    duration: Duration,
) -> Result<LoadResult> {
    let deadline = Instant::now() + duration;
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (base, token) = (base.to_owned(), token.to_owned());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let n = rand::thread_rng().gen_range(0..secrets);
                let started = Instant::now();
                let ok = client
                    .get(format!("{base}/v1/secret/data/bench/s{n}"))
                    .header("X-Vault-Token", &token)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                latencies.push(started.elapsed());
                errors += u64::from(!ok);
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mut l, e) = worker.await??;
        latencies.append(&mut l);
        errors += e;
    }
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(LoadResult {
        requests: latencies.len() as u64,
        errors,
        throughput: latencies.len() as f64 / duration.as_secs_f64(),
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
    })
}
