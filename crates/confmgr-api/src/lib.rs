//! Wire types of the ConfMgr HTTP API (Vault-compatible shapes), shared by server and CLI.

pub mod envelope;
pub mod kv;
pub mod sys;

pub use envelope::{ErrorBody, VaultResponse};
