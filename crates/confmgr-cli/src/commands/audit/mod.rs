//! `confmgr audit query|tail|verify|export`: `GET sys/audit/events` (filters, paged oldest
//! first by an opaque cursor) and `POST sys/audit/verify` (the hash chain).
//!
//! Only a full page carries a `next_cursor`; the last page answers `null`. A follower learns
//! where it stands by asking again for exactly as many events as that last page held (a
//! full page). Reading the log is itself audited, so `tail` hides its own requests.

mod events;
mod head;
mod render;
mod tail;

use super::{print_report, Ctx, Reported};
use crate::cli::{AuditCommand, AuditRange, AuditSelect};
use crate::clock::now_seconds;
use crate::files;
use crate::output::{columns, fields, scalar, Report};
use anyhow::{bail, Context, Result};
use events::{filter_params, Pager};
use render::{json_line, row, HEADER};
use serde_json::{json, Map, Value};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;

type Event = Map<String, Value>;

pub async fn run(ctx: &Ctx, command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Query {
            range,
            select,
            limit,
            page_size,
        } => {
            let report = query(ctx, &range, &select, limit, page_size).await?;
            print_report(&report, ctx.format);
            Ok(())
        }
        AuditCommand::Tail {
            lines,
            follow,
            interval,
            select,
        } => tail::tail(ctx, lines, follow, &interval, &select).await,
        AuditCommand::Verify {
            expect_head,
            head_file,
        } => {
            let expected = match (expect_head, head_file) {
                (Some(text), _) => Some(head::parse(&text)?),
                (None, Some(path)) => Some(head::from_file(&path)?),
                (None, None) => None,
            };
            verify(ctx, expected).await
        }
        AuditCommand::Export {
            out,
            range,
            select,
            page_size,
        } => export(ctx, out.as_deref(), &range, &select, page_size).await,
    }
}

async fn query(
    ctx: &Ctx,
    range: &AuditRange,
    select: &AuditSelect,
    limit: Option<u64>,
    page_size: u64,
) -> Result<Report> {
    let params = filter_params(Some(range), select, now_seconds())?;
    let api = ctx.authed()?;
    let mut pager = Pager::new(&api, &params, 0, page_size, limit);
    let mut events = Vec::new();
    while let Some(page) = pager.next().await? {
        events.extend(page);
    }
    let rows: Vec<Vec<String>> = events.iter().map(row).collect();
    let text = columns(&HEADER, &rows);
    let json = Value::Array(events.into_iter().map(Value::Object).collect());
    Ok(Report::new(json, text))
}

async fn verify(ctx: &Ctx, expected: Option<head::Head>) -> Result<()> {
    let path = match &expected {
        Some(head) => format!("sys/audit/verify?expect_head={head}"),
        None => "sys/audit/verify".to_owned(),
    };
    let body = ctx
        .authed()?
        .post(&path, &json!({}))
        .await?
        .unwrap_or(Value::Null);
    let data = &body["data"];
    let ok = data["ok"]
        .as_bool()
        .context("unexpected answer from the server: no data.ok")?;
    if let Some(head) = &expected {
        // A server from before expect_head ignores it: that is no pass.
        if data["expected_head"].is_null() {
            bail!(
                "the server did not compare the chain with the expected head (seq {}): it answers no expected_head; upgrade it",
                head.seq
            );
        }
    }
    let report = Report::new(data.clone(), verify_text(data));
    print_report(&report, ctx.format);
    if ok {
        if let (Some(head), Some("purged")) = (&expected, data["expected_head"].as_str()) {
            eprintln!(
                "note: the expected head (seq {}) is older than the retention checkpoint: its event was purged, so it was not compared",
                head.seq
            );
        }
        return Ok(());
    }
    eprintln!("{}", break_message(data));
    Err(Reported.into())
}

fn verify_text(data: &Value) -> String {
    let first_break = match data["first_break"].as_object() {
        None => "-".to_owned(),
        Some(found) => {
            let mut details: Vec<String> = found
                .iter()
                .filter(|(key, _)| key.as_str() != "kind")
                .map(|(key, value)| format!("{key}={}", scalar(value)))
                .collect();
            details.sort();
            format!(
                "{} ({})",
                scalar(&data["first_break"]["kind"]),
                details.join(", ")
            )
        }
    };
    let mut rows = vec![
        ("ok", scalar(&data["ok"])),
        ("checked", scalar(&data["checked"])),
        ("last_seq", scalar(&data["last_seq"])),
        ("last_hash", scalar(&data["last_hash"])),
        ("keyed_from", scalar(&data["keyed_from"])),
    ];
    if !data["expected_head"].is_null() {
        rows.push(("expected_head", scalar(&data["expected_head"])));
    }
    rows.push(("first_break", first_break));
    fields(&rows)
}

