//! Token lifecycle as Vault has it: minting, child and orphan tokens, token roles,
//! periodic and use-limited tokens, renewal, revocation (with or without children).

use crate::audit;
use crate::auth_cache::AuthCache;
use crate::error::{Error, Result};
use crate::services::token_roles::{self, TokenRole};
use crate::state::AccessSettings;
use confmgr_core::duration::{self, micros_after};
use confmgr_core::policy::{self, DEFAULT_POLICY, ROOT_POLICY};
use confmgr_core::time::now_micros;
use confmgr_core::token::{self, Token};
use confmgr_store::{Store, TokenRecord};
use std::collections::BTreeMap;

const MICROS: i64 = 1_000_000;

/// What a new token is made of.
#[derive(Default)]
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
    /// Seconds; > 0: periodic (`ttl` and `max_ttl` are then ignored).
    pub period: i64,
    /// Seconds; 0: none. Caps periodic tokens too.
    pub explicit_max_ttl: i64,
    /// 0: unlimited.
    pub num_uses: i64,
    pub renewable: bool,
    pub role_name: Option<String>,
    pub path: String,
}

/// A token and its stored record (digest only); the caller inserts it in its transaction.
/// TTLs beyond `duration::MAX_SECONDS` (only settings stored before durations were bounded
/// can be) are cut to it: a token must never come out expired, nor never-expiring.
pub fn mint(spec: NewToken, now: i64) -> (Token, TokenRecord) {
    mint_as(Token::generate(), spec, now)
}

