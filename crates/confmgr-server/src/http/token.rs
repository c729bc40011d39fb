//! Vault's token API. The `-self` routes need no policy (Vault's `default` policy grants them
//! to every token); the others are checked against the caller's ACL.

use super::flex::{Flex, NotList};
use super::render::{auth_response, envelope, no_content, RequestId};
use super::schemas::AuthResponse;
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::Result;
use crate::services::tokens::{self, ChildRequest};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use confmgr_api::sys::TokenLookup;
use confmgr_api::VaultResponse;
use confmgr_core::policy::Capability;
use confmgr_core::time::{now_micros, rfc3339};
use confmgr_store::TokenRecord;
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/auth/token/lookup-self",
            get(lookup_self).post(lookup_self),
        )
        .route(
            "/v1/auth/token/renew-self",
            post(renew_self).put(renew_self),
        )
        .route(
            "/v1/auth/token/revoke-self",
            post(revoke_self).put(revoke_self),
        )
        .route("/v1/auth/token/create", post(create).put(create))
        .route(
            "/v1/auth/token/create-orphan",
            post(create_orphan).put(create_orphan),
        )
        .route("/v1/auth/token/lookup", post(lookup).get(lookup))
        .route(
            "/v1/auth/token/lookup-accessor",
            post(lookup_accessor).put(lookup_accessor),
        )
        .route("/v1/auth/token/revoke", post(revoke).put(revoke))
        .route(
            "/v1/auth/token/revoke-accessor",
            post(revoke_accessor).put(revoke_accessor),
        )
}

fn lookup_body(token: TokenRecord, id: String) -> TokenLookup {
    let now = now_micros();
    TokenLookup {
        ttl: tokens::seconds_left(&token, now),
        creation_ttl: token.ttl,
        renewable: token.expires_at.is_some(),
        accessor: token.accessor,
        creation_time: token.created_at / 1_000_000,
        display_name: token.display_name,
        entity_id: String::new(),
        expire_time: token.expires_at.map(rfc3339),
        explicit_max_ttl: 0,
        id,
        meta: Some(serde_json::to_value(&token.meta).unwrap_or_default()),
        num_uses: 0,
        orphan: token.parent_accessor.is_none(),
        path: if token.meta.contains_key("cert_name") {
            "auth/cert/login".into()
        } else if token.meta.contains_key("role_name") {
            "auth/approle/login".into()
        } else {
            "auth/token/create".into()
        },
        policies: token.policies,
        token_type: "service".into(),
        issuer: token.issuer,
    }
}

#[utoipa::path(
    method(get, post),
    path = "/v1/auth/token/lookup-self",
    tag = "auth/token",
    operation_id = "token_lookup_self",
    summary = "Look up the calling token",
    description = "Any valid token may call it (no policy needed).",
    responses((status = 200, description = "The token", body = VaultResponse<TokenLookup>))
)]
async fn lookup_self(caller: Caller, _: NotList, id: RequestId) -> Response {
    envelope(
        id,
        lookup_body(
            std::sync::Arc::unwrap_or_clone(caller.token),
            caller.presented,
        ),
    )
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
struct RenewRequest {
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    increment: Flex,
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/renew-self",
    tag = "auth/token",
    operation_id = "token_renew_self",
    summary = "Renew the calling token",
    description = "Any valid token may call it. Extends the TTL by `increment` (default: the token's TTL), never past its maximum.",
    request_body = RenewRequest,
    responses((status = 200, description = "The token", body = AuthResponse))
)]
async fn renew_self(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(request): JsonBody<RenewRequest>,
) -> Result<Response> {
    let renewed = tokens::renew(
        &state.store,
        &state.access.auth_cache,
        &caller.token,
        request.increment.seconds("increment")?,
    )
    .await?;
    Ok(auth_response(id, &caller.presented, &renewed))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/revoke-self",
    tag = "auth/token",
    operation_id = "token_revoke_self",
    summary = "Revoke the calling token and its children",
    description = "Any valid token may call it.",
    responses((status = 204, description = "Revoked"))
)]
async fn revoke_self(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    tokens::revoke_accessor(
        &state.store,
        &state.access.auth_cache,
        &caller.token.accessor,
    )
    .await?;
    Ok(no_content())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = TokenCreateRequest)]
struct CreateRequest {
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    policies: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    ttl: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    explicit_max_ttl: Flex,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    meta: Option<BTreeMap<String, String>>,
    #[serde(default)]
    no_parent: bool,
}

