//! The HTTPS listener: a verified round trip, a client trusting another CA refused, and
//! certificate files replaced under load with no failed request.

use crate::harness::{Db, TestApp};
use confmgr_server::config::ClientAuth;
use confmgr_server::tls::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Ca {
    pub pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn sign(&self, params: CertificateParams, key: &KeyPair) -> rcgen::Certificate {
        params.signed_by(key, &self.cert, &self.key).unwrap()
    }
}

pub fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        cert,
        key,
    }
}

/// Writes a server chain (leaf + CA) and key signed by `ca` into `dir`, replacing files by
/// rename so a reader never sees half a file.
pub fn write_server_cert(ca: &Ca, dir: &Path) -> TlsFiles {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let leaf = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let files = TlsFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        client_ca: None,
        client_auth: ClientAuth::Off,
    };
    for (path, text) in [
        (&files.key, key.serialize_pem()),
        (&files.cert, format!("{}{}", leaf.pem(), ca.pem)),
    ] {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }
    files
}

pub fn client_trusting(cas: &[&Ca]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(0);
    for ca in cas {
        builder = builder
            .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn https_round_trip_verifies_the_server_and_refuses_other_cas() {
    let dir = tempfile::tempdir().unwrap();
    let (right, other) = (ca("right CA"), ca("other CA"));
    let mut app = TestApp::start_tls(Db::Sqlite, write_server_cert(&right, dir.path())).await;
    assert!(app.base.starts_with("https://"));
    app.client = client_trusting(&[&right]);
    let (status, body) = app
        .call(
            "POST",
            "/v1/secret/data/tls",
            Some(serde_json::json!({"data": {"k": "v"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.call("GET", "/v1/secret/data/tls", None).await;
    assert_eq!(
        (status, body["data"]["data"]["k"].clone()),
        (200, serde_json::json!("v"))
    );

    let stranger = client_trusting(&[&other]);
    let refused = stranger
        .get(format!("{}/v1/sys/health", app.base))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client trusting another CA must not connect"
    );
    let plain = reqwest::Client::new()
        .get(app.base.replace("https://", "http://") + "/v1/sys/health")
        .send()
        .await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "plain HTTP is not served on the TLS port"
    );
}

#[tokio::test]
async fn certificate_files_reload_under_load_without_failures() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (ca("first CA"), ca("second CA"));
    let app = TestApp::start_tls(Db::Sqlite, write_server_cert(&first, dir.path())).await;
    let health = format!("{}/v1/sys/health", app.base);
    assert!(client_trusting(&[&first]).get(&health).send().await.is_ok());

    // A client that trusts both CAs keeps opening new connections throughout.
    let failures = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (client, url) = (client_trusting(&[&first, &second]), health.clone());
        let (failures, requests, stop) = (failures.clone(), requests.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let ok = client
                    .get(&url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                requests.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    write_server_cert(&second, dir.path());
    let only_second = client_trusting(&[&second]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while only_second.get(&health).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert!(
        requests.load(Ordering::Relaxed) > 10,
        "the load ran during the reload"
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no request failed across the reload"
    );
    assert!(
        client_trusting(&[&first])
            .get(&health)
            .send()
            .await
            .is_err(),
        "new connections get the new certificate"
    );
}
