//! ConfMgr's domain: secret paths, envelope crypto, tokens, KV v2 rules.
//! Pure functions and types only: no I/O, no async runtime, no database or web types.

pub mod audit;
pub mod audit_chain;
pub mod cert_binding;
pub mod credentials;
pub mod crypto;
pub mod duration;
pub mod error;
pub mod kv;
pub mod merge_patch;
pub mod metadata_mac;
pub mod net;
pub mod path;
pub mod policy;
pub mod time;
pub mod token;

pub use error::{CryptoError, ValidationError};
