//! The root key wrapped by AWS KMS (CONFMGR_KMS_KEY_ID), with the real binary against moto's
//! KMS emulator on 127.0.0.1: first start, restart, KMS unreachable or silent, wrong
//! encryption context or key refused, migration from a root key file, HTTPS to KMS with
//! CONFMGR_KMS_CA_FILE, and settings refused with a reason.
//!
//! moto (PyPI, `pip install 'moto[server]'`) must be installed: these tests fail, never skip,
//! without it. `.ci/run` installs it.

use crate::harness::{fresh_url, Db, BOTH};
use crate::process::{call, key_file, run_with_env, Initialized, BIN};
use confmgr_testkit::{free_port, ServerProcess};
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// moto's server on a free loopback port, killed when dropped.
struct Moto {
    child: Option<Child>,
    endpoint: String,
    scheme_client: reqwest::Client,
    /// Empty AWS config and credentials files, so nothing from the machine's ~/.aws leaks in.
    dir: tempfile::TempDir,
}

const INSTALL: &str = "moto's KMS emulator is needed for the KMS tests: pip install 'moto[server]'";

fn check_moto_installed() {
    let probe = Command::new("python3")
        .args(["-c", "import moto.server, flask, flask_cors"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "{INSTALL} ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("{INSTALL} (python3 not found: {e})"),
    }
}

impl Moto {
    async fn start() -> Self {
        Self::start_with(&[], None).await
    }

    /// `tls`: (certificate chain file, key file, client that trusts it) for an HTTPS moto.
    async fn start_with(extra: &[&str], tls: Option<(&Path, &Path, reqwest::Client)>) -> Self {
        check_moto_installed();
        let dir = tempfile::tempdir().unwrap();
        for name in ["aws-config", "aws-credentials"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let port = free_port().unwrap();
        let mut command = Command::new("python3");
        command
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .args(extra)
            .envs(aws_env(dir.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (scheme, client) = match tls {
            Some((cert, key, client)) => {
                command
                    .arg("--ssl-cert")
                    .arg(cert)
                    .arg("--ssl-key")
                    .arg(key);
                ("https", client)
            }
            None => ("http", reqwest::Client::new()),
        };
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{INSTALL} ({e})"));
        let mut moto = Self {
            child: Some(child),
            endpoint: format!("{scheme}://127.0.0.1:{port}"),
            scheme_client: client,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Some(status) = moto.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("moto_server exited with {status} before listening; {INSTALL}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        moto
    }

    /// One call of moto's KMS JSON API (moto takes any credentials).
    async fn kms(&self, action: &str, body: Value) -> Value {
        let response = self
            .scheme_client
            .post(format!("{}/", self.endpoint))
            .header("X-Amz-Target", format!("TrentService.{action}"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0",
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "moto {action}: {status} {body}");
        body
    }

    async fn create_key(&self) -> String {
        let created = self
            .kms(
                "CreateKey",
                json!({"Description": "confmgr test", "KeyUsage": "ENCRYPT_DECRYPT"}),
            )
            .await;
        created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// AWS credential chain and region for the server process, plus the KMS settings.
    fn env(&self, key_id: &str) -> Vec<(String, String)> {
        let mut env = aws_env(self.dir.path());
        env.push(("CONFMGR_KMS_KEY_ID".into(), key_id.into()));
        env.push(("CONFMGR_KMS_ENDPOINT".into(), self.endpoint.clone()));
        env
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Fixed test credentials and region; no instance metadata lookups (which would leave the
/// machine), no profile files from the machine.
fn aws_env(dir: &Path) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        (
            "AWS_CONFIG_FILE",
            dir.join("aws-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("aws-credentials").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn with(env: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .cloned()
        .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

fn without(env: &[(String, String)], name: &str) -> Vec<(String, String)> {
    env.iter().filter(|(k, _)| k != name).cloned().collect()
}

fn run(args: &[&str], env: &[(String, String)]) -> Output {
    run_with_env(args, &pairs(env))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn root_token(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once("Root token").map(|(_, rest)| rest))
        .and_then(|rest| rest.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no root token in {stdout:?}; stderr: {}", stderr(output)))
        .to_owned()
}

async fn serve(env: &[(String, String)]) -> ServerProcess {
    ServerProcess::start(Path::new(BIN), &[], &pairs(env))
        .await
        .unwrap()
}

async fn put(server: &ServerProcess, token: &str, path: &str, value: &str) {
    let (status, body) = call(
        server,
        token,
        "POST",
        &format!("/v1/secret/data/{path}"),
        json!({"data": {"value": value}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn read(server: &ServerProcess, token: &str, path: &str) -> String {
    let (status, body) = call(
        server,
        token,
        "GET",
        &format!("/v1/secret/data/{path}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["data"]["value"].as_str().unwrap().to_owned()
}

/// `serve` that must refuse to start: its output, after checking it exited non-zero without
/// ever listening.
fn refused_start(env: &[(String, String)]) -> (Output, Duration) {
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let output = run(&["serve", "--listen", &listen], env);
    let took = started.elapsed();
    assert!(
        !output.status.success(),
        "the server started: {}",
        stderr(&output)
    );
    assert!(
        TcpStream::connect(listen.parse::<SocketAddr>().unwrap()).is_err(),
        "something listens on {listen}"
    );
    (output, took)
}

async fn stored_state(url: &str, key: &str) -> Option<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let value: Option<(String,)> = sqlx::query_as("select value from system_state where key = $1")
        .bind(key)
        .fetch_optional(&pool)
        .await
        .unwrap();
    pool.close().await;
    value.map(|(v,)| v)
}

#[tokio::test]
async fn kms_first_start_and_restart_keep_secrets() {
    let moto = Moto::start().await;
    let key_id = moto.create_key().await;
    for db in BOTH {
        let (url, _dir) = fresh_url(db).await;
        let env = with(&moto.env(&key_id), &[("CONFMGR_DATABASE_URL", &url)]);

        // The most verbose logs, with a session token in the AWS chain: the SDK's signer
        // traces its canonical request, which carries the token.
        let init = run(
            &["init"],
            &with(
                &env,
                &[
                    ("CONFMGR_LOG", "trace"),
                    ("AWS_SESSION_TOKEN", "SessionTokenMarker0123456789"),
                ],
            ),
        );
        assert!(init.status.success(), "{db:?}: {}", stderr(&init));
        let token = root_token(&init);
        let blob = stored_state(&url, "kms_root_key").await.unwrap();
        // The blob is the root key under this KMS key and the default context.
        let opened = moto
            .kms(
                "Decrypt",
                json!({"CiphertextBlob": blob, "EncryptionContext": {"confmgr:deployment": "confmgr"}}),
            )
            .await;
        let root_key = opened["Plaintext"].as_str().unwrap().to_owned();
        assert_eq!(root_key.len(), 44, "32 bytes in base64");
        let logs = stderr(&init);
        assert!(
            !logs.contains(&blob[..40]) && !logs.contains(&root_key),
            "neither the blob nor the root key reaches the most verbose logs"
        );
        assert!(
            !logs.contains("SessionTokenMarker"),
            "no AWS session token in the most verbose logs"
        );

        let again = run(&["init"], &env);
        assert!(!again.status.success());
        assert!(
            stderr(&again).contains("already initialized"),
            "{}",
            stderr(&again)
        );
        assert!(!String::from_utf8_lossy(&again.stdout).contains("cmt."));
        assert_eq!(
            stored_state(&url, "kms_root_key").await.unwrap(),
            blob,
            "a second init leaves the blob alone"
        );

        let first = serve(&env).await;
        assert!(first.stderr().contains("unwrapped through AWS KMS"));
        put(&first, &token, "prod/db", "kept by kms").await;
        first.stop().await.unwrap();

        // The restart finds KMS through the SDK's own endpoint variable.
        let env = with(
            &without(&env, "CONFMGR_KMS_ENDPOINT"),
            &[("AWS_ENDPOINT_URL_KMS", &moto.endpoint)],
        );
        let second = serve(&env).await;
        assert_eq!(
            read(&second, &token, "prod/db").await,
            "kept by kms",
            "{db:?}"
        );
        second.stop().await.unwrap();
    }
}

#[tokio::test]
async fn kms_unreachable_or_silent_stops_start_up_with_one_clear_line() {
    let mut moto = Moto::start().await;
    let key_id = moto.create_key().await;
    let (url, _dir) = fresh_url(Db::Sqlite).await;
    let env = with(&moto.env(&key_id), &[("CONFMGR_DATABASE_URL", &url)]);
    let init = run(&["init"], &env);
    assert!(init.status.success(), "{}", stderr(&init));

    // A closed port.
    let closed = format!("http://127.0.0.1:{}", free_port().unwrap());
    let (output, took) = refused_start(&with(&env, &[("CONFMGR_KMS_ENDPOINT", &closed)]));
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("CONFMGR_KMS_KEY_ID")
            && message.contains(&closed)
            && message.contains("cannot connect"),
        "{message}"
    );
    assert_eq!(
        message.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{message}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");

    // moto stopped.
    moto.stop();
    let (output, _) = refused_start(&env);
    let message = stderr(&output);
    assert!(
        message.contains("CONFMGR_KMS_ENDPOINT") && message.contains("cannot connect"),
        "{message}"
    );

    // An endpoint that accepts connections and never answers: bounded by CONFMGR_KMS_TIMEOUT_SECS.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let (output, took) = refused_start(&with(
        &env,
        &[
            ("CONFMGR_KMS_ENDPOINT", &silent_url),
            ("CONFMGR_KMS_TIMEOUT_SECS", "2"),
        ],
    ));
    let message = stderr(&output);
    assert!(
        message.contains("no answer within 2s") && message.contains("CONFMGR_KMS_TIMEOUT_SECS"),
        "{message}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    drop(silent);
}

#[tokio::test]
async fn kms_wrong_context_or_key_is_refused() {
    let moto = Moto::start().await;
    let key_id = moto.create_key().await;
    let other_key = moto.create_key().await;
    let (url, _dir) = fresh_url(Db::Sqlite).await;
    let env = with(
        &moto.env(&key_id),
        &[
            ("CONFMGR_DATABASE_URL", &url),
            ("CONFMGR_KMS_CONTEXT", "payments-prod"),
        ],
    );
    let init = run(&["init"], &env);
    assert!(init.status.success(), "{}", stderr(&init));
    let token = root_token(&init);

    let (output, _) = refused_start(&with(&env, &[("CONFMGR_KMS_CONTEXT", "payments-staging")]));
    let message = stderr(&output);
    assert!(
        message.contains("CONFMGR_KMS_CONTEXT")
            && message.contains("payments-staging")
            && message.contains("InvalidCiphertextException"),
        "{message}"
    );
    // The default context is another deployment too.
    let (output, _) = refused_start(&without(&env, "CONFMGR_KMS_CONTEXT"));
    assert!(stderr(&output).contains("InvalidCiphertextException"));

    // Another existing key (moto answers AccessDenied where KMS says IncorrectKey).
    let (output, _) = refused_start(&with(&env, &[("CONFMGR_KMS_KEY_ID", &other_key)]));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("CONFMGR_KMS_KEY_ID ({other_key})"))
            && message.contains("wrapped under another key"),
        "{message}"
    );
    let missing = "11111111-2222-3333-4444-555555555555";
    let (output, _) = refused_start(&with(&env, &[("CONFMGR_KMS_KEY_ID", missing)]));
    let message = stderr(&output);
    assert!(
        message.contains("no such key") && message.contains(missing),
        "{message}"
    );

    // No credentials at all: named, not a hang.
    let (output, _) = refused_start(&without(
        &without(&env, "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY",
    ));
    assert!(
        stderr(&output).contains("no usable AWS credentials"),
        "{}",
        stderr(&output)
    );

    let server = serve(&env).await;
    put(&server, &token, "app/x", "right context").await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn file_root_key_migrates_to_kms() {
    let moto = Moto::start().await;
    let key_id = moto.create_key().await;
    let db = Initialized::new(Db::Sqlite).await;
    let file_env: Vec<(String, String)> = db
        .env()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let server = serve(&file_env).await;
    put(&server, &db.root, "legacy/app", "from the file era").await;
    server.stop().await.unwrap();

    let kms_env = with(&moto.env(&key_id), &[("CONFMGR_DATABASE_URL", &db.url)]);
    let (output, _) = refused_start(&kms_env);
    assert!(
        stderr(&output).contains("kms-migrate"),
        "KMS before migration names the way: {}",
        stderr(&output)
    );

    // A root key file that does not open the keyring wraps nothing.
    let dir = tempfile::tempdir().unwrap();
    let stranger = key_file(dir.path(), "stranger.key");
    let wrong = run(
        &["kms-migrate"],
        &with(
            &kms_env,
            &[("CONFMGR_ROOT_KEY_FILE", stranger.to_str().unwrap())],
        ),
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("does not open"),
        "{}",
        stderr(&wrong)
    );
    assert_eq!(stored_state(&db.url, "kms_root_key").await, None);

    let both = with(
        &kms_env,
        &[("CONFMGR_ROOT_KEY_FILE", db.key.to_str().unwrap())],
    );
    let migrated = run(&["kms-migrate"], &both);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let said = String::from_utf8_lossy(&migrated.stdout);
    assert!(
        said.contains("without CONFMGR_ROOT_KEY_FILE")
            && said.contains("destroy the root key file"),
        "{said}"
    );

    let blob = stored_state(&db.url, "kms_root_key").await.unwrap();
    let again = run(&["kms-migrate"], &both);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("wrapped again"));
    assert_ne!(
        stored_state(&db.url, "kms_root_key").await.unwrap(),
        blob,
        "a new wrap replaces the blob"
    );

    // Both at once for serve is ambiguous.
    let ambiguous = run(&["serve"], &both);
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(
        stderr(&ambiguous).contains("set one, not both"),
        "{}",
        stderr(&ambiguous)
    );

    // The file is gone from the configuration: KMS alone opens the data.
    std::fs::remove_file(&db.key).unwrap();
    let server = serve(&kms_env).await;
    assert_eq!(
        read(&server, &db.root, "legacy/app").await,
        "from the file era"
    );
    put(&server, &db.root, "new/app", "after the move").await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn kms_over_https_trusts_the_kms_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::tls::ca("KMS test CA");
    let files = crate::tls::write_server_cert(&ca, dir.path());
    let ca_file = dir.path().join("kms-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let client = crate::tls::client_trusting(&[&ca]);
    let moto = Moto::start_with(&[], Some((&files.cert, &files.key, client))).await;
    assert!(moto.endpoint.starts_with("https://"));
    let key_id = moto.create_key().await;
    let (url, _db_dir) = fresh_url(Db::Sqlite).await;
    let env = with(
        &moto.env(&key_id),
        &[
            ("CONFMGR_DATABASE_URL", &url),
            ("CONFMGR_KMS_CA_FILE", ca_file.to_str().unwrap()),
        ],
    );
    let init = run(&["init"], &env);
    assert!(init.status.success(), "{}", stderr(&init));
    let token = root_token(&init);
    let server = serve(&env).await;
    put(&server, &token, "tls/app", "over https").await;
    server.stop().await.unwrap();

    // Without the CA file the system store does not know the test CA.
    let (output, _) = refused_start(&without(&env, "CONFMGR_KMS_CA_FILE"));
    let message = stderr(&output);
    assert!(
        message.contains("CONFMGR_KMS_KEY_ID") && message.to_lowercase().contains("certificate"),
        "{message}"
    );
}

/// Arguments, environment, expected message.
type Case<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn kms_settings_are_checked_before_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let key = key_file(dir.path(), "root.key");
    let key = key.to_str().unwrap();
    let new_key = key_file(dir.path(), "new.key");
    let cases: [Case; 7] = [
        (
            &["serve", "--dev"],
            vec![("CONFMGR_KMS_KEY_ID", "alias/confmgr")],
            "CONFMGR_KMS_KEY_ID: not with --dev",
        ),
        (
            &["init", "--dev"],
            vec![("CONFMGR_KMS_KEY_ID", "alias/confmgr")],
            "CONFMGR_KMS_KEY_ID: not with --dev",
        ),
        (
            &["rekey"],
            vec![
                ("CONFMGR_DATABASE_URL", &url),
                ("CONFMGR_KMS_KEY_ID", "alias/confmgr"),
                ("CONFMGR_NEW_ROOT_KEY_FILE", new_key.to_str().unwrap()),
            ],
            "`rekey` works with root key files only",
        ),
        (
            &["kms-migrate"],
            vec![
                ("CONFMGR_DATABASE_URL", &url),
                ("CONFMGR_KMS_KEY_ID", "alias/confmgr"),
            ],
            "CONFMGR_ROOT_KEY_FILE: `kms-migrate` needs the current root key",
        ),
        (
            &["kms-migrate"],
            vec![
                ("CONFMGR_DATABASE_URL", &url),
                ("CONFMGR_ROOT_KEY_FILE", key),
            ],
            "CONFMGR_KMS_KEY_ID: `kms-migrate` needs",
        ),
        (
            &["serve"],
            vec![
                ("CONFMGR_DATABASE_URL", &url),
                ("CONFMGR_ROOT_KEY_FILE", key),
                ("CONFMGR_KMS_CONTEXT", "prod"),
            ],
            "CONFMGR_KMS_CONTEXT: only used with CONFMGR_KMS_KEY_ID",
        ),
        (
            &["serve"],
            vec![
                ("CONFMGR_DATABASE_URL", &url),
                ("CONFMGR_KMS_KEY_ID", "alias/confmgr"),
                ("CONFMGR_KMS_ENDPOINT", "kms.example"),
            ],
            "CONFMGR_KMS_ENDPOINT: \"kms.example\" is not an http(s) URL",
        ),
    ];
    for (args, env, expected) in cases {
        let output = run_with_env(args, &env);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert!(message.contains(expected), "{args:?}: {message}");
    }
}
