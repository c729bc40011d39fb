//! The legacy API of the earlier Python secret manager, for migration (DESIGN.md section 4):
//! `POST /vault/secret/create/` and `POST /vault/secret/fetch`, each also without (or with)
//! the trailing slash, since its clients post to both spellings. `CONFMGR_LEGACY_API`
//! decides who may call them: nobody (`off`, the routes answer like unknown ones), token
//! holders whose policies allow it (`token`), or anyone (`open`).

use super::kv::{acl_path, kv};
use super::schemas::{LegacyCreated, LegacyFetched};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::config::LegacyApi;
use crate::error::{error_response, Error, Result};
use crate::services::legacy;
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::{Json, Router};
use confmgr_api::ErrorBody;
use confmgr_core::policy::Capability;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    fn create_route() -> MethodRouter<AppState> {
        post(create).fallback(other_method)
    }
    fn fetch_route() -> MethodRouter<AppState> {
        post(fetch).fallback(other_method)
    }
    Router::new()
        .route("/vault/secret/create", create_route())
        .route("/vault/secret/create/", create_route())
        .route("/vault/secret/fetch", fetch_route())
        .route("/vault/secret/fetch/", fetch_route())
}

/// What the router's fallback answers an unknown route: with the setting off, the legacy
/// routes must not reveal that they exist.
fn no_such_route() -> Response {
    error_response(StatusCode::NOT_FOUND, vec!["no handler for route".into()])
}

/// Who is calling, as `CONFMGR_LEGACY_API` requires: a token's holder (`token`), or anyone
/// (`open`: `None`; a token is neither needed nor looked at, so the audit event names no
/// actor).
struct Access(Option<Caller>);

impl FromRequestParts<AppState> for Access {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match state.legacy_api {
            LegacyApi::Off => Err(no_such_route()),
            LegacyApi::Open => Ok(Self(None)),
            LegacyApi::Token => Caller::from_request_parts(parts, state)
                .await
                .map(|caller| Self(Some(caller)))
                .map_err(IntoResponse::into_response),
        }
    }
}

impl Access {
    fn authorize(&self, path: &str, capabilities: &[Capability]) -> Result<()> {
        match &self.0 {
            Some(caller) => caller.authorize_any(path, capabilities),
            None => Ok(()),
        }
    }
}

/// Fields are taken as any JSON so that a wrong type is refused in our words: serde's
/// would quote the value, and the value may be a secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = LegacyCreateRequest)]
struct CreateRequest {
    /// The secret's bytes, base64 (standard alphabet, padded).
    #[serde(default)]
    #[schema(value_type = String)]
    secret: Value,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = LegacyFetchRequest)]
struct FetchRequest {
    /// The id `create` answered.
    #[serde(default)]
    #[schema(value_type = String)]
    secret_id: Value,
}

#[utoipa::path(
    post,
    path = "/vault/secret/create/",
    tag = "legacy",
    operation_id = "legacy_create",
    summary = "Store a secret (legacy API)",
    description = "Only when `CONFMGR_LEGACY_API` is `token` (the token needs `create` or `update` on the KV path behind the id) or `open`; otherwise 404 like an unknown route. Also served without the trailing slash.",
    request_body = CreateRequest,
    responses((status = 200, description = "Stored", body = LegacyCreated), (status = 400, description = "`secret` missing or not base64", body = ErrorBody), (status = 404, description = "The legacy API is off", body = ErrorBody), (status = 405, description = "Not POST", body = ErrorBody))
)]
async fn create(
    State(state): State<AppState>,
    access: Access,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<Response> {
    let id = Uuid::new_v4();
    note_secret(&state, id);
    access.authorize(
        &acl_path("data", &legacy::path(id)?),
        &[Capability::Create, Capability::Update],
    )?;
    let Value::String(secret) = request.secret else {
        return Err(Error::Invalid("secret must be a base64 string".into()));
    };
    legacy::create(&kv(&state), id, secret).await?;
    Ok(Json(json!({ "secret_id": id })).into_response())
}

#[utoipa::path(
    post,
    path = "/vault/secret/fetch",
    tag = "legacy",
    operation_id = "legacy_fetch",
    summary = "Fetch a secret (legacy API)",
    description = "Only when `CONFMGR_LEGACY_API` is `token` (the token needs `read` on the KV path behind the id) or `open`; otherwise 404 like an unknown route. Also served with a trailing slash.",
    request_body = FetchRequest,
    responses((status = 200, description = "The secret, base64", body = LegacyFetched), (status = 400, description = "`secret_id` missing or not a string", body = ErrorBody), (status = 404, description = "No secret with this id, or the legacy API is off", body = ErrorBody), (status = 405, description = "Not POST", body = ErrorBody))
)]
async fn fetch(
    State(state): State<AppState>,
    access: Access,
    JsonBody(request): JsonBody<FetchRequest>,
) -> Result<Response> {
    let Value::String(raw) = request.secret_id else {
        return Err(Error::Invalid("secret_id must be a string".into()));
    };
    // A malformed id names no secret, so it is answered as an unknown one.
    let Ok(id) = Uuid::try_parse(&raw) else {
        return Ok(unknown_secret());
    };
    note_secret(&state, id);
    access.authorize(&acl_path("data", &legacy::path(id)?), &[Capability::Read])?;
    match legacy::fetch(&kv(&state), id).await {
        Ok(secret) => Ok(Json(json!({ "secret": secret })).into_response()),
        Err(Error::NotFound) => Ok(unknown_secret()),
        Err(error) => Err(error),
    }
}

/// The audit event names the KV secret behind the id (the URL does not), by the id's
/// keyed digest: the id is a bearer credential (`legacy::id_digest`).
fn note_secret(state: &AppState, id: Uuid) {
    crate::audit::scope::note_path(
        "secret",
        &format!("data/{}", legacy::audit_path(&state.root_key, id)),
    );
}

fn unknown_secret() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        vec!["no secret with this secret_id".into()],
    )
}

async fn other_method(State(state): State<AppState>) -> Response {
    if state.legacy_api == LegacyApi::Off {
        return no_such_route();
    }
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        vec!["unsupported operation".into()],
    )
}
