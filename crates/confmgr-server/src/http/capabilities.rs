//! Vault's `sys/capabilities-self`, `sys/capabilities` and `sys/capabilities-accessor`:
//! what a token may do at some paths. Answer: one key per path, plus `capabilities` when
//! one path was asked (Vault keeps it for older clients).

use super::flex::Flex;
use super::render::{envelope, RequestId};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::policies::{self, TokenRef};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use confmgr_api::ErrorBody;
use confmgr_core::policy::{Acl, Capability};
use serde::Deserialize;
use serde_json::{Map, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/sys/capabilities-self",
            post(capabilities_self).put(capabilities_self),
        )
        .route("/v1/sys/capabilities", post(capabilities).put(capabilities))
        .route(
            "/v1/sys/capabilities-accessor",
            post(capabilities_accessor).put(capabilities_accessor),
        )
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CapabilitiesRequest)]
struct CapabilitiesBody {
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    paths: Flex,
    /// Vault's deprecated name of `paths`.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    path: Flex,
    /// `sys/capabilities` only: the token to ask about.
    #[serde(default)]
    token: String,
    /// `sys/capabilities-accessor` only: the accessor of the token to ask about.
    #[serde(default)]
    accessor: String,
}

impl CapabilitiesBody {
    fn paths(&self) -> Result<Vec<String>> {
        let paths = match self.paths.strings("paths")? {
            Some(paths) if !paths.is_empty() => paths,
            _ => self.path.strings("path")?.unwrap_or_default(),
        };
        if paths.is_empty() {
            return Err(Error::Invalid("paths must be supplied".into()));
        }
        Ok(paths)
    }
}

fn answer(id: RequestId, acl: &Acl, paths: &[String]) -> Response {
    let mut data = Map::new();
    for path in paths {
        data.insert(
            path.clone(),
            Value::from(policies::capability_names(acl, path)),
        );
    }
    if let [only] = paths {
        let caps = data.get(only).cloned().unwrap_or_default();
        data.insert("capabilities".into(), caps);
    }
    envelope(id, Value::Object(data))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/sys/capabilities-self",
    tag = "sys/capabilities",
    operation_id = "capabilities_self",
    summary = "The calling token's capabilities at some paths",
    description = "Needs `update` on `sys/capabilities-self` (the `default` policy grants it). Root tokens answer `[\"root\"]`, a path with nothing granted `[\"deny\"]`.",
    request_body = CapabilitiesBody,
    responses((status = 200, description = "One key per path, and `capabilities` for a single path", body = VaultResponse<Object>), (status = 400, description = "No paths", body = ErrorBody))
)]
async fn capabilities_self(
    caller: Caller,
    id: RequestId,
    JsonBody(body): JsonBody<CapabilitiesBody>,
) -> Result<Response> {
    caller.authorize("sys/capabilities-self", Capability::Update)?;
    Ok(answer(id, &caller.acl, &body.paths()?))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/sys/capabilities",
    tag = "sys/capabilities",
    operation_id = "capabilities",
    summary = "Another token's capabilities at some paths",
    description = "Needs `update` on `sys/capabilities`. An unknown, revoked or expired `token` answers 400 `invalid token`.",
    request_body = CapabilitiesBody,
    responses((status = 200, description = "One key per path, and `capabilities` for a single path", body = VaultResponse<Object>), (status = 400, description = "No paths, or not a usable token", body = ErrorBody))
)]
async fn capabilities(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(body): JsonBody<CapabilitiesBody>,
) -> Result<Response> {
    caller.authorize("sys/capabilities", Capability::Update)?;
    let paths = body.paths()?;
    if body.token.is_empty() {
        return Err(Error::Invalid("missing token".into()));
    }
    let acl = policies::acl_of(&state.store, TokenRef::Token(&body.token))
        .await?
        .ok_or_else(|| Error::Invalid("invalid token".into()))?;
    Ok(answer(id, &acl, &paths))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/sys/capabilities-accessor",
    tag = "sys/capabilities",
    operation_id = "capabilities_accessor",
    summary = "A token's capabilities at some paths, by accessor",
    description = "Needs `update` on `sys/capabilities-accessor`. An unknown accessor answers 400 `invalid accessor`.",
    request_body = CapabilitiesBody,
    responses((status = 200, description = "One key per path, and `capabilities` for a single path", body = VaultResponse<Object>), (status = 400, description = "No paths, or no such token", body = ErrorBody))
)]
async fn capabilities_accessor(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(body): JsonBody<CapabilitiesBody>,
) -> Result<Response> {
    caller.authorize("sys/capabilities-accessor", Capability::Update)?;
    let paths = body.paths()?;
    if body.accessor.is_empty() {
        return Err(Error::Invalid("missing accessor".into()));
    }
    let acl = policies::acl_of(&state.store, TokenRef::Accessor(&body.accessor))
        .await?
        .ok_or_else(|| Error::Invalid("invalid accessor".into()))?;
    Ok(answer(id, &acl, &paths))
}
