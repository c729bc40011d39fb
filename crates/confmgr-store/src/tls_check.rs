//! PostgreSQL mutual TLS that explains itself.
//!
//! [`preflight_postgres_tls`] reads the TLS files a `postgres://` URL names before the first
//! connection and reports each problem as one actionable line naming the setting
//! (`CONFMGR_DATABASE_URL sslkey=…`). [`explain_connect_error`] turns the error of a failed
//! connection (a rustls error buried in an `io::Error`, or a PostgreSQL `FATAL`) into one
//! line saying what to change. Every message is listed in `doc/troubleshooting.md`.
//!
//! The files are read the way sqlx reads them (`sqlx-core` `net/tls/tls_rustls.rs`): the URL's
//! `sslrootcert`/`ssl-root-cert`/`ssl-ca`, `sslcert`/`ssl-cert`, `sslkey`/`ssl-key`, else the
//! `PGSSLROOTCERT`/`PGSSLCERT`/`PGSSLKEY` environment variables; a value that starts with
//! `-----BEGIN` is inline PEM rather than a path.

use std::error::Error as StdError;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{AlertDescription, CertificateError, InconsistentKeys};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use x509_parser::certificate::X509Certificate;

const VAR: &str = "CONFMGR_DATABASE_URL";
const SECONDS_PER_DAY: i64 = 86_400;

/// Checks the TLS files named in a PostgreSQL URL before connecting. Returns one actionable
/// line per problem (empty = fine). Only for postgres URLs: any other URL (SQLite) gives an
/// empty list.
///
/// Only errors are reported: a client certificate that expires soon is not one (see
/// [`days_left`]).
pub fn preflight_postgres_tls(url: &str, now_unix: i64) -> Vec<String> {
    if !is_postgres(url) {
        return Vec::new();
    }
    let target = match Target::parse(url) {
        Ok(target) => target,
        Err(err) => return vec![invalid_url(&err)],
    };
    let mut problems = Vec::new();

    if matches!(target.ssl_mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull)
        && target.root_cert.is_none()
    {
        problems.push(format!(
            "{VAR} sslmode={} has no sslrootcert: only the system's CA certificates (the \
             platform store, or SSL_CERT_FILE) are trusted for the PostgreSQL server certificate; add \
             sslrootcert=/path/to/ca.crt naming the CA that signed the server certificate \
             (for Amazon RDS, the RDS CA bundle)",
            ssl_mode_name(target.ssl_mode)
        ));
    }

    problems.extend(file_problems(&target, now_unix));
    problems
}

/// How many CA certificates sqlx trusts for PostgreSQL besides the URL's `sslrootcert`: it
/// builds its roots from the platform store (`SSL_CERT_FILE` and `SSL_CERT_DIR` replace and
/// extend it) and adds sslrootcert to them. Zero when pinned, and in the static OCI image,
/// which ships no CA bundle.
pub fn system_roots_trusted(url: &str) -> usize {
    let own: Vec<Vec<u8>> = Target::parse(url)
        .ok()
        .and_then(|target| target.root_cert)
        .and_then(|root| root.read(&mut Vec::new()))
        .map(|pem| {
            CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .map(|der| der.to_vec())
                .collect()
        })
        .unwrap_or_default();
    rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .filter(|cert| !own.iter().any(|der| der.as_slice() == cert.as_ref()))
        .count()
}

/// Whole days until the first certificate in the PEM file `pem_path` expires (negative once it
/// has), or `None` when the file cannot be read or holds no certificate. For an expiry-soon
/// warning or metric; [`preflight_postgres_tls`] reports only certificates already expired.
pub fn days_left(pem_path: impl AsRef<Path>, now_unix: i64) -> Option<i64> {
    let data = std::fs::read(pem_path).ok()?;
    let der = CertificateDer::pem_slice_iter(&data).next()?.ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    Some((not_after - now_unix).div_euclid(SECONDS_PER_DAY))
}

