//! Issue 22 (hardening): HTTP-layer errors, legacy digests, health, dev root token, keyring cap.
//! HTTP tests through a real socket, against SQLite and PostgreSQL over mutual TLS.

use crate::harness::{Db, TestApp, BOTH};
use crate::process::{root_token, Initialized, BIN};
use confmgr_server::services::keys::MAX_TERMS;
use confmgr_server::state::Limits;
use confmgr_testkit::ServerProcess;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer read off a raw socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the answer is `{"errors": [...]}` as JSON with this status; returns the errors.
    fn json_error(&self, status: u16, what: &str) -> Vec<String> {
        assert_eq!(self.status, status, "{what}: {self:?}");
        assert!(
            self.header("content-type")
                .is_some_and(|v| v.starts_with("application/json")),
            "{what}: content type: {self:?}"
        );
        let body: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {self:?}"));
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no errors array: {body}"));
        assert!(!errors.is_empty(), "{what}: errors say nothing: {body}");
        assert_eq!(
            self.header("content-length"),
            Some(self.body.len().to_string().as_str()),
            "{what}: {self:?}"
        );
        errors
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect()
    }
}

/// Sends `request` as is (what a client library would refuse to send) and reads one answer:
/// the head, then `content-length` bytes of body (or up to the close).
async fn raw(base: &str, request: &[u8]) -> Raw {
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // The server may answer (and close) before it has read everything: ignore write errors.
    let _ = stream.write_all(request).await;
    read_answer(&mut stream).await
}

async fn read_answer(stream: &mut tokio::net::TcpStream) -> Raw {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            let (status, headers) = parse_head(&buffer[..end]);
            let length = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map(|(_, v)| v.parse::<usize>().unwrap());
            let body_start = end + 4;
            let complete = match length {
                Some(n) => buffer.len() >= body_start + n,
                None => false,
            };
            if complete {
                let n = length.unwrap_or(0);
                return Raw {
                    status,
                    headers,
                    body: buffer[body_start..body_start + n].to_vec(),
                };
            }
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("an answer within 20 s");
        match read {
            // Closed before a full answer: what came is the answer.
            Ok(0) | Err(_) => return parse_closed(&buffer),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The status and headers (names lowercased) of an answer's head, without its blank line.
fn parse_head(head: &[u8]) -> (u16, Vec<(String, String)>) {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn get(path: &[u8], extra_headers: &[u8]) -> Vec<u8> {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(path);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    request.extend_from_slice(extra_headers);
    request.extend_from_slice(b"\r\n");
    request
}

/// Errors hyper answers itself, before any layer of ours sees the request.
#[tokio::test]
async fn errors_from_hyper_have_json_bodies() {
    let app = TestApp::start(Db::Sqlite).await;
    let token = format!("X-Vault-Token: {}\r\n", app.token);
    let long_uri = format!("/v1/secret/data/{}", "a".repeat(70_000));
    let big_header = format!("X-Big: {}\r\n", "b".repeat(600_000));
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "raw non-UTF-8 byte in the path",
            get(b"/v1/secret/data/\xff\xfe", token.as_bytes()),
            400,
        ),
        (
            "CR inside a header value",
            get(b"/v1/sys/health", b"X-A: a\rb\r\n"),
            400,
        ),
        (
            "NUL inside a header value",
            get(b"/v1/sys/health", b"X-A: a\0b\r\n"),
            400,
        ),
        (
            "header name with a space",
            get(b"/v1/sys/health", b"X A: b\r\n"),
            400,
        ),
        ("malformed request line", b"GET\r\n\r\n".to_vec(), 400),
        (
            "bad content-length",
            get(b"/v1/sys/health", b"Content-Length: abc\r\n"),
            400,
        ),
        ("URI over 64 KiB", get(long_uri.as_bytes(), b""), 414),
        (
            "header section too large",
            get(b"/v1/sys/health", big_header.as_bytes()),
            431,
        ),
        (
            "too many headers",
            get(b"/v1/sys/health", many_headers.as_bytes()),
            431,
        ),
    ];
    for (what, request, status) in cases {
        let answer = raw(&app.base, &request).await;
        answer.json_error(status, what);
        let id = answer.header("x-request-id").unwrap_or_default();
        assert!(uuid::Uuid::try_parse(id).is_ok(), "{what}: {answer:?}");
    }
}

/// The head and body of one answer in `bytes` (what was read before the server closed).
fn parse_closed(bytes: &[u8]) -> Raw {
    let end = find(bytes, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no full answer: {:?}", String::from_utf8_lossy(bytes)));
    let (status, headers) = parse_head(&bytes[..end]);
    Raw {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    }
}

/// Over HTTPS, hyper's own errors are rewritten inside TLS.
#[tokio::test]
async fn errors_from_hyper_have_json_bodies_over_https() {
    use std::io::{Read, Write};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::tls::ca("hardening CA");
    let app = TestApp::start_tls(Db::Sqlite, crate::tls::write_server_cert(&ca, dir.path())).await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    for (what, request, status) in [
        (
            "too many headers",
            get(b"/v1/sys/health", many_headers.as_bytes()),
            431,
        ),
        (
            "NUL inside a header value",
            get(b"/v1/sys/health", b"X-A: a\0b\r\n"),
            400,
        ),
    ] {
        let pem = ca.pem.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
            let socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut tls = rustls::StreamOwned::new(connection, socket);
            let _ = tls.write_all(&request);
            let mut out = Vec::new();
            // The server closes after the answer, perhaps without close_notify.
            let _ = tls.read_to_end(&mut out);
            out
        })
        .await
        .unwrap();
        parse_closed(&bytes).json_error(status, what);
    }
}

