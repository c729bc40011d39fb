//! `confmgr audit tail`: the latest events, then (with `--follow`) new ones until Ctrl-C.
//! Reading the log is itself audited, so a follower hides its own requests.

use super::events::{filter_params, Pager, MAX_PAGE};
use super::render::{text_field, Printer};
use super::Event;
use crate::cli::AuditSelect;
use crate::clock::{now_seconds, rfc3339};
use crate::commands::{usage_error, Ctx};
use crate::http::{Api, ApiError};
use crate::ttl;
use anyhow::Result;
use clap::error::ErrorKind;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

/// A follower re-reads the last, partial page on every poll until it holds this many
/// events, then asks for its exact position (one more request).
const REPOSITION_AT: usize = 100;
/// Event ids remembered to print each event once, and request ids of `tail`'s own requests.
const REMEMBERED: usize = 20_000;
/// `tail` looks this far back (seconds) for the latest events, widening until it has enough.
const WINDOWS: [Option<i64>; 5] = [Some(60), Some(3_600), Some(86_400), Some(30 * 86_400), None];

/// Keys remembered up to a bound, oldest forgotten first.
struct Recent {
    order: VecDeque<String>,
    set: HashSet<String>,
    cap: usize,
}

impl Recent {
    fn new(cap: usize) -> Self {
        Self {
            order: VecDeque::new(),
            set: HashSet::new(),
            cap,
        }
    }

    /// True if `key` was not remembered yet.
    fn insert(&mut self, key: &str) -> bool {
        if self.set.contains(key) {
            return false;
        }
        self.set.insert(key.to_owned());
        self.order.push_back(key.to_owned());
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }
}

/// Where a follower stands, what it printed, and which requests were its own.
struct Follower {
    cursor: i64,
    seen: Recent,
    own: Recent,
}

impl Follower {
    fn new() -> Self {
        Self {
            cursor: 0,
            seen: Recent::new(REMEMBERED),
            own: Recent::new(REMEMBERED),
        }
    }

    fn note_requests(&mut self, pager: &mut Pager<'_>) {
        for id in pager.request_ids.drain(..) {
            if !id.is_empty() {
                self.own.insert(&id);
            }
        }
    }

    fn is_own(&self, event: &Event) -> bool {
        let request_id = text_field(event, "request_id");
        !request_id.is_empty() && self.own.contains(request_id)
    }

    /// True the first time an event (not one of ours) is offered.
    fn is_new(&mut self, event: &Event) -> bool {
        if self.is_own(event) {
            return false;
        }
        match text_field(event, "event_id") {
            "" => true,
            id => self.seen.insert(id),
        }
    }