/// Maps a connection failure to one actionable line (falls back to the error text).
pub fn explain_connect_error(url: &str, error: &sqlx::Error) -> String {
    if !is_postgres(url) {
        return error.to_string();
    }
    let target = match Target::parse(url) {
        Ok(target) => target,
        Err(err) => return invalid_url(&err),
    };
    explain(&target, error).unwrap_or_else(|| {
        format!(
            "{VAR}: cannot connect to PostgreSQL at {}: {error}",
            target.addr()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// What the URL asks for.

#[derive(Debug)]
struct Target {
    host: String,
    port: u16,
    user: String,
    ssl_mode: PgSslMode,
    root_cert: Option<Source>,
    client_cert: Option<Source>,
    client_key: Option<Source>,
}

/// Where one TLS input comes from, for reading it and for naming it in a message.
#[derive(Debug)]
struct Source {
    /// `sslrootcert`, `sslcert` or `sslkey`.
    param: &'static str,
    /// `PGSSLROOTCERT` etc. when the value came from the environment, not the URL.
    env: Option<&'static str>,
    value: String,
}

impl Source {
    fn is_inline(&self) -> bool {
        let trimmed = self.value.trim();
        trimmed.starts_with("-----BEGIN") && trimmed.ends_with("-----")
    }

    /// `sslkey=/path` (or `PGSSLKEY=/path`; inline PEM is not repeated).
    fn setting(&self) -> String {
        let value = if self.is_inline() {
            "(inline PEM)"
        } else {
            self.value.as_str()
        };
        match self.env {
            Some(env) => format!("{env}={value}"),
            None => format!("{}={value}", self.param),
        }
    }

    /// `CONFMGR_DATABASE_URL sslkey=/path` (or `PGSSLKEY=/path`), to start a preflight line.
    fn label(&self) -> String {
        match self.env {
            Some(_) => self.setting(),
            None => format!("{VAR} {}", self.setting()),
        }
    }

    fn read(&self, problems: &mut Vec<String>) -> Option<Vec<u8>> {
        if self.is_inline() {
            return Some(self.value.as_bytes().to_vec());
        }
        match std::fs::read(&self.value) {
            Ok(data) => Some(data),
            Err(err) => {
                problems.push(format!(
                    "{}: cannot read the file ({err}): check the path and that the account \
                     running ConfMgr may read it",
                    self.label()
                ));
                None
            }
        }
    }
}

impl Target {
    fn parse(url: &str) -> Result<Self, String> {
        // sqlx's own parser gives host, port, user and sslmode with its defaults and PG*
        // environment fallbacks; the certificate inputs it keeps private are read here.
        let options = PgConnectOptions::from_str(url).map_err(|err| err.to_string())?;
        let parsed = url::Url::parse(url).map_err(|err| err.to_string())?;
        let mut root = None;
        let mut cert = None;
        let mut key = None;
        for (name, value) in parsed.query_pairs() {
            let slot = match name.as_ref() {
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => &mut root,
                "sslcert" | "ssl-cert" => &mut cert,
                "sslkey" | "ssl-key" => &mut key,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        let source = |from_url: Option<String>, param, env| match from_url {
            Some(value) => Some(Source {
                param,
                env: None,
                value,
            }),
            None => std::env::var(env).ok().map(|value| Source {
                param,
                env: Some(env),
                value,
            }),
        };
        Ok(Self {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            user: options.get_username().to_owned(),
            ssl_mode: options.get_ssl_mode(),
            root_cert: source(root, "sslrootcert", "PGSSLROOTCERT"),
            client_cert: source(cert, "sslcert", "PGSSLCERT"),
            client_key: source(key, "sslkey", "PGSSLKEY"),
        })
    }

    fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn invalid_url(err: &str) -> String {
    format!(
        "{VAR} is not a valid PostgreSQL URL ({err}): use \
         postgres://USER@HOST:PORT/DB?sslmode=verify-full&sslrootcert=…&sslcert=…&sslkey=…"
    )
}

fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

// ---------------------------------------------------------------------------------------------
// Preflight: the files.

/// The certificates of a PEM input, each reported problem pushed; `None` if unusable.
fn read_certs(source: &Source, problems: &mut Vec<String>) -> Option<Vec<CertificateDer<'static>>> {
    let data = source.read(problems)?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&data) {
        match item {
            Ok(cert) => certs.push(cert),
            Err(err) => {
                problems.push(format!(
                    "{}: the file is not valid PEM ({err}): it must hold \"-----BEGIN \
                     CERTIFICATE-----\" blocks (convert a DER file with: openssl x509 -inform der \
                     -in FILE -out FILE.pem)",
                    source.label()
                ));
                return None;
            }
        }
    }
    if certs.is_empty() {
        problems.push(format!(
            "{}: the file holds no PEM certificate: it must hold \"-----BEGIN CERTIFICATE-----\" \
             blocks (convert a DER file with: openssl x509 -inform der -in FILE -out FILE.pem)",
            source.label()
        ));
        return None;
    }
    Some(certs)
}

/// Parses one certificate, reporting it when it is not X.509.
fn parse_cert<'a>(
    source: &Source,
    der: &'a CertificateDer<'_>,
    index: usize,
    problems: &mut Vec<String>,
) -> Option<X509Certificate<'a>> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => Some(cert),
        Err(err) => {
            problems.push(format!(
                "{}: certificate #{} in the file is not a valid X.509 certificate ({err}): \
                 replace the file with the PEM certificate as issued",
                source.label(),
                index + 1
            ));
            None
        }
    }
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

fn check_root(source: &Source, problems: &mut Vec<String>) {
    let Some(certs) = read_certs(source, problems) else {
        return;
    };
    for (index, der) in certs.iter().enumerate() {
        let Some(cert) = parse_cert(source, der, index, problems) else {
            continue;
        };
        if !cert.is_ca() {
            problems.push(format!(
                "{}: certificate #{} (subject \"{}\") is not a CA certificate (no basicConstraints \
                 CA:TRUE): point sslrootcert at the CA that signed the PostgreSQL server \
                 certificate, not at a server or client certificate",
                source.label(),
                index + 1,
                cert.subject()
            ));
        }
    }
}

/// Checks the client certificate; returns the end-entity certificate for the key match.
fn check_client_cert(
    source: &Source,
    user: &str,
    now_unix: i64,
    problems: &mut Vec<String>,
) -> Option<CertificateDer<'static>> {
    let certs = read_certs(source, problems)?;
    let leaf = certs.into_iter().next()?;
    let cert = parse_cert(source, &leaf, 0, problems)?;
    let label = source.label();

    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if now_unix > not_after {
        problems.push(format!(
            "{label}: the client certificate expired on {}: issue a new one (PostgreSQL refuses \
             an expired client certificate)",
            utc_date(not_after)
        ));
    } else if now_unix < not_before {
        problems.push(format!(
            "{label}: the client certificate is not valid before {}: check this host's clock, or \
             wait (PostgreSQL refuses a certificate that is not yet valid)",
            utc_date(not_before)
        ));
    }

    match common_name(&cert) {
        None => problems.push(format!(
            "{label}: the client certificate has no CN: PostgreSQL certificate login (cert auth) \
             takes the database user from the CN; issue it with CN={}",
            if user.is_empty() { "USER" } else { user }
        )),
        Some(cn) if !user.is_empty() && cn != user => problems.push(format!(
            "{label}: the client certificate's CN is \"{cn}\" but the URL's user is \"{user}\": \
             PostgreSQL certificate login (cert auth) requires CN = database user; use a \
             certificate issued for CN={user}, or connect as {cn}"
        )),
        Some(_) => {}
    }

    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if !eku.value.client_auth && !eku.value.any {
            problems.push(format!(
                "{label}: the client certificate's extendedKeyUsage does not include clientAuth, \
                 so PostgreSQL refuses it: issue it with extendedKeyUsage=clientAuth"
            ));
        }
    }
    Some(leaf)
}

/// Checks the private key file; returns the loaded key for the match with the certificate.
fn check_client_key(source: &Source, problems: &mut Vec<String>) -> Option<Arc<dyn SigningKey>> {
    let label = source.label();
    #[cfg(unix)]
    if !source.is_inline() {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&source.value) {
            let mode = meta.permissions().mode() & 0o7777;
            // 0600, or 0640 for a trusted group; nothing for others, no group writes.
            if mode & 0o027 != 0 {
                problems.push(format!(
                    "{label}: the key file has mode {mode:04o}, so other accounts can read or \
                     change it: chmod 600 {} (0640 at most, for a trusted group)",
                    source.value
                ));
            }
        }
    }
    let data = source.read(problems)?;
    let text = String::from_utf8_lossy(&data);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
    {
        problems.push(format!(
            "{label}: the private key is encrypted with a passphrase, which ConfMgr cannot use: \
             store it decrypted (openssl pkey -in KEY -out KEY.new) and protect it by file \
             permissions (0600)"
        ));
        return None;
    }
    let key = match PrivateKeyDer::from_pem_slice(&data) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            problems.push(format!(
                "{label}: the file holds no PEM private key: it must hold a \"-----BEGIN PRIVATE \
                 KEY-----\" (or RSA/EC PRIVATE KEY) block"
            ));
            return None;
        }
        Err(err) => {
            problems.push(format!(
                "{label}: the file is not a valid PEM private key ({err}): replace it with the key \
                 as generated"
            ));
            return None;
        }
    };
    match rustls::crypto::ring::sign::any_supported_type(&key) {
        Ok(key) => Some(key),
        Err(err) => {
            problems.push(format!(
                "{label}: the private key cannot be used ({err}): use an RSA (2048 bits or more), \
                 ECDSA P-256/P-384 or Ed25519 key"
            ));
            None
        }
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
fn utc_date(unix: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = unix.div_euclid(SECONDS_PER_DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

// ---------------------------------------------------------------------------------------------
// Explaining a failed connection.

/// The error and its causes, looking inside `io::Error`s too: a rustls failure during the
/// handshake reaches sqlx as `io::Error(InvalidData, rustls::Error)`, and `io::Error::source`
/// skips the error it wraps.
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        if out.len() >= 16 {
            break;
        }
        out.push(current);
        next = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    out
}

fn explain(target: &Target, error: &sqlx::Error) -> Option<String> {
    let addr = target.addr();
    let chain = causes(error);

    if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return Some(explain_rustls(target, tls));
    }

    match error {
        sqlx::Error::Database(db) => return explain_database(target, db.message()),
        sqlx::Error::PoolTimedOut => {
            return Some(format!(
                "{VAR}: no connection to PostgreSQL at {addr} within the connect timeout: the \
                 host or port is unreachable (connection refused, dropped by a firewall or network \
                 policy, or nothing listening); check the host and port, and that PostgreSQL runs \
                 with listen_addresses covering this address"
            ))
        }
        sqlx::Error::Tls(inner) if inner.to_string().contains("server does not support TLS") => {
            return Some(format!(
                "{VAR}: PostgreSQL at {addr} does not offer TLS: set ssl = on with \
                 ssl_cert_file, ssl_key_file and ssl_ca_file in postgresql.conf"
            ))
        }
        _ => {}
    }

    for cause in &chain {
        let Some(io) = cause.downcast_ref::<std::io::Error>() else {
            continue;
        };
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                return Some(format!(
                    "{VAR}: cannot reach PostgreSQL at {addr} (connection refused): check the \
                     host and port, and that PostgreSQL runs and listens there \
                     (listen_addresses, port)"
                ))
            }
            std::io::ErrorKind::TimedOut => {
                return Some(format!(
                    "{VAR}: no connection to PostgreSQL at {addr} within the connect timeout: \
                     the host or port is unreachable (connection refused, dropped by a firewall \
                     or network policy, or nothing listening); check the host and port, and that \
                     PostgreSQL runs with listen_addresses covering this address"
                ))
            }
            _ if io.to_string().contains("failed to lookup address") => {
                return Some(format!(
                    "{VAR}: cannot resolve the host \"{}\" ({io}): check the host name in the URL \
                     and this host's DNS",
                    target.host
                ))
            }
            _ => {}
        }
    }

    // A file sqlx could not read or parse (missing, not PEM, key without certificate): the
    // preflight names which one and why.
    let file_problem = match error {
        sqlx::Error::Configuration(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::NotFound
                | std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::InvalidData
        ),
        _ => false,
    };
    if file_problem {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        if let Some(first) = file_problems(target, now).into_iter().next() {
            return Some(first);
        }
    }
    None
}

