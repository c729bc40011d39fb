//! Vault's token API. Every route is checked against the caller's ACL; the built-in
//! `default` policy grants the `-self` routes to every token created without
//! `no_default_policy`. Token roles are in `token_roles.rs`.

use super::flex::{Flex, NotList};
use super::render::{auth_response, envelope, no_content, RequestId};
use super::schemas::{AuthResponse, Keys};
use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::services::tokens::{self, CreateRequest, Origin};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use confmgr_api::sys::TokenLookup;
use confmgr_api::{ErrorBody, VaultResponse};
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
        .route(
            "/v1/auth/token/create/{role}",
            post(create_with_role).put(create_with_role),
        )
        .route("/v1/auth/token/lookup", post(lookup).get(lookup))
        .route(
            "/v1/auth/token/lookup-accessor",
            post(lookup_accessor).put(lookup_accessor),
        )
        .route("/v1/auth/token/renew", post(renew).put(renew))
        .route(
            "/v1/auth/token/renew-accessor",
            post(renew_accessor).put(renew_accessor),
        )
        .route("/v1/auth/token/revoke", post(revoke).put(revoke))
        .route(
            "/v1/auth/token/revoke-accessor",
            post(revoke_accessor).put(revoke_accessor),
        )
        .route(
            "/v1/auth/token/revoke-orphan",
            post(revoke_orphan).put(revoke_orphan),
        )
        .route("/v1/auth/token/tidy", post(tidy).put(tidy))
        .route("/v1/auth/token/accessors", get(list_accessors))
        .route("/v1/auth/token/accessors/", get(list_accessors))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/tidy",
    tag = "auth/token",
    operation_id = "token_tidy",
    summary = "Tidy the token store",
    description = "Needs `update` and `sudo` on `auth/token/tidy`, as in Vault. Answers 202 with Vault's warning. Vault removes dangling accessor and parent entries here; ConfMgr keeps each token in one row (its children are revoked with it), so there is nothing to remove and a second warning says so.",
    responses((status = 202, description = "Done", body = VaultResponse<Object>))
)]
async fn tidy(caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize("auth/token/tidy", Capability::Update)?;
    caller.authorize("auth/token/tidy", Capability::Sudo)?;
    let mut body = VaultResponse::<serde_json::Value>::new(id.0, None);
    body.warnings = Some(vec![
        "Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.".into(),
        "ConfMgr keeps no separate accessor or parent index that could dangle: nothing to tidy.".into(),
    ]);
    Ok((axum::http::StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/auth/token/accessors",
    tag = "auth/token",
    operation_id = "token_list_accessors",
    summary = "List the accessors of live tokens",
    description = "Needs `list` and `sudo` on `auth/token/accessors/` (root tokens have both), as in Vault. Also served at `/v1/auth/token/accessors/`; Vault's `LIST` method is accepted. 404 when there is no live token.",
    params(("list" = Option<bool>, Query, description = "Accepted (what Vault's `LIST` method sends)")),
    responses((status = 200, description = "The accessors", body = VaultResponse<Keys>))
)]
async fn list_accessors(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
) -> Result<Response> {
    caller.authorize_list("auth/token/accessors/")?;
    if !caller
        .acl
        .capabilities_for_list("auth/token/accessors/")
        .contains(&Capability::Sudo)
    {
        return Err(Error::PermissionDenied);
    }
    Ok(envelope(
        id,
        serde_json::json!({ "keys": tokens::live_accessors(&state.store).await? }),
    ))
}

fn lookup_body(token: TokenRecord, id: String) -> TokenLookup {
    let now = now_micros();
    TokenLookup {
        ttl: tokens::seconds_left(&token, now),
        creation_ttl: token.ttl,
        renewable: token.renewable && token.expires_at.is_some(),
        creation_time: token.created_at / 1_000_000,
        issue_time: rfc3339(token.created_at),
        display_name: token.display_name.clone(),
        entity_id: String::new(),
        expire_time: token.expires_at.map(rfc3339),
        explicit_max_ttl: token.explicit_max_ttl,
        id,
        meta: Some(serde_json::to_value(&token.meta).unwrap_or_default()),
        num_uses: token.num_uses,
        orphan: token.parent_accessor.is_none(),
        path: tokens::creation_path(&token),
        period: (token.period > 0).then_some(token.period),
        role: token.role_name.clone(),
        token_type: "service".into(),
        accessor: token.accessor,
        policies: token.policies,
        issuer: token.issuer,
    }
}

#[utoipa::path(
    method(get, post),
    path = "/v1/auth/token/lookup-self",
    tag = "auth/token",
    operation_id = "token_lookup_self",
    summary = "Look up the calling token",
    description = "Needs `read` or `update` on `auth/token/lookup-self` (the `default` policy grants it). A revoked, expired or unknown token answers 403 `permission denied`.",
    responses((status = 200, description = "The token", body = VaultResponse<TokenLookup>), (status = 403, description = "Not a usable token", body = ErrorBody))
)]
async fn lookup_self(caller: Caller, _: NotList, id: RequestId) -> Result<Response> {
    caller.authorize_any(
        "auth/token/lookup-self",
        &[Capability::Read, Capability::Update],
    )?;
    Ok(envelope(
        id,
        lookup_body(
            std::sync::Arc::unwrap_or_clone(caller.token),
            caller.presented,
        ),
    ))
}

