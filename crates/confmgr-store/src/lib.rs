//! ConfMgr storage: one set of SQL queries run through sqlx's `Any` driver against
//! PostgreSQL (production, mutual TLS) or SQLite (embedded default). The queries stick to
//! the dialect both share (`$n` placeholders, bigint/text/blob columns, `on conflict`),
//! so there is one implementation to test, run against both backends.

mod audit;
mod circuit;
mod clients;
mod connect;
mod error;
mod keyring;
mod kv;
mod login;
mod optimistic;
mod policies;
mod rows;
mod system;
mod tls_check;
mod token_roles;
mod tokens;
mod tx;
mod wrapping;

pub use audit::{AuditFilter, StoredEvent, AUDIT_ROWS_PER_STATEMENT};
pub use circuit::CircuitStats;
pub use clients::{ClientRecord, ClientSecretRecord};
pub use connect::{Backend, PoolStats, Store, StoreOptions};
pub use error::StoreError;
pub use keyring::{TermUsage, WrappedVersion};
pub use kv::{AddressedState, NewVersion, SecretState};
pub use login::{DynamicLogin, Password, PasswordFuture, PasswordSource};
pub use optimistic::RowVersion;
pub use tls_check::{
    days_left, explain_connect_error, preflight_postgres_tls, system_roots_trusted,
};
pub use tokens::{PolicyTexts, TokenRecord};
pub use tx::StoreTx;
pub use wrapping::WrapRecord;
