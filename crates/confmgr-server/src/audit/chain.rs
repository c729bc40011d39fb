//! This database's audit chain key (doc/audit.md, "The hash chain"): unwrapped with the root
//! key when first needed, created by the first seal pass that finds none, rewrapped by
//! `confmgr-server rekey`. Once unwrapped it is kept for the life of the process: the key of
//! a database never changes (a rekey only rewraps it), so a server that runs on across a
//! rekey keeps sealing.

use crate::error::{Error, Result};
use confmgr_core::audit_chain::{Chain, ChainKey, WrappedChainKey};
use confmgr_core::crypto::RootKey;
use confmgr_core::time::now_micros;
use confmgr_store::StoreTx;
use std::sync::{Arc, Mutex};

/// What a stored chain key that does not open means, and what to do.
const KEY_DOES_NOT_OPEN: &str = "the audit chain key (table audit_chain_key) does not open with this root key: the row was altered (its keyed_from moved or its key replaced) or copied from another database. Restore the row from a backup; until then audit events are not sealed and verification fails";

pub struct ChainKeys {
    root: Option<Arc<RootKey>>,
    loaded: Mutex<Option<Chain>>,
}

impl ChainKeys {
    pub fn new(root: Arc<RootKey>) -> Self {
        Self {
            root: Some(root),
            loaded: Mutex::new(None),
        }
    }

    /// For a server with audit turned off: it never seals, and a stored key cannot be opened.
    pub fn without_root() -> Self {
        Self {
            root: None,
            loaded: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<Chain> {
        self.loaded.lock().ok().and_then(|held| held.clone())
    }

    fn open(&self, wrapped: &WrappedChainKey) -> Result<Chain> {
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| Error::Internal(KEY_DOES_NOT_OPEN.into()))?;
        let key = ChainKey::unwrap(root, wrapped).map_err(|_| {
            tracing::error!("{KEY_DOES_NOT_OPEN}");
            Error::Internal(KEY_DOES_NOT_OPEN.into())
        })?;
        let chain = Chain::keyed(Arc::new(key), wrapped.keyed_from);
        if let Ok(mut held) = self.loaded.lock() {
            *held = Some(chain.clone());
        }
        Ok(chain)
    }

    /// The chain as stored: keyed when the database has a chain key, else unkeyed (no event
    /// has been sealed since migration 0008).
    pub async fn current(&self, tx: &mut StoreTx) -> Result<Chain> {
        if let Some(chain) = self.cached() {
            return Ok(chain);
        }
        match tx.audit_chain_key().await? {
            Some(wrapped) => self.open(&wrapped),
            None => Ok(Chain::unkeyed()),
        }
    }

    /// For the sealer, holding the sealer lock in `tx` and about to seal `next_seq`: the
    /// stored chain, or a new key stored in `tx`, keyed from `next_seq`. The bool is true
    /// when the key was created here (it is kept only once read back after the commit).
    pub async fn for_sealing(&self, tx: &mut StoreTx, next_seq: i64) -> Result<(Chain, bool)> {
        if let Some(chain) = self.cached() {
            return Ok((chain, false));
        }
        if let Some(wrapped) = tx.audit_chain_key().await? {
            return Ok((self.open(&wrapped)?, false));
        }
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| Error::Internal("no root key to create the audit chain key".into()))?;
        let key = ChainKey::generate();
        tx.insert_audit_chain_key(&key.wrap(root, next_seq)?, now_micros())
            .await?;
        Ok((Chain::keyed(Arc::new(key), next_seq), true))
    }
}

/// Rekey: the chain key wrapped under `new_root` in `tx` (the key itself, and so every
/// sealed link, stays). Returns false when the database has no chain key yet.
pub async fn rekey(tx: &mut StoreTx, old_root: &RootKey, new_root: &RootKey) -> Result<bool> {
    let Some(wrapped) = tx.audit_chain_key().await? else {
        return Ok(false);
    };
    let key = ChainKey::unwrap(old_root, &wrapped)
        .map_err(|_| Error::Internal(format!("{KEY_DOES_NOT_OPEN}; nothing was rekeyed")))?;
    tx.replace_audit_chain_key_wrapping(&key.wrap(new_root, wrapped.keyed_from)?)
        .await?;
    Ok(true)
}
