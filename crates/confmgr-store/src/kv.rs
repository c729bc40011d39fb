//! KV v2 tables: mounts' config, secrets' metadata and their encrypted versions.

use crate::rows::{as_flag, flag};
use crate::{Backend, StoreError, StoreTx};
use confmgr_core::crypto::SealedVersion;
use confmgr_core::kv::{KvConfig, SecretMeta, VersionMeta};
use confmgr_core::metadata_mac::MetadataMac;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};
use std::collections::BTreeMap;

const SECRET_COLUMNS: &str = "current_version, oldest_version, max_versions, cas_required, delete_version_after, custom_metadata, created_at, updated_at, meta_mac_term, meta_mac";
/// A version's state and, unless destroyed, its encrypted data.
pub type StoredVersion = (VersionMeta, Option<SealedVersion>);

/// A secret's metadata with the state of every stored version, in version order: what the
/// secret's metadata MAC covers (`confmgr_core::metadata_mac`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretState {
    pub meta: SecretMeta,
    pub versions: Vec<VersionMeta>,
}

/// A secret found by a scan over many (the metadata backfill, the rewrap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressedState {
    pub mount: String,
    pub path: String,
    pub state: SecretState,
}

/// A version to add and make current: its state, its sealed data, the secret's metadata
/// after the change, and the versions below `prune_below` to delete (`max_versions`).
pub struct NewVersion<'a> {
    pub info: &'a VersionMeta,
    pub sealed: &'a SealedVersion,
    pub meta: &'a SecretMeta,
    pub prune_below: Option<i64>,
}

const VERSION_COLUMNS: &str = "version, created_at, deletion_time, destroyed";

impl StoreTx {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn kv_config(&mut self, mount: &str) -> Result<Option<KvConfig>, StoreError> {
        self.select_kv_config(mount, "").await
    }

