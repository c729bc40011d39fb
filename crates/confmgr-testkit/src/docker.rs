//! The cluster in a container, through the `testcontainers` crate: Docker, or podman's
//! Docker-compatible API, wherever `DOCKER_HOST` points (default
//! `unix:///var/run/docker.sock`).
//!
//! The container runs `compose/postgres/start.sh`, the same script as the Compose stack, so
//! any image with PostgreSQL's server binaries works: `postgres:16-bookworm` by default,
//! `CONFMGR_TEST_POSTGRES_IMAGE` for another (CI here uses a locally made Debian image, since
//! nothing can be pulled). The certificates are copied in, not bind-mounted, so host file
//! ownership does not matter (rootless engines, Docker Desktop); the script, started as root,
//! gives the server key to the image's `postgres` user and drops to it. The server accepts
//! only TLS with a client certificate, as the local cluster does.
//!
//! `CONFMGR_TEST_CONTAINERS` chooses: `auto` (default; a container when an engine answers
//! `DOCKER_HOST`, else the local binaries), `always` (a container or an error) or `never`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use testcontainers::bollard::models::PortBinding;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use crate::certs::{self, CertPaths};
use crate::{conn, urls, watchdog, Started};

/// `auto`, `always` or `never`: whether the harness runs PostgreSQL in a container.
pub const CONTAINERS_ENV: &str = "CONFMGR_TEST_CONTAINERS";
/// The image to run (any with PostgreSQL's server binaries).
pub const IMAGE_ENV: &str = "CONFMGR_TEST_POSTGRES_IMAGE";
pub const DEFAULT_IMAGE: &str = "postgres:16-bookworm";
/// The image-agnostic start script the Compose stack uses too.
const START_SCRIPT: &str = include_str!("../../../compose/postgres/start.sh");
/// Creating the container, initdb and the first TLS connection.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Auto,
    Always,
    Never,
}

fn mode() -> Result<Mode> {
    match std::env::var(CONTAINERS_ENV).unwrap_or_default().trim() {
        "" | "auto" => Ok(Mode::Auto),
        "always" | "1" | "true" => Ok(Mode::Always),
        "never" | "0" | "false" => Ok(Mode::Never),
        other => bail!("{CONTAINERS_ENV}={other:?}: use auto, always or never"),
    }
}

/// Whether to start a container: an engine answers `DOCKER_HOST` (`auto`), or `always` was
/// asked for (then a dead engine is an error from [`start`], not a silent fallback).
pub(crate) fn available() -> bool {
    match mode() {
        Ok(Mode::Never) => false,
        // A bad value is reported by `start`.
        Ok(Mode::Always) | Err(_) => true,
        Ok(Mode::Auto) => engine_answers(&docker_host()).is_ok(),
    }
}

fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|host| !host.trim().is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned())
}

/// `GET /_ping` on the engine's API socket answers 200.
fn engine_answers(host: &str) -> Result<()> {
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let mut answer = Vec::new();
    if let Some(path) = host.strip_prefix("unix://") {
        let mut stream =
            UnixStream::connect(path).with_context(|| format!("connecting to {path}"))?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
        stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
        stream.write_all(request)?;
        stream.read_to_end(&mut answer)?;
    } else if let Some(address) = host.strip_prefix("tcp://") {
        let address = address
            .to_socket_addrs()?
            .next()
            .with_context(|| format!("{address} resolves to nothing"))?;
        let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT)?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
        stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
        stream.write_all(request)?;
        stream.read_to_end(&mut answer)?;
    } else {
        bail!("DOCKER_HOST={host}: only unix:// and tcp:// are supported");
    }
    let status = String::from_utf8_lossy(&answer);
    match status.lines().next() {
        Some(line) if line.split_whitespace().nth(1) == Some("200") => Ok(()),
        line => bail!("{host}/_ping answered {line:?}"),
    }
}

/// `postgres:16-bookworm` as ("postgres", "16-bookworm"); a registry port is not a tag.
fn split_image(image: &str) -> (String, String) {
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    match image[name_start..].rfind(':') {
        Some(colon) => (
            image[..name_start + colon].to_owned(),
            image[name_start + colon + 1..].to_owned(),
        ),
        None => (image.to_owned(), "latest".to_owned()),
    }
}

