//! A throwaway cluster from locally installed PostgreSQL binaries.
//!
//! Layout of the temp dir (owned by the server's account):
//! `certs/` (PEM files), `data/` (the cluster), `postgres.log`, and the
//! unix socket, which no hba rule admits: all admin goes over mTLS too.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::account::{is_executable, which, ServerAccount};
use crate::certs::{self, CertPaths, DB_USER};
use crate::{conn, urls, watchdog, Started};

/// How many free ports to try when another process grabs ours between
/// picking it and the postmaster binding it.
const PORT_ATTEMPTS: usize = 5;
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The directory holding `initdb`, `pg_ctl` and `postgres`: on PATH, then
/// `pg_config --bindir`, then the highest `/usr/lib/postgresql/<v>/bin`
/// (Debian and Ubuntu install there without touching PATH).
pub fn find_bindir() -> Option<PathBuf> {
    let on_path = which("initdb")
        .and_then(|initdb| initdb.canonicalize().ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf));
    let from_pg_config = || {
        let out = Command::new("pg_config").arg("--bindir").output().ok()?;
        out.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    };
    on_path
        .filter(|dir| is_complete_bindir(dir))
        .or_else(|| from_pg_config().filter(|dir| is_complete_bindir(dir)))
        .or_else(debian_bindir)
}

fn is_complete_bindir(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|bin| is_executable(&dir.join(bin)))
}

fn debian_bindir() -> Option<PathBuf> {
    let entries = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // "16" and old-style "9.6" both compare as numeric tuples.
            let version: Vec<u32> = name
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = e.path().join("bin");
            is_complete_bindir(&bin).then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

pub(crate) async fn start(bindir: PathBuf) -> Result<Started> {
    // Process spawning is blocking; keep it off the test's runtime threads.
    let prepared = tokio::task::spawn_blocking(move || {
        let cluster = Cluster::init(&bindir)?;
        let port = cluster.start_on_free_port()?;
        Ok::<_, anyhow::Error>(Prepared {
            started: Started {
                admin_url: urls::mtls_url(port, "postgres", &cluster.certs),
                certs: cluster.certs.clone(),
            },
            log: cluster.log.clone(),
        })
    })
    .await
    .context("cluster setup task")??;
    conn::wait_ready(&prepared.started.admin_url, READY_TIMEOUT)
        .await
        .map_err(|err| anyhow!("{err:#}\n{}", log_tail(&prepared.log)))?;
    Ok(prepared.started)
}

struct Prepared {
    started: Started,
    log: PathBuf,
}

/// An initialised cluster in its own temp dir, started or not.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub account: ServerAccount,
    pub pg_ctl: PathBuf,
    /// The temp dir holding everything below; removed by the watchdog (and,
    /// for a private cluster, on drop).
    pub dir: PathBuf,
    pub data: PathBuf,
    pub log: PathBuf,
    pub certs: CertPaths,
}

impl Cluster {
    /// Everything up to a cluster ready to start: temp dir, cleanup watchdog,
    /// certificates, initdb, config.
    pub fn init(bindir: &Path) -> Result<Self> {
        let account = ServerAccount::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("confmgr-testpg-")
            // Private: it holds the client key (and, locally, the socket).
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .context("creating temp dir for the test cluster")?
            // The watchdog removes it; a TempDir in a static would never drop.
            .keep();
        account.give(&dir)?;
        let data = dir.join("data");
        let log = dir.join("postgres.log");
        let pg_ctl = bindir.join("pg_ctl");
        let cluster = Self {
            account,
            pg_ctl,
            dir,
            data,
            log,
            certs: CertPaths::default(),
        };

        // Armed before anything is started so a failure half way still cleans up.
        watchdog::spawn(&cluster.cleanup_argvs())?;

        let certs_dir = cluster.dir.join("certs");
        std::fs::create_dir(&certs_dir)
            .with_context(|| format!("creating {}", certs_dir.display()))?;
        let certs = certs::generate(&certs_dir)?;
        // PostgreSQL wants its key 0600 *and* owned by the server's user.
        cluster.account.give(&certs.server_key)?;

        let mut initdb = cluster.account.command(&bindir.join("initdb"));
        initdb
            .current_dir(&cluster.dir)
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", DB_USER, "--auth=trust", "--no-sync"])
            // Without LANG, initdb would pick SQL_ASCII; tests want UTF-8.
            .args(["--encoding=UTF8", "--locale=C"]);
        run(&mut initdb, "initdb")?;

        write_config(&cluster.data, &cluster.dir, &certs)?;
        Ok(Self { certs, ..cluster })
    }

