//! Response wrapping, as Vault does it: `X-Vault-Wrap-TTL` on a request stores its answer
//! under a single-use wrapping token instead of returning it (the layer below), and
//! `sys/wrapping/{wrap,unwrap,lookup,rewrap}` make, spend, inspect and renew wrappings.
//!
//! What is wrapped: a 200 answer of any `/v1/` route except `sys/health` and the
//! `sys/wrapping/*` routes themselves. A 204 (nothing to wrap) and every error come back as
//! they are, as in Vault. A wrap TTL of 0 means no wrapping.

use super::render::{envelope, RequestId};
use crate::auth::{presented_token, remote_address, Caller};
use crate::error::{Error, Result};
use crate::services::wrapping::{self as service, Wrapped, INVALID_TOKEN};
use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use confmgr_api::{ErrorBody, VaultResponse};
use confmgr_core::audit::AuditEvent;
use confmgr_core::policy::Capability;
use confmgr_core::time::rfc3339;
use confmgr_store::TokenRecord;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const WRAP_TTL_HEADER: &str = "x-vault-wrap-ttl";

/// The most a wrapped answer may weigh (the answers themselves are bounded far lower).
const MAX_WRAPPED_BYTES: usize = 64 * 1024 * 1024;

/// Caller-supplied headers in audit events are cut to this many characters.
const MAX_HEADER_CHARS: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sys/wrapping/wrap", post(wrap).put(wrap))
        .route("/v1/sys/wrapping/unwrap", post(unwrap).put(unwrap))
        .route(
            "/v1/sys/wrapping/lookup",
            post(lookup).put(lookup).get(lookup),
        )
        .route("/v1/sys/wrapping/rewrap", post(rewrap).put(rewrap))
}

/// `{"token": "..."}`: the wrapping token, when it is not the request's token.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TokenBody {
    #[serde(default)]
    pub token: Option<String>,
}

/// What `sys/wrapping/lookup` answers in `data`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WrapLookup {
    pub creation_path: String,
    /// RFC 3339.
    pub creation_time: String,
    /// Seconds.
    pub creation_ttl: i64,
}

/// `X-Vault-Wrap-TTL`: seconds or a duration (`120s`, `5m`, `1h`); `None` without the
/// header or for 0 (no wrapping). Bounded by the server's maximum token TTL.
pub fn wrap_ttl(value: Option<&HeaderValue>, max_seconds: i64) -> Result<Option<i64>> {
    let Some(value) = value else { return Ok(None) };
    let fail =
        |why: String| Error::Invalid(format!("error parsing X-Vault-Wrap-TTL header: {why}"));
    let raw = value
        .to_str()
        .map_err(|_| fail("not valid text".into()))?
        .trim();
    if raw.starts_with('-') {
        return Err(fail("requested wrap ttl cannot be negative".into()));
    }
    let seconds = confmgr_core::duration::parse_seconds(raw).map_err(|e| fail(e.to_string()))?;
    if seconds > max_seconds {
        return Err(fail(format!(
            "requested wrap ttl exceeds the maximum of {max_seconds} seconds"
        )));
    }
    Ok((seconds > 0).then_some(seconds))
}

/// Routes whose 200 answers the layer wraps.
fn wrappable(route: &str) -> bool {
    route.starts_with("/v1/")
        && route != "/v1/sys/health"
        && !route.starts_with("/v1/sys/wrapping/")
}

/// The layer: wraps the answer of a request that carries `X-Vault-Wrap-TTL`.
pub async fn wrap_responses(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    if !wrappable(&route) || !request.headers().contains_key(WRAP_TTL_HEADER) {
        return next.run(request).await;
    }
    let ttl = match wrap_ttl(
        request.headers().get(WRAP_TTL_HEADER),
        state.access.max_token_ttl,
    ) {
        Ok(Some(ttl)) => ttl,
        Ok(None) => return next.run(request).await,
        Err(error) => return error.into_response(),
    };
    let (parts, body) = request.into_parts();
    let creation_path = parts.uri.path().trim_start_matches("/v1/").to_owned();
    let template = audit_template(&parts);
    let presented = presented_token(&parts);
    let response = next.run(Request::from_parts(parts, body)).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    match wrap_answer(&state, response, ttl, &creation_path, template, presented).await {
        Ok(wrapped) => wrapped,
        Err(error) => error.into_response(),
    }
}

