//! Go-style durations (`90s`, `1h30m`, `0s`), the format Vault uses for
//! `delete_version_after`. Also accepts a bare integer number of seconds.
//!
//! Every duration a user gives is bounded by [`MAX_SECONDS`], so adding one to a timestamp
//! cannot wrap; [`micros_after`] does that addition checked all the same, for values stored
//! before the bound existed.

use crate::time::Micros;
use crate::ValidationError;

/// The longest duration accepted from a user: 100 years of 365 days. Longer settings are
/// refused rather than clamped, so a typo cannot quietly mean "forever".
pub const MAX_SECONDS: i64 = 100 * 365 * 86_400;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// A duration in seconds, at most [`MAX_SECONDS`]; the error does not say which field.
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
    if raw.starts_with('-') {
        return Err(invalid());
    }
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        return match raw.parse::<i64>() {
            Ok(seconds) => bounded(seconds).map_err(|_| too_long(raw)),
            // All digits but beyond i64: certainly too long.
            Err(_) => Err(too_long(raw)),
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
        if number.is_empty() {
            return Err(invalid());
        }
        // A run of digits too long for i64 is too long a duration, not a malformed one.
        let value: i64 = number.parse().map_err(|_| too_long(raw))?;
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
            .ok_or_else(|| too_long(raw))?;
    }
    if !number.is_empty() {
        return Err(invalid());
    }
    bounded(total).map_err(|_| too_long(raw))
}

/// [`parse_seconds`] with the field's name leading the error (`secret_id_ttl: ...`).
pub fn parse_field(field: &str, raw: &str) -> Result<i64, ValidationError> {
    parse_seconds(raw).map_err(|e| ValidationError::new(format!("{field}: {e}")))
}

/// A number of seconds given as a number: not negative, at most [`MAX_SECONDS`].
pub fn check_field(field: &str, seconds: i64) -> Result<i64, ValidationError> {
    if seconds < 0 {
        return Err(ValidationError::new(format!(
            "{field}: a duration cannot be negative"
        )));
    }
    bounded(seconds).map_err(|_| {
        ValidationError::new(format!(
            "{field}: {seconds} seconds is longer than the maximum of 100 years ({MAX_SECONDS}s)"
        ))
    })
}

fn bounded(seconds: i64) -> Result<i64, ()> {
    if (0..=MAX_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(())
    }
}

fn too_long(raw: &str) -> ValidationError {
    ValidationError::new(format!(
        "duration {raw:?} is longer than the maximum of 100 years ({MAX_SECONDS}s)"
    ))
}

/// `seconds` after `at`, or `None` when the sum does not fit a timestamp (only a value
/// stored before durations were bounded can get there).
pub fn micros_after(at: Micros, seconds: i64) -> Option<Micros> {
    seconds
        .checked_mul(MICROS_PER_SECOND)
        .and_then(|offset| at.checked_add(offset))
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
    fn refuses_durations_beyond_a_century_naming_the_field() {
        assert_eq!(parse_seconds("3153600000"), Ok(MAX_SECONDS));
        assert_eq!(parse_seconds("876000h"), Ok(MAX_SECONDS));
        for raw in [
            "3153600001",
            "876000h1s",
            "9223372036854775807s",
            "9223372036854775807",
            "99999999999999999999",
            "99999999999999999999s",
            "2562047788015216h",
        ] {
            let err = parse_field("secret_id_ttl", raw).unwrap_err().to_string();
            assert!(err.starts_with("secret_id_ttl: "), "{raw}: {err}");
            assert!(err.contains("100 years"), "{raw}: {err}");
        }
        assert!(parse_seconds("+5").is_err());
        assert!(parse_seconds("h").is_err());
        assert_eq!(check_field("ttl", MAX_SECONDS), Ok(MAX_SECONDS));
        assert!(check_field("ttl", MAX_SECONDS + 1)
            .unwrap_err()
            .to_string()
            .starts_with("ttl: "));
        assert!(check_field("ttl", -1).is_err());
    }

    #[test]
    fn adding_to_a_timestamp_never_wraps() {
        assert_eq!(micros_after(1_000_000, 2), Some(3_000_000));
        assert_eq!(micros_after(1_700_000_000_000_000, i64::MAX), None);
        assert_eq!(
            micros_after(1_700_000_000_000_000, i64::MAX / 1_000_000),
            None
        );
        assert!(micros_after(1_700_000_000_000_000, MAX_SECONDS).is_some());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_seconds(0), "0s");
        assert_eq!(format_seconds(5400), "1h30m0s");
        assert_eq!(format_seconds(61), "1m1s");
        assert_eq!(parse_seconds(&format_seconds(98_765)), Ok(98_765));
    }
}