/// One line naming the first broken link.
fn break_message(data: &Value) -> String {
    let found = &data["first_break"];
    let last_seq = scalar(&data["last_seq"]);
    let seq = scalar(&found["seq"]);
    let event_id = scalar(&found["event_id"]);
    match found["kind"].as_str() {
        Some("edited") => format!(
            "broken at seq {seq}: event edited, its hash does not match its content (event_id {event_id})"
        ),
        Some("relinked") => format!(
            "broken at seq {seq}: event not linked to its predecessor, events reordered or replaced (event_id {event_id})"
        ),
        Some("missing") => match (found["expected_seq"].as_i64(), found["found_seq"].as_i64()) {
            (Some(expected), Some(next)) if next == expected + 1 => format!(
                "broken at seq {expected}: event missing (the next event found is seq {next})"
            ),
            (Some(expected), Some(next)) if next > expected => format!(
                "broken at seq {expected}: {} events missing (seq {expected} to {})",
                next - expected,
                next - 1
            ),
            (Some(expected), Some(next)) => format!(
                "broken at seq {expected}: sequence out of order (found seq {next} again)"
            ),
            _ => format!("broken after seq {last_seq}: events missing ({found})"),
        },
        Some("truncated") => {
            let expected = found["expected_seq"].as_i64().unwrap_or_default();
            let last = found["last_seq"].as_i64().unwrap_or_default();
            format!(
                "truncated after seq {last}: the chain ends {} before the expected head at seq {expected}; sealed events were deleted from its end (or the database was restored from an older backup). Compare `confmgr audit export` with the audit file mirrors or the SIEM to see what is missing",
                plural(u64::try_from(expected - last).unwrap_or_default(), "event")
            )
        }
        Some("head_mismatch") => format!(
            "broken at seq {seq}: the chain holds another hash there than the expected head ({} instead of {}); events up to seq {seq} were rewritten or replaced (or the head is from another database). Compare `confmgr audit export` with the audit file mirrors or the SIEM",
            scalar(&found["found_hash"]),
            scalar(&found["expected_hash"])
        ),
        Some("checkpoint") => format!(
            "broken at seq {seq}: the retention checkpoint verification starts from does not match its MAC; it was not written by retention, so the events up to seq {seq} were deleted by someone else. Compare `confmgr audit export` with the audit file mirrors or the SIEM"
        ),
        Some("unsealed") => format!(
            "broken after seq {last_seq}: event left unsealed for {}s (event_id {event_id})",
            scalar(&found["age_seconds"])
        ),
        Some(kind) => format!("broken after seq {last_seq}: {kind} ({found})"),
        None => format!("verification failed after seq {last_seq}"),
    }
}

fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Writes every page as JSON lines; returns how many events were written, and how it ended.
async fn copy_events<W: Write>(
    pager: &mut Pager<'_>,
    sink: &mut W,
    progress: bool,
) -> (u64, Result<()>) {
    let mut count = 0u64;
    loop {
        let page = match pager.next().await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(error) => return (count, Err(error)),
        };
        let mut text = String::new();
        for event in &page {
            text.push_str(&json_line(event));
            text.push('\n');
        }
        if let Err(error) = sink.write_all(text.as_bytes()).and_then(|()| sink.flush()) {
            return (count, Err(error.into()));
        }
        count += page.len() as u64;
        if progress {
            eprint!("\r\x1b[2Kexporting: {}", plural(count, "event"));
        }
    }
    (count, Ok(()))
}

