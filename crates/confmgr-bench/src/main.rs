//! `just bench`: a release `confmgr-server` on PostgreSQL over mutual TLS (fsync and
//! synchronous commit on, audit on), loaded by wrk, side by side with pgbench references
//! doing per transaction what one request does, in the same run. Each referenced step is
//! bracketed by its references (before and after) and discarded when they moved more than
//! 10 %: on a shared machine only ratios within one quiet window mean anything.
//!
//! Writes bench/results/<timestamp>.json, .md and .svg. Settings: CONFMGR_BENCH_SECS (step
//! length, default 30), CONFMGR_BENCH_SERVER (another server binary, e.g. an older build),
//! CONFMGR_BENCH_FORCE=1 (run on a busy machine), CONFMGR_BENCH_GROUPS (some groups only),
//! CONFMGR_BENCH_PROFILE=1 (then perf samples
//! the server in extra, unmeasured passes and bench/results gets flame graphs: `just profile`).

mod bracket;
mod chart;
mod pgbench;
mod profile;
mod report;
mod seed;
mod step;
mod system;
mod wrk;

use anyhow::{bail, Context, Result};
use bracket::{Bench, Probe};
use confmgr_testkit::{ServerProcess, TestPostgres};
use pgbench::{Pgbench, Workload};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wrk::{WrkFiles, WrkLoad};

pub const CLIENTS: usize = 1000;
pub const SECRETS_PER_CLIENT: usize = 100;
pub const CONNECTIONS: usize = 32;
pub const THREADS: usize = 2;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn step_duration() -> Result<Duration> {
    match std::env::var("CONFMGR_BENCH_SECS") {
        Err(_) => Ok(Duration::from_secs(30)),
        Ok(text) => match text.parse::<u64>() {
            Ok(secs) if secs >= 1 => Ok(Duration::from_secs(secs)),
            _ => bail!(
                "CONFMGR_BENCH_SECS must be a whole number of seconds, at least 1 (got {text:?})"
            ),
        },
    }
}

const GROUPS: [&str; 5] = ["reads", "writes", "lookup-self", "logins", "flood"];

