//! `confmgr-server healthcheck`: asks this container's own server for `/readyz` and exits 0
//! (ready) or 1 (anything else) after printing one line. Images built `FROM scratch` have no
//! shell and no curl, so this is their `HEALTHCHECK`.
//!
//! It reads the server's own settings, so the probe needs no configuration of its own in a
//! container that runs the server: `CONFMGR_LISTEN` gives the port (an unspecified address
//! such as `0.0.0.0` is probed on loopback), `CONFMGR_TLS_CERT` switches to HTTPS. The server
//! certificate is checked against `CONFMGR_HEALTHCHECK_CA` if set, else against the CA
//! certificates that follow the leaf in `CONFMGR_TLS_CERT` (a full chain file), under the
//! name `CONFMGR_HEALTHCHECK_SERVER_NAME` (default `localhost`). `/readyz` needs no client
//! certificate even with `CONFMGR_TLS_CLIENT_AUTH=required`; a proxy in front that wants one
//! gets `CONFMGR_HEALTHCHECK_CLIENT_CERT` and `CONFMGR_HEALTHCHECK_CLIENT_KEY`.
//!
//! Blocking std I/O and rustls: no runtime, no HTTP client crate, a few milliseconds.

use anyhow::{bail, Context};
use confmgr_server::config::ServerArgs;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Connect, handshake, request and answer each get this long.
const TIMEOUT: Duration = Duration::from_secs(5);
/// An answer longer than this is cut: the status line and a short error body are enough.
const MAX_ANSWER: usize = 16 * 1024;

/// The probe's settings, beside the server's: env only, never flags, so the image's
/// `HEALTHCHECK` command stays `confmgr-server healthcheck`.
pub const ENV_CA: &str = "CONFMGR_HEALTHCHECK_CA";
pub const ENV_SERVER_NAME: &str = "CONFMGR_HEALTHCHECK_SERVER_NAME";
pub const ENV_CLIENT_CERT: &str = "CONFMGR_HEALTHCHECK_CLIENT_CERT";
pub const ENV_CLIENT_KEY: &str = "CONFMGR_HEALTHCHECK_CLIENT_KEY";

/// Runs the probe, prints one line on stdout (podman and Docker keep it in the health log).
pub fn run(args: &ServerArgs) -> ExitCode {
    match Probe::from_settings(args, |name| std::env::var_os(name).map(PathBuf::from))
        .and_then(|probe| probe.check())
    {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            // One line: anyhow's chain joined with ": ".
            println!("unhealthy: {error:#}");
            ExitCode::FAILURE
        }
    }
}

struct Probe {
    address: SocketAddr,
    tls: Option<(ServerName<'static>, Arc<ClientConfig>)>,
}

impl Probe {
    fn from_settings(
        args: &ServerArgs,
        env: impl Fn(&str) -> Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let listen: SocketAddr = args.listen.parse().with_context(|| {
            format!(
                "CONFMGR_LISTEN: {:?} is not an address like 0.0.0.0:8200",
                args.listen
            )
        })?;
        let address = SocketAddr::new(probe_ip(listen.ip()), listen.port());
        let Some(chain_file) = &args.tls_cert else {
            return Ok(Self { address, tls: None });
        };
        let roots = match env(ENV_CA) {
            Some(ca) => trust_anchors(&ca, ENV_CA, 0)?,
            None => trust_anchors(chain_file, "CONFMGR_TLS_CERT", 1).with_context(|| {
                format!("set {ENV_CA} to the CA that signed the server certificate")
            })?,
        };
        let name = env(ENV_SERVER_NAME)
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "localhost".to_owned());
        let server_name = ServerName::try_from(name.clone()).with_context(|| {
            format!("{ENV_SERVER_NAME}: {name:?} is not a DNS name or IP address")
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots);
        let config = match (env(ENV_CLIENT_CERT), env(ENV_CLIENT_KEY)) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certs(&cert, ENV_CLIENT_CERT)?, read_key(&key)?)
                .with_context(|| {
                    format!("{ENV_CLIENT_CERT} and {ENV_CLIENT_KEY} do not form a usable pair")
                })?,
            (None, None) => builder.with_no_client_auth(),
            _ => bail!("{ENV_CLIENT_CERT} and {ENV_CLIENT_KEY}: set both or neither"),
        };
        Ok(Self {
            address,
            tls: Some((server_name, Arc::new(config))),
        })
    }

    fn url(&self) -> String {
        match &self.tls {
            Some((name, _)) => format!("https://{}:{}/readyz", name.to_str(), self.address.port()),
            None => format!("http://{}/readyz", self.address),
        }
    }

    /// `Ok` with the line to print when `/readyz` answers 200.
    fn check(&self) -> anyhow::Result<String> {
        let url = self.url();
        let stream = TcpStream::connect_timeout(&self.address, TIMEOUT)
            .with_context(|| format!("{url}: cannot connect to {}", self.address))?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let host = match &self.tls {
            Some((name, _)) => format!("{}:{}", name.to_str(), self.address.port()),
            None => self.address.to_string(),
        };
        let request = format!(
            "GET /readyz HTTP/1.1\r\nHost: {host}\r\nUser-Agent: confmgr-healthcheck\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        let answer = match &self.tls {
            None => exchange(stream, request.as_bytes()),
            Some((name, config)) => {
                let connection =
                    ClientConnection::new(config.clone(), name.clone()).context("TLS client")?;
                exchange(StreamOwned::new(connection, stream), request.as_bytes())
            }
        }
        .with_context(|| format!("{url}: {}", tls_hint(&self.tls)))?;
        let (status, body) =
            parse_answer(&answer).with_context(|| format!("{url}: not an HTTP answer"))?;
        if status == 200 {
            Ok(format!("ready: {url} answered 200"))
        } else {
            bail!("{url} answered {status} {body}")
        }
    }
}

