//! Command line and environment. Every flag has a `CONFMGR_*` variable; `validate` turns the
//! raw values into a `Settings` or into one line per problem, naming the variable.

use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand, ValueEnum};
use confmgr_core::crypto::RootKey;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod database;

pub use database::{DatabaseArgs, DatabaseIam};

#[derive(Parser)]
#[command(
    name = "confmgr-server",
    version = env!("CONFMGR_VERSION_LONG"),
    about = "ConfMgr: secrets and configuration over a Vault-compatible API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub args: ServerArgs,
}

#[derive(Subcommand, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Create the keyring and a root token in an empty database; prints the token once.
    Init,
    /// Apply database migrations and exit.
    Migrate,
    /// Wrap the keyring under a new root key (CONFMGR_NEW_ROOT_KEY_FILE) and exit; no data
    /// is re-encrypted. Stop every server first; start them with the new key afterwards.
    Rekey,
    /// Wrap the current root key (CONFMGR_ROOT_KEY_FILE) with AWS KMS (CONFMGR_KMS_KEY_ID)
    /// and store the blob in the database, so later starts need only CONFMGR_KMS_KEY_ID.
    KmsMigrate,
    /// Print the OpenAPI 3.1 document (what `/openapi.json` serves) and exit; needs no
    /// database or key, so CI can generate clients from it.
    Openapi,
    /// Probe this server's own /readyz (HTTPS with CONFMGR_TLS_CERT) and exit 0 or 1 with one
    /// line: the container HEALTHCHECK (doc/containers.md).
    Healthcheck,
}

