//! `confmgr export` and `confmgr import` against a real server.

use crate::harness::{code, Harness, ROOT};
use crate::snap;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

async fn data(h: &Harness, path: &str) -> Value {
    h.root(&["kv", "get", path, "--format", "json"])
        .await
        .ok()
        .json()
}

async fn version(h: &Harness, path: &str) -> Value {
    h.root(&["kv", "metadata", path, "--format", "json"])
        .await
        .ok()
        .json()["current_version"]
        .clone()
}

/// Values that trip naive quoting.
fn tricky() -> Value {
    json!({
        "PLAIN": "value",
        "EMPTY": "",
        "SPACES": "  leading and trailing  ",
        "SINGLE": "it's",
        "DOUBLE": "say \"hi\"",
        "BOTH": "it's \"both\"",
        "HASH": "a # not a comment",
        "HASH_START": "#start",
        "EQUALS": "a=b==c",
        "NEWLINES": "line one\nline two\n",
        "CRLF": "dos\r\nline\r\n",
        "TAB": "a\tb",
        "BACKSLASH": "C:\\path\\n\\",
        "DOLLAR": "$HOME ${USER} $(id) `id`",
        "UNICODE": "héllo wörld 日本語 🔑",
        "PEM": "-----BEGIN KEY-----\nMIIB+/=\n-----END KEY-----\n",
        "EXPORT_LIKE": "export X=1",
    })
}

#[tokio::test]
async fn export_merges_paths_in_each_format() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/shared", "A=shared", "B=shared"])
        .await
        .ok();
    h.root(&["kv", "put", "app/prod", "B=prod", "C=with space"])
        .await
        .ok();
    let mut out = String::new();
    for format in ["dotenv", "env", "json", "yaml"] {
        let run = h
            .root(&[
                "export",
                "--path",
                "app/shared",
                "--path",
                "app/prod",
                "--format",
                format,
            ])
            .await
            .ok();
        out.push_str(&format!("--- {format}\n{}", run.stdout));
    }
    snap!(&h, "export_formats", out);
    // Without --format: dotenv, even when stdout is not a terminal.
    let plain = h
        .root(&["export", "--path", "app/shared", "--path", "app/prod"])
        .await
        .ok();
    assert_eq!(plain.stdout, "A=shared\nB=prod\nC='with space'\n");

    let table = h
        .root(&["export", "--path", "app/prod", "--format", "table"])
        .await
        .fails_with(code::USAGE);
    assert!(
        table.stderr.starts_with(
            "error: --format table does not apply to `confmgr export`; use env (dotenv), json, yaml"
        ),
        "{}",
        table.stderr
    );
    let missing = h
        .root(&["export", "--path", "app/prod", "--path", "app/none"])
        .await
        .fails_with(code::NOT_FOUND);
    assert!(missing.stdout.is_empty());
    snap!(&h, "export_missing", missing.stderr);

    // --out: a new owner-only file, replaced only with --force.
    let out = h.work.path().join(".env");
    let out_arg = out.to_str().unwrap();
    let run = h
        .root(&["export", "--path", "app/prod", "--out", out_arg])
        .await
        .ok();
    assert!(run.stdout.is_empty());
    snap!(&h, "export_out", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "B=prod\nC='with space'\n"
    );
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let exists = h
        .root(&["export", "--path", "app/shared", "--out", out_arg])
        .await
        .fails_with(code::GENERAL);
    assert!(exists.stderr.contains("pass --force"), "{}", exists.stderr);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "B=prod\nC='with space'\n"
    );
    h.root(&[
        "export",
        "--path",
        "app/shared",
        "--out",
        out_arg,
        "--force",
    ])
    .await
    .ok();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "A=shared\nB=shared\n"
    );
}

