//! How events are printed: JSON lines in the server's canonical key order, or table rows.

use super::Event;
use crate::output::{scalar, Format};
use serde_json::Value;
use std::io::Write;

/// Keys in the order of the server's canonical form and its `CONFMGR_AUDIT_FILE` lines,
/// then the seal; any other key follows.
const KEY_ORDER: [&str; 18] = [
    "event_id",
    "time",
    "request_id",
    "actor_name",
    "actor_accessor",
    "issuer",
    "client_id",
    "remote_addr",
    "user_agent",
    "operation",
    "mount",
    "path",
    "version",
    "outcome",
    "status",
    "seq",
    "prev_hash",
    "hash",
];

pub(super) const HEADER: [&str; 6] = ["TIME", "OUTCOME", "STATUS", "OPERATION", "PATH", "ACTOR"];
/// Streamed rows (tail) keep these widths at least: a microsecond RFC 3339 time, `not_found`.
const MIN_WIDTHS: [usize; 5] = [27, 9, 6, 9, 30];

pub(super) fn text_field<'a>(event: &'a Event, key: &str) -> &'a str {
    event.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// One event as a JSON line in [`KEY_ORDER`] (what the server's `CONFMGR_AUDIT_FILE` holds,
/// plus `seq`, `prev_hash` and `hash` once sealed). No trailing newline.
pub(super) fn json_line(event: &Event) -> String {
    let mut out = String::from("{");
    let mut push = |key: &str, value: &Value| {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&Value::String(key.to_owned()).to_string());
        out.push(':');
        out.push_str(&value.to_string());
    };
    for key in KEY_ORDER {
        if let Some(value) = event.get(key) {
            push(key, value);
        }
    }
    for (key, value) in event {
        if !KEY_ORDER.contains(&key.as_str()) {
            push(key, value);
        }
    }
    out.push('}');
    out
}

/// TIME, OUTCOME, STATUS, OPERATION, PATH (mount/path), ACTOR.
pub(super) fn row(event: &Event) -> Vec<String> {
    let field = |key: &str| scalar(event.get(key).unwrap_or(&Value::Null));
    let (mount, path) = (text_field(event, "mount"), text_field(event, "path"));
    let location = match (mount.is_empty(), path.is_empty()) {
        (false, false) => format!("{mount}/{path}"),
        (false, true) => mount.to_owned(),
        (true, false) => path.to_owned(),
        (true, true) => "-".to_owned(),
    };
    let actor = match (
        text_field(event, "actor_name"),
        text_field(event, "actor_accessor"),
    ) {
        ("", "") => "-".to_owned(),
        ("", accessor) => format!("accessor {accessor}"),
        (name, _) => name.to_owned(),
    };
    vec![
        field("time"),
        field("outcome"),
        field("status"),
        field("operation"),
        location,
        actor,
    ]
}

/// Cells padded to `widths` (the last column is not padded).
fn row_line(widths: &[usize], cells: &[&str]) -> String {
    let mut out = cells
        .iter()
        .enumerate()
        .map(|(i, cell)| format!("{cell:<w$}", w = widths.get(i).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join("  ");
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// Streams events to stdout as they come: JSON lines, or table rows under one header whose
/// widths are fixed by the first batch.
pub(super) struct Printer {
    format: Format,
    widths: Option<Vec<usize>>,
}

impl Printer {
    pub(super) fn new(format: Format) -> Self {
        Self {
            format,
            widths: None,
        }
    }

    pub(super) fn print(&mut self, events: &[Event]) -> std::io::Result<()> {
        let mut text = String::new();
        match self.format {
            // YAML and env are refused before streaming starts (`commands::formats`).
            Format::Json | Format::Yaml | Format::Env => {
                for event in events {
                    text.push_str(&json_line(event));
                    text.push('\n');
                }
            }
            Format::Table => {
                let rows: Vec<Vec<String>> = events.iter().map(row).collect();
                if self.widths.is_none() {
                    let mut widths = MIN_WIDTHS.to_vec();
                    for row in &rows {
                        for (width, cell) in widths.iter_mut().zip(row) {
                            *width = (*width).max(cell.len());
                        }
                    }
                    text.push_str(&row_line(&widths, &HEADER));
                    self.widths = Some(widths);
                }
                let widths = self.widths.as_deref().unwrap_or_default();
                for row in &rows {
                    let cells: Vec<&str> = row.iter().map(String::as_str).collect();
                    text.push_str(&row_line(widths, &cells));
                }
            }
        }
        let mut stdout = std::io::stdout();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> Event {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn json_lines_keep_the_canonical_order() {
        let line = json_line(&event(json!({
            "hash": "h", "seq": 3, "status": 200, "outcome": "ok", "version": null,
            "path": "data/app/db", "mount": "secret", "operation": "read",
            "user_agent": "ua \"x\"", "remote_addr": "127.0.0.1", "client_id": "",
            "issuer": "confmgr", "actor_accessor": "acc", "actor_name": "root",
            "request_id": "r", "time": "2026-01-31T12:00:00.000000Z", "event_id": "e",
            "prev_hash": "p", "extra": 1
        })));
        assert_eq!(
            line,
            r#"{"event_id":"e","time":"2026-01-31T12:00:00.000000Z","request_id":"r","actor_name":"root","actor_accessor":"acc","issuer":"confmgr","client_id":"","remote_addr":"127.0.0.1","user_agent":"ua \"x\"","operation":"read","mount":"secret","path":"data/app/db","version":null,"outcome":"ok","status":200,"seq":3,"prev_hash":"p","hash":"h","extra":1}"#
        );
        assert_eq!(json_line(&Event::new()), "{}");
    }

    #[test]
    fn rows() {
        let full = event(json!({
            "time": "t", "outcome": "denied", "status": 403, "operation": "read",
            "mount": "secret", "path": "data/app/db", "actor_name": "", "actor_accessor": ""
        }));
        assert_eq!(
            row(&full),
            ["t", "denied", "403", "read", "secret/data/app/db", "-"]
        );
        let by_accessor = event(json!({"mount": "sys", "path": "", "actor_accessor": "acc"}));
        assert_eq!(row(&by_accessor)[4], "sys");
        assert_eq!(row(&by_accessor)[5], "accessor acc");
        assert_eq!(row_line(&[3, 2], &["a", "b", "c"]), "a    b   c\n");
    }
}