#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "CONFMGR_LISTEN",
        default_value = "127.0.0.1:8200",
        global = true
    )]
    pub listen: String,

    #[command(flatten)]
    pub database: database::DatabaseArgs,

    /// Root key, base64 of 32 bytes. Prefer --root-key-file.
    #[arg(long, env = "CONFMGR_ROOT_KEY", hide_env_values = true, global = true)]
    pub root_key: Option<String>,

    /// File holding the base64 root key (mode 0600 or 0400).
    #[arg(long, env = "CONFMGR_ROOT_KEY_FILE", global = true)]
    pub root_key_file: Option<PathBuf>,

    /// AWS KMS key (key id, key ARN, alias/NAME or alias ARN) that wraps the root key kept in
    /// the database. Credentials and region come from the usual AWS chain (AWS_REGION,
    /// AWS_ACCESS_KEY_ID, AWS_PROFILE, web identity, ECS/EC2 role). Replaces CONFMGR_ROOT_KEY_FILE.
    #[arg(long, env = "CONFMGR_KMS_KEY_ID", global = true)]
    pub kms_key_id: Option<String>,

    /// The deployment named in the KMS encryption context (`confmgr:deployment`); the key
    /// policy can require it. [default: confmgr]
    #[arg(long, env = "CONFMGR_KMS_CONTEXT", global = true)]
    pub kms_context: Option<String>,

    /// KMS endpoint URL (a VPC endpoint, or a local emulator for tests). Without it the AWS
    /// SDK's AWS_ENDPOINT_URL_KMS, else the region's endpoint.
    #[arg(long, env = "CONFMGR_KMS_ENDPOINT", global = true)]
    pub kms_endpoint: Option<String>,

    /// PEM bundle trusted for the KMS endpoint instead of the system store (needed when
    /// SSL_CERT_FILE pins PostgreSQL trust, or in an image without CA certificates).
    #[arg(long, env = "CONFMGR_KMS_CA_FILE", global = true)]
    pub kms_ca_file: Option<PathBuf>,

    /// Longest each KMS step may take at start-up, retries included, in seconds.
    #[arg(long, env = "CONFMGR_KMS_TIMEOUT_SECS", default_value_t = crate::kms::DEFAULT_TIMEOUT_SECS, global = true)]
    pub kms_timeout_secs: u64,

    /// `rekey` only: the file holding the new root key (mode 0600 or 0400).
    #[arg(long, env = "CONFMGR_NEW_ROOT_KEY_FILE", global = true)]
    pub new_root_key_file: Option<PathBuf>,

    /// Development mode: SQLite in --data-dir, a generated root key, a root token printed once.
    #[arg(long, env = "CONFMGR_DEV", value_parser = BoolishValueParser::new(), global = true)]
    pub dev: bool,

    /// Where --dev keeps its SQLite database and generated root key.
    #[arg(long, env = "CONFMGR_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Fixed root token for --dev (like Vault's -dev-root-token-id), for scripts.
    #[arg(
        long,
        env = "CONFMGR_DEV_ROOT_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub dev_root_token: Option<String>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "CONFMGR_MAX_BODY_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Longest a request may take, in seconds, before it is answered 503.
    #[arg(
        long,
        env = "CONFMGR_REQUEST_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub request_timeout_secs: u64,

    /// After SIGTERM, keep serving this many seconds while /readyz answers 503, so load
    /// balancers and Kubernetes endpoints stop sending traffic before the listener closes.
    #[arg(
        long,
        env = "CONFMGR_SHUTDOWN_DRAIN_SECS",
        default_value_t = 0,
        global = true
    )]
    pub shutdown_drain_secs: u64,

    /// After the drain, how many seconds in-flight requests may take to finish before the
    /// process exits anyway.
    #[arg(
        long,
        env = "CONFMGR_SHUTDOWN_GRACE_SECS",
        default_value_t = 30,
        global = true
    )]
    pub shutdown_grace_secs: u64,

    /// PEM certificate chain (leaf first) for HTTPS. With CONFMGR_TLS_KEY, the API is served
    /// over TLS 1.2/1.3 and the files are reloaded when they change or on SIGHUP.
    #[arg(long, env = "CONFMGR_TLS_CERT", global = true)]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of CONFMGR_TLS_CERT.
    #[arg(long, env = "CONFMGR_TLS_KEY", global = true)]
    pub tls_key: Option<PathBuf>,

    /// PEM bundle of the CA(s) whose client certificates may log in (`auth/cert/login`).
    #[arg(long, env = "CONFMGR_TLS_CLIENT_CA", global = true)]
    pub tls_client_ca: Option<PathBuf>,

    /// Client certificates on the HTTPS listener: `off`, `optional` (asked for; needed only
    /// by `auth/cert/login`) or `required` (every request needs a valid one).
    /// [default: optional with CONFMGR_TLS_CLIENT_CA, off without]
    #[arg(long, env = "CONFMGR_TLS_CLIENT_AUTH", value_enum, global = true)]
    pub tls_client_auth: Option<ClientAuth>,

    /// The legacy create/fetch API of the earlier secret manager (`/vault/secret/...`):
    /// `off`, `token` (needs a token like any route) or `open` (no token: trusted networks only).
    #[arg(
        long,
        env = "CONFMGR_LEGACY_API",
        value_enum,
        default_value = "off",
        global = true
    )]
    pub legacy_api: LegacyApi,

    /// `init` only: when the database is initialized already, exit 0 without a new root token
    /// (a one-shot init job that runs on every start, as in compose/compose.yaml).
    #[arg(long, env = "CONFMGR_INIT_IF_NEEDED", value_parser = BoolishValueParser::new(), global = true)]
    pub init_if_needed: bool,

    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy only).
    #[arg(long, env = "CONFMGR_INSECURE_HTTP", value_parser = BoolishValueParser::new(), global = true)]
    pub insecure_http: bool,

    /// Record every access in the audit log. Turning it off is for development only.
    #[arg(long, env = "CONFMGR_AUDIT_ENABLED", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true)]
    pub audit_enabled: bool,

    /// Also append every committed audit event to this file as a JSON line (for a SIEM).
    #[arg(long, env = "CONFMGR_AUDIT_FILE", global = true)]
    pub audit_file: Option<PathBuf>,

    /// Purge sealed audit events older than this many days (0: keep forever).
    #[arg(
        long,
        env = "CONFMGR_AUDIT_RETENTION_DAYS",
        default_value_t = 0,
        global = true
    )]
    pub audit_retention_days: u32,

    /// `verify` reports an event still unsealed after this many seconds.
    #[arg(
        long,
        env = "CONFMGR_AUDIT_UNSEALED_MAX_AGE_SECS",
        default_value_t = 60,
        global = true
    )]
    pub audit_unsealed_max_age_secs: i64,

    /// Lifetime of tokens whose client or request does not set one (Go duration).
    #[arg(
        long,
        env = "CONFMGR_TOKEN_DEFAULT_TTL",
        default_value = "768h",
        global = true
    )]
    pub token_default_ttl: String,

    /// Longest any token may live, renewals included (Go duration).
    #[arg(
        long,
        env = "CONFMGR_TOKEN_MAX_TTL",
        default_value = "768h",
        global = true
    )]
    pub token_max_ttl: String,

    /// Failed logins per client (role_id) per minute before answering 429.
    #[arg(
        long,
        env = "CONFMGR_LOGIN_FAILURES_PER_CLIENT",
        default_value_t = 10,
        global = true
    )]
    pub login_failures_per_client: u32,

    /// Failed logins per source address per minute before answering 429.
    #[arg(
        long,
        env = "CONFMGR_LOGIN_FAILURES_PER_ADDRESS",
        default_value_t = 30,
        global = true
    )]
    pub login_failures_per_address: u32,

    /// Rotate the keyring automatically when its active term is this many days old (0: only
    /// when a term has wrapped 2^30 data keys).
    #[arg(
        long,
        env = "CONFMGR_KEY_ROTATION_DAYS",
        default_value_t = 0,
        global = true
    )]
    pub key_rotation_days: u32,

    /// Data keys re-wrapped per transaction by a rewrap (`sys/keys/rewrap`).
    #[arg(
        long,
        env = "CONFMGR_REWRAP_BATCH",
        default_value_t = 500,
        global = true
    )]
    pub rewrap_batch: u32,

    /// Pause between rewrap batches, in milliseconds (throttles a rewrap under load).
    #[arg(
        long,
        env = "CONFMGR_REWRAP_PAUSE_MS",
        default_value_t = 20,
        global = true
    )]
    pub rewrap_pause_ms: u64,

    /// argon2 verifications running at once (each takes ~19 MiB and tens of ms of CPU).
    #[arg(
        long,
        env = "CONFMGR_LOGIN_CONCURRENT_HASHES",
        default_value_t = 2,
        global = true
    )]
    pub login_concurrent_hashes: usize,

    /// Milliseconds a token lookup is reused by this server (0: never; ACLs parsed from
    /// policy texts are kept by those texts either way, as they cannot go stale).
    /// At most 1000: a revocation must reach every replica within one second.
    #[arg(
        long,
        env = "CONFMGR_AUTH_CACHE_MS",
        default_value_t = 500,
        global = true
    )]
    pub auth_cache_ms: u64,

    #[arg(
        long,
        env = "CONFMGR_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `confmgr_server=debug` (sqlx's per-statement notices stay at warn).
    #[arg(
        long,
        env = "CONFMGR_LOG",
        default_value = "info,sqlx=warn",
        value_parser = log_filter,
        global = true
    )]
    pub log: String,
}

