//! ACL policies, stored as the HCL text they were written in.

use crate::rows::sorted_strings;
use crate::{StoreError, StoreTx};
use sqlx::Row;

impl StoreTx {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn put_policy(&mut self, name: &str, text: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "insert into policies (name, policy, created_at, updated_at) values ($1, $2, $3, $3)
             on conflict (name) do update set policy = excluded.policy, updated_at = excluded.updated_at",
        )
        .bind(name.to_owned())
        .bind(text.to_owned())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn policy_text(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("select policy from policies where name = $1")
            .bind(name.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| Ok(r.try_get::<String, _>("policy")?))
            .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn policy_names(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("select name from policies")
            .fetch_all(&mut *self.tx)
            .await?;
        sorted_strings(&rows, "name")
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_policy(&mut self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from policies where name = $1")
            .bind(name.to_owned())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