pub(crate) async fn start() -> Result<Started> {
    mode()?;
    let host = docker_host();
    tokio::task::spawn_blocking({
        let host = host.clone();
        move || engine_answers(&host)
    })
    .await
    .context("engine probe task")?
    .with_context(|| {
        format!(
            "{CONTAINERS_ENV} asks for a container, but no engine answers DOCKER_HOST={host} \
             (Docker: `docker info`; podman: `podman system service --time=0 \
             unix:///run/podman/podman.sock &` and DOCKER_HOST=unix:///run/podman/podman.sock)"
        )
    })?;
    let image = std::env::var(IMAGE_ENV)
        .ok()
        .filter(|image| !image.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_owned());

    let dir = tempfile::Builder::new()
        .prefix("confmgr-testpg-")
        // Private: it holds the client key.
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("creating temp dir for the test certificates")?
        // The watchdog removes it; a TempDir in a static would never drop.
        .keep();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!("confmgr-testpg-{}-{nanos}", std::process::id());

    // Armed before the container exists so a failure half way still cleans up. The container
    // lives in a static that is never dropped, so this removes it once the tests exit.
    watchdog::spawn(&[
        remove_container_command(&host, &name),
        vec![
            "rm".into(),
            "-rf".into(),
            dir.to_string_lossy().into_owned(),
        ],
    ])?;
    let certs_dir = dir.join("certs");
    std::fs::create_dir(&certs_dir).with_context(|| format!("creating {}", certs_dir.display()))?;
    let certs = certs::generate(&certs_dir)?;

    let container = request(&image, &name, &certs)?
        .start()
        .await
        .with_context(|| format!("starting {image} as {name} through DOCKER_HOST={host}"))?;
    let port = container
        .get_host_port_ipv4(5432.tcp())
        .await
        .context("the container's published port")?;
    let admin_url = urls::mtls_url(port, "postgres", &certs);
    if let Err(err) = conn::wait_ready(&admin_url, READY_TIMEOUT).await {
        let logs = container
            .stderr_to_vec()
            .await
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|e| format!("{e:#}"));
        let tail: Vec<&str> = logs.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(anyhow!(
            "{err:#}\n--- logs of {name} ({image}) ---\n{}",
            tail.join("\n")
        ));
    }
    tracing::info!(%image, %name, port, "test PostgreSQL container ready");
    // Dropping it would remove the container while other tests still use it; the watchdog
    // removes it after the process exits.
    std::mem::forget(container);
    Ok(Started { admin_url, certs })
}

fn request(
    image: &str,
    name: &str,
    certs: &CertPaths,
) -> Result<testcontainers::ContainerRequest<GenericImage>> {
    let (repository, tag) = split_image(image);
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    };
    Ok(GenericImage::new(repository, tag)
        .with_exposed_port(5432.tcp())
        // Readiness is a real mutual-TLS connection (conn::wait_ready), not a log line.
        .with_wait_for(WaitFor::Nothing)
        .with_entrypoint("bash")
        .with_cmd([
            "/confmgr/start.sh",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ])
        .with_container_name(name)
        .with_user("root")
        // The tests create a database each: the certificate's user needs CREATEDB (and the
        // local cluster's user is a superuser too).
        .with_env_var("CONFMGR_DB_ROLE_OPTIONS", "LOGIN SUPERUSER")
        .with_env_var("CONFMGR_DB_USER", certs::DB_USER)
        .with_env_var("CONFMGR_DB_NAME", certs::DB_USER)
        .with_copy_to("/confmgr/start.sh", START_SCRIPT.as_bytes().to_vec())
        .with_copy_to("/pki/server-chain.pem", read(&certs.server_cert)?)
        .with_copy_to("/pki/server-key.pem", read(&certs.server_key)?)
        .with_copy_to("/pki/ca.pem", read(&certs.ca_cert)?)
        .with_startup_timeout(READY_TIMEOUT)
        // Published on the host's loopback only, never on every address.
        .with_host_config_modifier(|config| {
            config.publish_all_ports = Some(false);
            config.port_bindings = Some(
                [(
                    "5432/tcp".to_owned(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_owned()),
                        host_port: Some(String::new()),
                    }]),
                )]
                .into_iter()
                .collect(),
            );
        }))
}

/// The watchdog's command that force-removes the container with its volumes through the
/// engine's API (no docker CLI needed; curl is).
fn remove_container_command(host: &str, name: &str) -> Vec<String> {
    let path = format!("/containers/{name}?force=true&v=true");
    match host.strip_prefix("unix://") {
        Some(socket) => vec![
            "curl".into(),
            "-s".into(),
            "-X".into(),
            "DELETE".into(),
            "--unix-socket".into(),
            socket.into(),
            format!("http://docker{path}"),
        ],
        None => vec![
            "curl".into(),
            "-s".into(),
            "-X".into(),
            "DELETE".into(),
            format!("http://{}{path}", host.trim_start_matches("tcp://")),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_into_repository_and_tag() {
        let split = |image: &str| {
            let (repository, tag) = split_image(image);
            format!("{repository} {tag}")
        };
        assert_eq!(split("postgres:16-bookworm"), "postgres 16-bookworm");
        assert_eq!(
            split("localhost/confmgr-postgres-base:15-bookworm"),
            "localhost/confmgr-postgres-base 15-bookworm"
        );
        assert_eq!(
            split("registry.local:5000/postgres"),
            "registry.local:5000/postgres latest"
        );
    }

    #[test]
    fn the_start_script_is_the_compose_one() {
        assert!(START_SCRIPT.contains("cert clientcert=verify-full"));
        assert!(START_SCRIPT.contains("setpriv"));
    }
}
