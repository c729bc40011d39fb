//! Reading the audit log: `GET sys/audit/events` (filters, cursor paging) and
//! `POST sys/audit/verify` (the hash chain).

use super::render::{envelope, RequestId};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::DateTime;
use confmgr_core::audit::Outcome;
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

#[derive(Deserialize, Default)]
struct EventsQuery {
    since: Option<String>,
    until: Option<String>,
    actor: Option<String>,
    path_prefix: Option<String>,
    operation: Option<String>,
    outcome: Option<String>,
    cursor: Option<i64>,
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

async fn verify(State(state): State<AppState>, caller: Caller, id: RequestId) -> Result<Response> {
    caller.authorize_any("sys/audit/verify", &[Capability::Read, Capability::Update])?;
    let report =
        crate::audit::verify(&state.store, state.audit.settings().unsealed_max_age_secs).await?;
    Ok(envelope(id, report))
}
