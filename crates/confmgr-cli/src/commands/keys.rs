//! `confmgr keys`: the server's keyring (doc/keys.md). `status` shows the terms, how many
//! data keys each wraps and the rewrap's progress; `rotate` adds a term; `rewrap` asks the
//! server to re-wrap every data key under the newest term (`--follow` waits for it with a
//! progress bar, or progress lines on stderr off a terminal); `retire` removes an old term
//! that wraps nothing.

use super::{usage_error, Ctx};
use crate::exit::{self, Kind};
use crate::http::{Api, ApiError};
use crate::output::{columns, fields, Report};
use crate::ttl;
use anyhow::Result;
use clap::error::ErrorKind;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The keyring terms, how many data keys each wraps, the active term and the rewrap's
    /// progress.
    Status,
    /// Add a keyring term: new data keys are wrapped by it at once (on every server within a
    /// second); older terms keep decrypting.
    Rotate,
    /// Re-wrap every stored data key under the newest term, in the background on the server
    /// (resumable, throttled; secret data is not re-encrypted). Old terms can be retired
    /// once they wrap nothing.
    Rewrap {
        /// Wait until no data key is left under an older term, showing the progress (a bar
        /// on a terminal, lines on stderr otherwise).
        #[arg(short, long)]
        follow: bool,
        /// Time between progress checks with --follow (`1s`, `5s`).
        #[arg(
            long,
            default_value = "1s",
            value_name = "DURATION",
            requires = "follow"
        )]
        interval: String,
    },
    /// Remove a keyring term that is not active and wraps no data key any more.
    Retire {
        /// The term number (`confmgr keys status` lists them).
        #[arg(value_name = "TERM", value_parser = clap::value_parser!(u64).range(1..))]
        term: u64,
    },
}

pub async fn run(ctx: &Ctx, command: KeysCommand) -> Result<Report> {
    let api = ctx.authed()?;
    match command {
        KeysCommand::Status => Ok(status_report(&fetch_status(&api).await?)),
        KeysCommand::Rotate => rotate(&api).await,
        KeysCommand::Rewrap { follow, interval } => rewrap(&api, follow, &interval).await,
        KeysCommand::Retire { term } => retire(&api, term).await,
    }
}

