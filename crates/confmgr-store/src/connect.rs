use crate::circuit::{Circuit, CircuitStats, SUSPECT_AFTER};
use crate::login::{keep_fresh, with_password, DynamicLogin, Password};
use crate::{StoreError, StoreTx};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool};
use sqlx::{Connection, Executor};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A pooled connection that sat idle at least this long is pinged before it is handed out,
/// so that one which died meanwhile (a database restart, a dropped TCP session) is replaced
/// rather than failed on. sqlx's default pings before every acquire: under load that is a
/// round trip per request (two for a write) on connections that were in use a millisecond
/// ago. A connection that dies while in use fails its statement either way (503).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(StoreError::Url(
                "must start with postgres://, postgresql:// or sqlite://".into(),
            ))
        }
    }
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// Bounded so a database outage turns into fast 503s instead of hung requests.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Connections in use and idle, and callers waiting for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub in_use: u32,
    pub idle: u32,
    pub waiting: u32,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Callers waiting for a pooled connection right now (sqlx does not count them).
    waiting: Arc<AtomicU32>,
    /// PostgreSQL only: fail at once while the database refuses connections.
    circuit: Option<Arc<Circuit>>,
}

/// Counts one caller as waiting for a connection until dropped, so a cancelled or failed
/// acquire is uncounted too.
struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    fn new(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Store {
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        Self::open(url, options, None).await
    }

    /// PostgreSQL logging in with a password that changes (an RDS IAM auth token): `first`
    /// opens the first connections, then the pool takes a new password from `login`'s source
    /// every refresh interval, for the connections it opens from then on (login.rs). `url`
    /// has no password.
    pub async fn connect_with_login(
        url: &str,
        options: &StoreOptions,
        first: &Password,
        login: DynamicLogin,
    ) -> Result<Self, StoreError> {
        if Backend::from_url(url)? != Backend::Postgres {
            return Err(StoreError::Url(
                "a changing password needs a postgres:// URL".into(),
            ));
        }
        Self::open(url, options, Some((first, login))).await
    }

    async fn open(
        url: &str,
        options: &StoreOptions,
        login: Option<(&Password, DynamicLogin)>,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite {
            create_private_sqlite_file(url);
        }
        let pool_options = AnyPoolOptions::new()
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            });
        let pool_options = match backend {
            Backend::Postgres => pool_options.max_connections(options.max_connections),
            // One writer at a time is what SQLite can do anyway; a single connection avoids
            // SQLITE_BUSY when two deferred transactions both try to upgrade to writing.
            Backend::Sqlite => pool_options.max_connections(1).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("pragma journal_mode = wal; pragma foreign_keys = on; pragma busy_timeout = 5000")
                        .await
                        .map(|_| ())
                })
            }),
        };
        let pool = match login {
            None => pool_options.connect(&sqlite_create_if_missing(url)).await?,
            Some((first, login)) => {
                let base = AnyConnectOptions::from_str(url)?;
                let pool = pool_options
                    .connect_with(with_password(&base, first)?)
                    .await?;
                tokio::spawn(keep_fresh(pool.clone(), base, login));
                pool
            }
        };
        // The circuit's probes connect with the pool's current options, so they log in with
        // the current password too.
        let circuit = (backend == Backend::Postgres)
            .then(|| Circuit::new(pool.clone(), options.acquire_timeout));
        Ok(Self {
            pool,
            backend,
            waiting: Arc::default(),
            circuit,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// A pooled connection. On PostgreSQL, while the circuit is open (the database refused
    /// a connection and none has succeeded since) it fails at once, and a caller already
    /// waiting fails as soon as the circuit opens; one that waits long starts a probe.
    async fn acquire(&self) -> Result<PoolConnection<Any>, StoreError> {
        let Some(circuit) = &self.circuit else {
            let waiting = Waiting::new(&self.waiting);
            let conn = self.pool.acquire().await?;
            drop(waiting);
            return Ok(conn);
        };
        if circuit.is_open() {
            return Err(circuit_open());
        }
        let waiting = Waiting::new(&self.waiting);
        let acquire = self.pool.acquire();
        tokio::pin!(acquire);
        let suspect = tokio::time::sleep(SUSPECT_AFTER);
        tokio::pin!(suspect);
        let mut suspected = false;
        let conn = loop {
            tokio::select! {
                conn = &mut acquire => break conn.map_err(StoreError::from),
                () = &mut suspect, if !suspected => {
                    suspected = true;
                    circuit.suspect();
                }
                () = circuit.opened() => break Err(circuit_open()),
            }
        };
        drop(waiting);
        conn
    }

    /// A transaction for reads.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn begin(&self) -> Result<StoreTx, StoreError> {
        let conn = self.acquire().await?;
        let tx = sqlx::Transaction::begin(conn, None).await?;
        Ok(StoreTx::new(tx, self.backend, false))
    }

    /// Reads in autocommit mode: each statement sees the latest committed data, with no
    /// `begin`/`commit` round trips. For reads whose statements need no common snapshot.
    pub async fn reads(&self) -> Result<StoreTx, StoreError> {
        self.autocommit().await
    }

    /// Autocommit mode: each statement commits on its own, with no `begin`/`commit` round
    /// trips. For reads, and for a change that is one statement.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn autocommit(&self) -> Result<StoreTx, StoreError> {
        let conn = self.acquire().await?;
        Ok(StoreTx::autocommit(conn, self.backend))
    }

    /// A transaction that will write. On SQLite it takes the write lock up front
    /// (`begin immediate`), so it waits out another writer (busy timeout) instead of failing
    /// when a read transaction cannot be upgraded. Its commit failing because the
    /// connection was lost is [`StoreError::OutcomeUnknown`]: the change may have been made.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn begin_write(&self) -> Result<StoreTx, StoreError> {
        let conn = self.acquire().await?;
        let statement = match self.backend {
            Backend::Postgres => None,
            Backend::Sqlite => Some("begin immediate".into()),
        };
        let tx = sqlx::Transaction::begin(conn, statement).await?;
        Ok(StoreTx::new(tx, self.backend, true))
    }

    /// Whether the database refuses connections right now (PostgreSQL's circuit is open),
    /// and how often it did, for metrics. `None` on SQLite.
    pub fn circuit_stats(&self) -> Option<CircuitStats> {
        self.circuit.as_ref().map(|circuit| circuit.stats())
    }

    /// The pool's connections and callers, for metrics.
    pub fn pool_stats(&self) -> PoolStats {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        let open = self.pool.size();
        PoolStats {
            in_use: open.saturating_sub(idle),
            idle,
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// A trivial round trip, for readiness checks.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.acquire().await?;
        sqlx::query("select 1").execute(&mut *conn).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The error of a call made while the circuit is open.
fn circuit_open() -> StoreError {
    StoreError::Unavailable(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "the database refused connections; failing at once until a connection succeeds",
    )))
}

/// A new SQLite database file is created 0600 before SQLite opens it (an empty file is an
/// empty database), so it and its WAL files, which SQLite creates with the same mode, hold
/// token digests and ciphertext for the server's user only. An existing file is left as
/// the operator set it.
fn create_private_sqlite_file(url: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(':') || url.contains("mode=memory") {
        return;
    }
    // An existing file stays as it is; a missing directory or a permission problem is left
    // for SQLite to report in its own words.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

fn sqlite_create_if_missing(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode=rwc")
    } else {
        url.to_owned()
    }
}