/// `increment`: Vault's duration (seconds or `"1h"`); `token` is accepted and ignored on
/// `renew-self`, as Vault does.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RenewRequest {
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    increment: Flex,
    #[serde(default)]
    token: String,
    #[serde(default)]
    accessor: String,
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/renew-self",
    tag = "auth/token",
    operation_id = "token_renew_self",
    summary = "Renew the calling token",
    description = "Needs `update` on `auth/token/renew-self` (the `default` policy grants it). A periodic token gets its period again; any other gets `increment` (default: its TTL), never past its max TTL. 400 `lease is not renewable` for a token created with `renewable=false`.",
    request_body = RenewRequest,
    responses((status = 200, description = "The token", body = AuthResponse), (status = 400, description = "Not renewable, or past its max TTL", body = ErrorBody))
)]
async fn renew_self(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(request): JsonBody<RenewRequest>,
) -> Result<Response> {
    caller.authorize("auth/token/renew-self", Capability::Update)?;
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
    path = "/v1/auth/token/renew",
    tag = "auth/token",
    operation_id = "token_renew",
    summary = "Renew a token given in the body",
    description = "Needs `update` on `auth/token/renew`. Same rules as `renew-self`. 400 `missing token ID` without `token`, 400 `token not found` for an unknown, revoked or expired one.",
    request_body = RenewRequest,
    responses((status = 200, description = "The token", body = AuthResponse), (status = 400, description = "Missing, unknown or not renewable", body = ErrorBody))
)]
async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(request): JsonBody<RenewRequest>,
) -> Result<Response> {
    caller.authorize("auth/token/renew", Capability::Update)?;
    if request.token.is_empty() {
        return Err(Error::Invalid("missing token ID".into()));
    }
    let record = tokens::find_by_token(&state.store, &request.token)
        .await?
        .ok_or_else(|| Error::Invalid("token not found".into()))?;
    let renewed = tokens::renew(
        &state.store,
        &state.access.auth_cache,
        &record,
        request.increment.seconds("increment")?,
    )
    .await?;
    Ok(auth_response(id, &request.token, &renewed))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/renew-accessor",
    tag = "auth/token",
    operation_id = "token_renew_accessor",
    summary = "Renew a token by accessor",
    description = "Needs `update` on `auth/token/renew-accessor`. Same rules as `renew-self`; `client_token` is empty in the answer.",
    request_body = RenewRequest,
    responses((status = 200, description = "The token", body = AuthResponse), (status = 400, description = "Missing or unknown accessor, or not renewable", body = ErrorBody))
)]
async fn renew_accessor(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(request): JsonBody<RenewRequest>,
) -> Result<Response> {
    caller.authorize("auth/token/renew-accessor", Capability::Update)?;
    if request.accessor.is_empty() {
        return Err(Error::Invalid("missing accessor".into()));
    }
    let record = tokens::by_accessor(&state.store, &request.accessor).await?;
    let renewed = tokens::renew(
        &state.store,
        &state.access.auth_cache,
        &record,
        request.increment.seconds("increment")?,
    )
    .await?;
    Ok(auth_response(id, "", &renewed))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/revoke-self",
    tag = "auth/token",
    operation_id = "token_revoke_self",
    summary = "Revoke the calling token and its children",
    description = "Needs `update` on `auth/token/revoke-self` (the `default` policy grants it).",
    responses((status = 204, description = "Revoked"))
)]
async fn revoke_self(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    caller.authorize("auth/token/revoke-self", Capability::Update)?;
    tokens::revoke_accessor(
        &state.store,
        &state.access.auth_cache,
        &caller.token.accessor,
    )
    .await?;
    Ok(no_content())
}