async fn export(
    ctx: &Ctx,
    out: Option<&Path>,
    range: &AuditRange,
    select: &AuditSelect,
    page_size: u64,
) -> Result<()> {
    let params = filter_params(Some(range), select, now_seconds())?;
    let api = ctx.authed()?;
    let mut pager = Pager::new(&api, &params, 0, page_size, None);
    // Progress only where it does not mix with the events themselves.
    let progress =
        std::io::stderr().is_terminal() && (out.is_some() || !std::io::stdout().is_terminal());
    let finish_progress = || {
        if progress {
            eprint!("\r\x1b[2K");
        }
    };
    match out {
        Some(path) => {
            let mut writer = BufWriter::new(files::create_new_private(path)?);
            let (count, copied) = copy_events(&mut pager, &mut writer, progress).await;
            let result = copied.and_then(|()| {
                let file = writer.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                Ok(())
            });
            finish_progress();
            if let Err(error) = result {
                let _ = std::fs::remove_file(path);
                return Err(error.context(format!(
                    "export stopped after {}; removed {}",
                    plural(count, "event"),
                    path.display()
                )));
            }
            eprintln!("exported {} to {}", plural(count, "event"), path.display());
        }
        None => {
            let mut writer = BufWriter::new(std::io::stdout());
            let (count, result) = copy_events(&mut pager, &mut writer, progress).await;
            finish_progress();
            if let Err(error) = result {
                let closed = error
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
                let why = if closed {
                    "standard output was closed".to_owned()
                } else {
                    format!("{error:#}")
                };
                bail!("export stopped after {}: {why}", plural(count, "event"));
            }
            eprintln!("exported {}", plural(count, "event"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_messages() {
        let message = |found: Value| {
            break_message(&json!({"ok": false, "checked": 2, "last_seq": 2, "first_break": found}))
        };
        assert_eq!(
            message(json!({"kind": "edited", "seq": 3, "event_id": "e3"})),
            "broken at seq 3: event edited, its hash does not match its content (event_id e3)"
        );
        assert_eq!(
            message(json!({"kind": "relinked", "seq": 3, "event_id": "e3"})),
            "broken at seq 3: event not linked to its predecessor, events reordered or replaced (event_id e3)"
        );
        assert_eq!(
            message(json!({"kind": "missing", "expected_seq": 3, "found_seq": 4})),
            "broken at seq 3: event missing (the next event found is seq 4)"
        );
        assert_eq!(
            message(json!({"kind": "missing", "expected_seq": 3, "found_seq": 6})),
            "broken at seq 3: 3 events missing (seq 3 to 5)"
        );
        assert_eq!(
            message(json!({"kind": "missing", "expected_seq": 3, "found_seq": 2})),
            "broken at seq 3: sequence out of order (found seq 2 again)"
        );
        assert_eq!(
            message(json!({"kind": "unsealed", "event_id": "e9", "age_seconds": 75})),
            "broken after seq 2: event left unsealed for 75s (event_id e9)"
        );
        assert_eq!(
            message(json!({"kind": "new"})),
            r#"broken after seq 2: new ({"kind":"new"})"#
        );
        assert_eq!(message(Value::Null), "verification failed after seq 2");
        assert!(message(json!({"kind": "checkpoint", "seq": 7})).starts_with(
            "broken at seq 7: the retention checkpoint verification starts from does not match its MAC;"
        ));
        assert!(
            message(json!({"kind": "truncated", "expected_seq": 5, "last_seq": 2})).starts_with(
                "truncated after seq 2: the chain ends 3 events before the expected head at seq 5;"
            )
        );
        assert!(message(json!({"kind": "head_mismatch", "seq": 4, "expected_hash": "aa", "found_hash": "bb"}))
            .starts_with("broken at seq 4: the chain holds another hash there than the expected head (bb instead of aa);"));
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "event"), "1 event");
        assert_eq!(plural(0, "event"), "0 events");
    }

    #[test]
    fn verify_texts() {
        let ok = verify_text(&json!({"ok": true, "checked": 4, "first_break": null,
            "last_seq": 4, "last_hash": "ab", "keyed_from": 1}));
        assert_eq!(
            ok,
            "ok           true\nchecked      4\nlast_seq     4\nlast_hash    ab\nkeyed_from   1\nfirst_break  -\n"
        );
        let expected = verify_text(&json!({"ok": true, "checked": 4, "first_break": null,
            "last_seq": 4, "last_hash": "ab", "keyed_from": null, "expected_head": "found"}));
        assert!(
            expected.contains("keyed_from     -\nexpected_head  found\n"),
            "{expected}"
        );
        let broken = verify_text(&json!({"ok": false, "checked": 2, "last_seq": 2,
            "first_break": {"kind": "edited", "seq": 3, "event_id": "e3"}}));
        assert!(
            broken.ends_with("first_break  edited (event_id=e3, seq=3)\n"),
            "{broken}"
        );
    }
}
