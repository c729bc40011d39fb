//! A cluster one test owns: it can stop it and start it again on the same
//! port and data directory, to see how a server rides out a database outage.
//!
//! Local PostgreSQL binaries only: with a container or an external URL the
//! harness cannot stop and restart the server under a running test.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::certs::CertPaths;
use crate::local::{self, Bound, Cluster};
use crate::{conn, urls, TestPostgres, DATABASE_URL_ENV};

const READY_TIMEOUT: Duration = Duration::from_secs(30);

static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A throwaway cluster owned by one test; stopped and deleted on drop (also
/// when the test panics), and by the watchdog if the process dies first.
#[derive(Debug)]
pub struct PrivatePostgres {
    cluster: Cluster,
    port: u16,
    admin_url: String,
    running: bool,
}

impl TestPostgres {
    /// A cluster of the caller's own, started and accepting mTLS connections,
    /// that it may [`PrivatePostgres::stop`] and [`PrivatePostgres::start`].
    ///
    /// Needs the local PostgreSQL binaries even where the shared cluster
    /// comes from Docker or `CONFMGR_TEST_DATABASE_URL`; fails (never skips)
    /// without them.
    pub async fn private() -> Result<PrivatePostgres> {
        let Some(bindir) = local::find_bindir() else {
            bail!("{}", no_local_binaries_help());
        };
        let cluster = tokio::task::spawn_blocking(move || -> Result<(Cluster, u16)> {
            let cluster = Cluster::init(&bindir)?;
            let port = cluster.start_on_free_port()?;
            Ok((cluster, port))
        })
        .await
        .context("private cluster setup task")??;
        let (cluster, port) = cluster;
        let admin_url = urls::mtls_url(port, "postgres", &cluster.certs);
        let private = PrivatePostgres {
            cluster,
            port,
            admin_url,
            running: true,
        };
        private.wait_ready().await?;
        Ok(private)
    }
}

impl PrivatePostgres {
    /// Creates a new empty database and returns its mTLS URL, as
    /// [`TestPostgres::fresh_database`] does.
    pub async fn fresh_database(&self) -> Result<String> {
        let n = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
        let name = format!("confmgr_private_{n}");
        conn::create_database(&self.admin_url, &name).await?;
        urls::with_database(&self.admin_url, &name)
    }

    /// `pg_ctl stop -m fast`: every client connection is closed, open
    /// transactions roll back, and nothing listens on the port until
    /// [`Self::start`]. Returns once the server is down.
    pub async fn stop(&mut self) -> Result<()> {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.stop("fast"))
            .await
            .context("pg_ctl stop task")??;
        self.running = false;
        Ok(())
    }

    /// `pg_ctl stop -m immediate`: the server is killed at once (clients see
    /// their connections reset, nothing is rolled back cleanly), as in a crash
    /// or a lost host. Returns once the server is down.
    pub async fn stop_immediate(&mut self) -> Result<()> {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.stop("immediate"))
            .await
            .context("pg_ctl stop task")??;
        self.running = false;
        Ok(())
    }

    /// The postmaster's process id (the first line of `postmaster.pid`), to
    /// freeze the server with SIGSTOP in a test.
    pub fn postmaster_pid(&self) -> Result<u32> {
        let file = self.cluster.data.join("postmaster.pid");
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        text.lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .with_context(|| format!("no pid in {}", file.display()))
    }

    /// `pg_ctl start` on the same port and data directory; returns once a
    /// real mTLS connection succeeds.
    pub async fn start(&mut self) -> Result<()> {
        let (cluster, port) = (self.cluster.clone(), self.port);
        let bound = tokio::task::spawn_blocking(move || cluster.start_on(port))
            .await
            .context("pg_ctl start task")??;
        if bound == Bound::PortTaken {
            bail!(
                "pg_ctl start: port {port} was taken by another process while the cluster was \
                 stopped\n{}",
                self.cluster.log_tail()
            );
        }
        self.running = true;
        self.wait_ready().await
    }

    /// Makes `role`, which logs in to `database` with `password` over TLS and no client
    /// certificate (`hostssl … scram-sha-256`, put before the certificate-only rule), as
    /// ConfMgr does on Amazon RDS with an IAM auth token. Returns once such a login works,
    /// with the role's URL: `postgres://ROLE@localhost:PORT/DATABASE?sslmode=verify-full&sslrootcert=CA`
    /// (no password, no client certificate). The admin URL (`fresh_database`'s) still works
    /// for `ALTER ROLE … PASSWORD`.
    pub async fn password_role(
        &self,
        role: &str,
        password: &str,
        database: &str,
    ) -> Result<String> {
        if role.is_empty() || !role.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            bail!("password_role: {role:?} is not a plain role name ([a-z_]+)");
        }
        let mut admin = conn::connect_once(&self.admin_url).await?;
        let sql = format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{}'",
            password.replace('\'', "''")
        );
        sqlx::Executor::execute(&mut admin, sqlx::raw_sql(&sql))
            .await
            .with_context(|| format!("CREATE ROLE {role}"))?;
        let hba = self.cluster.data.join("pg_hba.conf");
        let rules =
            std::fs::read_to_string(&hba).with_context(|| format!("reading {}", hba.display()))?;
        // Rewritten in place, so the file keeps its owner (the server's account).
        std::fs::write(
            &hba,
            format!("hostssl all {role} 127.0.0.1/32 scram-sha-256\n{rules}"),
        )
        .with_context(|| format!("writing {}", hba.display()))?;
        sqlx::Executor::execute(&mut admin, "select pg_reload_conf()")
            .await
            .context("pg_reload_conf")?;
        sqlx::Connection::close(admin)
            .await
            .context("closing admin connection")?;

        let url = format!(
            "postgres://{role}@localhost:{}/{database}?sslmode=verify-full&sslrootcert={}",
            self.port,
            self.cluster.certs.ca_cert.display()
        );
        // The reload only signals the postmaster: wait until the new rule admits a login.
        let options = std::str::FromStr::from_str(&url)
            .map(|o: sqlx::postgres::PgConnectOptions| o.password(password))
            .context("parsing the role's URL")?;
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        loop {
            match <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await {
                Ok(conn) => {
                    let _ = sqlx::Connection::close(conn).await;
                    return Ok(url);
                }
                Err(err) if std::time::Instant::now() >= deadline => {
                    bail!(
                        "{role} cannot log in by password after the reload: {err}\n{}",
                        self.cluster.log_tail()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Whether the server was left running by the last start or stop.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The port, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn certs(&self) -> &CertPaths {
        &self.cluster.certs
    }

    /// The server's log file (kept until drop), for failure messages.
    pub fn log_path(&self) -> PathBuf {
        self.cluster.log.clone()
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        self.cluster.log_tail()
    }

    async fn wait_ready(&self) -> Result<()> {
        conn::wait_ready(&self.admin_url, READY_TIMEOUT)
            .await
            .map_err(|err| anyhow!("{err:#}\n{}", self.cluster.log_tail()))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Blocking, but short: `immediate` does not wait for clients.
        for argv in self.cluster.cleanup_argvs() {
            let Some((program, args)) = argv.split_first() else {
                continue;
            };
            let _ = std::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn no_local_binaries_help() -> String {
    format!(
        "this test needs a PostgreSQL of its own that it can stop and start again (the \
         database outage test does), and only the local PostgreSQL binaries give one: neither \
         a server named by {DATABASE_URL_ENV} nor a Docker container will do, whichever the \
         other tests use. No initdb/pg_ctl/postgres was found; install them (Debian/Ubuntu: \
         `apt-get install -y postgresql`; they land in /usr/lib/postgresql/<version>/bin, \
         which is searched, as are PATH and `pg_config --bindir`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    /// Data survives a stop and start on the same port, nothing answers while
    /// stopped, and drop removes the cluster's directory.
    #[tokio::test]
    async fn stops_starts_on_the_same_port_and_cleans_up() -> Result<()> {
        let mut pg = TestPostgres::private().await?;
        let url = pg.fresh_database().await?;
        let mut conn = conn::connect_once(&url).await?;
        sqlx::query("create table kept (id int)")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let port = pg.port();

        pg.stop().await?;
        assert!(!pg.is_running());
        assert!(
            conn::connect_once(&url).await.is_err(),
            "a stopped cluster accepted a connection"
        );

        pg.start().await?;
        assert_eq!(pg.port(), port);
        let mut conn = conn::connect_once(&url).await?;
        let kept: Option<String> = sqlx::query_scalar("select to_regclass('kept')::text")
            .fetch_one(&mut conn)
            .await?;
        assert_eq!(kept.as_deref(), Some("kept"));
        conn.close().await?;

        let dir = pg.cluster.dir.clone();
        drop(pg);
        assert!(!dir.exists(), "{} left behind", dir.display());
        Ok(())
    }
}