/// The preflight's findings about the files (everything but the `sslmode` note).
fn file_problems(target: &Target, now_unix: i64) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(root) = &target.root_cert {
        check_root(root, &mut problems);
    }

    match (&target.client_cert, &target.client_key) {
        (Some(cert), None) => problems.push(format!(
            "{} is set but there is no sslkey: add sslkey=/path/client.key, the private key of \
             that certificate (sslcert and sslkey are set together, or neither)",
            cert.label()
        )),
        (None, Some(key)) => problems.push(format!(
            "{} is set but there is no sslcert: add sslcert=/path/client.crt, the certificate \
             of that key (sslcert and sslkey are set together, or neither)",
            key.label()
        )),
        _ => {}
    }

    let leaf = target
        .client_cert
        .as_ref()
        .and_then(|cert| check_client_cert(cert, &target.user, now_unix, &mut problems));
    if let Some(key_source) = &target.client_key {
        if let Some(key) = check_client_key(key_source, &mut problems) {
            if let (Some(leaf), Some(cert_source)) = (leaf, &target.client_cert) {
                let certified = CertifiedKey::new(vec![leaf], key);
                if let Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) =
                    certified.keys_match()
                {
                    problems.push(format!(
                        "{}: the private key does not belong to the certificate {}: use the key \
                         the client certificate was issued for (or the certificate issued for \
                         this key)",
                        key_source.label(),
                        cert_source.setting()
                    ));
                }
            }
        }
    }
    problems
}

