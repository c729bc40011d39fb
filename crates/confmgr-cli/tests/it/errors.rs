//! Exit codes and error lines: every documented code is produced here, each failure is one
//! `error: ` line naming the problem and the fix.

use crate::harness::{code, exec_at, Harness, ROOT};
use crate::snap;

fn closed_port_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn unreachable_server_is_named() {
    let addr = closed_port_addr();
    let config = tempfile::tempdir().unwrap();
    for args in [
        &["status"][..],
        &["kv", "get", "app/db"],
        &["export", "--path", "a"],
    ] {
        let run = exec_at(&addr, config.path(), args, Some("t"), None)
            .await
            .fails_with(code::UNREACHABLE);
        assert!(
            run.stderr
                .contains(&format!("cannot reach the server at {addr}: ")),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("--addr or CONFMGR_ADDR"),
            "{}",
            run.stderr
        );
    }
    // No token at all: permission denied (4), with the ways to give one.
    let run = exec_at(&addr, config.path(), &["policy", "list"], None, None)
        .await
        .fails_with(code::DENIED);
    assert_eq!(
        run.stderr,
        "error: no token: run `confmgr login`, set CONFMGR_TOKEN, or pass --token\n"
    );
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let config = tempfile::tempdir().unwrap();
    for args in [
        &["token", "revoke"][..],
        &["client", "create"],
        &["policy", "write", "x"],
        &["login", "--method", "ldap"],
        &["kv", "rollback", "app/db"],
        &["kv", "destroy", "app/db"],
        &["kv", "delete", "app/db", "--version", "1", "--all-versions"],
        &["import", "f.env"],
        &["export"],
        &["completions", "tcsh"],
        // Found after parsing: a format the command cannot print.
        &["policy", "list", "--format", "env"],
        &["audit", "tail", "--format", "yaml"],
        &["export", "--path", "a", "--format", "table"],
    ] {
        let run = exec_at("http://127.0.0.1:1", config.path(), args, Some("t"), None).await;
        assert_eq!(run.code, code::USAGE, "{args:?}: {}", run.stderr);
    }
}

/// One test per documented exit code, against a live server.
#[tokio::test]
async fn every_exit_code() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/db", "password=s3cret"])
        .await
        .ok();

    // 1: general (bad input found after parsing).
    let general = h
        .root(&["kv", "put", "app/db", "s3cret"])
        .await
        .fails_with(code::GENERAL);
    // 2: usage.
    let usage = h.root(&["kv", "put"]).await;
    assert_eq!(usage.code, code::USAGE, "{}", usage.stderr);
    // 3: not found.
    let not_found = h
        .root(&["kv", "get", "app/none"])
        .await
        .fails_with(code::NOT_FOUND);
    // 4: permission denied (a token the server does not know).
    let denied = h
        .exec(&["kv", "get", "app/db"], Some("cmt.not-a-token"), None)
        .await
        .fails_with(code::DENIED);
    // 5: unreachable.
    let unreachable = exec_at(
        &closed_port_addr(),
        h.config.path(),
        &["kv", "get", "app/db"],
        Some(ROOT),
        None,
    )
    .await
    .fails_with(code::UNREACHABLE);
    // 6: conflict.
    let conflict = h
        .root(&["kv", "put", "app/db", "--cas", "0", "password=other"])
        .await
        .fails_with(code::CONFLICT);

    let lines = [
        general.stderr,
        not_found.stderr,
        denied.stderr,
        conflict.stderr,
    ]
    .concat();
    assert!(!lines.contains("s3cret"), "{lines}");
    snap!(&h, "exit_code_errors", lines);
    assert!(
        unreachable
            .stderr
            .starts_with("error: cannot read secret/app/db: cannot reach"),
        "{}",
        unreachable.stderr
    );
}

#[tokio::test]
async fn help_lists_exit_codes() {
    let config = tempfile::tempdir().unwrap();
    let run = exec_at("http://127.0.0.1:1", config.path(), &["--help"], None, None)
        .await
        .ok();
    let start = run
        .stdout
        .find("Exit codes:")
        .expect("exit codes in --help");
    insta::assert_snapshot!("help_exit_codes", &run.stdout[start..]);
}

#[tokio::test]
async fn completions_for_each_shell() {
    let config = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _confmgr"),
        ("zsh", "#compdef confmgr"),
        ("fish", "complete -c confmgr"),
    ] {
        let run = exec_at(
            "http://127.0.0.1:1",
            config.path(),
            &["completions", shell],
            None,
            None,
        )
        .await
        .ok();
        assert!(run.stdout.contains(marker), "{shell}: no {marker:?}");
        // Subcommands and their flags are in the script.
        for word in [
            "rollback",
            "export",
            "import",
            "input-format",
            "all-versions",
        ] {
            assert!(run.stdout.contains(word), "{shell}: no {word}");
        }
    }
    // bash can load its script.
    let run = exec_at(
        "http://127.0.0.1:1",
        config.path(),
        &["completions", "bash"],
        None,
        None,
    )
    .await;
    // From a file: the script is longer than one command-line argument may be.
    let script = config.path().join("confmgr.bash");
    std::fs::write(&script, &run.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(check.success());
}

