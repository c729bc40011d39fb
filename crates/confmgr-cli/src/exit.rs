//! Exit codes, and how an error maps to one. Scripts branch on these, so they are part of
//! the CLI's contract (listed in `confmgr --help` and doc/cli.md).

use crate::http::ApiError;
use std::fmt;

/// Something failed that none of the codes below describes (bad input found after parsing,
/// a file that cannot be read, a server error).
pub const GENERAL: u8 = 1;
/// The command line itself is wrong: clap's own parse errors and usage problems found after
/// parsing (conflicting flags, a format that does not apply).
pub const USAGE: u8 = 2;
/// The secret, version, client, policy or token does not exist.
pub const NOT_FOUND: u8 = 3;
/// No token, or the token is invalid, expired or not allowed to do this.
pub const PERMISSION_DENIED: u8 = 4;
/// No answer from the server (refused, DNS, TLS, timeout) or it is unavailable (502-504).
pub const UNREACHABLE: u8 = 5;
/// A check-and-set conflict: the secret changed since the version the command expected.
pub const CONFLICT: u8 = 6;
/// A change whose outcome is unknown: the server lost its database connection while
/// committing it, and the CLI could not find out afterwards whether it was made.
pub const OUTCOME_UNKNOWN: u8 = 7;

/// The exit code table shown at the end of `confmgr --help`.
pub const HELP: &str = "\
Exit codes:
  0  success
  1  error (bad input, unreadable file, server error)
  2  usage error (wrong arguments or flags; also clap's own parse errors)
  3  not found (secret, version, client, policy or token)
  4  permission denied (no token, invalid or expired token, or not allowed by policy)
  5  server unreachable or unavailable (connection refused, DNS, TLS, timeout, 502-504)
  6  conflict (check-and-set: the secret changed since the given --cas version)
  7  outcome unknown (the server lost its database while committing the change, and
     whether it was made could not be found out: read the secret before retrying)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    General,
    NotFound,
    PermissionDenied,
    Unreachable,
    Conflict,
    OutcomeUnknown,
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Self::General => GENERAL,
            Self::NotFound => NOT_FOUND,
            Self::PermissionDenied => PERMISSION_DENIED,
            Self::Unreachable => UNREACHABLE,
            Self::Conflict => CONFLICT,
            Self::OutcomeUnknown => OUTCOME_UNKNOWN,
        }
    }
}

/// An error the CLI words itself (problem and fix in one line), with its exit code.
#[derive(Debug)]
pub struct Failure {
    kind: Kind,
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub fn failure(kind: Kind, message: impl Into<String>) -> anyhow::Error {
    Failure {
        kind,
        message: message.into(),
    }
    .into()
}

pub fn not_found(message: impl Into<String>) -> anyhow::Error {
    failure(Kind::NotFound, message)
}

pub fn permission_denied(message: impl Into<String>) -> anyhow::Error {
    failure(Kind::PermissionDenied, message)
}

pub fn conflict(message: impl Into<String>) -> anyhow::Error {
    failure(Kind::Conflict, message)
}

/// The kind of the first classified error in the chain (outermost first); `General` when
/// nothing in it says more.
pub fn kind_of(error: &anyhow::Error) -> Kind {
    error
        .chain()
        .find_map(|cause| {
            if let Some(failure) = cause.downcast_ref::<Failure>() {
                return Some(failure.kind);
            }
            cause.downcast_ref::<ApiError>().map(ApiError::kind)
        })
        .unwrap_or(Kind::General)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use reqwest::StatusCode;

    fn api(status: u16, message: &str) -> ApiError {
        ApiError::Status {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            errors: vec![message.to_owned()],
            body: serde_json::Value::Null,
        }
    }

    #[test]
    fn codes_are_distinct() {
        let codes = [
            GENERAL,
            USAGE,
            NOT_FOUND,
            PERMISSION_DENIED,
            UNREACHABLE,
            CONFLICT,
            OUTCOME_UNKNOWN,
        ];
        for (i, a) in codes.iter().enumerate() {
            assert!(codes[i + 1..].iter().all(|b| a != b));
            assert!(HELP.contains(&format!("  {a}  ")), "{a} is not in the help");
        }
    }

    #[test]
    fn classification() {
        let of = |error: anyhow::Error| kind_of(&error);
        assert_eq!(of(anyhow::anyhow!("plain")), Kind::General);
        assert_eq!(of(not_found("x")), Kind::NotFound);
        assert_eq!(of(api(404, "").into()), Kind::NotFound);
        assert_eq!(
            of(api(403, "permission denied").into()),
            Kind::PermissionDenied
        );
        assert_eq!(
            of(api(
                400,
                "check-and-set parameter did not match the current version"
            )
            .into()),
            Kind::Conflict
        );
        assert_eq!(of(api(400, "no data provided").into()), Kind::General);
        assert_eq!(
            of(api(503, "storage unavailable").into()),
            Kind::Unreachable
        );
        assert_eq!(of(api(500, "internal error").into()), Kind::General);
        assert_eq!(
            of(api(503, "outcome unknown: the database connection was lost").into()),
            Kind::OutcomeUnknown
        );
        let unreachable = ApiError::Unreachable {
            addr: "http://x".into(),
            cause: "refused".into(),
        };
        assert_eq!(of(unreachable.into()), Kind::Unreachable);
        // Context on top keeps the kind.
        let wrapped = Err::<(), _>(api(403, "")).context("reading secret/a");
        assert_eq!(of(wrapped.unwrap_err()), Kind::PermissionDenied);
    }
}
