//! The HTTP client of the server API and its errors. Paths are relative to `/v1/`; names
//! put into a path go through [`segment`].

use crate::exit::Kind;
use crate::session::{ClientTls, Token};
use confmgr_api::ErrorBody;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

pub struct Api {
    http: reqwest::Client,
    addr: String,
    token: Option<Token>,
}

#[derive(Debug)]
pub enum ApiError {
    /// The request did not get an answer (refused, DNS, TLS, timeout).
    Unreachable { addr: String, cause: String },
    /// The server answered an error status. `body` is the whole JSON answer (a KV read of
    /// a deleted version still carries its metadata), `Null` when it was not JSON.
    Status {
        status: StatusCode,
        errors: Vec<String>,
        body: Value,
    },
    /// The server answered success with a body that is not JSON.
    BadBody { status: StatusCode, cause: String },
    /// The CLI could not build the request (a bad address).
    Request(String),
}

impl ApiError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } | Self::BadBody { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// The server's messages, if it answered an error status.
    pub fn messages(&self) -> &[String] {
        match self {
            Self::Status { errors, .. } => errors,
            _ => &[],
        }
    }

    /// The JSON body of an error answer (`Null` if none).
    pub fn body(&self) -> &Value {
        match self {
            Self::Status { body, .. } => body,
            _ => &Value::Null,
        }
    }

    /// A KV check-and-set mismatch (Vault answers 400 with this text), or a 409.
    pub fn is_conflict(&self) -> bool {
        match self.status() {
            Some(StatusCode::CONFLICT) => true,
            Some(StatusCode::BAD_REQUEST) => self
                .messages()
                .iter()
                .any(|m| m.contains("check-and-set parameter did not match")),
            _ => false,
        }
    }

    /// A change the server may or may not have made: it lost its database connection
    /// while committing (503 `outcome unknown: …`).
    pub fn is_outcome_unknown(&self) -> bool {
        self.status() == Some(StatusCode::SERVICE_UNAVAILABLE)
            && self
                .messages()
                .iter()
                .any(|m| m.starts_with("outcome unknown"))
    }

    /// Which exit code this error earns (see `exit`).
    pub fn kind(&self) -> Kind {
        match self {
            Self::Unreachable { .. } => Kind::Unreachable,
            _ if self.is_conflict() => Kind::Conflict,
            _ if self.is_outcome_unknown() => Kind::OutcomeUnknown,
            _ => match self.status() {
                Some(StatusCode::NOT_FOUND) => Kind::NotFound,
                Some(StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED) => Kind::PermissionDenied,
                Some(
                    StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT,
                ) => Kind::Unreachable,
                _ => Kind::General,
            },
        }
    }
}

/// What to do about a refused token or policy; shared with commands that word their own.
pub const DENIED_HINT: &str = "the token is invalid or expired, or its policies do not allow \
     this (`confmgr login` for a new token, `confmgr token lookup` for its policies)";

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable { addr, cause } => write!(
                f,
                "cannot reach the server at {addr}: {cause} (is it running? \
                 --addr or CONFMGR_ADDR sets the address)"
            ),
            Self::Status { status, errors, .. } => {
                let joined = errors
                    .iter()
                    .map(|e| e.trim())
                    .filter(|e| !e.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                match *status {
                    StatusCode::FORBIDDEN if joined.is_empty() || joined == "permission denied" => {
                        write!(f, "permission denied: {DENIED_HINT}")
                    }
                    StatusCode::FORBIDDEN => write!(f, "permission denied: {joined}"),
                    StatusCode::PAYLOAD_TOO_LARGE => f.write_str(
                        "request body too large for the server (its limit is \
                         CONFMGR_MAX_BODY_BYTES): split the data",
                    ),
                    StatusCode::NOT_FOUND if joined.is_empty() => f.write_str("not found"),
                    _ if joined.is_empty() => write!(f, "server answered {status}"),
                    _ => f.write_str(&joined),
                }
            }
            Self::BadBody { status, cause } => {
                write!(f, "unexpected answer from the server ({status}): {cause}")
            }
            Self::Request(cause) => f.write_str(cause),
        }
    }
}

impl std::error::Error for ApiError {}

/// The innermost cause of a reqwest error ("Connection refused (os error 111)"), which says
/// more than the outer "error sending request".
fn root_cause(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(inner) = source.source() {
        source = inner;
    }
    if error.is_timeout() {
        return "timed out".into();
    }
    source.to_string()
}