/// Errors from our own layers, the router and extractors.
#[tokio::test]
async fn errors_from_the_router_layers_and_extractors_have_json_bodies() {
    let app = TestApp::start_with(
        Db::Sqlite,
        Limits {
            max_body_bytes: 1024,
            request_timeout: Duration::from_millis(500),
        },
    )
    .await;
    let token = format!("X-Vault-Token: {}\r\n", app.token);
    let post = |path: &str, body: &str, content_type: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{token}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let too_big = format!("{{\"data\":{{\"k\":\"{}\"}}}}", "x".repeat(4096));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unknown route", get(b"/nope", b""), 404),
        ("unknown method on a route", b"DELETE /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), 405),
        ("odd method token", b"FROB /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), 405),
        ("percent-encoded non-UTF-8 path", get(b"/v1/secret/data/%ff%fe", token.as_bytes()), 400),
        ("query that does not parse", get(b"/v1/secret/data/x?version=abc", token.as_bytes()), 400),
        ("body over the limit", post("/v1/secret/data/x", &too_big, "application/json"), 413),
        ("JSON that does not parse", post("/v1/secret/data/x", "{", "application/json"), 400),
        ("bad chunked body", format!("POST /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{token}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").into_bytes(), 400),
    ];
    for (what, request, status) in cases {
        let answer = raw(&app.base, &request).await;
        answer.json_error(status, what);
    }
    // A body that never arrives: the request timeout answers.
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/secret/data/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{token}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"data\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await;
    let errors = answer.json_error(503, "request timeout");
    assert_eq!(errors, ["request timed out"]);
}

#[tokio::test]
async fn request_ids_that_are_not_printable_ascii_are_replaced_and_long_ones_cut() {
    let app = TestApp::start(Db::Sqlite).await;
    let token = format!("X-Vault-Token: {}\r\n", app.token);
    let non_ascii = raw(
        &app.base,
        &get(
            b"/v1/secret/data/rid",
            format!("{token}X-Request-Id: café\r\n").as_bytes(),
        ),
    )
    .await;
    let replaced = non_ascii.header("x-request-id").unwrap();
    assert!(
        uuid::Uuid::try_parse(replaced).is_ok(),
        "a generated id instead: {non_ascii:?}"
    );
    let long = "r".repeat(300);
    let cut = raw(
        &app.base,
        &get(
            b"/v1/secret/data/rid",
            format!("{token}X-Request-Id: {long}\r\n").as_bytes(),
        ),
    )
    .await;
    assert_eq!(cut.header("x-request-id"), Some(&long[..200]), "{cut:?}");
    let (status, events) = app
        .call("GET", "/v1/sys/audit/events?limit=1000", None)
        .await;
    assert_eq!(status, 200, "{events}");
    let ids: Vec<&str> = events["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == "data/rid")
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{events}");
    assert!(ids.contains(&replaced), "{ids:?}");
    assert!(ids.contains(&&long[..200]), "{ids:?}");
}

#[tokio::test]
async fn a_leading_double_slash_in_a_secret_path_is_refused() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let body = json!({"data": {"k": "v"}});
        for (method, path) in [
            ("POST", "/v1/secret/data//app"),
            ("GET", "/v1/secret/data//app"),
            ("DELETE", "/v1/secret/data//app"),
            ("GET", "/v1/secret/metadata//app"),
            ("LIST", "/v1/secret/metadata//app/"),
            ("LIST", "/v1/secret/metadata//"),
            ("GET", "/v1/secret/subkeys//app"),
            ("POST", "/v1/secret/destroy//app"),
        ] {
            let sent = match method {
                "POST" if path.contains("destroy") => Some(json!({"versions": [1]})),
                "POST" => Some(body.clone()),
                _ => None,
            };
            let (status, answer) = app.call(method, path, sent).await;
            assert_eq!(status, 400, "{db:?} {method} {path}: {answer}");
            assert_eq!(
                answer["errors"][0], "secret path has an empty segment ('//')",
                "{db:?} {method} {path}"
            );
        }
        let (status, answer) = app.call("GET", "/v1/secret/data/app", None).await;
        assert_eq!(status, 404, "{db:?}: nothing was written: {answer}");
        // The ordinary spellings still work.
        let (status, _) = app.call("POST", "/v1/secret/data/app", Some(body)).await;
        assert_eq!(status, 200, "{db:?}");
        let (status, answer) = app.call("LIST", "/v1/secret/metadata/", None).await;
        assert_eq!(status, 200, "{db:?}: {answer}");
        assert_eq!(answer["data"]["keys"], json!(["app"]), "{db:?}");
    }
}