#[tokio::test]
async fn export_then_import_is_exact() {
    let h = Harness::start().await;
    let source = h.file("source.json", &tricky().to_string());
    h.root(&["import", source.to_str().unwrap(), "--path", "app/orig"])
        .await
        .ok();
    assert_eq!(data(&h, "app/orig").await, tricky());
    for (format, file) in [
        ("dotenv", "out.env"),
        ("json", "out.json"),
        ("yaml", "out.yaml"),
    ] {
        let out = h.work.path().join(file);
        h.root(&[
            "export",
            "--path",
            "app/orig",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ])
        .await
        .ok();
        let copy = format!("app/copy-{format}");
        h.root(&["import", out.to_str().unwrap(), "--path", &copy])
            .await
            .ok();
        assert_eq!(data(&h, &copy).await, tricky(), "{format}");
        // Exported again, the copy gives the same bytes.
        let again = h
            .root(&["export", "--path", &copy, "--format", format])
            .await
            .ok();
        assert_eq!(
            again.stdout,
            std::fs::read_to_string(&out).unwrap(),
            "{format}"
        );
    }
    // The dotenv form is also what a POSIX shell reads.
    let env_file = h.work.path().join("out.env");
    let script = format!(
        "set -a; . '{}'; printf '%s' \"$BOTH|$DOLLAR|$NEWLINES|$UNICODE|$SPACES|$BACKSLASH\"",
        env_file.display()
    );
    let shell = std::process::Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .output()
        .unwrap();
    assert!(shell.status.success(), "{shell:?}");
    let t = tricky();
    let expected = [
        "BOTH",
        "DOLLAR",
        "NEWLINES",
        "UNICODE",
        "SPACES",
        "BACKSLASH",
    ]
    .map(|k| t[k].as_str().unwrap().to_owned())
    .join("|");
    assert_eq!(String::from_utf8(shell.stdout).unwrap(), expected);
}

