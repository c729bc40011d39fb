//! The `confmgr` binary against a real `confmgr-server --dev` (build it first:
//! `cargo build -p confmgr-server`; `cargo test --workspace` does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod cert_login;
mod client;
mod errors;
mod export_import;
mod gen_env;
mod harness;
mod import;
mod keys;
mod kv;
mod pki;
mod policy;
mod run;
mod token;
