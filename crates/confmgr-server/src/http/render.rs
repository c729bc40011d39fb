//! Domain values in Vault's wire shapes.

use crate::error::Error;
use crate::services::kv::VersionView;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use confmgr_api::kv::VersionMetadata;
use confmgr_api::VaultResponse;
use confmgr_core::time::rfc3339;
use serde::Serialize;

/// The request id set by the request-id layer (or given by the caller as `X-Request-Id`).
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default();
        Ok(Self(id))
    }
}

pub fn envelope<T: Serialize>(request_id: RequestId, data: T) -> Response {
    Json(VaultResponse::new(request_id.0, Some(data))).into_response()
}

pub fn kv_envelope<T: Serialize>(request_id: RequestId, data: T) -> VaultResponse<T> {
    VaultResponse::new(request_id.0, Some(data)).with_mount_type("kv")
}

pub fn no_content() -> Response {
    axum::http::StatusCode::NO_CONTENT.into_response()
}

pub fn version_metadata(view: &VersionView) -> VersionMetadata {
    VersionMetadata {
        created_time: rfc3339(view.meta.created_at),
        custom_metadata: view.custom_metadata.clone(),
        deletion_time: view.meta.deletion_time.map(rfc3339).unwrap_or_default(),
        destroyed: view.meta.destroyed,
        version: view.meta.version,
    }
}

/// A deleted or destroyed version: 404 with the usual envelope, `data` set to null.
pub fn gone<T: Serialize>(body: VaultResponse<T>) -> Error {
    match serde_json::to_value(body) {
        Ok(value) => Error::Gone(value),
        Err(e) => Error::Internal(e.to_string()),
    }
}

/// Vault's `auth` block, answered by logins, token creation and renewal.
pub fn auth_response(
    request_id: RequestId,
    client_token: &str,
    token: &confmgr_store::TokenRecord,
) -> Response {
    let lease = crate::services::tokens::seconds_left(token, confmgr_core::time::now_micros());
    let auth = serde_json::json!({
        "client_token": client_token,
        "accessor": token.accessor,
        "policies": token.policies,
        "token_policies": token.policies,
        "identity_policies": serde_json::Value::Null,
        "metadata": token.meta,
        "lease_duration": lease,
        "renewable": token.renewable && token.expires_at.is_some(),
        "entity_id": "",
        "token_type": "service",
        "orphan": token.parent_accessor.is_none(),
        "mfa_requirement": serde_json::Value::Null,
        "num_uses": token.num_uses,
        "issuer": token.issuer,
    });
    let mut body = VaultResponse::<serde_json::Value>::new(request_id.0, None);
    body.auth = Some(auth);
    Json(body).into_response()
}