/// Whether the HTTPS listener asks for client certificates.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    #[default]
    Off,
    Optional,
    Required,
}

/// Whether the legacy `/vault/secret/{create,fetch}` routes exist, and whether they need a token.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LegacyApi {
    #[default]
    Off,
    Token,
    Open,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Where the root key comes from once validated.
pub enum RootKeySource {
    Given(RootKey),
    /// --dev without a key: generated on first start, kept in the data directory.
    DevFile(PathBuf),
    /// `migrate` needs no key.
    NotNeeded,
    /// CONFMGR_KMS_KEY_ID: the root key is kept in the database, wrapped by AWS KMS.
    Kms(crate::kms::KmsSettings),
    /// `kms-migrate`: the current root key, to be wrapped by AWS KMS.
    MigrateToKms {
        current: RootKey,
        kms: crate::kms::KmsSettings,
    },
}

/// Validated settings: everything the server needs, nothing left to check.
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    /// `CONFMGR_DATABASE_IAM_AUTH`: log in with RDS IAM auth tokens.
    pub database_iam: Option<DatabaseIam>,
    pub root_key: RootKeySource,
    pub dev: bool,
    pub dev_root_token: Option<String>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub store: confmgr_store::StoreOptions,
    pub token_default_ttl: i64,
    pub token_max_ttl: i64,
    pub login_failures_per_client: u32,
    pub login_failures_per_address: u32,
    pub login_concurrent_hashes: usize,
    pub auth_cache: Duration,
    pub keys: crate::services::keys::KeySettings,
    pub audit: crate::audit::AuditSettings,
    pub tls: Option<crate::tls::TlsFiles>,
    pub shutdown: crate::shutdown::ShutdownSettings,
    pub legacy_api: LegacyApi,
    /// `rekey`'s new root key.
    pub new_root_key: Option<RootKey>,
}

