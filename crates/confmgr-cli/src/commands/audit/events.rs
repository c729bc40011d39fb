//! The events API: filters as query parameters, and paging oldest first by an opaque
//! cursor. Only a full page names a `next_cursor`; the last page answers `null`.

use super::Event;
use crate::cli::{AuditRange, AuditSelect};
use crate::clock::rfc3339;
use crate::commands::usage_error;
use crate::http::{segment, Api};
use crate::ttl;
use anyhow::{bail, Context, Result};
use clap::error::ErrorKind;
use serde_json::Value;

/// The most events the server answers per request.
pub(super) const MAX_PAGE: u64 = 1000;

type Params = Vec<(&'static str, String)>;

/// The filters as query parameters; `--since`/`--until` durations resolved against `now`.
pub(super) fn filter_params(
    range: Option<&AuditRange>,
    select: &AuditSelect,
    now: i64,
) -> Result<Params> {
    let mut params = Params::new();
    if let Some(range) = range {
        for (key, value) in [("since", &range.since), ("until", &range.until)] {
            if let Some(value) = value {
                let time = resolve_time(value, now).ok_or_else(|| {
                    usage_error(
                        ErrorKind::InvalidValue,
                        format!(
                            "--{key} {value:?}: use an RFC 3339 time such as \
                             2026-01-31T12:00:00Z, or a duration ago such as 15m, 2h, 7d"
                        ),
                    )
                })?;
                params.push((key, time));
            }
        }
    }
    for (key, value) in [
        ("actor", &select.actor),
        ("path_prefix", &select.path_prefix),
        ("operation", &select.operation),
    ] {
        if let Some(value) = value {
            params.push((key, value.clone()));
        }
    }
    if let Some(outcome) = select.outcome {
        params.push(("outcome", outcome.as_str().to_owned()));
    }
    Ok(params)
}

/// A duration (`15m`, `2d`, `90`) means that long before `now`; what looks like a date and
/// time is passed on as it is (the server checks RFC 3339); anything else is `None`.
fn resolve_time(raw: &str, now: i64) -> Option<String> {
    if let Ok(seconds) = ttl::parse_seconds(raw) {
        let ago = i64::try_from(seconds).unwrap_or(i64::MAX);
        return Some(rfc3339(now.saturating_sub(ago)));
    }
    let text = raw.trim();
    let dated = text.len() >= 20
        && text.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && text.contains(['T', 't']);
    dated.then(|| text.to_owned())
}

fn events_url(params: &[(&str, String)], cursor: i64, limit: u64) -> String {
    let mut url = format!("sys/audit/events?cursor={cursor}&limit={limit}");
    for (key, value) in params {
        url.push_str(&format!("&{key}={}", segment(value)));
    }
    url
}

struct Page {
    events: Vec<Event>,
    next_cursor: Option<i64>,
    /// The request id of this answer: the `request_id` of the event recording the request.
    request_id: String,
}

fn parse_page(body: &Value) -> Result<Page> {
    let data = &body["data"];
    let events = data["events"]
        .as_array()
        .context("unexpected answer from the server: no data.events")?
        .iter()
        .map(|event| {
            event
                .as_object()
                .cloned()
                .context("unexpected answer from the server: an event is not a JSON object")
        })
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = match &data["next_cursor"] {
        Value::Null => None,
        other => Some(
            other
                .as_i64()
                .context("unexpected answer from the server: data.next_cursor is not a number")?,
        ),
    };
    Ok(Page {
        events,
        next_cursor,
        request_id: body["request_id"].as_str().unwrap_or_default().to_owned(),
    })
}

async fn fetch(api: &Api, params: &[(&str, String)], cursor: i64, limit: u64) -> Result<Page> {
    let body = api.get(&events_url(params, cursor, limit)).await?;
    parse_page(&body)
}

/// Walks the pages of one query, oldest first, from a cursor.
pub(super) struct Pager<'a> {
    api: &'a Api,
    params: &'a [(&'static str, String)],
    /// Where the next page starts.
    pub(super) cursor: i64,
    page_size: u64,
    /// Events still wanted (`--limit`), if limited.
    remaining: Option<u64>,
    done: bool,
    /// The last page when it was not full: its cursor and how many events it held.
    pub(super) partial: Option<(i64, usize)>,
    /// Request ids of the requests made so far.
    pub(super) request_ids: Vec<String>,
}