async fn wrap_answer(
    state: &AppState,
    response: Response,
    ttl: i64,
    creation_path: &str,
    template: AuditEvent,
    presented: Option<String>,
) -> Result<Response> {
    let bytes = axum::body::to_bytes(response.into_body(), MAX_WRAPPED_BYTES)
        .await
        .map_err(|e| Error::Internal(format!("reading the answer to wrap: {e}")))?;
    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let wrapped_accessor = parsed["auth"]["accessor"].as_str().unwrap_or_default();
    let warnings = parsed["warnings"].clone();
    let template = match presented {
        Some(token) => with_actor(template, actor(state, &token).await.as_ref()),
        None => template,
    };
    let request_id = template.request_id.clone();
    let wrapped = service::wrap(
        state,
        &bytes,
        ttl,
        creation_path,
        wrapped_accessor,
        &template,
    )
    .await?;
    Ok(wrapped_response(&request_id, &wrapped, warnings))
}

/// Vault's answer to a wrapped request: nothing but `wrap_info` (and the warnings).
fn wrapped_response(request_id: &str, wrapped: &Wrapped, warnings: Value) -> Response {
    let mut info = json!({
        "token": wrapped.token.expose(),
        "accessor": wrapped.accessor,
        "ttl": wrapped.ttl,
        "creation_time": rfc3339(wrapped.creation_time),
        "creation_path": wrapped.creation_path,
    });
    if !wrapped.wrapped_accessor.is_empty() {
        info["wrapped_accessor"] = json!(wrapped.wrapped_accessor);
    }
    let mut body = VaultResponse::<Value>::new(request_id.to_owned(), None);
    body.wrap_info = Some(info);
    body.warnings = serde_json::from_value(warnings).ok().flatten();
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The request's part of the audit events a wrapping commits.
fn audit_template(parts: &Parts) -> AuditEvent {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(MAX_HEADER_CHARS)
            .collect::<String>()
    };
    AuditEvent {
        request_id: header("x-request-id"),
        user_agent: header(header::USER_AGENT.as_str()),
        remote_addr: remote_address(parts).to_string(),
        ..AuditEvent::default()
    }
}

fn with_actor(mut event: AuditEvent, token: Option<&TokenRecord>) -> AuditEvent {
    if let Some(token) = token {
        event.actor_name = token.display_name.clone();
        event.actor_accessor = token.accessor.clone();
        event.issuer = token.issuer.clone();
        event.client_id = token.client_id.clone().unwrap_or_default();
    }
    event
}

/// The token that made a wrapped request (it was authenticated by the route already).
async fn actor(state: &AppState, presented: &str) -> Option<TokenRecord> {
    let digest = confmgr_core::token::digest(presented);
    if let Some(cached) = state.access.auth_cache.token(&digest) {
        return Some(TokenRecord::clone(&cached.record));
    }
    let mut reads = state.store.reads().await.ok()?;
    let found = reads.token_by_digest(&digest).await.ok().flatten();
    let _ = reads.commit().await;
    found
}

/// The request body's `token`, if any (an empty body is `{}`).
async fn body_token(state: &AppState, body: axum::body::Body) -> Result<Option<String>> {
    let bytes = axum::body::to_bytes(body, state.limits.max_body_bytes)
        .await
        .map_err(|_| Error::PayloadTooLarge)?;
    let parsed: TokenBody = crate::body::parse(&bytes)?;
    Ok(parsed.token)
}

/// A caller whose policies allow `update` on `path` (the routes that take the wrapping
/// token in the body, or make one).
async fn authorized(state: &AppState, parts: &mut Parts, path: &str) -> Result<Caller> {
    let caller = Caller::from_request_parts(parts, state).await?;
    caller.authorize(path, Capability::Update)?;
    Ok(caller)
}

