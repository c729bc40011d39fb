//! Tokens: `cmt.` + base64url(32 random bytes). The server keeps only their SHA-256 digest.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

pub const TOKEN_PREFIX: &str = "cmt.";

/// A bearer token in clear: only ever held in memory, shown once, never logged.
pub struct Token(Zeroizing<String>);

impl Token {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        Self(Zeroizing::new(format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes.as_ref())
        )))
    }

    /// A caller-chosen token (`--dev-root-token`), like Vault's `-dev-root-token-id`.
    pub fn from_string(raw: String) -> Self {
        Self(Zeroizing::new(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> Vec<u8> {
        digest(self.expose())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A public handle for a token (audit logs, revocation) that reveals nothing about it.
pub fn new_accessor() -> String {
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_prefix_and_entropy() {
        let a = Token::generate();
        let b = Token::generate();
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.digest().len(), 32);
        assert_ne!(a.digest(), b.digest());
        assert!(!format!("{a:?}").contains(a.expose()));
        assert_ne!(new_accessor(), new_accessor());
    }
}
