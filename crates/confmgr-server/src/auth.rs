//! Token authentication: `X-Vault-Token` or `Authorization: Bearer`, looked up by SHA-256
//! digest, then the token's policies become the caller's ACL. Both come from the auth cache
//! when the database confirmed them to this replica less than its TTL ago (at most one
//! second, the revocation bound); expiry and bound CIDRs are checked on every request.

use crate::auth_cache::{AclSource, AuthCache, CachedToken};
use crate::error::Error;
use crate::metrics::Confirmation;
use crate::services::{policies, tokens};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use confmgr_core::net;
use confmgr_core::policy::{Acl, Capability};
use confmgr_core::time::now_micros;
use confmgr_core::token;
use confmgr_store::{PolicyTexts, TokenRecord};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// The caller, authenticated, with what its policies allow.
pub struct Caller {
    pub token: Arc<TokenRecord>,
    /// What the caller presented (only ever echoed back to that caller by lookup-self).
    pub presented: String,
    pub acl: Arc<Acl>,
}

impl Caller {
    /// 403 unless the caller's policies grant `capability` on `path`.
    pub fn authorize(&self, path: &str, capability: Capability) -> Result<(), Error> {
        self.authorize_any(path, &[capability])
    }

    pub fn authorize_any(&self, path: &str, capabilities: &[Capability]) -> Result<(), Error> {
        if capabilities.iter().any(|c| self.acl.allows(path, *c)) {
            Ok(())
        } else {
            Err(self.denied())
        }
    }

    /// Whether the caller holds every one of `capabilities` on `path` (no audit note).
    pub fn holds_all(&self, path: &str, capabilities: &[Capability]) -> bool {
        capabilities.iter().all(|c| self.acl.allows(path, *c))
    }

    /// `list` is looked up as Vault does: a rule for the folder without its trailing `/`
    /// counts too.
    pub fn authorize_list(&self, path: &str) -> Result<(), Error> {
        if self
            .acl
            .capabilities_for_list(path)
            .contains(&Capability::List)
        {
            Ok(())
        } else {
            Err(self.denied())
        }
    }

    /// The log line names the token, not the path: a path may name a secret (and a legacy
    /// path holds its bearer id). The request's audit event, found by the `request_id` of
    /// the line's span, has the path (doc/operations.md, logs).
    fn denied(&self) -> Error {
        tracing::info!(accessor = %self.token.accessor, "permission denied");
        Error::PermissionDenied
    }
}

pub fn presented_token(parts: &Parts) -> Option<String> {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    header("x-vault-token")
        .map(str::to_owned)
        .or_else(|| {
            header("authorization")
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(|t| t.trim().to_owned())
        })
        .filter(|t| !t.is_empty())
}

/// The peer's address (the TCP connection's; no proxy headers are trusted), with IPv4
/// clients of an IPv6 listener shown as IPv4 so IPv4 CIDRs match them.
pub fn remote_address(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// A token that may be used now, from `address`.
pub fn usable(token: &TokenRecord, now: i64, address: IpAddr) -> bool {
    live(token, now) && net::allowed(&token.bound_cidrs, address)
}

/// Neither revoked nor expired (from where is each request's own check).
fn live(token: &TokenRecord, now: i64) -> bool {
    token.revoked_at.is_none() && token.expires_at.is_none_or(|at| at > now)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let presented = presented_token(parts).ok_or(Error::PermissionDenied)?;
        let address = remote_address(parts);
        let digest = token::digest(&presented);
        let cache = &state.access.auth_cache;
        let found = match cache.token(&digest) {
            // A cached token that has expired since is looked up again: it may have been
            // renewed on another replica.
            Some(cached) if cached.record.expires_at.is_none_or(|at| at > now_micros()) => {
                state.metrics.count_auth_cache(true);
                Some(cached)
            }
            _ => {
                state.metrics.count_auth_cache(false);
                look_up(state, cache, digest, address).await?
            }
        };
        let Some(CachedToken { record, acl }) = found else {
            return Err(Error::PermissionDenied);
        };
        // Identify the caller in the audit event even when its token is refused.
        note_actor(&record);
        if !usable(&record, now_micros(), address) {
            return Err(Error::PermissionDenied);
        }
        // A use-limited token is never cached (see `look_up`): each use is counted in the
        // database, atomically, so concurrent requests cannot spend one use twice.
        let record = if record.num_uses > 0 {
            let Some(left) = tokens::spend_use(&state.store, cache, &record).await? else {
                return Err(Error::PermissionDenied);
            };
            Arc::new(TokenRecord {
                num_uses: left,
                ..TokenRecord::clone(&record)
            })
        } else {
            record
        };
        Ok(Self {
            token: record,
            presented,
            acl,
        })
    }
}