fn invalid() -> Error {
    Error::Invalid(INVALID_TOKEN.into())
}

#[utoipa::path(
    method(post, put),
    path = "/v1/sys/wrapping/unwrap",
    tag = "sys/wrapping",
    operation_id = "wrapping_unwrap",
    summary = "Unwrap a wrapped response",
    description = "Answers the original response inside the wrapping token and spends the token (single use). The wrapping token is either the request's token (`X-Vault-Token`, no other authentication) or `token` in the body; in the second case the request's token needs `update` on `sys/wrapping/unwrap`. Unknown, spent and expired tokens answer 400 `wrapping token is not valid or does not exist`.",
    request_body = TokenBody,
    responses((status = 200, description = "The original response, as it would have been answered", body = VaultResponse<Object>), (status = 400, description = "Not a live wrapping token", body = ErrorBody), (status = 403, description = "The request's token may not unwrap for others", body = ErrorBody))
)]
async fn unwrap(State(state): State<AppState>, request: Request) -> Result<Response> {
    let (mut parts, body) = request.into_parts();
    let in_body = body_token(&state, body).await?;
    let mut template = audit_template(&parts);
    let (token, own) = match in_body {
        Some(token) => {
            let caller = authorized(&state, &mut parts, "sys/wrapping/unwrap").await?;
            template = with_actor(template, Some(&caller.token));
            (token, false)
        }
        None => (presented_token(&parts).ok_or_else(invalid)?, true),
    };
    if token.is_empty() {
        return Err(invalid());
    }
    let answer = service::unwrap(&state, &token, &template, |accessor| {
        if own {
            // The wrapping token is the caller: the audit event names its accessor.
            crate::audit::scope::note_actor("response-wrapping", accessor, "confmgr", "");
        }
    })
    .await?;
    let mut response = (StatusCode::OK, answer.to_vec()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(
    method(post, put, get),
    path = "/v1/sys/wrapping/lookup",
    tag = "sys/wrapping",
    operation_id = "wrapping_lookup",
    summary = "Look up a wrapping token",
    description = "Creation path, time and TTL of a live wrapping token (in the body, or as the request's token), without spending it. Needs no other authentication, as in Vault. Unknown, spent and expired tokens answer 400.",
    request_body = TokenBody,
    responses((status = 200, description = "What the token wraps", body = VaultResponse<WrapLookup>), (status = 400, description = "Not a live wrapping token", body = ErrorBody))
)]
async fn lookup(State(state): State<AppState>, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let token = match body_token(&state, body).await? {
        Some(token) => token,
        None => presented_token(&parts).ok_or_else(invalid)?,
    };
    let found = service::lookup(&state, &token).await?;
    let id = RequestId(audit_template(&parts).request_id);
    Ok(envelope(
        id,
        WrapLookup {
            creation_path: found.creation_path,
            creation_time: rfc3339(found.creation_time),
            creation_ttl: found.ttl,
        },
    ))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/sys/wrapping/rewrap",
    tag = "sys/wrapping",
    operation_id = "wrapping_rewrap",
    summary = "Move a wrapped response under a new wrapping token",
    description = "Needs `update` on `sys/wrapping/rewrap`. The response of `token` moves under a new wrapping token with the same creation TTL and path; the old token is dead. Answers `wrap_info` only.",
    request_body = TokenBody,
    responses((status = 200, description = "The new wrapping token in `wrap_info`", body = VaultResponse<Object>), (status = 400, description = "Not a live wrapping token", body = ErrorBody), (status = 403, description = "Permission denied", body = ErrorBody))
)]
async fn rewrap(State(state): State<AppState>, request: Request) -> Result<Response> {
    let (mut parts, body) = request.into_parts();
    let in_body = body_token(&state, body).await?;
    let caller = authorized(&state, &mut parts, "sys/wrapping/rewrap").await?;
    let token = in_body.filter(|t| !t.is_empty()).ok_or_else(invalid)?;
    let template = with_actor(audit_template(&parts), Some(&caller.token));
    let wrapped = service::rewrap(&state, &token, &template).await?;
    Ok(wrapped_response(
        &template.request_id,
        &wrapped,
        Value::Null,
    ))
}

