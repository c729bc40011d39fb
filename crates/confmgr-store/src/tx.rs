use crate::{Backend, StoreError};
use confmgr_core::audit::AuditEvent;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Transaction};
use std::ops::{Deref, DerefMut};

/// What a `StoreTx` runs its statements on.
pub(crate) enum Handle {
    Tx(Transaction<'static, Any>),
    /// A pooled connection in autocommit mode, for reads that need no snapshot across
    /// statements and for changes that are one statement: it saves the `begin` and `commit`
    /// round trips.
    Autocommit(PoolConnection<Any>),
}

impl Deref for Handle {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Self::Tx(tx) => tx,
            Self::Autocommit(conn) => conn,
        }
    }
}

impl DerefMut for Handle {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Tx(tx) => tx,
            Self::Autocommit(conn) => conn,
        }
    }
}

/// One database transaction. Every change ConfMgr makes runs inside exactly one, so a
/// failed request leaves storage as it was. (`Store::reads` makes one in autocommit mode,
/// for reads only.)
pub struct StoreTx {
    pub(crate) tx: Handle,
    pub(crate) backend: Backend,
    /// Made by `Store::begin_write`: its commit may make a change.
    writes: bool,
    /// The audit event of the change, inserted by `commit` in this same transaction, so
    /// there is no change without its record (DESIGN.md section 5).
    audit: Option<AuditEvent>,
}

impl StoreTx {
    pub(crate) fn new(tx: Transaction<'static, Any>, backend: Backend, writes: bool) -> Self {
        Self {
            tx: Handle::Tx(tx),
            backend,
            writes,
            audit: None,
        }
    }

    pub(crate) fn autocommit(conn: PoolConnection<Any>, backend: Backend) -> Self {
        Self {
            tx: Handle::Autocommit(conn),
            backend,
            writes: false,
            audit: None,
        }
    }

    pub fn attach_audit(&mut self, event: AuditEvent) {
        self.audit = Some(event);
    }

    /// Commits. A write transaction whose connection is lost after its `commit` was sent
    /// fails with [`StoreError::OutcomeUnknown`]: the database may have committed it (and
    /// its audit event) or not, and nothing here can tell which.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if let Some(event) = self.audit.take() {
            self.insert_audit_event(&event).await?;
        }
        let unknown_if_lost = self.writes && self.backend == Backend::Postgres;
        match self.tx {
            Handle::Tx(tx) => {
                if let Err(error) = tx.commit().await {
                    return Err(match StoreError::from(error) {
                        StoreError::Unavailable(source) if unknown_if_lost => {
                            StoreError::OutcomeUnknown(source)
                        }
                        other => other,
                    });
                }
            }
            // Each statement committed as it ran; the connection goes back to the pool.
            Handle::Autocommit(_) => {}
        }
        Ok(())
    }

    /// Row locks serialise concurrent writers to one secret on PostgreSQL; SQLite has a
    /// single writer already and no `for update`.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " for update",
            Backend::Sqlite => "",
        }
    }
}
