//! Bound CIDRs: where a credential or token may be used from.

use crate::ValidationError;
use ipnet::IpNet;
use std::net::IpAddr;

/// Parses CIDRs (a bare address counts as a /32 or /128).
pub fn parse_cidrs(raw: &[String]) -> Result<Vec<IpNet>, ValidationError> {
    raw.iter()
        .map(|text| {
            let text = text.trim();
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ValidationError::new(format!("{text:?} is not a CIDR block such as 10.0.0.0/8"))
                })
        })
        .collect()
}

/// True when `cidrs` is empty (no restriction) or one of them contains `address`.
pub fn allowed(cidrs: &[String], address: IpAddr) -> bool {
    if cidrs.is_empty() {
        return true;
    }
    // Stored lists were validated on write; an unparsable one allows nothing.
    parse_cidrs(cidrs).is_ok_and(|nets| nets.iter().any(|net| net.contains(&address)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(allowed(&[], other));
        let bound = vec!["127.0.0.0/8".to_string(), "192.168.1.5".to_string()];
        assert!(allowed(&bound, local));
        assert!(!allowed(&bound, other));
        assert!(allowed(&bound, "192.168.1.5".parse().unwrap()));
        assert!(parse_cidrs(&["nope".to_string()]).is_err());
    }
}