pub fn default_dev_data_dir() -> PathBuf {
    std::env::temp_dir().join("confmgr-dev")
}

impl ServerArgs {
    /// Checks everything at once so an operator sees every problem in one go.
    pub fn validate(&self, command: Command) -> Result<Settings, Vec<String>> {
        let mut problems = Vec::new();
        let listen = self
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| {
                problems.push(format!(
                    "CONFMGR_LISTEN: {:?} is not an address like 127.0.0.1:8200",
                    self.listen
                ))
            })
            .ok();

        let data_dir = self.data_dir.clone().unwrap_or_else(default_dev_data_dir);
        let (database_url, database_iam) =
            self.database.validate(self.dev, &data_dir, &mut problems);

        let root_key = match self.root_key_source(&data_dir, command) {
            Ok(source) => source,
            // Migrations touch no key material: `migrate` runs without a root key.
            Err(_) if command == Command::Migrate => Some(RootKeySource::NotNeeded),
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
                client_auth: match (self.tls_client_auth, &self.tls_client_ca) {
                    (Some(mode), _) => mode,
                    (None, Some(_)) => ClientAuth::Optional,
                    (None, None) => ClientAuth::Off,
                },
            }),
            (None, None) => None,
            _ => {
                problems.push("CONFMGR_TLS_CERT and CONFMGR_TLS_KEY: set both (certificate chain and its key) or neither".into());
                None
            }
        };
        match (&tls, self.tls_client_auth, &self.tls_client_ca) {
            (None, Some(ClientAuth::Optional | ClientAuth::Required), _) | (None, _, Some(_)) => {
                problems.push("CONFMGR_TLS_CLIENT_CA and CONFMGR_TLS_CLIENT_AUTH: client certificates need HTTPS; set CONFMGR_TLS_CERT and CONFMGR_TLS_KEY too".into())
            }
            (Some(_), Some(ClientAuth::Optional | ClientAuth::Required), None) => problems.push(
                "CONFMGR_TLS_CLIENT_AUTH: needs CONFMGR_TLS_CLIENT_CA, the CA bundle client certificates are checked against".into(),
            ),
            _ => {}
        }
        if let (None, Some(address), false, false) = (&tls, listen, self.dev, self.insecure_http) {
            if !address.ip().is_loopback() && self.tls_cert.is_none() && self.tls_key.is_none() {
                problems.push(format!(
                    "CONFMGR_LISTEN: {address} is not a loopback address and no TLS is configured: set CONFMGR_TLS_CERT and CONFMGR_TLS_KEY, or pass --insecure-http behind a TLS-terminating proxy"
                ));
            }
        }
        let new_root_key = match (command, &self.new_root_key_file) {
            (Command::Rekey, Some(path)) => read_root_key_file(path)
                .map_err(|e| problems.push(format!("CONFMGR_NEW_ROOT_KEY_FILE: {e}")))
                .ok(),
            (Command::Rekey, None) => {
                problems.push("CONFMGR_NEW_ROOT_KEY_FILE: `rekey` needs the file holding the new root key (generate one with: head -c 32 /dev/urandom | base64 > new.key; chmod 600 new.key)".into());
                None
            }
            (_, Some(_)) => {
                problems.push("CONFMGR_NEW_ROOT_KEY_FILE: only used by `rekey`".into());
                None
            }
            (_, None) => None,
        };
        if self.dev_root_token.is_some() && !self.dev {
            problems.push("CONFMGR_DEV_ROOT_TOKEN: only allowed with --dev".into());
        }
        if self
            .dev_root_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            problems.push("CONFMGR_DEV_ROOT_TOKEN: must not be empty".into());
        }
        if self.max_body_bytes == 0 {
            problems.push("CONFMGR_MAX_BODY_BYTES: must be greater than 0".into());
        }
        let ttl = |name: &str, raw: &str, problems: &mut Vec<String>| {
            match confmgr_core::duration::parse_seconds(raw) {
                Ok(0) => {
                    problems.push(format!("{name}: must be longer than 0s"));
                    0
                }
                Ok(seconds) => seconds,
                Err(e) => {
                    problems.push(format!("{name}: {e}"));
                    0
                }
            }
        };
        let token_default_ttl = ttl(
            "CONFMGR_TOKEN_DEFAULT_TTL",
            &self.token_default_ttl,
            &mut problems,
        );
        let token_max_ttl = ttl("CONFMGR_TOKEN_MAX_TTL", &self.token_max_ttl, &mut problems);
        if token_default_ttl > token_max_ttl && token_max_ttl > 0 {
            problems
                .push("CONFMGR_TOKEN_DEFAULT_TTL: must not exceed CONFMGR_TOKEN_MAX_TTL".into());
        }
        if self.login_failures_per_client == 0
            || self.login_failures_per_address == 0
            || self.login_concurrent_hashes == 0
        {
            problems.push("CONFMGR_LOGIN_*: limits must be greater than 0".into());
        }
        crate::audit::AuditSettings::check_bounds(
            self.audit_retention_days,
            self.audit_unsealed_max_age_secs,
            &mut problems,
        );
        if self.request_timeout_secs == 0 {
            problems.push("CONFMGR_REQUEST_TIMEOUT_SECS: must be greater than 0".into());
        }
        let shutdown = crate::shutdown::ShutdownSettings::parse(
            self.shutdown_drain_secs,
            self.shutdown_grace_secs,
            &mut problems,
        );
        let auth_cache = Duration::from_millis(self.auth_cache_ms);
        if auth_cache > crate::auth_cache::MAX_TTL {
            problems.push(format!(
                "CONFMGR_AUTH_CACHE_MS: {} is more than 1000; a revoked token must be refused by every server within one second",
                self.auth_cache_ms
            ));
        }

        match (listen, database_url, root_key, problems.is_empty()) {
            (Some(listen), Some(database_url), Some(root_key), true) => Ok(Settings {
                listen,
                database_url,
                root_key,
                dev: self.dev,
                dev_root_token: self.dev_root_token.clone(),
                max_body_bytes: self.max_body_bytes,
                request_timeout: Duration::from_secs(self.request_timeout_secs),
                database_iam,
                store: self.database.store_options(),
                token_default_ttl,
                token_max_ttl,
                login_failures_per_client: self.login_failures_per_client,
                login_failures_per_address: self.login_failures_per_address,
                login_concurrent_hashes: self.login_concurrent_hashes,
                auth_cache,
                tls,
                shutdown,
                legacy_api: self.legacy_api,
                new_root_key,
                keys: crate::services::keys::KeySettings {
                    rotation_days: self.key_rotation_days,
                    rewrap_batch: i64::from(self.rewrap_batch.max(1)),
                    rewrap_pause: Duration::from_millis(self.rewrap_pause_ms),
                },
                audit: crate::audit::AuditSettings {
                    enabled: self.audit_enabled,
                    file: self.audit_file.clone(),
                    retention_days: self.audit_retention_days,
                    unsealed_max_age_secs: self.audit_unsealed_max_age_secs,
                },
            }),
            _ => Err(problems),
        }
    }

    fn root_key_source(
        &self,
        data_dir: &std::path::Path,
        command: Command,
    ) -> Result<Option<RootKeySource>, String> {
        let Some(kms) = self.kms_settings()? else {
            if command == Command::KmsMigrate {
                return Err("CONFMGR_KMS_KEY_ID: `kms-migrate` needs the AWS KMS key to wrap the root key with".into());
            }
            return self.file_root_key_source(data_dir);
        };
        let key_given = self.root_key.is_some() || self.root_key_file.is_some();
        if self.dev {
            return Err("CONFMGR_KMS_KEY_ID: not with --dev (KMS is for production; --dev keeps a generated root key beside its data)".into());
        }
        match command {
            Command::KmsMigrate if key_given => match self.file_root_key_source(data_dir)? {
                Some(RootKeySource::Given(current)) => {
                    Ok(Some(RootKeySource::MigrateToKms { current, kms }))
                }
                _ => Err("CONFMGR_ROOT_KEY_FILE: `kms-migrate` needs the current root key".into()),
            },
            Command::KmsMigrate => Err("CONFMGR_ROOT_KEY_FILE: `kms-migrate` needs the current root key (CONFMGR_ROOT_KEY_FILE or CONFMGR_ROOT_KEY) to wrap with CONFMGR_KMS_KEY_ID".into()),
            Command::Rekey => Err("CONFMGR_KMS_KEY_ID: `rekey` works with root key files only; with KMS, rotate the KMS key instead (doc/keys.md)".into()),
            Command::Migrate | Command::Openapi | Command::Healthcheck => {
                Ok(Some(RootKeySource::Kms(kms)))
            }
            Command::Serve | Command::Init if key_given => Err(
                "CONFMGR_KMS_KEY_ID and CONFMGR_ROOT_KEY_FILE/CONFMGR_ROOT_KEY: set one, not both (which root key would be meant?); to move a file key into KMS run `confmgr-server kms-migrate` with both once, then start with CONFMGR_KMS_KEY_ID alone".into(),
            ),
            Command::Serve | Command::Init => Ok(Some(RootKeySource::Kms(kms))),
        }
    }

    /// The KMS settings if CONFMGR_KMS_KEY_ID is set; the other KMS settings need it.
    fn kms_settings(&self) -> Result<Option<crate::kms::KmsSettings>, String> {
        let key_id = match self.kms_key_id.as_deref().map(str::trim) {
            Some("") => return Err("CONFMGR_KMS_KEY_ID: must not be empty".into()),
            Some(id) => id.to_owned(),
            None => {
                let stray = [
                    ("CONFMGR_KMS_CONTEXT", self.kms_context.is_some()),
                    ("CONFMGR_KMS_ENDPOINT", self.kms_endpoint.is_some()),
                    ("CONFMGR_KMS_CA_FILE", self.kms_ca_file.is_some()),
                ];
                return match stray.iter().find(|(_, set)| *set) {
                    Some((name, _)) => Err(format!("{name}: only used with CONFMGR_KMS_KEY_ID")),
                    None => Ok(None),
                };
            }
        };
        let context = match self.kms_context.as_deref() {
            None => crate::kms::DEFAULT_CONTEXT.to_owned(),
            Some(c) if c.trim().is_empty() => {
                return Err("CONFMGR_KMS_CONTEXT: must not be empty".into())
            }
            Some(c) => c.to_owned(),
        };
        let endpoint = match self.kms_endpoint.as_deref().map(str::trim) {
            None => None,
            Some(raw) => match url::Url::parse(raw) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Some(raw.to_owned())
                }
                _ => {
                    return Err(format!(
                        "CONFMGR_KMS_ENDPOINT: {raw:?} is not an http(s) URL (scheme and host, e.g. https://HOST:PORT)"
                    ))
                }
            },
        };
        if self.kms_timeout_secs == 0 {
            return Err("CONFMGR_KMS_TIMEOUT_SECS: must be greater than 0".into());
        }
        Ok(Some(crate::kms::KmsSettings {
            key_id,
            context,
            endpoint,
            ca_file: self.kms_ca_file.clone(),
            timeout: Duration::from_secs(self.kms_timeout_secs),
        }))
    }

    fn file_root_key_source(
        &self,
        data_dir: &std::path::Path,
    ) -> Result<Option<RootKeySource>, String> {
        match (&self.root_key, &self.root_key_file) {
            (Some(_), Some(_)) => {
                Err("CONFMGR_ROOT_KEY and CONFMGR_ROOT_KEY_FILE: set one, not both".into())
            }
            (Some(encoded), None) => RootKey::from_base64(encoded)
                .map(|k| Some(RootKeySource::Given(k)))
                .map_err(|e| format!("CONFMGR_ROOT_KEY: {e}")),
            (None, Some(path)) => read_root_key_file(path)
                .map(|k| Some(RootKeySource::Given(k)))
                .map_err(|e| format!("CONFMGR_ROOT_KEY_FILE: {e}")),
            (None, None) if self.dev => Ok(Some(RootKeySource::DevFile(data_dir.join("root.key")))),
            (None, None) => Err(
                "CONFMGR_ROOT_KEY_FILE: required (or CONFMGR_ROOT_KEY, or CONFMGR_KMS_KEY_ID), or run with --dev".into(),
            ),
        }
    }
}

