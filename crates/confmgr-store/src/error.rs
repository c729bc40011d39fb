use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached or did not answer in time: the caller answers 503.
    #[error("storage unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The connection was lost after a write transaction's `commit` was sent: the change
    /// may or may not have been made. The caller must not report either.
    #[error("outcome unknown: the connection was lost while committing")]
    OutcomeUnknown(#[source] sqlx::Error),
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
    /// A PostgreSQL-only operation called on SQLite: a bug in the caller.
    #[error("{0} is not supported on SQLite")]
    NotOnSqlite(&'static str),
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
            // PostgreSQL going away under a query or refusing new sessions for a while.
            sqlx::Error::Database(ref db) if db.code().is_some_and(|c| is_outage_sqlstate(&c)) => {
                Self::Unavailable(error)
            }
            other => Self::Database(other),
        }
    }
}

impl StoreError {
    /// The error of a change sent in autocommit mode (it commits on its own): a connection
    /// lost before the whole answer came leaves it [`StoreError::OutcomeUnknown`].
    pub(crate) fn from_change(error: sqlx::Error) -> Self {
        match Self::from(error) {
            Self::Unavailable(source) => Self::OutcomeUnknown(source),
            other => other,
        }
    }
}

/// PostgreSQL SQLSTATEs that mean the server is (for now) not there rather than that the
/// request or the data is wrong: class 08 (connection exception) except `08P01` (protocol
/// violation: a bug, not an outage); `57P01` admin shutdown (`pg_ctl stop -m fast`
/// terminating sessions); `57P02` crash shutdown (another backend crashed); `57P03` cannot
/// connect now (starting up, shutting down, not yet accepting connections in recovery);
/// `53300` too many connections. SQLSTATEs are five characters; SQLite's numeric codes
/// never match.
fn is_outage_sqlstate(code: &str) -> bool {
    code.len() == 5
        && ((code.starts_with("08") && code != "08P01")
            || matches!(code, "57P01" | "57P02" | "57P03" | "53300"))
}

#[cfg(test)]
mod tests {
    use super::is_outage_sqlstate;

    #[test]
    fn outage_sqlstates() {
        for code in [
            "08006", "08001", "08004", "57P01", "57P02", "57P03", "53300",
        ] {
            assert!(is_outage_sqlstate(code), "{code}");
        }
        // Unique violation, cancel, serialization failure, SQLite busy and constraint codes.
        for code in ["23505", "57014", "40001", "08P01", "5", "517", "2067", "08"] {
            assert!(!is_outage_sqlstate(code), "{code}");
        }
    }
}