/// Vault's token create fields; any other is refused (400 naming it), so a misspelt
/// restriction cannot be silently dropped.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TokenCreateRequest)]
struct CreateBody {
    /// A token chosen by the caller (root or sudo only).
    #[serde(default)]
    id: Option<String>,
    /// On `create` and `create-orphan`: create against this token role.
    #[serde(default)]
    role_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::StringList)]
    policies: Flex,
    #[serde(default)]
    meta: Option<BTreeMap<String, String>>,
    #[serde(default)]
    no_parent: Option<bool>,
    #[serde(default)]
    no_default_policy: Option<bool>,
    #[serde(default)]
    renewable: Option<bool>,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    ttl: Flex,
    /// Vault's deprecated name of `ttl`.
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    lease: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    explicit_max_ttl: Flex,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Duration)]
    period: Flex,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = confmgr_api::schema::Count)]
    num_uses: Flex,
    /// `service` (or `default`); batch tokens are refused.
    #[serde(default, rename = "type")]
    token_type: Option<String>,
    /// Identity entities are not supported: refused unless empty.
    #[serde(default)]
    entity_alias: Option<String>,
    /// Vault's output format switch; ignored (the answer is JSON).
    #[serde(default)]
    #[allow(dead_code)]
    format: Option<String>,
}

