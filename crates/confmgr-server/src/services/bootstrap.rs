//! Start-up: initialize an empty database, open the keyring of an existing one.

use crate::error::{Error, Result};
use crate::services::approle::LOCAL_ISSUER;
use confmgr_core::crypto::{Keyring, RootKey, TermKey};
use confmgr_core::policy::ROOT_POLICY;
use confmgr_core::time::now_micros;
use confmgr_core::token::{self, Token};
use confmgr_store::{Store, StoreError, TokenRecord};

/// Creates keyring term 1 and a root token in one transaction. Runs once per database.
pub async fn initialize(store: &Store, root: &RootKey, root_token: Token) -> Result<Token> {
    let now = now_micros();
    let mut tx = store.begin_write().await?;
    tx.mark_initialized(now).await?;
    tx.insert_term(&root.wrap_term(&TermKey::generate(1))?, now)
        .await?;
    tx.insert_token(&root_token_record(&root_token, now))
        .await?;
    tx.commit().await?;
    Ok(root_token)
}

/// What `ensure_root_token` found.
#[derive(Debug, PartialEq, Eq)]
pub enum DevRootToken {
    /// Registered now, or already there and usable.
    Usable,
    /// The token was revoked (by itself or by a parent): it stays revoked. Vault's dev
    /// mode recreates its root token at each start because its storage is in memory;
    /// ConfMgr's dev database persists, and a revoked credential that came back at the next
    /// start would be a security surprise.
    Revoked,
}

/// Registers a caller-chosen root token (`--dev-root-token`) if it is not there yet. A
/// token revoked earlier is never brought back: the caller refuses to start.
pub async fn ensure_root_token(store: &Store, root_token: &Token) -> Result<DevRootToken> {
    let mut tx = store.begin_write().await?;
    if let Some(existing) = tx.token_by_digest(&root_token.digest()).await? {
        tx.commit().await?;
        return Ok(if existing.revoked_at.is_some() {
            DevRootToken::Revoked
        } else {
            DevRootToken::Usable
        });
    }
    tx.insert_token(&root_token_record(root_token, now_micros()))
        .await?;
    tx.commit().await?;
    Ok(DevRootToken::Usable)
}

fn root_token_record(root_token: &Token, now: i64) -> TokenRecord {
    TokenRecord {
        digest: root_token.digest(),
        accessor: token::new_accessor(),
        display_name: "root".into(),
        policies: vec![ROOT_POLICY.into()],
        client_id: None,
        parent_accessor: None,
        created_at: now,
        expires_at: None,
        revoked_at: None,
        issuer: LOCAL_ISSUER.into(),
        ttl: 0,
        max_expires_at: None,
        bound_cidrs: Vec::new(),
        meta: Default::default(),
        path: "auth/token/root".into(),
        ..TokenRecord::default()
    }
}

pub async fn is_initialized(store: &Store) -> Result<bool> {
    let mut tx = store.begin().await?;
    let initialized = tx.is_initialized().await?;
    tx.commit().await?;
    Ok(initialized)
}

/// Why the server will not start; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error("the database is not initialized: run `confmgr-server init` first")]
    NotInitialized,
    #[error("the root key does not open this database's keyring: CONFMGR_ROOT_KEY / CONFMGR_ROOT_KEY_FILE is not the key this database was initialized with")]
    WrongRootKey,
    #[error("the database is initialized but holds no keyring terms: restore it from a backup")]
    EmptyKeyring,
    #[error(transparent)]
    Other(#[from] Error),
}

impl From<StoreError> for UnlockError {
    fn from(error: StoreError) -> Self {
        Self::Other(Error::Store(error))
    }
}

/// Wraps every keyring term under `new_root` in one transaction (the terms themselves, and
/// so every data key, stay as they are). Returns how many terms were rewrapped.
pub async fn rekey(
    store: &Store,
    old_root: &RootKey,
    new_root: &RootKey,
) -> Result<usize, UnlockError> {
    let mut tx = store.begin_write().await?;
    if !tx.is_initialized().await? {
        return Err(UnlockError::NotInitialized);
    }
    let wrapped = tx.keyring_terms().await?;
    if wrapped.is_empty() {
        return Err(UnlockError::EmptyKeyring);
    }
    let keyring = Keyring::unwrap_all(old_root, &wrapped).map_err(|_| UnlockError::WrongRootKey)?;
    for term in keyring.term_keys() {
        tx.replace_term_wrapping(&new_root.wrap_term(&term).map_err(Error::from)?)
            .await?;
    }
    crate::audit::chain::rekey(&mut tx, old_root, new_root).await?;
    tx.commit().await?;
    Ok(wrapped.len())
}

/// Unwraps every keyring term with the root key; fails closed on the first that does not open.
pub async fn unlock(store: &Store, root: &RootKey) -> Result<Keyring, UnlockError> {
    let mut tx = store.begin().await?;
    if !tx.is_initialized().await? {
        return Err(UnlockError::NotInitialized);
    }
    let wrapped = tx.keyring_terms().await?;
    tx.commit().await?;
    if wrapped.is_empty() {
        return Err(UnlockError::EmptyKeyring);
    }
    Keyring::unwrap_all(root, &wrapped).map_err(|_| UnlockError::WrongRootKey)
}
