//! Token lifecycle: minting, child tokens, renewal, revocation (with children).

use crate::audit;
use crate::auth_cache::AuthCache;
use crate::error::{Error, Result};
use confmgr_core::duration::{self, micros_after};
use confmgr_core::policy::ROOT_POLICY;
use confmgr_core::time::now_micros;
use confmgr_core::token::{self, Token};
use confmgr_store::{Store, TokenRecord};
use std::collections::BTreeMap;

const MICROS: i64 = 1_000_000;

/// What a new token is made of.
pub struct NewToken {
    pub display_name: String,
    pub policies: Vec<String>,
    pub client_id: Option<String>,
    pub parent_accessor: Option<String>,
    pub issuer: String,
    /// Seconds; 0: never expires (root tokens only).
    pub ttl: i64,
    /// Seconds from creation that renewals may reach; 0: no limit beyond `ttl`.
    pub max_ttl: i64,
    pub bound_cidrs: Vec<String>,
    pub meta: BTreeMap<String, String>,
}

/// A token and its stored record (digest only); the caller inserts it in its transaction.
/// TTLs beyond `duration::MAX_SECONDS` (only settings stored before durations were bounded
/// can be) are cut to it: a token must never come out expired, nor never-expiring.
pub fn mint(spec: NewToken, now: i64) -> (Token, TokenRecord) {
    let token = Token::generate();
    let max_ttl = spec.max_ttl.min(duration::MAX_SECONDS);
    let ttl = if max_ttl > 0 {
        spec.ttl.min(max_ttl)
    } else {
        spec.ttl.min(duration::MAX_SECONDS)
    };
    let record = TokenRecord {
        digest: token.digest(),
        accessor: token::new_accessor(),
        display_name: spec.display_name,
        policies: spec.policies,
        client_id: spec.client_id,
        parent_accessor: spec.parent_accessor,
        created_at: now,
        expires_at: (ttl > 0).then(|| later(now, ttl)),
        revoked_at: None,
        issuer: spec.issuer,
        ttl,
        max_expires_at: (max_ttl > 0).then(|| later(now, max_ttl)),
        bound_cidrs: spec.bound_cidrs,
        meta: spec.meta,
    };
    (token, record)
}

/// `seconds` (at most `duration::MAX_SECONDS`) after `now`; should the sum not fit, the
/// latest time there is, never a time in the past.
fn later(now: i64, seconds: i64) -> i64 {
    micros_after(now, seconds.min(duration::MAX_SECONDS)).unwrap_or(i64::MAX)
}

pub fn is_root(token: &TokenRecord) -> bool {
    token.policies.iter().any(|p| p == ROOT_POLICY)
}

/// Seconds left before the token expires (0 for tokens that never do).
pub fn seconds_left(token: &TokenRecord, now: i64) -> i64 {
    token
        .expires_at
        .map(|at| (at.saturating_sub(now).saturating_add(MICROS - 1) / MICROS).max(0))
        .unwrap_or(0)
}

pub struct ChildRequest {
    pub policies: Option<Vec<String>>,
    pub ttl: Option<i64>,
    pub explicit_max_ttl: Option<i64>,
    pub display_name: Option<String>,
    pub meta: BTreeMap<String, String>,
    pub orphan: bool,
}

