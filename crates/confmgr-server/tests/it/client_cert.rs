//! Client certificates on the HTTPS API: `auth/cert/login` maps a verified certificate to a
//! client by CN, DNS SAN or URI SAN; certificates from another CA, expired ones and none are
//! refused with a clear error and audited; `required` mode refuses every request without one.

use crate::harness::{send, Db, Options, TestApp};
use crate::tls::{ca, client_trusting, write_server_cert, Ca};
use confmgr_server::config::ClientAuth;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, SanType};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;

const APP_READ: &str = r#"path "secret/data/app/*" { capabilities = ["read"] }"#;

struct ClientCert {
    identity_pem: String,
    der: Vec<u8>,
}

impl ClientCert {
    fn fingerprint(&self) -> String {
        Sha256::digest(&self.der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn client_cert(issuer: &Ca, cn: &str, sans: Vec<SanType>, expired: bool) -> ClientCert {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = issuer.sign(params, &key);
    ClientCert {
        identity_pem: format!("{}{}", cert.pem(), key.serialize_pem()),
        der: cert.der().to_vec(),
    }
}

fn uri(value: &str) -> SanType {
    SanType::URI(value.try_into().unwrap())
}

fn presenting(server_ca: &Ca, cert: Option<&ClientCert>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .use_rustls_tls()
        .pool_max_idle_per_host(0)
        .add_root_certificate(reqwest::Certificate::from_pem(server_ca.pem.as_bytes()).unwrap());
    if let Some(cert) = cert {
        builder =
            builder.identity(reqwest::Identity::from_pem(cert.identity_pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// An HTTPS server whose client CA is `client_ca`, in `mode`.
async fn start(db: Db, dir: &Path, server_ca: &Ca, client_ca: &Ca, mode: ClientAuth) -> TestApp {
    let mut files = write_server_cert(server_ca, dir);
    let ca_path = dir.join("client-ca.pem");
    std::fs::write(&ca_path, &client_ca.pem).unwrap();
    files.client_ca = Some(ca_path);
    files.client_auth = mode;
    let mut app = TestApp::start_options(
        db,
        Options {
            tls: Some(files),
            ..Options::default()
        },
    )
    .await;
    // The root token's requests carry no certificate unless a test says so.
    app.client = client_trusting(&[server_ca]);
    app
}

async fn setup_clients(app: &TestApp) {
    for (path, body) in [
        (
            "/v1/sys/policies/acl/app-read",
            json!({ "policy": APP_READ }),
        ),
        (
            "/v1/auth/approle/role/build-bot",
            json!({ "token_policies": ["app-read"], "allowed_common_names": ["build-bot"] }),
        ),
        (
            "/v1/auth/approle/role/api",
            json!({ "token_policies": ["app-read"], "allowed_uri_sans": "spiffe://prod/ns/*/sa/api" }),
        ),
        (
            "/v1/secret/data/app/config",
            json!({ "data": { "greeting": "hello" } }),
        ),
    ] {
        let (status, answer) = app.call("POST", path, Some(body)).await;
        assert!(status == 200 || status == 204, "{path}: {status} {answer}");
    }
}

async fn cert_login(app: &TestApp, client: &reqwest::Client, body: Value) -> (u16, Value) {
    send(
        client
            .post(format!("{}/v1/auth/cert/login", app.base))
            .json(&body),
    )
    .await
}

/// The login events for this certificate fingerprint (or without any certificate).
async fn login_events(app: &TestApp, fingerprint: Option<&str>) -> Vec<Value> {
    let (status, body) = app
        .call(
            "GET",
            "/v1/sys/audit/events?limit=1000&operation=login",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mount"] == "auth/cert")
        .filter(|e| e["cert_fingerprint"].as_str() == fingerprint)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_certificate_from_the_client_ca_logs_in_as_its_client() {
    for db in [Db::Sqlite, Db::Postgres] {
        let dir = tempfile::tempdir().unwrap();
        let (server_ca, client_ca) = (ca("server CA"), ca("client CA"));
        let app = start(db, dir.path(), &server_ca, &client_ca, ClientAuth::Optional).await;
        setup_clients(&app).await;

        let bot = client_cert(&client_ca, "build-bot", vec![], false);
        let (status, body) = cert_login(&app, &presenting(&server_ca, Some(&bot)), json!({})).await;
        assert_eq!(status, 200, "{body}");
        let auth = &body["auth"];
        assert_eq!(auth["policies"], json!(["app-read", "default"]));
        assert_eq!(auth["metadata"]["cert_name"], "build-bot");
        assert_eq!(auth["metadata"]["common_name"], "build-bot");
        assert_eq!(auth["metadata"]["fingerprint"], bot.fingerprint());
        let token = auth["client_token"].as_str().unwrap();

        // The token reads what the client's policy allows, from a connection without a cert.
        let (status, body) = send(
            app.client
                .get(format!("{}/v1/secret/data/app/config", app.base))
                .header("X-Vault-Token", token),
        )
        .await;
        assert_eq!(
            (status, &body["data"]["data"]["greeting"]),
            (200, &json!("hello"))
        );
        let (status, _) = send(
            app.client
                .post(format!("{}/v1/secret/data/app/config", app.base))
                .header("X-Vault-Token", token)
                .json(&json!({"data": {"greeting": "changed"}})),
        )
        .await;
        assert_eq!(status, 403, "the policy allows reading only");

        // A SPIFFE id in a URI SAN matches the glob of the `api` client; its CN is ignored.
        let spiffe = client_cert(
            &client_ca,
            "whatever",
            vec![uri("spiffe://prod/ns/payments/sa/api")],
            false,
        );
        let (status, body) =
            cert_login(&app, &presenting(&server_ca, Some(&spiffe)), json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["auth"]["metadata"]["cert_name"], "api");

        // The login is audited with the certificate's subject and fingerprint.
        let events = login_events(&app, Some(&bot.fingerprint())).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["outcome"], "ok");
        assert_eq!(events[0]["actor_name"], "cert-build-bot");
        assert!(
            events[0]["cert_subject"]
                .as_str()
                .unwrap()
                .contains("CN=build-bot"),
            "{}",
            events[0]
        );
    }
}

#[tokio::test]
async fn refused_certificates_get_a_clear_error_and_an_audit_event() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca, other_ca) = (ca("server CA"), ca("client CA"), ca("other CA"));
    let app = start(
        Db::Sqlite,
        dir.path(),
        &server_ca,
        &client_ca,
        ClientAuth::Optional,
    )
    .await;
    setup_clients(&app).await;

    let stranger = client_cert(&other_ca, "build-bot", vec![], false);
    let expired = client_cert(&client_ca, "build-bot", vec![], true);
    let unknown = client_cert(&client_ca, "nobody", vec![], false);
    let cases = [
        (
            Some(&stranger),
            "not issued by a CA in CONFMGR_TLS_CLIENT_CA",
        ),
        (Some(&expired), "expired at 2021-01-01"),
        (
            Some(&unknown),
            "no client accepts this certificate (CN=nobody)",
        ),
        (None, "no client certificate was presented"),
    ];
    for (cert, want) in cases {
        let (status, body) = cert_login(&app, &presenting(&server_ca, cert), json!({})).await;
        assert_eq!(status, 400, "{body}");
        let message = body["errors"][0].as_str().unwrap_or_default();
        assert!(message.contains(want), "want {want:?} in {message:?}");
        assert!(body.get("auth").is_none_or(Value::is_null), "{body}");

        let fingerprint = cert.map(ClientCert::fingerprint);
        let events = login_events(&app, fingerprint.as_deref()).await;
        assert_eq!(events.len(), 1, "one audit event for {want}: {events:?}");
        assert_eq!(events[0]["outcome"], "denied", "{}", events[0]);
        assert_eq!(events[0]["status"], 400);
        assert_eq!(events[0]["actor_accessor"], "");
    }

    // No token was issued by any refused login.
    let raw = app.raw_db().await;
    let tokens: i64 =
        sqlx::query_scalar("select count(*) from tokens where display_name like 'cert-%'")
            .fetch_one(&raw)
            .await
            .unwrap();
    assert_eq!(tokens, 0);
}

#[tokio::test]
async fn a_certificate_matching_several_clients_needs_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (ca("server CA"), ca("client CA"));
    let app = start(
        Db::Sqlite,
        dir.path(),
        &server_ca,
        &client_ca,
        ClientAuth::Optional,
    )
    .await;
    setup_clients(&app).await;
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/build-bot-admin",
            Some(json!({ "allowed_common_names": ["build-*"] })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app
        .call("GET", "/v1/auth/approle/role/build-bot-admin", None)
        .await;
    assert_eq!(
        (status, &body["data"]["allowed_common_names"]),
        (200, &json!(["build-*"]))
    );

    let bot = client_cert(&client_ca, "build-bot", vec![], false);
    let client = presenting(&server_ca, Some(&bot));
    let (status, body) = cert_login(&app, &client, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("matches several clients (build-bot, build-bot-admin)"),
        "{body}"
    );
    let (status, body) = cert_login(&app, &client, json!({"name": "build-bot-admin"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["metadata"]["cert_name"], "build-bot-admin");

    // A catch-all pattern is refused and the stored client stays as it was.
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth/approle/role/build-bot-admin",
            Some(json!({ "allowed_common_names": ["*"] })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, body) = app
        .call("GET", "/v1/auth/approle/role/build-bot-admin", None)
        .await;
    assert_eq!(body["data"]["allowed_common_names"], json!(["build-*"]));
}

#[tokio::test]
async fn required_mode_refuses_requests_without_a_valid_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca, other_ca) = (ca("server CA"), ca("client CA"), ca("other CA"));
    let app = start(
        Db::Sqlite,
        dir.path(),
        &server_ca,
        &client_ca,
        ClientAuth::Required,
    )
    .await;
    let read = |client: reqwest::Client| {
        let (base, token) = (app.base.clone(), app.token.clone());
        async move {
            send(
                client
                    .get(format!("{base}/v1/auth/token/lookup-self"))
                    .header("X-Vault-Token", token),
            )
            .await
        }
    };

    let (status, body) = read(presenting(&server_ca, None)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("a client certificate is required"),
        "{body}"
    );
    let stranger = client_cert(&other_ca, "ops", vec![], false);
    let (status, body) = read(presenting(&server_ca, Some(&stranger))).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("not issued by a CA in CONFMGR_TLS_CLIENT_CA"),
        "{body}"
    );

    let ops = client_cert(&client_ca, "ops", vec![], false);
    let (status, body) = read(presenting(&server_ca, Some(&ops))).await;
    assert_eq!(status, 200, "{body}");

    // Probes answer without a certificate.
    let (status, _) =
        send(presenting(&server_ca, None).get(format!("{}/v1/sys/health", app.base))).await;
    assert_eq!(status, 200);

    // Both refusals are in the audit log, the second one with the stranger's fingerprint.
    let ops_client = presenting(&server_ca, Some(&ops));
    let (status, body) = send(
        ops_client
            .get(format!(
                "{}/v1/sys/audit/events?limit=1000&outcome=denied",
                app.base
            ))
            .header("X-Vault-Token", &app.token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let denied: Vec<&Value> = body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == "lookup-self")
        .collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied.iter().all(|e| e["status"] == 403));
    assert!(denied
        .iter()
        .any(|e| e["cert_fingerprint"] == json!(stranger.fingerprint())));
}
