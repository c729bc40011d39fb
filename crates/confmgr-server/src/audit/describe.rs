//! What an incoming request is, for its audit event: which routes are audited, the
//! operation, mount and path, and the status a successful change answers.

use super::scope::Draft;
use crate::client_cert::PresentedCert;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{header, Method};
use confmgr_core::audit::AuditEvent;
use confmgr_core::crypto::RootKey;
use std::net::SocketAddr;
use std::sync::Arc;

/// Routes that touch no secret, credential, policy or audit data are not audited.
const MAX_HEADER_CHARS: usize = 200;

const UNAUDITED: [&str; 2] = ["/v1/sys/health", "/v1/sys/internal/ui/mounts/{*path}"];

/// `root` keys the digests that stand for legacy secret ids (see `redact_legacy_ids`).
pub fn draft(request: &Request, root: &RootKey) -> Option<Draft> {
    let route = request
        .extensions()
        .get::<MatchedPath>()?
        .as_str()
        .to_owned();
    // `/vault/secret/...` is the legacy API of the earlier secret manager.
    if UNAUDITED.contains(&route.as_str())
        || !(route.starts_with("/v1/") || route.starts_with("/vault/"))
    {
        return None;
    }
    let method = request.method().clone();
    let listing = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "list=true" || p == "list=1"));
    let uri_path = request.uri().path();
    let uri_path = uri_path
        .strip_prefix("/v1/")
        .or_else(|| uri_path.strip_prefix('/'))
        .unwrap_or(uri_path)
        .to_owned();
    let (mount, path) = split_mount(&uri_path);
    let path = redact_legacy_ids(root, &mount, &path);
    // Caller-supplied headers are bounded so a client cannot bloat the log.
    let header = |name| {
        let value = request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        value.chars().take(MAX_HEADER_CHARS).collect::<String>()
    };
    let event = AuditEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        request_id: header("x-request-id"),
        user_agent: header(header::USER_AGENT.as_str()),
        remote_addr: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string())
            .unwrap_or_default(),
        operation: operation(&method, &route, listing),
        mount,
        path,
        ..AuditEvent::default()
    };
    let event = match request.extensions().get::<Arc<PresentedCert>>() {
        Some(cert) => AuditEvent {
            cert_subject: cert.subject.chars().take(MAX_HEADER_CHARS * 2).collect(),
            cert_fingerprint: cert.fingerprint.clone(),
            ..event
        },
        None => event,
    };
    Some(Draft {
        success_status: success_status(&method, &route),
        event,
        recorded: None,
    })
}

/// A legacy secret id is a bearer credential (whoever holds it reads the secret), so a
/// `secret` mount path that names one, `data/legacy/<id>` whether through the legacy API
/// or the KV API, is recorded with the id's keyed digest instead (`crate::services::legacy::
/// id_digest`): a segment after a `legacy` segment that is a UUID, percent-encoded or not.
pub(crate) fn redact_legacy_ids(root: &RootKey, mount: &str, path: &str) -> String {
    if mount != "secret" || !path.contains("legacy/") {
        return path.to_owned();
    }
    let mut after_legacy = false;
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            let id = after_legacy
                .then(|| uuid::Uuid::try_parse(&percent_decoded(segment)).ok())
                .flatten();
            after_legacy = segment == "legacy";
            match id {
                Some(id) => crate::services::legacy::id_digest(root, id),
                None => segment.to_owned(),
            }
        })
        .collect();
    segments.join("/")
}

/// `%2D` → `-`; anything that is not a valid escape is kept as it is.
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| segment.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `secret/data/app/db` → (`secret`, `data/app/db`); `auth/approle/login` →
/// (`auth/approle`, `login`); `sys/policies/acl/x` → (`sys`, `policies/acl/x`).
fn split_mount(uri_path: &str) -> (String, String) {
    let mut segments = uri_path.splitn(3, '/');
    let first = segments.next().unwrap_or_default();
    let second = segments.next().unwrap_or_default();
    let rest = segments.next().unwrap_or_default();
    match first {
        "auth" => (format!("auth/{second}"), rest.to_owned()),
        _ if rest.is_empty() => (first.to_owned(), second.to_owned()),
        _ => (first.to_owned(), format!("{second}/{rest}")),
    }
}

fn operation(method: &Method, route: &str, listing: bool) -> String {
    if route == "/v1/auth/approle/login" || route == "/v1/auth/cert/login" {
        return "login".into();
    }
    // The legacy fetch is a POST that reads.
    if route.starts_with("/vault/secret/fetch") {
        return "read".into();
    }
    let verb = match *method {
        _ if listing => "list",
        Method::GET | Method::HEAD => "read",
        Method::POST | Method::PUT => "write",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    };
    verb.to_owned()
}

/// What a successful change answers: 204 for the routes that answer no body, 202 for
/// AppRole's tidy (Vault's status for it).
fn success_status(method: &Method, route: &str) -> u16 {
    if route == "/v1/auth/approle/tidy/secret-id" || route == "/v1/auth/token/tidy" {
        return 202;
    }
    let no_body = *method == Method::DELETE
        || [
            "/v1/secret/delete/",
            "/v1/secret/undelete/",
            "/v1/secret/destroy/",
            "/v1/secret/metadata/",
            "/v1/secret/config",
            "/v1/sys/policies/acl/",
            "/v1/sys/policy/",
            "/secret-id/destroy",
            "/secret-id-accessor/destroy",
            "/v1/auth/token/revoke",
            "/v1/auth/token/roles/",
            "/role-id",
        ]
        .iter()
        .any(|fragment| route.contains(fragment))
        || route == "/v1/auth/approle/role/{name}"
        || route == "/v1/auth/approle/role/{name}/{field}";
    if no_body {
        204
    } else {
        200
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_and_paths() {
        assert_eq!(
            split_mount("secret/data/app/db"),
            ("secret".into(), "data/app/db".into())
        );
        assert_eq!(
            split_mount("auth/approle/login"),
            ("auth/approle".into(), "login".into())
        );
        assert_eq!(
            split_mount("sys/policies/acl/x"),
            ("sys".into(), "policies/acl/x".into())
        );
        assert_eq!(
            split_mount("secret/config"),
            ("secret".into(), "config".into())
        );
    }

    #[test]
    fn legacy_ids_in_paths_become_digests() {
        let root = RootKey::generate();
        let id = uuid::Uuid::new_v4();
        let digest = crate::services::legacy::id_digest(&root, id);
        let encoded = id.to_string().replace('-', "%2D");
        for (path, want) in [
            (format!("data/legacy/{id}"), format!("data/legacy/{digest}")),
            (
                format!("metadata/legacy/{id}"),
                format!("metadata/legacy/{digest}"),
            ),
            (
                format!("data//legacy/{encoded}"),
                format!("data//legacy/{digest}"),
            ),
            (
                format!("data/legacy/{}", id.simple()),
                format!("data/legacy/{digest}"),
            ),
            (format!("data/app/{id}"), format!("data/app/{id}")),
            (
                "data/legacy/not-an-id".into(),
                "data/legacy/not-an-id".into(),
            ),
        ] {
            assert_eq!(redact_legacy_ids(&root, "secret", &path), want);
        }
        let other = format!("policies/acl/legacy/{id}");
        assert_eq!(redact_legacy_ids(&root, "sys", &other), other);
    }
}
