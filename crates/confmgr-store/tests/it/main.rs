//! Store conformance: every test body runs against SQLite and against PostgreSQL over mutual TLS.

mod backends;
mod kv;
mod system;
