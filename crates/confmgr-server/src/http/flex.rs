//! Vault accepts durations as `"1h"` or seconds, and lists as arrays or comma-separated
//! strings; so do we. Also [`NotList`], for read routes that must refuse Vault's `LIST`.

use crate::error::{error_response, Error, Result};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use confmgr_core::duration;
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Flex {
    #[default]
    Missing,
    Text(String),
    Number(i64),
    List(Vec<Value>),
    Other(serde::de::IgnoredAny),
}

impl Flex {
    /// A duration in seconds, at most `duration::MAX_SECONDS` (100 years): anything longer
    /// is refused with the field's name, so no later arithmetic on it can wrap.
    pub fn seconds(&self, field: &str) -> Result<Option<i64>> {
        match self {
            Flex::Missing => Ok(None),
            Flex::Number(n) => Ok(Some(duration::check_field(field, *n)?)),
            Flex::Text(text) if text.trim().is_empty() => Ok(Some(0)),
            Flex::Text(text) => Ok(Some(duration::parse_field(field, text)?)),
            _ => Err(Error::Invalid(format!(
                "{field} must be a duration such as \"1h\" or a number of seconds"
            ))),
        }
    }

    pub fn count(&self, field: &str) -> Result<Option<i64>> {
        match self {
            Flex::Missing => Ok(None),
            Flex::Number(n) if *n >= 0 => Ok(Some(*n)),
            Flex::Text(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| Error::Invalid(format!("{field} must be a non-negative integer"))),
            _ => Err(Error::Invalid(format!(
                "{field} must be a non-negative integer"
            ))),
        }
    }

    pub fn strings(&self, field: &str) -> Result<Option<Vec<String>>> {
        match self {
            Flex::Missing => Ok(None),
            Flex::Text(text) => Ok(Some(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            Flex::List(items) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| Error::Invalid(format!("{field} must be a list of strings"))),
            _ => Err(Error::Invalid(format!("{field} must be a list of strings"))),
        }
    }
}

/// For routes that read and cannot list. Vault's `LIST` arrives as `GET ...?list=true`
/// (see `middleware::rewrite_list_method`); served by a read handler it would disclose
/// what a read does while the audit log records a list. Vault answers 405 `unsupported
/// operation` for a `LIST` on such a path (KV v2's `data/`, for one), and so do we.
pub struct NotList;

impl<S: Send + Sync> FromRequestParts<S> for NotList {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        if asks_to_list(parts.uri.query()) {
            Err(error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                vec!["unsupported operation".into()],
            ))
        } else {
            Ok(NotList)
        }
    }
}

/// `list=true` or `list=1` in a query: what the audit log counts as a list.
fn asks_to_list(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p == "list=true" || p == "list=1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flex(v: Value) -> Flex {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn lenient_like_vault() {
        use serde_json::json;
        assert_eq!(flex(json!("1h")).seconds("t").unwrap(), Some(3600));
        assert_eq!(flex(json!(90)).seconds("t").unwrap(), Some(90));
        assert!(flex(json!(-1)).seconds("t").is_err());
        assert_eq!(
            flex(json!("a, b")).strings("p").unwrap(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            flex(json!(["a"])).strings("p").unwrap(),
            Some(vec!["a".into()])
        );
        assert!(flex(json!([1])).strings("p").is_err());
        assert_eq!(flex(json!("3")).count("n").unwrap(), Some(3));
        assert_eq!(Flex::Missing.seconds("t").unwrap(), None);
    }

    #[test]
    fn durations_are_bounded_and_errors_name_the_field() {
        use serde_json::json;
        for too_long in [
            json!("9223372036854775807s"),
            json!(9_223_372_036_854_775_807_i64),
            json!(u64::MAX),
            json!("876001h"),
        ] {
            let err = flex(too_long.clone())
                .seconds("increment")
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("increment"), "{too_long}: {err}");
        }
        assert_eq!(
            flex(json!(duration::MAX_SECONDS)).seconds("t").unwrap(),
            Some(duration::MAX_SECONDS)
        );
    }
}
