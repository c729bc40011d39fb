use crate::{Backend, StoreError};
use confmgr_core::audit::AuditEvent;
use sqlx::{Any, Transaction};

/// One database transaction. Every change ConfMgr makes runs inside exactly one, so a
/// failed request leaves storage as it was.
pub struct StoreTx {
    pub(crate) tx: Transaction<'static, Any>,
    pub(crate) backend: Backend,
    /// The audit event of the change, inserted by `commit` in this same transaction, so
    /// there is no change without its record (DESIGN.md section 5).
    audit: Option<AuditEvent>,
}

impl StoreTx {
    pub(crate) fn new(tx: Transaction<'static, Any>, backend: Backend) -> Self {
        Self {
            tx,
            backend,
            audit: None,
        }
    }

    pub fn attach_audit(&mut self, event: AuditEvent) {
        self.audit = Some(event);
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if let Some(event) = self.audit.take() {
            self.insert_audit_event(&event).await?;
        }
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