/// Reads a root key file, refusing one that other users could read.
pub fn read_root_key_file(path: &std::path::Path) -> Result<RootKey, String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        let access = if mode & 0o044 != 0 {
            "readable"
        } else {
            "writable or executable"
        };
        return Err(format!(
            "{} is {access} by group or others (mode {mode:o}); run chmod 600 on it",
            path.display()
        ));
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    RootKey::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A bad `CONFMGR_LOG` is refused at start-up rather than silently logging at `info`.
fn log_filter(filter: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| filter.to_owned())
        .map_err(|error| {
            format!("not a log filter ({error}); e.g. `info` or `info,confmgr_server=debug`")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> ServerArgs {
        let mut argv = vec!["confmgr-server"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).args
    }

    #[test]
    fn the_auth_cache_may_not_outlive_the_one_second_revocation_bound() {
        let key = RootKey::generate().to_base64();
        let base = ["--database-url", "sqlite://x.db", "--root-key", &key];
        let default = args(&base).validate(Command::Serve).unwrap();
        assert_eq!(default.auth_cache, Duration::from_millis(500));
        let mut longest = base.to_vec();
        longest.extend(["--auth-cache-ms", "1000"]);
        assert_eq!(
            args(&longest).validate(Command::Serve).unwrap().auth_cache,
            Duration::from_secs(1)
        );
        let mut too_long = base.to_vec();
        too_long.extend(["--auth-cache-ms", "1001"]);
        let problems = args(&too_long).validate(Command::Serve).err().unwrap();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("CONFMGR_AUTH_CACHE_MS:") && problems[0].contains("one second"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let a = args(&[
            "--listen",
            "nowhere",
            "--root-key",
            "!!",
            "--max-body-bytes",
            "0",
        ]);
        let problems = a.validate(Command::Serve).err().unwrap_or_default();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("CONFMGR_LISTEN")));
        assert!(problems
            .iter()
            .any(|p| p.starts_with("CONFMGR_DATABASE_URL")));
        assert!(problems
            .iter()
            .any(|p| p.starts_with("CONFMGR_ROOT_KEY:") && p.contains("base64")));
        assert!(problems
            .iter()
            .any(|p| p.starts_with("CONFMGR_MAX_BODY_BYTES")));
    }

    #[test]
    fn dev_needs_nothing() {
        let settings = args(&["--dev"]).validate(Command::Serve).ok();
        assert!(
            settings.is_some_and(|s| s.database_url.starts_with("sqlite://")
                && matches!(s.root_key, RootKeySource::DevFile(_)))
        );
    }

    #[test]
    fn root_key_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("key");
        std::fs::write(&path, RootKey::generate().to_base64().as_bytes()).ok();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).ok();
        assert!(read_root_key_file(&path)
            .err()
            .is_some_and(|e| e.contains("chmod 600")));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).ok();
        assert!(read_root_key_file(&path).is_ok());
        std::fs::write(&path, "c2hvcnQ=").ok();
        assert!(read_root_key_file(&path)
            .err()
            .is_some_and(|e| e.contains("must decode to 32 bytes, got 5")));
        std::fs::write(&path, "not base64 at all!").ok();
        assert!(read_root_key_file(&path)
            .err()
            .is_some_and(|e| e.contains("not valid base64")));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).ok();
        assert!(read_root_key_file(&path)
            .err()
            .is_some_and(|e| e.contains("readable by group or others (mode 640)")));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).ok();
        assert!(read_root_key_file(&path)
            .err()
            .is_some_and(|e| e.contains("writable or executable by group or others (mode 620)")));
    }
}