async fn create_token(
    state: AppState,
    caller: Caller,
    id: RequestId,
    request: CreateRequest,
    orphan: bool,
) -> Result<Response> {
    let path = if orphan {
        "auth/token/create-orphan"
    } else {
        "auth/token/create"
    };
    caller.authorize_any(path, &[Capability::Create, Capability::Update])?;
    let child = ChildRequest {
        policies: request.policies.strings("policies")?,
        ttl: request.ttl.seconds("ttl")?,
        explicit_max_ttl: request.explicit_max_ttl.seconds("explicit_max_ttl")?,
        display_name: request.display_name,
        meta: request.meta.unwrap_or_default(),
        orphan: orphan || request.no_parent,
    };
    let access = &state.access;
    let (token, record) = tokens::create_child(
        &state.store,
        &caller.token,
        child,
        access.default_token_ttl,
        access.max_token_ttl,
    )
    .await?;
    Ok(auth_response(id, token.expose(), &record))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/create",
    tag = "auth/token",
    operation_id = "token_create",
    summary = "Create a child token",
    description = "Needs `create` or `update` on `auth/token/create`. The child's policies must be a subset of the caller's; it is revoked with its parent unless `no_parent` is set.",
    request_body = CreateRequest,
    responses((status = 200, description = "The token", body = AuthResponse))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<Response> {
    create_token(state, caller, id, request, false).await
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/create-orphan",
    tag = "auth/token",
    operation_id = "token_create_orphan",
    summary = "Create a token without a parent",
    description = "Needs `create` or `update` on `auth/token/create-orphan`. Policies must be a subset of the caller's.",
    request_body = CreateRequest,
    responses((status = 200, description = "The token", body = AuthResponse))
)]
async fn create_orphan(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<Response> {
    create_token(state, caller, id, request, true).await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
struct TokenBody {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = TokenAccessorBody)]
struct AccessorBody {
    #[serde(default)]
    accessor: String,
}

#[utoipa::path(
    method(post, get),
    path = "/v1/auth/token/lookup",
    tag = "auth/token",
    operation_id = "token_lookup",
    summary = "Look up a token",
    description = "Needs `read` or `update` on `auth/token/lookup`.",
    request_body = TokenBody,
    responses((status = 200, description = "The token", body = VaultResponse<TokenLookup>))
)]
async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    _: NotList,
    id: RequestId,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response> {
    caller.authorize_any("auth/token/lookup", &[Capability::Read, Capability::Update])?;
    let record = tokens::by_token(&state.store, &body.token).await?;
    Ok(envelope(id, lookup_body(record, body.token)))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/lookup-accessor",
    tag = "auth/token",
    operation_id = "token_lookup_accessor",
    summary = "Look up a token by accessor",
    description = "Needs `update` on `auth/token/lookup-accessor`. `id` is empty in the answer.",
    request_body = AccessorBody,
    responses((status = 200, description = "The token", body = VaultResponse<TokenLookup>))
)]
async fn lookup_accessor(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(body): JsonBody<AccessorBody>,
) -> Result<Response> {
    caller.authorize("auth/token/lookup-accessor", Capability::Update)?;
    let record = tokens::by_accessor(&state.store, &body.accessor).await?;
    Ok(envelope(id, lookup_body(record, String::new())))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/revoke",
    tag = "auth/token",
    operation_id = "token_revoke",
    summary = "Revoke a token and its children",
    description = "Needs `update` on `auth/token/revoke`.",
    request_body = TokenBody,
    responses((status = 204, description = "Revoked"))
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response> {
    caller.authorize("auth/token/revoke", Capability::Update)?;
    let record = tokens::by_token(&state.store, &body.token).await?;
    tokens::revoke_accessor(&state.store, &state.access.auth_cache, &record.accessor).await?;
    Ok(no_content())
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/revoke-accessor",
    tag = "auth/token",
    operation_id = "token_revoke_accessor",
    summary = "Revoke a token by accessor",
    description = "Needs `update` on `auth/token/revoke-accessor`.",
    request_body = AccessorBody,
    responses((status = 204, description = "Revoked"))
)]
async fn revoke_accessor(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<AccessorBody>,
) -> Result<Response> {
    caller.authorize("auth/token/revoke-accessor", Capability::Update)?;
    tokens::revoke_accessor(&state.store, &state.access.auth_cache, &body.accessor).await?;
    Ok(no_content())
}
