//! The server's one error type, and the one place that maps errors to HTTP statuses.
//! 5xx bodies stay generic; the detail goes to the log (never secret values: the
//! errors below carry paths and reasons, not data).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use confmgr_api::ErrorBody;
use confmgr_core::{CryptoError, ValidationError};
use confmgr_store::StoreError;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("permission denied")]
    PermissionDenied,
    /// Refused with a reason the caller may read (a client certificate problem).
    #[error("{0}")]
    Refused(String),
    /// A missing path: `{"errors": []}` like Vault.
    #[error("not found")]
    NotFound,
    /// A deleted or destroyed version: 404 with the usual body and `data.data = null`.
    #[error("version is deleted or destroyed")]
    Gone(Value),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body too large")]
    PayloadTooLarge,
    /// Too many failed logins, or too many logins hashing at once.
    #[error("too many login attempts; retry after {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Internal(String),
}

impl From<ValidationError> for Error {
    fn from(error: ValidationError) -> Self {
        Self::Invalid(error.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub fn error_response(status: StatusCode, errors: Vec<String>) -> Response {
    (status, Json(ErrorBody { errors })).into_response()
}

/// The body of a change whose commit may or may not have happened (the database connection
/// was lost after `commit` was sent). Clients match its start, `outcome unknown`.
pub const OUTCOME_UNKNOWN: &str = "outcome unknown: the database connection was lost while \
     committing; read the current version before retrying, or write with cas";

/// Marks the answer to a change of unknown outcome (a response extension): the audit
/// layer keeps it even when the request's own audit event cannot be written, because it
/// discloses nothing and its client must learn that the change may have happened.
#[derive(Clone, Copy, Debug)]
pub struct OutcomeUnknown;

/// 503 `storage unavailable`: the database cannot be reached.
pub fn storage_unavailable() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        vec!["storage unavailable".into()],
    )
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Self::Invalid(message) => error_response(StatusCode::BAD_REQUEST, vec![message]),
            Self::PermissionDenied => {
                error_response(StatusCode::FORBIDDEN, vec!["permission denied".into()])
            }
            Self::Refused(message) => error_response(StatusCode::FORBIDDEN, vec![message]),
            Self::NotFound => error_response(StatusCode::NOT_FOUND, vec![]),
            Self::Gone(body) => (StatusCode::NOT_FOUND, Json(body)).into_response(),
            Self::UnsupportedMediaType(message) => {
                error_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, vec![message])
            }
            Self::PayloadTooLarge => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                vec!["request body too large".into()],
            ),
            Self::RateLimited { retry_after } => {
                let mut response = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    vec![format!(
                        "too many login attempts; retry after {retry_after} seconds"
                    )],
                );
                if let Ok(value) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, value);
                }
                response
            }
            Self::Store(StoreError::Unavailable(source)) => {
                tracing::error!(error = %source, "storage unavailable");
                storage_unavailable()
            }
            Self::Store(StoreError::OutcomeUnknown(source)) => {
                tracing::error!(error = %source, "outcome unknown: the database connection was lost while committing a change");
                let mut response = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    vec![OUTCOME_UNKNOWN.into()],
                );
                response.extensions_mut().insert(OutcomeUnknown);
                response
            }
            Self::Crypto(ref source) => {
                // Tampered, moved or undecryptable data: loud in the log, generic to the caller.
                tracing::error!(error = %source, "decryption failed: stored data does not authenticate");
                internal()
            }
            Self::Store(ref source) => {
                // "database error" alone tells an operator nothing: name the cause too.
                let cause = std::error::Error::source(source)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::error!(error = %source, %cause, "storage error");
                internal()
            }
            Self::Internal(ref detail) => {
                tracing::error!(error = %detail, "internal error");
                internal()
            }
        }
    }
}

fn internal() -> Response {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        vec!["internal error".into()],
    )
}

/// An error and its sources on one line, without repeats: AWS SDK errors nest the useful
/// part several sources deep (KMS at start-up, RDS IAM tokens).
pub(crate) fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
