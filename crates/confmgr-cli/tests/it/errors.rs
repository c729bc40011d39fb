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
