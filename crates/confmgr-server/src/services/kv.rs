//! KV v2 on one mount: versioned, envelope-encrypted secrets.

use crate::audit;
use crate::error::{Error, Result};
use confmgr_core::crypto::{Keyring, RootKey, SealedVersion, VersionAddress};
use confmgr_core::kv::{CustomMetadataChange, KvConfig, SecretMeta, VersionMeta};
use confmgr_core::merge_patch;
use confmgr_core::metadata_mac::metadata_mac_input;
use confmgr_core::path::SecretPath;
use confmgr_core::time::{now_micros, Micros};
use confmgr_core::CryptoError;
use confmgr_store::{Backend, NewVersion, SecretState, Store, StoreTx};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

pub type Data = Map<String, Value>;

pub struct Kv<'a> {
    pub store: &'a Store,
    pub keyring: &'a Keyring,
    /// Keys the digests that stand for legacy secret ids in log lines (`logged_path`).
    pub root: &'a RootKey,
    pub mount: &'a str,
}

/// A version as a reader sees it: its state, the secret's custom metadata and, if it may be
/// served, its decrypted data.
pub struct VersionView {
    pub meta: VersionMeta,
    pub custom_metadata: Option<std::collections::BTreeMap<String, String>>,
    pub data: Option<Data>,
}

pub enum Read {
    Found(VersionView),
    /// Soft-deleted or destroyed: metadata only.
    Gone(VersionView),
}

/// Fields of `POST|PATCH secret/metadata/:path`; `None` leaves a setting as it is.
#[derive(Default)]
pub struct MetadataUpdate {
    pub max_versions: Option<i64>,
    pub cas_required: Option<bool>,
    pub delete_version_after: Option<i64>,
    pub custom_metadata: CustomMetadataChange,
}

/// Fields of `POST secret/config`; `None` leaves a setting as it is.
#[derive(Default)]
pub struct ConfigUpdate {
    pub max_versions: Option<i64>,
    pub cas_required: Option<bool>,
    pub delete_version_after: Option<i64>,
}

/// What `secret/delete`, `secret/undelete` and `secret/destroy` do to listed versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionChange {
    Delete,
    Undelete,
    Destroy,
}

/// `POST` creates the metadata of a path that has none; `PATCH` answers 404 instead (Vault).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum IfMissing {
    Create,
    NotFound,
}

/// `system_state` entry recorded once every secret's metadata carries a MAC (the backfill
/// after migration 0007 finished): from then on a secret without one is refused.
pub const METADATA_BOUND: &str = "kv_metadata_bound";

/// Attempts at a write without a row lock before it takes the lock: more than one only when
/// another change to the same secret lands between a write's read and its write.
const UNLOCKED_WRITE_ATTEMPTS: usize = 3;

enum Unlocked {
    Written(VersionView),
    /// Another change came first; nothing was written.
    Raced,
    /// The path has no metadata yet: creating it takes the locking write.
    NoSecret,
}

/// A sealed version ready to store.
struct NextVersion {
    info: VersionMeta,
    sealed: SealedVersion,
    prune_below: Option<i64>,
}

impl NextVersion {
    fn as_new<'a>(&'a self, meta: &'a SecretMeta) -> NewVersion<'a> {
        NewVersion {
            info: &self.info,
            sealed: &self.sealed,
            meta,
            prune_below: self.prune_below,
        }
    }

    fn view(self, meta: &SecretMeta) -> VersionView {
        VersionView {
            meta: self.info,
            custom_metadata: meta.custom_metadata.clone(),
            data: None,
        }
    }
}