    /// The mount's settings, locked against concurrent config writers.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn kv_config_for_update(
        &mut self,
        mount: &str,
    ) -> Result<Option<KvConfig>, StoreError> {
        self.select_kv_config(mount, self.for_update()).await
    }

    async fn select_kv_config(
        &mut self,
        mount: &str,
        lock: &str,
    ) -> Result<Option<KvConfig>, StoreError> {
        let sql = format!("select max_versions, cas_required, delete_version_after from kv_mounts where mount = $1{lock}");
        let row = sqlx::query(&sql)
            .bind(mount.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|row| {
            Ok(KvConfig {
                max_versions: row.try_get("max_versions")?,
                cas_required: flag(&row, "cas_required")?,
                delete_version_after: row.try_get("delete_version_after")?,
            })
        })
        .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_kv_config(
        &mut self,
        mount: &str,
        config: &KvConfig,
    ) -> Result<(), StoreError> {
        sqlx::query("update kv_mounts set max_versions = $2, cas_required = $3, delete_version_after = $4 where mount = $1")
            .bind(mount.to_owned())
            .bind(config.max_versions)
            .bind(as_flag(config.cas_required))
            .bind(config.delete_version_after)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn secret(
        &mut self,
        mount: &str,
        path: &str,
    ) -> Result<Option<SecretMeta>, StoreError> {
        self.select_secret(mount, path, "").await
    }

    /// The secret's metadata, locked against concurrent writers until the transaction ends.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn secret_for_update(
        &mut self,
        mount: &str,
        path: &str,
    ) -> Result<Option<SecretMeta>, StoreError> {
        self.select_secret(mount, path, self.for_update()).await
    }

    /// A write's one read: the mount's settings and the secret's metadata, the secret locked
    /// against concurrent writers. `None` when the path has no metadata yet (or the mount
    /// does not exist): the caller then reads the settings on their own.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn secret_and_config_for_update(
        &mut self,
        mount: &str,
        path: &str,
    ) -> Result<Option<(KvConfig, SecretState)>, StoreError> {
        let check = locked_tuple_sql(self.backend, "", "$1", "$2");
        let sql = secret_and_config_sql(self.backend, &check, self.for_update());
        let row = self.fetch_locked(&sql, mount, path).await?;
        row.as_ref()
            .map(secret_and_config_from_row)
            .transpose()
            .map(Option::flatten)
    }

    /// Runs a locking read of one secret's row (`$1` mount, `$2` path) whose columns include
    /// `locked_tuple_sql`'s, and runs it again if the lock waited for a change that came
    /// first: the second time the lock is already held, so its snapshot has the row as
    /// locked and every version state that goes with it.
    async fn fetch_locked(
        &mut self,
        sql: &str,
        mount: &str,
        path: &str,
    ) -> Result<Option<AnyRow>, StoreError> {
        for _ in 0..LOCKED_READ_ATTEMPTS {
            let row = sqlx::query(sql)
                .bind(mount.to_owned())
                .bind(path.to_owned())
                .fetch_optional(&mut *self.tx)
                .await?;
            match row {
                Some(row) if !read_in_one_snapshot(self.backend, &row)? => {
                    tracing::debug!(
                        mount,
                        "a locking read waited for another change to the secret; reading again under the lock"
                    );
                }
                row => return Ok(row),
            }
        }
        // Unreachable while the lock holds: no other change can land on a locked row.
        Err(StoreError::Corrupt(format!(
            "the secret's row at {mount} kept changing under its row lock"
        )))
    }

    async fn select_secret(
        &mut self,
        mount: &str,
        path: &str,
        lock: &str,
    ) -> Result<Option<SecretMeta>, StoreError> {
        let sql =
            format!("select {SECRET_COLUMNS} from kv_secrets where mount = $1 and path = $2{lock}");
        let row = sqlx::query(&sql)
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(secret_from_row).transpose()
    }

    /// The secret's metadata with every version's state, in one statement.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn secret_state(
        &mut self,
        mount: &str,
        path: &str,
    ) -> Result<Option<SecretState>, StoreError> {
        self.select_secret_state(mount, path, "").await
    }

    /// `secret_state`, the secret locked against concurrent writers until the transaction ends.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn secret_state_for_update(
        &mut self,
        mount: &str,
        path: &str,
    ) -> Result<Option<SecretState>, StoreError> {
        self.select_secret_state(mount, path, self.for_update())
            .await
    }

    async fn select_secret_state(
        &mut self,
        mount: &str,
        path: &str,
        lock: &str,
    ) -> Result<Option<SecretState>, StoreError> {
        let locking = !lock.is_empty();
        let check = match locking {
            true => locked_tuple_sql(self.backend, "", "$1", "$2"),
            false => String::new(),
        };
        let sql = format!(
            "select {SECRET_COLUMNS}{check}, {} from kv_secrets where mount = $1 and path = $2{lock}",
            version_states_sql(self.backend, "$1", "$2")
        );
        let row = match locking {
            true => self.fetch_locked(&sql, mount, path).await?,
            // One statement, one snapshot: the row and its versions go together.
            false => {
                sqlx::query(&sql)
                    .bind(mount.to_owned())
                    .bind(path.to_owned())
                    .fetch_optional(&mut *self.tx)
                    .await?
            }
        };
        row.as_ref().map(state_from_row).transpose()
    }

    /// The secret's metadata, creating an empty record first if there is none (rolled back
    /// with the transaction if the caller's change fails).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn ensure_secret(
        &mut self,
        mount: &str,
        path: &str,
        now: i64,
    ) -> Result<SecretMeta, StoreError> {
        // Most writes go to a path that exists: one locking read is then all it takes.
        if let Some(meta) = self.secret_for_update(mount, path).await? {
            return Ok(meta);
        }
        sqlx::query(
            "insert into kv_secrets (mount, path, created_at, updated_at) values ($1, $2, $3, $3)
             on conflict (mount, path) do nothing",
        )
        .bind(mount.to_owned())
        .bind(path.to_owned())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        self.secret_for_update(mount, path)
            .await?
            .ok_or_else(|| StoreError::Corrupt("secret vanished inside its own transaction".into()))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn update_secret(
        &mut self,
        mount: &str,
        path: &str,
        meta: &SecretMeta,
    ) -> Result<(), StoreError> {
        let custom = meta
            .custom_metadata
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (mac_term, mac) = binding_columns(meta);
        sqlx::query(
            "update kv_secrets set current_version = $3, oldest_version = $4, max_versions = $5, cas_required = $6,
             delete_version_after = $7, custom_metadata = $8, updated_at = $9, meta_mac_term = $10, meta_mac = $11
             where mount = $1 and path = $2",
        )
        .bind(mount.to_owned())
        .bind(path.to_owned())
        .bind(meta.current_version)
        .bind(meta.oldest_version)
        .bind(meta.max_versions)
        .bind(as_flag(meta.cas_required))
        .bind(meta.delete_version_after)
        .bind(custom)
        .bind(meta.updated_at)
        .bind(mac_term)
        .bind(mac)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Stores the secret's metadata MAC after a change to its versions' states only.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_metadata_binding(
        &mut self,
        mount: &str,
        path: &str,
        mac: &MetadataMac,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update kv_secrets set meta_mac_term = $3, meta_mac = $4 where mount = $1 and path = $2",
        )
        .bind(mount.to_owned())
        .bind(path.to_owned())
        .bind(mac.term)
        .bind(mac.tag.clone())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Replaces a secret's metadata MAC if it is still `old` (`None`: still unbound): a
    /// change in between (which stores its own MAC) wins. Returns whether the row changed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn replace_metadata_binding(
        &mut self,
        mount: &str,
        path: &str,
        old: Option<&MetadataMac>,
        new: &MetadataMac,
    ) -> Result<bool, StoreError> {
        let query = match old {
            None => sqlx::query(
                "update kv_secrets set meta_mac_term = $3, meta_mac = $4
                 where mount = $1 and path = $2 and (meta_mac_term is null or meta_mac is null)",
            ),
            Some(_) => sqlx::query(
                "update kv_secrets set meta_mac_term = $3, meta_mac = $4
                 where mount = $1 and path = $2 and meta_mac_term = $5 and meta_mac = $6",
            ),
        };
        let mut query = query
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .bind(new.term)
            .bind(new.tag.clone());
        if let Some(old) = old {
            query = query.bind(old.term).bind(old.tag.clone());
        }
        let done = query.execute(&mut *self.tx).await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many secrets' metadata MACs are keyed by `term` (which then cannot retire).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn metadata_macs_keyed_by(&mut self, term: i64) -> Result<i64, StoreError> {
        let row = sqlx::query("select count(*) as n from kv_secrets where meta_mac_term = $1")
            .bind(term)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Up to `limit` secrets without a metadata MAC (written before migration 0007), locked
    /// on PostgreSQL until the transaction ends.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn unbound_secrets(&mut self, limit: i64) -> Result<Vec<AddressedState>, StoreError> {
        self.scan_secrets("meta_mac_term is null or meta_mac is null", limit)
            .await
    }

    /// Up to `limit` secrets whose metadata MAC is keyed by a term older than `active`, locked
    /// on PostgreSQL until the transaction ends.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn secrets_bound_below_term(
        &mut self,
        active: i64,
        limit: i64,
    ) -> Result<Vec<AddressedState>, StoreError> {
        // An i64 from the keyring, not input: formatted into the statement.
        self.scan_secrets(&format!("meta_mac_term < {active}"), limit)
            .await
    }

    async fn scan_secrets(
        &mut self,
        condition: &str,
        limit: i64,
    ) -> Result<Vec<AddressedState>, StoreError> {
        let sql = format!(
            "select mount, path, {SECRET_COLUMNS}{}, {} from kv_secrets s
             where {condition} order by mount, path limit $1{}",
            locked_tuple_sql(self.backend, "s.", "s.mount", "s.path"),
            version_states_sql(self.backend, "s.mount", "s.path"),
            self.for_update()
        );
        let rows = sqlx::query(&sql)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            let mount: String = row.try_get("mount")?;
            let path: String = row.try_get("path")?;
            let state = if read_in_one_snapshot(self.backend, row)? {
                state_from_row(row)?
            } else {
                // Locked after a change that came first: its versions as of that change,
                // read now that the lock holds (a statement of its own, so a new snapshot).
                match self.select_secret_state(&mount, &path, "").await? {
                    Some(state) => state,
                    None => continue,
                }
            };
            found.push(AddressedState { mount, path, state });
        }
        Ok(found)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_secret(&mut self, mount: &str, path: &str) -> Result<(), StoreError> {
        for table in ["kv_versions", "kv_secrets"] {
            sqlx::query(&format!(
                "delete from {table} where mount = $1 and path = $2"
            ))
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn versions(
        &mut self,
        mount: &str,
        path: &str,
    ) -> Result<Vec<VersionMeta>, StoreError> {
        let sql = format!("select {VERSION_COLUMNS} from kv_versions where mount = $1 and path = $2 order by version");
        let rows = sqlx::query(&sql)
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// One version's state and, unless destroyed, its encrypted data.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn sealed_version(
        &mut self,
        mount: &str,
        path: &str,
        version: i64,
    ) -> Result<Option<StoredVersion>, StoreError> {
        let sql = format!(
            "select {VERSION_COLUMNS}, format, term, dek_nonce, wrapped_dek, nonce, ciphertext
             from kv_versions where mount = $1 and path = $2 and version = $3"
        );
        let row = sqlx::query(&sql)
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .bind(version)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((version_from_row(&row)?, sealed_from_row(&row)?)))
    }

    /// A read's one statement: the secret's metadata and one version (`None`: the current
    /// one) with its encrypted data. `None` when the path has no metadata; the version is
    /// `None` when there is no such version.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn secret_with_version(
        &mut self,
        mount: &str,
        path: &str,
        version: Option<i64>,
    ) -> Result<Option<(SecretState, Option<StoredVersion>)>, StoreError> {
        // The version's columns are renamed where they share a name with the secret's.
        let sql = format!(
            "select {}, {}, v.version, v.created_at as version_created_at, v.deletion_time, v.destroyed,
                    v.format, v.term, v.dek_nonce, v.wrapped_dek, v.nonce, v.ciphertext
             from kv_secrets s
             left join kv_versions v
               on v.mount = s.mount and v.path = s.path and v.version = coalesce($3, s.current_version)
             where s.mount = $1 and s.path = $2",
            SECRET_COLUMNS
                .split(", ")
                .map(|column| format!("s.{column}"))
                .collect::<Vec<_>>()
                .join(", "),
            version_states_sql(self.backend, "s.mount", "s.path")
        );
        let row = sqlx::query(&sql)
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .bind(version)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let meta = state_from_row(&row)?;
        let Some(number) = row.try_get::<Option<i64>, _>("version")? else {
            return Ok(Some((meta, None)));
        };
        let info = VersionMeta {
            version: number,
            created_at: row.try_get("version_created_at")?,
            deletion_time: row.try_get("deletion_time")?,
            destroyed: flag(&row, "destroyed")?,
        };
        Ok(Some((meta, Some((info, sealed_from_row(&row)?)))))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_version(
        &mut self,
        mount: &str,
        path: &str,
        meta: &VersionMeta,
        sealed: &SealedVersion,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into kv_versions (mount, path, version, created_at, deletion_time, destroyed, format, term, dek_nonce, wrapped_dek, nonce, ciphertext)
             values ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11)",
        )
        .bind(mount.to_owned())
        .bind(path.to_owned())
        .bind(meta.version)
        .bind(meta.created_at)
        .bind(meta.deletion_time)
        .bind(sealed.format)
        .bind(sealed.term)
        .bind(sealed.dek_nonce.clone())
        .bind(sealed.wrapped_dek.clone())
        .bind(sealed.nonce.clone())
        .bind(sealed.ciphertext.clone())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Adds a version and makes it current: inserts it, deletes the versions below
    /// `prune_below` and stores the secret's metadata. One statement on PostgreSQL, so a
    /// write pays one round trip for all three; SQLite runs in process and takes them apart.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn append_version(
        &mut self,
        mount: &str,
        path: &str,
        new: &NewVersion<'_>,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            self.insert_version(mount, path, new.info, new.sealed)
                .await?;
            if let Some(below) = new.prune_below {
                self.prune_versions_below(mount, path, below).await?;
            }
            return self.update_secret(mount, path, new.meta).await;
        }
        let query = sqlx::query(
            "with inserted as (
                 insert into kv_versions (mount, path, version, created_at, deletion_time, destroyed, format, term, dek_nonce, wrapped_dek, nonce, ciphertext)
                 values ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11)
             ), pruned as (
                 delete from kv_versions where mount = $1 and path = $2 and version < $12
             )
             update kv_secrets set current_version = $13, oldest_version = $14, updated_at = $15,
                 meta_mac_term = $16, meta_mac = $17
             where mount = $1 and path = $2",
        );
        bind_new_version(query, mount, path, new)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn prune_versions_below(
        &mut self,
        mount: &str,
        path: &str,
        below: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("delete from kv_versions where mount = $1 and path = $2 and version < $3")
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .bind(below)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Soft-deletes (`Some(time)`) or undeletes (`None`) versions that are not destroyed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn set_deletion_time(
        &mut self,
        mount: &str,
        path: &str,
        versions: &[i64],
        deletion_time: Option<i64>,
    ) -> Result<(), StoreError> {
        for version in versions {
            sqlx::query(
                "update kv_versions set deletion_time = $4 where mount = $1 and path = $2 and version = $3 and destroyed = 0",
            )
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .bind(*version)
            .bind(deletion_time)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Destroys versions: the wrapped data key and the ciphertext are erased, not just flagged.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn destroy_versions(
        &mut self,
        mount: &str,
        path: &str,
        versions: &[i64],
    ) -> Result<(), StoreError> {
        for version in versions {
            sqlx::query(
                "update kv_versions set destroyed = 1, format = null, term = null, dek_nonce = null,
                 wrapped_dek = null, nonce = null, ciphertext = null
                 where mount = $1 and path = $2 and version = $3",
            )
            .bind(mount.to_owned())
            .bind(path.to_owned())
            .bind(*version)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Every secret path that starts with `prefix` (a folder ending in `/`, or empty).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn paths_with_prefix(
        &mut self,
        mount: &str,
        prefix: &str,
    ) -> Result<Vec<String>, StoreError> {
        // substr() rather than LIKE: no escaping of % and _ in user paths, same on both backends.
        let rows = sqlx::query(
            "select path from kv_secrets where mount = $1 and substr(path, 1, length($2)) = $2",
        )
        .bind(mount.to_owned())
        .bind(prefix.to_owned())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>("path")?))
            .collect()
    }
}

fn secret_from_row(row: &AnyRow) -> Result<SecretMeta, StoreError> {
    let custom: Option<String> = row.try_get("custom_metadata")?;
    let custom_metadata = custom
        .map(|text| serde_json::from_str::<BTreeMap<String, String>>(&text))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("custom_metadata: {e}")))?;
    Ok(SecretMeta {
        current_version: row.try_get("current_version")?,
        oldest_version: row.try_get("oldest_version")?,
        max_versions: row.try_get("max_versions")?,
        cas_required: flag(row, "cas_required")?,
        delete_version_after: row.try_get("delete_version_after")?,
        custom_metadata,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        binding: binding_from_row(row)?,
    })
}

