//! A server running in this process on 127.0.0.1:0, on a fresh database of either backend.

use confmgr_core::credentials::HashCost;
use confmgr_core::crypto::RootKey;
use confmgr_core::token::Token;
use confmgr_server::audit::{Audit, AuditSettings};
use confmgr_server::client_cert::ClientCas;
use confmgr_server::config::{ClientAuth, LegacyApi};
use confmgr_server::login_guard::LoginGuard;
use confmgr_server::services::bootstrap;
use confmgr_server::state::{AccessSettings, AppState, Limits, Shared};
use confmgr_server::tls::TlsFiles;
use confmgr_store::{Store, StoreOptions};
use confmgr_testkit::TestPostgres;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

/// A fresh database URL for the backend (the SQLite file lives as long as the returned dir).
pub async fn fresh_url(db: Db) -> (String, Option<tempfile::TempDir>) {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            (
                format!("sqlite://{}", dir.path().join("confmgr.db").display()),
                Some(dir),
            )
        }
        Db::Postgres => (
            TestPostgres::shared()
                .await
                .unwrap()
                .fresh_database()
                .await
                .unwrap(),
            None,
        ),
    }
}

/// Production settings but a cheap argon2 cost (verification reads the cost from each hash).
pub fn test_access() -> AccessSettings {
    AccessSettings::new(
        3600,
        7200,
        HashCost::TEST,
        LoginGuard::new(10, 30, std::time::Duration::from_secs(60), 2),
    )
}

pub fn audit_settings() -> AuditSettings {
    AuditSettings {
        enabled: true,
        file: None,
        retention_days: 0,
        unsealed_max_age_secs: 60,
    }
}

pub struct TestApp {
    pub base: String,
    pub token: String,
    pub db_url: String,
    pub store: Store,
    /// The server's shared state (keyring, root key, ...), for tests that call services.
    pub state: AppState,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
}

/// How a test server differs from the default (`..Options::default()` for the rest).
#[derive(Default)]
pub struct Options {
    pub limits: Limits,
    /// Default: `test_access()` (cheap hashing, generous login limits).
    pub access: Option<AccessSettings>,
    /// Default: `audit_settings()`.
    pub audit: Option<AuditSettings>,
    pub tls: Option<TlsFiles>,
    pub legacy_api: LegacyApi,
}

impl TestApp {
    pub async fn start(db: Db) -> Self {
        Self::start_with(db, Limits::default()).await
    }

    pub async fn start_with(db: Db, limits: Limits) -> Self {
        Self::start_full(db, limits, test_access()).await
    }

    pub async fn start_full(db: Db, limits: Limits, access: AccessSettings) -> Self {
        Self::start_audited(db, limits, access, audit_settings()).await
    }

    pub async fn start_audited(
        db: Db,
        limits: Limits,
        access: AccessSettings,
        audit: AuditSettings,
    ) -> Self {
        Self::start_options(
            db,
            Options {
                limits,
                access: Some(access),
                audit: Some(audit),
                ..Options::default()
            },
        )
        .await
    }

    /// Served over HTTPS from these certificate files (reloaded when they change).
    pub async fn start_tls(db: Db, files: TlsFiles) -> Self {
        Self::start_options(
            db,
            Options {
                tls: Some(files),
                ..Options::default()
            },
        )
        .await
    }

