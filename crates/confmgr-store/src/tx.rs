use crate::{Backend, StoreError};
use sqlx::{Any, Transaction};

/// One database transaction. Every change ConfMgr makes runs inside exactly one, so a
/// failed request leaves storage as it was.
pub struct StoreTx {
    pub(crate) tx: Transaction<'static, Any>,
    pub(crate) backend: Backend,
}

impl StoreTx {
    pub(crate) fn new(tx: Transaction<'static, Any>, backend: Backend) -> Self {
        Self { tx, backend }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
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
