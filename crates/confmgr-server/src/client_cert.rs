//! Client certificates on the HTTPS listener.
//!
//! The TLS handshake asks for a certificate and checks that the client holds its key, but
//! leaves the chain to the application, as Vault's cert auth does: a certificate from the
//! wrong CA, an expired one or none at all then gets a JSON error that says which, and an
//! audit event, instead of a bare handshake alert no one can read. Nothing trusts a
//! certificate before [`ClientCas::verify`] accepted it.

use crate::config::ClientAuth;
use crate::error::Error;
use crate::state::AppState;
use anyhow::{bail, Context};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::tls::TlsInfo;
use confmgr_core::audit::hash_hex;
use confmgr_core::cert_binding::CertIdentity;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Probes must answer without a certificate even in `required` mode.
const NO_CERT_NEEDED: [&str; 3] = ["/v1/sys/health", "/healthz", "/readyz"];

/// The CAs client certificates are checked against, reloaded with the server certificate.
pub struct ClientCas {
    pub mode: ClientAuth,
    pub path: PathBuf,
    verifier: RwLock<Arc<dyn ClientCertVerifier>>,
}

impl std::fmt::Debug for ClientCas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCas")
            .field("mode", &self.mode)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ClientCas {
    pub fn load(path: &Path, mode: ClientAuth) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            mode,
            path: path.to_owned(),
            verifier: RwLock::new(webpki_verifier(path)?),
        }))
    }

    /// Re-reads the CA file; on failure the CAs in use stay.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = webpki_verifier(&self.path)?;
        if let Ok(mut current) = self.verifier.write() {
            *current = fresh;
        }
        Ok(())
    }

    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        match self.verifier.read() {
            Ok(verifier) => Arc::clone(&verifier),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The handshake side: asks for a certificate and checks key possession only.
    pub fn handshake_verifier(&self) -> Arc<dyn ClientCertVerifier> {
        Arc::new(DeferredChainVerifier {
            inner: self.current(),
        })
    }

    /// Checks a presented chain (leaf first) against the CAs, now.
    pub fn verify(&self, chain: &[Vec<u8>]) -> Result<(), String> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err("no client certificate was presented".into());
        };
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect();
        self.current()
            .verify_client_cert(
                &CertificateDer::from(leaf.as_slice()),
                &intermediates,
                UnixTime::now(),
            )
            .map(|_| ())
            .map_err(|error| explain(&error))
    }
}

fn webpki_verifier(path: &Path) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("CONFMGR_TLS_CLIENT_CA: cannot read {}", path.display()))?;
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.with_context(|| {
            format!("CONFMGR_TLS_CLIENT_CA: {} is not valid PEM", path.display())
        })?;
        roots.add(cert).with_context(|| {
            format!(
                "CONFMGR_TLS_CLIENT_CA: {} holds a certificate that cannot be a trust anchor",
                path.display()
            )
        })?;
    }
    if roots.is_empty() {
        bail!(
            "CONFMGR_TLS_CLIENT_CA: {} holds no certificate",
            path.display()
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .with_context(|| format!("CONFMGR_TLS_CLIENT_CA: {}", path.display()))
}

/// One sentence on why a chain was refused, for the client and the log.
fn explain(error: &rustls::Error) -> String {
    let reason = match error {
        rustls::Error::InvalidCertificate(problem) => match problem {
            CertificateError::UnknownIssuer => {
                "it was not issued by a CA in CONFMGR_TLS_CLIENT_CA".to_owned()
            }
            CertificateError::Expired => "it has expired".to_owned(),
            CertificateError::ExpiredContext { not_after, .. } => {
                format!("it expired at {}", unix_rfc3339(not_after.as_secs()))
            }
            CertificateError::NotValidYet => "it is not valid yet".to_owned(),
            CertificateError::NotValidYetContext { not_before, .. } => {
                format!(
                    "it is not valid before {}",
                    unix_rfc3339(not_before.as_secs())
                )
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "it is not a client certificate (its extended key usage lacks clientAuth)"
                    .to_owned()
            }
            CertificateError::Revoked => "it has been revoked".to_owned(),
            CertificateError::BadSignature => "its signature does not verify (was it issued by another CA with the same name as one in CONFMGR_TLS_CLIENT_CA?)".to_owned(),
            CertificateError::BadEncoding => "it is not a well-formed X.509 certificate".to_owned(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    };
    format!("client certificate refused: {reason}")
}

fn unix_rfc3339(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000))
        .map(confmgr_core::time::rfc3339)
        .unwrap_or_else(|| seconds.to_string())
}

#[derive(Debug)]
struct DeferredChainVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for DeferredChainVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Deferred to ClientCas::verify, per request: see the module comment.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client certificate on the request's connection, parsed and checked once.
#[derive(Clone, Debug)]
pub struct PresentedCert {
    /// RFC 4514 subject, e.g. `CN=build-bot, O=ci`.
    pub subject: String,
    /// SHA-256 of the leaf's DER, lowercase hex.
    pub fingerprint: String,
    pub identity: CertIdentity,
    /// `Ok` when the chain verified against CONFMGR_TLS_CLIENT_CA, else why not.
    pub verdict: Result<(), String>,
}

impl PresentedCert {
    fn inspect(chain: &[Vec<u8>], cas: Option<&ClientCas>) -> Option<Self> {
        let leaf = chain.first()?;
        let fingerprint = hash_hex(&Sha256::digest(leaf));
        let verdict = match cas {
            Some(cas) => cas.verify(chain),
            None => {
                Err("client certificates are not accepted: CONFMGR_TLS_CLIENT_CA is not set".into())
            }
        };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
            return Some(Self {
                subject: String::new(),
                fingerprint,
                identity: CertIdentity::default(),
                verdict: Err(
                    "client certificate refused: it is not a well-formed X.509 certificate".into(),
                ),
            });
        };
        let mut identity = CertIdentity {
            common_name: cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_owned),
            ..CertIdentity::default()
        };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => {
                        identity.dns_sans.push((*dns).to_owned())
                    }
                    x509_parser::extensions::GeneralName::URI(uri) => {
                        identity.uri_sans.push((*uri).to_owned())
                    }
                    _ => {}
                }
            }
        }
        Some(Self {
            subject: cert.subject().to_string(),
            fingerprint,
            identity,
            verdict,
        })
    }
}

/// Middleware: parses and checks the connection's client certificate into the request
/// (for cert login and the audit event), and in `required` mode refuses a request without
/// a valid one. Runs outside the audit layer; the refusal happens inside it (see
/// [`require`]) so refused requests are audited.
pub async fn inspect(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let presented = request.extensions().get::<Arc<TlsInfo>>().and_then(|tls| {
        PresentedCert::inspect(&tls.peer_certificates, state.client_cas.as_deref())
    });
    if let Some(presented) = presented {
        request.extensions_mut().insert(Arc::new(presented));
    }
    next.run(request).await
}

/// Middleware (inside the audit layer): `required` mode.
pub async fn require(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let required = state
        .client_cas
        .as_ref()
        .is_some_and(|cas| cas.mode == ClientAuth::Required);
    let exempt = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|route| NO_CERT_NEEDED.contains(&route.as_str()));
    if required && !exempt {
        let refusal = match request.extensions().get::<Arc<PresentedCert>>() {
            None => Some("a client certificate is required: connect with a certificate issued by a CA in CONFMGR_TLS_CLIENT_CA".to_owned()),
            Some(cert) => cert.verdict.clone().err(),
        };
        if let Some(reason) = refusal {
            return Error::Refused(reason).into_response();
        }
    }
    next.run(request).await
}
