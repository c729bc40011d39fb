//! Vault accepts durations as `"1h"` or seconds, and lists as arrays or comma-separated
//! strings; so do we.

use crate::error::{Error, Result};
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
    pub fn seconds(&self, field: &str) -> Result<Option<i64>> {
        match self {
            Flex::Missing => Ok(None),
            Flex::Number(n) if *n >= 0 => Ok(Some(*n)),
            Flex::Text(text) if text.trim().is_empty() => Ok(Some(0)),
            Flex::Text(text) => Ok(Some(
                duration::parse_seconds(text)
                    .map_err(|e| Error::Invalid(format!("{field}: {e}")))?,
            )),
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
}
