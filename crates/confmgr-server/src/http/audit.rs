//! Reading the audit log: `GET sys/audit/events` (filters, cursor paging) and
//! `POST sys/audit/verify` (the hash chain).

use super::render::{envelope, RequestId};
use super::schemas::{AuditPage, VerifyReport};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::DateTime;
use confmgr_api::VaultResponse;
use confmgr_core::audit::Outcome;
use confmgr_core::audit_chain::ChainHead;
use confmgr_core::policy::Capability;
use confmgr_store::AuditFilter;
use serde::Deserialize;
use serde_json::{json, Value};

const MAX_PAGE: i64 = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sys/audit/events", get(events))
        .route("/v1/sys/audit/verify", post(verify).get(verify))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Events at or after this RFC 3339 time.
    since: Option<String>,
    /// Events before this RFC 3339 time.
    until: Option<String>,
    /// The actor's name or token accessor.
    actor: Option<String>,
    /// Paths starting with this (`secret/data/app/`).
    path_prefix: Option<String>,
    /// `read`, `create`, `update`, `delete`, `list`, `login`, ...
    operation: Option<String>,
    /// `ok`, `denied`, `not_found`, `invalid` or `error`.
    outcome: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<i64>,
    /// Events per page: 1 to 1,000 (default 100).
    limit: Option<i64>,
}

fn micros(field: &str, raw: &Option<String>) -> Result<Option<i64>> {
    raw.as_deref()
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_micros())
                .map_err(|_| {
                    Error::Invalid(format!(
                        "{field} must be an RFC 3339 time such as 2026-01-31T12:00:00Z"
                    ))
                })
        })
        .transpose()
}

#[utoipa::path(
    get,
    path = "/v1/sys/audit/events",
    tag = "sys/audit",
    operation_id = "audit_events",
    summary = "Read audit events",
    description = "Needs `read` on `sys/audit/events`. Filters combine with AND; pages of up to 1,000 events in id order.",
    params(EventsQuery),
    responses((status = 200, description = "A page of events", body = VaultResponse<AuditPage>))
)]
async fn events(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Query(query): Query<EventsQuery>,
) -> Result<Response> {
    caller.authorize("sys/audit/events", Capability::Read)?;
    if let Some(outcome) = &query.outcome {
        Outcome::parse(outcome).ok_or_else(|| {
            Error::Invalid("outcome must be one of ok, denied, not_found, invalid, error".into())
        })?;
    }
    let filter = AuditFilter {
        since: micros("since", &query.since)?,
        until: micros("until", &query.until)?,
        actor: query.actor,
        path_prefix: query.path_prefix,
        operation: query.operation,
        outcome: query.outcome,
    };
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let mut tx = state.store.begin().await?;
    let page = tx
        .query_audit_events(&filter, query.cursor.unwrap_or(0), limit)
        .await?;
    tx.commit().await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|e| e.id))
        .flatten();
    let events: Vec<Value> = page
        .iter()
        .map(|stored| {
            serde_json::from_str(&stored.event.to_json_line(stored.seal.as_ref()))
                .unwrap_or(Value::Null)
        })
        .collect();
    Ok(envelope(
        id,
        json!({ "events": events, "next_cursor": next_cursor }),
    ))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct VerifyQuery {
    /// `SEQ:HASH`, a chain head noted earlier (a `chain_head` line of `CONFMGR_AUDIT_FILE`,
    /// or `last_seq` and `last_hash` of an earlier report): the chain must reach SEQ and
    /// have HASH there, else the report breaks with `truncated` or `head_mismatch`.
    expect_head: Option<String>,
}

#[utoipa::path(
    method(post, get),
    path = "/v1/sys/audit/verify",
    tag = "sys/audit",
    operation_id = "audit_verify",
    summary = "Verify the audit hash chain",
    description = "Needs `read` or `update` on `sys/audit/verify`. Reports the first break (an edited, missing or reordered event, a chain that ends before or differs at the expected head, or an event left unsealed too long) and the chain head (`last_seq`, `last_hash`).",
    params(VerifyQuery),
    responses((status = 200, description = "The report", body = VaultResponse<VerifyReport>))
)]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    id: RequestId,
    Query(query): Query<VerifyQuery>,
) -> Result<Response> {
    caller.authorize_any("sys/audit/verify", &[Capability::Read, Capability::Update])?;
    let expect = query
        .expect_head
        .as_deref()
        .map(|text| ChainHead::parse(text).map_err(|e| Error::Invalid(format!("expect_head: {e}"))))
        .transpose()?;
    let report = crate::audit::verify(
        &state.store,
        state.audit.chain_keys(),
        state.audit.settings().unsealed_max_age_secs,
        expect,
    )
    .await?;
    Ok(envelope(id, report))
}