fn root_label(target: &Target) -> String {
    match &target.root_cert {
        Some(root) => root.setting(),
        None => "the system's CA certificates (there is no sslrootcert)".to_owned(),
    }
}

fn explain_rustls(target: &Target, tls: &rustls::Error) -> String {
    let addr = target.addr();
    let host = &target.host;
    match tls {
        rustls::Error::InvalidCertificate(problem) => match problem {
            CertificateError::UnknownIssuer => match &target.root_cert {
                Some(root) => format!(
                    "{VAR}: the server certificate of {addr} is not signed by {}: point \
                     sslrootcert at the CA that signed the PostgreSQL server certificate (and have \
                     the server send its full chain: rustls does not fetch intermediates)",
                    root.setting()
                ),
                None => format!(
                    "{VAR}: the server certificate of {addr} is not signed by a CA in the \
                     system store and there is no sslrootcert: add sslrootcert=/path/to/ca.crt naming the CA that \
                     signed the PostgreSQL server certificate"
                ),
            },
            CertificateError::NotValidForName => format!(
                "{VAR}: the server certificate of {addr} has no subjectAltName for {host}: \
                 rustls ignores the CN; {}",
                add_san(host)
            ),
            CertificateError::NotValidForNameContext { presented, .. } => format!(
                "{VAR}: the server certificate of {addr} has no subjectAltName for {host} (it \
                 lists {}): rustls ignores the CN; {}",
                if presented.is_empty() {
                    "none".to_owned()
                } else {
                    presented
                        .iter()
                        .map(|name| san(name))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                add_san(host)
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                let when = match problem {
                    CertificateError::ExpiredContext { not_after, .. } => format!(
                        " on {}",
                        utc_date(i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX))
                    ),
                    _ => String::new(),
                };
                format!(
                    "{VAR}: the server certificate of {addr} has expired{when}: renew the \
                     PostgreSQL server certificate (ssl_cert_file) and reload PostgreSQL"
                )
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!(
                    "{VAR}: the server certificate of {addr} is not valid yet: check the clocks \
                     of this host and of the certificate issuer"
                )
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                format!(
                    "{VAR}: the server certificate of {addr} is not for TLS servers: issue it \
                     with extendedKeyUsage=serverAuth"
                )
            }
            other if format!("{other:?}").contains("UnsupportedCertVersion") => format!(
                "{VAR}: the server certificate of {addr} (or its CA) is not an X.509 v3 \
                 certificate, which rustls requires: reissue it as v3 with a subjectAltName"
            ),
            other => format!(
                "{VAR}: the server certificate of {addr} was rejected ({other:?}) when checked \
                 against {}: fix the PostgreSQL server certificate or sslrootcert",
                root_label(target)
            ),
        },
        rustls::Error::AlertReceived(alert) => explain_alert(target, *alert),
        other => format!("{VAR}: TLS with PostgreSQL at {addr} failed: {other}"),
    }
}