fn note_actor(token: &TokenRecord) {
    crate::audit::scope::note_actor(
        &token.display_name,
        &token.accessor,
        &token.issuer,
        token.client_id.as_deref().unwrap_or_default(),
    );
}

/// The token and its ACL from the database, cached when the token is usable. A refused
/// token is never cached, so the next request sees its state afresh.
async fn look_up(
    state: &AppState,
    cache: &AuthCache,
    digest: Vec<u8>,
    address: IpAddr,
) -> Result<Option<CachedToken>, Error> {
    let generation = cache.generation();
    let read_at = Instant::now();
    let mut reads = state.store.reads().await?;
    let Some((record, policy_texts)) = reads.token_with_policy_texts(&digest).await? else {
        return Ok(None);
    };
    // Building the ACL needs no connection: give it back first.
    reads.commit().await?;
    if !usable(&record, now_micros(), address) {
        note_actor(&record);
        return Err(Error::PermissionDenied);
    }
    let limited = record.num_uses > 0;
    let found = cached_token(cache, generation, record, policy_texts);
    if !limited {
        cache.put_token(generation, read_at, digest, found.clone());
    }
    Ok(Some(found))
}

/// The token with the ACL of its policies, parsed only when these texts have not been.
fn cached_token(
    cache: &AuthCache,
    generation: u64,
    record: TokenRecord,
    texts: PolicyTexts,
) -> CachedToken {
    let source = AclSource {
        names: record.policies.clone(),
        texts,
    };
    let acl = match cache.acl(&source) {
        Some(acl) => acl,
        None => {
            let acl = Arc::new(policies::acl_from_texts(&source.names, &source.texts));
            cache.put_acl(generation, source, acl.clone());
            acl
        }
    };
    CachedToken {
        record: Arc::new(record),
        acl,
    }
}

/// Confirms the cached tokens in use against the database four times per cache TTL.
/// First it reads the access-change marker: if no token and no policy changed since the
/// previous pass, that one read confirms every entry in use (see `crate::auth_cache`).
/// Then a token served since it was last confirmed and past the middle of its TTL (after
/// a change, or a lookup made before the previous read) is read again with its policies
/// and cached for another TTL from before that read, or forgotten when it was revoked,
/// expired or deleted meanwhile (by another replica, or behind the server's back).
/// Without this every busy token would cost a lookup on some request every TTL. Runs
/// until the task is aborted; nothing to do when the cache is off.
pub fn keep_tokens_verified(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let cache = &state.access.auth_cache;
        if !cache.enabled() {
            return;
        }
        // A quarter of the TTL: an unchanged marker extends every entry in use well before
        // it expires, a token read again in a batch is read about every half TTL, and a
        // slow or failed pass leaves a quarter TTL for the next one.
        let mut ticks = tokio::time::interval(cache.ttl() / 4);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = confirm_cached_tokens(&state).await {
                // Entries then simply expire, and requests look their tokens up again.
                tracing::warn!(%error, "auth cache: confirming the tokens in use failed");
            }
        }
    })
}

async fn confirm_cached_tokens(state: &AppState) -> Result<(), Error> {
    let cache = &state.access.auth_cache;
    if !cache.holds_tokens() {
        return Ok(());
    }
    let sent = Instant::now();
    let mut reads = state.store.reads().await?;
    let marker = reads.access_change_marker().await?;
    let unchanged = cache.note_access_marker(marker, sent, Instant::now());
    state
        .metrics
        .count_tokens_confirmed(Confirmation::MarkerUnchanged, unchanged);

    let generation = cache.generation();
    let read_at = Instant::now();
    let digests = cache.tokens_due();
    if digests.is_empty() {
        return Ok(());
    }
    let found = reads.tokens_with_policy_texts(&digests).await?;
    reads.commit().await?;
    let now = now_micros();
    let mut confirmed = HashSet::with_capacity(found.len());
    for (record, texts) in found {
        if live(&record, now) {
            let digest = record.digest.clone();
            let token = cached_token(cache, generation, record, texts);
            cache.put_token(generation, read_at, digest.clone(), token);
            confirmed.insert(digest);
        }
    }
    for digest in digests.iter().filter(|d| !confirmed.contains(*d)) {
        cache.forget_token(digest);
    }
    state
        .metrics
        .count_tokens_confirmed(Confirmation::ReadAgain, confirmed.len());
    Ok(())
}
