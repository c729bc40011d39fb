//! `confmgr pki init|issue`: a development certificate authority (rcgen, no OpenSSL).
//!
//! What the certificates must look like follows from DESIGN.md 7: rustls accepts only v3
//! certificates, ignores the CN and matches the host against the SANs (`IP:` for an
//! address, `DNS:` for a name), and does not complete chains, so servers get a chain file
//! (leaf + CA). PostgreSQL's `cert` authentication maps the client certificate's CN to the
//! database user and refuses a key readable by others: keys are created with mode 0600.

use crate::cli::{
    KeyType, PkiClientArgs, PkiCommand, PkiCommon, PkiInitArgs, PkiIssueCommand, PkiServerArgs,
};
use crate::clock::{now_seconds, rfc3339};
use crate::files;
use crate::output::{fields, joined, Report};
use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SignatureAlgorithm,
};
use serde_json::{json, Value};
use std::fs::DirBuilder;
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;
/// Certificates start a little in the past, for clocks slightly behind this one.
const BACKDATE_SECONDS: i64 = 300;

pub fn run(command: PkiCommand) -> Result<Report> {
    match command {
        PkiCommand::Init(args) => init(&args),
        PkiCommand::Issue(PkiIssueCommand::Server(args)) => issue_server(&args),
        PkiCommand::Issue(PkiIssueCommand::Client(args)) => issue_client(&args),
    }
}

fn init(args: &PkiInitArgs) -> Result<Report> {
    let common = &args.common;
    let dir = &common.dir;
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    let cn = check_cn(&args.cn)?;
    if !common.force {
        if let Some(existing) = [&cert_path, &key_path].into_iter().find(|p| exists(p)) {
            bail!(
                "a CA already exists in {} ({} is there): pass --force to replace it \
                 (certificates it issued will no longer verify)",
                dir.display(),
                existing.display()
            );
        }
    }

    let key = generate_key(common.key_type)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(cn);
    // Signs leaf certificates only: no intermediates below it.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, args.days)?;
    let cert = params
        .self_signed(&key)
        .context("cannot create the CA certificate")?;

    create_dir(dir)?;
    let cert_pem = cert.pem();
    files::write_new(
        &key_path,
        key.serialize_pem().as_bytes(),
        KEY_MODE,
        common.force,
    )?;
    files::write_new(&cert_path, cert_pem.as_bytes(), CERT_MODE, common.force)?;

    let described = describe(&cert_pem, common.key_type)?;
    let written = vec![
        Written::new(
            &cert_path,
            "certificate",
            CERT_MODE,
            "the CA certificate: trust it",
        ),
        Written::new(&key_path, "key", KEY_MODE, "the CA key: keep it private"),
    ];
    Ok(report(dir, &written, &described, None))
}

fn issue_server(args: &PkiServerArgs) -> Result<Report> {
    let mut sans = Vec::new();
    for name in &args.dns {
        sans.push(dns_san(name)?);
    }
    for addr in &args.ip {
        sans.push(ip_san(addr)?);
    }
    if sans.is_empty() {
        bail!(
            "a server certificate needs at least one --dns NAME or --ip ADDR: TLS clients \
             (rustls) ignore the CN and match the host they dial against these names only"
        );
    }
    let default_cn = args.dns.first().or(args.ip.first()).map(|s| s.trim());
    let cn = match args.cn.as_deref() {
        Some(cn) => check_cn(cn)?,
        None => default_cn.unwrap_or_default(),
    };
    issue(
        &args.common,
        &args.out,
        cn,
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
        args.days,
    )
}

fn issue_client(args: &PkiClientArgs) -> Result<Report> {
    let cn = check_cn(&args.cn)?;
    let mut sans = Vec::new();
    for name in &args.dns {
        sans.push(dns_san(name)?);
    }
    for uri in &args.uri {
        sans.push(uri_san(uri)?);
    }
    issue(
        &args.common,
        &args.out,
        cn,
        sans,
        ExtendedKeyUsagePurpose::ClientAuth,
        args.days,
    )
}

/// The CA as loaded from its directory.
struct Ca {
    /// Its certificate as rcgen needs it for signing (subject, key identifier).
    issuer: Certificate,
    key: KeyPair,
    /// ca.pem as it is on disk, for the chain file.
    pem: String,
    not_after: i64,
}

