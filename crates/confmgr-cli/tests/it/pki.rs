//! `confmgr pki`: the files it writes, what the certificates say (read back with
//! x509-parser), and that rustls accepts them in a real (in-memory) mutual-TLS handshake.

use crate::harness::{exec_at, Run};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig};
use rustls::{ServerConnection, SignatureScheme};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::x509::X509Version;

/// Runs `confmgr pki ARGS --dir DIR --format json` (no server involved).
async fn pki(dir: &Path, args: &[&str]) -> Run {
    let config = tempfile::tempdir().unwrap();
    let dir = dir.to_str().unwrap();
    let mut all = vec!["pki"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--dir", dir, "--format", "json"]);
    exec_at("http://127.0.0.1:1", config.path(), &all, None, None).await
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn pems(path: &Path) -> Vec<Pem> {
    Pem::iter_from_buffer(&std::fs::read(path).unwrap())
        .map(Result::unwrap)
        .collect()
}

fn x509(pem: &Pem) -> X509Certificate<'_> {
    pem.parse_x509().unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[track_caller]
fn assert_valid_for_days(cert: &X509Certificate<'_>, days: i64) {
    let validity = cert.validity();
    let now = now();
    assert!(validity.not_before.timestamp() <= now);
    let left = validity.not_after.timestamp() - now;
    assert!(
        (left - days * 86_400).abs() < 600,
        "{left} seconds left, expected {days} days"
    );
}

fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let ext = cert.subject_alternative_name().unwrap().unwrap();
    ext.value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(n) => format!("DNS:{n}"),
            GeneralName::URI(u) => format!("URI:{u}"),
            GeneralName::IPAddress(ip) => format!("IP:{ip:?}"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// A CA, a server and a client certificate in a fresh directory.
async fn issue_all(root: &Path) -> std::path::PathBuf {
    let dir = root.join("pki");
    pki(&dir, &["init", "--cn", "Test CA", "--days", "30"])
        .await
        .ok();
    pki(
        &dir,
        &[
            "issue",
            "server",
            "--dns",
            "localhost",
            "--dns",
            "postgres",
            "--ip",
            "127.0.0.1",
        ],
    )
    .await
    .ok();
    pki(
        &dir,
        &[
            "issue",
            "client",
            "--cn",
            "confmgr",
            "--uri",
            "spiffe://confmgr.local/app",
            "--days",
            "10",
            "--out",
            "pg",
        ],
    )
    .await
    .ok();
    dir
}

#[tokio::test]
async fn issues_v3_certificates_with_sans_and_usages() {
    let root = tempfile::tempdir().unwrap();
    let dir = issue_all(root.path()).await;

    // Keys are 0600; directory 0700 (created by init).
    assert_eq!(mode(&dir), 0o700);
    for key in ["ca-key.pem", "server-key.pem", "pg-key.pem"] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }
    for cert in ["ca.pem", "server.pem", "server-chain.pem", "pg.pem"] {
        assert_eq!(mode(&dir.join(cert)) & 0o077, 0o044, "{cert}");
    }

    let ca_pem = pems(&dir.join("ca.pem"));
    assert_eq!(ca_pem.len(), 1);
    let ca = x509(&ca_pem[0]);
    assert_eq!(ca.version(), X509Version::V3);
    assert!(ca.is_ca());
    assert_eq!(ca.subject().to_string(), "CN=Test CA");
    assert_eq!(ca.issuer().as_raw(), ca.subject().as_raw());
    assert!(ca.key_usage().unwrap().unwrap().value.key_cert_sign());
    assert_valid_for_days(&ca, 30);

    let server_pem = pems(&dir.join("server.pem"));
    let server = x509(&server_pem[0]);
    assert_eq!(server.version(), X509Version::V3);
    assert!(!server.is_ca());
    assert_eq!(server.subject().to_string(), "CN=localhost");
    assert_eq!(server.issuer().as_raw(), ca.subject().as_raw());
    server.verify_signature(Some(ca.public_key())).unwrap();
    assert_eq!(
        sans(&server),
        ["DNS:localhost", "DNS:postgres", "IP:[127, 0, 0, 1]"]
    );
    let eku = server.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    assert_valid_for_days(&server, 397);

    let client_pem = pems(&dir.join("pg.pem"));
    let client = x509(&client_pem[0]);
    assert_eq!(client.version(), X509Version::V3);
    assert_eq!(client.subject().to_string(), "CN=confmgr");
    assert_eq!(client.issuer().as_raw(), ca.subject().as_raw());
    client.verify_signature(Some(ca.public_key())).unwrap();
    assert_eq!(sans(&client), ["URI:spiffe://confmgr.local/app"]);
    let eku = client.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_valid_for_days(&client, 10);

    // The chain file is the leaf followed by the CA, byte for byte.
    for out in ["server", "pg"] {
        let chain = std::fs::read_to_string(dir.join(format!("{out}-chain.pem"))).unwrap();
        let leaf = std::fs::read_to_string(dir.join(format!("{out}.pem"))).unwrap();
        let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
        assert_eq!(chain, format!("{leaf}{ca}"));
        assert_eq!(pems(&dir.join(format!("{out}-chain.pem"))).len(), 2);
    }

    // The keys match the certificates.
    let key = PrivateKeyDer::from_pem_file(dir.join("server-key.pem")).unwrap();
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    assert!(signer
        .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
        .is_some());
}

#[tokio::test]
async fn reports_what_it_wrote() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pki");
    let run = pki(&dir, &["init"]).await.ok();
    let json = run.json();
    assert_eq!(json["certificate"]["subject"], "CN=ConfMgr Development CA");
    assert_eq!(json["certificate"]["is_ca"], true);
    assert_eq!(json["files"][1]["mode"], "0600");
    let run = pki(
        &dir,
        &["issue", "server", "--ip", "127.0.0.1", "--ip", "::1"],
    )
    .await
    .ok();
    let json = run.json();
    let cert = &json["certificate"];
    assert_eq!(cert["subject"], "CN=127.0.0.1");
    assert_eq!(cert["issuer"], "CN=ConfMgr Development CA");
    assert_eq!(cert["sans"], serde_json::json!(["IP:127.0.0.1", "IP:::1"]));
    assert_eq!(cert["usages"], serde_json::json!(["serverAuth"]));
    assert!(cert["not_after"].as_str().unwrap().ends_with('Z'));
    let paths: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 3);
    assert!(paths[2].ends_with("server-chain.pem"));

    // The table rendering names the files, subject, SANs and expiry.
    let config = tempfile::tempdir().unwrap();
    let d = dir.to_str().unwrap();
    let args = [
        "pki",
        "issue",
        "client",
        "--cn",
        "app",
        "--dns",
        "app.local",
        "--dir",
        d,
        "--format",
        "table",
        "--key-type",
        "ed25519",
    ];
    let run = exec_at("http://127.0.0.1:1", config.path(), &args, None, None)
        .await
        .ok();
    for needle in [
        "client-key.pem",
        "(mode 0600)",
        "client-chain.pem",
        "CN=app",
        "DNS:app.local",
        "clientAuth",
        "ed25519",
        "expires",
    ] {
        assert!(run.stdout.contains(needle), "{needle}:\n{}", run.stdout);
    }
}

