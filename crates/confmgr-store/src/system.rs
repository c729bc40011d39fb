use crate::{StoreError, StoreTx};
use sqlx::Row;

impl StoreTx {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn is_initialized(&mut self) -> Result<bool, StoreError> {
        let row =
            sqlx::query("select count(*) as n from system_state where key = 'initialized_at'")
                .fetch_one(&mut *self.tx)
                .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Marks the database initialized; a second call fails, which is what makes `init` run once.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn mark_initialized(&mut self, now: i64) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "insert into system_state (key, value) values ('initialized_at', $1) on conflict (key) do nothing",
        )
        .bind(now.to_string())
        .execute(&mut *self.tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::AlreadyInitialized);
        }
        Ok(())
    }
}

impl StoreTx {
    /// A statement only a writable database accepts (PostgreSQL refuses it in a read-only
    /// transaction or on a standby; SQLite needs the write lock); changes nothing.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn probe_write(&mut self) -> Result<(), StoreError> {
        sqlx::query("delete from system_state where key = 'readiness_probe'")
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