    /// The commands that stop the postmaster at once and delete the temp dir,
    /// each allowed to fail (nothing running, already removed).
    pub fn cleanup_argvs(&self) -> [Vec<String>; 2] {
        let mut stop = self.account.argv(&self.pg_ctl);
        stop.extend(
            ["-D", &path_str(&self.data), "stop", "-m", "immediate", "-w"].map(String::from),
        );
        [stop, vec!["rm".into(), "-rf".into(), path_str(&self.dir)]]
    }

    /// Starts the postmaster on a free port and returns the port. The port
    /// goes on the command line rather than into postgresql.conf so that a
    /// retry after losing a port race needs no config rewrite.
    pub fn start_on_free_port(&self) -> Result<u16> {
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            match self.start_on(port)? {
                Bound::Yes => return Ok(port),
                Bound::PortTaken => continue,
            }
        }
        bail!(
            "pg_ctl start: no free port after {PORT_ATTEMPTS} tries\n{}",
            log_tail(&self.log)
        )
    }

    /// `pg_ctl start` on `port`, waiting until the postmaster reports it is
    /// up (a real connection is the caller's to wait for).
    pub fn start_on(&self, port: u16) -> Result<Bound> {
        let mut cmd = self.account.command(&self.pg_ctl);
        cmd.current_dir(&self.dir)
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {port}"))
            .arg("start");
        let out = cmd.output().context("running pg_ctl start")?;
        if out.status.success() {
            return Ok(Bound::Yes);
        }
        let log_text = std::fs::read_to_string(&self.log).unwrap_or_default();
        if log_text.contains("could not bind") {
            return Ok(Bound::PortTaken);
        }
        bail!(
            "pg_ctl start failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            log_tail(&self.log)
        )
    }

    /// `pg_ctl stop -m MODE -w`: `fast` disconnects every client and rolls
    /// back open transactions, `immediate` kills the server outright.
    pub fn stop(&self, mode: &str) -> Result<()> {
        let mut cmd = self.account.command(&self.pg_ctl);
        cmd.current_dir(&self.dir)
            .arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", mode, "-w", "-t", "60"]);
        run(&mut cmd, "pg_ctl stop").map_err(|err| anyhow!("{err:#}\n{}", log_tail(&self.log)))
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

/// Whether `pg_ctl start` got its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    Yes,
    /// Another process holds it (the log says "could not bind").
    PortTaken,
}

fn write_config(data: &Path, dir: &Path, certs: &CertPaths) -> Result<()> {
    let conf_path = data.join("postgresql.conf");
    let mut conf = String::from("\n# confmgr-testkit (later settings win)\n");
    for (key, value) in [
        ("listen_addresses", "127.0.0.1".to_owned()),
        ("unix_socket_directories", path_str(dir)),
        ("ssl", "on".to_owned()),
        ("ssl_cert_file", path_str(&certs.server_cert)),
        ("ssl_key_file", path_str(&certs.server_key)),
        ("ssl_ca_file", path_str(&certs.ca_cert)),
        ("ssl_min_protocol_version", "TLSv1.2".to_owned()),
        // Durability is pointless for a cluster deleted at exit, except when a benchmark
        // must measure commits as production pays for them (CONFMGR_TESTKIT_DURABLE=1).
        ("fsync", if durable() { "on" } else { "off" }.to_owned()),
        ("max_connections", "200".to_owned()),
    ] {
        let _ = writeln!(conf, "{key} = '{}'", value.replace('\'', "''"));
    }
    // Appending keeps the file's owner (the server's account).
    OpenOptions::new()
        .append(true)
        .open(&conf_path)
        .and_then(|mut f| f.write_all(conf.as_bytes()))
        .with_context(|| format!("writing {}", conf_path.display()))?;

    // Only TLS with a verified client certificate whose CN is the user.
    let hba_path = data.join("pg_hba.conf");
    std::fs::write(
        &hba_path,
        "hostssl all all 127.0.0.1/32 cert clientcert=verify-full\n",
    )
    .with_context(|| format!("writing {}", hba_path.display()))
}

fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 for a port")?;
    Ok(listener.local_addr().context("local_addr")?.port())
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The last lines of the server log, for error messages.
fn log_tail(log: &Path) -> String {
    match std::fs::read_to_string(log) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            format!("--- tail of {} ---\n{}", log.display(), tail.join("\n"))
        }
        Err(err) => format!("(no server log at {}: {err})", log.display()),
    }
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn durable() -> bool {
    std::env::var("CONFMGR_TESTKIT_DURABLE").is_ok_and(|v| v == "1" || v == "true")
}
