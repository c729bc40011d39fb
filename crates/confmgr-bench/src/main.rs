//! `just bench`: authenticated read throughput of a release `confmgr-server` on PostgreSQL
//! over mutual TLS (fsync on), with audit on and with audit off, measured in the same run
//! as ratios (absolute numbers drift on a shared machine; ratios in one run do not).
//!
//! Steps: refuse on a busy machine; start a durable throwaway PostgreSQL; `init`; seed
//! secrets; start one server with audit and one without on the same database; run the read
//! load against "off", "on", then "off" again, and discard the run if the two "off"
//! measurements differ by more than 10 %. Writes bench/results/<timestamp>.{json,md}.

mod load;

use anyhow::{bail, Context, Result};
use confmgr_testkit::{ServerProcess, TestPostgres};
use load::{run_load, LoadResult};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SECRETS: usize = 1000;
const CONNECTIONS: usize = 32;

fn step_duration() -> Duration {
    let secs = std::env::var("CONFMGR_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

fn server_binary() -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = root.join("target/release/confmgr-server");
    if !binary.exists() {
        bail!(
            "{} is missing: run `cargo build --release -p confmgr-server` (just bench does)",
            binary.display()
        );
    }
    Ok(binary)
}

#[tokio::main]
async fn main() -> Result<()> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let load = load_average();
    if load > cores * 0.5 && std::env::var("CONFMGR_BENCH_FORCE").is_err() {
        bail!("the machine is busy (1-minute load average {load:.2} on {cores} cores): results would be noise. Retry when idle, or set CONFMGR_BENCH_FORCE=1");
    }
    std::env::set_var("CONFMGR_TESTKIT_DURABLE", "1");
    let binary = server_binary()?;
    let pg = TestPostgres::shared().await?;
    let url = pg.fresh_database().await?;
    let work = tempfile_dir()?;
    let key = work.join("root.key");
    write_key(&key)?;
    let init = std::process::Command::new(&binary)
        .args(["init", "--database-url", &url, "--root-key-file"])
        .arg(&key)
        .output()
        .context("confmgr-server init")?;
    let stdout = String::from_utf8_lossy(&init.stdout);
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("cmt."))
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "init printed no token: {}",
                String::from_utf8_lossy(&init.stderr)
            )
        })?;

    let key_arg = key.to_string_lossy().into_owned();
    let base_env = [
        ("CONFMGR_DATABASE_URL", url.as_str()),
        ("CONFMGR_ROOT_KEY_FILE", key_arg.as_str()),
        ("CONFMGR_LOG", "warn"),
    ];
    let audited = ServerProcess::start(&binary, &[], &base_env).await?;
    let mut unaudited_env = base_env.to_vec();
    unaudited_env.push(("CONFMGR_AUDIT_ENABLED", "false"));
    let unaudited = ServerProcess::start(&binary, &[], &unaudited_env).await?;

    eprintln!("bench: seeding {SECRETS} secrets");
    load::seed(&audited.url(), &token, SECRETS).await?;
    let duration = step_duration();
    eprintln!(
        "bench: {CONNECTIONS} connections, {}s per step",
        duration.as_secs()
    );
    run_load(
        &unaudited.url(),
        &token,
        SECRETS,
        CONNECTIONS,
        Duration::from_secs(3),
    )
    .await?; // warm-up
    let off_before = run_load(&unaudited.url(), &token, SECRETS, CONNECTIONS, duration).await?;
    eprintln!("bench: audit off  {}", off_before.summary());
    let on = run_load(&audited.url(), &token, SECRETS, CONNECTIONS, duration).await?;
    eprintln!("bench: audit on   {}", on.summary());
    let off_after = run_load(&unaudited.url(), &token, SECRETS, CONNECTIONS, duration).await?;
    eprintln!("bench: audit off  {}", off_after.summary());
    audited.stop().await?;
    unaudited.stop().await?;

    let drift =
        (off_before.throughput - off_after.throughput).abs() / off_before.throughput.max(1.0);
    let reference = (off_before.throughput + off_after.throughput) / 2.0;
    let ratio = on.throughput / reference.max(1.0);
    let valid = drift <= 0.10;
    write_results(
        &[
            ("audit_off_before", &off_before),
            ("audit_on", &on),
            ("audit_off_after", &off_after),
        ],
        ratio,
        drift,
        valid,
        load,
    )?;
    if !valid {
        bail!("discarded: the audit-off reference moved {:.1} % between its two runs (machine not quiet)", drift * 100.0);
    }
    println!(
        "audited reads: {:.0} req/s = {:.0} % of unaudited ({:.0} req/s); target >= 70 %",
        on.throughput,
        ratio * 100.0,
        reference
    );
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("confmgr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn write_key(path: &Path) -> Result<()> {
    use base64::Engine;
    use rand::RngCore;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(encoded.as_bytes())?;
    Ok(())
}

fn write_results(
    steps: &[(&str, &LoadResult)],
    ratio: f64,
    drift: f64,
    valid: bool,
    load: f64,
) -> Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let json = json!({
        "time": stamp,
        "connections": CONNECTIONS,
        "secrets": SECRETS,
        "load_average_at_start": load,
        "steps": steps.iter().map(|(name, r)| json!({"step": name, "requests": r.requests, "errors": r.errors, "throughput": r.throughput, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms})).collect::<Vec<_>>(),
        "audit_on_over_off": ratio,
        "reference_drift": drift,
        "valid": valid,
    });
    std::fs::write(
        dir.join(format!("{stamp}.json")),
        serde_json::to_string_pretty(&json)?,
    )?;
    let mut md = format!("# Benchmark {stamp}\n\n{CONNECTIONS} connections, authenticated reads of {SECRETS} secrets, PostgreSQL over mutual TLS with fsync on.\n\n| step | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|\n");
    for (name, r) in steps {
        md.push_str(&format!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} |\n",
            r.throughput, r.p50_ms, r.p99_ms, r.errors
        ));
    }
    md.push_str(&format!(
        "\nAudit on / audit off: **{:.0} %** (target ≥ 70 %). Reference drift {:.1} %{}.\n",
        ratio * 100.0,
        drift * 100.0,
        if valid { "" } else { " — run discarded" }
    ));
    std::fs::write(dir.join(format!("{stamp}.md")), md)?;
    eprintln!("bench: wrote bench/results/{stamp}.json and .md");
    Ok(())
}
