//! Go-style durations (`90s`, `1h30m`, `0s`), the format Vault uses for
//! `delete_version_after`. Also accepts a bare integer number of seconds.

use crate::ValidationError;

pub fn parse_seconds(raw: &str) -> Result<i64, ValidationError> {
    let raw = raw.trim();
    let invalid = || {
        ValidationError::new(format!(
            "invalid duration {raw:?}: use e.g. 30s, 15m, 2h45m"
        ))
    };
    if raw.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = raw.parse::<i64>() {
        return if seconds < 0 {
            Err(invalid())
        } else {
            Ok(seconds)
        };
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: i64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        let unit = match c {
            'h' => 3600,
            's' => 1,
            'd' => 86_400,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                if value != 0 {
                    return Err(ValidationError::new(format!(
                        "invalid duration {raw:?}: sub-second precision is not supported"
                    )));
                }
                0
            }
            'm' => 60,
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

pub fn format_seconds(seconds: i64) -> String {
    if seconds <= 0 {
        return "0s".to_owned();
    }
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_seconds("0s"), Ok(0));
        assert_eq!(parse_seconds("90s"), Ok(90));
        assert_eq!(parse_seconds("1h30m"), Ok(5400));
        assert_eq!(parse_seconds("2d"), Ok(172_800));
        assert_eq!(parse_seconds("3600"), Ok(3600));
        assert!(parse_seconds("").is_err());
        assert!(parse_seconds("10x").is_err());
        assert!(parse_seconds("-5").is_err());
        assert!(parse_seconds("5").is_ok());
        assert!(parse_seconds("1h5").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_seconds(0), "0s");
        assert_eq!(format_seconds(5400), "1h30m0s");
        assert_eq!(format_seconds(61), "1m1s");
        assert_eq!(parse_seconds(&format_seconds(98_765)), Ok(98_765));
    }
}
