//! Which client a verified TLS client certificate logs in as: a client lists patterns for
//! the certificate's common name, DNS SANs and URI SANs (a SPIFFE id, say), with Vault's
//! cert-role semantics: every non-empty list must be matched by at least one name of its
//! kind, and a client with no patterns accepts no certificate.

use crate::ValidationError;

const MAX_PATTERNS: usize = 64;
const MAX_PATTERN_CHARS: usize = 512;

/// The names a certificate asserts, once its chain is verified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertIdentity {
    pub common_name: Option<String>,
    pub dns_sans: Vec<String>,
    pub uri_sans: Vec<String>,
}

impl CertIdentity {
    /// `CN=build-bot, DNS=api.internal, URI=spiffe://prod/api` for messages and logs.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(cn) = &self.common_name {
            parts.push(format!("CN={cn}"));
        }
        parts.extend(self.dns_sans.iter().map(|name| format!("DNS={name}")));
        parts.extend(self.uri_sans.iter().map(|name| format!("URI={name}")));
        if parts.is_empty() {
            "no common name or SAN".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A client's certificate patterns; `*` matches any run of characters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertBindings {
    pub common_names: Vec<String>,
    pub dns_sans: Vec<String>,
    pub uri_sans: Vec<String>,
}

impl CertBindings {
    pub fn is_empty(&self) -> bool {
        self.common_names.is_empty() && self.dns_sans.is_empty() && self.uri_sans.is_empty()
    }

    pub fn matches(&self, identity: &CertIdentity) -> bool {
        if self.is_empty() {
            return false;
        }
        let common_name = identity.common_name.iter();
        let kinds: [(&[String], Vec<&String>, bool); 3] = [
            (&self.common_names, common_name.collect(), false),
            // DNS names are case-insensitive; URIs and common names are compared exactly.
            (&self.dns_sans, identity.dns_sans.iter().collect(), true),
            (&self.uri_sans, identity.uri_sans.iter().collect(), false),
        ];
        kinds.iter().all(|(patterns, names, fold_case)| {
            patterns.is_empty()
                || patterns.iter().any(|pattern| {
                    names
                        .iter()
                        .any(|name| glob_matches(pattern, name, *fold_case))
                })
        })
    }

    /// Trims, drops empty entries and checks sizes; one message naming the field.
    pub fn normalized(self) -> Result<Self, ValidationError> {
        let clean = |field: &str, patterns: Vec<String>| {
            let patterns: Vec<String> = patterns
                .into_iter()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect();
            if patterns.len() > MAX_PATTERNS {
                return Err(ValidationError::new(format!(
                    "{field}: at most {MAX_PATTERNS} patterns"
                )));
            }
            if let Some(bad) = patterns
                .iter()
                .find(|p| p.len() > MAX_PATTERN_CHARS || p.chars().any(char::is_control))
            {
                return Err(ValidationError::new(format!(
                    "{field}: {:?} is not a usable pattern (at most {MAX_PATTERN_CHARS} characters, no control characters)",
                    bad.chars().take(40).collect::<String>()
                )));
            }
            if patterns.iter().any(|p| p.chars().all(|c| c == '*')) {
                return Err(ValidationError::new(format!(
                    "{field}: a pattern of only '*' would accept every certificate from the CA; name the certificates"
                )));
            }
            Ok(patterns)
        };
        Ok(Self {
            common_names: clean("allowed_common_names", self.common_names)?,
            dns_sans: clean("allowed_dns_sans", self.dns_sans)?,
            uri_sans: clean("allowed_uri_sans", self.uri_sans)?,
        })
    }
}

/// `*` matches any (possibly empty) run of characters; everything else literally.
pub fn glob_matches(pattern: &str, value: &str, fold_case: bool) -> bool {
    let (pattern, value) = if fold_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), value.to_owned())
    };
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        // No `*` at all: an exact match.
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(cn: Option<&str>, dns: &[&str], uri: &[&str]) -> CertIdentity {
        CertIdentity {
            common_name: cn.map(str::to_owned),
            dns_sans: dns.iter().map(|s| s.to_string()).collect(),
            uri_sans: uri.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn globs() {
        assert!(glob_matches("build-bot", "build-bot", false));
        assert!(!glob_matches("build-bot", "build-bot2", false));
        assert!(!glob_matches("build-bot", "Build-bot", false));
        assert!(glob_matches("*.svc.internal", "api.svc.internal", true));
        assert!(glob_matches("*.svc.internal", "API.SVC.internal", true));
        assert!(!glob_matches("*.svc.internal", "svc.internal.evil", true));
        assert!(glob_matches(
            "spiffe://prod/ns/*/sa/api",
            "spiffe://prod/ns/a/sa/api",
            false
        ));
        assert!(!glob_matches(
            "spiffe://prod/ns/*/sa/api",
            "spiffe://prod/ns/a/sa/apix",
            false
        ));
        assert!(glob_matches("a*b*c", "abc", false));
        assert!(!glob_matches("a*bc", "abc-bc-x", false));
        // The suffix must not overlap the prefix.
        assert!(!glob_matches("ab*ba", "aba", false));
    }

    #[test]
    fn every_listed_kind_must_match() {
        let bindings = CertBindings {
            common_names: strings(&["build-bot"]),
            uri_sans: strings(&["spiffe://prod/*"]),
            dns_sans: vec![],
        };
        assert!(bindings.matches(&identity(Some("build-bot"), &[], &["spiffe://prod/ci"])));
        assert!(!bindings.matches(&identity(Some("build-bot"), &[], &[])));
        assert!(!bindings.matches(&identity(Some("other"), &[], &["spiffe://prod/ci"])));
        assert!(!bindings.matches(&identity(None, &[], &["spiffe://prod/ci"])));
    }

    #[test]
    fn one_name_of_a_kind_is_enough() {
        let bindings = CertBindings {
            dns_sans: strings(&["api.internal", "api.example.com"]),
            ..CertBindings::default()
        };
        assert!(bindings.matches(&identity(None, &["x.internal", "API.example.com"], &[])));
        assert!(!bindings.matches(&identity(Some("api.internal"), &[], &[])));
    }

    #[test]
    fn no_patterns_accept_nothing() {
        assert!(!CertBindings::default().matches(&identity(Some("x"), &["x"], &["x"])));
    }

    #[test]
    fn normalized_refuses_catch_alls_and_trims() {
        let ok = CertBindings {
            common_names: strings(&[" build-bot ", ""]),
            ..CertBindings::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(ok.common_names, strings(&["build-bot"]));
        let err = CertBindings {
            uri_sans: strings(&["**"]),
            ..CertBindings::default()
        }
        .normalized()
        .unwrap_err();
        assert!(err.to_string().contains("allowed_uri_sans"), "{err}");
    }

    #[test]
    fn describes_names() {
        assert_eq!(
            identity(Some("a"), &["b"], &["spiffe://c"]).describe(),
            "CN=a, DNS=b, URI=spiffe://c"
        );
        assert_eq!(identity(None, &[], &[]).describe(), "no common name or SAN");
    }
}
