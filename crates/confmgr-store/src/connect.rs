use crate::{StoreError, StoreTx};
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use sqlx::Executor;
use std::time::Duration;

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

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(options.acquire_timeout);
        let pool = match backend {
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
        }
        .connect(&sqlite_create_if_missing(url))
        .await?;
        Ok(Self { pool, backend })
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

    /// A transaction for reads.
    pub async fn begin(&self) -> Result<StoreTx, StoreError> {
        Ok(StoreTx::new(self.pool.begin().await?, self.backend))
    }

    /// A transaction that will write. On SQLite it takes the write lock up front
    /// (`begin immediate`), so it waits out another writer (busy timeout) instead of failing
    /// when a read transaction cannot be upgraded.
    pub async fn begin_write(&self) -> Result<StoreTx, StoreError> {
        let tx = match self.backend {
            Backend::Postgres => self.pool.begin().await?,
            Backend::Sqlite => self.pool.begin_with("begin immediate").await?,
        };
        Ok(StoreTx::new(tx, self.backend))
    }

    /// A trivial round trip, for readiness checks.
    /// (open connections, idle ones) of the pool, for metrics.
    pub fn pool_connections(&self) -> (u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        (self.pool.size(), idle)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn sqlite_create_if_missing(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode=rwc")
    } else {
        url.to_owned()
    }
}