/// Exit code 7: a change of unknown outcome that could not be settled.
const OUTCOME_UNKNOWN: i32 = 7;

const UNKNOWN_BODY: &str = r#"{"errors":["outcome unknown: the database connection was lost while committing; read the current version before retrying, or write with cas"]}"#;

/// One request a [`script_server`] saw: method, path with query, body.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

/// A stand-in server on 127.0.0.1:0 answering each request with `answer(method, path, n)`
/// (`n` counts the requests to that method and path, from 0): the status and JSON body.
/// Only what reqwest sends is handled: HTTP/1.1 with Content-Length bodies.
async fn script_server(
    answer: impl Fn(&str, &str, usize) -> (u16, String) + Send + Sync + 'static,
) -> (String, Seen) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Default::default();
    let answer = std::sync::Arc::new(answer);
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (answer, log) = (answer.clone(), log.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut line = String::new();
                    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_owned();
                    let path = parts.next().unwrap_or_default().to_owned();
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        read.read_line(&mut header).await.unwrap();
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    read.read_exact(&mut body).await.unwrap();
                    let n = {
                        let mut log = log.lock().unwrap();
                        let n = log
                            .iter()
                            .filter(|(m, p, _)| *m == method && *p == path)
                            .count();
                        log.push((
                            method.clone(),
                            path.clone(),
                            String::from_utf8_lossy(&body).into_owned(),
                        ));
                        n
                    };
                    let (status, text) = answer(&method, &path, n);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
                        text.len()
                    );
                    write.write_all(response.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (addr, seen)
}

/// A read of `secret/app/db` at `version` holding `password=new`.
fn version_body(version: u64) -> String {
    format!(
        r#"{{"data":{{"data":{{"password":"new"}},"metadata":{{"version":{version},"created_time":"2026-01-01T00:00:00Z","deletion_time":"","destroyed":false}}}}}}"#
    )
}

/// Runs `put` with the root token against the script server at `addr`: it must succeed,
/// reporting version 2. Returns the POST requests the server saw.
async fn put_settles_at_version_2(
    addr: &str,
    config: &std::path::Path,
    put: &[&str],
    seen: &Seen,
) -> Vec<(String, String, String)> {
    let run = exec_at(addr, config, put, Some(ROOT), None).await.ok();
    assert_eq!(run.json()["version"], 2, "{}\n{}", run.stdout, run.stderr);
    let seen = seen.lock().unwrap().clone();
    seen.into_iter().filter(|r| r.0 == "POST").collect()
}

/// The server answers `outcome unknown` (it lost its database while committing). `kv put`
/// settles it: with `--cas 1`, version 2 holding its data means the write was made; no
/// version 2 means it was not, and the same write (same cas) is sent again.
#[tokio::test]
async fn kv_put_settles_an_unknown_outcome() {
    let config = tempfile::tempdir().unwrap();
    let put = ["kv", "put", "app/db", "--cas", "1", "password=new"];

    // Made: one write, then the read of version 2 shows it.
    let (addr, seen) = script_server(|method, path, _| match (method, path) {
        ("POST", "/v1/secret/data/app/db") => (503, UNKNOWN_BODY.into()),
        ("GET", "/v1/secret/data/app/db?version=2") => (200, version_body(2)),
        _ => (404, r#"{"errors":[]}"#.into()),
    })
    .await;
    let posts = put_settles_at_version_2(&addr, config.path(), &put, &seen).await;
    assert_eq!(posts.len(), 1, "{posts:?}");

    // Not made: no version 2, so the write goes again with the same cas, and lands.
    let (addr, seen) = script_server(|method, path, n| match (method, path, n) {
        ("POST", "/v1/secret/data/app/db", 0) => (503, UNKNOWN_BODY.into()),
        ("POST", "/v1/secret/data/app/db", _) => (200, r#"{"data":{"version":2}}"#.into()),
        _ => (404, r#"{"errors":[]}"#.into()),
    })
    .await;
    let posts = put_settles_at_version_2(&addr, config.path(), &put, &seen).await;
    assert_eq!(posts.len(), 2, "{posts:?}");
    for post in posts {
        let body: serde_json::Value = serde_json::from_str(&post.2).unwrap();
        assert_eq!(body["options"]["cas"], 1, "{body}");
    }
}

/// When the outcome cannot be settled (the read fails), `kv put` exits 7 and says so.
#[tokio::test]
async fn an_unsettled_unknown_outcome_exits_7() {
    let config = tempfile::tempdir().unwrap();
    let (addr, _) = script_server(|method, _, _| match method {
        "POST" => (503, UNKNOWN_BODY.into()),
        _ => (500, r#"{"errors":["internal error"]}"#.into()),
    })
    .await;
    let run = exec_at(
        &addr,
        config.path(),
        &["kv", "put", "app/db", "--cas", "1", "password=new"],
        Some(ROOT),
        None,
    )
    .await
    .fails_with(OUTCOME_UNKNOWN);
    assert!(run.stderr.contains("outcome unknown"), "{}", run.stderr);
}
