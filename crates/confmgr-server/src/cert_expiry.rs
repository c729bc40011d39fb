//! Expiry warnings for every certificate the server holds: its own (CONFMGR_TLS_CERT), the client CA (CONFMGR_TLS_CLIENT_CA) and
//! the PostgreSQL root and client certificates named in CONFMGR_DATABASE_URL. Checked at
//! start and then hourly; a certificate with fewer than 30 days left is logged as a warning, and
//! every one is exported as `confmgr_certificate_days_left` on `/metrics`.

use crate::config::Settings;
use crate::metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const WARN_DAYS: i64 = 30;
const CHECK_EVERY: Duration = Duration::from_secs(3600);

/// (what it is, file) for each certificate file the settings name.
pub fn certificate_files(settings: &Settings) -> Vec<(&'static str, PathBuf)> {
    let mut files = Vec::new();
    if let Some(tls) = &settings.tls {
        files.push(("CONFMGR_TLS_CERT", tls.cert.clone()));
        if let Some(client_ca) = &tls.client_ca {
            files.push(("CONFMGR_TLS_CLIENT_CA", client_ca.clone()));
        }
    }
    if let Ok(url) = url::Url::parse(&settings.database_url) {
        for (param, label) in [
            ("sslrootcert", "PostgreSQL root (sslrootcert)"),
            ("sslcert", "PostgreSQL client (sslcert)"),
        ] {
            if let Some((_, value)) = url.query_pairs().find(|(k, _)| k == param) {
                files.push((label, PathBuf::from(value.into_owned())));
            }
        }
    }
    files
}

/// Days left on each certificate (the first in each file); `None` when it cannot be read.
pub fn days_left(
    files: &[(&'static str, PathBuf)],
    now_unix: i64,
) -> Vec<(&'static str, PathBuf, Option<i64>)> {
    files
        .iter()
        .map(|(label, path)| {
            (
                *label,
                path.clone(),
                confmgr_store::days_left(path, now_unix),
            )
        })
        .collect()
}

fn log(report: &[(&'static str, PathBuf, Option<i64>)]) {
    for (label, path, days) in report {
        match days {
            Some(days) if *days < 0 => {
                tracing::error!(certificate = label, path = %path.display(), days, "certificate has expired")
            }
            Some(days) if *days < WARN_DAYS => {
                tracing::warn!(certificate = label, path = %path.display(), days, "certificate expires soon")
            }
            Some(days) => {
                tracing::info!(certificate = label, path = %path.display(), days, "certificate validity")
            }
            None => {
                tracing::warn!(certificate = label, path = %path.display(), "cannot read the certificate's expiry")
            }
        }
    }
}

/// Checks now and then every hour (a rotated certificate shows in the metric within the
/// hour); logs at start and again whenever a certificate's days left change.
pub fn watch(settings: &Settings, metrics: Arc<Metrics>) {
    let files = certificate_files(settings);
    if files.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut logged = Vec::new();
        loop {
            let report = days_left(&files, chrono::Utc::now().timestamp());
            for (label, path, days) in &report {
                if let Some(days) = days {
                    metrics.set_certificate_days_left(label, &path.display().to_string(), *days);
                }
            }
            if report != logged {
                log(&report);
                logged = report;
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_days_left_per_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(10);
        let cert = params.self_signed(&key).unwrap();
        let path = dir.path().join("c.pem");
        std::fs::write(&path, cert.pem()).unwrap();
        let files = vec![("test", path), ("missing", dir.path().join("none.pem"))];
        let report = days_left(&files, chrono::Utc::now().timestamp());
        assert!(matches!(report[0].2, Some(9 | 10)), "{:?}", report[0].2);
        assert_eq!(report[1].2, None);
    }
}
