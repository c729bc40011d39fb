//! A `--dev` server per test and the real `confmgr` binary run against it, with a private
//! config directory and no inherited `CONFMGR_*` or `VAULT_*` variables.

use confmgr_testkit::ServerProcess;
use regex::escape;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

pub const ROOT: &str = "root";

/// The exit codes of `confmgr --help` (src/exit.rs).
pub mod code {
    pub const GENERAL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    pub const DENIED: i32 = 4;
    pub const UNREACHABLE: i32 = 5;
    pub const CONFLICT: i32 = 6;
}

pub const APP_READ: &str = r#"# Applications read their own configuration.
path "secret/data/app/*" {
  capabilities = ["read"]
}
path "secret/metadata/app/*" {
  capabilities = ["list"]
}
"#;

/// `<dir of the test executable>/../confmgr-server`.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in target/<profile>/deps");
    let binary = dir.join("confmgr-server");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p confmgr-server` first",
        binary.display()
    );
    binary
}

pub struct Harness {
    pub server: ServerProcess,
    pub config: TempDir,
    pub work: TempDir,
    _data: TempDir,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "confmgr failed:\n{}", self.stderr);
        self
    }

    /// A failure at run time: exit code 1 (general) or 3 to 6 (not found, permission
    /// denied, unreachable, conflict); not success and not a usage error (2).
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            matches!(self.code, 1 | 3..=6),
            "expected a failure exit code (1, 3-6), got {}:\n{}\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Exit code `code` (see [`code`]), with one `error: ` line on stderr unless it is a
    /// usage error (clap prints usage too).
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}:\n{}\n{}",
            self.stdout, self.stderr
        );
        if code != self::code::USAGE {
            assert!(
                self.stderr.starts_with("error: ") && self.stderr.lines().count() == 1,
                "expected one error line:\n{}",
                self.stderr
            );
        }
        self
    }

    /// Permission denied (exit code 4) with the one-line hint on what to do.
    #[track_caller]
    pub fn denied(self) -> Self {
        let run = self.fails_with(code::DENIED);
        assert!(
            run.stderr.contains(
                "permission denied: the token is invalid or expired, or its policies do not \
                 allow this (`confmgr login` for a new token, `confmgr token lookup` for its \
                 policies)"
            ),
            "{}",
            run.stderr
        );
        run
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A `--dev` server with these extra environment variables (TLS files, say).
    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().to_str().unwrap().to_owned();
        let server = ServerProcess::start(
            &server_binary(),
            &["--dev", "--data-dir", &data_dir, "--dev-root-token", ROOT],
            env,
        )
        .await
        .expect("start confmgr-server");
        Self {
            server,
            config: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            _data: data,
        }
    }

    pub fn token_file(&self) -> PathBuf {
        self.config.path().join("confmgr").join("token")
    }

    /// Writes `contents` to a file in the work directory.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.work.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// With the root token in CONFMGR_TOKEN.
    pub async fn root(&self, args: &[&str]) -> Run {
        self.exec(args, Some(ROOT), None).await
    }

    /// Without a token variable: the token file, if any.
    pub async fn anon(&self, args: &[&str]) -> Run {
        self.exec(args, None, None).await
    }

    pub async fn exec(&self, args: &[&str], token: Option<&str>, stdin: Option<&str>) -> Run {
        exec_at(&self.server.url(), self.config.path(), args, token, stdin).await
    }

    /// Logs in as a client with the secret on stdin.
    pub async fn login(&self, role_id: &str, secret: &str) -> Run {
        self.exec(
            &[
                "login",
                "--method",
                "approle",
                "--role-id",
                role_id,
                "--secret-id",
                "-",
            ],
            None,
            Some(secret),
        )
        .await
    }
}

pub async fn exec_at(
    addr: &str,
    config: &Path,
    args: &[&str],
    token: Option<&str>,
    stdin: Option<&str>,
) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_confmgr"));
    command
        .args(args)
        .env_clear()
        .env("CONFMGR_ADDR", addr)
        .env("CONFMGR_CONFIG_DIR", config)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        command.env("CONFMGR_TOKEN", token);
    }
    let mut child = command.spawn().expect("run confmgr");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let output = child.wait_with_output().await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Regex filters for ids, secrets, tokens, accessors, times and this test's paths.
pub fn filters(h: &Harness) -> Vec<(String, String)> {
    let mut filters = vec![
        (
            escape(h.config.path().to_str().unwrap()),
            "[CONFIG]".to_owned(),
        ),
        (escape(h.work.path().to_str().unwrap()), "[WORK]".to_owned()),
        (escape(&h.server.url()), "[ADDR]".to_owned()),
    ];
    filters.extend(
        [
            (
                r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "[UUID]",
            ),
            (r"cmt\.[A-Za-z0-9_-]{20,}", "[TOKEN]"),
            (r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{30,}", "[SECRET]"),
            (
                r#"(^|[\s"'(,])[A-Za-z0-9_-]{24}([\s"',)]|$)"#,
                "$1[ACCESSOR]$2",
            ),
            (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
        ]
        .map(|(pattern, replacement)| (pattern.to_owned(), replacement.to_owned())),
    );
    filters
}

/// A remaining lifetime in a table (`29m59s` right after a 30m login): the seconds vary.
pub const TTL_LEFT: (&str, &str) = (r"(?m)^(token_ttl|ttl)( +)\S+$", "$1$2[TTL]");

/// Snapshots `text` with [`filters`] (and any extra `(pattern, replacement)`) applied.
#[macro_export]
macro_rules! snap {
    ($h:expr, $name:expr, $text:expr $(, $extra:expr)*) => {{
        let mut settings = insta::Settings::clone_current();
        $(settings.add_filter($extra.0, $extra.1);)*
        for (pattern, replacement) in $crate::harness::filters($h) {
            settings.add_filter(&pattern, replacement);
        }
        settings.bind(|| insta::assert_snapshot!($name, $text));
    }};
}

/// Replaces the values of volatile fields (anywhere in `value`) with a marker.
pub fn redact(value: &mut Value, keys: &[&str]) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if keys.contains(&key.as_str()) && !inner.is_null() {
                    *inner = Value::String(format!("[{}]", key.to_uppercase()));
                } else {
                    redact(inner, keys);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, keys)),
        _ => {}
    }
}