/// `GET sys/keys/status`, its `data`.
async fn fetch_status(api: &Api) -> Result<Value> {
    let body = api.get("sys/keys/status").await?;
    let data = body["data"].clone();
    if !data["active_term"].is_i64() || !data["terms"].is_array() {
        return Err(anyhow::anyhow!(
            "unexpected answer from the server to sys/keys/status (no active_term or terms): \
             is it a ConfMgr server of this version? (`confmgr status` shows its version)"
        ));
    }
    Ok(data)
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

/// The newest term in the database, when it is newer than the answering server's active
/// term: that server has not loaded it yet (servers look for new terms every 500 ms), so its
/// `active_term` and `pending` are out of date.
fn unloaded_term(status: &Value) -> Option<i64> {
    let active = int(&status["active_term"]);
    status["terms"]
        .as_array()?
        .iter()
        .map(|t| int(&t["term"]))
        .max()
        .filter(|newest| *newest > active)
}

fn time(value: &Value) -> String {
    value.as_str().unwrap_or("-").to_owned()
}

/// What the rewrap is doing, in words.
fn rewrap_state(status: &Value) -> String {
    let rewrap = &status["rewrap"];
    let active = int(&status["active_term"]);
    let pending = int(&rewrap["pending"]);
    let done = int(&rewrap["done"]);
    if rewrap["running"].as_bool().unwrap_or(false) {
        format!(
            "running since {}: {done} data keys re-wrapped, {pending} to go",
            time(&rewrap["requested_time"])
        )
    } else if pending > 0 {
        format!(
            "not running: {pending} data keys wrapped by older terms \
             (`confmgr keys rewrap` moves them to term {active})"
        )
    } else if rewrap["finished_time"].is_string() {
        format!(
            "finished {}: every data key is wrapped by term {active}",
            time(&rewrap["finished_time"])
        )
    } else {
        format!("not needed: every data key is wrapped by term {active}")
    }
}

fn status_report(status: &Value) -> Report {
    let active = int(&status["active_term"]);
    let terms = status["terms"].as_array().cloned().unwrap_or_default();
    let mut retirable = Vec::new();
    let rows: Vec<Vec<String>> = terms
        .iter()
        .map(|term| {
            let number = int(&term["term"]);
            let wrapped = int(&term["wrapped_keys"]);
            let state = if number == active {
                "active"
            } else if number > active {
                "loading"
            } else if wrapped == 0 {
                retirable.push(number);
                "retirable"
            } else {
                "old"
            };
            vec![
                number.to_string(),
                state.to_owned(),
                time(&term["created_time"]),
                wrapped.to_string(),
            ]
        })
        .collect();
    let mut text = columns(&["TERM", "STATE", "CREATED", "DATA KEYS"], &rows);
    text.push('\n');
    text.push_str(&fields(&[("rewrap", rewrap_state(status))]));
    if let Some(newest) = unloaded_term(status) {
        text.push_str(&format!(
            "term {newest} was added but the server that answered has not loaded it yet \
             (within a second): ask again for an up-to-date status\n"
        ));
    }
    match retirable.as_slice() {
        [] => {}
        [term] => text.push_str(&format!(
            "term {term} wraps no data key: `confmgr keys retire {term}` removes it\n"
        )),
        terms => text.push_str(&format!(
            "terms {} wrap no data key: `confmgr keys retire TERM` removes one\n",
            terms
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    Report::new(status.clone(), text)
}

async fn rotate(api: &Api) -> Result<Report> {
    let body = api.post("sys/keys/rotate", &json!({})).await?;
    let term = body
        .as_ref()
        .and_then(|b| b["data"]["term"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("unexpected answer from the server: no new term"))?;
    Ok(Report::new(
        json!({ "term": term }),
        format!(
            "term {term} is active: new data keys are wrapped by it, older terms still decrypt \
             (`confmgr keys rewrap --follow` moves existing data keys to it)"
        ),
    ))
}

async fn retire(api: &Api, term: u64) -> Result<Report> {
    // A server that has not loaded the newest term yet takes an older one for active and
    // would let the newest, which wraps nothing yet, be retired: refuse that here.
    if let Ok(status) = fetch_status(api).await {
        let newest = status["terms"]
            .as_array()
            .and_then(|terms| terms.iter().map(|t| int(&t["term"])).max());
        if i64::try_from(term).ok() == newest {
            return Err(anyhow::anyhow!(
                "term {term} is the active term (the newest, which new data keys are wrapped \
                 by): rotate first, then rewrap, then retire it"
            ));
        }
    }
    match api.post("sys/keys/retire", &json!({ "term": term })).await {
        Ok(_) => Ok(Report::new(
            json!({ "retired": term }),
            format!("term {term} retired: removed from the keyring"),
        )),
        Err(error) if error.is_not_found() => Err(exit::not_found(format!(
            "keyring term {term} does not exist (`confmgr keys status` lists the terms)"
        ))),
        // The server words "is the active term" and "still wraps N data keys" with the fix.
        Err(error) => Err(error.into()),
    }
}

async fn rewrap(api: &Api, follow: bool, interval: &str) -> Result<Report> {
    let interval = parse_interval(interval)?;
    api.post("sys/keys/rewrap", &json!({})).await?;
    if !follow {
        let hint = "the servers do it in the background (`confmgr keys status` or \
                    `confmgr keys rewrap --follow` shows the progress)";
        // The token may update sys/keys/rewrap without reading sys/keys/status.
        let Ok(status) = fetch_status(api).await else {
            return Ok(Report::new(
                json!({ "requested": true, "active_term": null, "pending": null }),
                format!("rewrap requested: {hint}"),
            ));
        };
        if let Some(newest) = unloaded_term(&status) {
            // Counted against an older term: the count would be wrong.
            return Ok(Report::new(
                json!({ "requested": true, "active_term": newest, "pending": null }),
                format!("rewrap requested: data keys move to term {newest}; {hint}"),
            ));
        }
        let pending = int(&status["rewrap"]["pending"]);
        let active = int(&status["active_term"]);
        return Ok(Report::new(
            json!({ "requested": true, "active_term": active, "pending": pending }),
            format!("rewrap requested: {pending} data keys to move to term {active}; {hint}"),
        ));
    }
    let status = follow_rewrap(api, interval).await?;
    let active = int(&status["active_term"]);
    let done = int(&status["rewrap"]["done"]);
    let mut text = format!("rewrap finished: every data key is wrapped by term {active}");
    let old: Vec<String> = status["terms"]
        .as_array()
        .map(|terms| {
            terms
                .iter()
                .map(|t| int(&t["term"]))
                .filter(|t| *t != active)
                .map(|t| t.to_string())
                .collect()
        })
        .unwrap_or_default();
    match old.as_slice() {
        [] => {}
        [term] => text.push_str(&format!(
            "; term {term} wraps nothing now (`confmgr keys retire {term}` removes it)"
        )),
        terms => text.push_str(&format!(
            "; terms {} wrap nothing now (`confmgr keys retire TERM` removes one)",
            terms.join(", ")
        )),
    }
    Ok(Report::new(
        json!({
            "finished": true,
            "active_term": active,
            "rewrapped": done,
            "pending": 0,
            "retirable_terms": old.iter().filter_map(|t| t.parse::<i64>().ok()).collect::<Vec<_>>(),
        }),
        text,
    ))
}

/// How many times `--follow` asks again when the server reports the rewrap finished while
/// data keys remain under older terms (a server that had not yet seen the newest term ran
/// it, or a write raced it).
const MAX_RESTARTS: u32 = 3;

/// Polls the status until nothing is pending; returns the last status.
async fn follow_rewrap(api: &Api, interval: Duration) -> Result<Value> {
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let stop = stop_requested();
    tokio::pin!(stop);
    let mut restarts = 0;
    let mut failing = false;
    loop {
        let polled = tokio::select! {
            polled = fetch_status(api) => polled,
            () = &mut stop => return Err(progress.interrupted()),
        };
        match polled {
            Ok(status) => {
                if failing {
                    progress.note("reading the rewrap's progress again");
                    failing = false;
                }
                if let Some(newest) = unloaded_term(&status) {
                    // The answer is out of date: ask again once the server has term `newest`.
                    progress.waiting(newest);
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                        () = &mut stop => return Err(progress.interrupted()),
                    }
                    continue;
                }
                let rewrap = &status["rewrap"];
                let pending = int(&rewrap["pending"]);
                let done = int(&rewrap["done"]);
                progress.show(done, pending, int(&status["active_term"]));
                if pending <= 0 {
                    progress.finish();
                    return Ok(status);
                }
                if !rewrap["running"].as_bool().unwrap_or(false) {
                    restarts += 1;
                    if restarts > MAX_RESTARTS {
                        progress.finish();
                        return Err(anyhow::anyhow!(
                            "the server stopped the rewrap with {pending} data keys still under \
                             older terms: run `confmgr keys rewrap --follow` again, and check the \
                             server logs for \"rewrap batch failed\" if it keeps stopping"
                        ));
                    }
                    progress.note(&format!(
                        "the rewrap ended with {pending} data keys still under older terms; \
                         asking again"
                    ));
                    api.post("sys/keys/rewrap", &json!({})).await?;
                }
            }
            Err(error) if transient(&error) => {
                if !failing {
                    progress.note(&format!(
                        "warning: {error:#}; retrying every {} (the rewrap resumes on its own \
                         after a server restart)",
                        ttl::format_seconds(interval.as_secs())
                    ));
                    failing = true;
                }
            }
            Err(error) => {
                progress.finish();
                return Err(error.context(
                    "the rewrap was requested and goes on in the server, but its progress \
                     cannot be read (sys/keys/status)",
                ));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = &mut stop => return Err(progress.interrupted()),
        }
    }
}

/// A bar on a terminal (stderr), drawn from the first answer on; a line per change
/// otherwise.
struct Progress {
    terminal: bool,
    bar: Option<ProgressBar>,
    last: Option<(i64, i64)>,
    waiting_for: Option<i64>,
}

impl Progress {
    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            bar: None,
            last: None,
            waiting_for: None,
        }
    }

    fn show(&mut self, done: i64, pending: i64, active: i64) {
        let done = done.max(0);
        let pending = pending.max(0);
        if self.terminal && self.bar.is_none() && pending > 0 {
            let bar = ProgressBar::new(u64::try_from(done + pending).unwrap_or(0))
                .with_message(format!("rewrap to term {active}"));
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} data keys ({elapsed}, eta {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_length(u64::try_from(done + pending).unwrap_or(0));
            bar.set_position(u64::try_from(done).unwrap_or(0));
            bar.set_message(format!("rewrap to term {active}"));
        } else if !self.terminal && self.last != Some((done, pending)) {
            eprintln!(
                "rewrap: {done}/{} data keys re-wrapped under term {active}, {pending} pending",
                done + pending
            );
        }
        self.last = Some((done, pending));
    }

    /// Once per term: the server that answered has not loaded the newest term yet.
    fn waiting(&mut self, newest: i64) {
        if self.waiting_for != Some(newest) {
            self.waiting_for = Some(newest);
            self.note(&format!(
                "the server has not loaded term {newest} yet; waiting for it"
            ));
        }
    }

    fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("rewrap: {text}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Ctrl-C or SIGTERM: the rewrap goes on in the server; say so and exit non-zero.
    fn interrupted(&self) -> anyhow::Error {
        self.finish();
        let at = self
            .last
            .map(|(done, pending)| format!(" at {done}/{}", done + pending))
            .unwrap_or_default();
        exit::failure(
            Kind::General,
            format!(
                "stopped following the rewrap{at}; it goes on in the server \
                 (`confmgr keys status` shows its progress)"
            ),
        )
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

/// A failed poll worth retrying: the server unreachable or answering 5xx (a restart).
fn transient(error: &anyhow::Error) -> bool {
    match error.downcast_ref::<ApiError>() {
        Some(ApiError::Unreachable { .. }) => true,
        Some(other) => other.status().is_some_and(|s| s.is_server_error()),
        None => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(active: i64, terms: &[(i64, i64)], rewrap: Value) -> Value {
        json!({
            "active_term": active,
            "terms": terms.iter().map(|(t, n)| json!({
                "term": t, "created_time": "2026-01-01T00:00:00Z", "wrapped_keys": n
            })).collect::<Vec<_>>(),
            "rewrap": rewrap,
        })
    }

    #[test]
    fn rewrap_states() {
        let idle = json!({"running": false, "pending": 0, "done": 0,
                          "requested_time": null, "finished_time": null});
        assert_eq!(
            rewrap_state(&status(1, &[(1, 3)], idle)),
            "not needed: every data key is wrapped by term 1"
        );
        let waiting = json!({"running": false, "pending": 3, "done": 0,
                             "requested_time": null, "finished_time": null});
        assert!(rewrap_state(&status(2, &[(1, 3), (2, 0)], waiting))
            .starts_with("not running: 3 data keys wrapped by older terms"));
        let running = json!({"running": true, "pending": 2, "done": 1,
                             "requested_time": "T", "finished_time": null});
        assert_eq!(
            rewrap_state(&status(2, &[(1, 2), (2, 1)], running)),
            "running since T: 1 data keys re-wrapped, 2 to go"
        );
        let finished = json!({"running": false, "pending": 0, "done": 3,
                              "requested_time": null, "finished_time": "F"});
        assert_eq!(
            rewrap_state(&status(2, &[(1, 0), (2, 3)], finished)),
            "finished F: every data key is wrapped by term 2"
        );
    }

    #[test]
    fn table_marks_active_and_retirable() {
        let idle = json!({"running": false, "pending": 4, "done": 0,
                          "requested_time": null, "finished_time": null});
        let text = status_report(&status(3, &[(1, 0), (2, 4), (3, 1)], idle)).text;
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("1     retirable"), "{text}");
        assert!(lines[2].starts_with("2     old"), "{text}");
        assert!(lines[3].starts_with("3     active"), "{text}");
        assert!(text.contains("`confmgr keys retire 1`"), "{text}");
        assert!(!text.contains("retire 2"), "{text}");
    }

    #[test]
    fn a_term_newer_than_the_active_one_is_not_loaded_yet() {
        let idle = json!({"running": false, "pending": 0, "done": 0,
                          "requested_time": null, "finished_time": null});
        let stale = status(1, &[(1, 5), (2, 0)], idle.clone());
        assert_eq!(unloaded_term(&stale), Some(2));
        let text = status_report(&stale).text;
        assert!(
            text.lines().nth(2).unwrap().starts_with("2     loading"),
            "{text}"
        );
        assert!(!text.contains("retire 2"), "{text}");
        assert!(text.contains("has not loaded it yet"), "{text}");
        assert_eq!(unloaded_term(&status(2, &[(1, 5), (2, 0)], idle)), None);
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("fast").is_err());
    }
}
