//! Store conformance: every test body runs against SQLite and against PostgreSQL over mutual TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod backends;
mod identity;
mod kv;
mod login;
mod system;
mod tls;
mod wrapping;
