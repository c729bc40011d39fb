//! Token roles (`auth/token/roles/:name`): what a token created at `auth/token/create/:name`
//! gets, whatever its creator asks (Vault's semantics, the fields Vault documents).

use crate::audit;
use crate::error::{Error, Result};
use confmgr_core::credentials;
use confmgr_core::net;
use confmgr_core::policy::ROOT_POLICY;
use confmgr_core::time::now_micros;
use confmgr_store::Store;
use serde::{Deserialize, Serialize};

/// A role's settings, stored as JSON (`token_roles.settings`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TokenRole {
    /// Non-empty: tokens may get any subset of these (plus `default`), whatever the
    /// creator's own policies; empty: a subset of the creator's, as without a role.
    pub allowed_policies: Vec<String>,
    pub disallowed_policies: Vec<String>,
    pub orphan: bool,
    pub renewable: bool,
    /// Seconds; > 0: tokens are periodic.
    pub period: i64,
    /// Seconds; 0: none.
    pub explicit_max_ttl: i64,
    pub path_suffix: String,
    pub token_bound_cidrs: Vec<String>,
    pub token_no_default_policy: bool,
    pub token_num_uses: i64,
    /// Always `default-service` or `service`: ConfMgr has no batch tokens.
    pub token_type: String,
}

impl Default for TokenRole {
    fn default() -> Self {
        Self {
            allowed_policies: Vec::new(),
            disallowed_policies: Vec::new(),
            orphan: false,
            renewable: true,
            period: 0,
            explicit_max_ttl: 0,
            path_suffix: String::new(),
            token_bound_cidrs: Vec::new(),
            token_no_default_policy: false,
            token_num_uses: 0,
            token_type: "default-service".into(),
        }
    }
}

/// A write of a role: `None` keeps the current value (the default on creation).
#[derive(Default)]
pub struct RoleUpdate {
    pub allowed_policies: Option<Vec<String>>,
    pub disallowed_policies: Option<Vec<String>>,
    pub orphan: Option<bool>,
    pub renewable: Option<bool>,
    pub period: Option<i64>,
    pub explicit_max_ttl: Option<i64>,
    pub path_suffix: Option<String>,
    pub token_bound_cidrs: Option<Vec<String>>,
    pub token_no_default_policy: Option<bool>,
    pub token_num_uses: Option<i64>,
    pub token_type: Option<String>,
}

/// Role names as Vault's token store keeps them: lowercased; the characters of AppRole
/// role names.
pub fn role_name(name: &str) -> Result<String> {
    Ok(credentials::validate_client_name(name)?)
}

fn policy_list(list: Vec<String>) -> Vec<String> {
    let mut list: Vec<String> = list
        .into_iter()
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    list.sort();
    list.dedup();
    list
}

pub async fn write(store: &Store, name: &str, update: RoleUpdate) -> Result<()> {
    let name = role_name(name)?;
    let mut tx = audit::begin_write(store).await?;
    let mut role = match tx.token_role(&name).await? {
        Some(text) => parse(&text)?,
        None => TokenRole::default(),
    };
    if let Some(list) = update.allowed_policies {
        role.allowed_policies = policy_list(list);
    }
    if role.allowed_policies.iter().any(|p| p == ROOT_POLICY) {
        return Err(Error::Invalid(
            "allowed_policies: a token role cannot grant the root policy".into(),
        ));
    }
    if let Some(list) = update.disallowed_policies {
        role.disallowed_policies = policy_list(list);
    }
    if let Some(cidrs) = update.token_bound_cidrs {
        net::parse_cidrs(&cidrs)?;
        role.token_bound_cidrs = cidrs;
    }
    if let Some(suffix) = update.path_suffix {
        let ok = suffix.is_empty()
            || suffix.len() >= 3
                && !suffix.contains("..")
                && suffix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                && !suffix.starts_with(['-', '.'])
                && !suffix.ends_with(['-', '.']);
        if !ok {
            return Err(Error::Invalid(format!(
                "given role path suffix contains invalid characters: {suffix:?}"
            )));
        }
        role.path_suffix = suffix;
    }
    if let Some(token_type) = update.token_type {
        role.token_type =
            match token_type.trim() {
                "" | "default" | "default-service" => "default-service".into(),
                "service" => "service".into(),
                "batch" | "default-batch" => return Err(Error::Invalid(
                    "token_type: batch tokens are not supported by ConfMgr (service tokens only)"
                        .into(),
                )),
                other => {
                    return Err(Error::Invalid(format!(
                        "invalid 'token_type' value {other:?}"
                    )))
                }
            };
    }
    macro_rules! keep_or_set {
        ($($field:ident),*) => {$( if let Some(value) = update.$field { role.$field = value; } )*};
    }
    keep_or_set!(
        orphan,
        renewable,
        period,
        explicit_max_ttl,
        token_no_default_policy,
        token_num_uses
    );
    let text = serde_json::to_string(&role).map_err(|e| Error::Internal(e.to_string()))?;
    tx.put_token_role(&name, &text, now_micros()).await?;
    tx.commit().await?;
    Ok(())
}

fn parse(text: &str) -> Result<TokenRole> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("stored token role: {e}")))
}

pub async fn read(store: &Store, name: &str) -> Result<(String, TokenRole)> {
    let name = role_name(name)?;
    let mut tx = store.begin().await?;
    let text = tx.token_role(&name).await?;
    tx.commit().await?;
    let text = text.ok_or(Error::NotFound)?;
    Ok((name, parse(&text)?))
}

/// The role a token is being created against; Vault answers an unknown one with 400.
pub async fn load_for_create(store: &Store, name: &str) -> Result<TokenRole> {
    match read(store, name).await {
        Err(Error::NotFound) => Err(Error::Invalid(format!("unknown role {name}"))),
        other => other.map(|(_, role)| role),
    }
}

pub async fn list(store: &Store) -> Result<Vec<String>> {
    let mut tx = store.begin().await?;
    let names = tx.token_role_names().await?;
    tx.commit().await?;
    if names.is_empty() {
        return Err(Error::NotFound);
    }
    Ok(names)
}

/// Deletes a role (nothing to do for an unknown one, as in Vault); its tokens keep working.
pub async fn delete(store: &Store, name: &str) -> Result<()> {
    let name = role_name(name)?;
    let mut tx = audit::begin_write(store).await?;
    tx.delete_token_role(&name).await?;
    tx.commit().await?;
    Ok(())
}
