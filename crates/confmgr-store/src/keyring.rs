use crate::{StoreError, StoreTx};
use confmgr_core::crypto::{SealedVersion, WrappedTerm};
use sqlx::Row;

impl StoreTx {
    #[tracing::instrument(level = "debug", skip_all)]
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

    #[tracing::instrument(level = "debug", skip_all)]
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

/// One keyring term and how many stored data keys it wraps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermUsage {
    pub term: i64,
    pub created_at: i64,
    pub wrapped_keys: i64,
}

/// A version's address and sealed form, for re-wrapping its data key.
#[derive(Clone, Debug)]
pub struct WrappedVersion {
    pub mount: String,
    pub path: String,
    pub version: i64,
    pub sealed: SealedVersion,
}

impl StoreTx {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn term_usage(&mut self) -> Result<Vec<TermUsage>, StoreError> {
        let rows = sqlx::query(
            "select t.term, t.created_at,
                    (select count(*) from kv_versions v where v.term = t.term) as wrapped_keys
             from keyring_terms t order by t.term",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TermUsage {
                    term: row.try_get("term")?,
                    created_at: row.try_get("created_at")?,
                    wrapped_keys: row.try_get("wrapped_keys")?,
                })
            })
            .collect()
    }

    /// Terms named by stored versions (or secrets' metadata MACs) that the keyring does not
    /// hold: their data is lost unless the keyring is restored, so start-up refuses to go on.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn unknown_terms(&mut self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "select distinct term from (
                 select term from kv_versions
                 union select meta_mac_term as term from kv_secrets
             ) named
             where term is not null and term not in (select term from keyring_terms)
             order by term",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("term")?)).collect()
    }

    /// Up to `limit` versions whose data keys are wrapped by a term older than `active`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn versions_below_term(
        &mut self,
        active: i64,
        limit: i64,
    ) -> Result<Vec<WrappedVersion>, StoreError> {
        let rows = sqlx::query(
            "select mount, path, version, format, term, dek_nonce, wrapped_dek, nonce, ciphertext
             from kv_versions where term < $1 order by term, mount, path, version limit $2",
        )
        .bind(active)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WrappedVersion {
                    mount: row.try_get("mount")?,
                    path: row.try_get("path")?,
                    version: row.try_get("version")?,
                    sealed: crate::rows::sealed(row)?,
                })
            })
            .collect()
    }

    /// Stores a re-wrapped data key if the row still has the term it was read with (a
    /// concurrent destroy or rewrap wins). Returns whether the row changed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn replace_wrapped_dek(
        &mut self,
        version: &WrappedVersion,
        rewrapped: &SealedVersion,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update kv_versions set term = $1, dek_nonce = $2, wrapped_dek = $3
             where mount = $4 and path = $5 and version = $6 and term = $7",
        )
        .bind(rewrapped.term)
        .bind(rewrapped.dek_nonce.clone())
        .bind(rewrapped.wrapped_dek.clone())
        .bind(version.mount.clone())
        .bind(version.path.clone())
        .bind(version.version)
        .bind(version.sealed.term)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a term that wraps nothing any more.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_term(&mut self, term: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from keyring_terms where term = $1")
            .bind(term)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Rekey: the same terms, wrapped under another root key.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn replace_term_wrapping(&mut self, term: &WrappedTerm) -> Result<(), StoreError> {
        sqlx::query("update keyring_terms set nonce = $1, wrapped_key = $2 where term = $3")
            .bind(term.nonce.clone())
            .bind(term.wrapped_key.clone())
            .bind(term.term)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn state_value(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("select value from system_state where key = $1")
            .bind(key.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    /// Sets (or with `None` removes) one `system_state` entry.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_state_value(
        &mut self,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("delete from system_state where key = $1")
            .bind(key.to_owned())
            .execute(&mut *self.tx)
            .await?;
        if let Some(value) = value {
            sqlx::query("insert into system_state (key, value) values ($1, $2)")
                .bind(key.to_owned())
                .bind(value.to_owned())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }
}
