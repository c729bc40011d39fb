//! Token authentication: `X-Vault-Token` or `Authorization: Bearer`, looked up by SHA-256 digest.

use crate::error::Error;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use confmgr_core::time::now_micros;
use confmgr_core::token;
use confmgr_store::TokenRecord;

/// The caller, authenticated. Policies are carried for the policy engine to come; for now
/// every valid token may use every route.
pub struct Caller {
    pub token: TokenRecord,
    /// What the caller presented (only ever echoed back to that caller by lookup-self).
    pub presented: String,
}

pub fn presented_token(parts: &Parts) -> Option<String> {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    header("x-vault-token")
        .map(str::to_owned)
        .or_else(|| {
            header("authorization")
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(|t| t.trim().to_owned())
        })
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let presented = presented_token(parts).ok_or(Error::PermissionDenied)?;
        let mut tx = state.store.begin().await?;
        let record = tx.token_by_digest(&token::digest(&presented)).await?;
        tx.commit().await?;
        let now = now_micros();
        match record {
            Some(token)
                if token.revoked_at.is_none() && token.expires_at.is_none_or(|at| at > now) =>
            {
                Ok(Self { token, presented })
            }
            _ => Err(Error::PermissionDenied),
        }
    }
}
