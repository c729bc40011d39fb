//! Response wrapping: wrapped responses sealed under the keyring, found by the SHA-256
//! digest of their wrapping token (never the token). Taking one deletes it in the same
//! statement, so of two concurrent unwraps exactly one gets it.

use crate::{StoreError, StoreTx};
use confmgr_core::crypto::SealedVersion;
use sqlx::any::AnyRow;
use sqlx::Row;

/// A wrapped response as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct WrapRecord {
    /// Public handle of the wrapping token.
    pub accessor: String,
    /// SHA-256 of the wrapping token.
    pub digest: Vec<u8>,
    pub creation_path: String,
    /// Microseconds since the epoch.
    pub creation_time: i64,
    /// Seconds granted.
    pub ttl: i64,
    /// Microseconds since the epoch.
    pub expires_at: i64,
    /// Accessor of the token inside the response, `""` when it holds none.
    pub wrapped_accessor: String,
    pub sealed: SealedVersion,
}

impl std::fmt::Debug for WrapRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrapRecord")
            .field("accessor", &self.accessor)
            .field("creation_path", &self.creation_path)
            .field("creation_time", &self.creation_time)
            .field("ttl", &self.ttl)
            .field("expires_at", &self.expires_at)
            .field("sealed", &self.sealed)
            .finish_non_exhaustive()
    }
}

const WRAP_COLUMNS: &str = "accessor, digest, creation_path, creation_time, ttl, expires_at, wrapped_accessor, format, term, dek_nonce, wrapped_dek, nonce, ciphertext";

impl StoreTx {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_wrap(&mut self, wrap: &WrapRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "insert into response_wraps ({WRAP_COLUMNS})
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(wrap.accessor.clone())
        .bind(wrap.digest.clone())
        .bind(wrap.creation_path.clone())
        .bind(wrap.creation_time)
        .bind(wrap.ttl)
        .bind(wrap.expires_at)
        .bind(wrap.wrapped_accessor.clone())
        .bind(wrap.sealed.format)
        .bind(wrap.sealed.term)
        .bind(wrap.sealed.dek_nonce.clone())
        .bind(wrap.sealed.wrapped_dek.clone())
        .bind(wrap.sealed.nonce.clone())
        .bind(wrap.sealed.ciphertext.clone())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The wrapping whose token has this digest, left in place (lookup).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn wrap_by_digest(
        &mut self,
        digest: &[u8],
    ) -> Result<Option<WrapRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "select {WRAP_COLUMNS} from response_wraps where digest = $1"
        ))
        .bind(digest.to_vec())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(wrap_from_row).transpose()
    }

    /// Deletes the wrapping whose token has this digest and returns it: single use. On
    /// PostgreSQL a concurrent taker waits for this transaction and then finds nothing.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn take_wrap(&mut self, digest: &[u8]) -> Result<Option<WrapRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "delete from response_wraps where digest = $1 returning {WRAP_COLUMNS}"
        ))
        .bind(digest.to_vec())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(wrap_from_row).transpose()
    }

    /// Deletes the wrappings expired at `now` (microseconds); returns how many.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn purge_expired_wraps(&mut self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from response_wraps where expires_at <= $1")
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// Wrappings still live at `now` whose data key `term` wraps: retiring the term would
    /// make them unreadable. (Expired ones are purged first by the caller.)
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn live_wraps_keyed_by(&mut self, term: i64, now: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "select count(*) as n from response_wraps where term = $1 and expires_at > $2",
        )
        .bind(term)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("n")?)
    }
}

fn wrap_from_row(row: &AnyRow) -> Result<WrapRecord, StoreError> {
    Ok(WrapRecord {
        accessor: row.try_get("accessor")?,
        digest: row.try_get("digest")?,
        creation_path: row.try_get("creation_path")?,
        creation_time: row.try_get("creation_time")?,
        ttl: row.try_get("ttl")?,
        expires_at: row.try_get("expires_at")?,
        wrapped_accessor: row.try_get("wrapped_accessor")?,
        sealed: crate::rows::sealed(row)?,
    })
}
