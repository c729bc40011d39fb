//! Secret paths inside a mount, parsed once at the edge.

use crate::ValidationError;
use std::fmt;

pub const MAX_PATH_BYTES: usize = 512;
pub const MAX_SEGMENT_BYTES: usize = 128;

/// A path such as `app/prod/db`: non-empty segments, no `.` or `..`, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretPath(String);

impl SecretPath {
    /// A leading `/` is an empty first segment, refused like `//` anywhere else: the route
    /// `secret/data/{*path}` hands `data//app` over as `/app`, which must not quietly name
    /// `app` (doc/api.md, secret paths).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new("missing secret path"));
        }
        if raw.ends_with('/') {
            return Err(ValidationError::new("secret path must not end with '/'"));
        }
        Self::check(raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// A folder to list: empty (the mount's root) or segments followed by an optional `/`.
    /// Returned with a trailing `/` unless empty, so it is a plain string prefix. Empty
    /// segments are refused as in `parse`, a leading one included.
    pub fn parse_prefix(raw: &str) -> Result<String, ValidationError> {
        if raw.is_empty() {
            return Ok(String::new());
        }
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        Self::check(trimmed)?;
        Ok(format!("{trimmed}/"))
    }

    fn check(path: &str) -> Result<(), ValidationError> {
        if path.len() > MAX_PATH_BYTES {
            return Err(ValidationError::new(format!(
                "secret path is longer than {MAX_PATH_BYTES} bytes"
            )));
        }
        for segment in path.split('/') {
            match segment {
                "" => {
                    return Err(ValidationError::new(
                        "secret path has an empty segment ('//')",
                    ))
                }
                "." | ".." => {
                    return Err(ValidationError::new(
                        "secret path must not contain '.' or '..' segments",
                    ))
                }
                _ if segment.len() > MAX_SEGMENT_BYTES => {
                    return Err(ValidationError::new(format!(
                        "secret path segment is longer than {MAX_SEGMENT_BYTES} bytes"
                    )))
                }
                _ if segment.chars().any(|c| c.is_control()) => {
                    return Err(ValidationError::new(
                        "secret path must not contain control characters",
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a KV v2 mount. Only `secret` exists for now; the type leaves room for more.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MountName(String);

impl MountName {
    pub fn secret() -> Self {
        Self("secret".to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_paths() {
        assert_eq!(
            SecretPath::parse("app/prod/db").map(|p| p.0),
            Ok("app/prod/db".into())
        );
        assert_eq!(
            SecretPath::parse("clé/ünï").map(|p| p.0),
            Ok("clé/ünï".into())
        );
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in [
            "", "/", "//", "/x", "//x", "a//b", "a/../b", "..", "./a", "a/", "a/\u{0}b",
        ] {
            assert!(
                SecretPath::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(SecretPath::parse(&"a".repeat(MAX_SEGMENT_BYTES + 1)).is_err());
        let long = vec!["abcdefgh"; 80].join("/");
        assert!(SecretPath::parse(&long).is_err());
    }

    #[test]
    fn prefixes_end_with_slash() {
        assert_eq!(SecretPath::parse_prefix(""), Ok(String::new()));
        assert_eq!(SecretPath::parse_prefix("app"), Ok("app/".into()));
        assert_eq!(
            SecretPath::parse_prefix("app/prod/"),
            Ok("app/prod/".into())
        );
        assert!(SecretPath::parse_prefix("a/../b").is_err());
        for bad in ["/", "//", "/app", "/app/", "app//", "a//b/"] {
            assert!(SecretPath::parse_prefix(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parsed_paths_round_trip_and_stay_clean(raw in "[a-z0-9./_-]{0,40}") {
            if let Ok(p) = SecretPath::parse(&raw) {
                prop_assert!(!p.as_str().split('/').any(|s| s.is_empty() || s == ".." || s == "."));
                prop_assert_eq!(SecretPath::parse(p.as_str()), Ok(p.clone()));
            }
        }
    }
}
