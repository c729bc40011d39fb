use crate::harness::{exec_at, redact, Harness, APP_READ, ROOT};
use crate::snap;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Under `data/` of mount `secret`: a write, a read, a read of a missing secret, a read with
/// a bad token and another write, in this order.
async fn seed(h: &Harness) {
    h.root(&["kv", "put", "app/config", "db_url=postgres://db/app"])
        .await
        .ok();
    h.root(&["kv", "get", "app/config"]).await.ok();
    h.root(&["kv", "get", "app/missing"]).await.fails();
    h.exec(&["kv", "get", "app/config"], Some("cmt.not-a-token"), None)
        .await
        .fails();
    h.root(&["kv", "put", "billing/config", "key=other"])
        .await
        .ok();
}

fn events(json: &Value) -> &Vec<Value> {
    json.as_array().expect("a JSON array of events")
}

fn field<'a>(events: &'a [Value], key: &str) -> Vec<&'a str> {
    events.iter().map(|e| e[key].as_str().unwrap()).collect()
}

/// JSON lines, each parsed.
fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

#[tokio::test]
async fn query_with_filters() {
    let h = Harness::start().await;
    seed(&h).await;

    let table = h
        .root(&[
            "audit",
            "query",
            "--path-prefix",
            "data/",
            "--format",
            "table",
        ])
        .await
        .ok();
    snap!(&h, "audit_query_table", table.stdout);

    let all = h
        .root(&["audit", "query", "--path-prefix", "data/"])
        .await
        .ok();
    let found = events(&all.json()).clone();
    assert_eq!(
        field(&found, "path"),
        [
            "data/app/config",
            "data/app/config",
            "data/app/missing",
            "data/app/config",
            "data/billing/config"
        ]
    );
    assert_eq!(
        field(&found, "outcome"),
        ["ok", "ok", "not_found", "denied", "ok"]
    );
    // Never a secret value or a token.
    assert!(!all.stdout.contains("postgres://"), "{}", all.stdout);
    assert!(!all.stdout.contains("cmt.not-a-token"), "{}", all.stdout);
    assert_eq!(found[0]["version"], 1);
    assert_eq!(found[0]["status"], 200);
    assert_eq!(
        found[0]["user_agent"],
        concat!("confmgr-cli/", env!("CARGO_PKG_VERSION"))
    );

    let mut denied = h
        .root(&["audit", "query", "--outcome", "denied"])
        .await
        .ok()
        .json();
    assert_eq!(events(&denied).len(), 1);
    for seal in ["seq", "prev_hash", "hash"] {
        denied[0].as_object_mut().unwrap().remove(seal);
    }
    redact(&mut denied, &["event_id", "time", "request_id"]);
    snap!(
        &h,
        "audit_query_denied",
        serde_json::to_string_pretty(&denied).unwrap(),
        (r#"confmgr-cli/[0-9][^"]*"#, "confmgr-cli/[VERSION]")
    );

    let count = |args: Vec<&'static str>| {
        let h = &h;
        async move {
            let mut full = vec!["audit", "query"];
            full.extend(args);
            events(&h.root(&full).await.ok().json()).len()
        }
    };
    assert_eq!(
        count(vec!["--operation", "write", "--path-prefix", "data/"]).await,
        2
    );
    assert_eq!(
        count(vec!["--actor", "root", "--outcome", "not_found"]).await,
        1
    );
    assert_eq!(count(vec!["--path-prefix", "data/billing/"]).await, 1);
    assert_eq!(
        count(vec!["--path-prefix", "data/", "--since", "1h"]).await,
        5
    );
    assert_eq!(
        count(vec!["--path-prefix", "data/", "--until", "1h"]).await,
        0
    );
    assert_eq!(
        count(vec![
            "--path-prefix",
            "data/",
            "--since",
            "2000-01-01T00:00:00Z"
        ])
        .await,
        5
    );
    // --limit stops early; a small page size pages through the same events.
    let limited = h
        .root(&["audit", "query", "--limit", "2"])
        .await
        .ok()
        .json();
    assert_eq!(
        field(events(&limited), "event_id"),
        field(&found[..2], "event_id")
    );
    let paged = h
        .root(&[
            "audit",
            "query",
            "--path-prefix",
            "data/",
            "--page-size",
            "2",
        ])
        .await
        .ok()
        .json();
    assert_eq!(field(events(&paged), "event_id"), field(&found, "event_id"));
    let paged_limited = h
        .root(&[
            "audit",
            "query",
            "--path-prefix",
            "data/",
            "--page-size",
            "2",
            "--limit",
            "3",
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        field(events(&paged_limited), "event_id"),
        field(&found[..3], "event_id")
    );

    // Bad filters: usage errors before any request, or the server's message.
    let usage = h.root(&["audit", "query", "--since", "yesterday"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    let bad = h
        .root(&["audit", "query", "--since", "2026-13-45T99:00:00Z"])
        .await
        .fails();
    assert_eq!(
        bad.stderr,
        "error: since must be an RFC 3339 time such as 2026-01-31T12:00:00Z\n"
    );
}

#[tokio::test]
async fn reading_the_log_needs_a_policy_and_is_audited() {
    let h = Harness::start().await;
    let policy = h.file("app-read.hcl", APP_READ);
    h.root(&["policy", "write", "app-read", policy.to_str().unwrap()])
        .await
        .ok();
    let created = h
        .root(&["client", "create", "app", "--policy", "app-read"])
        .await
        .ok()
        .json();
    h.login(
        created["client_id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    )
    .await
    .ok();
    for args in [&["audit", "query"][..], &["audit", "verify"]] {
        h.anon(args).await.denied();
    }
    let denied = h
        .root(&[
            "audit",
            "query",
            "--outcome",
            "denied",
            "--path-prefix",
            "audit/",
        ])
        .await
        .ok()
        .json();
    assert_eq!(field(events(&denied), "actor_name"), ["approle-app"; 2]);
    assert_eq!(
        field(events(&denied), "path"),
        ["audit/events", "audit/verify"]
    );
    assert_eq!(
        field(events(&denied), "client_id"),
        [created["client_id"].as_str().unwrap(); 2]
    );
}

#[tokio::test]
async fn export_to_a_file() {
    let h = Harness::start().await;
    seed(&h).await;
    let out = h.work.path().join("audit.jsonl");
    let out_arg = out.to_str().unwrap();

    let run = h
        .root(&[
            "audit",
            "export",
            "--out",
            out_arg,
            "--path-prefix",
            "data/",
        ])
        .await
        .ok();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // Not a terminal: one log line at the end.
    snap!(&h, "audit_export_log", run.stderr);
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&out).unwrap();
    let exported = lines(&text);
    assert_eq!(exported.len(), 5);
    assert!(
        text.lines().all(|l| l.starts_with(r#"{"event_id":""#)),
        "{text}"
    );
    let queried = h
        .root(&["audit", "query", "--path-prefix", "data/"])
        .await
        .ok()
        .json();
    assert_eq!(
        field(&exported, "event_id"),
        field(events(&queried), "event_id")
    );

    // An existing file is never overwritten.
    let again = h.root(&["audit", "export", "--out", out_arg]).await.fails();
    assert!(again.stderr.contains("cannot create"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);

    // Everything, a few events per request: one line per event in the log. The export's
    // own requests are events too; the last one is recorded after its answer was read.
    let all = h.work.path().join("all.jsonl");
    h.root(&[
        "audit",
        "export",
        "--out",
        all.to_str().unwrap(),
        "--page-size",
        "3",
    ])
    .await
    .ok();
    let everything = lines(&std::fs::read_to_string(&all).unwrap());
    let log = h.root(&["audit", "query"]).await.ok().json();
    let log = events(&log);
    assert_eq!(everything.len() + 1, log.len());
    assert_eq!(
        field(&everything, "event_id"),
        field(&log[..everything.len()], "event_id")
    );
    let last = &log[everything.len()];
    assert_eq!(
        (last["mount"].as_str(), last["path"].as_str()),
        (Some("sys"), Some("audit/events"))
    );

    // To stdout.
    let stdout = h
        .root(&[
            "audit",
            "export",
            "--path-prefix",
            "data/app/",
            "--outcome",
            "ok",
        ])
        .await
        .ok();
    assert_eq!(lines(&stdout.stdout).len(), 2);
    assert_eq!(stdout.stderr, "exported 2 events\n");
}

#[tokio::test]
async fn exported_events_carry_the_chain() {
    let h = Harness::start().await;
    seed(&h).await;
    // The sealer runs every 250 ms.
    let mut sealed = Vec::new();
    for _ in 0..40 {
        sealed = lines(
            &h.root(&["audit", "export", "--path-prefix", "data/"])
                .await
                .ok()
                .stdout,
        );
        if sealed.iter().all(|e| e.get("hash").is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        sealed.iter().all(|e| e.get("hash").is_some()),
        "not sealed in 10s"
    );
    // seal order is commit order here: consecutive and linked.
    for pair in sealed.windows(2) {
        assert_eq!(
            pair[1]["seq"].as_i64(),
            pair[0]["seq"].as_i64().map(|s| s + 1)
        );
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    assert_eq!(sealed[0]["seq"], 1);
    assert_eq!(sealed[0]["prev_hash"], "0".repeat(64));
}

#[tokio::test]
async fn verify_ok() {
    let h = Harness::start().await;
    seed(&h).await;
    let run = h.root(&["audit", "verify"]).await.ok();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["first_break"], Value::Null);
    assert_eq!(report["checked"], report["last_seq"]);
    let table = h.root(&["audit", "verify", "--format", "table"]).await.ok();
    snap!(
        &h,
        "audit_verify_table",
        table.stdout,
        (r"(?m)^(checked|last_seq)( +)\d+$", "$1$2[N]"),
        (r"(?m)^(last_hash)( +)[0-9a-f]{64}$", "$1$2[HASH]"),
        // `-` until the first seal pass has created the chain key, then 1
        (r"(?m)^(keyed_from)( +)(-|1)$", "$1$2[1 ONCE SEALED]")
    );
}

/// `<dir of the test executable>/../confmgr-server`.
fn server_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("confmgr-server")
}

/// The newest `chain_head` line of an audit file: (seq, hash).
fn newest_head(file: &std::path::Path) -> Option<(i64, String)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["type"] == "chain_head")
        .map(|line| {
            (
                line["seq"].as_i64().unwrap(),
                line["hash"].as_str().unwrap().to_owned(),
            )
        })
        .max_by_key(|(seq, _)| *seq)
}

/// Whoever can write the database deletes the newest sealed events: the chain that is left
/// verifies on its own, and `--expect-head` / `--head-file` report it truncated.
#[tokio::test]
async fn verify_reports_a_truncated_tail_against_the_expected_head() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let audit_file = data.path().join("audit.jsonl");
    let data_dir = data.path().join("dev");
    let server = confmgr_testkit::ServerProcess::start(
        &server_binary(),
        &[
            "--dev",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--dev-root-token",
            ROOT,
        ],
        &[("CONFMGR_AUDIT_FILE", audit_file.to_str().unwrap())],
    )
    .await
    .unwrap();
    let root = |args: &'static [&'static str]| {
        let (addr, config) = (server.url(), config.path().to_owned());
        async move { exec_at(&addr, &config, args, Some(ROOT), None).await }
    };
    for _ in 0..8 {
        root(&["kv", "put", "app/config", "db_url=postgres://db/app"])
            .await
            .ok();
    }
    // The sealer publishes the head to the audit file after each pass (every 250 ms).
    let mut head = None;
    for _ in 0..40 {
        head = newest_head(&audit_file).filter(|(seq, _)| *seq >= 8);
        if head.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (seq, hash) = head.expect("a chain head in the audit file within 10s");
    let file_arg = audit_file.to_str().unwrap().to_owned();
    let expect = format!("{seq}:{hash}");
    let run = exec_at(
        &server.url(),
        config.path(),
        &["audit", "verify", "--head-file", &file_arg],
        Some(ROOT),
        None,
    )
    .await
    .ok();
    assert_eq!(run.json()["expected_head"], "found", "{}", run.stdout);
    // Another hash at that seq: a rewritten chain.
    let wrong = format!("{seq}:{}", "0".repeat(64));
    let run = exec_at(
        &server.url(),
        config.path(),
        &["audit", "verify", "--expect-head", &wrong],
        Some(ROOT),
        None,
    )
    .await
    .fails();
    assert!(
        run.stderr.starts_with(&format!(
            "broken at seq {seq}: the chain holds another hash there"
        )),
        "{}",
        run.stderr
    );
    root(&["audit", "verify", "--expect-head", "12"])
        .await
        .fails_with(crate::harness::code::USAGE);

    // Cut the tail: every event after seq - 5 (and any not sealed yet).
    let url = format!("sqlite://{}", data_dir.join("confmgr.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("delete from audit_events where seq > ? or seq is null")
        .bind(seq - 5)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // On its own, the shorter chain verifies.
    let alone = root(&["audit", "verify"]).await.ok();
    assert_eq!(alone.json()["last_seq"], seq - 5, "{}", alone.stdout);
    for args in [
        ["audit", "verify", "--expect-head", expect.as_str()],
        ["audit", "verify", "--head-file", file_arg.as_str()],
    ] {
        let run = exec_at(&server.url(), config.path(), &args, Some(ROOT), None)
            .await
            .fails();
        let report = run.json();
        assert_eq!(report["ok"], false, "{}", run.stdout);
        assert_eq!(report["first_break"]["kind"], "truncated", "{}", run.stdout);
        assert!(
            run.stderr.starts_with("truncated after seq ")
                && run
                    .stderr
                    .contains("sealed events were deleted from its end"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

type ChildLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

async fn next_event(stdout: &mut ChildLines) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
        .await
        .expect("a line within 10s")
        .unwrap()
        .expect("a line before the end");
    serde_json::from_str(&line).unwrap()
}

#[tokio::test]
async fn tail_latest_then_follow_until_interrupted() {
    let h = Harness::start().await;
    seed(&h).await;
    let latest = h
        .root(&["audit", "tail", "-n", "2", "--path-prefix", "data/"])
        .await
        .ok();
    let latest = lines(&latest.stdout);
    assert_eq!(
        field(&latest, "path"),
        ["data/app/config", "data/billing/config"]
    );
    assert_eq!(field(&latest, "outcome"), ["denied", "ok"]);

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_confmgr"))
        .args(["audit", "tail", "--follow", "-n", "1", "--format", "json"])
        .env_clear()
        .env("CONFMGR_ADDR", h.server.url())
        .env("CONFMGR_CONFIG_DIR", h.config.path())
        .env("CONFMGR_TOKEN", ROOT)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    // The newest event before it started: the previous command's.
    let first = next_event(&mut stdout).await;
    assert_eq!(first["path"], "audit/events");

    h.root(&["kv", "put", "app/new", "k=v"]).await.ok();
    h.root(&["kv", "get", "app/gone"]).await.fails();
    let put = next_event(&mut stdout).await;
    assert_eq!(
        (put["operation"].as_str(), put["path"].as_str()),
        (Some("write"), Some("data/app/new"))
    );
    let missing = next_event(&mut stdout).await;
    assert_eq!(missing["outcome"], "not_found");
    // Several polls later, still nothing of its own.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let pid = child.id().unwrap().to_string();
    let signal = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(signal.success());
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("stops within 5s of Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        stdout.next_line().await.unwrap(),
        None,
        "printed its own polls or more"
    );
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(stderr.is_empty(), "{stderr}");
}

#[tokio::test]
async fn tail_rejects_a_bad_interval() {
    let config = tempfile::tempdir().unwrap();
    for interval in ["0", "soon"] {
        let args = ["audit", "tail", "--follow", "--interval", interval];
        let run = exec_at("http://127.0.0.1:1", config.path(), &args, Some("t"), None).await;
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("--interval"), "{}", run.stderr);
    }
}
