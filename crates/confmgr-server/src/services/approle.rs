//! API clients as AppRole roles: settings, client secrets (argon2id only) and login.

use crate::audit;
use crate::auth_cache::AuthCache;
use crate::error::{Error, Result};
use crate::services::tokens::{self, NewToken};
use crate::state::AccessSettings;
use confmgr_core::credentials::{self, ClientSecret};
use confmgr_core::crypto::RootKey;
use confmgr_core::duration;
use confmgr_core::net;
use confmgr_core::policy::{self, ROOT_POLICY};
use confmgr_core::time::now_micros;
use confmgr_core::token::{self, Token};
use confmgr_store::{ClientRecord, ClientSecretRecord, Store, TokenRecord};
use std::collections::BTreeMap;
use std::net::IpAddr;

pub const LOCAL_ISSUER: &str = "confmgr";
/// The same error for every failed login, so a caller cannot tell which part was wrong.
const LOGIN_FAILED: &str = "invalid role or secret ID";
/// Verified when the client or secret does not exist, so a miss costs what a hit costs.
const DECOY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7bfOIG6VSLBzkjzC2C0CMPqTVdsJsYVtm4XK0fbBpWo";

/// Settings of `POST auth/approle/role/:name`; `None` keeps the current (or default) value.
#[derive(Default)]
pub struct RoleSettings {
    pub policies: Option<Vec<String>>,
    /// A role_id chosen by the caller (Vault's `role_id` field); generated when absent.
    pub role_id: Option<String>,
    pub token_period: Option<i64>,
    pub token_explicit_max_ttl: Option<i64>,
    pub token_num_uses: Option<i64>,
    pub token_no_default_policy: Option<bool>,
    pub token_ttl: Option<i64>,
    pub token_max_ttl: Option<i64>,
    pub secret_id_ttl: Option<i64>,
    pub secret_id_num_uses: Option<i64>,
    pub secret_id_bound_cidrs: Option<Vec<String>>,
    pub token_bound_cidrs: Option<Vec<String>>,
    pub cert_common_names: Option<Vec<String>>,
    pub cert_dns_sans: Option<Vec<String>>,
    pub cert_uri_sans: Option<Vec<String>>,
}

pub struct SecretRequest {
    /// A secret_id chosen by the caller (`custom-secret-id`); generated when absent.
    pub custom: Option<zeroize::Zeroizing<String>>,
    pub metadata: BTreeMap<String, String>,
    pub cidr_list: Vec<String>,
    /// Where its login tokens may be used from; must lie within the client's list.
    pub token_bound_cidrs: Vec<String>,
    pub ttl: Option<i64>,
    pub num_uses: Option<i64>,
}

/// Vault accepts any non-empty role_id; ConfMgr also bounds its length and refuses control
/// characters, since it names the client in logs and audit events.
fn check_role_id(role_id: &str) -> Result<()> {
    if role_id.is_empty() {
        return Err(Error::Invalid("missing role_id".into()));
    }
    if role_id.len() > 256 || role_id.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "role_id: at most 256 characters, no control characters".into(),
        ));
    }
    Ok(())
}

