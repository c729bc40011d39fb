use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached or did not answer in time: the caller answers 503.
    #[error("storage unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database is already initialized")]
    AlreadyInitialized,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("invalid database URL: {0}")]
    Url(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(error),
            // SQLite's "database is locked" (SQLITE_BUSY and its extended codes): another
            // writer held the lock past the busy timeout. Busy, not broken.
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .is_some_and(|c| c == "5" || c.parse::<u32>().is_ok_and(|n| n & 0xff == 5)) =>
            {
                Self::Unavailable(error)
            }
            other => Self::Database(other),
        }
    }
}
