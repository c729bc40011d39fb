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

/// Where a token may be used from when two lists bound it (an AppRole secret_id's
/// `token_bound_cidrs` and its role's): either list alone when the other is empty, else the
/// blocks of `narrower` that lie inside a block of `wider`. `None` when `narrower` names
/// blocks and none of them lies inside `wider`: the token could be used from nowhere, and an
/// empty list would mean anywhere. Lists are validated on write; an unparsable one yields
/// `None`.
pub fn narrowed(narrower: &[String], wider: &[String]) -> Option<Vec<String>> {
    if narrower.is_empty() {
        return Some(wider.to_vec());
    }
    if wider.is_empty() {
        return Some(narrower.to_vec());
    }
    let outer = parse_cidrs(wider).ok()?;
    let inner = parse_cidrs(narrower).ok()?;
    let kept: Vec<String> = inner
        .iter()
        .filter(|net| outer.iter().any(|o| o.contains(*net)))
        .map(ToString::to_string)
        .collect();
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    #[test]
    fn narrowing_keeps_only_blocks_inside_the_wider_list() {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(narrowed(&[], &v(&["10.0.0.0/8"])), Some(v(&["10.0.0.0/8"])));
        assert_eq!(
            narrowed(&v(&["10.1.0.0/16"]), &[]),
            Some(v(&["10.1.0.0/16"]))
        );
        assert_eq!(
            narrowed(&v(&["10.1.0.0/16", "192.168.0.0/16"]), &v(&["10.0.0.0/8"])),
            Some(v(&["10.1.0.0/16"]))
        );
        assert_eq!(narrowed(&v(&["192.168.0.0/16"]), &v(&["10.0.0.0/8"])), None);
        assert_eq!(
            narrowed(&v(&["10.0.0.1"]), &v(&["10.0.0.0/8"])),
            Some(v(&["10.0.0.1/32"]))
        );
    }

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
