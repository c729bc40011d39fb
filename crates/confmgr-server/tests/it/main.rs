//! HTTP tests through a real socket, against SQLite and PostgreSQL over mutual TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod audit;
mod audit_head;
mod client_cert;
mod dashboards;
mod database_iam;
mod disconnect;
mod hardening_api;
mod hardening_http;
mod harness;
mod hvac;
mod keys;
mod kms;
mod kv_api;
mod legacy;
mod legacy_scripts;
mod limits;
mod logs;
mod metadata_binding;
mod openapi;
mod outage;
mod probes;
mod process;
mod rollback;
mod security;
mod tls;
mod wrapping;
