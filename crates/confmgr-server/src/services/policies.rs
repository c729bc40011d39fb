//! ACL policies: stored as HCL, parsed on write (so a stored policy always parses) and on use.

use crate::audit;
use crate::auth_cache::AuthCache;
use crate::error::{Error, Result};
use confmgr_core::policy::{self, Acl, Policy, DEFAULT_POLICY, ROOT_POLICY};
use confmgr_core::time::now_micros;
use confmgr_core::token;
use confmgr_store::Store;

/// The ACL of a token's policies, from the texts of those that are stored (names without a
/// stored policy grant nothing, as in Vault).
pub fn acl_from_texts(names: &[String], texts: &[(String, String)]) -> Acl {
    if names.iter().any(|n| n == ROOT_POLICY) {
        return Acl::root();
    }
    let mut parsed = Vec::with_capacity(texts.len());
    for (name, text) in texts {
        // Stored policies parsed when written; one that no longer parses grants nothing.
        match Policy::parse(name, text) {
            Ok(policy) => parsed.push(policy),
            Err(e) => {
                tracing::error!(policy = %name, error = %e, "stored policy does not parse; ignored")
            }
        }
    }
    Acl::new(&parsed, false)
}

fn is_root_name(name: &str) -> bool {
    name.eq_ignore_ascii_case(ROOT_POLICY)
}

pub async fn write(store: &Store, cache: &AuthCache, name: &str, text: &str) -> Result<()> {
    if is_root_name(name) {
        return Err(Error::Invalid("cannot update the root policy".into()));
    }
    let name = policy::validate_policy_name(name)?;
    Policy::parse(&name, text)?;
    let mut tx = audit::begin_write(store).await?;
    tx.put_policy(&name, text, now_micros()).await?;
    tx.commit().await?;
    cache.forget_all();
    Ok(())
}

/// The policy's text; the built-in `root` policy has none.
pub async fn read(store: &Store, name: &str) -> Result<(String, String)> {
    if is_root_name(name) {
        return Ok((ROOT_POLICY.to_owned(), String::new()));
    }
    let name = policy::validate_policy_name(name)?;
    let mut tx = store.begin().await?;
    let text = tx.policy_text(&name).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok((name, text))
}

pub async fn list(store: &Store) -> Result<Vec<String>> {
    let mut tx = store.begin().await?;
    let mut names = tx.policy_names().await?;
    tx.commit().await?;
    names.push(ROOT_POLICY.to_owned());
    names.sort();
    Ok(names)
}

/// Vault refuses to delete its two built-in policies, with these words.
pub async fn delete(store: &Store, cache: &AuthCache, name: &str) -> Result<()> {
    if is_root_name(name) {
        return Err(Error::Invalid(format!(
            "cannot delete {ROOT_POLICY:?} policy"
        )));
    }
    if name.eq_ignore_ascii_case(DEFAULT_POLICY) {
        return Err(Error::Invalid("cannot delete default policy".into()));
    }
    let name = policy::validate_policy_name(name)?;
    let mut tx = audit::begin_write(store).await?;
    tx.delete_policy(&name).await?;
    tx.commit().await?;
    cache.forget_all();
    Ok(())
}

/// Vault's answer for one path of `sys/capabilities*`: what the ACL grants there, sorted;
/// `["root"]` for a root token and `["deny"]` when it grants nothing.
pub fn capability_names(acl: &Acl, path: &str) -> Vec<String> {
    if acl.is_root() {
        return vec![ROOT_POLICY.to_owned()];
    }
    let mut names: Vec<String> = acl
        .capabilities(path)
        .into_iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    if names.is_empty() {
        names.push("deny".to_owned());
    }
    names.sort();
    names
}

/// The ACL of another live token, found by the token itself or by its accessor (for
/// `sys/capabilities` and `sys/capabilities-accessor`); `None` when there is no such token.
pub async fn acl_of(store: &Store, token_or_accessor: TokenRef<'_>) -> Result<Option<Acl>> {
    let now = now_micros();
    let mut tx = store.begin().await?;
    let digest = match token_or_accessor {
        TokenRef::Token(presented) => token::digest(presented),
        TokenRef::Accessor(accessor) => match tx.token_by_accessor(accessor).await? {
            Some(record) => record.digest,
            None => return Ok(None),
        },
    };
    let found = tx.token_with_policy_texts(&digest).await?;
    tx.commit().await?;
    Ok(found
        .filter(|(t, _)| t.revoked_at.is_none() && t.expires_at.is_none_or(|at| at > now))
        .map(|(t, texts)| acl_from_texts(&t.policies, &texts)))
}

pub enum TokenRef<'a> {
    Token(&'a str),
    Accessor(&'a str),
}