fn explain_alert(target: &Target, alert: AlertDescription) -> String {
    let addr = target.addr();
    let client_cert_alert = matches!(
        alert,
        AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError
    );
    match (&target.client_cert, client_cert_alert) {
        (None, true) => requires_client_cert(&addr),
        (Some(cert), true) if alert == AlertDescription::CertificateExpired => format!(
            "{VAR}: PostgreSQL at {addr} refused the client certificate {} as expired: issue a \
             new one",
            cert.setting()
        ),
        (Some(cert), true) => format!(
            "{VAR}: PostgreSQL at {addr} refused the client certificate {} (TLS alert {alert:?}): \
             it must be signed by a CA in the server's ssl_ca_file, be current, and carry \
             clientAuth if it has an extendedKeyUsage",
            cert.setting()
        ),
        (_, false) => format!(
            "{VAR}: PostgreSQL at {addr} aborted the TLS handshake (TLS alert {alert:?}): the \
             server and ConfMgr agree on no TLS version or cipher (ConfMgr needs TLS 1.2 or \
             1.3; set ssl_min_protocol_version = 'TLSv1.2')"
        ),
    }
}

fn requires_client_cert(addr: &str) -> String {
    format!(
        "{VAR}: PostgreSQL at {addr} requires a client certificate and none was sent: add \
         sslcert=/path/client.crt&sslkey=/path/client.key (a certificate whose CN is the database \
         user) to the URL"
    )
}