    /// The latest `lines` events, oldest first. The API pages oldest first, so this looks
    /// back from now in widening windows until it has enough. With `position`, the follower
    /// is left just after the newest matching event.
    async fn latest(
        &mut self,
        api: &Api,
        params: &[(&'static str, String)],
        lines: u64,
        position: bool,
    ) -> Result<Vec<Event>> {
        let wanted = usize::try_from(lines).unwrap_or(usize::MAX);
        let needed = if position { wanted.max(1) } else { wanted };
        if needed == 0 {
            return Ok(Vec::new());
        }
        let now = now_seconds();
        for window in WINDOWS {
            let mut windowed = params.to_vec();
            if let Some(seconds) = window {
                windowed.push(("since", rfc3339(now - seconds)));
            }
            let mut pager = Pager::new(api, &windowed, 0, MAX_PAGE, None);
            let mut last: VecDeque<Event> = VecDeque::new();
            let mut found = 0usize;
            while let Some(page) = pager.next().await? {
                self.note_requests(&mut pager);
                for event in page {
                    if self.is_own(&event) {
                        continue;
                    }
                    found += 1;
                    last.push_back(event);
                    if last.len() > needed {
                        last.pop_front();
                    }
                }
            }
            if found < needed && window.is_some() {
                continue;
            }
            if position {
                let (cursor, _) = pager.position().await?;
                self.note_requests(&mut pager);
                self.cursor = cursor;
            }
            for event in &last {
                self.is_new(event);
            }
            let skip = last.len().saturating_sub(wanted);
            return Ok(last.into_iter().skip(skip).collect());
        }
        Ok(Vec::new())
    }

    /// Events recorded since the last poll, oldest first, each once.
    async fn poll(&mut self, api: &Api, params: &[(&'static str, String)]) -> Result<Vec<Event>> {
        let mut pager = Pager::new(api, params, self.cursor, MAX_PAGE, None);
        let mut fresh = Vec::new();
        while let Some(page) = pager.next().await? {
            self.note_requests(&mut pager);
            fresh.extend(page.into_iter().filter(|event| self.is_new(event)));
        }
        self.cursor = pager.cursor;
        if pager
            .partial
            .is_some_and(|(_, count)| count >= REPOSITION_AT)
        {
            let (cursor, again) = pager.position().await?;
            self.note_requests(&mut pager);
            fresh.extend(again.into_iter().filter(|event| self.is_new(event)));
            self.cursor = cursor;
        }
        Ok(fresh)
    }
}

fn parse_interval(raw: &str) -> Result<Duration> {
    let seconds = ttl::parse_seconds(raw)
        .map_err(|error| usage_error(ErrorKind::InvalidValue, format!("--interval: {error}")))?;
    if seconds == 0 {
        return Err(usage_error(
            ErrorKind::InvalidValue,
            "--interval must be at least 1s",
        ));
    }
    Ok(Duration::from_secs(seconds))
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM; never if neither can be watched.
async fn stop_requested() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// A failed poll worth retrying: the server unreachable or answering 5xx (a restart, or
/// 503 `audit log unavailable`).
fn transient(error: &anyhow::Error) -> bool {
    match error.downcast_ref::<ApiError>() {
        Some(ApiError::Unreachable { .. }) => true,
        Some(other) => other.status().is_some_and(|s| s.is_server_error()),
        None => false,
    }
}

/// Printing stops quietly when stdout is closed (`confmgr audit tail -f | head`).
fn printed(result: std::io::Result<()>) -> Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(anyhow::Error::new(error).context("cannot write to standard output")),
    }
}

pub(super) async fn tail(
    ctx: &Ctx,
    lines: u64,
    follow: bool,
    interval: &str,
    select: &AuditSelect,
) -> Result<()> {
    let interval = parse_interval(interval)?;
    let api = ctx.authed()?;
    let params = filter_params(None, select, 0)?;
    let mut printer = Printer::new(ctx.format);
    let mut follower = Follower::new();
    let stop = stop_requested();
    tokio::pin!(stop);

    let latest = tokio::select! {
        latest = follower.latest(&api, &params, lines, follow) => latest?,
        () = &mut stop => return Ok(()),
    };
    if !printed(printer.print(&latest))? || !follow {
        return Ok(());
    }
    let mut failing = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = &mut stop => return Ok(()),
        }
        let polled = tokio::select! {
            polled = follower.poll(&api, &params) => polled,
            () = &mut stop => return Ok(()),
        };
        match polled {
            Ok(events) => {
                if failing {
                    eprintln!("reading the audit log again");
                    failing = false;
                }
                if !printed(printer.print(&events))? {
                    return Ok(());
                }
            }
            Err(error) if transient(&error) => {
                if !failing {
                    eprintln!(
                        "warning: {error:#}; retrying every {}",
                        ttl::format_seconds(interval.as_secs())
                    );
                    failing = true;
                }
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn event(value: Value) -> Event {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn recent_is_bounded() {
        let mut recent = Recent::new(2);
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        assert!(recent.insert("b"));
        assert!(recent.insert("c"));
        assert!(!recent.contains("a"));
        assert!(recent.contains("b") && recent.contains("c"));
    }

    #[test]
    fn follower_skips_its_own_requests_and_repeats() {
        let mut follower = Follower::new();
        follower.own.insert("mine");
        let own = event(json!({"event_id": "1", "request_id": "mine"}));
        let other = event(json!({"event_id": "2", "request_id": "theirs"}));
        assert!(!follower.is_new(&own));
        assert!(follower.is_new(&other));
        assert!(!follower.is_new(&other));
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_interval("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("soon").is_err());
    }
}