#[tokio::test]
async fn refuses_to_overwrite_without_force() {
    let root = tempfile::tempdir().unwrap();
    let dir = issue_all(root.path()).await;
    let ca_before = std::fs::read(dir.join("ca.pem")).unwrap();
    let key_before = std::fs::read(dir.join("server-key.pem")).unwrap();

    let run = pki(&dir, &["init"]).await.fails();
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    let run = pki(&dir, &["issue", "server", "--dns", "localhost"])
        .await
        .fails();
    assert!(
        run.stderr.contains("server.pem already exists"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(dir.join("ca.pem")).unwrap(), ca_before);
    assert_eq!(
        std::fs::read(dir.join("server-key.pem")).unwrap(),
        key_before
    );

    // --force replaces, and a replaced key is still 0600 even if the old file was wider.
    std::fs::set_permissions(
        dir.join("server-key.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    pki(&dir, &["issue", "server", "--dns", "localhost", "--force"])
        .await
        .ok();
    assert_ne!(
        std::fs::read(dir.join("server-key.pem")).unwrap(),
        key_before
    );
    assert_eq!(mode(&dir.join("server-key.pem")), 0o600);
    assert_eq!(std::fs::read(dir.join("ca.pem")).unwrap(), ca_before);
}

#[tokio::test]
async fn clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pki");
    let run = pki(&dir, &["issue", "server", "--dns", "localhost"])
        .await
        .fails();
    assert!(
        run.stderr.contains("run `confmgr pki init --dir"),
        "{}",
        run.stderr
    );
    assert!(!dir.join("server.pem").exists());

    pki(&dir, &["init"]).await.ok();
    for (args, expected) in [
        (
            &["issue", "server"][..],
            "at least one --dns NAME or --ip ADDR",
        ),
        (
            &["issue", "server", "--ip", "localhost"],
            "is not an IP address",
        ),
        (
            &["issue", "server", "--ip", "1.2.3.300"],
            "is not an IP address",
        ),
        (
            &["issue", "server", "--dns", "127.0.0.1"],
            "pass it with --ip",
        ),
        (
            &["issue", "server", "--dns", "bad name"],
            "not a valid DNS name",
        ),
        (&["issue", "client", "--cn", " "], "common name"),
        (
            &["issue", "client", "--cn", "x", "--uri", "nope"],
            "is not a URI",
        ),
        (&["issue", "client", "--cn", "x", "--out", "ca"], "--out ca"),
    ] {
        let run = pki(&dir, args).await.fails();
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    // A key that does not belong to the CA certificate.
    let other = root.path().join("other");
    pki(&other, &["init"]).await.ok();
    std::fs::copy(other.join("ca-key.pem"), dir.join("ca-key.pem")).unwrap();
    let run = pki(&dir, &["issue", "server", "--dns", "x"]).await.fails();
    assert!(run.stderr.contains("does not belong to"), "{}", run.stderr);
    // Usage errors exit 2.
    let run = pki(&dir, &["issue", "client"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn roots(ca: &Path) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca) {
        roots.add(cert).unwrap();
    }
    Arc::new(roots)
}

/// A server presenting `chain`/`key` and requiring client certificates from `client_ca`.
fn server_config(chain: &Path, key: &Path, client_ca: &Path) -> Arc<ServerConfig> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(client_ca), provider())
        .build()
        .unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(chain), PrivateKeyDer::from_pem_file(key).unwrap())
        .unwrap();
    Arc::new(config)
}

/// A client trusting only `ca`, presenting `chain`/`key`.
fn client_config(ca: &Path, chain: &Path, key: &Path) -> Arc<ClientConfig> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(certs(chain), PrivateKeyDer::from_pem_file(key).unwrap())
        .unwrap();
    Arc::new(config)
}

