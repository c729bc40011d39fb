use crate::{StoreError, StoreTx};
use confmgr_core::crypto::WrappedTerm;
use sqlx::Row;

impl StoreTx {
    pub async fn keyring_terms(&mut self) -> Result<Vec<WrappedTerm>, StoreError> {
        let rows = sqlx::query("select term, nonce, wrapped_key from keyring_terms order by term")
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(WrappedTerm {
                    term: row.try_get("term")?,
                    nonce: row.try_get("nonce")?,
                    wrapped_key: row.try_get("wrapped_key")?,
                })
            })
            .collect()
    }

    pub async fn insert_term(&mut self, term: &WrappedTerm, now: i64) -> Result<(), StoreError> {
        sqlx::query("insert into keyring_terms (term, nonce, wrapped_key, created_at) values ($1, $2, $3, $4)")
            .bind(term.term)
            .bind(term.nonce.clone())
            .bind(term.wrapped_key.clone())
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
