//! A KV write without a row lock, on PostgreSQL: read the secret's metadata with its row
//! version, then add the version in one statement that applies only if the row is still at
//! that version, with the audit event in the same statement. That is two round trips on
//! autocommit connections, against five for the locking write (begin, locking read, change,
//! audit insert, commit). A writer that loses the race changes nothing and reads again.
//!
//! The row version is `xmin`, the transaction that wrote the row's current tuple: every
//! update of the row (a write, a metadata change, a delete and re-create) gives it a new
//! one. SQLite has no equivalent and a single writer already; it keeps the locking write.

use crate::audit::{bind_event, event_params, EVENT_COLUMNS};
use crate::kv::SecretState;
use crate::kv::{bind_new_version, secret_and_config_from_row, secret_and_config_sql, NewVersion};
use crate::{Backend, StoreError, StoreTx};
use confmgr_core::audit::AuditEvent;
use confmgr_core::kv::KvConfig;
use sqlx::Row;

/// One state of a secret's metadata row, as `secret_and_config_unlocked` read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowVersion(String);

impl StoreTx {
    fn require_postgres(&self, what: &'static str) -> Result<(), StoreError> {
        match self.backend {
            Backend::Postgres => Ok(()),
            Backend::Sqlite => Err(StoreError::NotOnSqlite(what)),
        }
    }

    /// The mount's settings and the secret's metadata, unlocked, with the row's version.
    /// `None` when the path has no metadata yet or the mount does not exist.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn secret_and_config_unlocked(
        &mut self,
        mount: &str,
        path: &str,
    ) -> Result<Option<(KvConfig, SecretState, RowVersion)>, StoreError> {
        self.require_postgres("an unlocked write")?;
        // The version states come from the same snapshot as the row's version: any change
        // to them also updates the row (its metadata MAC), so `seen` covers them too.
        let sql = secret_and_config_sql(self.backend, ", xmin::text as row_version", "");
        let row = sqlx::query(&sql)
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let Some((config, meta)) = secret_and_config_from_row(&row)? else {
            return Ok(None);
        };
        Ok(Some((
            config,
            meta,
            RowVersion(row.try_get("row_version")?),
        )))
    }

    /// Adds the version, prunes, updates the metadata and inserts `audit`, all in one
    /// statement, if the secret's row is still at `seen`. `false`: it changed since (or is
    /// gone), and nothing was written. Run it in autocommit mode: the statement is atomic.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn append_version_if_unchanged(
        &mut self,
        mount: &str,
        path: &str,
        new: &NewVersion<'_>,
        seen: &RowVersion,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.require_postgres("an unlocked write")?;
        // Every part reads `updated`, so none happens unless the metadata row was updated.
        let audited = match audit {
            Some(_) => format!(
                ", audited as (insert into audit_events ({EVENT_COLUMNS}) select {} from updated)",
                event_params(19)
            ),
            None => String::new(),
        };
        let sql = format!(
            "with updated as (
                 update kv_secrets set current_version = $13, oldest_version = $14, updated_at = $15,
                     meta_mac_term = $16, meta_mac = $17
                 where mount = $1 and path = $2 and xmin::text = $18
                 returning 1
             ), inserted as (
                 insert into kv_versions (mount, path, version, created_at, deletion_time, destroyed, format, term, dek_nonce, wrapped_dek, nonce, ciphertext)
                 select $1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11 from updated
             ), pruned as (
                 delete from kv_versions
                 where mount = $1 and path = $2 and version < $12 and exists (select 1 from updated)
             ){audited}
             select count(*) as applied from updated"
        );
        let mut query = bind_new_version(sqlx::query(&sql), mount, path, new).bind(seen.0.clone());
        if let Some(event) = audit {
            query = bind_event(query, event);
        }
        // The whole answer, up to ReadyForQuery: in autocommit mode the statement commits
        // at Sync, after its row was sent, and sqlx's `fetch_one` on `Any` returns with the
        // row, so a failed commit would be answered 200. A connection lost meanwhile leaves
        // the outcome unknown.
        let rows = query
            .fetch_all(&mut *self.tx)
            .await
            .map_err(StoreError::from_change)?;
        let applied = match rows.first() {
            Some(row) => row.try_get::<i64, _>("applied")?,
            None => 0,
        };
        Ok(applied == 1)
    }
}
