//! Vault's token API. The `-self` routes need no policy (Vault's `default` policy grants them
//! to every token); the others are checked against the caller's ACL.

use super::flex::Flex;
use super::render::{auth_response, envelope, no_content, RequestId};
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

async fn lookup_self(caller: Caller, id: RequestId) -> Response {
    envelope(id, lookup_body(caller.token, caller.presented))
}

#[derive(Deserialize, Default)]
struct RenewRequest {
    #[serde(default)]
    increment: Flex,
}

async fn renew_self(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(request): JsonBody<RenewRequest>,
) -> Result<Response> {
    let renewed = tokens::renew(
        &state.store,
        &caller.token,
        request.increment.seconds("increment")?,
    )
    .await?;
    Ok(auth_response(id, &caller.presented, &renewed))
}

async fn revoke_self(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    tokens::revoke_accessor(&state.store, &caller.token.accessor).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
struct CreateRequest {
    #[serde(default)]
    policies: Flex,
    #[serde(default)]
    ttl: Flex,
    #[serde(default)]
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

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<Response> {
    create_token(state, caller, id, request, false).await
}

async fn create_orphan(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<Response> {
    create_token(state, caller, id, request, true).await
}

#[derive(Deserialize, Default)]
struct TokenBody {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize, Default)]
struct AccessorBody {
    #[serde(default)]
    accessor: String,
}

async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response> {
    caller.authorize_any("auth/token/lookup", &[Capability::Read, Capability::Update])?;
    let record = tokens::by_token(&state.store, &body.token).await?;
    Ok(envelope(id, lookup_body(record, body.token)))
}

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

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response> {
    caller.authorize("auth/token/revoke", Capability::Update)?;
    let record = tokens::by_token(&state.store, &body.token).await?;
    tokens::revoke_accessor(&state.store, &record.accessor).await?;
    Ok(no_content())
}

async fn revoke_accessor(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<AccessorBody>,
) -> Result<Response> {
    caller.authorize("auth/token/revoke-accessor", Capability::Update)?;
    tokens::revoke_accessor(&state.store, &body.accessor).await?;
    Ok(no_content())
}
