//! One client's settings, as given by `client create` flags or an import file entry,
//! checked before anything is sent, and turned into the AppRole role body.

use crate::names::check_name;
use crate::ttl;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::IpAddr;

pub const DEFAULT_TOKEN_TTL: &str = "1h";
pub const DEFAULT_TOKEN_MAX_TTL: &str = "24h";
pub const DEFAULT_SECRET_TTL: &str = "0";

/// A duration as written: seconds or a duration string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawTtl {
    Seconds(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawTtl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawTtl;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as \"1h\" or a number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawTtl, E> {
                Ok(RawTtl::Seconds(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawTtl, E> {
                u64::try_from(v)
                    .map(RawTtl::Seconds)
                    .map_err(|_| E::custom(format!("invalid duration {v}: must not be negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawTtl, E> {
                Ok(RawTtl::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl RawTtl {
    fn seconds(&self) -> Result<u64> {
        match self {
            Self::Seconds(seconds) => Ok(*seconds),
            Self::Text(text) => ttl::parse_seconds(text),
        }
    }
}

/// As written; unknown fields are errors, so a typo does not silently drop a setting.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawClientSpec {
    pub name: String,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub token_ttl: Option<RawTtl>,
    #[serde(default)]
    pub token_max_ttl: Option<RawTtl>,
    #[serde(default)]
    pub secret_ttl: Option<RawTtl>,
    #[serde(default)]
    pub secret_uses: Option<u32>,
    #[serde(default)]
    pub bound_cidrs: Vec<String>,
    /// Client-certificate patterns (`auth/cert/login`), as in the API.
    #[serde(default)]
    pub allowed_common_names: Vec<String>,
    #[serde(default)]
    pub allowed_dns_sans: Vec<String>,
    #[serde(default)]
    pub allowed_uri_sans: Vec<String>,
}

/// Checked settings; durations in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    pub name: String,
    pub policies: Vec<String>,
    pub token_ttl: u64,
    pub token_max_ttl: u64,
    pub secret_ttl: u64,
    pub secret_uses: u32,
    pub bound_cidrs: Vec<String>,
    pub allowed_common_names: Vec<String>,
    pub allowed_dns_sans: Vec<String>,
    pub allowed_uri_sans: Vec<String>,
}

fn ttl_or(raw: &Option<RawTtl>, default: &str, field: &str) -> Result<u64> {
    match raw {
        Some(raw) => raw.seconds(),
        None => ttl::parse_seconds(default),
    }
    .with_context(|| field.to_owned())
}

impl RawClientSpec {
    pub fn validate(&self) -> Result<ClientSpec> {
        check_name("client", &self.name)?;
        let mut policies: Vec<String> = Vec::new();
        for policy in &self.policies {
            let policy = policy.trim();
            check_name("policy", policy)?;
            if !policies.iter().any(|p| p == policy) {
                policies.push(policy.to_owned());
            }
        }
        let token_ttl = ttl_or(&self.token_ttl, DEFAULT_TOKEN_TTL, "token_ttl")?;
        let token_max_ttl = ttl_or(&self.token_max_ttl, DEFAULT_TOKEN_MAX_TTL, "token_max_ttl")?;
        ttl::check_ttl_pair(token_ttl, token_max_ttl)?;
        let secret_ttl = ttl_or(&self.secret_ttl, DEFAULT_SECRET_TTL, "secret_ttl")?;
        let bound_cidrs = self
            .bound_cidrs
            .iter()
            .map(|cidr| check_cidr(cidr).map(|()| cidr.trim().to_owned()))
            .collect::<Result<Vec<_>>>()?;
        Ok(ClientSpec {
            name: self.name.clone(),
            policies,
            token_ttl,
            token_max_ttl,
            secret_ttl,
            secret_uses: self.secret_uses.unwrap_or(0),
            bound_cidrs,
            allowed_common_names: trimmed(&self.allowed_common_names),
            allowed_dns_sans: trimmed(&self.allowed_dns_sans),
            allowed_uri_sans: trimmed(&self.allowed_uri_sans),
        })
    }
}

impl ClientSpec {
    /// `POST auth/approle/role/:name`.
    pub fn role_body(&self) -> Value {
        json!({
            "token_policies": self.policies,
            "token_ttl": ttl::format_seconds(self.token_ttl),
            "token_max_ttl": ttl::format_seconds(self.token_max_ttl),
            "secret_id_ttl": ttl::format_seconds(self.secret_ttl),
            "secret_id_num_uses": self.secret_uses,
            "secret_id_bound_cidrs": self.bound_cidrs,
            "allowed_common_names": self.allowed_common_names,
            "allowed_dns_sans": self.allowed_dns_sans,
            "allowed_uri_sans": self.allowed_uri_sans,
        })
    }
}

fn trimmed(patterns: &[String]) -> Vec<String> {
    patterns
        .iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// An address (`10.1.2.3`) or a block (`10.0.0.0/8`, `fd00::/8`).
pub fn check_cidr(raw: &str) -> Result<()> {
    let text = raw.trim();
    let invalid = || anyhow::anyhow!("{text:?} is not a CIDR block such as 10.0.0.0/8");
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
    if let Some(prefix) = prefix {
        let bits: u8 = prefix.parse().map_err(|_| invalid())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if bits > max {
            bail!("{text:?}: prefix /{bits} is longer than /{max}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str) -> RawClientSpec {
        RawClientSpec {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_body() {
        let spec = raw("app").validate().unwrap();
        assert_eq!(
            spec.role_body(),
            json!({
                "token_policies": [],
                "token_ttl": "1h",
                "token_max_ttl": "24h",
                "secret_id_ttl": "0s",
                "secret_id_num_uses": 0,
                "secret_id_bound_cidrs": [],
                "allowed_common_names": [],
                "allowed_dns_sans": [],
                "allowed_uri_sans": [],
            })
        );
    }

    #[test]
    fn settings_are_checked() {
        let spec = RawClientSpec {
            policies: vec!["a".into(), "b".into(), "a".into()],
            token_ttl: Some(RawTtl::Text("30m".into())),
            token_max_ttl: Some(RawTtl::Seconds(7200)),
            secret_ttl: Some(RawTtl::Text("7d".into())),
            secret_uses: Some(3),
            bound_cidrs: vec!["10.0.0.0/8".into(), "192.168.1.5".into()],
            ..raw("ci")
        }
        .validate()
        .unwrap();
        assert_eq!(spec.policies, ["a", "b"]);
        let body = spec.role_body();
        assert_eq!(body["token_ttl"], "30m");
        assert_eq!(body["token_max_ttl"], "2h");
        assert_eq!(body["secret_id_ttl"], "168h");
        assert_eq!(body["secret_id_num_uses"], 3);

        let bad_ttl = RawClientSpec {
            token_ttl: Some(RawTtl::Text("soon".into())),
            ..raw("x")
        };
        let message = format!("{:#}", bad_ttl.validate().unwrap_err());
        assert!(
            message.starts_with("token_ttl: invalid duration"),
            "{message}"
        );

        let inverted = RawClientSpec {
            token_ttl: Some(RawTtl::Text("2h".into())),
            token_max_ttl: Some(RawTtl::Text("1h".into())),
            ..raw("x")
        };
        assert!(inverted.validate().is_err());
        assert!(raw("bad name").validate().is_err());
        let bad_policy = RawClientSpec {
            policies: vec!["no spaces".into()],
            ..raw("x")
        };
        assert!(bad_policy.validate().is_err());
    }

    #[test]
    fn cidrs() {
        for good in [
            "10.0.0.0/8",
            "127.0.0.1",
            "::1/128",
            "fd00::/8",
            "0.0.0.0/0",
        ] {
            assert!(check_cidr(good).is_ok(), "{good}");
        }
        for bad in ["10.0.0.0/33", "10.0.0/8", "nope", "10.0.0.0/", "::1/129"] {
            assert!(check_cidr(bad).is_err(), "{bad}");
        }
    }
}