#[tokio::test]
async fn import_dry_run_then_write() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/prod", "KEEP=1", "CHANGE=old", "DROP=x"])
        .await
        .ok();
    let file = h.file(
        "prod.env",
        "# production\nKEEP=1\nCHANGE='new value'\nexport ADD=n\n",
    );
    let file_arg = file.to_str().unwrap();
    let mut dry = String::new();
    for format in ["table", "json", "yaml"] {
        let run = h
            .root(&[
                "import",
                file_arg,
                "--path",
                "app/prod",
                "--dry-run",
                "--format",
                format,
            ])
            .await
            .ok();
        dry.push_str(&format!("--- {format}\n{}", run.stdout));
    }
    snap!(&h, "import_dry_run", dry);
    assert!(!dry.contains("new value"), "{dry}");
    let shown = h
        .root(&[
            "import",
            file_arg,
            "--path",
            "app/prod",
            "--dry-run",
            "--show-values",
            "--format",
            "table",
        ])
        .await
        .ok();
    snap!(&h, "import_dry_run_values", shown.stdout);
    // A dry run writes nothing.
    assert_eq!(version(&h, "app/prod").await, 1);

    let written = h
        .root(&[
            "import", file_arg, "--path", "app/prod", "--format", "table",
        ])
        .await
        .ok();
    snap!(&h, "import_written", written.stdout);
    assert_eq!(
        data(&h, "app/prod").await,
        json!({"KEEP": "1", "CHANGE": "new value", "ADD": "n"})
    );
    assert_eq!(version(&h, "app/prod").await, 2);

    // The same file again changes nothing and writes no version.
    let same = h
        .root(&["import", file_arg, "--path", "app/prod", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(same["version"], Value::Null);
    assert_eq!(same["unchanged"], json!(["KEEP", "CHANGE", "ADD"]));
    assert_eq!(version(&h, "app/prod").await, 2);

    // --merge keeps keys the file does not have.
    h.root(&["kv", "put", "app/prod", "--cas", "2", "OTHER=o", "KEEP=1"])
        .await
        .ok();
    let merged = h
        .root(&[
            "import", file_arg, "--path", "app/prod", "--merge", "--format", "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(merged["kept"], json!(["OTHER"]));
    assert_eq!(
        data(&h, "app/prod").await,
        json!({"KEEP": "1", "CHANGE": "new value", "ADD": "n", "OTHER": "o"})
    );

    // stdin needs --input-format; a name that says nothing is a usage error.
    let run = h
        .exec(
            &[
                "import",
                "-",
                "--path",
                "app/stdin",
                "--input-format",
                "yaml",
            ],
            Some(ROOT),
            Some("A: 1\nB: text\n"),
        )
        .await
        .ok();
    assert_eq!(run.json()["added"], json!(["A", "B"]));
    assert_eq!(data(&h, "app/stdin").await, json!({"A": 1, "B": "text"}));
    let unknown = h.file("secrets.txt", "A=1\n");
    let run = h
        .root(&["import", unknown.to_str().unwrap(), "--path", "app/x"])
        .await
        .fails_with(code::USAGE);
    assert!(run.stderr.contains("--input-format"), "{}", run.stderr);
}

#[tokio::test]
async fn a_malformed_file_changes_nothing() {
    let h = Harness::start().await;
    h.root(&["kv", "put", "app/prod", "A=1", "B=2"]).await.ok();
    let before = data(&h, "app/prod").await;
    let cases = [
        (
            "bad.env",
            "A=changed\nB=fine\nC='s3cret never closed\nD=4\n",
        ),
        ("bad2.env", "A=changed\nthis line is s3cret\n"),
        (
            "bad.json",
            "{\n  \"A\": \"changed\",\n  \"B\": \"s3cret\"\n  \"C\": 3\n}\n",
        ),
        ("bad.yaml", "A: changed\nB: s3cret\n  C: [unclosed\n"),
        ("list.json", "[\"s3cret\"]\n"),
    ];
    let mut errors = String::new();
    for (name, text) in cases {
        let file = h.file(name, text);
        let run = h
            .root(&["import", file.to_str().unwrap(), "--path", "app/prod"])
            .await
            .fails_with(code::GENERAL);
        assert!(run.stdout.is_empty());
        assert!(run.stderr.contains("line "), "{name}: {}", run.stderr);
        assert!(!run.stderr.contains("s3cret"), "{name}: {}", run.stderr);
        errors.push_str(&run.stderr);
        assert_eq!(data(&h, "app/prod").await, before, "{name}");
        assert_eq!(version(&h, "app/prod").await, 1, "{name}");
    }
    snap!(&h, "import_malformed", errors);
}

#[tokio::test]
async fn import_a_thousand_keys_in_one_version() {
    let h = Harness::start().await;
    let text: String = (0..1000)
        .map(|i| format!("KEY_{i:04}='value {i} with # and = and \"quotes\"'\n"))
        .collect();
    let file = h.file("big.env", &text);
    let run = h
        .root(&[
            "import",
            file.to_str().unwrap(),
            "--path",
            "app/big",
            "--format",
            "table",
        ])
        .await
        .ok();
    // Not a terminal: progress lines on stderr, the summary on stdout.
    snap!(&h, "import_big_progress", run.stderr);
    assert_eq!(
        run.stdout,
        "wrote secret/app/big version 1 (1000 added, 0 changed, 0 unchanged, 0 removed)\n"
    );
    let stored = data(&h, "app/big").await;
    let map = stored.as_object().unwrap();
    assert_eq!(map.len(), 1000);
    assert_eq!(map["KEY_0999"], "value 999 with # and = and \"quotes\"");
    assert_eq!(version(&h, "app/big").await, 1);
}

#[tokio::test]
async fn import_writes_with_check_and_set() {
    let h = Harness::start().await;
    // A secret that refuses writes without check-and-set...
    h.root(&["kv", "metadata", "app/strict", "--cas-required", "true"])
        .await
        .ok();
    h.root(&["kv", "put", "app/strict", "A=1"])
        .await
        .fails_with(code::GENERAL);
    // ...takes imports, which always carry the version they read (0, then 1).
    let first = h.file("one.env", "A=1\n");
    h.root(&["import", first.to_str().unwrap(), "--path", "app/strict"])
        .await
        .ok();
    let second = h.file("two.env", "A=2\nB=3\n");
    let run = h
        .root(&["import", second.to_str().unwrap(), "--path", "app/strict"])
        .await
        .ok()
        .json();
    assert_eq!(
        (run["base_version"].clone(), run["version"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(data(&h, "app/strict").await, json!({"A": "2", "B": "3"}));
}
