//! The cluster as a `postgres:16` container, driven by the docker CLI.
//!
//! The certificates are copied in with `docker cp` rather than bind-mounted,
//! so host file ownership and modes do not matter (rootless engines, Docker
//! Desktop file sharing). A wrapper script inside the container gives the
//! server key to the image's `postgres` user and writes the hba file before
//! handing over to the image's entrypoint.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};

use crate::certs::{self, DB_USER};
use crate::{conn, urls, watchdog, Started};

const IMAGE: &str = "postgres:16";
/// The container initialises its cluster before it listens on TCP.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs inside the container as root. The `local` rule serves only the
/// entrypoint's own setup over the container-internal socket; from outside,
/// connections arrive from the bridge gateway rather than 127.0.0.1, so the
/// hostssl rule admits any address, while the port is published on the
/// host's 127.0.0.1 only.
const WRAPPER: &str = r#"set -e
chown -R postgres:postgres /certs
chmod 600 /certs/server.key
printf '%s\n' 'local all all trust' 'hostssl all all all cert clientcert=verify-full' > /certs/pg_hba.conf
chown postgres:postgres /certs/pg_hba.conf
exec docker-entrypoint.sh postgres \
  -c listen_addresses='*' \
  -c hba_file=/certs/pg_hba.conf \
  -c ssl=on \
  -c ssl_cert_file=/certs/server.crt \
  -c ssl_key_file=/certs/server.key \
  -c ssl_ca_file=/certs/ca.crt \
  -c ssl_min_protocol_version=TLSv1.2 \
  -c fsync=off \
  -c max_connections=200
"#;

/// Whether a Docker engine answers `docker info` within a few seconds.
pub(crate) fn available() -> bool {
    let Ok(mut child) = Command::new("docker")
        .arg("info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    // A CLI pointed at a dead remote engine can hang for a long time.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

pub(crate) async fn start() -> Result<Started> {
    // Process spawning is blocking; keep it off the test's runtime threads.
    let (started, name) = tokio::task::spawn_blocking(prepare)
        .await
        .context("container setup task")??;
    if let Err(err) = conn::wait_ready(&started.admin_url, READY_TIMEOUT).await {
        let logs = docker(&["logs", "--tail", "30", &name]).unwrap_or_else(|e| format!("{e:#}"));
        return Err(anyhow!("{err:#}\n--- docker logs {name} ---\n{logs}"));
    }
    Ok(started)
}

fn prepare() -> Result<(Started, String)> {
    let dir = tempfile::Builder::new()
        .prefix("confmgr-testpg-")
        // Private: it holds the client key (and, locally, the socket).
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("creating temp dir for the test certificates")?
        // The watchdog removes it; a TempDir in a static would never drop.
        .keep();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!("confmgr-testpg-{}-{nanos}", std::process::id());

    // Armed before the container exists so a failure half way still cleans up.
    watchdog::spawn(&[
        ["docker", "rm", "-f", "-v", &name]
            .map(String::from)
            .to_vec(),
        vec![
            "rm".into(),
            "-rf".into(),
            dir.to_string_lossy().into_owned(),
        ],
    ])?;

    let certs_dir = dir.join("certs");
    std::fs::create_dir(&certs_dir).with_context(|| format!("creating {}", certs_dir.display()))?;
    let certs = certs::generate(&certs_dir)?;

    docker(&[
        "create",
        "--name",
        &name,
        "--publish",
        "127.0.0.1::5432",
        "--env",
        &format!("POSTGRES_USER={DB_USER}"),
        // Required by the image to start without a password; hba_file above
        // replaces the hba the entrypoint writes.
        "--env",
        "POSTGRES_HOST_AUTH_METHOD=trust",
        "--entrypoint",
        "sh",
        IMAGE,
        "-c",
        WRAPPER,
    ])?;
    let source = format!("{}/.", certs_dir.display());
    docker(&["cp", &source, &format!("{name}:/certs")])?;
    docker(&["start", &name])?;
    let mapping = docker(&["port", &name, "5432/tcp"])?;
    let port: u16 = mapping
        .lines()
        .find_map(|line| line.trim().rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .with_context(|| format!("unexpected `docker port` output: {mapping:?}"))?;

    let admin_url = urls::mtls_url(port, "postgres", &certs);
    Ok((Started { admin_url, certs }, name))
}

/// Runs `docker ARGS` and returns its stdout.
fn docker(args: &[&str]) -> Result<String> {
    let what = format!("docker {}", args.first().copied().unwrap_or_default());
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