impl Kv<'_> {
    async fn config(&self, tx: &mut StoreTx) -> Result<KvConfig> {
        tx.kv_config(self.mount).await?.ok_or(Error::NotFound)
    }

    /// A change's first read: the mount's settings and the secret's metadata, the secret
    /// locked until the transaction ends. One statement when the path exists, as it mostly does.
    async fn lock_for_write(
        &self,
        tx: &mut StoreTx,
        path: &SecretPath,
        if_missing: IfMissing,
        now: Micros,
    ) -> Result<(KvConfig, SecretState)> {
        if let Some((config, state)) = tx
            .secret_and_config_for_update(self.mount, path.as_str())
            .await?
        {
            self.verify(tx, path, &state).await?;
            return Ok((config, state));
        }
        let config = self.config(tx).await?;
        let meta = match if_missing {
            IfMissing::Create => tx.ensure_secret(self.mount, path.as_str(), now).await?,
            IfMissing::NotFound => return Err(Error::NotFound),
        };
        let state = SecretState {
            meta,
            versions: tx.versions(self.mount, path.as_str()).await?,
        };
        // Created by this transaction: nothing to verify yet. Created by a concurrent writer
        // that committed first: its MAC is checked like any other.
        if state.meta.binding.is_some() {
            self.verify(tx, path, &state).await?;
        }
        Ok((config, state))
    }

    /// Checks the secret's metadata MAC before anything read with it is served or changed.
    async fn verify(&self, tx: &mut StoreTx, path: &SecretPath, state: &SecretState) -> Result<()> {
        let (keys, mount) = ((self.keyring, self.root), self.mount);
        if verify_binding(keys, mount, path.as_str(), state)? == Bound::Unbound {
            allow_unbound(keys, tx, mount, path.as_str()).await?;
        }
        Ok(())
    }

    /// Sets `meta.binding` to the MAC of the secret's new state.
    fn bind(
        &self,
        path: &SecretPath,
        meta: &mut SecretMeta,
        versions: &[VersionMeta],
    ) -> Result<()> {
        bind(self.keyring, self.mount, path.as_str(), meta, versions)
    }

    fn at<'p>(&'p self, path: &'p SecretPath, version: i64) -> VersionAddress<'p> {
        VersionAddress {
            mount: self.mount,
            path: path.as_str(),
            version,
        }
    }

    /// Whether the path has metadata (decides `create` versus `update` in policies).
    pub async fn exists(&self, path: &SecretPath) -> Result<bool> {
        let mut tx = self.store.reads().await?;
        let found = tx.secret(self.mount, path.as_str()).await?.is_some();
        tx.commit().await?;
        Ok(found)
    }

    /// Reads a version (`None` or 0: the current one), metadata and version in one statement.
    pub async fn read(&self, path: &SecretPath, version: Option<i64>) -> Result<Read> {
        let mut tx = self.store.reads().await?;
        let (state, found) = tx
            .secret_with_version(self.mount, path.as_str(), version.filter(|v| *v > 0))
            .await?
            .ok_or(Error::NotFound)?;
        self.verify(&mut tx, path, &state).await?;
        tx.commit().await?;
        let (info, sealed) = found.ok_or(Error::NotFound)?;
        let meta = state.meta;
        check_listed(self.root, &state.versions, &info, self.mount, path)?;
        let version = info.version;
        audit::scope::note_version(version);
        let mut view = VersionView {
            meta: info,
            custom_metadata: meta.custom_metadata,
            data: None,
        };
        match sealed {
            Some(sealed) if !view.meta.is_gone(now_micros()) => {
                let plaintext = self.keyring.open(self.at(path, version), &sealed)?;
                view.data = Some(decode(&plaintext)?);
                Ok(Read::Found(view))
            }
            _ => Ok(Read::Gone(view)),
        }
    }

    pub async fn write(
        &self,
        path: &SecretPath,
        data: Data,
        cas: Option<i64>,
    ) -> Result<VersionView> {
        if self.store.backend() == Backend::Postgres {
            for _ in 0..UNLOCKED_WRITE_ATTEMPTS {
                match self.write_unlocked(path, &data, cas).await? {
                    Unlocked::Written(view) => return Ok(view),
                    Unlocked::Raced => continue,
                    Unlocked::NoSecret => break,
                }
            }
        }
        let now = now_micros();
        let mut tx = audit::begin_write(self.store).await?;
        let (config, mut state) = self
            .lock_for_write(&mut tx, path, IfMissing::Create, now)
            .await?;
        state.meta.check_cas(&config, cas)?;
        let view = self
            .append_version(&mut tx, path, &mut state, &config, &data, now)
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// A write to an existing secret without a row lock: two statements, the second applied
    /// only if no other change came between (see `confmgr_store::RowVersion`).
    async fn write_unlocked(
        &self,
        path: &SecretPath,
        data: &Data,
        cas: Option<i64>,
    ) -> Result<Unlocked> {
        let now = now_micros();
        let mut conn = self.store.autocommit().await?;
        let Some((config, mut state, seen)) = conn
            .secret_and_config_unlocked(self.mount, path.as_str())
            .await?
        else {
            return Ok(Unlocked::NoSecret);
        };
        // The state is written only if the row is still at `seen`, which every change to
        // the versions' states moves too (they update the row's MAC).
        self.verify(&mut conn, path, &state).await?;
        state.meta.check_cas(&config, cas)?;
        let next = self.next_version(path, &mut state, &config, data, now)?;
        let meta = state.meta;
        let event = audit::scope::event_for_change();
        let written = conn
            .append_version_if_unchanged(
                self.mount,
                path.as_str(),
                &next.as_new(&meta),
                &seen,
                event.as_ref(),
            )
            .await;
        match written {
            Ok(true) => Ok(Unlocked::Written(next.view(&meta))),
            Ok(false) => {
                tracing::debug!(
                    mount = self.mount,
                    "a write raced another change to the secret; reading again"
                );
                audit::scope::change_not_recorded();
                Ok(Unlocked::Raced)
            }
            Err(error) => {
                audit::scope::change_not_recorded();
                Err(error.into())
            }
        }
    }

    /// JSON merge patch onto the current version, as a new version, in one transaction.
    pub async fn patch(
        &self,
        path: &SecretPath,
        patch: Data,
        cas: Option<i64>,
    ) -> Result<VersionView> {
        let now = now_micros();
        let mut tx = audit::begin_write(self.store).await?;
        let (config, mut state) = self
            .lock_for_write(&mut tx, path, IfMissing::NotFound, now)
            .await?;
        let mut data = self
            .open_version(&mut tx, path, &state, state.meta.current_version, now)
            .await?
            .ok_or(Error::NotFound)?;
        state.meta.check_cas(&config, cas)?;
        merge_patch::apply(&mut data, &patch);
        let view = self
            .append_version(&mut tx, path, &mut state, &config, &data, now)
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Writes the data of an earlier version as a new version, in one transaction: the old
    /// version is decrypted under the row lock and sealed again under a fresh data key, with
    /// the check-and-set, `max_versions` and `delete_version_after` rules of a normal write.
    pub async fn rollback(
        &self,
        path: &SecretPath,
        version: i64,
        cas: Option<i64>,
    ) -> Result<VersionView> {
        let now = now_micros();
        let mut tx = audit::begin_write(self.store).await?;
        let (config, mut state) = self
            .lock_for_write(&mut tx, path, IfMissing::NotFound, now)
            .await?;
        let data = self
            .open_version(&mut tx, path, &state, version, now)
            .await?
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "version {version} is deleted or destroyed and cannot be rolled back to"
                ))
            })?;
        state.meta.check_cas(&config, cas)?;
        let view = self
            .append_version(&mut tx, path, &mut state, &config, &data, now)
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// The decrypted data of a stored version: `NotFound` if there is no such version (never
    /// written or pruned), `None` if it is deleted or destroyed and must not be served.
    async fn open_version(
        &self,
        tx: &mut StoreTx,
        path: &SecretPath,
        state: &SecretState,
        version: i64,
        now: Micros,
    ) -> Result<Option<Data>> {
        let (info, sealed) = tx
            .sealed_version(self.mount, path.as_str(), version)
            .await?
            .ok_or(Error::NotFound)?;
        check_listed(self.root, &state.versions, &info, self.mount, path)?;
        match sealed {
            Some(sealed) if !info.is_gone(now) => {
                let plaintext = self.keyring.open(self.at(path, version), &sealed)?;
                Ok(Some(decode(&plaintext)?))
            }
            _ => Ok(None),
        }
    }

    async fn append_version(
        &self,
        tx: &mut StoreTx,
        path: &SecretPath,
        state: &mut SecretState,
        config: &KvConfig,
        data: &Data,
        now: Micros,
    ) -> Result<VersionView> {
        let next = self.next_version(path, state, config, data, now)?;
        tx.append_version(self.mount, path.as_str(), &next.as_new(&state.meta))
            .await?;
        Ok(next.view(&state.meta))
    }

    /// Seals `data` as the version after the current one and updates `state` to match
    /// (current version, update time, versions pruned by `max_versions`, the metadata MAC).
    fn next_version(
        &self,
        path: &SecretPath,
        state: &mut SecretState,
        config: &KvConfig,
        data: &Data,
        now: Micros,
    ) -> Result<NextVersion> {
        let meta = &mut state.meta;
        let version = meta.current_version + 1;
        let plaintext =
            Zeroizing::new(serde_json::to_vec(data).map_err(|e| Error::Internal(e.to_string()))?);
        let sealed = self.keyring.seal(self.at(path, version), &plaintext)?;
        let delete_after = meta.effective_delete_after(config);
        let info = VersionMeta {
            version,
            created_at: now,
            // Checked (issue 22): a setting stored before durations were bounded to 100
            // years counts as 100 years, never wraps into the past.
            deletion_time: (delete_after > 0)
                .then(|| {
                    confmgr_core::duration::micros_after(
                        now,
                        delete_after.min(confmgr_core::duration::MAX_SECONDS),
                    )
                })
                .flatten(),
            destroyed: false,
        };
        audit::scope::note_version(version);
        meta.current_version = version;
        meta.updated_at = now;
        let prune_below = meta.prune_below(config);
        if let Some(below) = prune_below {
            meta.oldest_version = below;
            state.versions.retain(|v| v.version >= below);
        }
        state.versions.push(info.clone());
        self.bind(path, &mut state.meta, &state.versions)?;
        Ok(NextVersion {
            info,
            sealed,
            prune_below,
        })
    }

    /// Soft-deletes the current version. A path that does not exist is not an error (Vault).
    pub async fn delete_latest(&self, path: &SecretPath) -> Result<()> {
        let mut tx = audit::begin_write(self.store).await?;
        if let Some(state) = tx
            .secret_state_for_update(self.mount, path.as_str())
            .await?
        {
            let current = state.meta.current_version;
            self.change_states(&mut tx, path, state, &[current], VersionChange::Delete)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies a version change to a locked secret and stores the MAC of its new state.
    async fn change_states(
        &self,
        tx: &mut StoreTx,
        path: &SecretPath,
        mut state: SecretState,
        versions: &[i64],
        change: VersionChange,
    ) -> Result<()> {
        self.verify(tx, path, &state).await?;
        let (mount, path_str) = (self.mount, path.as_str());
        let now = now_micros();
        match change {
            VersionChange::Delete => {
                tx.set_deletion_time(mount, path_str, versions, Some(now))
                    .await?
            }
            VersionChange::Undelete => {
                tx.set_deletion_time(mount, path_str, versions, None)
                    .await?
            }
            VersionChange::Destroy => tx.destroy_versions(mount, path_str, versions).await?,
        }
        // The same rules as the statements above: deletion times change on versions that
        // are not destroyed; destroy applies to any listed version.
        for v in state
            .versions
            .iter_mut()
            .filter(|v| versions.contains(&v.version))
        {
            match change {
                VersionChange::Delete if !v.destroyed => v.deletion_time = Some(now),
                VersionChange::Undelete if !v.destroyed => v.deletion_time = None,
                VersionChange::Destroy => v.destroyed = true,
                _ => {}
            }
        }
        self.bind(path, &mut state.meta, &state.versions)?;
        if let Some(mac) = &state.meta.binding {
            tx.set_metadata_binding(mount, path_str, mac).await?;
        }
        Ok(())
    }

    /// Soft-deletes, undeletes or destroys listed versions. Destroy erases their wrapped data
    /// keys and ciphertexts. A path that does not exist is not an error (Vault).
    pub async fn change_versions(
        &self,
        path: &SecretPath,
        versions: &[i64],
        change: VersionChange,
    ) -> Result<()> {
        if versions.is_empty() {
            return Err(Error::Invalid("no version number provided".into()));
        }
        let mut tx = audit::begin_write(self.store).await?;
        if let Some(state) = tx
            .secret_state_for_update(self.mount, path.as_str())
            .await?
        {
            self.change_states(&mut tx, path, state, versions, change)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn metadata(&self, path: &SecretPath) -> Result<(SecretMeta, Vec<VersionMeta>)> {
        let mut tx = self.store.begin().await?;
        let state = tx
            .secret_state(self.mount, path.as_str())
            .await?
            .ok_or(Error::NotFound)?;
        self.verify(&mut tx, path, &state).await?;
        tx.commit().await?;
        Ok((state.meta, state.versions))
    }

    pub async fn update_metadata(
        &self,
        path: &SecretPath,
        update: MetadataUpdate,
        if_missing: IfMissing,
    ) -> Result<()> {
        let now = now_micros();
        let mut tx = audit::begin_write(self.store).await?;
        let (_, state) = self.lock_for_write(&mut tx, path, if_missing, now).await?;
        let SecretState { mut meta, versions } = state;
        if let Some(max) = update.max_versions {
            meta.max_versions = max;
        }
        if let Some(required) = update.cas_required {
            meta.cas_required = required;
        }
        if let Some(after) = update.delete_version_after {
            meta.delete_version_after = after;
        }
        meta.custom_metadata = update.custom_metadata.apply(meta.custom_metadata.take())?;
        meta.updated_at = now;
        self.bind(path, &mut meta, &versions)?;
        tx.update_secret(self.mount, path.as_str(), &meta).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_metadata(&self, path: &SecretPath) -> Result<()> {
        let mut tx = audit::begin_write(self.store).await?;
        tx.delete_secret(self.mount, path.as_str()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The direct children of a folder: secrets by name, sub-folders with a trailing `/`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut tx = self.store.begin().await?;
        let paths = tx.paths_with_prefix(self.mount, prefix).await?;
        tx.commit().await?;
        // Sorted here, not by the database: PostgreSQL collations do not order bytes.
        let keys: std::collections::BTreeSet<String> = paths
            .iter()
            .filter_map(|p| p.get(prefix.len()..))
            .map(|rest| match rest.find('/') {
                Some(i) => rest[..=i].to_owned(),
                None => rest.to_owned(),
            })
            .collect();
        if keys.is_empty() {
            return Err(Error::NotFound);
        }
        Ok(keys.into_iter().collect())
    }

    pub async fn mount_config(&self) -> Result<KvConfig> {
        let mut tx = self.store.begin().await?;
        let config = self.config(&mut tx).await?;
        tx.commit().await?;
        Ok(config)
    }

    /// Changes the mount's settings in one transaction; `None` fields keep their value.
    pub async fn update_mount_config(&self, update: ConfigUpdate) -> Result<KvConfig> {
        let mut tx = audit::begin_write(self.store).await?;
        let mut config = tx
            .kv_config_for_update(self.mount)
            .await?
            .ok_or(Error::NotFound)?;
        if let Some(max) = update.max_versions {
            config.max_versions = max;
        }
        if let Some(required) = update.cas_required {
            config.cas_required = required;
        }
        if let Some(after) = update.delete_version_after {
            config.delete_version_after = after;
        }
        tx.set_kv_config(self.mount, &config).await?;
        tx.commit().await?;
        Ok(config)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Bound {
    Yes,
    /// No MAC: written before migration 0007, or by a writer without keys.
    Unbound,
}

/// A secret's path as log lines name it: a legacy secret id (a bearer credential) is
/// replaced by its keyed digest, as in audit events (`audit::redact_legacy_ids`).
fn logged_path(root: &RootKey, mount: &str, path: &str) -> String {
    audit::redact_legacy_ids(root, mount, path)
}

/// Checks a secret's metadata MAC, if it has one. A mismatch is logged and refused like a
/// ciphertext that fails authentication. `root` only keys the path's digest in the log.
fn verify_binding(
    (keyring, root): (&Keyring, &RootKey),
    mount: &str,
    path: &str,
    state: &SecretState,
) -> Result<Bound> {
    let Some(mac) = &state.meta.binding else {
        return Ok(Bound::Unbound);
    };
    let input = metadata_mac_input(mount, path, &state.meta, &state.versions);
    keyring.verify_metadata(&input, mac).map_err(|error| {
        let path = logged_path(root, mount, path);
        tracing::error!(mount, path, term = mac.term, %error, "secret metadata does not match its MAC (edited, replayed or copied rows): refusing to serve or change it");
        Error::Crypto(error)
    })?;
    Ok(Bound::Yes)
}

/// A secret without a metadata MAC is served (and bound at its next change) only until
/// every secret has been bound; after that it was edited.
async fn allow_unbound(
    (keyring, root): (&Keyring, &RootKey),
    tx: &mut StoreTx,
    mount: &str,
    path: &str,
) -> Result<()> {
    let path = logged_path(root, mount, path);
    if !keyring.metadata_bound() && tx.state_value(METADATA_BOUND).await?.is_some() {
        keyring.mark_metadata_bound();
    }
    if keyring.metadata_bound() {
        tracing::error!(mount, path, "secret metadata has no MAC although every secret was bound (edited rows): refusing to serve or change it");
        return Err(Error::Crypto(CryptoError::MetadataAuthentication));
    }
    tracing::debug!(
        mount,
        path,
        "secret metadata not bound yet (written before migration 0007)"
    );
    Ok(())
}

fn bind(
    keyring: &Keyring,
    mount: &str,
    path: &str,
    meta: &mut SecretMeta,
    versions: &[VersionMeta],
) -> Result<()> {
    let input = metadata_mac_input(mount, path, meta, versions);
    meta.binding = Some(keyring.mac_metadata(&input)?);
    Ok(())
}

/// A version read on its own must be one the (verified) metadata lists, in the same state.
fn check_listed(
    root: &RootKey,
    versions: &[VersionMeta],
    info: &VersionMeta,
    mount: &str,
    path: &SecretPath,
) -> Result<()> {
    if versions.contains(info) {
        return Ok(());
    }
    tracing::error!(
        mount,
        path = logged_path(root, mount, path.as_str()),
        version = info.version,
        "a version row does not match the secret's bound metadata (edited rows): refusing it"
    );
    Err(Error::Crypto(CryptoError::MetadataAuthentication))
}

/// One batch of binding secrets written before migration 0007 (run by the key worker until
/// done): each unbound secret gets the MAC of its state as stored now. Once none is left,
/// records `METADATA_BOUND`, after which a secret without a MAC is refused. Returns how
/// many secrets it bound.
pub async fn bind_unbound_metadata(store: &Store, keyring: &Keyring, batch: i64) -> Result<usize> {
    if keyring.metadata_bound() {
        return Ok(0);
    }
    let mut tx = store.begin_write().await?;
    if tx.state_value(METADATA_BOUND).await?.is_some() {
        tx.commit().await?;
        keyring.mark_metadata_bound();
        return Ok(0);
    }
    let unbound = tx.unbound_secrets(batch).await?;
    let mut bound = 0usize;
    for found in &unbound {
        let mut meta = found.state.meta.clone();
        bind(
            keyring,
            &found.mount,
            &found.path,
            &mut meta,
            &found.state.versions,
        )?;
        if let Some(mac) = &meta.binding {
            if tx
                .replace_metadata_binding(&found.mount, &found.path, None, mac)
                .await?
            {
                bound += 1;
            }
        }
    }
    if unbound.is_empty() {
        tx.set_state_value(METADATA_BOUND, Some(&now_micros().to_string()))
            .await?;
    }
    tx.commit().await?;
    if unbound.is_empty() {
        keyring.mark_metadata_bound();
        tracing::info!(
            "every secret's metadata is bound: a secret without a MAC is refused from now on"
        );
    } else {
        tracing::warn!(bound, "bound the metadata of secrets written before migration 0007 (their state as stored now)");
    }
    Ok(bound)
}

/// The rewrap's share for metadata: up to `batch` secrets whose MAC is keyed by a term older
/// than `active` are verified and MACed again under `active`, in the caller's transaction,
/// so the older terms can retire. Returns (found, moved); a MAC that does not verify fails
/// the batch (logged), leaving its term in use.
pub async fn rebind_below_term(
    tx: &mut StoreTx,
    keyring: &Keyring,
    root: &RootKey,
    active: i64,
    batch: i64,
) -> Result<(usize, usize)> {
    let found = tx.secrets_bound_below_term(active, batch).await?;
    let mut moved = 0usize;
    for secret in &found {
        let (mount, path) = (secret.mount.as_str(), secret.path.as_str());
        if verify_binding((keyring, root), mount, path, &secret.state)? == Bound::Unbound {
            tracing::error!(
                mount,
                path = logged_path(root, mount, path),
                "secret metadata has a MAC term but no MAC (edited rows)"
            );
            return Err(Error::Crypto(CryptoError::MetadataAuthentication));
        }
        let mut meta = secret.state.meta.clone();
        bind(keyring, mount, path, &mut meta, &secret.state.versions)?;
        if let Some(mac) = &meta.binding {
            if tx
                .replace_metadata_binding(mount, path, secret.state.meta.binding.as_ref(), mac)
                .await?
            {
                moved += 1;
            }
        }
    }
    Ok((found.len(), moved))
}

fn decode(plaintext: &[u8]) -> Result<Data> {
    // Authenticated plaintext that is not a JSON object means a bug, not tampering.
    serde_json::from_slice(plaintext)
        .map_err(|_| Error::Internal("stored plaintext is not a JSON object".into()))
}