/// [`mint`] with a token chosen by the caller (`id` on create, root or sudo only).
pub fn mint_as(token: Token, spec: NewToken, now: i64) -> (Token, TokenRecord) {
    let positive = |s: i64| (s > 0).then(|| s.min(duration::MAX_SECONDS));
    let explicit = positive(spec.explicit_max_ttl);
    let (ttl, max_ttl) = if let Some(period) = positive(spec.period) {
        // Vault's periodic tokens: no max TTL but the explicit one.
        (explicit.map_or(period, |e| period.min(e)), explicit)
    } else {
        let max_ttl = match (positive(spec.max_ttl), explicit) {
            (Some(m), Some(e)) => Some(m.min(e)),
            (m, e) => m.or(e),
        };
        let ttl = spec.ttl.clamp(0, duration::MAX_SECONDS);
        (max_ttl.map_or(ttl, |m| ttl.min(m)), max_ttl)
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
        max_expires_at: max_ttl.map(|m| later(now, m)),
        bound_cidrs: spec.bound_cidrs,
        meta: spec.meta,
        period: positive(spec.period).unwrap_or(0),
        explicit_max_ttl: explicit.unwrap_or(0),
        num_uses: spec.num_uses.max(0),
        renewable: spec.renewable && ttl > 0,
        role_name: spec.role_name,
        path: spec.path,
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

/// The creation path Vault shows in lookups; tokens made before it was stored get it from
/// their metadata.
pub fn creation_path(token: &TokenRecord) -> String {
    if !token.path.is_empty() {
        token.path.clone()
    } else if token.meta.contains_key("cert_name") {
        "auth/cert/login".into()
    } else if token.meta.contains_key("role_name") {
        "auth/approle/login".into()
    } else {
        "auth/token/create".into()
    }
}

/// Which token-create route was called.
pub enum Origin {
    Create,
    CreateOrphan,
    Role(String),
}

/// The fields of Vault's token create request that ConfMgr supports (others are refused
/// by the handler, naming them).
#[derive(Default)]
pub struct CreateRequest {
    pub id: Option<String>,
    pub policies: Option<Vec<String>>,
    pub meta: BTreeMap<String, String>,
    pub no_parent: bool,
    pub no_default_policy: bool,
    pub renewable: Option<bool>,
    pub ttl: Option<i64>,
    pub explicit_max_ttl: Option<i64>,
    pub period: Option<i64>,
    pub display_name: Option<String>,
    pub num_uses: Option<i64>,
    pub token_type: Option<String>,
}

/// Vault's answer to a request only root or sudo may make.
fn needs_sudo(what: &str) -> Error {
    Error::Invalid(format!("root or sudo privileges required to {what}"))
}

/// A token created by `parent` (Vault's `auth/token/create`, `create-orphan` and
/// `create/:role`). `sudo`: the caller holds `sudo` on the route's path (root tokens do).
/// Without a role the child's policies are a subset of the parent's; with one, of the
/// role's `allowed_policies` when it sets them. A child is revoked with its parent unless it
/// is an orphan; it starts no later than its parent ends.
pub async fn create(
    store: &Store,
    access: &AccessSettings,
    parent: &TokenRecord,
    sudo: bool,
    origin: Origin,
    request: CreateRequest,
) -> Result<(Token, TokenRecord)> {
    if parent.num_uses > 0 {
        return Err(Error::Invalid(
            "use limited tokens cannot create tokens".into(),
        ));
    }
    match request.token_type.as_deref().map(str::trim) {
        None | Some("" | "service" | "default" | "default-service") => {}
        Some("batch" | "default-batch") => {
            return Err(Error::Invalid(
                "type: batch tokens are not supported by ConfMgr (service tokens only)".into(),
            ))
        }
        Some(other) => return Err(Error::Invalid(format!("invalid 'type' value {other:?}"))),
    }
    let role = match &origin {
        Origin::Role(name) => Some((
            name.clone(),
            token_roles::load_for_create(store, name).await?,
        )),
        _ => None,
    };
    let role_settings = role.as_ref().map(|(_, r)| r.clone()).unwrap_or_default();
    let orphan = match &origin {
        Origin::CreateOrphan => true,
        Origin::Role(_) if role_settings.orphan => true,
        _ if request.no_parent => {
            if !sudo {
                return Err(needs_sudo("create orphan token"));
            }
            true
        }
        _ => false,
    };
    let custom_id = request.id.filter(|id| !id.is_empty());
    if custom_id.is_some() && !sudo {
        return Err(needs_sudo("specify token id"));
    }
    let no_default = request.no_default_policy
        || role.is_some()
            && (role_settings.token_no_default_policy
                || role_settings
                    .disallowed_policies
                    .iter()
                    .any(|p| p == DEFAULT_POLICY));
    let policies = child_policies(parent, role.as_ref().map(|(_, r)| r), request.policies)?;
    let policies = policy::token_policies(&policies, no_default)
        .into_iter()
        .filter(|p| !(no_default && p == DEFAULT_POLICY))
        .collect::<Vec<_>>();
    if policies.iter().any(|p| p == ROOT_POLICY) && !is_root(parent) {
        return Err(Error::Invalid(
            "root tokens may not be created without parent token being root".into(),
        ));
    }
    if role.is_some() && policies.iter().any(|p| p == ROOT_POLICY) {
        return Err(Error::Invalid(
            "root tokens may not be created from a token role".into(),
        ));
    }

    let period = if role_settings.period > 0 {
        role_settings.period
    } else {
        let asked = request.period.unwrap_or(0);
        if asked > 0 && !sudo {
            return Err(needs_sudo("create periodic token"));
        }
        asked
    };
    let explicit_max_ttl = [
        request.explicit_max_ttl.unwrap_or(0),
        role_settings.explicit_max_ttl,
    ]
    .into_iter()
    .filter(|s| *s > 0)
    .min()
    .unwrap_or(0);
    let num_uses = match (request.num_uses.unwrap_or(0), role_settings.token_num_uses) {
        (0, by_role) => by_role,
        (asked, by_role) if by_role > 0 => asked.min(by_role),
        (asked, _) => asked,
    };
    // 0 means "the default", as in Vault: only root tokens from `init` never expire.
    let ttl = request
        .ttl
        .filter(|t| *t > 0)
        .unwrap_or(access.default_token_ttl);
    let renewable =
        request.renewable.unwrap_or(true) && (role.is_none() || role_settings.renewable);
    let path = match &origin {
        Origin::Create => "auth/token/create".to_owned(),
        Origin::CreateOrphan => "auth/token/create-orphan".to_owned(),
        Origin::Role(name) if role_settings.path_suffix.is_empty() => {
            format!("auth/token/create/{name}")
        }
        Origin::Role(name) => format!("auth/token/create/{name}/{}", role_settings.path_suffix),
    };
    let bound_cidrs = if role_settings.token_bound_cidrs.is_empty() {
        parent.bound_cidrs.clone()
    } else {
        role_settings.token_bound_cidrs.clone()
    };
    let spec = NewToken {
        display_name: display_name(request.display_name.as_deref()),
        policies,
        client_id: parent.client_id.clone(),
        parent_accessor: (!orphan).then(|| parent.accessor.clone()),
        issuer: parent.issuer.clone(),
        ttl,
        max_ttl: access.max_token_ttl,
        bound_cidrs,
        meta: request.meta,
        // A period longer than the server's max TTL is cut to it, as Vault caps it.
        period: period.min(access.max_token_ttl),
        explicit_max_ttl,
        num_uses,
        renewable,
        role_name: role.map(|(name, _)| name),
        path,
    };
    let now = now_micros();
    let (token, mut record) = match custom_id {
        Some(id) => mint_as(Token::from_string(id), spec, now),
        None => mint(spec, now),
    };
    // A child starts no later than its parent ends, and renewals cannot carry it past the
    // parent's own renewal limit (ConfMgr does not revoke children when a parent expires,
    // so their ends stay within the parent's instead).
    if !orphan {
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
    if tx.token_by_digest(&record.digest).await?.is_some() {
        return Err(Error::Invalid("token ID is already in use".into()));
    }
    tx.insert_token(&record).await?;
    tx.commit().await?;
    Ok((token, record))
}

/// "token-" and the display name with anything but letters, digits and '-' replaced, as
/// Vault names created tokens.
fn display_name(asked: Option<&str>) -> String {
    let cleaned: String = asked
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("token-{cleaned}").trim_end_matches('-').to_owned()
}

/// The policies a child asks for, checked against its parent or its role (before `default`
/// is added). Nothing asked: the role's allowed policies, else the parent's.
fn child_policies(
    parent: &TokenRecord,
    role: Option<&TokenRole>,
    asked: Option<Vec<String>>,
) -> Result<Vec<String>> {
    let asked: Vec<String> = asked
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    let within_parent = |policies: &[String]| -> Result<()> {
        if is_root(parent) {
            return Ok(());
        }
        match policies
            .iter()
            .find(|p| *p != DEFAULT_POLICY && !parent.policies.contains(p))
        {
            Some(extra) => Err(Error::Invalid(format!(
                "child policies must be subset of parent ({extra:?} is not)"
            ))),
            None => Ok(()),
        }
    };
    let chosen = match role {
        Some(role) if !role.allowed_policies.is_empty() => {
            if asked.is_empty() {
                role.allowed_policies.clone()
            } else if let Some(extra) = asked
                .iter()
                .find(|p| *p != DEFAULT_POLICY && !role.allowed_policies.contains(p))
            {
                return Err(Error::Invalid(format!(
                    "token policies ({asked:?}) must be subset of the role's allowed policies ({:?}): {extra:?} is not",
                    role.allowed_policies
                )));
            } else {
                asked
            }
        }
        _ if asked.is_empty() => parent.policies.clone(),
        _ => {
            within_parent(&asked)?;
            asked
        }
    };
    if let Some(role) = role {
        if let Some(bad) = chosen
            .iter()
            .find(|p| role.disallowed_policies.contains(p) && *p != DEFAULT_POLICY)
        {
            return Err(Error::Invalid(format!(
                "token policy {bad:?} is disallowed by this role"
            )));
        }
    }
    Ok(chosen)
}

/// Extends the token as Vault renews one: a periodic token gets its period again; any
/// other gets `increment` seconds (default: its TTL); never past its max TTL. A token that
/// never expires (root) has nothing to renew: Vault answers it as not renewable too.
pub async fn renew(
    store: &Store,
    cache: &AuthCache,
    token: &TokenRecord,
    increment: Option<i64>,
) -> Result<TokenRecord> {
    if token.expires_at.is_none() || !token.renewable {
        return Err(Error::Invalid("lease is not renewable".into()));
    }
    let now = now_micros();
    let grant = if token.period > 0 {
        token.period
    } else {
        increment.filter(|i| *i > 0).unwrap_or(token.ttl)
    };
    let wanted = later(now, grant);
    let new_end = match token.max_expires_at {
        Some(max) if max <= now => {
            return Err(Error::Invalid("past the max TTL, cannot renew".into()))
        }
        Some(max) => wanted.min(max),
        None => wanted,
    };
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

/// Revokes one token; its children become orphans and keep working (`revoke-orphan`).
pub async fn revoke_orphan(store: &Store, cache: &AuthCache, accessor: &str) -> Result<()> {
    let mut tx = audit::begin_write(store).await?;
    tx.revoke_token_orphaning_children(accessor, now_micros())
        .await?;
    tx.commit().await?;
    cache.forget_all();
    Ok(())
}

/// Spends one use of a use-limited token (see `StoreTx::use_token`): the uses left, or
/// `None` when none was. Counted when the token authenticates a request, whatever the
/// request's outcome, as Vault counts them. A spent token's children are revoked with it,
/// so the cache forgets them.
pub async fn spend_use(
    store: &Store,
    cache: &AuthCache,
    token: &TokenRecord,
) -> Result<Option<i64>> {
    let mut tx = store.begin_write().await?;
    let left = tx.use_token(&token.accessor, now_micros()).await?;
    tx.commit().await?;
    if left == Some(0) {
        cache.forget_all();
    }
    Ok(left)
}

/// The accessors of every live token; Vault answers an empty list with 404.
pub async fn live_accessors(store: &Store) -> Result<Vec<String>> {
    let mut tx = store.begin().await?;
    let accessors = tx.live_token_accessors(now_micros()).await?;
    tx.commit().await?;
    if accessors.is_empty() {
        return Err(Error::NotFound);
    }
    Ok(accessors)
}

pub async fn by_accessor(store: &Store, accessor: &str) -> Result<TokenRecord> {
    let mut tx = store.begin().await?;
    let record = tx.token_by_accessor(accessor).await?;
    tx.commit().await?;
    record
        .filter(|t| live(t, now_micros()))
        .ok_or_else(|| Error::Invalid("invalid accessor".into()))
}

/// The live token behind `presented`, if any.
pub async fn find_by_token(store: &Store, presented: &str) -> Result<Option<TokenRecord>> {
    let mut tx = store.begin().await?;
    let record = tx.token_by_digest(&token::digest(presented)).await?;
    tx.commit().await?;
    Ok(record.filter(|t| live(t, now_micros())))
}

fn live(token: &TokenRecord, now: i64) -> bool {
    token.revoked_at.is_none() && token.expires_at.is_none_or(|at| at > now)
}
