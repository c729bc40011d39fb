//! Names of clients and policies, checked before they go into a URL path.

use anyhow::{bail, Result};

/// 1 to 128 characters from `A-Z a-z 0-9 . _ - @`, starting with a letter, digit or `_`.
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if name.is_empty() {
        bail!("{kind} name is empty");
    }
    if name.len() > 128 || !first_ok || !chars_ok {
        bail!(
            "invalid {kind} name {name:?}: use up to 128 letters, digits, '.', '_', '-' or '@', \
             starting with a letter, digit or '_'"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["app", "ci-deploy", "svc.prod_1", "_x", "a@b"] {
            assert!(check_name("client", good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "-x", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(check_name("client", bad).is_err(), "{bad}");
        }
        let message = check_name("policy", "a b").unwrap_err().to_string();
        assert!(
            message.starts_with("invalid policy name \"a b\""),
            "{message}"
        );
    }
}