impl<'a> Pager<'a> {
    pub(super) fn new(
        api: &'a Api,
        params: &'a [(&'static str, String)],
        cursor: i64,
        page_size: u64,
        limit: Option<u64>,
    ) -> Self {
        Self {
            api,
            params,
            cursor,
            page_size: page_size.clamp(1, MAX_PAGE),
            remaining: limit,
            done: false,
            partial: None,
            request_ids: Vec::new(),
        }
    }

    /// The next page; `None` once the last page was read (or `--limit` reached).
    pub(super) async fn next(&mut self) -> Result<Option<Vec<Event>>> {
        if self.done || self.remaining == Some(0) {
            return Ok(None);
        }
        let limit = self
            .remaining
            .map_or(self.page_size, |left| left.min(self.page_size));
        let page = fetch(self.api, self.params, self.cursor, limit).await?;
        self.request_ids.push(page.request_id);
        let mut events = page.events;
        events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        if let Some(left) = &mut self.remaining {
            *left = left.saturating_sub(events.len() as u64);
        }
        match page.next_cursor {
            Some(next) if next > self.cursor => {
                self.cursor = next;
                self.partial = None;
            }
            Some(next) => bail!(
                "unexpected answer from the server: cursor {next} does not advance past {}",
                self.cursor
            ),
            None => {
                self.done = true;
                self.partial = (!events.is_empty()).then_some((self.cursor, events.len()));
            }
        }
        Ok(Some(events))
    }

    /// The cursor just after the last event read. When the last page was not full (it names
    /// no cursor) its events are asked for again, exactly as many: a full page names it.
    /// Also returns that second answer's events, which differ from the first only when an
    /// event committed in between (out of order): the caller prints those it has not seen.
    pub(super) async fn position(&mut self) -> Result<(i64, Vec<Event>)> {
        let Some((cursor, count)) = self.partial.take() else {
            return Ok((self.cursor, Vec::new()));
        };
        let page = fetch(self.api, self.params, cursor, count as u64).await?;
        self.request_ids.push(page.request_id);
        let position = page
            .next_cursor
            .filter(|&next| next > cursor)
            .unwrap_or(cursor);
        self.cursor = position;
        Ok((position, page.events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::AuditOutcome;
    use serde_json::json;

    #[test]
    fn params_and_urls() {
        let range = AuditRange {
            since: Some("1h".into()),
            until: Some("2026-01-31T12:00:00Z".into()),
        };
        let select = AuditSelect {
            actor: Some("ci deploy".into()),
            path_prefix: Some("data/app/".into()),
            operation: Some("read".into()),
            outcome: Some(AuditOutcome::NotFound),
        };
        let params = filter_params(Some(&range), &select, 7_200).unwrap();
        assert_eq!(
            events_url(&params, 5, 100),
            "sys/audit/events?cursor=5&limit=100&since=1970-01-01T01%3A00%3A00Z\
             &until=2026-01-31T12%3A00%3A00Z&actor=ci%20deploy&path_prefix=data%2Fapp%2F\
             &operation=read&outcome=not_found"
        );
        // A `+` in an offset must not reach the server as a space.
        let offset = AuditRange {
            since: Some("2026-01-31T12:00:00+02:00".into()),
            until: None,
        };
        let params = filter_params(Some(&offset), &AuditSelect::default(), 0).unwrap();
        assert!(events_url(&params, 0, 1).ends_with("since=2026-01-31T12%3A00%3A00%2B02%3A00"));
        assert!(filter_params(None, &AuditSelect::default(), 0)
            .unwrap()
            .is_empty());
        assert_eq!(resolve_time("90", 100).unwrap(), "1970-01-01T00:00:10Z");
        assert_eq!(
            resolve_time(" 2026-01-31T12:00:00.5+02:00 ", 0).unwrap(),
            "2026-01-31T12:00:00.5+02:00"
        );
        for bad in ["yesterday", "2026-01-31", ""] {
            assert_eq!(resolve_time(bad, 100), None, "{bad}");
        }
    }

    #[test]
    fn pages() {
        let page = parse_page(&json!({
            "request_id": "r1",
            "data": {"events": [{"event_id": "a"}], "next_cursor": 7}
        }))
        .unwrap();
        assert_eq!((page.events.len(), page.next_cursor), (1, Some(7)));
        assert_eq!(page.request_id, "r1");
        let last = parse_page(&json!({"data": {"events": [], "next_cursor": null}})).unwrap();
        assert_eq!(last.next_cursor, None);
        assert!(parse_page(&json!({"data": {}})).is_err());
        assert!(parse_page(&json!({"data": {"events": [1]}})).is_err());
        assert!(parse_page(&json!({"data": {"events": [], "next_cursor": "x"}})).is_err());
    }
}