pub async fn write_role(
    store: &Store,
    cache: &AuthCache,
    name: &str,
    settings: RoleSettings,
) -> Result<ClientRecord> {
    let name = credentials::validate_client_name(name)?;
    if let Some(role_id) = &settings.role_id {
        check_role_id(role_id)?;
    }
    for cidrs in [&settings.secret_id_bound_cidrs, &settings.token_bound_cidrs]
        .into_iter()
        .flatten()
    {
        net::parse_cidrs(cidrs)?;
    }
    let now = now_micros();
    let mut tx = audit::begin_write(store).await?;
    let existing = tx.client_by_name(&name).await?;
    let exists = existing.is_some();
    let mut client = existing.unwrap_or_else(|| ClientRecord {
        client_id: uuid::Uuid::new_v4().to_string(),
        name: name.clone(),
        issuer: LOCAL_ISSUER.into(),
        policies: Vec::new(),
        token_ttl: 0,
        token_max_ttl: 0,
        secret_id_ttl: 0,
        secret_id_num_uses: 0,
        secret_id_bound_cidrs: Vec::new(),
        token_bound_cidrs: Vec::new(),
        cert: Default::default(),
        token_period: 0,
        token_explicit_max_ttl: 0,
        token_num_uses: 0,
        token_no_default_policy: false,
        created_at: now,
        updated_at: now,
    });
    let new_role_id = settings
        .role_id
        .clone()
        .filter(|role_id| *role_id != client.client_id);
    if let Some(role_id) = &new_role_id {
        if tx.client_by_id(role_id).await?.is_some() {
            return Err(Error::Invalid("role_id already in use".into()));
        }
        if !exists {
            client.client_id = role_id.clone();
        }
    }
    if settings.policies.as_ref().is_some_and(|p| {
        p.iter()
            .any(|name| name.trim().eq_ignore_ascii_case(ROOT_POLICY))
    }) {
        return Err(Error::Invalid(
            "clients cannot be given the root policy: a login must never mint a root token".into(),
        ));
    }
    if let Some(policies) = settings.policies {
        client.policies = policies
            .into_iter()
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
    }
    macro_rules! keep_or_set {
        ($($field:ident),*) => {$( if let Some(value) = settings.$field { client.$field = value; } )*};
    }
    keep_or_set!(
        token_ttl,
        token_max_ttl,
        secret_id_ttl,
        secret_id_num_uses,
        secret_id_bound_cidrs,
        token_bound_cidrs,
        token_period,
        token_explicit_max_ttl,
        token_num_uses,
        token_no_default_policy
    );
    let mut cert = client.cert.clone();
    for (field, value) in [
        (&mut cert.common_names, settings.cert_common_names),
        (&mut cert.dns_sans, settings.cert_dns_sans),
        (&mut cert.uri_sans, settings.cert_uri_sans),
    ] {
        if let Some(value) = value {
            *field = value;
        }
    }
    client.cert = cert.normalized()?;
    client.updated_at = now;
    tx.upsert_client(&client).await?;
    let moved = match new_role_id {
        Some(role_id) if exists => {
            tx.change_client_id(&client, &role_id).await?;
            client.client_id = role_id;
            true
        }
        _ => false,
    };
    tx.commit().await?;
    if moved {
        cache.forget_all();
    }
    Ok(client)
}

/// `POST role/:name/role-id`: gives an existing role a role_id chosen by the caller. Its
/// secret_ids and tokens stay with it; the old role_id no longer logs in.
pub async fn set_role_id(
    store: &Store,
    cache: &AuthCache,
    name: &str,
    role_id: &str,
) -> Result<()> {
    check_role_id(role_id)?;
    let name = credentials::validate_client_name(name)?;
    let mut tx = audit::begin_write(store).await?;
    let client = tx.client_by_name(&name).await?.ok_or(Error::NotFound)?;
    if client.client_id == role_id {
        return Ok(());
    }
    if tx.client_by_id(role_id).await?.is_some() {
        return Err(Error::Invalid("role_id already in use".into()));
    }
    tx.change_client_id(
        &ClientRecord {
            updated_at: now_micros(),
            ..client
        },
        role_id,
    )
    .await?;
    tx.commit().await?;
    cache.forget_all();
    Ok(())
}

pub async fn read_role(store: &Store, name: &str) -> Result<ClientRecord> {
    let name = credentials::validate_client_name(name)?;
    let mut tx = store.begin().await?;
    let client = tx.client_by_name(&name).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(client)
}

pub async fn list_roles(store: &Store) -> Result<Vec<String>> {
    let mut tx = store.begin().await?;
    let names = tx.client_names().await?;
    tx.commit().await?;
    if names.is_empty() {
        return Err(Error::NotFound);
    }
    Ok(names)
}