/// A MAC needs both columns; a row with either missing counts as unbound.
fn binding_from_row(row: &AnyRow) -> Result<Option<MetadataMac>, StoreError> {
    let term: Option<i64> = row.try_get("meta_mac_term")?;
    let tag: Option<Vec<u8>> = row.try_get("meta_mac")?;
    Ok(term.zip(tag).map(|(term, tag)| MetadataMac { term, tag }))
}

fn binding_columns(meta: &SecretMeta) -> (Option<i64>, Option<Vec<u8>>) {
    match &meta.binding {
        Some(mac) => (Some(mac.term), Some(mac.tag.clone())),
        None => (None, None),
    }
}

/// How many times a locking read runs: a second time only when its lock waited for a
/// change that came first (`locked_tuple_sql`).
const LOCKED_READ_ATTEMPTS: usize = 2;

/// Columns that tell whether a locking read (`for update`) saw one state of the secret.
///
/// On PostgreSQL at read committed, a `for update` that waits for a concurrent change to
/// the row returns the row as that change committed it, but the statement's subqueries (the
/// version states, the mount's settings) still read the snapshot taken when the statement
/// began, from before that change: a new current version and MAC beside the old versions,
/// which the metadata MAC would refuse as edited rows. `locked_tuple` is the tuple locked,
/// `snapshot_tuple` the one the snapshot sees (`ctid`: every update makes a new tuple, and
/// the one a running snapshot sees cannot be vacuumed away). `table` prefixes the locked
/// row's columns (`""` or `"s."`); `mount` and `path` are SQL expressions. SQLite takes the
/// write lock before it reads: nothing to add.
fn locked_tuple_sql(backend: Backend, table: &str, mount: &str, path: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            ", {table}ctid::text as locked_tuple,
             (select st.ctid::text from kv_secrets st where st.mount = {mount} and st.path = {path}) as snapshot_tuple"
        ),
        Backend::Sqlite => String::new(),
    }
}