#[utoipa::path(
    method(post, put),
    path = "/v1/sys/wrapping/wrap",
    tag = "sys/wrapping",
    operation_id = "wrapping_wrap",
    summary = "Wrap arbitrary data",
    description = "Needs `update` on `sys/wrapping/wrap` and `X-Vault-Wrap-TTL` (400 `endpoint requires response wrapping to be used` without it). The JSON object in the body becomes `data` of the wrapped response.",
    params(("X-Vault-Wrap-TTL" = String, Header, description = "Seconds or a duration such as `120s`")),
    request_body = Object,
    responses((status = 200, description = "The wrapping token in `wrap_info`", body = VaultResponse<Object>), (status = 400, description = "No or a bad wrap TTL, or a body that is not a JSON object", body = ErrorBody), (status = 403, description = "Permission denied", body = ErrorBody))
)]
async fn wrap(State(state): State<AppState>, request: Request) -> Result<Response> {
    let (mut parts, body) = request.into_parts();
    let caller = authorized(&state, &mut parts, "sys/wrapping/wrap").await?;
    let ttl = wrap_ttl(
        parts.headers.get(WRAP_TTL_HEADER),
        state.access.max_token_ttl,
    )?
    .ok_or_else(|| Error::Invalid("endpoint requires response wrapping to be used".into()))?;
    let bytes = axum::body::to_bytes(body, state.limits.max_body_bytes)
        .await
        .map_err(|_| Error::PayloadTooLarge)?;
    let data: serde_json::Map<String, Value> = crate::body::parse(&bytes)?;
    let template = with_actor(audit_template(&parts), Some(&caller.token));
    let stored = VaultResponse::new(template.request_id.clone(), Some(data));
    let stored = serde_json::to_vec(&stored).map_err(|e| Error::Internal(e.to_string()))?;
    let wrapped = service::wrap_data(&state, &stored, ttl, &template).await?;
    Ok(wrapped_response(
        &template.request_id,
        &wrapped,
        Value::Null,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl(raw: &str) -> Result<Option<i64>> {
        wrap_ttl(Some(&HeaderValue::from_str(raw).unwrap()), 7200)
    }

    #[test]
    fn wrap_ttls_as_vault_parses_them() {
        assert_eq!(wrap_ttl(None, 7200).unwrap(), None);
        assert_eq!(ttl("0").unwrap(), None);
        assert_eq!(ttl("0s").unwrap(), None);
        assert_eq!(ttl("120").unwrap(), Some(120));
        assert_eq!(ttl(" 120s ").unwrap(), Some(120));
        assert_eq!(ttl("5m").unwrap(), Some(300));
        assert_eq!(ttl("1h").unwrap(), Some(3600));
        assert_eq!(ttl("7200").unwrap(), Some(7200));
        for (raw, reason) in [
            ("-1", "cannot be negative"),
            ("abc", "invalid duration"),
            ("", "invalid duration"),
            ("7201", "exceeds the maximum of 7200 seconds"),
            ("99999999999999999999", "longer than the maximum"),
        ] {
            let message = ttl(raw).unwrap_err().to_string();
            assert!(
                message.starts_with("error parsing X-Vault-Wrap-TTL header: ")
                    && message.contains(reason),
                "{raw:?}: {message}"
            );
        }
    }

    #[test]
    fn sys_wrapping_health_and_non_vault_routes_are_never_wrapped_by_the_layer() {
        assert!(wrappable("/v1/secret/data/{*path}"));
        assert!(wrappable("/v1/auth/approle/role/{name}/secret-id"));
        for route in [
            "/v1/sys/health",
            "/v1/sys/wrapping/unwrap",
            "/v1/sys/wrapping/wrap",
            "/metrics",
            "/vault/secret/fetch",
            "",
        ] {
            assert!(!wrappable(route), "{route}");
        }
    }
}