/// Deletes a client, its secrets, and revokes every token it holds.
pub async fn delete_role(store: &Store, cache: &AuthCache, name: &str) -> Result<()> {
    let name = credentials::validate_client_name(name)?;
    let mut tx = audit::begin_write(store).await?;
    if let Some(client) = tx.client_by_name(&name).await? {
        tx.revoke_client_tokens(&client.client_id, now_micros())
            .await?;
        tx.delete_client(&client.client_id).await?;
    }
    tx.commit().await?;
    cache.forget_all();
    Ok(())
}

/// Generates a client secret, shown once; only its argon2id hash is stored.
/// A secret_id just made: generated (with its public lookup id) or chosen by the caller.
pub enum NewSecret {
    Generated(ClientSecret),
    Custom(zeroize::Zeroizing<String>),
}

impl NewSecret {
    pub fn expose(&self) -> &str {
        match self {
            Self::Generated(secret) => secret.expose(),
            Self::Custom(secret) => secret,
        }
    }
}

pub async fn generate_secret(
    store: &Store,
    access: &AccessSettings,
    root: &RootKey,
    name: &str,
    request: SecretRequest,
) -> Result<(NewSecret, ClientSecretRecord)> {
    net::parse_cidrs(&request.cidr_list)?;
    net::parse_cidrs(&request.token_bound_cidrs)?;
    let client = read_role(store, name).await?;
    let within_role = request.token_bound_cidrs.is_empty()
        || client.token_bound_cidrs.is_empty()
        || net::narrowed(&request.token_bound_cidrs, &client.token_bound_cidrs)
            .is_some_and(|kept| kept.len() == request.token_bound_cidrs.len());
    if !within_role {
        return Err(Error::Invalid(
            "token_bound_cidrs must lie within the role's token_bound_cidrs".into(),
        ));
    }
    let (secret, lookup_id) = match request.custom {
        Some(custom) => {
            if custom.is_empty() {
                return Err(Error::Invalid("missing secret_id".into()));
            }
            if custom.len() > credentials::MAX_CUSTOM_SECRET_LEN {
                return Err(Error::Invalid(format!(
                    "secret_id: at most {} bytes",
                    credentials::MAX_CUSTOM_SECRET_LEN
                )));
            }
            let lookup_id = credentials::custom_lookup_id(root, &client.name, &custom);
            (NewSecret::Custom(custom), lookup_id)
        }
        None => {
            let secret = ClientSecret::generate();
            let lookup_id = secret.lookup_id().to_owned();
            (NewSecret::Generated(secret), lookup_id)
        }
    };
    let to_hash = zeroize::Zeroizing::new(secret.expose().to_owned());
    let cost = access.hash_cost;
    let phc = access
        .login_guard
        .hash_job(move || credentials::hash_secret(&to_hash, cost))
        .await??;
    let now = now_micros();
    let ttl = request.ttl.unwrap_or(client.secret_id_ttl);
    let uses = request.num_uses.unwrap_or(client.secret_id_num_uses);
    let record = ClientSecretRecord {
        accessor: token::new_accessor(),
        client_id: client.client_id.clone(),
        lookup_id,
        phc,
        metadata: request.metadata,
        cidr_list: request.cidr_list,
        created_at: now,
        expires_at: (ttl > 0).then(|| secret_expiry(now, ttl)),
        uses_left: (uses > 0).then_some(uses),
        token_bound_cidrs: request.token_bound_cidrs,
    };
    let mut tx = audit::begin_write(store).await?;
    if tx.client_by_id(&client.client_id).await?.is_none() {
        return Err(Error::NotFound);
    }
    if tx
        .client_secret_by_lookup_id(&record.lookup_id)
        .await?
        .is_some()
    {
        return Err(Error::Invalid("secret_id is already registered".into()));
    }
    tx.insert_client_secret(&record).await?;
    tx.commit().await?;
    Ok((secret, record))
}