async fn create_token(
    state: AppState,
    caller: Caller,
    id: RequestId,
    body: CreateBody,
    origin: Origin,
) -> Result<Response> {
    let origin = match (origin, body.role_name.as_deref().filter(|r| !r.is_empty())) {
        (Origin::Role(path_role), Some(named)) if !path_role.eq_ignore_ascii_case(named) => {
            return Err(Error::Invalid(format!(
                "role_name {named:?} does not match the role in the path ({path_role:?})"
            )))
        }
        (Origin::Create | Origin::CreateOrphan, Some(named)) => Origin::Role(named.to_owned()),
        (origin, _) => origin,
    };
    let path = match &origin {
        Origin::Create => "auth/token/create".to_owned(),
        Origin::CreateOrphan => "auth/token/create-orphan".to_owned(),
        Origin::Role(role) => format!("auth/token/create/{role}"),
    };
    caller.authorize_any(&path, &[Capability::Create, Capability::Update])?;
    if body.entity_alias.as_deref().is_some_and(|a| !a.is_empty()) {
        return Err(Error::Invalid(
            "entity_alias: identity entities are not supported by ConfMgr".into(),
        ));
    }
    let ttl = match body.ttl.seconds("ttl")? {
        Some(ttl) => Some(ttl),
        None => body.lease.seconds("lease")?,
    };
    let request = CreateRequest {
        id: body.id,
        policies: body.policies.strings("policies")?,
        meta: body.meta.unwrap_or_default(),
        no_parent: body.no_parent.unwrap_or(false),
        no_default_policy: body.no_default_policy.unwrap_or(false),
        renewable: body.renewable,
        ttl,
        explicit_max_ttl: body.explicit_max_ttl.seconds("explicit_max_ttl")?,
        period: body.period.seconds("period")?,
        display_name: body.display_name,
        num_uses: body.num_uses.count("num_uses")?,
        token_type: body.token_type,
    };
    let sudo = caller.acl.allows(&path, Capability::Sudo);
    let (token, record) = tokens::create(
        &state.store,
        &state.access,
        &caller.token,
        sudo,
        origin,
        request,
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
    description = "Needs `create` or `update` on `auth/token/create`. The child's policies must be a subset of the caller's (root tokens excepted); `default` is added unless `no_default_policy`. It is revoked with its parent unless `no_parent` (root or sudo only). `period` (root or sudo only) makes it periodic; `num_uses` limits its uses; `explicit_max_ttl` caps even renewals of periodic tokens. Unknown fields answer 400 naming them.",
    request_body = CreateBody,
    responses((status = 200, description = "The token", body = AuthResponse), (status = 400, description = "Refused field or setting", body = ErrorBody))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response> {
    create_token(state, caller, id, body, Origin::Create).await
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/create-orphan",
    tag = "auth/token",
    operation_id = "token_create_orphan",
    summary = "Create a token without a parent",
    description = "Needs `create` or `update` on `auth/token/create-orphan`. As `create`, but the token has no parent: revoking its creator leaves it alone.",
    request_body = CreateBody,
    responses((status = 200, description = "The token", body = AuthResponse))
)]
async fn create_orphan(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response> {
    create_token(state, caller, id, body, Origin::CreateOrphan).await
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/create/{role}",
    tag = "auth/token",
    operation_id = "token_create_with_role",
    summary = "Create a token against a token role",
    description = "Needs `create` or `update` on `auth/token/create/<role>`. The role decides: its `allowed_policies` (when set) replace the caller's policies as the bound, `disallowed_policies` are refused, and its `orphan`, `renewable`, `period`, `explicit_max_ttl`, `token_num_uses`, `token_bound_cidrs` and `token_no_default_policy` apply. 400 `unknown role <name>` for a role that does not exist.",
    params(("role" = String, Path, description = "The token role's name")),
    request_body = CreateBody,
    responses((status = 200, description = "The token", body = AuthResponse), (status = 400, description = "Unknown role, or a setting the role refuses", body = ErrorBody))
)]
async fn create_with_role(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Path(role): Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response> {
    create_token(state, caller, id, body, Origin::Role(role)).await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
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
    description = "Needs `read` or `update` on `auth/token/lookup`. Without `token`, the calling token is looked up (as Vault does). An unknown, revoked or expired token answers 403 `bad token`.",
    request_body = TokenBody,
    responses((status = 200, description = "The token", body = VaultResponse<TokenLookup>), (status = 403, description = "`bad token`", body = ErrorBody))
)]
async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    _: NotList,
    id: RequestId,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response> {
    caller.authorize_any("auth/token/lookup", &[Capability::Read, Capability::Update])?;
    if body.token.is_empty() {
        return Ok(envelope(
            id,
            lookup_body(
                std::sync::Arc::unwrap_or_clone(caller.token),
                caller.presented,
            ),
        ));
    }
    let record = tokens::find_by_token(&state.store, &body.token)
        .await?
        .ok_or_else(|| Error::Refused("bad token".into()))?;
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
    description = "Needs `update` on `auth/token/revoke`. An unknown token answers 204 as well (Vault); a missing `token` answers 400 `missing token ID`.",
    request_body = TokenBody,
    responses((status = 204, description = "Revoked (or no such token)"))
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response> {
    caller.authorize("auth/token/revoke", Capability::Update)?;
    if body.token.is_empty() {
        return Err(Error::Invalid("missing token ID".into()));
    }
    if let Some(record) = tokens::find_by_token(&state.store, &body.token).await? {
        tokens::revoke_accessor(&state.store, &state.access.auth_cache, &record.accessor).await?;
    }
    Ok(no_content())
}

#[utoipa::path(
    method(post, put),
    path = "/v1/auth/token/revoke-orphan",
    tag = "auth/token",
    operation_id = "token_revoke_orphan",
    summary = "Revoke a token, leaving its children as orphans",
    description = "Needs `update` and `sudo` on `auth/token/revoke-orphan` (root tokens have both). The token's children keep working and are no longer revoked with it. 400 `token to revoke not found` for an unknown token.",
    request_body = TokenBody,
    responses((status = 204, description = "Revoked"), (status = 400, description = "Missing or unknown token", body = ErrorBody))
)]
async fn revoke_orphan(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response> {
    caller.authorize("auth/token/revoke-orphan", Capability::Update)?;
    caller.authorize("auth/token/revoke-orphan", Capability::Sudo)?;
    if body.token.is_empty() {
        return Err(Error::Invalid("missing token ID".into()));
    }
    let record = tokens::find_by_token(&state.store, &body.token)
        .await?
        .ok_or_else(|| Error::Invalid("token to revoke not found".into()))?;
    tokens::revoke_orphan(&state.store, &state.access.auth_cache, &record.accessor).await?;
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
