//! Durations as the server takes them: Go-style (`90s`, `15m`, `1h30m`, `2d`) or a bare
//! number of seconds. The CLI checks them before sending and sends a canonical form
//! (`3600` → `1h`, `0` → `0s`, `1d` → `24h`).

use anyhow::{bail, Result};

pub fn parse_seconds(raw: &str) -> Result<u64> {
    let text = raw.trim();
    let invalid = || anyhow::anyhow!("invalid duration {raw:?}: use e.g. 0, 30s, 15m, 2h45m, 7d");
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: u64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(invalid)?;
    }
    if !number.is_empty() {
        return Err(invalid());
    }
    Ok(total)
}

/// `1h30m`, `24h`, `45s`, `0s`: hours, minutes and seconds, zero parts left out.
pub fn format_seconds(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let mut out = String::new();
    for (value, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

/// `token_max_ttl` must not be shorter than `token_ttl` (0 means the server default).
pub fn check_ttl_pair(ttl: u64, max_ttl: u64) -> Result<()> {
    if ttl > 0 && max_ttl > 0 && max_ttl < ttl {
        bail!(
            "token_max_ttl ({}) is shorter than token_ttl ({})",
            format_seconds(max_ttl),
            format_seconds(ttl)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_seconds("0").unwrap(), 0);
        assert_eq!(parse_seconds("90").unwrap(), 90);
        assert_eq!(parse_seconds("1h").unwrap(), 3600);
        assert_eq!(parse_seconds("1h30m").unwrap(), 5400);
        assert_eq!(parse_seconds(" 2d ").unwrap(), 172_800);
        for bad in ["", "h", "1x", "1h5", "-1", "1.5h"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    fn canonical(raw: &str) -> Result<String> {
        Ok(format_seconds(parse_seconds(raw)?))
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical("0").unwrap(), "0s");
        assert_eq!(canonical("3600").unwrap(), "1h");
        assert_eq!(canonical("24h").unwrap(), "24h");
        assert_eq!(canonical("90m").unwrap(), "1h30m");
        assert_eq!(canonical("1d").unwrap(), "24h");
        assert_eq!(format_seconds(3661), "1h1m1s");
    }

    #[test]
    fn ttl_pairs() {
        assert!(check_ttl_pair(3600, 86_400).is_ok());
        assert!(check_ttl_pair(3600, 0).is_ok());
        assert!(check_ttl_pair(0, 60).is_ok());
        assert!(check_ttl_pair(7200, 3600).is_err());
    }
}