/// A token created by `parent`: its policies a subset of the parent's, revoked with it
/// unless it is an orphan (root tokens only).
pub async fn create_child(
    store: &Store,
    parent: &TokenRecord,
    request: ChildRequest,
    default_ttl: i64,
    max_ttl: i64,
) -> Result<(Token, TokenRecord)> {
    let parent_is_root = is_root(parent);
    let policies = request.policies.unwrap_or_else(|| parent.policies.clone());
    if !parent_is_root {
        if let Some(extra) = policies.iter().find(|p| !parent.policies.contains(p)) {
            return Err(Error::Invalid(format!(
                "child policies must be a subset of the parent's ({extra:?} is not)"
            )));
        }
        if request.orphan {
            return Err(Error::Invalid(
                "only root tokens may create orphan tokens".into(),
            ));
        }
    }
    // 0 means "the default", as in Vault: only root tokens from `init` never expire.
    let ttl = request.ttl.filter(|t| *t > 0).unwrap_or(default_ttl);
    let explicit_max = request.explicit_max_ttl.unwrap_or(0);
    let max_ttl = if explicit_max > 0 {
        explicit_max.min(max_ttl)
    } else {
        max_ttl
    };
    let now = now_micros();
    let (token, mut record) = mint(
        NewToken {
            display_name: format!("token-{}", request.display_name.unwrap_or_default())
                .trim_end_matches('-')
                .to_owned(),
            policies,
            client_id: parent.client_id.clone(),
            parent_accessor: (!request.orphan).then(|| parent.accessor.clone()),
            issuer: parent.issuer.clone(),
            ttl,
            max_ttl,
            bound_cidrs: parent.bound_cidrs.clone(),
            meta: request.meta,
        },
        now,
    );
    // A child starts no later than its parent ends, and renewals cannot carry it past the
    // parent's own renewal limit.
    if !request.orphan {
        if let Some(parent_end) = parent.expires_at {
            record.expires_at = record
                .expires_at
                .map(|end| end.min(parent_end))
                .or(Some(parent_end));
        }
        if let Some(parent_max) = parent.max_expires_at {
            record.max_expires_at = record
                .max_expires_at
                .map(|max| max.min(parent_max))
                .or(Some(parent_max));
        }
    }
    let mut tx = audit::begin_write(store).await?;
    tx.insert_token(&record).await?;
    tx.commit().await?;
    Ok((token, record))
}

/// Extends the token by `increment` seconds (default: its TTL), never past its max TTL.
pub async fn renew(
    store: &Store,
    cache: &AuthCache,
    token: &TokenRecord,
    increment: Option<i64>,
) -> Result<TokenRecord> {
    if token.expires_at.is_none() {
        return Ok(token.clone());
    }
    let now = now_micros();
    let wanted = later(now, increment.filter(|i| *i > 0).unwrap_or(token.ttl));
    let new_end = token.max_expires_at.map_or(wanted, |max| wanted.min(max));
    let mut tx = audit::begin_write(store).await?;
    tx.set_token_expiry(&token.accessor, Some(new_end)).await?;
    tx.commit().await?;
    cache.forget_all();
    Ok(TokenRecord {
        expires_at: Some(new_end),
        ..token.clone()
    })
}

/// Revokes the token with this accessor and every token created from it.
pub async fn revoke_accessor(store: &Store, cache: &AuthCache, accessor: &str) -> Result<()> {
    let mut tx = audit::begin_write(store).await?;
    if tx.token_by_accessor(accessor).await?.is_none() {
        return Err(Error::Invalid("invalid accessor".into()));
    }
    tx.revoke_token_tree(accessor, now_micros()).await?;
    tx.commit().await?;
    cache.forget_all();
    Ok(())
}

pub async fn by_accessor(store: &Store, accessor: &str) -> Result<TokenRecord> {
    let mut tx = store.begin().await?;
    let record = tx.token_by_accessor(accessor).await?;
    tx.commit().await?;
    record
        .filter(|t| t.revoked_at.is_none())
        .ok_or_else(|| Error::Invalid("invalid accessor".into()))
}

pub async fn by_token(store: &Store, presented: &str) -> Result<TokenRecord> {
    let mut tx = store.begin().await?;
    let record = tx.token_by_digest(&token::digest(presented)).await?;
    tx.commit().await?;
    record
        .filter(|t| t.revoked_at.is_none() && t.expires_at.is_none_or(|at| at > now_micros()))
        .ok_or_else(|| Error::Invalid("bad token".into()))
}
