//! ACL policies: stored as HCL, parsed on write (so a stored policy always parses) and on use.

use crate::audit;
use crate::auth_cache::AuthCache;
use crate::error::{Error, Result};
use confmgr_core::policy::{self, Acl, Policy, ROOT_POLICY};
use confmgr_core::time::now_micros;
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

pub async fn delete(store: &Store, cache: &AuthCache, name: &str) -> Result<()> {
    if is_root_name(name) {
        return Err(Error::Invalid("cannot delete the root policy".into()));
    }
    let name = policy::validate_policy_name(name)?;
    let mut tx = audit::begin_write(store).await?;
    tx.delete_policy(&name).await?;
    tx.commit().await?;
    cache.forget_all();
    Ok(())
}