fn load_ca(dir: &Path) -> Result<Ca> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    let init = if dir == Path::new("pki") {
        "confmgr pki init".to_owned()
    } else {
        format!("confmgr pki init --dir {}", dir.display())
    };
    if !exists(&cert_path) {
        bail!(
            "no CA in {}: {} does not exist; run `{init}` first",
            dir.display(),
            cert_path.display()
        );
    }
    if !exists(&key_path) {
        bail!(
            "{} does not exist: the CA's key is needed to sign (run `{init} --force` for a \
             new CA)",
            key_path.display()
        );
    }
    let pem = std::fs::read_to_string(&cert_path)
        .with_context(|| format!("cannot read {}", cert_path.display()))?;
    let key_pem = std::fs::read_to_string(&key_path)
        .with_context(|| format!("cannot read {}", key_path.display()))?;
    files::warn_if_shared(&key_path);

    let bad_cert = || format!("{} is not a PEM certificate", cert_path.display());
    let (_, parsed_pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| anyhow!("{e}"))
        .with_context(bad_cert)?;
    let parsed = parsed_pem
        .parse_x509()
        .map_err(|e| anyhow!("{e}"))
        .with_context(bad_cert)?;
    if !parsed.is_ca() {
        bail!("{} is not a CA certificate", cert_path.display());
    }
    let key = KeyPair::from_pem(&key_pem)
        .with_context(|| format!("{} is not a PEM private key", key_path.display()))?;
    if parsed.public_key().raw != key.public_key_der().as_slice() {
        bail!(
            "{} does not belong to {}",
            key_path.display(),
            cert_path.display()
        );
    }
    let not_after = parsed.validity().not_after.timestamp();
    if not_after <= now_seconds() {
        bail!(
            "the CA in {} expired at {}: run `{init} --force` for a new one",
            dir.display(),
            rfc3339(not_after)
        );
    }
    let params = CertificateParams::from_ca_cert_pem(&pem)
        .with_context(|| format!("cannot use {} as a CA", cert_path.display()))?;
    // Only its subject, key identifier and key usages are used to sign (not its bytes).
    let issuer = params
        .self_signed(&key)
        .with_context(|| format!("cannot use {} as a CA", cert_path.display()))?;
    let mut pem = pem;
    if !pem.ends_with('\n') {
        pem.push('\n');
    }
    Ok(Ca {
        issuer,
        key,
        pem,
        not_after,
    })
}

fn issue(
    common: &PkiCommon,
    out: &str,
    cn: &str,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
    days: u32,
) -> Result<Report> {
    let dir = &common.dir;
    check_out_name(out)?;
    let cert_path = dir.join(format!("{out}.pem"));
    let key_path = dir.join(format!("{out}-key.pem"));
    let chain_path = dir.join(format!("{out}-chain.pem"));
    if !common.force {
        for path in [&cert_path, &key_path, &chain_path] {
            if exists(path) {
                bail!(
                    "{} already exists: pass --force to replace it, or --out for other names",
                    path.display()
                );
            }
        }
    }
    let ca = load_ca(dir)?;

    let key = generate_key(common.key_type)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(cn);
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, days)?;
    let warning = (params.not_after.unix_timestamp() > ca.not_after).then(|| {
        format!(
            "the certificate outlives its CA, which expires at {}",
            rfc3339(ca.not_after)
        )
    });
    let cert = params
        .signed_by(&key, &ca.issuer, &ca.key)
        .context("cannot sign the certificate")?;

    let cert_pem = cert.pem();
    let chain = format!("{cert_pem}{}", ca.pem);
    files::write_new(
        &key_path,
        key.serialize_pem().as_bytes(),
        KEY_MODE,
        common.force,
    )?;
    files::write_new(&cert_path, cert_pem.as_bytes(), CERT_MODE, common.force)?;
    files::write_new(&chain_path, chain.as_bytes(), CERT_MODE, common.force)?;

    let described = describe(&cert_pem, common.key_type)?;
    let written = vec![
        Written::new(&cert_path, "certificate", CERT_MODE, "the certificate"),
        Written::new(&key_path, "key", KEY_MODE, "its private key"),
        Written::new(
            &chain_path,
            "chain",
            CERT_MODE,
            &format!("{out}.pem + {CA_CERT}: the full chain to present"),
        ),
    ];
    Ok(report(dir, &written, &described, warning))
}

