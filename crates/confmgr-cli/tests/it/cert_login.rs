//! The CLI over HTTPS with a private CA (`--ca-cert`) and certificate login
//! (`confmgr login --method cert`), with certificates made by `confmgr pki`.

use crate::harness::{exec_at, Harness, Run, APP_READ, ROOT};
use std::path::Path;

/// `confmgr pki` in `dir`: a CA, a server certificate for localhost, and client certificates.
async fn pki(dir: &Path, clients: &[&str]) {
    let d = dir.to_str().unwrap();
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["pki", "init", "--dir", d],
        vec![
            "pki",
            "issue",
            "server",
            "--dir",
            d,
            "--dns",
            "localhost",
            "--ip",
            "127.0.0.1",
        ],
    ];
    for cn in clients {
        commands.push(vec![
            "pki", "issue", "client", "--dir", d, "--cn", cn, "--out", cn,
        ]);
    }
    for args in commands {
        exec_at("http://127.0.0.1:1", dir, &args, None, None)
            .await
            .ok();
    }
}

#[tokio::test]
async fn login_with_a_client_certificate_over_https_with_a_private_ca() {
    let pki_dir = tempfile::tempdir().unwrap();
    let dir = pki_dir.path();
    pki(dir, &["build-bot", "stranger"]).await;
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let h = Harness::start_with(&[
        ("CONFMGR_TLS_CERT", &file("server-chain.pem")),
        ("CONFMGR_TLS_KEY", &file("server-key.pem")),
        ("CONFMGR_TLS_CLIENT_CA", &file("ca.pem")),
    ])
    .await;
    let https = format!("https://localhost:{}", h.server.addr().port());
    let ca = file("ca.pem");
    let at = |args: Vec<String>, token: Option<&'static str>| {
        let (https, config) = (https.clone(), h.config.path().to_owned());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            exec_at(&https, &config, &args, token, None).await
        }
    };
    let args = |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };

    // Without the CA the server's certificate is refused: unreachable (5), and it says TLS.
    let refused: Run = at(args(&["status"]), None).await;
    assert_eq!(refused.code, 5, "{}", refused.stderr);

    let policy = h.file("app-read.hcl", APP_READ);
    let with_ca = |list: &[&str]| {
        let mut all = args(&["--ca-cert", &ca]);
        all.extend(args(list));
        all
    };
    at(
        with_ca(&["policy", "write", "app-read", policy.to_str().unwrap()]),
        Some(ROOT),
    )
    .await
    .ok();
    at(
        with_ca(&["kv", "put", "app/config", "db=postgres://db"]),
        Some(ROOT),
    )
    .await
    .ok();
    at(
        with_ca(&[
            "client",
            "create",
            "build-bot",
            "--policy",
            "app-read",
            "--cert-cn",
            "build-bot",
        ]),
        Some(ROOT),
    )
    .await
    .ok();

    // The certificate logs in as its client; the stored token reads what the policy allows.
    let login = at(
        with_ca(&[
            "login",
            "--method",
            "cert",
            "--client-cert",
            &file("build-bot.pem"),
            "--client-key",
            &file("build-bot-key.pem"),
        ]),
        None,
    )
    .await
    .ok();
    assert_eq!(login.json()["method"], "cert");
    assert_eq!(
        login.json()["policies"],
        serde_json::json!(["app-read", "default"])
    );
    let read = at(with_ca(&["kv", "get", "app/config"]), None).await.ok();
    assert_eq!(read.json()["db"], "postgres://db");

    // A certificate no client accepts is refused with the server's reason.
    let stranger = at(
        with_ca(&[
            "login",
            "--method",
            "cert",
            "--client-cert",
            &file("stranger.pem"),
            "--client-key",
            &file("stranger-key.pem"),
        ]),
        None,
    )
    .await;
    assert_ne!(stranger.code, 0);
    assert!(
        stranger
            .stderr
            .contains("no client accepts this certificate (CN=stranger"),
        "{}",
        stranger.stderr
    );

    // Cert login without a certificate is a usage error naming the flags.
    let missing = at(with_ca(&["login", "--method", "cert"]), None).await;
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("--client-cert"),
        "{}",
        missing.stderr
    );
}
