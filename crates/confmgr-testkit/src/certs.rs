//! In-process certificate generation for the throwaway PostgreSQL.
//!
//! rustls accepts only v3 certificates, ignores the CN and needs a SAN that
//! matches the host it dials (DESIGN.md 7), so the server certificate carries
//! both `DNS:localhost` and `IP:127.0.0.1`. PostgreSQL's `cert` auth maps the
//! client certificate's CN to the database user, hence CN = `confmgr`.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The database user the client certificate authenticates as.
pub(crate) const DB_USER: &str = "confmgr";

/// Where the generated PEM files live.
///
/// With `CONFMGR_TEST_DATABASE_URL` the files are whatever that URL names
/// (`sslrootcert`, `sslcert`, `sslkey`); the server paths are then unknown
/// and left empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertPaths {
    pub ca_cert: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// Writes a fresh CA, server and client certificate into `dir`.
pub(crate) fn generate(dir: &Path) -> Result<CertPaths> {
    let paths = CertPaths {
        ca_cert: dir.join("ca.crt"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    };

    let ca_key = KeyPair::generate().context("generating CA key")?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = common_name("ConfMgr test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params
        .self_signed(&ca_key)
        .context("self-signing CA certificate")?;

    let server_key = KeyPair::generate().context("generating server key")?;
    let mut server_params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .context("server certificate SANs")?;
    server_params.distinguished_name = common_name("localhost");
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.use_authority_key_identifier_extension = true;
    let server = server_params
        .signed_by(&server_key, &ca, &ca_key)
        .context("signing server certificate")?;

    let client_key = KeyPair::generate().context("generating client key")?;
    let mut client_params = CertificateParams::default();
    client_params.distinguished_name = common_name(DB_USER);
    client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    client_params.use_authority_key_identifier_extension = true;
    let client = client_params
        .signed_by(&client_key, &ca, &ca_key)
        .context("signing client certificate")?;

    write_file(&paths.ca_cert, &ca.pem(), 0o644)?;
    write_file(&paths.server_cert, &server.pem(), 0o644)?;
    // PostgreSQL refuses a server key readable by group or others.
    write_file(&paths.server_key, &server_key.serialize_pem(), 0o600)?;
    write_file(&paths.client_cert, &client.pem(), 0o644)?;
    write_file(&paths.client_key, &client_key.serialize_pem(), 0o600)?;
    Ok(paths)
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    // The mode is set at creation so a key is never briefly world-readable.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