    pub async fn start_options(db: Db, options: Options) -> Self {
        let Options {
            limits,
            access,
            audit,
            tls,
            legacy_api,
        } = options;
        let access = access.unwrap_or_else(test_access);
        let client_cas = tls.as_ref().and_then(|files| {
            let path = files.client_ca.as_ref()?;
            (files.client_auth != ClientAuth::Off)
                .then(|| ClientCas::load(path, files.client_auth).unwrap())
        });
        let audit = audit.unwrap_or_else(audit_settings);
        let (db_url, dir) = fresh_url(db).await;
        let store = Store::connect(&db_url, &StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let root = RootKey::generate();
        let token = bootstrap::initialize(&store, &root, Token::generate())
            .await
            .unwrap();
        let keyring = bootstrap::unlock(&store, &root).await.unwrap();
        let metrics = confmgr_server::metrics::Metrics::new();
        let audit =
            Audit::start(&store, audit, Arc::clone(&metrics), Arc::new(root.clone())).unwrap();
        let state = AppState::from(Shared {
            audit,
            store: store.clone(),
            keyring: Arc::new(keyring),
            root_key: Arc::new(root),
            limits,
            access: Arc::new(access),
            legacy_api,
            client_cas: client_cas.clone(),
            metrics,
            draining: Default::default(),
        });
        // Keyring refresh and rewrap, as `serve` runs them (fast batches for tests).
        confmgr_server::services::keys::spawn_worker(
            store.clone(),
            Arc::clone(&state.root_key),
            Arc::clone(&state.keyring),
            confmgr_server::services::keys::KeySettings {
                rewrap_pause: std::time::Duration::from_millis(1),
                ..Default::default()
            },
        );
        let shared = state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = rx.await;
        };
        let base = match tls {
            None => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                tokio::spawn(confmgr_server::run(state, listener, shutdown));
                base
            }
            Some(files) => {
                let config = confmgr_server::tls::load_and_watch(files, client_cas)
                    .await
                    .unwrap();
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let base = format!(
                    "https://localhost:{}",
                    listener.local_addr().unwrap().port()
                );
                tokio::spawn(confmgr_server::run_tls(
                    state,
                    listener,
                    config,
                    shutdown,
                    std::time::Duration::from_secs(5),
                ));
                base
            }
        };
        Self {
            base,
            token: token.expose().to_owned(),
            db_url,
            store,
            state: shared,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("X-Vault-Token", &self.token)
    }

    /// Sends a request and returns status and JSON body (Null for an empty body).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// A token made by the root token (`auth/token/create` with `body`): (token, accessor).
    pub async fn create_token(&self, body: Value) -> (String, String) {
        let (status, answer) = self.call("POST", "/v1/auth/token/create", Some(body)).await;
        assert_eq!(status, 200, "{answer}");
        let field = |name: &str| answer["auth"][name].as_str().unwrap().to_owned();
        (field("client_token"), field("accessor"))
    }

    /// The role_id of AppRole role `name`.
    pub async fn role_id(&self, name: &str) -> String {
        let path = format!("/v1/auth/approle/role/{name}/role-id");
        let (status, body) = self.call("GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body["data"]["role_id"].as_str().unwrap().to_owned()
    }

    /// `sys/keys/retire` of `term`, which must be refused (400): its error message.
    pub async fn retire_refused(&self, term: i64) -> String {
        let body = serde_json::json!({ "term": term });
        let (status, body) = self.call("POST", "/v1/sys/keys/retire", Some(body)).await;
        assert_eq!(status, 400, "retire {term}: {body}");
        body["errors"][0].as_str().unwrap_or_default().to_owned()
    }

    /// A raw connection to the database behind the server, for inspecting stored rows.
    pub async fn raw_db(&self) -> sqlx::AnyPool {
        sqlx::AnyPool::connect(&self.db_url).await.unwrap()
    }

    /// `/metrics` as text.
    pub async fn scrape(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

/// The value of the first sample in a scrape whose line starts with `series` (0 if none).
pub fn metric(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

/// Seals every audit event written so far (the background sealer may be sealing too).
pub async fn seal_all(app: &TestApp) {
    for _ in 0..250 {
        app.state.audit.seal_pass(&app.store).await.unwrap();
        let mut tx = app.store.begin().await.unwrap();
        if tx.oldest_unsealed(1).await.unwrap().is_empty() {
            return;
        }
        drop(tx);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("audit events stay unsealed");
}

/// Audit retention of the events before `cutoff`: (checkpoint seq, events purged). Retries
/// while the background sealer holds the sealer lock.
pub async fn purge_before(app: &TestApp, cutoff: i64) -> (i64, i64) {
    let keys = app.state.audit.chain_keys();
    for _ in 0..100 {
        let purged = confmgr_server::audit::sealer::purge_before(&app.store, keys, cutoff)
            .await
            .unwrap();
        if let Some(purged) = purged {
            return purged;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the sealer lock stays taken: nothing purged");
}

/// Like `TestApp::call`, with `token` instead of the root token.
pub async fn as_token(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .header("X-Vault-Token", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

pub async fn send(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