fn generate_key(key_type: KeyType) -> Result<KeyPair> {
    let alg: &'static SignatureAlgorithm = match key_type {
        KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyType::Ed25519 => &rcgen::PKCS_ED25519,
    };
    KeyPair::generate_for(alg).context("cannot generate a key")
}

fn key_type_name(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::EcdsaP256 => "ecdsa-p256",
        KeyType::EcdsaP384 => "ecdsa-p384",
        KeyType::Ed25519 => "ed25519",
    }
}

fn set_validity(params: &mut CertificateParams, days: u32) -> Result<()> {
    let now = now_seconds();
    let at = |seconds: i64| {
        OffsetDateTime::from_unix_timestamp(seconds).map_err(|e| anyhow!("invalid time: {e}"))
    };
    params.not_before = at(now - BACKDATE_SECONDS)?;
    params.not_after = at(now + i64::from(days) * 86_400)?;
    Ok(())
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn check_cn(cn: &str) -> Result<&str> {
    let cn = cn.trim();
    if cn.is_empty() {
        bail!("the common name (--cn) is empty");
    }
    if cn.len() > 64 {
        bail!("the common name `{cn}` is longer than 64 characters");
    }
    if cn.chars().any(char::is_control) {
        bail!("the common name contains control characters");
    }
    Ok(cn)
}

fn check_out_name(out: &str) -> Result<()> {
    if out.is_empty()
        || out.starts_with('.')
        || out.contains('/')
        || out.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        bail!("--out `{out}` is not a plain file name (the files go in --dir)");
    }
    if out == "ca" {
        bail!("--out ca would replace the CA's own files: choose another name");
    }
    Ok(())
}

fn dns_san(name: &str) -> Result<SanType> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.parse::<IpAddr>().is_ok() {
        bail!(
            "`{name}` is an IP address: pass it with --ip (TLS clients match addresses \
             against IP SANs only)"
        );
    }
    let labels: Vec<&str> = name.split('.').collect();
    let valid = !name.is_empty()
        && name.len() <= 253
        && labels.iter().enumerate().all(|(i, label)| {
            (i == 0 && *label == "*" && labels.len() > 2)
                || (!label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        });
    if !valid {
        bail!("`{name}` is not a valid DNS name");
    }
    let value = name
        .as_str()
        .try_into()
        .map_err(|e| anyhow!("`{name}` is not a valid DNS name: {e}"))?;
    Ok(SanType::DnsName(value))
}

fn ip_san(addr: &str) -> Result<SanType> {
    let trimmed = addr.trim();
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(trimmed);
    let ip: IpAddr = unbracketed.parse().map_err(|_| {
        anyhow!("`{addr}` is not an IP address (such as 127.0.0.1 or ::1); use --dns for names")
    })?;
    Ok(SanType::IpAddress(ip))
}

fn uri_san(uri: &str) -> Result<SanType> {
    let uri = uri.trim();
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if !scheme_ok || uri.chars().any(|c| !c.is_ascii_graphic()) {
        bail!("`{uri}` is not a URI (such as spiffe://example.org/app)");
    }
    let value = uri
        .try_into()
        .map_err(|e| anyhow!("`{uri}` is not a URI: {e}"))?;
    Ok(SanType::URI(value))
}

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// Creates the directory (and parents) with mode 0700; an existing one is left as it is.
fn create_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(files::DIR_MODE)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

struct Written {
    path: PathBuf,
    kind: &'static str,
    mode: u32,
    note: String,
}

impl Written {
    fn new(path: &Path, kind: &'static str, mode: u32, note: &str) -> Self {
        Self {
            path: path.to_path_buf(),
            kind,
            mode,
            note: note.to_owned(),
        }
    }
}

/// What a certificate says, read back from its PEM.
struct Described {
    subject: String,
    issuer: String,
    sans: Vec<String>,
    usages: Vec<String>,
    serial: String,
    key_type: &'static str,
    is_ca: bool,
    not_before: i64,
    not_after: i64,
}

