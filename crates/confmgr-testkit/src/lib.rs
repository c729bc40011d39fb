//! Test harness: a throwaway PostgreSQL that accepts only TLS with a client
//! certificate (DESIGN.md 8).
//!
//! One server per test process, found in this order:
//! 1. `CONFMGR_TEST_DATABASE_URL`, used as is (a superuser URL that may
//!    `CREATE DATABASE`);
//! 2. a container started through the `testcontainers` crate when a Docker-API engine
//!    answers on `DOCKER_HOST` (podman's socket works), running our image-agnostic start
//!    script (`compose/postgres/start.sh`) on `CONFMGR_TEST_POSTGRES_IMAGE`
//!    (`postgres:16-bookworm` by default); `CONFMGR_TEST_CONTAINERS=auto|always|never`;
//! 3. a cluster from local PostgreSQL binaries on a free port;
//! 4. otherwise an error that says how to get one of these.
//!
//! Each test takes its own database with [`TestPostgres::fresh_database`],
//! so tests never see each other's rows and need no cleanup.
//!
//! A test that must stop and restart PostgreSQL takes a cluster of its own
//! with [`TestPostgres::private`] (local binaries only).

mod account;
mod certs;
mod conn;
mod docker;
mod local;
mod private;
mod server;
mod urls;
mod watchdog;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::OnceCell;

pub use certs::CertPaths;
pub use conn::connect;
/// Where the PostgreSQL server programs (and pgbench) are, for tools beyond the harness.
pub use local::find_bindir as postgres_bindir;
pub use private::PrivatePostgres;
pub use server::{free_port, ServerProcess};

/// Environment variable naming an existing server to use instead of starting
/// one.
pub const DATABASE_URL_ENV: &str = "CONFMGR_TEST_DATABASE_URL";

/// The server every test in this process shares.
#[derive(Debug)]
pub struct TestPostgres {
    /// Superuser URL of a database to run `CREATE DATABASE` from.
    admin_url: String,
    certs: CertPaths,
    /// Keeps database names unique across runs against the same external
    /// server, where a pid alone may repeat.
    started_at: u64,
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    External,
    Docker,
    Local,
}

/// What a backend hands back once its server accepts mTLS connections.
pub(crate) struct Started {
    pub admin_url: String,
    pub certs: CertPaths,
}

// The outcome is cached, failure included, so that a missing PostgreSQL
// costs one attempt per process rather than one per test.
static SHARED: OnceCell<std::result::Result<TestPostgres, String>> = OnceCell::const_new();
static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

impl TestPostgres {
    /// The process-wide server, started on first call.
    pub async fn shared() -> Result<&'static TestPostgres> {
        SHARED
            .get_or_init(|| async { Self::start().await.map_err(|err| format!("{err:#}")) })
            .await
            .as_ref()
            .map_err(|msg| anyhow!("no test PostgreSQL: {msg}"))
    }

    /// Creates a new empty database and returns its URL:
    /// `postgres://confmgr@localhost:PORT/DB?sslmode=verify-full&sslrootcert=…&sslcert=…&sslkey=…`.
    pub async fn fresh_database(&self) -> Result<String> {
        let n = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "confmgr_test_{}_{}_{n}",
            std::process::id(),
            self.started_at
        );
        conn::create_database(&self.admin_url, &name).await?;
        urls::with_database(&self.admin_url, &name)
    }

    /// `url` without `sslcert`/`sslkey`: a server set up by this harness
    /// must refuse it.
    pub fn without_client_cert(url: &str) -> String {
        urls::without_client_cert(url)
    }

    /// The certificate files. With `CONFMGR_TEST_DATABASE_URL` these are the
    /// files that URL names, and the server paths are empty.
    pub fn certs(&self) -> &CertPaths {
        &self.certs
    }

    async fn start() -> Result<Self> {
        let begin = Instant::now();
        let started_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();

        let (backend, started) = match std::env::var(DATABASE_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => (Backend::External, external(url).await?),
            _ => {
                let docker_answers = tokio::task::spawn_blocking(docker::available)
                    .await
                    .context("docker probe task")?;
                if docker_answers {
                    (Backend::Docker, docker::start().await?)
                } else if let Some(bindir) = local::find_bindir() {
                    (Backend::Local, local::start(bindir).await?)
                } else {
                    bail!("{}", no_postgres_help());
                }
            }
        };
        tracing::info!(?backend, elapsed = ?begin.elapsed(), "test PostgreSQL ready");
        Ok(Self {
            admin_url: started.admin_url,
            certs: started.certs,
            started_at,
        })
    }
}

async fn external(url: String) -> Result<Started> {
    let certs = urls::cert_paths_from_url(&url)
        .with_context(|| format!("{DATABASE_URL_ENV} is not a usable URL"))?;
    conn::wait_ready(&url, Duration::from_secs(10))
        .await
        .with_context(|| format!("connecting with {DATABASE_URL_ENV}"))?;
    Ok(Started {
        admin_url: url,
        certs,
    })
}

fn no_postgres_help() -> String {
    format!(
        "these tests need PostgreSQL and none was found. Any one of these works:\n\
         - install the server binaries (Debian/Ubuntu: `apt-get install -y postgresql`; \
           they land in /usr/lib/postgresql/<version>/bin, which is searched, as are PATH \
           and `pg_config --bindir`);\n\
         - point DOCKER_HOST at a Docker-API engine (Docker, or podman's socket); it is used \
           when it answers, {containers}=never turns it off (the image is {image}, or {image_env});\n\
         - set {DATABASE_URL_ENV} to a superuser URL that may CREATE DATABASE, e.g. \
           postgres://confmgr@localhost:5432/postgres?sslmode=verify-full&sslrootcert=ca.crt\
           &sslcert=client.crt&sslkey=client.key",
        image = docker::DEFAULT_IMAGE,
        image_env = docker::IMAGE_ENV,
        containers = docker::CONTAINERS_ENV,
    )
}