/// Whether a row read with `locked_tuple_sql`'s columns is the row its statement's
/// snapshot saw, so its version states go with it.
fn read_in_one_snapshot(backend: Backend, row: &AnyRow) -> Result<bool, StoreError> {
    if backend == Backend::Sqlite {
        return Ok(true);
    }
    let locked: Option<String> = row.try_get("locked_tuple")?;
    let seen: Option<String> = row.try_get("snapshot_tuple")?;
    Ok(locked.is_some() && locked == seen)
}

/// A column `version_states` listing every stored version of the secret at `mount`, `path`
/// (SQL expressions) as `version:created_at:deletion_time:destroyed`, comma-separated, in no
/// particular order (`-` for no deletion time; null when there are none).
pub(crate) fn version_states_sql(backend: Backend, mount: &str, path: &str) -> String {
    let aggregate = match backend {
        Backend::Postgres => "string_agg",
        Backend::Sqlite => "group_concat",
    };
    format!(
        "(select {aggregate}(cast(vs.version as text) || ':' || cast(vs.created_at as text) || ':'
                 || coalesce(cast(vs.deletion_time as text), '-') || ':' || cast(vs.destroyed as text), ',')
          from kv_versions vs where vs.mount = {mount} and vs.path = {path}) as version_states"
    )
}

