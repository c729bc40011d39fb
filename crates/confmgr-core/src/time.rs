//! Timestamps are stored as microseconds since the Unix epoch (portable across both
//! backends) and shown as RFC 3339 UTC, as Vault does.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Micros = i64;

pub fn now_micros() -> Micros {
    Utc::now().timestamp_micros()
}

pub fn rfc3339(micros: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}
