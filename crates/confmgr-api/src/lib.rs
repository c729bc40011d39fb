//! Wire types of the ConfMgr HTTP API (Vault-compatible shapes), shared by server and CLI.

pub mod envelope;
pub mod kv;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod sys;

pub use envelope::{ErrorBody, VaultResponse};
