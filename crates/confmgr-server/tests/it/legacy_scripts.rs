//! scripts/create_secret.sh, fetch_secret.sh and demo_roundtrip.sh against the real binary
//! with CONFMGR_LEGACY_API=token and =open: output, exact bytes and exit codes.

use confmgr_testkit::ServerProcess;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_confmgr-server");
const ROOT_TOKEN: &str = "legacy-scripts-root";

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

/// Runs `script` with `args`, `stdin` piped in, only the `CONFMGR_*` variables given.
async fn run(script: &Path, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut command = tokio::process::Command::new(script);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CONFMGR_")) {
        command.env_remove(key);
    }
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The one line of a failure: on stderr, nothing on stdout.
fn assert_fails(output: &Output, code: i32, needles: &[&str]) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
}

fn secret_id(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let id = stdout.strip_suffix('\n').unwrap();
    let parsed = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(parsed.get_version_num(), 4, "{id}");
    id.to_owned()
}

async fn exercise(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = ServerProcess::start(
        Path::new(BIN),
        &["--dev", "--data-dir", data_dir.to_str().unwrap()],
        &[
            ("CONFMGR_LEGACY_API", mode),
            ("CONFMGR_DEV_ROOT_TOKEN", ROOT_TOKEN),
        ],
    )
    .await
    .unwrap();
    let url = server.url();
    let mut env = vec![("CONFMGR_ADDR", url.as_str())];
    if mode == "token" {
        env.push(("CONFMGR_TOKEN", ROOT_TOKEN));
    }
    let (create, fetch, demo) = (
        scripts().join("create_secret.sh"),
        scripts().join("fetch_secret.sh"),
        scripts().join("demo_roundtrip.sh"),
    );

    // Every byte value, a NUL and no trailing newline: from a file, then from stdin.
    let mut bytes: Vec<u8> = (0..=255).rev().collect();
    bytes.extend_from_slice(b"\n\0tail");
    let file = dir.path().join("secret.bin");
    std::fs::write(&file, &bytes).unwrap();
    let from_file = secret_id(&run(&create, &[file.to_str().unwrap()], &env, b"").await);
    let from_stdin = secret_id(&run(&create, &[], &env, &bytes).await);
    assert_ne!(from_file, from_stdin);
    for id in [&from_file, &from_stdin] {
        let output = run(&fetch, &[id], &env, b"").await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert_eq!(
            output.stdout, bytes,
            "{mode}: the exact bytes, nothing added"
        );
        assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
    }

    let output = run(&demo, &["10000"], &env, b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("round trip ok: 10000 bytes"),
        "{}",
        text(&output.stdout)
    );

    let unknown = uuid::Uuid::new_v4().to_string();
    assert_fails(
        &run(&fetch, &[&unknown], &env, b"").await,
        3,
        &["fetch_secret.sh: HTTP 404", "no secret with this secret_id"],
    );
    assert_fails(
        &run(&fetch, &["not-an-id"], &env, b"").await,
        3,
        &["not a secret_id"],
    );
    assert_fails(&run(&fetch, &[], &env, b"").await, 2, &["usage"]);
    let missing = dir.path().join("missing");
    assert_fails(
        &run(&create, &[missing.to_str().unwrap()], &env, b"").await,
        2,
        &["cannot read"],
    );
    let closed = format!("http://127.0.0.1:{}", confmgr_testkit::free_port().unwrap());
    assert_fails(
        &run(&create, &[], &[("CONFMGR_ADDR", closed.as_str())], b"x").await,
        5,
        &["cannot reach", "connection refused"],
    );

    if mode == "token" {
        let anonymous = [("CONFMGR_ADDR", url.as_str())];
        assert_fails(
            &run(&fetch, &[&from_file], &anonymous, b"").await,
            4,
            &["HTTP 403", "permission denied", "CONFMGR_TOKEN"],
        );
        assert_fails(&run(&create, &[], &anonymous, b"x").await, 4, &["HTTP 403"]);
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn scripts_round_trip_with_a_token() {
    exercise("token").await;
}

#[tokio::test]
async fn scripts_round_trip_on_an_open_server() {
    exercise("open").await;
}

#[tokio::test]
async fn scripts_report_a_disabled_legacy_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        Path::new(BIN),
        &["--dev", "--data-dir", dir.path().to_str().unwrap()],
        &[("CONFMGR_DEV_ROOT_TOKEN", ROOT_TOKEN)],
    )
    .await
    .unwrap();
    let url = server.url();
    let env = [
        ("CONFMGR_ADDR", url.as_str()),
        ("CONFMGR_TOKEN", ROOT_TOKEN),
    ];
    assert_fails(
        &run(&scripts().join("create_secret.sh"), &[], &env, b"x").await,
        3,
        &["HTTP 404", "no handler for route"],
    );
    server.stop().await.unwrap();
}

/// The demo's own check: a fetch that brings back other bytes is reported, not passed.
#[tokio::test]
async fn demo_reports_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("scripts");
    std::fs::create_dir_all(copy.join("lib")).unwrap();
    for name in ["demo_roundtrip.sh", "lib/legacy_api.sh"] {
        std::fs::copy(scripts().join(name), copy.join(name)).unwrap();
    }
    // Stand-ins for the server side: the fetch returns the stored bytes with one flipped.
    let store = dir.path().join("stored");
    let fake = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = copy.join(name);
        std::fs::write(
            &path,
            format!("#!/usr/bin/env bash\nset -euo pipefail\n{body}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    fake(
        "create_secret.sh",
        &format!(
            "cp \"$1\" {0}; echo 1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            store.display()
        ),
    );
    fake(
        "fetch_secret.sh",
        &format!(
            "python3 -c 'import sys; b = bytearray(open(sys.argv[1], \"rb\").read()); b[5] ^= 1; sys.stdout.buffer.write(b)' {0}",
            store.display()
        ),
    );
    let output = run(&copy.join("demo_roundtrip.sh"), &["64"], &[], b"").await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for needle in [
        "MISMATCH for secret_id 1b4e28ba",
        "sent: 64 bytes",
        "got:  64 bytes",
        "first difference: sent got differ: byte 6",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    assert!(output.stdout.is_empty());
}