/// When a secret_id made at `now` with `ttl` seconds expires. A TTL beyond
/// `duration::MAX_SECONDS` (only a role setting stored before durations were bounded can be)
/// is cut to it, so a secret_id is never born expired.
fn secret_expiry(now: i64, ttl: i64) -> i64 {
    duration::micros_after(now, ttl.min(duration::MAX_SECONDS)).unwrap_or(i64::MAX)
}

pub async fn secret_accessors(store: &Store, name: &str) -> Result<Vec<String>> {
    let client = read_role(store, name).await?;
    let mut tx = store.begin().await?;
    let accessors = tx.client_secret_accessors(&client.client_id).await?;
    tx.commit().await?;
    if accessors.is_empty() {
        return Err(Error::NotFound);
    }
    Ok(accessors)
}

/// A client's secret found by accessor (404 when it belongs to another client).
pub async fn secret_by_accessor(
    store: &Store,
    name: &str,
    accessor: &str,
) -> Result<ClientSecretRecord> {
    let client = read_role(store, name).await?;
    let mut tx = store.begin().await?;
    let secret = tx.client_secret_by_accessor(accessor).await?;
    tx.commit().await?;
    secret
        .filter(|s| s.client_id == client.client_id)
        .ok_or(Error::NotFound)
}

/// A client's secret found by the secret itself (verified, not just looked up).
pub async fn secret_by_value(
    store: &Store,
    access: &AccessSettings,
    root: &RootKey,
    name: &str,
    presented: &str,
) -> Result<ClientSecretRecord> {
    let client = read_role(store, name).await?;
    let mut tx = store.begin().await?;
    let secret = find_secret(&mut tx, root, &client, presented).await?;
    tx.commit().await?;
    let secret = secret.ok_or(Error::NotFound)?;
    let (presented, phc) = (
        zeroize::Zeroizing::new(presented.to_owned()),
        secret.phc.clone(),
    );
    let matches = access
        .login_guard
        .hash_job(move || credentials::verify_secret(&presented, &phc))
        .await?;
    matches.then_some(secret).ok_or(Error::NotFound)
}

/// The client's secret row that `presented` may be (not yet verified): by the public lookup
/// id of a generated secret_id, else by the keyed lookup id of a custom one.
async fn find_secret(
    tx: &mut confmgr_store::StoreTx,
    root: &RootKey,
    client: &ClientRecord,
    presented: &str,
) -> Result<Option<ClientSecretRecord>> {
    if let Some(lookup_id) = credentials::lookup_id_of(presented) {
        if let Some(found) = tx.client_secret_by_lookup_id(lookup_id).await? {
            if found.client_id == client.client_id {
                return Ok(Some(found));
            }
        }
    }
    if presented.is_empty() || presented.len() > credentials::MAX_CUSTOM_SECRET_LEN {
        return Ok(None);
    }
    let custom = credentials::custom_lookup_id(root, &client.name, presented);
    Ok(tx
        .client_secret_by_lookup_id(&custom)
        .await?
        .filter(|s| s.client_id == client.client_id))
}

/// AppRole's `tidy/secret-id`: removes expired secret_ids. Returns how many.
pub async fn tidy_secrets(store: &Store) -> Result<u64> {
    let mut tx = audit::begin_write(store).await?;
    let removed = tx.delete_expired_client_secrets(now_micros()).await?;
    tx.commit().await?;
    Ok(removed)
}

pub async fn destroy_secret(store: &Store, accessor: &str) -> Result<()> {
    let mut tx = audit::begin_write(store).await?;
    tx.delete_client_secret(accessor).await?;
    tx.commit().await?;
    Ok(())
}

