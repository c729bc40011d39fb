//! Schemas for the OpenAPI document of values that the wire types keep loosely typed.

use serde::Serialize;
use utoipa::ToSchema;

/// A duration: a string of whole numbers with units `d`, `h`, `m` and `s` (`"720h"`,
/// `"1h30m"`, `"0s"`), or a number of seconds (as a JSON number or a string). 0 means never.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schema(examples("1h30m", 3600))]
pub enum Duration {
    Text(String),
    Seconds(u64),
}

/// A list of strings, given as a JSON array or as one comma-separated string.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schema(examples(json!(["app-read", "app-write"]), "app-read,app-write"))]
pub enum StringList {
    List(Vec<String>),
    Text(String),
}

/// A non-negative integer, as a JSON number or a string of digits.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Count {
    Number(u64),
    Text(String),
}

/// A JSON object of strings, given as an object or encoded in a string (Vault's shape).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schema(examples(json!({"host": "web-1"}), "{\"host\": \"web-1\"}"))]
pub enum StringMap {
    Object(std::collections::BTreeMap<String, String>),
    Encoded(String),
}
