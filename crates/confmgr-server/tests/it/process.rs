//! The real binary: --dev with no configuration, init once, restarts with the right and the
//! wrong root key, and configuration refused with a reason.

use crate::harness::{fresh_url, Db};
use confmgr_core::crypto::RootKey;
use confmgr_testkit::ServerProcess;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_confmgr-server");

pub(crate) fn root_token(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|l| {
        l.split_once("Root token")
            .map(|(_, rest)| rest.rsplit(' ').next().unwrap_or("").to_owned())
    })
}

pub(crate) fn key_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, RootKey::generate().to_base64().as_bytes()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

pub(crate) fn run(args: &[&str]) -> std::process::Output {
    run_with_env(args, &[])
}

pub(crate) fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CONFMGR_")) {
        command.env_remove(key);
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

async fn put(server: &ServerProcess, token: &str, path: &str, body: Value) -> u16 {
    let client = reqwest::Client::new();
    let url = format!("{}/v1/secret/data/{path}", server.url());
    client
        .post(url)
        .header("X-Vault-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn get(server: &ServerProcess, token: &str, path: &str) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}/v1/secret/data/{path}", server.url());
    let response = client
        .get(url)
        .header("X-Vault-Token", token)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn dev_mode_needs_no_configuration_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("dev");
    let data_arg = data_dir.to_str().unwrap();
    let server = ServerProcess::start(Path::new(BIN), &["--dev", "--data-dir", data_arg], &[])
        .await
        .unwrap();
    let token = root_token(&server.stdout()).expect("--dev prints the root token");
    assert!(token.starts_with("cmt."), "{token}");
    assert!(server.stderr().contains("--dev"), "dev mode warns");
    assert_eq!(
        put(&server, &token, "hello", json!({"data": {"who": "world"}})).await,
        200
    );
    let key_mode = std::fs::metadata(data_dir.join("root.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    server.stop().await.unwrap();

    let server = ServerProcess::start(
        Path::new(BIN),
        &["--dev", "--data-dir", data_arg],
        &[("CONFMGR_DEV_ROOT_TOKEN", "dev-fixed")],
    )
    .await
    .unwrap();
    assert_eq!(
        root_token(&server.stdout()),
        None,
        "the root token is printed once, on first start"
    );
    assert_eq!(
        get(&server, &token, "hello").await.1["data"]["data"]["who"],
        "world"
    );
    assert_eq!(
        get(&server, "dev-fixed", "hello").await.0,
        200,
        "--dev-root-token is registered"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn init_once_then_restart_with_same_and_other_root_key_on_postgres() {
    let (url, _) = fresh_url(Db::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "root.key");
    let other = key_file(dir.path(), "other.key");
    let key_arg = key.to_str().unwrap();
    let env = [
        ("CONFMGR_DATABASE_URL", url.as_str()),
        ("CONFMGR_ROOT_KEY_FILE", key_arg),
    ];

    let uninitialized = ServerProcess::start(Path::new(BIN), &[], &env).await;
    let message = uninitialized
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("not initialized") && message.contains("confmgr-server init"),
        "{message}"
    );

    let first = run(&["init", "--database-url", &url, "--root-key-file", key_arg]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let token = root_token(&String::from_utf8_lossy(&first.stdout)).unwrap();
    let second = run(&["init", "--database-url", &url, "--root-key-file", key_arg]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already initialized"));
    assert!(
        !String::from_utf8_lossy(&second.stdout).contains("cmt."),
        "no second root token"
    );

    let server = ServerProcess::start(Path::new(BIN), &[], &env)
        .await
        .unwrap();
    assert_eq!(
        put(
            &server,
            &token,
            "prod/db",
            json!({"data": {"password": "kept"}})
        )
        .await,
        200
    );
    server.stop().await.unwrap();

    let server = ServerProcess::start(Path::new(BIN), &[], &env)
        .await
        .unwrap();
    assert_eq!(
        get(&server, &token, "prod/db").await.1["data"]["data"]["password"],
        "kept"
    );
    server.stop().await.unwrap();

    let wrong = [
        ("CONFMGR_DATABASE_URL", url.as_str()),
        ("CONFMGR_ROOT_KEY_FILE", other.to_str().unwrap()),
    ];
    let refused = ServerProcess::start(Path::new(BIN), &[], &wrong).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("root key does not open"), "{message}");
}

#[test]
fn configuration_problems_are_refused_with_reasons() {
    let key = RootKey::generate().to_base64();
    let insecure = run(&[
        "--database-url",
        "postgres://confmgr@localhost/x?sslmode=disable",
        "--root-key",
        &key,
    ]);
    assert_eq!(insecure.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&insecure.stderr);
    assert!(
        stderr.contains("CONFMGR_DATABASE_URL")
            && stderr.contains("verify-full")
            && stderr.contains("--insecure-database"),
        "{stderr}"
    );

    let nothing = run(&[]);
    assert_eq!(nothing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&nothing.stderr);
    assert!(
        stderr.contains("CONFMGR_DATABASE_URL: required")
            && stderr.contains("CONFMGR_ROOT_KEY_FILE: required"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let open = key_file(dir.path(), "open.key");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let exposed = run(&[
        "--database-url",
        &url,
        "--root-key-file",
        open.to_str().unwrap(),
    ]);
    assert_eq!(exposed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&exposed.stderr).contains("readable by group or others"));
}

#[test]
fn boolean_variables_accept_1_and_yes() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("d");
    let done = run_with_env(
        &["migrate", "--data-dir", data_dir.to_str().unwrap()],
        &[("CONFMGR_DEV", "1")],
    );
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(data_dir.join("confmgr.db").exists());
    let key = RootKey::generate().to_base64();
    let url = "postgres://confmgr@127.0.0.1:1/x?sslmode=disable";
    let insecure = run_with_env(
        &["migrate", "--database-url", url, "--root-key", &key],
        &[("CONFMGR_INSECURE_DATABASE", "yes")],
    );
    let stderr = String::from_utf8_lossy(&insecure.stderr);
    assert_eq!(
        insecure.status.code(),
        Some(1),
        "accepted, then the connection fails: {stderr}"
    );
    assert!(
        stderr.contains("cannot connect to the database") && !stderr.contains("verify-full"),
        "{stderr}"
    );
}

#[tokio::test]
async fn migrate_subcommand_creates_the_schema() {
    let (url, _dir) = fresh_url(Db::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "k");
    let done = run(&[
        "migrate",
        "--database-url",
        &url,
        "--root-key-file",
        key.to_str().unwrap(),
    ]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let row: (i64,) = sqlx::query_as("select count(*) from kv_mounts where mount = 'secret'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.0, 1);
}

pub(crate) async fn call(
    server: &ServerProcess,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", server.url()))
        .header("X-Vault-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// A database initialized by `confmgr-server init`: its URL, root key file and root token.
pub(crate) struct Initialized {
    pub(crate) url: String,
    pub(crate) key: PathBuf,
    pub(crate) root: String,
    _files: (Option<tempfile::TempDir>, tempfile::TempDir),
}

impl Initialized {
    pub(crate) async fn new(db: Db) -> Self {
        let (url, db_dir) = fresh_url(db).await;
        let dir = tempfile::tempdir().unwrap();
        let key = key_file(dir.path(), "root.key");
        let init = run(&[
            "init",
            "--database-url",
            &url,
            "--root-key-file",
            key.to_str().unwrap(),
        ]);
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let root = root_token(&String::from_utf8_lossy(&init.stdout)).unwrap();
        Self {
            url,
            key,
            root,
            _files: (db_dir, dir),
        }
    }

    pub(crate) fn env(&self) -> [(&str, &str); 2] {
        [
            ("CONFMGR_DATABASE_URL", self.url.as_str()),
            ("CONFMGR_ROOT_KEY_FILE", self.key.to_str().unwrap()),
        ]
    }
}

#[tokio::test]
async fn revocation_is_seen_by_a_second_server_within_a_second() {
    let db = Initialized::new(Db::Postgres).await;
    let (env, root) = (db.env(), db.root.clone());
    let a = ServerProcess::start(Path::new(BIN), &[], &env)
        .await
        .unwrap();
    let b = ServerProcess::start(Path::new(BIN), &[], &env)
        .await
        .unwrap();

    let (status, body) = call(
        &a,
        &root,
        "POST",
        "/v1/auth/token/create",
        json!({"policies": ["default"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&b, &token, "GET", "/v1/auth/token/lookup-self", Value::Null)
            .await
            .0,
        200
    );

    assert_eq!(
        call(
            &a,
            &token,
            "POST",
            "/v1/auth/token/revoke-self",
            Value::Null
        )
        .await
        .0,
        204
    );
    let revoked_at = std::time::Instant::now();
    loop {
        let (status, _) = call(&b, &token, "GET", "/v1/auth/token/lookup-self", Value::Null).await;
        if status == 403 {
            break;
        }
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(1),
            "replica b still accepts a revoked token"
        );
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn most_verbose_logs_hold_no_secret_token_or_client_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let server = ServerProcess::start(
        Path::new(BIN),
        &["--dev", "--data-dir", data.to_str().unwrap()],
        &[("CONFMGR_LOG", "trace"), ("CONFMGR_LOG_FORMAT", "json")],
    )
    .await
    .unwrap();
    let root = root_token(&server.stdout()).unwrap();
    let canary = "canary-value-5e2d9b";
    assert_eq!(
        call(
            &server,
            &root,
            "POST",
            "/v1/secret/data/app/c",
            json!({"data": {"pw": canary}})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(&server, &root, "GET", "/v1/secret/data/app/c", Value::Null)
            .await
            .0,
        200
    );
    call(
        &server,
        &root,
        "PUT",
        "/v1/sys/policies/acl/p",
        json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }"}),
    )
    .await;
    call(
        &server,
        &root,
        "POST",
        "/v1/auth/approle/role/logme",
        json!({"token_policies": ["p"]}),
    )
    .await;
    let (_, body) = call(
        &server,
        &root,
        "GET",
        "/v1/auth/approle/role/logme/role-id",
        Value::Null,
    )
    .await;
    let role_id = body["data"]["role_id"].as_str().unwrap().to_owned();
    let (_, body) = call(
        &server,
        &root,
        "POST",
        "/v1/auth/approle/role/logme/secret-id",
        json!({}),
    )
    .await;
    let secret_id = body["data"]["secret_id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &server,
        "",
        "POST",
        "/v1/auth/approle/login",
        json!({"role_id": role_id, "secret_id": secret_id}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&server, &token, "GET", "/v1/secret/data/app/c", Value::Null)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&server, &token, "GET", "/v1/secret/data/other", Value::Null)
            .await
            .0,
        403
    );
    call(&server, &root, "POST", "/v1/auth/token/create", json!({})).await;
    let bad = call(
        &server,
        "",
        "POST",
        "/v1/auth/approle/login",
        json!({"role_id": role_id, "secret_id": format!("{secret_id}x")}),
    )
    .await;
    assert_eq!(bad.0, 400);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // let the log readers drain
    let logs = server.stderr();
    assert!(
        logs.contains("TRACE") || logs.contains("\"level\":\"TRACE\""),
        "the server logged at trace level"
    );
    assert!(logs.contains("permission denied"), "denials are logged");
    let secret_part = secret_id.split_once('.').unwrap().1;
    for (what, needle) in [
        ("secret value", canary),
        ("root token", root.as_str()),
        ("client token", token.as_str()),
        ("client secret", secret_part),
    ] {
        assert!(!logs.contains(needle), "the logs contain a {what}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn two_servers_under_concurrent_load_share_one_chain_and_lose_no_event() {
    let db = Initialized::new(Db::Postgres).await;
    let (env, root) = (db.env(), db.root.clone());
    let servers = [
        ServerProcess::start(Path::new(BIN), &[], &env)
            .await
            .unwrap(),
        ServerProcess::start(Path::new(BIN), &[], &env)
            .await
            .unwrap(),
    ];
    let urls: Vec<String> = servers.iter().map(ServerProcess::url).collect();
    const WORKERS: usize = 8;
    const PER_WORKER: usize = 25;
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (base, root) = (urls[worker % 2].clone(), root.clone());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..PER_WORKER {
                let path = format!("{base}/v1/secret/data/load/{}", i % 5);
                let request = if i % 2 == 0 {
                    client.post(path).json(&json!({"data": {"i": i}}))
                } else {
                    client.get(path)
                };
                let status = request
                    .header("X-Vault-Token", &root)
                    .header("X-Request-Id", format!("load-{worker}-{i}"))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert!(status.is_success() || status == 404, "{status}");
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }

    // Every request has exactly one event, from whichever server answered it.
    let mut load_events = 0;
    let mut cursor = 0;
    loop {
        let (_, body) = call(
            &servers[0],
            &root,
            "GET",
            &format!("/v1/sys/audit/events?limit=1000&cursor={cursor}"),
            Value::Null,
        )
        .await;
        let page = body["data"]["events"].as_array().unwrap();
        load_events += page
            .iter()
            .filter(|e| e["request_id"].as_str().unwrap_or("").starts_with("load-"))
            .count();
        match body["data"]["next_cursor"].as_i64() {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(
        load_events,
        WORKERS * PER_WORKER,
        "no event lost, none doubled"
    );

    // Both sealers ran; the log is one chain that verifies once everything is sealed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, body) = call(
            &servers[1],
            &root,
            "POST",
            "/v1/sys/audit/verify",
            Value::Null,
        )
        .await;
        let report = &body["data"];
        assert_eq!(report["ok"], true, "{report}");
        // The audit and verify calls are audited too, so look only at the load's events.
        let (_, load) = call(
            &servers[0],
            &root,
            "GET",
            "/v1/sys/audit/events?limit=1000&path_prefix=data/load/",
            Value::Null,
        )
        .await;
        let all_sealed = load["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("seq").is_some());
        if all_sealed && report["checked"].as_u64().unwrap() as usize >= WORKERS * PER_WORKER {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events stay unsealed: {report}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for server in servers {
        server.stop().await.unwrap();
    }
}

#[tokio::test]
async fn disabling_audit_outside_dev_warns_loudly() {
    let db = Initialized::new(Db::Sqlite).await;
    let root = db.root.clone();
    let [url, key] = db.env();
    let env = [url, key, ("CONFMGR_AUDIT_ENABLED", "false")];
    let server = ServerProcess::start(Path::new(BIN), &[], &env)
        .await
        .unwrap();
    assert!(
        server.stderr().contains("AUDIT IS DISABLED"),
        "{}",
        server.stderr()
    );
    assert_eq!(
        call(
            &server,
            &root,
            "POST",
            "/v1/secret/data/x",
            json!({"data": {"a": 1}})
        )
        .await
        .0,
        200
    );
    let (_, body) = call(&server, &root, "GET", "/v1/sys/audit/events", Value::Null).await;
    assert_eq!(body["data"]["events"], json!([]), "nothing recorded");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_binary_serves_https_and_refuses_plain_http_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::tls::ca("process CA");
    let files = crate::tls::write_server_cert(&ca, dir.path());
    let data = dir.path().join("d");
    let server = ServerProcess::start(
        Path::new(BIN),
        &["--dev", "--data-dir", data.to_str().unwrap()],
        &[
            ("CONFMGR_TLS_CERT", files.cert.to_str().unwrap()),
            ("CONFMGR_TLS_KEY", files.key.to_str().unwrap()),
        ],
    )
    .await
    .unwrap();
    assert!(
        server.stderr().contains("listening (https)"),
        "{}",
        server.stderr()
    );
    let url = format!("https://localhost:{}/v1/sys/health", server.addr().port());
    let response = crate::tls::client_trusting(&[&ca])
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await.unwrap();

    let key = RootKey::generate().to_base64();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let open = run(&[
        "--listen",
        "0.0.0.0:8200",
        "--database-url",
        &url,
        "--root-key",
        &key,
    ]);
    assert_eq!(open.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&open.stderr);
    assert!(
        stderr.contains("CONFMGR_LISTEN")
            && stderr.contains("CONFMGR_TLS_CERT")
            && stderr.contains("--insecure-http"),
        "{stderr}"
    );
    let half = run(&[
        "--database-url",
        &url,
        "--root-key",
        &key,
        "--tls-cert",
        files.cert.to_str().unwrap(),
    ]);
    assert_eq!(half.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&half.stderr).contains("set both"));
}

#[tokio::test]
async fn postgres_tls_failures_explain_themselves_and_stop_the_server() {
    let (url, _) = fresh_url(Db::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let key = RootKey::generate().to_base64();
    // The wrong CA: a CA of our own instead of the one that signed PostgreSQL's certificate.
    let stranger = crate::tls::ca("stranger CA");
    let stranger_path = dir.path().join("stranger.pem");
    std::fs::write(&stranger_path, &stranger.pem).unwrap();
    let root_param = url
        .split('&')
        .find(|p| p.starts_with("sslrootcert="))
        .unwrap()
        .to_owned();
    let wrong_ca = url.replace(
        &root_param,
        &format!("sslrootcert={}", stranger_path.display()),
    );
    let without_cert = confmgr_testkit::TestPostgres::without_client_cert(&url);
    let other_user = url.replacen("://confmgr@", "://someoneelse@", 1);
    assert_ne!(other_user, url, "the testkit logs in as confmgr: {url}");
    // An expired client certificate, caught before connecting.
    let expired_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "confmgr");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let expired = stranger.sign(params, &expired_key);
    let (expired_cert, expired_key_path) = (dir.path().join("old.pem"), dir.path().join("old.key"));
    std::fs::write(&expired_cert, expired.pem()).unwrap();
    std::fs::write(&expired_key_path, expired_key.serialize_pem()).unwrap();
    std::fs::set_permissions(
        &expired_key_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let param = |name: &str| {
        url.split(['?', '&'])
            .find(|p| p.starts_with(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    let expired_url = url
        .replace(
            &param("sslcert"),
            &format!("sslcert={}", expired_cert.display()),
        )
        .replace(
            &param("sslkey"),
            &format!("sslkey={}", expired_key_path.display()),
        );
    for (case, bad_url, expected) in [
        ("wrong CA", wrong_ca.as_str(), "not signed by sslrootcert"),
        (
            "no client certificate",
            without_cert.as_str(),
            "requires a client certificate",
        ),
        (
            "CN is not the user",
            other_user.as_str(),
            "the client certificate's CN is \"confmgr\" but the URL's user is \"someoneelse\"",
        ),
        (
            "expired client certificate",
            expired_url.as_str(),
            "the client certificate expired on 2021-01-01",
        ),
    ] {
        let out = run(&["migrate", "--database-url", bad_url, "--root-key", &key]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{case}");
        assert!(stderr.contains(expected), "{case}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{case}: one actionable line: {stderr}"
        );
    }
}

/// sqlx trusts the system's CA certificates besides `sslrootcert` (doc/tls.md, residual
/// trust); `SSL_CERT_FILE` replaces the system store, so pointing it at `sslrootcert`
/// leaves that CA alone trusted.
#[tokio::test]
async fn postgres_trust_is_sslrootcert_plus_the_system_store_unless_pinned() {
    let (url, _) = fresh_url(Db::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let key = RootKey::generate().to_base64();
    let stranger = crate::tls::ca("stranger CA");
    let stranger_path = dir.path().join("stranger.pem");
    std::fs::write(&stranger_path, &stranger.pem).unwrap();
    let real_root = url
        .split('&')
        .find_map(|p| p.strip_prefix("sslrootcert="))
        .unwrap()
        .to_owned();
    let stranger_root = url.replace(
        &format!("sslrootcert={real_root}"),
        &format!("sslrootcert={}", stranger_path.display()),
    );
    // SSL_CERT_DIR would add its CAs back; the pinned set-up unsets it.
    let migrate = |root_url: &str, system_store: &str| {
        let mut command = Command::new(BIN);
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("CONFMGR_")) {
            command.env_remove(name);
        }
        command
            .env_remove("SSL_CERT_DIR")
            .env("SSL_CERT_FILE", system_store)
            .args(["migrate", "--database-url", root_url, "--root-key", &key])
            .output()
            .unwrap()
    };

    // The CA that signed PostgreSQL's certificate only in the "system store": accepted.
    let out = migrate(&stranger_root, &real_root);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Pinned: the system store is sslrootcert itself, and that CA did not sign the server.
    let out = migrate(&stranger_root, &stranger_path.display().to_string());
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not signed by sslrootcert"));
    // Pinned to the right CA: accepted, and nothing else is trusted (no hint logged).
    let out = migrate(&url, &real_root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("system CA certificates"), "{stderr}");
    // The platform store (as on this machine) besides sslrootcert is named in the log.
    let out = run(&["migrate", "--database-url", &url, "--root-key", &key]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    if confmgr_store::system_roots_trusted(&url) > 0 {
        assert!(
            stderr.contains("system CA certificates; set SSL_CERT_FILE"),
            "{stderr}"
        );
    }
}

/// Days left on every certificate the server holds are exported on /metrics.
#[tokio::test]
async fn certificate_days_left_are_exported_as_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::tls::ca("metrics CA");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(42) + time::Duration::hours(1);
    let leaf = ca.sign(params, &key);
    let (cert, key_path, client_ca) = (
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        dir.path().join("client-ca.pem"),
    );
    std::fs::write(&cert, format!("{}{}", leaf.pem(), ca.pem)).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&client_ca, &ca.pem).unwrap();
    let data = dir.path().join("d");
    let server = ServerProcess::start(
        Path::new(BIN),
        &["--dev", "--data-dir", data.to_str().unwrap()],
        &[
            ("CONFMGR_TLS_CERT", cert.to_str().unwrap()),
            ("CONFMGR_TLS_KEY", key_path.to_str().unwrap()),
            ("CONFMGR_TLS_CLIENT_CA", client_ca.to_str().unwrap()),
        ],
    )
    .await
    .unwrap();
    let url = format!("https://localhost:{}/metrics", server.addr().port());
    let client = crate::tls::client_trusting(&[&ca]);
    // The first check runs as the server starts; give it a moment.
    let mut text = String::new();
    for _ in 0..50 {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        text = response.text().await.unwrap();
        if text.contains("CONFMGR_TLS_CLIENT_CA") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = |label: &str, path: &Path| {
        format!(
            "confmgr_certificate_days_left{{certificate=\"{label}\",path=\"{}\"}} 42",
            path.display()
        )
    };
    assert!(text.contains(&line("CONFMGR_TLS_CERT", &cert)), "{text}");
    // The CA made by rcgen's defaults is valid for much longer.
    assert!(
        text.contains("certificate=\"CONFMGR_TLS_CLIENT_CA\""),
        "{text}"
    );
    assert!(text.contains("confmgr_build_info{version="), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    server.stop().await.unwrap();
}

/// `--version` names the commit: the one checked out here (tests run from a git checkout,
/// so the build script found it), twelve hex characters.
#[test]
fn version_names_the_git_commit() {
    let output = Command::new(BIN).arg("--version").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    let expected = format!(
        "confmgr-server {} (commit {})\n",
        env!("CARGO_PKG_VERSION"),
        &head.trim()[..12]
    );
    assert_eq!(printed, expected);
}