#[tokio::test]
async fn health_activecode_accepts_only_final_statuses() {
    let app = TestApp::start(Db::Sqlite).await;
    for code in [200, 204, 299, 429, 473, 503, 599] {
        let (status, body) = app
            .call("GET", &format!("/v1/sys/health?activecode={code}"), None)
            .await;
        assert_eq!(status, code, "{code}: {body}");
    }
    for bad in [
        "0", "1", "99", "100", "101", "199", "600", "999", "1000", "70000", "-1", "abc", "",
    ] {
        let (status, body) = app
            .call("GET", &format!("/v1/sys/health?activecode={bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(
            body["errors"][0], "activecode must be an HTTP status from 200 to 599",
            "{bad:?}"
        );
    }
    let (status, _) = app.call("GET", "/v1/sys/health", None).await;
    assert_eq!(status, 200);
}

async fn key_status(app: &TestApp) -> Value {
    let (status, body) = app.call("GET", "/v1/sys/keys/status", None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn the_keyring_cannot_grow_past_its_cap() {
    for db in BOTH {
        let app = TestApp::start(db).await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/secret/data/kept",
                Some(json!({"data": {"k": "v"}})),
            )
            .await;
        assert_eq!(status, 200);
        for expected in 2..=MAX_TERMS {
            let (status, body) = app.call("POST", "/v1/sys/keys/rotate", None).await;
            assert_eq!(status, 200, "{db:?} rotation to term {expected}: {body}");
            assert_eq!(body["data"]["term"], expected, "{db:?}");
        }
        let (status, body) = app.call("POST", "/v1/sys/keys/rotate", None).await;
        assert_eq!(status, 400, "{db:?}: {body}");
        let message = body["errors"][0].as_str().unwrap();
        assert!(
            message.contains(&format!("holds {MAX_TERMS} terms"))
                && message.contains("1 older terms still wrap data keys")
                && message.contains("run the rewrap first (`confmgr keys rewrap --follow`)"),
            "{db:?}: {message}"
        );
        assert_eq!(
            key_status(&app).await["terms"].as_array().unwrap().len(),
            MAX_TERMS
        );

        // After the rewrap nothing older wraps data: retiring is what makes room.
        let (status, _) = app.call("POST", "/v1/sys/keys/rewrap", None).await;
        assert_eq!(status, 204);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while key_status(&app).await["rewrap"]["running"] == true {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{db:?}: rewrap did not finish"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, body) = app.call("POST", "/v1/sys/keys/rotate", None).await;
        assert_eq!(status, 400, "{db:?}: {body}");
        let message = body["errors"][0].as_str().unwrap();
        assert!(
            message.contains(&format!("retire the {} older terms", MAX_TERMS - 1))
                && !message.contains("rewrap"),
            "{db:?}: {message}"
        );
        // Retire (directly: `keys retire` waits 10 s after the newest rotation) and rotate.
        let mut tx = app.store.begin_write().await.unwrap();
        for term in 1..i64::try_from(MAX_TERMS).unwrap() {
            assert!(tx.delete_term(term).await.unwrap());
        }
        tx.commit().await.unwrap();
        let (status, body) = app.call("POST", "/v1/sys/keys/rotate", None).await;
        assert_eq!(status, 200, "{db:?}: {body}");
        let (status, body) = app.call("GET", "/v1/secret/data/kept", None).await;
        assert_eq!(
            (status, &body["data"]["data"]),
            (200, &json!({"k": "v"})),
            "{db:?}"
        );
    }
}

/// The status of `token`'s own `auth/token/{op}` (`revoke-self` by POST, `lookup-self` by GET).
async fn token_self(server: &ServerProcess, op: &str, token: &str) -> u16 {
    let url = format!("{}/v1/auth/token/{op}", server.url());
    let client = reqwest::Client::new();
    let request = match op {
        "revoke-self" => client.post(url),
        _ => client.get(url),
    };
    let response = request.header("X-Vault-Token", token).send().await.unwrap();
    response.status().as_u16()
}

async fn revoke_self(server: &ServerProcess, token: &str) -> u16 {
    token_self(server, "revoke-self", token).await
}

async fn lookup_self(server: &ServerProcess, token: &str) -> u16 {
    token_self(server, "lookup-self", token).await
}

#[tokio::test]
async fn a_revoked_dev_root_token_is_not_brought_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dev");
    let data = data.to_str().unwrap();
    let fixed = "dev-root-revoked-later";
    let args = ["--dev", "--data-dir", data, "--dev-root-token", fixed];
    let server = ServerProcess::start(Path::new(BIN), &args, &[])
        .await
        .unwrap();
    assert_eq!(root_token(&server.stdout()).as_deref(), Some(fixed));
    assert_eq!(lookup_self(&server, fixed).await, 200);
    assert_eq!(revoke_self(&server, fixed).await, 204);
    assert_eq!(lookup_self(&server, fixed).await, 403);
    server.stop().await.unwrap();

    let refused = ServerProcess::start(Path::new(BIN), &args, &[]).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("--dev-root-token")
            && message.contains("this token was revoked")
            && message.contains("never brought back")
            && message.contains("delete the dev data directory"),
        "the start is refused, saying what to do: {message}"
    );

    // Another fixed token, or none, starts; the revoked one stays revoked.
    let other = "dev-root-other";
    let server = ServerProcess::start(
        Path::new(BIN),
        &["--dev", "--data-dir", data, "--dev-root-token", other],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(lookup_self(&server, other).await, 200);
    assert_eq!(lookup_self(&server, fixed).await, 403);
    server.stop().await.unwrap();
}

/// The forms a legacy id could be written in.
fn spellings(id: &str) -> Vec<String> {
    let parsed = uuid::Uuid::parse_str(id).unwrap();
    vec![
        id.to_owned(),
        id.to_uppercase(),
        parsed.simple().to_string(),
        id.split('-').next().unwrap().to_owned() + "-" + id.split('-').nth(1).unwrap(),
    ]
}

async fn legacy_post(
    server: &ServerProcess,
    token: Option<&str>,
    route: &str,
    body: Value,
    request_id: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{route}", server.url()))
        .header("X-Request-Id", request_id)
        .json(&body);
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    crate::harness::send(request).await
}

#[tokio::test]
async fn legacy_ids_appear_only_as_stable_digests_in_audit_and_logs() {
    for db in BOTH {
        for mode in ["token", "open"] {
            let init = Initialized::new(db).await;
            let (url, root) = (init.url.clone(), init.root.clone());
            let dir = tempfile::tempdir().unwrap();
            let audit_file = dir.path().join("audit.jsonl");
            let [database, key] = init.env();
            let env = [
                database,
                key,
                ("CONFMGR_LEGACY_API", mode),
                ("CONFMGR_AUDIT_FILE", audit_file.to_str().unwrap()),
                ("CONFMGR_LOG", "debug"),
                ("CONFMGR_LOG_FORMAT", "json"),
            ];
            let what = format!("{db:?} {mode}");
            let server = ServerProcess::start(Path::new(BIN), &[], &env)
                .await
                .unwrap();
            let token = (mode == "token").then_some(root.as_str());
            let secret = json!({"secret": "c2VjcmV0LXZhbHVl"});
            let (status, one) = legacy_post(
                &server,
                token,
                "/vault/secret/create/",
                secret.clone(),
                "create-1",
            )
            .await;
            assert_eq!(status, 200, "{what}: {one}");
            let (status, two) = legacy_post(
                &server,
                token,
                "/vault/secret/create",
                secret.clone(),
                "create-2",
            )
            .await;
            assert_eq!(status, 200, "{what}: {two}");
            let one = one["secret_id"].as_str().unwrap().to_owned();
            let two = two["secret_id"].as_str().unwrap().to_owned();
            for (route, id, request_id) in [
                ("/vault/secret/fetch", &one, "fetch-1a"),
                ("/vault/secret/fetch/", &one.to_uppercase(), "fetch-1b"),
                ("/vault/secret/fetch", &two, "fetch-2"),
            ] {
                let (status, body) =
                    legacy_post(&server, token, route, json!({"secret_id": id}), request_id).await;
                assert_eq!(status, 200, "{what} {request_id}: {body}");
            }
            // The KV API names the same secret: its events carry the same digest.
            let (status, _) = crate::harness::send(
                reqwest::Client::new()
                    .get(format!("{}/v1/secret/data/legacy/{one}", server.url()))
                    .header("X-Vault-Token", &root)
                    .header("X-Request-Id", "kv-read-1"),
            )
            .await;
            assert_eq!(status, 200, "{what}");
            if mode == "token" {
                // A token without the policy: a denial, logged without the path.
                let (status, body) = crate::harness::send(
                    reqwest::Client::new()
                        .post(format!("{}/v1/auth/token/create", server.url()))
                        .header("X-Vault-Token", &root)
                        .json(&json!({"policies": ["default"]})),
                )
                .await;
                assert_eq!(status, 200, "{body}");
                let weak = body["auth"]["client_token"].as_str().unwrap().to_owned();
                let (status, _) = legacy_post(
                    &server,
                    Some(&weak),
                    "/vault/secret/fetch",
                    json!({"secret_id": one}),
                    "denied-1",
                )
                .await;
                assert_eq!(status, 403, "{what}");
            }
            // Request ids in the logs: a long one cut to 200 characters, a non-ASCII one
            // replaced (no line has an empty id).
            for id in [
                "L".repeat(300).into_bytes(),
                "caf\u{e9}".as_bytes().to_vec(),
            ] {
                let (status, _) = crate::harness::send(
                    reqwest::Client::new()
                        .get(format!("{}/v1/auth/token/lookup-self", server.url()))
                        .header("X-Vault-Token", &root)
                        .header(
                            "X-Request-Id",
                            reqwest::header::HeaderValue::from_bytes(&id).unwrap(),
                        ),
                )
                .await;
                assert_eq!(status, 200, "{what}");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut stderr = server.stderr();
            server.stop().await.unwrap();
            let cut = format!("\"request_id\":\"{}\"", "L".repeat(200));
            assert!(stderr.contains(&cut), "{what}: {stderr}");
            assert!(!stderr.contains(&"L".repeat(201)), "{what}");
            assert!(!stderr.contains("\"request_id\":\"\""), "{what}: {stderr}");
            // Stable across restarts.
            let server = ServerProcess::start(Path::new(BIN), &[], &env)
                .await
                .unwrap();
            let (status, _) = legacy_post(
                &server,
                token,
                "/vault/secret/fetch",
                json!({"secret_id": one}),
                "fetch-1-restarted",
            )
            .await;
            assert_eq!(status, 200, "{what}");
            let (status, events) = crate::harness::send(
                reqwest::Client::new()
                    .get(format!("{}/v1/sys/audit/events?limit=1000", server.url()))
                    .header("X-Vault-Token", &root),
            )
            .await;
            assert_eq!(status, 200, "{what}: {events}");
            // Stored metadata edited (as with write access to the database): the ERROR line
            // that reports it names the secret by its digest too.
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let edited = sqlx::query("update kv_secrets set max_versions = 7 where path = $1")
                .bind(format!("legacy/{two}"))
                .execute(&pool)
                .await
                .unwrap();
            assert_eq!(edited.rows_affected(), 1, "{what}");
            pool.close().await;
            let (status, body) = legacy_post(
                &server,
                token,
                "/vault/secret/fetch",
                json!({"secret_id": two}),
                "fetch-2-edited",
            )
            .await;
            assert_eq!(status, 500, "{what}: {body}");
            tokio::time::sleep(Duration::from_millis(300)).await;
            stderr.push_str(&server.stderr());
            server.stop().await.unwrap();
            let file = std::fs::read_to_string(&audit_file).unwrap();
            let api = events.to_string();
            for id in [&one, &two] {
                for spelling in spellings(id) {
                    for (place, text) in [
                        ("audit API", &api),
                        ("audit file", &file),
                        ("logs", &stderr),
                    ] {
                        assert!(
                            !text.contains(&spelling),
                            "{what}: the id {spelling} is in the {place}:\n{text}"
                        );
                    }
                }
            }
            // A legacy path is logged only by that ERROR line, and only as a digest.
            let lines: Vec<Value> = stderr
                .lines()
                .filter(|line| line.contains("legacy/"))
                .map(|line| serde_json::from_str(line).unwrap())
                .collect();
            assert_eq!(lines.len(), 1, "{what}: {lines:?}");
            assert_eq!(lines[0]["level"], "ERROR", "{what}: {lines:?}");
            let fields = &lines[0]["fields"];
            assert!(
                fields["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("secret metadata does not match its MAC"),
                "{what}: {fields}"
            );
            let logged = format!("data/{}", fields["path"].as_str().unwrap());
            if mode == "token" {
                assert!(stderr.contains("permission denied"), "{what}: {stderr}");
            }
            let path_of = |request_id: &str| -> String {
                let events = events["data"]["events"].as_array().unwrap();
                let found: Vec<&Value> = events
                    .iter()
                    .filter(|e| e["request_id"] == request_id)
                    .collect();
                assert_eq!(found.len(), 1, "{what} {request_id}: {events:?}");
                found[0]["path"].as_str().unwrap().to_owned()
            };
            let first = path_of("create-1");
            assert!(
                first.starts_with("data/legacy/hmac:")
                    && first.len() == "data/legacy/hmac:".len() + 32,
                "{what}: {first}"
            );
            for same in ["fetch-1a", "fetch-1b", "kv-read-1", "fetch-1-restarted"] {
                assert_eq!(path_of(same), first, "{what} {same}: same id, same digest");
            }
            if mode == "token" {
                assert_eq!(path_of("denied-1"), first, "{what}");
            }
            assert_eq!(path_of("fetch-2"), path_of("create-2"), "{what}");
            assert_eq!(
                logged,
                path_of("create-2"),
                "{what}: the log names the digest"
            );
            assert_ne!(
                path_of("create-2"),
                first,
                "{what}: another id, another digest"
            );
            // The file mirror holds the same events.
            assert!(file.contains(&first), "{what}: {file}");
        }
    }
}
