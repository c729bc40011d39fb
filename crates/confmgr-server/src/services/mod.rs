//! What the routes do, without HTTP: each function owns its one transaction.

pub mod bootstrap;
pub mod kv;