fn state_from_row(row: &AnyRow) -> Result<SecretState, StoreError> {
    Ok(SecretState {
        meta: secret_from_row(row)?,
        versions: version_states_from_row(row)?,
    })
}

fn version_states_from_row(row: &AnyRow) -> Result<Vec<VersionMeta>, StoreError> {
    let Some(text) = row.try_get::<Option<String>, _>("version_states")? else {
        return Ok(Vec::new());
    };
    let corrupt = || StoreError::Corrupt("version_states: unexpected form".into());
    let number = |s: &str| s.parse::<i64>().map_err(|_| corrupt());
    let mut versions = text
        .split(',')
        .map(|item| {
            let mut parts = item.split(':');
            let mut next = || parts.next().ok_or_else(corrupt);
            let version = number(next()?)?;
            let created_at = number(next()?)?;
            let deletion_time = match next()? {
                "-" => None,
                time => Some(number(time)?),
            };
            let destroyed = number(next()?)? != 0;
            Ok(VersionMeta {
                version,
                created_at,
                deletion_time,
                destroyed,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    versions.sort_by_key(|v| v.version);
    Ok(versions)
}

/// A version's encrypted data, `None` once destroyed.
fn sealed_from_row(row: &AnyRow) -> Result<Option<SealedVersion>, StoreError> {
    if row.try_get::<Option<i64>, _>("format")?.is_none() {
        return Ok(None);
    }
    Ok(Some(crate::rows::sealed(row)?))
}

fn version_from_row(row: &AnyRow) -> Result<VersionMeta, StoreError> {
    Ok(VersionMeta {
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        deletion_time: row.try_get("deletion_time")?,
        destroyed: flag(row, "destroyed")?,
    })
}

/// Selects the secret's metadata with its mount's settings (`extra` adds columns, `lock`
/// ends the statement); `$1` is the mount, `$2` the path.
pub(crate) fn secret_and_config_sql(backend: Backend, extra: &str, lock: &str) -> String {
    format!(
        "select {SECRET_COLUMNS}{extra}, {},
                (select max_versions from kv_mounts m where m.mount = $1) as mount_max_versions,
                (select cas_required from kv_mounts m where m.mount = $1) as mount_cas_required,
                (select delete_version_after from kv_mounts m where m.mount = $1) as mount_delete_version_after
         from kv_secrets where mount = $1 and path = $2{lock}",
        version_states_sql(backend, "$1", "$2")
    )
}

/// `None` when the mount does not exist.
pub(crate) fn secret_and_config_from_row(
    row: &AnyRow,
) -> Result<Option<(KvConfig, SecretState)>, StoreError> {
    let Some(max_versions) = row.try_get::<Option<i64>, _>("mount_max_versions")? else {
        return Ok(None);
    };
    let config = KvConfig {
        max_versions,
        cas_required: flag(row, "mount_cas_required")?,
        delete_version_after: row.try_get("mount_delete_version_after")?,
    };
    Ok(Some((config, state_from_row(row)?)))
}

/// Binds `$1` to `$17` of a statement that adds a version: mount, path, the version's 9
/// columns, `prune_below`, then the secret's current and oldest version, update time and
/// metadata MAC (term, tag).
pub(crate) fn bind_new_version<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    mount: &str,
    path: &str,
    new: &NewVersion<'_>,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(mount.to_owned())
        .bind(path.to_owned())
        .bind(new.info.version)
        .bind(new.info.created_at)
        .bind(new.info.deletion_time)
        .bind(new.sealed.format)
        .bind(new.sealed.term)
        .bind(new.sealed.dek_nonce.clone())
        .bind(new.sealed.wrapped_dek.clone())
        .bind(new.sealed.nonce.clone())
        .bind(new.sealed.ciphertext.clone())
        .bind(new.prune_below)
        .bind(new.meta.current_version)
        .bind(new.meta.oldest_version)
        .bind(new.meta.updated_at)
        .bind(new.meta.binding.as_ref().map(|mac| mac.term))
        .bind(new.meta.binding.as_ref().map(|mac| mac.tag.clone()))
}
