//! The HTTPS listener's TLS: rustls (ring provider), TLS 1.2 and 1.3 with the provider's
//! AEAD suites only, certificate and key from PEM files (full chain), reloaded without a
//! restart when the files change or on SIGHUP. Connections already open keep the
//! configuration they started with; new ones get the new certificate.

use crate::client_cert::ClientCas;
use crate::config::ClientAuth;
use anyhow::{bail, Context};
use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const WATCH_EVERY: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA bundle for client certificates, with `client_auth` not `Off`.
    pub client_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

/// A rustls server configuration from the PEM files, with one clear error per problem.
pub fn server_config(files: &TlsFiles, cas: Option<&ClientCas>) -> anyhow::Result<ServerConfig> {
    let cert_pem = std::fs::read(&files.cert)
        .with_context(|| format!("CONFMGR_TLS_CERT: cannot read {}", files.cert.display()))?;
    let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!(
                "CONFMGR_TLS_CERT: {} is not valid PEM",
                files.cert.display()
            )
        })?;
    if chain.is_empty() {
        bail!(
            "CONFMGR_TLS_CERT: {} holds no certificate",
            files.cert.display()
        );
    }
    let key_pem = std::fs::read(&files.key)
        .with_context(|| format!("CONFMGR_TLS_KEY: cannot read {}", files.key.display()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("CONFMGR_TLS_KEY: {} is not valid PEM", files.key.display()))?
        .with_context(|| {
            format!(
                "CONFMGR_TLS_KEY: {} holds no private key",
                files.key.display()
            )
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?;
    let builder = match cas {
        Some(cas) if files.client_auth != ClientAuth::Off => {
            builder.with_client_cert_verifier(cas.handshake_verifier())
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .context("CONFMGR_TLS_CERT and CONFMGR_TLS_KEY do not form a usable pair (does the key match the certificate?)")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Loads the files, then reloads them when they change (polled) or on SIGHUP. A reload that
/// fails keeps the configuration in use and logs why.
pub async fn load_and_watch(
    files: TlsFiles,
    cas: Option<Arc<ClientCas>>,
) -> anyhow::Result<RustlsConfig> {
    let config = RustlsConfig::from_config(Arc::new(server_config(&files, cas.as_deref())?));
    let watched = config.clone();
    let stamps = move |files: &TlsFiles| {
        (
            modified(&files.cert),
            modified(&files.key),
            files.client_ca.as_deref().and_then(modified),
        )
    };
    tokio::spawn(async move {
        let mut seen = stamps(&files);
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            let signalled = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            let forced = tokio::select! {
                _ = tokio::time::sleep(WATCH_EVERY) => false,
                got = signalled => got,
            };
            let now = stamps(&files);
            if !forced && now == seen {
                continue;
            }
            seen = now;
            reload(&watched, &files, cas.as_deref());
        }
    });
    Ok(config)
}

pub fn reload(config: &RustlsConfig, files: &TlsFiles, cas: Option<&ClientCas>) {
    if let Some(cas) = cas {
        if let Err(error) = cas.reload() {
            tracing::error!(error = %format!("{error:#}"), "client CA reload failed; keeping the CAs in use");
        }
    }
    match server_config(files, cas) {
        Ok(new) => {
            config.reload_from_config(Arc::new(new));
            tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
        }
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "TLS reload failed; keeping the certificate in use")
        }
    }
}