fn explain_database(target: &Target, message: &str) -> Option<String> {
    let addr = target.addr();
    if message.contains("connection requires a valid client certificate") {
        return Some(match &target.client_cert {
            None => requires_client_cert(&addr),
            Some(cert) => format!(
                "{VAR}: PostgreSQL at {addr} did not accept the client certificate {}: it must \
                 be signed by a CA in the server's ssl_ca_file",
                cert.setting()
            ),
        });
    }
    if message.starts_with("certificate authentication failed for user")
        || message.contains("CN mismatch")
    {
        let user = quoted(message).unwrap_or(&target.user);
        if message.contains("contains no user name") {
            return Some(format!(
                "{VAR}: PostgreSQL at {addr} refused certificate login for user \"{user}\": the \
                 client certificate has no CN; issue one with CN={user}"
            ));
        }
        let cn = target
            .client_cert
            .as_ref()
            .and_then(|source| {
                let data = source.read(&mut Vec::new())?;
                let der = CertificateDer::pem_slice_iter(&data).next()?.ok()?;
                let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
                common_name(&cert)
            })
            .map(|cn| format!(" (the certificate's CN is \"{cn}\")"))
            .unwrap_or_default();
        return Some(format!(
            "{VAR}: PostgreSQL at {addr} refused certificate login for user \"{user}\": the client \
             certificate's CN must equal the database user{cn}; use a certificate issued for \
             CN={user}, or change the URL's user (or map names in pg_ident.conf)"
        ));
    }
    if message.starts_with("no pg_hba.conf entry") {
        return Some(explain_no_hba_line(target, message));
    }
    // `role "x" does not exist`, `database "x" does not exist`: the login itself worked.
    if let Some(name) = message
        .strip_prefix("role \"")
        .and_then(|rest| rest.strip_suffix("\" does not exist"))
    {
        return Some(format!(
            "{VAR}: PostgreSQL at {addr} has no user \"{name}\": the URL's user is wrong, or the \
             user was never created (CREATE ROLE {name} LOGIN, as the database superuser)"
        ));
    }
    if let Some(name) = message
        .strip_prefix("database \"")
        .and_then(|rest| rest.strip_suffix("\" does not exist"))
    {
        return Some(format!(
            "{VAR}: PostgreSQL at {addr} has no database \"{name}\": the URL's database (its \
             path) is wrong, or the database was never created (CREATE DATABASE {name} OWNER \
             {}, as the database superuser)",
            if target.user.is_empty() {
                "USER"
            } else {
                &target.user
            }
        ));
    }
    None
}