fn describe(pem: &str, key_type: KeyType) -> Result<Described> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| anyhow!("{e}"))?;
    let cert = parse(&pem)?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            sans.push(match name {
                GeneralName::DNSName(name) => format!("DNS:{name}"),
                GeneralName::URI(uri) => format!("URI:{uri}"),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => format!("IP:{}", IpAddr::from(<[u8; 4]>::try_from(*bytes)?)),
                    16 => format!("IP:{}", IpAddr::from(<[u8; 16]>::try_from(*bytes)?)),
                    _ => "IP:?".to_owned(),
                },
                other => format!("{other}"),
            });
        }
    }
    let mut usages = Vec::new();
    if let Ok(Some(ext)) = cert.extended_key_usage() {
        if ext.value.server_auth {
            usages.push("serverAuth".to_owned());
        }
        if ext.value.client_auth {
            usages.push("clientAuth".to_owned());
        }
    }
    if cert.is_ca() {
        usages.push("certificate signing (CA)".to_owned());
    }
    let validity = cert.validity();
    Ok(Described {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        usages,
        serial: cert.raw_serial_as_string(),
        key_type: key_type_name(key_type),
        is_ca: cert.is_ca(),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

fn parse(pem: &Pem) -> Result<X509Certificate<'_>> {
    pem.parse_x509()
        .map_err(|e| anyhow!("cannot read back the certificate: {e}"))
}

fn report(dir: &Path, written: &[Written], cert: &Described, warning: Option<String>) -> Report {
    if let Some(warning) = &warning {
        eprintln!("warning: {warning}");
    }
    let days_left = (cert.not_after - now_seconds()).max(0) / 86_400;
    let json = json!({
        "dir": dir.display().to_string(),
        "files": written.iter().map(|w| json!({
            "path": w.path.display().to_string(),
            "kind": w.kind,
            "mode": format!("{:04o}", w.mode),
        })).collect::<Vec<Value>>(),
        "certificate": {
            "subject": cert.subject,
            "issuer": cert.issuer,
            "sans": cert.sans,
            "usages": cert.usages,
            "is_ca": cert.is_ca,
            "serial": cert.serial,
            "key_type": cert.key_type,
            "not_before": rfc3339(cert.not_before),
            "not_after": rfc3339(cert.not_after),
        },
        "warning": warning,
    });
    let width = written
        .iter()
        .map(|w| w.path.display().to_string().len())
        .max()
        .unwrap_or(0);
    let mut text: String = written
        .iter()
        .map(|w| {
            let path = w.path.display().to_string();
            format!("wrote {path:<width$}  (mode {:04o}) {}\n", w.mode, w.note)
        })
        .collect();
    text.push('\n');
    text.push_str(&fields(&[
        ("subject", cert.subject.clone()),
        ("issuer", cert.issuer.clone()),
        ("SANs", joined(&cert.sans)),
        ("usage", joined(&cert.usages)),
        ("key", cert.key_type.to_owned()),
        ("serial", cert.serial.clone()),
        ("not before", rfc3339(cert.not_before)),
        (
            "expires",
            format!("{} (in {days_left} days)", rfc3339(cert.not_after)),
        ),
    ]));
    Report::new(json, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_checks() {
        assert!(
            matches!(dns_san("LocalHost.").unwrap(), SanType::DnsName(n) if n.as_str() == "localhost")
        );
        assert!(dns_san("*.svc.local").is_ok());
        assert!(dns_san("confmgr_db").is_ok());
        assert!(dns_san("127.0.0.1")
            .unwrap_err()
            .to_string()
            .contains("--ip"));
        assert!(dns_san("bad name").is_err());
        assert!(dns_san("").is_err());
        assert!(dns_san("-x.example").is_err());
        assert!(dns_san("*.com").is_err());
        assert!(matches!(ip_san("::1").unwrap(), SanType::IpAddress(_)));
        assert!(matches!(ip_san("[::1]").unwrap(), SanType::IpAddress(_)));
        assert!(ip_san("300.1.1.1").is_err());
        assert!(ip_san("localhost").is_err());
        assert!(uri_san("spiffe://example.org/app").is_ok());
        assert!(uri_san("no-scheme").is_err());
        assert!(uri_san("spiffe://a b").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(check_cn(" confmgr ").unwrap(), "confmgr");
        assert!(check_cn("  ").is_err());
        assert!(check_out_name("server").is_ok());
        assert!(check_out_name("../x").is_err());
        assert!(check_out_name("ca").is_err());
        assert!(check_out_name("").is_err());
    }
}
