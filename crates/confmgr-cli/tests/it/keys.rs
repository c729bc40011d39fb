//! `confmgr keys`: status (table and JSON), rotate, rewrap --follow to the end with progress
//! lines on stderr, and retire (refused for the active term or one still wrapping data keys,
//! done for an emptied old term).

use crate::harness::{code, exec_at, redact, Harness, Run, ROOT};
use crate::snap;
use confmgr_testkit::ServerProcess;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

async fn put_secrets(h: &Harness, count: usize) {
    for i in 0..count {
        h.root(&["kv", "put", &format!("app/s{i}"), &format!("value={i}")])
            .await
            .ok();
    }
}

async fn status(h: &Harness) -> Value {
    h.root(&["keys", "status", "--format", "json"])
        .await
        .ok()
        .json()
}

/// `(term, wrapped_keys)` of every term in a status.
fn terms(status: &Value) -> Vec<(i64, i64)> {
    status["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["term"].as_i64().unwrap(),
                t["wrapped_keys"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn assert_readable(h: &Harness, count: usize) {
    for i in 0..count {
        let got = h
            .root(&["kv", "get", &format!("app/s{i}"), "--format", "json"])
            .await
            .ok()
            .json();
        assert_eq!(got["value"], i.to_string(), "app/s{i}");
    }
}

#[tokio::test]
async fn keys_status_table_and_json() {
    let h = Harness::start().await;
    put_secrets(&h, 3).await;

    let table = h.root(&["keys", "status", "--format", "table"]).await.ok();
    snap!(&h, "keys_status_table", table.stdout);

    let mut json = h
        .root(&["keys", "status", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(terms(&json), [(1, 3)]);
    redact(
        &mut json,
        &["created_time", "requested_time", "finished_time"],
    );
    snap!(
        &h,
        "keys_status_json",
        serde_json::to_string_pretty(&json).unwrap()
    );

    // JSON is the default off a terminal; the status needs a token.
    assert_eq!(
        h.root(&["keys", "status"]).await.ok().json()["active_term"],
        1
    );
    let no_token = h.anon(&["keys", "status"]).await.fails_with(code::DENIED);
    assert!(
        no_token.stderr.contains("no token: run `confmgr login`"),
        "{}",
        no_token.stderr
    );
}

#[tokio::test]
async fn rotate_then_status_shows_term_2() {
    let h = Harness::start().await;
    put_secrets(&h, 3).await;

    let rotated = h.root(&["keys", "rotate", "--format", "json"]).await.ok();
    assert_eq!(rotated.json(), json!({"term": 2}));

    let after = status(&h).await;
    assert_eq!(after["active_term"], 2);
    assert_eq!(terms(&after), [(1, 3), (2, 0)]);
    assert_eq!(after["rewrap"]["pending"], 3);
    assert_eq!(after["rewrap"]["running"], false);

    // New data keys are wrapped by the new term at once; the old ones still decrypt.
    h.root(&["kv", "put", "app/new", "value=n"]).await.ok();
    assert_eq!(terms(&status(&h).await), [(1, 3), (2, 1)]);
    assert_readable(&h, 3).await;

    let table = h.root(&["keys", "status", "--format", "table"]).await.ok();
    snap!(&h, "keys_status_rotated", table.stdout);

    let text = h.root(&["keys", "rotate", "--format", "table"]).await.ok();
    assert!(
        text.stdout.starts_with("term 3 is active: "),
        "{}",
        text.stdout
    );
    assert_eq!(status(&h).await["active_term"], 3);
}

/// `<dir of the test executable>/../confmgr-server`.
fn server_binary() -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("confmgr-server")
}

/// A rewrap small enough to watch: a --dev server moving two data keys per batch with a
/// pause between batches.
struct SlowRewrap {
    server: ServerProcess,
    config: TempDir,
    _data: TempDir,
}

impl SlowRewrap {
    async fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(
            &server_binary(),
            &[
                "--dev",
                "--data-dir",
                data.path().to_str().unwrap(),
                "--dev-root-token",
                ROOT,
            ],
            &[
                ("CONFMGR_REWRAP_BATCH", "2"),
                ("CONFMGR_REWRAP_PAUSE_MS", "300"),
            ],
        )
        .await
        .expect("start confmgr-server");
        Self {
            server,
            config: tempfile::tempdir().unwrap(),
            _data: data,
        }
    }

    async fn root(&self, args: &[&str]) -> Run {
        exec_at(
            &self.server.url(),
            self.config.path(),
            args,
            Some(ROOT),
            None,
        )
        .await
    }
}

/// `rewrap: D/T data keys re-wrapped under term N, P pending` as (D, T, N, P).
fn progress_line(line: &str) -> (i64, i64, i64, i64) {
    let re = regex::Regex::new(
        r"^rewrap: (\d+)/(\d+) data keys re-wrapped under term (\d+), (\d+) pending$",
    )
    .unwrap();
    let caps = re
        .captures(line)
        .unwrap_or_else(|| panic!("not a progress line: {line:?}"));
    let n = |i: usize| caps[i].parse::<i64>().unwrap();
    (n(1), n(2), n(3), n(4))
}

#[tokio::test]
async fn rewrap_follow_finishes_with_progress_lines() {
    let s = SlowRewrap::start().await;
    for i in 0..10 {
        s.root(&["kv", "put", &format!("app/s{i}"), &format!("value={i}")])
            .await
            .ok();
    }
    s.root(&["keys", "rotate"]).await.ok();

    // stderr is a pipe here: progress comes as lines, the result as JSON on stdout.
    let followed = s.root(&["keys", "rewrap", "--follow"]).await.ok();
    let lines: Vec<(i64, i64, i64, i64)> = followed.stderr.lines().map(progress_line).collect();
    assert!(
        lines.len() >= 2,
        "expected progress before the end:\n{}",
        followed.stderr
    );
    assert!(lines[0].3 > 0, "{}", followed.stderr);
    assert_eq!(
        *lines.last().unwrap(),
        (10, 10, 2, 0),
        "{}",
        followed.stderr
    );
    assert!(
        lines.windows(2).all(|w| w[0].0 < w[1].0),
        "each line reports more progress:\n{}",
        followed.stderr
    );
    assert!(lines
        .iter()
        .all(|l| l.1 == 10 && l.2 == 2 && l.0 + l.3 == 10));
    assert_eq!(
        followed.json(),
        json!({
            "finished": true,
            "active_term": 2,
            "rewrapped": 10,
            "pending": 0,
            "retirable_terms": [1],
        })
    );

    let after = s
        .root(&["keys", "status", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(terms(&after), [(1, 0), (2, 10)]);
    assert_eq!(after["rewrap"]["running"], false);
    assert!(after["rewrap"]["finished_time"].is_string(), "{after}");
    for i in 0..10 {
        let got = s
            .root(&["kv", "get", &format!("app/s{i}"), "--format", "json"])
            .await
            .ok()
            .json();
        assert_eq!(got["value"], i.to_string());
    }

    // Nothing left to do: --follow ends at once, without progress lines.
    let again = s.root(&["keys", "rewrap", "--follow"]).await.ok();
    assert_eq!(again.json()["rewrapped"], 0);
    assert_eq!(
        again.stderr,
        "rewrap: 0/0 data keys re-wrapped under term 2, 0 pending\n"
    );
}

#[tokio::test]
async fn retire_refuses_active_busy_and_unknown_terms() {
    let h = Harness::start().await;
    put_secrets(&h, 2).await;

    let active = h
        .root(&["keys", "retire", "1"])
        .await
        .fails_with(code::GENERAL);
    snap!(&h, "keys_retire_active", active.stderr);

    h.root(&["keys", "rotate"]).await.ok();
    let busy = h
        .root(&["keys", "retire", "1"])
        .await
        .fails_with(code::GENERAL);
    snap!(&h, "keys_retire_busy", busy.stderr);

    let unknown = h
        .root(&["keys", "retire", "7"])
        .await
        .fails_with(code::NOT_FOUND);
    snap!(&h, "keys_retire_unknown", unknown.stderr);

    h.root(&["keys", "retire", "0"])
        .await
        .fails_with(code::USAGE);

    // Nothing was removed.
    assert_eq!(terms(&status(&h).await), [(1, 2), (2, 0)]);
    assert_readable(&h, 2).await;
}

#[tokio::test]
async fn retire_emptied_old_term() {
    let h = Harness::start().await;
    put_secrets(&h, 4).await;
    h.root(&["keys", "rotate"]).await.ok();

    // Without --follow the request returns at once and says what is left.
    let requested = h.root(&["keys", "rewrap"]).await.ok().json();
    assert_eq!(requested["requested"], true);
    assert_eq!(requested["active_term"], 2);

    let followed = h
        .root(&["keys", "rewrap", "--follow", "--format", "table"])
        .await
        .ok();
    assert_eq!(
        followed.stdout,
        "rewrap finished: every data key is wrapped by term 2; term 1 wraps nothing now \
         (`confmgr keys retire 1` removes it)\n"
    );
    let table = h.root(&["keys", "status", "--format", "table"]).await.ok();
    assert!(
        table
            .stdout
            .contains("term 1 wraps no data key: `confmgr keys retire 1` removes it"),
        "{}",
        table.stdout
    );

    // The server refuses until every replica has surely loaded term 2 (10 s after the
    // rotation); the refusal says so.
    let started = std::time::Instant::now();
    let retired = loop {
        let run = h.root(&["keys", "retire", "1", "--format", "table"]).await;
        if run.code == 0 {
            break run;
        }
        assert!(
            run.stderr.contains("once every replica has loaded it"),
            "{}",
            run.stderr
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(retired.stdout, "term 1 retired: removed from the keyring\n");

    let after = status(&h).await;
    assert_eq!(terms(&after), [(2, 4)]);
    assert_eq!(after["active_term"], 2);
    assert_readable(&h, 4).await;

    // Gone for good: a second retire finds nothing.
    h.root(&["keys", "retire", "1"])
        .await
        .fails_with(code::NOT_FOUND);
}
