use thiserror::Error;

/// Input that does not describe a valid domain value. Messages are shown to API callers,
/// so they name the problem but never echo secret material.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValidationError {
    #[error("{0}")]
    Invalid(String),
}

impl ValidationError {
    pub fn new(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

/// Crypto failures. Deliberately vague: which check failed is not something to tell an attacker.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    #[error("ciphertext failed authentication (tampered, moved or wrong key)")]
    Authentication,
    /// A secret's metadata (current version, version states, settings) does not match its
    /// MAC, or has none once every secret is bound: edited, replayed or copied rows.
    #[error("secret metadata failed authentication (edited, replayed or copied rows)")]
    MetadataAuthentication,
    #[error("keyring term {0} is not in the keyring")]
    UnknownTerm(i64),
    #[error("unsupported ciphertext format {0}")]
    UnsupportedFormat(i64),
    #[error("malformed stored key material: {0}")]
    Malformed(&'static str),
    #[error("encryption failed")]
    Encryption,
    #[error("root key: {0}")]
    RootKey(String),
}
