//! `confmgr run`: secrets in the child's environment, signals, exit codes, the fallback copy
//! and `--watch`, with real child processes (`sh`).

use crate::harness::{code, filters, Harness, Run, APP_READ, ROOT};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Far beyond anything these commands need; only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(60);

/// `confmgr ARGS` with the test server, config directory and root token, and PATH (for `sh`);
/// nothing else is inherited.
fn confmgr(h: &Harness, args: &[&str]) -> Command {
    confmgr_at(&h.server.url(), h.config.path(), args)
}

fn confmgr_at(addr: &str, config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confmgr"));
    command
        .args(args)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("CONFMGR_ADDR", addr)
        .env("CONFMGR_CONFIG_DIR", config)
        .env("CONFMGR_TOKEN", ROOT)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn finish(child: Child) -> Run {
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("confmgr run did not finish")
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

async fn output(mut command: Command) -> Run {
    finish(command.spawn().unwrap()).await
}

/// Waits until `path` exists and its contents satisfy `done`.
async fn wait_for_file(path: &Path, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if done(&text) {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never got there: {:?}",
            path.display(),
            std::fs::read_to_string(path)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = i32::try_from(child.id().unwrap()).unwrap();
    kill(Pid::from_raw(pid), signal).unwrap();
}

async fn with_secrets() -> Harness {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/prod", "DB_PASSWORD=prod-pw", "PORT=5432"])
        .await
        .ok();
    h.root(&["kv", "put", "app/shared", "PORT=6543", "REGION=eu"])
        .await
        .ok();
    h
}

const PRINT: &str = r#"printf '%s|%s|%s|%s|%s' "$DB_PASSWORD" "$PORT" "$REGION" "${CONFMGR_TOKEN-unset}" "${VAULT_TOKEN-unset}""#;

#[tokio::test]
async fn secrets_become_variables() {
    let h = with_secrets().await;
    let args = [
        "run",
        "--path",
        "app/prod",
        "--path",
        "app/shared",
        "--",
        "sh",
        "-c",
        PRINT,
    ];
    // Later paths override earlier ones; the token variables are not passed on.
    let mut command = confmgr(&h, &args);
    command.env("VAULT_TOKEN", "other");
    let run = output(command).await.ok();
    assert_eq!(run.stdout, "prod-pw|6543|eu|unset|unset");
    assert_eq!(run.stderr, "");

    // The other order: app/prod's PORT wins.
    let run = output(confmgr(
        &h,
        &[
            "run",
            "--path",
            "app/shared",
            "--path",
            "app/prod",
            "--",
            "sh",
            "-c",
            PRINT,
        ],
    ))
    .await
    .ok();
    assert_eq!(run.stdout, "prod-pw|5432|eu|unset|unset");

    // --pass-token keeps them.
    let mut command = confmgr(
        &h,
        &[
            "run",
            "--pass-token",
            "--path",
            "app/prod",
            "--",
            "sh",
            "-c",
            PRINT,
        ],
    );
    command.env("VAULT_TOKEN", "other");
    let run = output(command).await.ok();
    assert_eq!(run.stdout, format!("prod-pw|5432||{ROOT}|other"));
}

#[tokio::test]
async fn a_clashing_variable() {
    let h = with_secrets().await;
    let print = r#"printf '%s|%s' "$DB_PASSWORD" "$KEEP""#;
    // By default the secret wins over the inherited variable.
    let mut command = confmgr(&h, &["run", "--path", "app/prod", "--", "sh", "-c", print]);
    command.env("DB_PASSWORD", "from-env").env("KEEP", "k");
    assert_eq!(output(command).await.ok().stdout, "prod-pw|k");
    // --no-override keeps the inherited one.
    let mut command = confmgr(
        &h,
        &[
            "run",
            "--no-override",
            "--path",
            "app/prod",
            "--",
            "sh",
            "-c",
            print,
        ],
    );
    command.env("DB_PASSWORD", "from-env").env("KEEP", "k");
    assert_eq!(output(command).await.ok().stdout, "from-env|k");
}

#[tokio::test]
async fn invalid_names_and_missing_secrets() {
    let h = with_secrets().await;
    h.root(&["kv", "put", "app/tls", "tls.crt=PEM-TEXT", "OK=1"])
        .await
        .ok();
    let marker = h.work.path().join("started");
    let touch = format!("touch {}; printf %s \"$OK\"", marker.display());

    // A key that cannot be a variable name stops everything before the command starts.
    let run = output(confmgr(
        &h,
        &["run", "--path", "app/tls", "--", "sh", "-c", &touch],
    ))
    .await;
    let run = run.fails_with(code::GENERAL);
    assert!(!marker.exists());
    assert!(!run.stderr.contains("PEM-TEXT"));
    crate::snap!(&h, "run_invalid_name", run.stderr);

    // --skip-invalid leaves it out with a warning.
    let run = output(confmgr(
        &h,
        &[
            "run",
            "--skip-invalid",
            "--path",
            "app/tls",
            "--",
            "sh",
            "-c",
            &touch,
        ],
    ))
    .await
    .ok();
    assert_eq!(run.stdout, "1");
    crate::snap!(&h, "run_skip_invalid", run.stderr);
    std::fs::remove_file(&marker).unwrap();

    // A missing secret: not found, nothing started.
    let run = output(confmgr(
        &h,
        &["run", "--path", "app/none", "--", "sh", "-c", &touch],
    ))
    .await;
    let run = run.fails_with(code::NOT_FOUND);
    assert!(!marker.exists());
    crate::snap!(&h, "run_missing", run.stderr);

    // A command that does not exist: 127, as a shell says.
    let run = output(confmgr(
        &h,
        &["run", "--path", "app/prod", "--", "/nonexistent/command"],
    ))
    .await;
    assert_eq!(run.code, 127);
    crate::snap!(&h, "run_command_not_found", run.stderr);
}

#[tokio::test]
async fn exit_codes_are_the_commands() {
    let h = with_secrets().await;
    let run = output(confmgr(
        &h,
        &["run", "--path", "app/prod", "--", "sh", "-c", "exit 7"],
    ))
    .await;
    assert_eq!(run.code, 7, "{run:?}");
    // Died by a signal: 128 + its number.
    let run = output(confmgr(
        &h,
        &[
            "run",
            "--path",
            "app/prod",
            "--",
            "sh",
            "-c",
            "kill -KILL $$",
        ],
    ))
    .await;
    assert_eq!(run.code, 128 + 9, "{run:?}");
}

/// A child that writes `ready`, then on SIGNAL writes the signal's name to `got` and exits 42.
fn trapping(h: &Harness, name: &str) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let ready = h.work.path().join(format!("{name}.ready"));
    let got = h.work.path().join(format!("{name}.got"));
    let script = format!(
        "trap 'echo {name} > {got}; exit 42' {name}; echo up > {ready}; \
         while :; do sleep 0.1; done",
        got = got.display(),
        ready = ready.display()
    );
    (script, ready, got)
}

#[tokio::test]
async fn signals_are_forwarded() {
    let h = with_secrets().await;
    for (name, sent) in [
        ("TERM", Signal::SIGTERM),
        ("INT", Signal::SIGINT),
        ("HUP", Signal::SIGHUP),
        ("QUIT", Signal::SIGQUIT),
    ] {
        let (script, ready, got) = trapping(&h, name);
        let child = confmgr(
            &h,
            &["run", "--path", "app/prod", "--", "sh", "-c", &script],
        )
        .spawn()
        .unwrap();
        wait_for_file(&ready, |text| text == "up\n").await;
        // Only confmgr gets the signal; the child hears of it through confmgr.
        signal(&child, sent);
        let run = finish(child).await;
        assert_eq!(run.code, 42, "{name}: {run:?}");
        assert_eq!(std::fs::read_to_string(&got).unwrap(), format!("{name}\n"));
        assert_eq!(run.stderr, "", "{name}");
    }
}

fn flip_ciphertext_bit(file: &Path) {
    let mut envelope: Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut bytes = B64
        .decode(envelope["ciphertext"].as_str().unwrap())
        .unwrap();
    bytes[0] ^= 0x01;
    envelope["ciphertext"] = Value::String(B64.encode(bytes));
    std::fs::write(file, serde_json::to_string_pretty(&envelope).unwrap()).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn fallback_when_the_server_is_down() {
    let h = with_secrets().await;
    let fallback = h.work.path().join("app.fallback");
    let file = fallback.to_str().unwrap();
    let print = r#"printf '%s|%s' "$DB_PASSWORD" "$REGION""#;
    let args = [
        "run",
        "--fallback",
        file,
        "--path",
        "app/prod",
        "--path",
        "app/shared",
        "--",
        "sh",
        "-c",
        print,
    ];
    // With the server up: the fetch is kept, encrypted, next to a new key.
    let run = output(confmgr(&h, &args)).await.ok();
    assert_eq!(run.stdout, "prod-pw|eu");
    assert_eq!(run.stderr, "");
    assert_eq!(mode(&fallback), 0o600);
    let key = h.config.path().join("confmgr").join("fallback.key");
    assert_eq!(mode(&key), 0o600);
    let text = std::fs::read_to_string(&fallback).unwrap();
    assert!(!text.contains("prod-pw"), "{text}");

    // Refused by the server (403 here): the fallback is not used.
    let mut command = confmgr(&h, &args);
    command.env("CONFMGR_TOKEN", "cmt.not-a-token");
    let run = output(command).await;
    let run = run.fails_with(code::DENIED);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("permission denied"), "{}", run.stderr);

    // The server goes away.
    let addr = h.server.url();
    let names = filters(&h);
    let config = h.config.path().to_owned();
    h.server.stop().await.unwrap();
    let snap = |name: &str, text: &str| {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"\(\w+ ago\)", "([AGE] ago)");
        for (pattern, replacement) in &names {
            settings.add_filter(pattern, replacement.as_str());
        }
        settings.bind(|| insta::assert_snapshot!(name, text));
    };

    let run = output(confmgr_at(&addr, &config, &args)).await.ok();
    assert_eq!(run.stdout, "prod-pw|eu");
    assert!(run.stderr.starts_with("warning: "), "{}", run.stderr);
    snap("run_fallback_used", &run.stderr);

    // Other paths than the file holds: refused.
    let run = output(confmgr_at(
        &addr,
        &config,
        &[
            "run",
            "--fallback",
            file,
            "--path",
            "app/prod",
            "--",
            "sh",
            "-c",
            print,
        ],
    ))
    .await;
    let run = run.fails_with(code::GENERAL);
    assert_eq!(run.stdout, "");
    snap("run_fallback_other_paths", &run.stderr);

    // One flipped bit: refused, and the command does not start.
    flip_ciphertext_bit(&fallback);
    let run = output(confmgr_at(&addr, &config, &args)).await;
    let run = run.fails_with(code::GENERAL);
    assert_eq!(run.stdout, "");
    snap("run_fallback_tampered", &run.stderr);

    // Without any fallback file: the connection error.
    let run = output(confmgr_at(
        &addr,
        &config,
        &["run", "--path", "app/prod", "--", "sh", "-c", print],
    ))
    .await;
    let run = run.fails_with(code::UNREACHABLE);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("cannot reach the server"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_raw_byte_flip_is_refused_too() {
    let h = with_secrets().await;
    let fallback = h.work.path().join("f");
    let file = fallback.to_str().unwrap();
    let args = [
        "run",
        "--fallback",
        file,
        "--path",
        "app/prod",
        "--",
        "sh",
        "-c",
        "exit 0",
    ];
    output(confmgr(&h, &args)).await.ok();
    let addr = h.server.url();
    let config = h.config.path().to_owned();
    // Flip one byte inside the base64 ciphertext text itself.
    let mut bytes = std::fs::read(&fallback).unwrap();
    let at = std::str::from_utf8(&bytes)
        .unwrap()
        .find("\"ciphertext\": \"")
        .unwrap()
        + "\"ciphertext\": \"".len()
        + 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&fallback, bytes).unwrap();
    h.server.stop().await.unwrap();
    let marker = config.join("started");
    let touch = format!("touch {}", marker.display());
    let run = output(confmgr_at(
        &addr,
        &config,
        &[
            "run",
            "--fallback",
            file,
            "--path",
            "app/prod",
            "--",
            "sh",
            "-c",
            &touch,
        ],
    ))
    .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(!marker.exists());
    assert!(
        run.stderr.contains("failed authentication"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn watch_restarts_on_a_new_version() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/w", "V=one"]).await.ok();
    let log = h.work.path().join("log");
    // The command ignores SIGTERM, so the restart needs the SIGKILL after the grace period;
    // SIGINT ends it for good.
    let script = format!(
        "trap '' TERM; trap 'exit 3' INT; echo \"$V\" >> {}; while :; do sleep 0.1; done",
        log.display()
    );
    let child = confmgr(
        &h,
        &[
            "run",
            "--watch",
            "--watch-interval",
            "1s",
            "--grace-period",
            "1s",
            "--path",
            "app/w",
            "--",
            "sh",
            "-c",
            &script,
        ],
    )
    .spawn()
    .unwrap();
    wait_for_file(&log, |text| text == "one\n").await;
    h.root(&["kv", "put", "app/w", "V=two"]).await.ok();
    wait_for_file(&log, |text| text == "one\ntwo\n").await;
    signal(&child, Signal::SIGINT);
    let run = finish(child).await;
    assert_eq!(run.code, 3, "{run:?}");
    crate::snap!(&h, "run_watch_restart", run.stderr);
}

#[tokio::test]
async fn watch_without_metadata_access_reads_the_data() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/w", "V=one"]).await.ok();
    // APP_READ grants read on secret/data/app/* but only list on the metadata.
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

    let log = h.work.path().join("log");
    let script = format!(
        "trap 'exit 0' TERM; echo \"$V\" >> {}; while :; do sleep 0.1; done",
        log.display()
    );
    let mut command = confmgr(
        &h,
        &[
            "run",
            "--watch",
            "--watch-interval",
            "1s",
            "--path",
            "app/w",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    // The client's token, from the file `login` wrote.
    command.env_remove("CONFMGR_TOKEN");
    let child = command.spawn().unwrap();
    wait_for_file(&log, |text| text == "one\n").await;
    h.root(&["kv", "put", "app/w", "V=two"]).await.ok();
    wait_for_file(&log, |text| text == "one\ntwo\n").await;
    signal(&child, Signal::SIGTERM);
    let run = finish(child).await;
    assert_eq!(run.code, 0, "{run:?}");
    crate::snap!(&h, "run_watch_data_only", run.stderr);
}