/// A token for a client that just logged in: the client's policies, lifetimes and CIDRs.
pub fn client_token(
    access: &AccessSettings,
    client: &ClientRecord,
    display_name: String,
    meta: BTreeMap<String, String>,
    path: String,
    now: i64,
) -> (Token, TokenRecord) {
    let ttl = if client.token_ttl > 0 {
        client.token_ttl
    } else {
        access.default_token_ttl
    };
    let max_ttl = if client.token_max_ttl > 0 {
        client.token_max_ttl.min(access.max_token_ttl)
    } else {
        access.max_token_ttl
    };
    tokens::mint(
        NewToken {
            display_name,
            policies: policy::token_policies(&client.policies, client.token_no_default_policy),
            client_id: Some(client.client_id.clone()),
            parent_accessor: None,
            issuer: client.issuer.clone(),
            ttl,
            max_ttl,
            bound_cidrs: client.token_bound_cidrs.clone(),
            meta,
            // Capped like any period, at the server's max TTL.
            period: client.token_period.min(access.max_token_ttl),
            explicit_max_ttl: client.token_explicit_max_ttl,
            num_uses: client.token_num_uses,
            renewable: true,
            role_name: None,
            path,
        },
        now,
    )
}

/// AppRole login: `role_id` + `secret_id` → a token with the client's policies.
pub async fn login(
    store: &Store,
    access: &AccessSettings,
    root: &RootKey,
    role_id: &str,
    secret_id: &str,
    address: IpAddr,
) -> Result<(Token, TokenRecord)> {
    let guard = &access.login_guard;
    let address_key = address.to_string();
    guard.check(role_id, &address_key)?;
    let failed = || {
        guard.record_failure(role_id, &address_key);
        Error::Invalid(LOGIN_FAILED.into())
    };

    let mut tx = store.begin().await?;
    let client = tx.client_by_id(role_id).await?;
    let secret = match &client {
        Some(client) => find_secret(&mut tx, root, client, secret_id).await?,
        None => None,
    };
    tx.commit().await?;
    let found = match (client, secret) {
        (Some(client), Some(secret)) if secret.client_id == client.client_id => {
            Some((client, secret))
        }
        _ => None,
    };
    let phc = found
        .as_ref()
        .map_or(DECOY_PHC.to_owned(), |(_, s)| s.phc.clone());
    let presented = zeroize::Zeroizing::new(secret_id.to_owned());
    let verified = guard
        .login_hash_job(role_id, &address_key, move || {
            credentials::verify_secret(&presented, &phc)
        })
        .await?;
    let Some((client, secret)) = found.filter(|_| verified) else {
        return Err(failed());
    };

    let now = now_micros();
    // The secret's own CIDRs narrow the client's; both must allow the address.
    let allowed = net::allowed(&client.secret_id_bound_cidrs, address)
        && net::allowed(&secret.cidr_list, address);
    if secret.expires_at.is_some_and(|at| at <= now) || !allowed {
        return Err(failed());
    }
    // The secret's token CIDRs narrow the client's. The role may have changed since the
    // secret was made: a secret whose blocks no longer lie inside it logs in nowhere
    // (an empty list would mean anywhere).
    let Some(token_bound_cidrs) =
        net::narrowed(&secret.token_bound_cidrs, &client.token_bound_cidrs)
    else {
        return Err(failed());
    };

    let mut tx = audit::begin_write(store).await?;
    // Re-read under lock: a use-limited secret must not be spent twice concurrently.
    let Some(current) = tx.client_secret_by_accessor(&secret.accessor).await? else {
        return Err(failed());
    };
    match current.uses_left {
        Some(1) => {
            tx.delete_client_secret(&current.accessor).await?;
        }
        Some(n) if n > 1 => tx.set_client_secret_uses(&current.accessor, n - 1).await?,
        Some(_) => return Err(failed()),
        None => {}
    }
    // As Vault: the secret_id's metadata, then the role's name (which wins).
    let mut meta = secret.metadata.clone();
    meta.insert("role_name".to_owned(), client.name.clone());
    let (token, record) = client_token(
        access,
        &ClientRecord {
            token_bound_cidrs,
            ..client.clone()
        },
        format!("approle-{}", client.name),
        meta,
        "auth/approle/login".to_owned(),
        now,
    );
    tx.insert_token(&record).await?;
    audit::scope::note_actor(
        &record.display_name,
        &record.accessor,
        &client.issuer,
        &client.client_id,
    );
    tx.commit().await?;
    Ok((token, record))
}
