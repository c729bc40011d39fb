use crate::error::error_response;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::Response;

/// Vault clients send `LIST path`; axum routes only standard methods, so `LIST` becomes
/// `GET path?list=true` before routing.
pub fn rewrite_list_method<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    if request.method().as_str() != "LIST" {
        return request;
    }
    *request.method_mut() = Method::GET;
    let uri = request.uri();
    let path_and_query = match uri.query() {
        Some(query) => format!("{}?{query}&list=true", uri.path()),
        None => format!("{}?list=true", uri.path()),
    };
    if let Ok(rewritten) = Uri::builder().path_and_query(path_and_query).build() {
        *request.uri_mut() = rewritten;
    }
    request
}

/// Errors produced outside our handlers (unknown method, body limit, timeout, extractor
/// rejections) come as plain text; every error answered by ConfMgr is `{"errors": [...]}`.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "unsupported operation".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_owned(),
        StatusCode::SERVICE_UNAVAILABLE => "request timed out".to_owned(),
        _ => {
            let bytes = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_lowercase()
            } else {
                text
            }
        }
    };
    error_response(status, vec![message])
}

/// Runs the rest of the request in its own task. When a client hangs up, hyper drops the
/// request's future; without this, a database call in flight would be cancelled midway,
/// and a cancelled `begin` can leave its pooled connection inside a transaction
/// (sqlx#2805). The work now finishes, audit event included; only the answer is lost.
pub async fn finish_despite_hang_up(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "request task failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                vec!["internal error".into()],
            )
        }
    }
}

/// The longest request id kept, in characters (the audit event records as many).
pub const MAX_REQUEST_ID_CHARS: usize = 200;

/// A caller's `X-Request-Id` is kept only if it is printable ASCII (what logs, audit events
/// and the answer's header can all carry unchanged), cut to `MAX_REQUEST_ID_CHARS`. Any
/// other (empty, non-ASCII bytes, control characters) is dropped, so the next layer makes
/// a UUID instead: a log line or audit event with an empty or mangled id helps nobody.
pub async fn sanitize_request_id(mut request: Request, next: Next) -> Response {
    let kept = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .and_then(|id| {
            let id = &id[..id.len().min(MAX_REQUEST_ID_CHARS)];
            HeaderValue::from_str(id).ok()
        });
    let headers = request.headers_mut();
    headers.remove("x-request-id");
    if let Some(id) = kept {
        headers.insert("x-request-id", id);
    }
    next.run(request).await
}

/// Connections accepted by `JsonErrorsListener` name their peer as `PeerAddr`; everything
/// downstream reads `ConnectInfo<SocketAddr>`, as over HTTPS.
pub async fn peer_address(mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(super::raw_errors::PeerAddr(peer))) = request
        .extensions()
        .get::<ConnectInfo<super::raw_errors::PeerAddr>>()
        .copied()
    {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    next.run(request).await
}
