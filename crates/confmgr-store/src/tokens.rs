use crate::{StoreError, StoreTx};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A token as stored: its digest, never the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub digest: Vec<u8>,
    pub accessor: String,
    pub display_name: String,
    pub policies: Vec<String>,
    pub client_id: Option<String>,
    pub parent_accessor: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl StoreTx {
    pub async fn insert_token(&mut self, token: &TokenRecord) -> Result<(), StoreError> {
        let policies = serde_json::to_string(&token.policies)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "insert into tokens (digest, accessor, display_name, policies, client_id, parent_accessor, created_at, expires_at, revoked_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             on conflict (digest) do nothing",
        )
        .bind(token.digest.clone())
        .bind(token.accessor.clone())
        .bind(token.display_name.clone())
        .bind(policies)
        .bind(token.client_id.clone())
        .bind(token.parent_accessor.clone())
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.revoked_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn token_by_digest(
        &mut self,
        digest: &[u8],
    ) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(
            "select digest, accessor, display_name, policies, client_id, parent_accessor, created_at, expires_at, revoked_at
             from tokens where digest = $1",
        )
        .bind(digest.to_vec())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }
}

fn token_from_row(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    let policies: String = row.try_get("policies")?;
    Ok(TokenRecord {
        digest: row.try_get("digest")?,
        accessor: row.try_get("accessor")?,
        display_name: row.try_get("display_name")?,
        policies: serde_json::from_str(&policies)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        client_id: row.try_get("client_id")?,
        parent_accessor: row.try_get("parent_accessor")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
