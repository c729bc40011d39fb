//! Editing PostgreSQL URLs.
//!
//! Query strings are edited as text rather than re-serialised so the
//! certificate paths keep the exact spelling callers put in (re-encoding
//! would turn every `/` into `%2F`).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use url::Url;

use crate::certs::{CertPaths, DB_USER};

/// The URL of database `db` on a harness-started server on `localhost:port`,
/// authenticated by the generated client certificate.
pub(crate) fn mtls_url(port: u16, db: &str, certs: &CertPaths) -> String {
    format!(
        "postgres://{DB_USER}@localhost:{port}/{db}?sslmode=verify-full\
         &sslrootcert={}&sslcert={}&sslkey={}",
        certs.ca_cert.display(),
        certs.client_cert.display(),
        certs.client_key.display(),
    )
}

/// `url` without the `sslcert` and `sslkey` parameters.
pub(crate) fn without_client_cert(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => return url.to_owned(),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            // sqlx also accepts the dashed spellings.
            !matches!(key, "sslcert" | "ssl-cert" | "sslkey" | "ssl-key")
        })
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// `url` pointing at database `db` instead.
pub(crate) fn with_database(url: &str, db: &str) -> Result<String> {
    let mut parsed = Url::parse(url).context("parsing PostgreSQL URL")?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        bail!("not a postgres:// URL: scheme {:?}", parsed.scheme());
    }
    parsed.set_path(&format!("/{db}"));
    Ok(parsed.into())
}

/// The certificate files an externally supplied URL names; server paths are
/// unknown and stay empty.
pub(crate) fn cert_paths_from_url(url: &str) -> Result<CertPaths> {
    let parsed = Url::parse(url).context("parsing PostgreSQL URL")?;
    let mut paths = CertPaths::default();
    for (key, value) in parsed.query_pairs() {
        let slot = match key.as_ref() {
            "sslrootcert" | "ssl-root-cert" | "ssl-ca" => &mut paths.ca_cert,
            "sslcert" | "ssl-cert" => &mut paths.client_cert,
            "sslkey" | "ssl-key" => &mut paths.client_key,
            _ => continue,
        };
        *slot = PathBuf::from(value.as_ref());
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgres://confmgr@localhost:5432/db1?sslmode=verify-full\
                       &sslrootcert=/t/ca.crt&sslcert=/t/client.crt&sslkey=/t/client.key";

    #[test]
    fn strips_only_client_cert_and_key() {
        assert_eq!(
            without_client_cert(URL),
            "postgres://confmgr@localhost:5432/db1?sslmode=verify-full&sslrootcert=/t/ca.crt"
        );
        assert_eq!(
            without_client_cert("postgres://h/db?sslkey=k"),
            "postgres://h/db"
        );
        assert_eq!(without_client_cert("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn replaces_database_keeps_query() -> Result<()> {
        let url = with_database(URL, "other")?;
        assert_eq!(url, URL.replace("/db1?", "/other?"));
        Ok(())
    }

    #[test]
    fn reads_cert_paths() -> Result<()> {
        let paths = cert_paths_from_url(URL)?;
        assert_eq!(paths.ca_cert, PathBuf::from("/t/ca.crt"));
        assert_eq!(paths.client_cert, PathBuf::from("/t/client.crt"));
        assert_eq!(paths.client_key, PathBuf::from("/t/client.key"));
        assert_eq!(paths.server_key, PathBuf::new());
        Ok(())
    }
}
