//! `confmgr gen-env` and `scripts/gen_env.sh`: placeholders filled with fresh values, every
//! other byte kept, no silent overwrite, mode 0600; the repository's own `.env.example`
//! yields settings a real server starts with.

use crate::harness::{exec_at, Run};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use confmgr_testkit::ServerProcess;
use regex::Regex;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Every kind, and lines that must come through unchanged (CRLF, no final newline, a
/// commented placeholder, `export`, a placeholder inside a longer value).
const TEMPLATE: &str = "# Local settings\r\n\
\n\
CONFMGR_LISTEN=127.0.0.1:8200\n\
export DB_PASSWORD=<secret:alphanumeric:32>\n\
API_KEY=<secret:hex:32>\r\n\
SESSION=<secret:base64:48>\n\
CALLBACK=https://example.test/hook?token=<secret:base64url:20>&v=1\n\
CONFMGR_ROOT_KEY=<secret:root-key>\n\
# SPARE=<secret:hex:8> is documentation, not filled\n\
EMPTY=\n\
  INDENTED = kept as written\n\
LAST=plain";

/// The template as a regex: its text escaped, each placeholder the shape of its value.
fn expected_shape() -> Regex {
    let mut pattern = regex::escape(TEMPLATE);
    for (placeholder, shape) in [
        ("<secret:alphanumeric:32>", "([A-Za-z0-9]{32})"),
        ("<secret:hex:32>", "([0-9a-f]{64})"),
        ("<secret:base64:48>", "([A-Za-z0-9+/]{64})"),
        ("<secret:base64url:20>", "([A-Za-z0-9_-]{27})"),
        ("<secret:root-key>", "([A-Za-z0-9+/]{43}=)"),
    ] {
        pattern = pattern.replacen(&regex::escape(placeholder), shape, 1);
    }
    Regex::new(&format!("^{pattern}$")).unwrap()
}

struct Dir {
    dir: TempDir,
    config: TempDir,
}

impl Dir {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            config: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `confmgr gen-env ARGS` (no server involved: the address is never used).
    async fn gen(&self, args: &[&str]) -> Run {
        let mut all = vec!["gen-env"];
        all.extend_from_slice(args);
        exec_at("http://127.0.0.1:9", self.config.path(), &all, None, None).await
    }

    fn snap(&self, name: &str, text: &str) {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(&regex::escape(self.dir.path().to_str().unwrap()), "[DIR]");
        settings.bind(|| insta::assert_snapshot!(name, text));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn fills_every_kind_and_keeps_the_rest() {
    let d = Dir::new();
    let template = d.write(".env.example", TEMPLATE);
    let out = d.path(".env");
    let (t, o) = (template.to_str().unwrap(), out.to_str().unwrap());
    let run = d
        .gen(&["--template", t, "--out", o, "--format", "table"])
        .await
        .ok();
    d.snap("gen_env_table", &run.stdout);
    assert_eq!(mode(&out), 0o600);
    let first = std::fs::read_to_string(&out).unwrap();
    let shape = expected_shape();
    let values = shape
        .captures(&first)
        .unwrap_or_else(|| panic!("output does not match the template:\n{first}"));
    // Lengths in bytes, not only in characters.
    assert_eq!(STANDARD.decode(&values[3]).unwrap().len(), 48);
    assert_eq!(URL_SAFE_NO_PAD.decode(&values[4]).unwrap().len(), 20);
    assert_eq!(STANDARD.decode(&values[5]).unwrap().len(), 32);
    // The template is untouched.
    assert_eq!(std::fs::read_to_string(&template).unwrap(), TEMPLATE);

    // An existing output is never replaced without --force.
    let run = d.gen(&["--template", t, "--out", o]).await.fails();
    d.snap("gen_env_exists", &run.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), first);

    // With --force: replaced, fresh values, still 0600 even if the old file was wider.
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = d
        .gen(&["--template", t, "--out", o, "--force", "--format", "json"])
        .await
        .ok();
    d.snap("gen_env_json", &run.stdout);
    assert_eq!(mode(&out), 0o600);
    let second = std::fs::read_to_string(&out).unwrap();
    let again = shape.captures(&second).unwrap();
    for i in 1..=5 {
        assert_ne!(
            values[i].to_owned(),
            again[i].to_owned(),
            "value {i} repeated"
        );
    }
    // No value reaches stdout or stderr.
    assert!(!run.stdout.contains(&again[1]));
}

#[tokio::test]
async fn bad_placeholders_name_their_line() {
    let d = Dir::new();
    let out = d.path(".env");
    let cases = [
        ("unknown_kind", "A=1\n# fine\nB=<secret:uuid>\n"),
        ("zero_length", "A=<secret:hex:0>\n"),
        ("huge_length", "\nA=<secret:alphanumeric:100000>\n"),
        ("no_length", "A=<secret:base64>\n"),
        ("root_key_length", "A=<secret:root-key:16>\n"),
        ("unclosed", "A=x\nB=<secret:hex:16\n"),
        ("not_an_assignment", "<secret:hex:16>\n"),
    ];
    let mut messages = String::new();
    for (name, text) in cases {
        let template = d.write(&format!("{name}.example"), text);
        let run = d
            .gen(&[
                "--template",
                template.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .await
            .fails();
        assert!(!out.exists(), "{name}: an output was written");
        messages.push_str(&run.stderr);
    }
    d.snap("gen_env_bad_placeholders", &messages);

    let run = d
        .gen(&["--template", d.path("missing").to_str().unwrap()])
        .await
        .fails();
    d.snap("gen_env_missing_template", &run.stderr);
    // The template itself as the output: refused even with --force.
    let template = d.write("same", "A=<secret:hex:4>\n");
    let same = template.to_str().unwrap();
    let run = d
        .gen(&["--template", same, "--out", same, "--force"])
        .await
        .fails();
    assert!(
        run.stderr.contains("is the template itself"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&template).unwrap(),
        "A=<secret:hex:4>\n"
    );
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn the_script_wraps_the_command() {
    let d = Dir::new();
    let template = d.write("t", "# c\nK=<secret:hex:4>\n");
    let out = d.path("o");
    let output = tokio::process::Command::new("bash")
        .arg(repository().join("scripts/gen_env.sh"))
        .args(["--template", template.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap(), "--format", "json"])
        .env("CONFMGR_BIN", env!("CARGO_BIN_EXE_confmgr"))
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["generated"][0]["name"], "K");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        Regex::new("^# c\nK=[0-9a-f]{8}\n$")
            .unwrap()
            .is_match(&text),
        "{text}"
    );
    assert_eq!(mode(&out), 0o600);
}

/// `KEY=value` lines of a generated file, for a process environment.
fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[tokio::test]
async fn the_repository_env_example_starts_a_server() {
    let d = Dir::new();
    let example = repository().join(".env.example");
    let out = d.path(".env");
    d.gen(&[
        "--template",
        example.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .ok();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("<secret:"), "{text}");
    let mut vars = parse_env(&text);
    assert!(vars.iter().any(|(k, _)| k == "CONFMGR_ROOT_KEY"));
    // Its own database file; the harness picks the port.
    let database = format!("sqlite://{}", d.path("confmgr.db").display());
    vars.retain(|(key, _)| key != "CONFMGR_DATABASE_URL");
    vars.push(("CONFMGR_DATABASE_URL".into(), database));
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("confmgr-server");
    // `init` once (it prints the root token), then the server itself.
    let init = tokio::process::Command::new(&binary)
        .arg("init")
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    assert!(!init.stdout.is_empty());
    let server = ServerProcess::start(&binary, &[], &env)
        .await
        .expect("the server starts with the generated settings");
    server.stop().await.unwrap();
}