/// `no pg_hba.conf entry for host "H", user "U", database "D", no encryption` (PostgreSQL 14
/// and later; `SSL off` before). The likely cause comes first: a connection without TLS
/// (the URL's sslmode, or a server that does not offer TLS) or a user that is not the one
/// PostgreSQL admits; a pg_hba.conf line is suggested only when neither applies.
fn explain_no_hba_line(target: &Target, message: &str) -> String {
    let addr = target.addr();
    let field = |name: &str| -> Option<&str> {
        let start = message.find(&format!("{name} \""))? + name.len() + 2;
        let len = message[start..].find('"')?;
        Some(&message[start..start + len])
    };
    let user = field("user").unwrap_or(&target.user);
    let database = field("database").unwrap_or("DB");
    let from = field("host").unwrap_or("ADDR");
    let unencrypted = message.ends_with("no encryption") || message.ends_with("SSL off");
    if unencrypted {
        return match target.ssl_mode {
            PgSslMode::Disable | PgSslMode::Allow => format!(
                "{VAR}: PostgreSQL at {addr} refused an unencrypted connection: the URL has \
                 sslmode={}, so ConfMgr did not use TLS, and pg_hba.conf admits user \"{user}\" \
                 only over TLS (hostssl): use sslmode=verify-full with sslrootcert, sslcert and \
                 sslkey ({message})",
                ssl_mode_name(target.ssl_mode)
            ),
            _ => format!(
                "{VAR}: PostgreSQL at {addr} refused an unencrypted connection: it does not offer \
                 TLS (ssl = off), so sslmode={} went on without it, and pg_hba.conf admits user \
                 \"{user}\" only over TLS (hostssl): set ssl = on with ssl_cert_file, \
                 ssl_key_file and ssl_ca_file in postgresql.conf, and use sslmode=verify-full \
                 ({message})",
                ssl_mode_name(target.ssl_mode)
            ),
        };
    }
    let cn = target.client_cert.as_ref().and_then(|source| {
        let data = source.read(&mut Vec::new())?;
        let der = CertificateDer::pem_slice_iter(&data).next()?.ok()?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
        common_name(&cert)
    });
    match cn {
        Some(cn) if cn != user => format!(
            "{VAR}: PostgreSQL at {addr} admits no user \"{user}\" to database \"{database}\" \
             from {from}: the URL's user \"{user}\" is not the client certificate's CN \
             \"{cn}\", the user certificate login is for; connect as {cn} (postgres://{cn}@…) \
             ({message})"
        ),
        _ => format!(
            "{VAR}: PostgreSQL at {addr} admits no user \"{user}\" to database \"{database}\" \
             from {from} over TLS: check the URL's user and database (the ones pg_hba.conf \
             names); if they are right, add a line such as \"hostssl {database} {user} \
             {from}/32 cert clientcert=verify-full\" and reload PostgreSQL ({message})"
        ),
    }
}