/// A server listening on every address is probed on loopback.
fn probe_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

fn tls_hint(tls: &Option<(ServerName<'static>, Arc<ClientConfig>)>) -> String {
    match tls {
        Some((name, _)) => format!(
            "no answer over HTTPS (is the certificate valid for {} and signed by the trusted CA? {ENV_SERVER_NAME} and {ENV_CA} change them)",
            name.to_str()
        ),
        None => "no answer over HTTP".to_owned(),
    }
}

/// Sends the request, reads until the server closes or `MAX_ANSWER` bytes arrived.
fn exchange(mut stream: impl Read + Write, request: &[u8]) -> anyhow::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while answer.len() < MAX_ANSWER {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            // A close without close_notify, or a timeout after the answer came: keep what we have.
            Err(_) if has_status_line(&answer) => break,
            Err(error) => return Err(error.into()),
        }
    }
    Ok(answer)
}

fn has_status_line(answer: &[u8]) -> bool {
    answer.windows(2).any(|w| w == b"\r\n")
}

/// The status code and the body squeezed onto one short line.
fn parse_answer(answer: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let body: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    Some((status, body.chars().take(300).collect()))
}

fn read_certs(path: &Path, variable: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("{variable}: cannot read {}", path.display()))?;
    rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{variable}: {} is not valid PEM", path.display()))
}

/// The certificates of a PEM file after the first `skip` ones, as trust anchors.
fn trust_anchors(path: &Path, variable: &str, skip: usize) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path, variable)?.into_iter().skip(skip) {
        roots.add(cert).with_context(|| {
            format!(
                "{variable}: {} holds a certificate rustls cannot use as a CA",
                path.display()
            )
        })?;
    }
    if roots.is_empty() {
        bail!(
            "{variable}: {} holds no CA certificate{}",
            path.display(),
            if skip > 0 { " after the leaf" } else { "" }
        );
    }
    Ok(roots)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("{ENV_CLIENT_KEY}: cannot read {}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("{ENV_CLIENT_KEY}: {} is not valid PEM", path.display()))?
        .with_context(|| format!("{ENV_CLIENT_KEY}: {} holds no private key", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_probed_on_loopback() {
        assert_eq!(
            probe_ip("0.0.0.0".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            probe_ip("::".parse().unwrap()),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            probe_ip("10.1.2.3".parse().unwrap()),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn answers_are_parsed_to_status_and_one_line() {
        let answer = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n{\"errors\":\n [\"storage unreachable\"]}";
        assert_eq!(
            parse_answer(answer),
            Some((503, "{\"errors\": [\"storage unreachable\"]}".to_owned()))
        );
        assert_eq!(parse_answer(b"SSH-2.0-OpenSSH\r\n"), None);
    }
}
