//! What the routes do, without HTTP: each function owns its one transaction.

pub mod approle;
pub mod bootstrap;
pub mod cert_login;
pub mod keys;
pub mod kv;
pub mod legacy;
pub mod policies;
pub mod token_roles;
pub mod tokens;
pub mod wrapping;