/// Percent-encodes one path segment (everything but unreserved characters).
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A private CA replaces the built-in roots (as VAULT_CACERT does), so a public CA cannot
/// stand in for the server.
fn with_tls(
    mut builder: reqwest::ClientBuilder,
    tls: &ClientTls,
) -> anyhow::Result<reqwest::ClientBuilder> {
    use anyhow::Context;
    if let Some(path) = &tls.ca_cert {
        let pem = std::fs::read(path).with_context(|| {
            format!("--ca-cert / CONFMGR_CACERT: cannot read {}", path.display())
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|certs| !certs.is_empty())
            .with_context(|| {
                format!(
                    "--ca-cert / CONFMGR_CACERT: {} holds no PEM certificate",
                    path.display()
                )
            })?;
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let mut pem = std::fs::read(cert).with_context(|| {
                format!("--client-cert / CONFMGR_CLIENT_CERT: cannot read {}", cert.display())
            })?;
            pem.push(b'\n');
            pem.extend(std::fs::read(key).with_context(|| {
                format!("--client-key / CONFMGR_CLIENT_KEY: cannot read {}", key.display())
            })?);
            let identity = reqwest::Identity::from_pem(&pem).with_context(|| {
                format!(
                    "--client-cert and --client-key: {} and {} are not a PEM certificate and its private key",
                    cert.display(),
                    key.display()
                )
            })?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => anyhow::bail!(
            "--client-cert and --client-key (CONFMGR_CLIENT_CERT, CONFMGR_CLIENT_KEY): set both or neither"
        ),
    }
    Ok(builder)
}

impl Api {
    pub fn new(addr: &str, token: Option<Token>, tls: &ClientTls) -> anyhow::Result<Self> {
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("confmgr-cli/", env!("CARGO_PKG_VERSION")));
        let http = with_tls(builder, tls)?.build()?;
        Ok(Self {
            http,
            addr: addr.trim_end_matches('/').to_owned(),
            token,
        })
    }

    pub fn with_token(&self, token: Token) -> Self {
        Self {
            http: self.http.clone(),
            addr: self.addr.clone(),
            token: Some(token),
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.send(Method::GET, path, None).await.map(or_null)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Option<Value>, ApiError> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Option<Value>, ApiError> {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Option<Value>, ApiError> {
        self.send(Method::DELETE, path, None).await
    }

    /// A KV v2 write (`POST <mount>/data/<path>` with `{"data": …, "options": {"cas": n}}`)
    /// that settles an unknown outcome itself: when the server answers that it lost its
    /// database while committing, the CLI reads the secret until the server answers (up
    /// to [`SETTLE_FOR`]) and
    /// - with `cas` n: version n+1 holding this data means the write was made, and that
    ///   version is reported; otherwise the same write (same cas) is sent again, which the
    ///   server takes at most once;
    /// - without `cas`: a current version holding this data is reported as the write (a
    ///   put of data already current changes nothing anyone reads); otherwise the write is
    ///   sent again.
    ///
    /// If the server does not answer the reads in time, the outcome-unknown error stands.
    pub async fn write_kv(&self, data_url: &str, body: &Value) -> Result<Option<Value>, ApiError> {
        let cas = body["options"]["cas"].as_u64();
        let mut sent = 0;
        loop {
            sent += 1;
            let unknown = match self.post(data_url, body).await {
                Err(error) if error.is_outcome_unknown() && sent <= MAX_RESENDS => error,
                other => return other,
            };
            match self.settle(data_url, &body["data"], cas).await {
                Settled::Made(version) => {
                    return Ok(Some(serde_json::json!({ "data": { "version": version } })))
                }
                Settled::NotMade => continue,
                Settled::Unknown => return Err(unknown),
            }
        }
    }

    /// Whether a write of `data` (with `cas`) to `data_url` was made, once the server answers.
    async fn settle(&self, data_url: &str, data: &Value, cas: Option<u64>) -> Settled {
        let url = match cas {
            Some(n) => format!("{data_url}?version={}", n.saturating_add(1)),
            None => data_url.to_owned(),
        };
        let deadline = tokio::time::Instant::now() + SETTLE_FOR;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.get(&url).await {
                Ok(found) if found["data"]["data"] == *data => {
                    return match found["data"]["metadata"]["version"].as_u64() {
                        Some(version) => Settled::Made(version),
                        None => Settled::Unknown,
                    }
                }
                // Another version, or none: the write was not made (with cas, sending it
                // again answers a conflict if someone else's write took its place).
                Ok(_) => return Settled::NotMade,
                Err(error) if error.status() == Some(StatusCode::NOT_FOUND) => {
                    return Settled::NotMade
                }
                Err(error) if matches!(error.kind(), Kind::Unreachable) => {}
                Err(_) => return Settled::Unknown,
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Settled::Unknown;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// `PATCH` with `Content-Type: application/merge-patch+json` (KV v2 patch).
    pub async fn merge_patch(&self, path: &str, body: &Value) -> Result<Option<Value>, ApiError> {
        self.send_as(
            Method::PATCH,
            path,
            Some((body, "application/merge-patch+json")),
        )
        .await
    }

    /// Vault's `LIST` where a 404 (nothing there) is an error, not an empty list.
    pub async fn list_or_not_found(&self, path: &str) -> Result<Vec<String>, ApiError> {
        let method = Method::from_bytes(b"LIST").map_err(|e| ApiError::Request(e.to_string()))?;
        Ok(keys(&or_null(self.send(method, path, None).await?)))
    }

    /// Vault's `LIST`: `data.keys`. A 404 means an empty list.
    pub async fn list(&self, path: &str) -> Result<Vec<String>, ApiError> {
        let method = Method::from_bytes(b"LIST").map_err(|e| ApiError::Request(e.to_string()))?;
        match self.send(method, path, None).await {
            Ok(body) => Ok(keys(&or_null(body))),
            Err(error) if error.is_not_found() => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ApiError> {
        self.send_as(method, path, body.map(|b| (b, "application/json")))
            .await
    }

    async fn send_as(
        &self,
        method: Method,
        path: &str,
        body: Option<(&Value, &str)>,
    ) -> Result<Option<Value>, ApiError> {
        let url = format!("{}/v1/{}", self.addr, path.trim_start_matches('/'));
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token.expose());
        }
        if let Some((body, content_type)) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Request(e.to_string()))?;
            request = request.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let response = request.send().await.map_err(|error| {
            if error.is_builder() {
                ApiError::Request(format!("invalid server address {:?}", self.addr))
            } else {
                ApiError::Unreachable {
                    addr: self.addr.clone(),
                    cause: root_cause(&error),
                }
            }
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| ApiError::Unreachable {
                addr: self.addr.clone(),
                cause: root_cause(&error),
            })?;
        interpret(status, &bytes)
    }
}

/// How long a write of unknown outcome waits for the server to answer a read of the secret.
const SETTLE_FOR: Duration = Duration::from_secs(30);
/// How many times such a write is sent again.
const MAX_RESENDS: u32 = 3;

/// What reading the secret after an unknown outcome showed.
enum Settled {
    /// The write was made: this version holds its data.
    Made(u64),
    NotMade,
    /// The server did not tell in time.
    Unknown,
}

/// Turns a status and body into the JSON answer or an error.
pub fn interpret(status: StatusCode, bytes: &[u8]) -> Result<Option<Value>, ApiError> {
    if status.is_success() {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        return serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|error| ApiError::BadBody {
                status,
                cause: error.to_string(),
            });
    }
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let errors = serde_json::from_value::<ErrorBody>(body.clone())
        .map(|body| body.errors)
        .unwrap_or_default();
    Err(ApiError::Status {
        status,
        errors,
        body,
    })
}

fn or_null(body: Option<Value>) -> Value {
    body.unwrap_or(Value::Null)
}

/// `data.keys` of a list answer, as strings.
pub fn keys(body: &Value) -> Vec<String> {
    body["data"]["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_text(status: u16, body: &str) -> String {
        interpret(StatusCode::from_u16(status).unwrap(), body.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_text(403, r#"{"errors":["permission denied"]}"#),
            format!("permission denied: {DENIED_HINT}")
        );
        assert_eq!(
            error_text(403, ""),
            format!("permission denied: {DENIED_HINT}")
        );
        assert_eq!(
            error_text(403, r#"{"errors":["token expired"]}"#),
            "permission denied: token expired"
        );
        assert_eq!(error_text(404, r#"{"errors":[]}"#), "not found");
        assert_eq!(
            error_text(400, r#"{"errors":["bad policy: line 1","second"]}"#),
            "bad policy: line 1; second"
        );
        assert_eq!(error_text(502, "<html>"), "server answered 502 Bad Gateway");
        let gone = interpret(
            StatusCode::NOT_FOUND,
            br#"{"data":{"metadata":{"version":3}}}"#,
        )
        .unwrap_err();
        assert_eq!(gone.body()["data"]["metadata"]["version"], 3);
        assert!(gone.messages().is_empty());
    }

    #[test]
    fn success_bodies() {
        assert_eq!(interpret(StatusCode::NO_CONTENT, b"").unwrap(), None);
        assert_eq!(
            interpret(StatusCode::OK, br#"{"data":{"keys":["a"]}}"#).unwrap(),
            Some(json!({"data":{"keys":["a"]}}))
        );
        assert!(interpret(StatusCode::OK, b"nope").is_err());
        assert_eq!(keys(&json!({"data":{"keys":["a","b"]}})), ["a", "b"]);
        assert!(keys(&Value::Null).is_empty());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("app-1.prod_x"), "app-1.prod_x");
        assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
    }

    #[tokio::test]
    async fn unreachable_names_the_address() {
        // A port from a listener that is closed again: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("http://127.0.0.1:{port}");
        let api = Api::new(&addr, None, &ClientTls::default()).unwrap();
        let error = api.get("sys/health").await.unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("cannot reach the server at {addr}: ")),
            "{error}"
        );
    }
}