/// Moves TLS records from one connection to the other; errors of the receiver.
fn transfer(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut slice = &buf[..];
    while !slice.is_empty() {
        to.read_tls(&mut slice).unwrap();
        to.process_new_packets()?;
    }
    Ok(())
}

/// An in-memory handshake to `host`, then one message each way.
fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    host: &str,
) -> Result<(), rustls::Error> {
    let name = ServerName::try_from(host.to_owned()).unwrap();
    let mut client = Connection::Client(ClientConnection::new(client, name).unwrap());
    let mut server = Connection::Server(ServerConnection::new(server).unwrap());
    for _ in 0..10 {
        transfer(&mut client, &mut server)?;
        transfer(&mut server, &mut client)?;
        if !client.is_handshaking() && !server.is_handshaking() {
            client.writer().write_all(b"ping").unwrap();
            transfer(&mut client, &mut server)?;
            let mut got = [0u8; 4];
            server.reader().read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping");
            return Ok(());
        }
    }
    panic!("the handshake did not finish");
}

#[tokio::test]
async fn rustls_completes_a_mutual_tls_handshake() {
    let root = tempfile::tempdir().unwrap();
    let dir = issue_all(root.path()).await;
    let other = root.path().join("other");
    pki(&other, &["init", "--cn", "Another CA"]).await.ok();
    pki(&other, &["issue", "client", "--cn", "confmgr"])
        .await
        .ok();

    let server = server_config(
        &dir.join("server-chain.pem"),
        &dir.join("server-key.pem"),
        &dir.join("ca.pem"),
    );
    let client = client_config(
        &dir.join("ca.pem"),
        &dir.join("pg-chain.pem"),
        &dir.join("pg-key.pem"),
    );
    // By DNS name and by IP address (IP SAN).
    for host in ["localhost", "postgres", "127.0.0.1"] {
        handshake(client.clone(), server.clone(), host).unwrap_or_else(|e| panic!("{host}: {e}"));
    }

    // A name that is not among the SANs.
    let err = handshake(client.clone(), server.clone(), "example.com").unwrap_err();
    assert!(
        matches!(err, rustls::Error::InvalidCertificate(_)),
        "{err:?}"
    );

    // A client trusting another CA refuses the server.
    let stranger = client_config(
        &other.join("ca.pem"),
        &other.join("client-chain.pem"),
        &other.join("client-key.pem"),
    );
    let err = handshake(stranger, server.clone(), "localhost").unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{err:?}"
    );

    // The server refuses a client certificate from another CA.
    let foreign_client = client_config(
        &dir.join("ca.pem"),
        &other.join("client-chain.pem"),
        &other.join("client-key.pem"),
    );
    assert!(handshake(foreign_client, server, "localhost").is_err());

    // A client certificate (clientAuth only) is refused as a server certificate.
    let misused = server_config(
        &dir.join("pg-chain.pem"),
        &dir.join("pg-key.pem"),
        &dir.join("ca.pem"),
    );
    let err = handshake(client, misused, "localhost").unwrap_err();
    assert!(
        matches!(err, rustls::Error::InvalidCertificate(_)),
        "{err:?}"
    );
}