/// CONFMGR_BENCH_GROUPS=reads,writes runs only those groups (all when unset), for a quicker
/// look at one change; a report of some groups has the other targets "discarded".
fn selected_groups() -> Result<Option<Vec<&'static str>>> {
    let Ok(text) = std::env::var("CONFMGR_BENCH_GROUPS") else {
        return Ok(None);
    };
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| match GROUPS.iter().find(|group| **group == name) {
            Some(group) => Ok(*group),
            None => bail!(
                "CONFMGR_BENCH_GROUPS: unknown group {name:?}; the groups are {}",
                GROUPS.join(", ")
            ),
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn server_binary() -> Result<PathBuf> {
    let binary = match std::env::var_os("CONFMGR_BENCH_SERVER") {
        Some(path) => PathBuf::from(path),
        None => repo_root().join("target/release/confmgr-server"),
    };
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
    let started = Instant::now();
    let cores = system::cores();
    let load_average = system::load_average();
    if load_average > cores as f64 * 0.5 && std::env::var_os("CONFMGR_BENCH_FORCE").is_none() {
        bail!("the machine is busy (1-minute load average {load_average:.2} on {cores} cores): the numbers would be noise. Retry when it is idle, or set CONFMGR_BENCH_FORCE=1");
    }
    wrk::check_installed()?;
    if profile::requested() {
        profile::check_installed()?;
    }
    let pgbench_program = Pgbench::find()?;
    let duration = step_duration()?;
    let binary = server_binary()?;

    std::env::set_var("CONFMGR_TESTKIT_DURABLE", "1");
    let pg = TestPostgres::shared().await?;
    let url = pg.fresh_database().await?;
    let pgbench_url = pg.fresh_database().await?;
    let work = std::env::temp_dir().join(format!("confmgr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let key = work.join("root.key");
    write_key(&key)?;
    let root_token = init(&binary, &url, &key)?;

    let key_arg = key.to_string_lossy().into_owned();
    let env = [
        ("CONFMGR_DATABASE_URL", url.as_str()),
        ("CONFMGR_ROOT_KEY_FILE", key_arg.as_str()),
        ("CONFMGR_LOG", "warn"),
    ];
    let server = ServerProcess::start(&binary, &[], &env).await?;
    let mut uncached_env = env.to_vec();
    uncached_env.push(("CONFMGR_AUTH_CACHE_MS", "0"));
    let uncached = ServerProcess::start(&binary, &[], &uncached_env).await?;
    let rss = system::RssSampler::start(server.pid().context("server pid")?);

    eprintln!("bench: seeding {CLIENTS} clients with {SECRETS_PER_CLIENT} secrets each");
    let seeded = seed::seed(
        &server.url(),
        &root_token,
        CLIENTS,
        SECRETS_PER_CLIENT,
        &work,
    )
    .await?;
    reference_rows(&url).await?;
    Pgbench::initialize(&pgbench_program, &pgbench_url, 10).await?;
    let seeding = started.elapsed();

    let files = WrkFiles {
        script: wrk::script_path(&repo_root()),
        tokens: seeded.tokens,
        approles: seeded.approles,
        secrets_per_client: SECRETS_PER_CLIENT,
    };
    let database = Pgbench {
        program: pgbench_program.clone(),
        url: url.clone(),
        clients: CONNECTIONS,
        threads: THREADS,
        log_dir: work.clone(),
    };
    let builtin = Pgbench {
        url: pgbench_url,
        ..database.clone()
    };
    let mut bench = Bench::new(files, database, builtin, duration);
    bench.watch_memory_of(server.pid().context("server pid")?);
    let scripts = repo_root().join("bench/pgbench");
    let load = |base: &ServerProcess, mode, connections, threads| WrkLoad {
        mode,
        base_url: base.url(),
        threads,
        connections,
    };
    let on = |base: &ServerProcess, mode| Probe::Wrk(load(base, mode, CONNECTIONS, THREADS));
    let read_ref = (
        "ref: read",
        Probe::Pg(Workload::Script(scripts.join("read.sql"))),
    );
    let read_no_audit_ref = (
        "ref: read without audit",
        Probe::Pg(Workload::Script(scripts.join("read_no_audit.sql"))),
    );
    let select_only_ref = (
        "ref: select-only",
        Probe::Pg(Workload::Builtin("select-only")),
    );
    let write_ref = (
        "ref: write",
        Probe::Pg(Workload::Script(scripts.join("write.sql"))),
    );

    // a short warm-up so the first step does not pay for cold caches
    bench
        .measure_once("warm-up", &on(&server, "read"), Duration::from_secs(5))
        .await?;
    let wanted = selected_groups()?;
    let wanted = |group: &str| wanted.as_ref().is_none_or(|list| list.contains(&group));
    if wanted("reads") {
        bench
            .bracketed(
                &[
                    ("reads", on(&server, "read")),
                    ("reads, auth cache off", on(&uncached, "read")),
                ],
                &[read_ref, read_no_audit_ref, select_only_ref],
            )
            .await?;
    }
    if wanted("writes") {
        bench
            .bracketed(&[("writes", on(&server, "write"))], &[write_ref])
            .await?;
    }
    if wanted("lookup-self") {
        bench
            .bracketed(
                &[
                    ("mount info", on(&server, "mount-info")),
                    ("lookup-self", on(&server, "lookup-self")),
                ],
                &[("healthz", on(&server, "healthz"))],
            )
            .await?;
    }
    if wanted("logins") {
        bench
            .unbracketed("logins", &[load(&server, "login", CONNECTIONS, THREADS)])
            .await?;
    }
    if wanted("flood") {
        bench
            .unbracketed(
                "reads during a login flood",
                &[
                    load(&server, "read", CONNECTIONS / 2, 1),
                    load(&server, "login", CONNECTIONS / 2, 1),
                ],
            )
            .await?;
    }

    let peak_rss_mib = rss.peak_mib();
    if profile::requested() {
        let pid = server.pid().context("server pid")?;
        profile_passes(
            &bench,
            pid,
            &[
                on(&server, "read"),
                on(&server, "write"),
                on(&server, "mount-info"),
            ],
            &work,
        )
        .await?;
    }
    // The servers log at warn: anything there explains errors in the steps.
    for (name, process) in [("server", &server), ("server, auth cache off", &uncached)] {
        let log = process.stderr();
        if !log.trim().is_empty() {
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!("bench: last lines the {name} logged:");
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
        }
    }
    drop(rss);
    server.stop().await?;
    uncached.stop().await?;
    let _ = std::fs::remove_dir_all(&work);

    let context = report::Context {
        load_average_at_start: load_average,
        cores,
        step_secs: duration.as_secs(),
        seeding_secs: seeding.as_secs(),
        total_secs: started.elapsed().as_secs(),
        server_binary: binary.display().to_string(),
        peak_rss_mib,
    };
    let written = report::write(
        &repo_root().join("bench/results"),
        &context,
        bench.records(),
    )?;
    println!("{}", written.summary);
    eprintln!("bench: wrote {}", written.files.join(", "));
    if bench.any_discarded() {
        bail!("some steps were discarded: their references moved more than 10 % (the machine was not quiet); see the report");
    }
    Ok(())
}

/// Runs each load again, unmeasured, with perf sampling the server: flame graphs and the
/// hottest frames go to bench/results/profile-<stamp>-<mode>.{svg,txt}.
async fn profile_passes(bench: &Bench, pid: u32, loads: &[Probe], work: &Path) -> Result<()> {
    let dir = repo_root().join("bench/results");
    std::fs::create_dir_all(&dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    for probe in loads {
        let Probe::Wrk(load) = probe else { continue };
        let recording = profile::Recording::start(pid, &work.join("perf.data")).await?;
        let name = format!("profile: {}", load.mode);
        bench
            .measure_once(&name, probe, Duration::from_secs(15))
            .await?;
        let stem = dir.join(format!("profile-{stamp}-{}", load.mode));
        let text = recording.finish(&stem, &name).await?;
        eprintln!("{text}");
        eprintln!("bench: wrote {}.svg and .txt", stem.display());
    }
    Ok(())
}

/// `confmgr-server init`; answers the root token it prints.
fn init(binary: &Path, url: &str, key: &Path) -> Result<String> {
    let init = std::process::Command::new(binary)
        .args(["init", "--database-url", url, "--root-key-file"])
        .arg(key)
        .output()
        .context("confmgr-server init")?;
    let stdout = String::from_utf8_lossy(&init.stdout);
    stdout
        .split_whitespace()
        .find(|word| word.starts_with("cmt."))
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "init printed no token: {}",
                String::from_utf8_lossy(&init.stderr)
            )
        })
}

/// The pgbench scripts' own rows, so that they never touch what the server reads: a token
/// row per client whose digest is that of `bench-ref-<i>`, with client i's policy, and a
/// copy of every seeded secret (metadata and sealed versions) under `ref/`.
async fn reference_rows(url: &str) -> Result<()> {
    let pool = confmgr_testkit::connect(url).await?;
    sqlx::query(
        "insert into tokens (digest, accessor, display_name, policies, created_at, issuer, ttl, bound_cidrs, meta)
         select sha256(convert_to('bench-ref-' || n, 'UTF8')), 'bench-ref-' || n, 'bench', '[\"bench-c' || n || '\"]', 0, 'confmgr', 0, '[]', '{}'
         from generate_series(0, $1 - 1) as n",
    )
    .bind(CLIENTS as i64)
    .execute(&pool)
    .await
    .context("inserting the pgbench reference tokens")?;
    let copies = [
        "insert into kv_secrets (mount, path, current_version, oldest_version, max_versions, cas_required, delete_version_after, custom_metadata, created_at, updated_at)
         select mount, 'ref/' || path, current_version, oldest_version, max_versions, cas_required, delete_version_after, custom_metadata, created_at, updated_at
         from kv_secrets where path like 'bench/%'",
        "insert into kv_versions (mount, path, version, created_at, deletion_time, destroyed, format, term, dek_nonce, wrapped_dek, nonce, ciphertext)
         select mount, 'ref/' || path, version, created_at, deletion_time, destroyed, format, term, dek_nonce, wrapped_dek, nonce, ciphertext
         from kv_versions where path like 'bench/%'",
        "analyze",
    ];
    for statement in copies {
        sqlx::query(statement)
            .execute(&pool)
            .await
            .with_context(|| format!("copying the seeded secrets for pgbench: {statement}"))?;
    }
    pool.close().await;
    Ok(())
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
