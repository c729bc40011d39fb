//! Token roles (`auth/token/roles/:name`): named settings for the tokens created against
//! them, stored as a JSON object the server reads and writes (the store does not interpret
//! it, so a new role setting needs no migration).

use crate::rows::sorted_strings;
use crate::{StoreError, StoreTx};
use sqlx::Row;

impl StoreTx {
    /// Creates or replaces a role's settings (its creation time is kept on replace).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn put_token_role(
        &mut self,
        name: &str,
        settings: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into token_roles (name, settings, created_at, updated_at) values ($1, $2, $3, $3)
             on conflict (name) do update set settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(name.to_owned())
        .bind(settings.to_owned())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The role's settings (the JSON text as written).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn token_role(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("select settings from token_roles where name = $1")
            .bind(name.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| Ok(r.try_get::<String, _>("settings")?))
            .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn token_role_names(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("select name from token_roles")
            .fetch_all(&mut *self.tx)
            .await?;
        sorted_strings(&rows, "name")
    }

    /// Deletes a role; tokens made from it keep working (as in Vault). Whether it existed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_token_role(&mut self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from token_roles where name = $1")
            .bind(name.to_owned())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
