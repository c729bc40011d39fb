//! What an incoming request is, for its audit event: which routes are audited, the
//! operation, mount and path, and the status a successful change answers.

use super::scope::Draft;
use crate::client_cert::PresentedCert;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{header, Method};
use confmgr_core::audit::AuditEvent;
use std::net::SocketAddr;
use std::sync::Arc;

/// Routes that touch no secret, credential, policy or audit data are not audited.
const MAX_HEADER_CHARS: usize = 200;

const UNAUDITED: [&str; 2] = ["/v1/sys/health", "/v1/sys/internal/ui/mounts/{*path}"];

pub fn draft(request: &Request) -> Option<Draft> {
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

/// What a successful change answers: 204 for the routes that answer no body.
fn success_status(method: &Method, route: &str) -> u16 {
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
        ]
        .iter()
        .any(|fragment| route.contains(fragment))
        || route == "/v1/auth/approle/role/{name}";
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
}
