//! What the routes do, without HTTP: each function owns its one transaction.

pub mod kv;
pub mod bootstrap;