/// The fix for a host missing from the server certificate: an address is matched against IP
/// SANs only (`IP:127.0.0.1`; `DNS:127.0.0.1` would not cover it), a name against DNS SANs.
fn add_san(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        format!(
            "add IP:{bare} to the server certificate (an address needs an IP SAN; a DNS SAN \
             does not cover it), or connect with a name it lists"
        )
    } else {
        format!("add DNS:{host} to the server certificate, or connect with a name it lists")
    }
}

/// rustls lists presented names as `DnsName("db")` / `IpAddress(10.0.0.1)`: say `DNS:db` /
/// `IP:10.0.0.1`, as they are written when issuing a certificate.
fn san(presented: &str) -> String {
    if let Some(name) = presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
    {
        format!("DNS:{name}")
    } else if let Some(addr) = presented
        .strip_prefix("IpAddress(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        format!("IP:{addr}")
    } else {
        presented.to_owned()
    }
}

/// The first `"…"` in a PostgreSQL message (the user name).
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('"')? + 1;
    let len = message[start..].find('"')?;
    Some(&message[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_735_689_599), "2024-12-31");
        assert_eq!(utc_date(-1), "1969-12-31");
    }

    #[test]
    fn presented_names_read_like_san_entries() {
        assert_eq!(san("DnsName(\"localhost\")"), "DNS:localhost");
        assert_eq!(san("IpAddress(127.0.0.1)"), "IP:127.0.0.1");
        assert_eq!(san("other"), "other");
    }

    #[test]
    fn hosts_missing_from_the_certificate() {
        assert!(add_san("127.0.0.1").starts_with("add IP:127.0.0.1 to the server certificate"));
        assert!(add_san("[::1]").starts_with("add IP:::1 to"));
        assert!(add_san("db.internal").starts_with("add DNS:db.internal to"));
    }

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    #[test]
    fn unencrypted_connections_name_the_cause() {
        let old = "no pg_hba.conf entry for host \"10.0.0.7\", user \"confmgr\", database \
                   \"confmgr\", SSL off";
        let new = "no pg_hba.conf entry for host \"10.0.0.7\", user \"confmgr\", database \
                   \"confmgr\", no encryption";
        for message in [old, new] {
            let line = explain_no_hba_line(
                &target("postgres://confmgr@db:5432/confmgr?sslmode=disable"),
                message,
            );
            assert!(
                line.starts_with(
                    "CONFMGR_DATABASE_URL: PostgreSQL at db:5432 refused an unencrypted \
                     connection: the URL has sslmode=disable, so ConfMgr did not use TLS"
                ),
                "{line}"
            );
            assert!(!line.contains("add a line"), "{line}");
            // sslmode=prefer against a server without TLS ends the same way.
            let line = explain_no_hba_line(
                &target("postgres://confmgr@db:5432/confmgr?sslmode=prefer"),
                message,
            );
            assert!(
                line.starts_with(
                    "CONFMGR_DATABASE_URL: PostgreSQL at db:5432 refused an unencrypted \
                     connection: it does not offer TLS (ssl = off), so sslmode=prefer went on"
                ),
                "{line}"
            );
        }
    }

    #[test]
    fn a_missing_hba_line_names_user_and_database() {
        let line = explain_no_hba_line(
            &target("postgres://app@db:5432/appdb?sslmode=verify-full"),
            "no pg_hba.conf entry for host \"10.0.0.7\", user \"app\", database \"appdb\", SSL \
             encryption",
        );
        assert!(
            line.starts_with(
                "CONFMGR_DATABASE_URL: PostgreSQL at db:5432 admits no user \"app\" to database \
                 \"appdb\" from 10.0.0.7 over TLS: check the URL's user and database"
            ),
            "{line}"
        );
        assert!(
            line.contains("\"hostssl appdb app 10.0.0.7/32 cert clientcert=verify-full\""),
            "{line}"
        );
    }

    #[test]
    fn quoted_user() {
        assert_eq!(
            quoted("certificate authentication failed for user \"bob\""),
            Some("bob")
        );
        assert_eq!(quoted("no quotes"), None);
    }
}
