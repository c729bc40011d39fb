//! What `main` does for each subcommand, kept out of `main.rs` so tests can drive it.

use crate::audit::Audit;
use crate::client_cert::ClientCas;
use crate::config::{ClientAuth, LegacyApi, RootKeySource, Settings};
use crate::login_guard::LoginGuard;
use crate::services::bootstrap::{self, DevRootToken, UnlockError};
use crate::state::{AccessSettings, AppState, Limits, Shared};
use crate::tls::TlsFiles;
use anyhow::{bail, Context};
use confmgr_core::credentials::HashCost;
use confmgr_core::crypto::RootKey;
use confmgr_core::token::Token;
use confmgr_store::{Store, StoreError};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    if settings.dev {
        if let Some(dir) = settings
            .database_url
            .strip_prefix("sqlite://")
            .and_then(|p| Path::new(p).parent())
        {
            create_private_dir(dir)?;
        }
    }
    let url = &settings.database_url;
    // Check the TLS files first and explain a failed connection: each problem is one line
    // that says what to change (doc/troubleshooting.md).
    let problems = confmgr_store::preflight_postgres_tls(url, chrono::Utc::now().timestamp());
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    let connected = match &settings.database_iam {
        None => Store::connect(url, &settings.store).await,
        // RDS IAM auth: a token now for the first connections, new ones every few minutes.
        Some(iam) => {
            let tokens = crate::database_iam::RdsAuthTokens::load(iam).await?;
            let first = tokens.first_token().await?;
            let login = confmgr_store::DynamicLogin::new(Arc::new(tokens));
            Store::connect_with_login(url, &settings.store, &first, login).await
        }
    };
    let store = match connected {
        Ok(store) => store,
        Err(StoreError::Unavailable(error) | StoreError::Database(error)) => {
            bail!(
                "cannot connect to the database: {}",
                with_iam_hint(settings, confmgr_store::explain_connect_error(url, &error))
            )
        }
        Err(other) => {
            return Err(other).context("cannot connect to the database (CONFMGR_DATABASE_URL)")
        }
    };
    if url.starts_with("postgres") {
        let extra = confmgr_store::system_roots_trusted(url);
        if extra > 0 {
            tracing::info!(
                system_roots = extra,
                "PostgreSQL TLS trusts sslrootcert and {extra} system CA certificates; set SSL_CERT_FILE to the sslrootcert file and unset SSL_CERT_DIR to trust it alone (doc/tls.md, residual trust)"
            );
        }
    }
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(store)
}

/// A failed first connection in one line; with IAM auth, a refused token says what RDS needs
/// (the error never holds the token: PostgreSQL does not repeat a password).
fn with_iam_hint(settings: &Settings, explained: String) -> String {
    match &settings.database_iam {
        Some(iam) if explained.contains("authentication failed") => format!(
            "CONFMGR_DATABASE_IAM_AUTH: the database refused the RDS IAM auth token for user {user:?} at {host}:{port}: the AWS identity needs rds-db:connect on arn:aws:rds-db:REGION:ACCOUNT:dbuser:DB_RESOURCE_ID/{user}, the instance needs IAM database authentication on, and the database user needs GRANT rds_iam TO {user} (doc/tls.md, Amazon RDS) ({explained})",
            user = iam.user,
            host = iam.host,
            port = iam.port,
        ),
        _ => explained,
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

async fn root_key(source: &RootKeySource, store: &Store) -> anyhow::Result<RootKey> {
    match source {
        RootKeySource::Given(key) => {
            if crate::kms::has_blob(store).await? {
                tracing::warn!("this database's root key is also kept wrapped by AWS KMS: starting with CONFMGR_ROOT_KEY_FILE is the break-glass path; start with CONFMGR_KMS_KEY_ID alone (doc/keys.md)");
            }
            Ok(key.clone())
        }
        RootKeySource::Kms(kms) => crate::kms::load_root_key(store, kms).await,
        RootKeySource::MigrateToKms { .. } => {
            anyhow::bail!("the current root key is only used by `kms-migrate`")
        }
        RootKeySource::NotNeeded => anyhow::bail!("no root key configured (CONFMGR_ROOT_KEY_FILE)"),
        RootKeySource::DevFile(path) if path.exists() => crate::config::read_root_key_file(path)
            .map_err(|e| anyhow::anyhow!("CONFMGR_ROOT_KEY_FILE: {e}")),
        RootKeySource::DevFile(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            if let Some(dir) = path.parent() {
                create_private_dir(dir)?;
            }
            let key = RootKey::generate();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            file.write_all(key.to_base64().as_bytes())?;
            tracing::warn!(path = %path.display(), "--dev generated a root key and keeps it beside the data: development only");
            Ok(key)
        }
    }
}

/// `confmgr-server migrate`.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    open_store(settings).await?.close().await;
    tracing::info!("migrations applied");
    Ok(())
}

/// `confmgr-server rekey`: the keyring's terms, wrapped under the new root key in one
/// transaction. Afterwards the old root key opens nothing.
pub async fn rekey(settings: &Settings) -> anyhow::Result<()> {
    let new_root = settings
        .new_root_key
        .as_ref()
        .context("CONFMGR_NEW_ROOT_KEY_FILE is required")?;
    let store = open_store(settings).await?;
    let kms_blob = crate::kms::has_blob(&store).await?;
    let root = root_key(&settings.root_key, &store).await?;
    let terms = bootstrap::rekey(&store, &root, new_root)
        .await
        .map_err(|e| match e {
            UnlockError::Other(inner) => anyhow::Error::from(inner),
            other => anyhow::anyhow!(other),
        })?;
    store.close().await;
    println!("rekeyed {terms} keyring term(s): start the servers with the new root key; the old one no longer opens this database");
    if kms_blob {
        println!("this database also keeps the root key wrapped by AWS KMS, and that blob still holds the old key: run `confmgr-server kms-migrate` with CONFMGR_ROOT_KEY_FILE set to the new key file and CONFMGR_KMS_KEY_ID before starting servers with KMS");
    }
    Ok(())
}

/// `confmgr-server kms-migrate`: wraps the root key of CONFMGR_ROOT_KEY_FILE with
/// CONFMGR_KMS_KEY_ID and stores the blob, so later starts need only the KMS key.
pub async fn kms_migrate(settings: &Settings) -> anyhow::Result<()> {
    let RootKeySource::MigrateToKms { current, kms } = &settings.root_key else {
        bail!("`kms-migrate` needs CONFMGR_ROOT_KEY_FILE and CONFMGR_KMS_KEY_ID");
    };
    let store = open_store(settings).await?;
    match bootstrap::unlock(&store, current).await {
        Ok(_) => {}
        Err(UnlockError::WrongRootKey) => bail!("CONFMGR_ROOT_KEY_FILE: this root key does not open the database's keyring; nothing was wrapped"),
        Err(UnlockError::Other(inner)) => return Err(inner.into()),
        Err(other) => return Err(anyhow::anyhow!(other)),
    }
    let done = crate::kms::migrate(&store, current, kms).await?;
    store.close().await;
    let (verb, arn) = match &done {
        crate::kms::Migrated::Wrapped { arn } => ("wrapped", arn),
        crate::kms::Migrated::Replaced { arn } => {
            ("wrapped again (replacing the earlier blob)", arn)
        }
    };
    println!(
        "root key {verb} by AWS KMS key {arn} with encryption context {}={:?} and stored in the database.\n\
         Start every server with CONFMGR_KMS_KEY_ID (and the same CONFMGR_KMS_CONTEXT) and without CONFMGR_ROOT_KEY_FILE / CONFMGR_ROOT_KEY.\n\
         Then destroy the root key file, or keep it offline as a break-glass backup: whoever holds it opens a copy of the database without KMS (doc/keys.md, AWS KMS).",
        crate::kms::CONTEXT_KEY,
        kms.context
    );
    Ok(())
}

/// `confmgr-server init`: prints the root token on stdout, once.
pub async fn init(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let root = match &settings.root_key {
        // A new root key, wrapped by KMS and stored before the keyring is made with it.
        RootKeySource::Kms(kms) => crate::kms::init_root_key(&store, kms).await?,
        source => root_key(source, &store).await?,
    };
    match bootstrap::initialize(&store, &root, Token::generate()).await {
        Ok(token) => {
            println!(
                "Root token (shown once; store it safely): {}",
                token.expose()
            );
            Ok(())
        }
        Err(crate::error::Error::Store(StoreError::AlreadyInitialized)) => {
            bail!("the database is already initialized; `init` runs once per database and its root token was printed then")
        }
        Err(e) => Err(e.into()),
    }
}

/// Everything the server needs before it can take requests: storage, keyring, state.
pub async fn prepare(settings: &Settings) -> anyhow::Result<AppState> {
    // Files first: a bad CA file must stop the start before --dev prints a root token.
    let client_cas = match settings.tls.as_ref() {
        Some(TlsFiles {
            client_ca: Some(path),
            client_auth,
            ..
        }) if *client_auth != ClientAuth::Off => Some(ClientCas::load(path, *client_auth)?),
        _ => None,
    };
    let store = open_store(settings).await?;
    let root = root_key(&settings.root_key, &store).await?;
    if settings.dev {
        dev_bootstrap(&store, &root, settings).await?;
    }
    let keyring = match bootstrap::unlock(&store, &root).await {
        Ok(keyring) => keyring,
        Err(UnlockError::WrongRootKey) if matches!(settings.root_key, RootKeySource::Kms(_)) => {
            bail!("CONFMGR_KMS_KEY_ID: the root key unwrapped through AWS KMS does not open this database's keyring: the stored kms_root_key blob belongs to another database, or the keyring was rekeyed after `kms-migrate`; run `kms-migrate` again with the root key file that opens it")
        }
        Err(UnlockError::Other(inner)) => return Err(inner.into()),
        Err(other) => return Err(anyhow::anyhow!(other)),
    };
    crate::services::keys::check_no_unknown_terms(&store).await?;
    if !settings.audit.enabled && !settings.dev {
        tracing::warn!("AUDIT IS DISABLED (CONFMGR_AUDIT_ENABLED=false): no access to secrets is being recorded. This is for development only");
    }
    let metrics = crate::metrics::Metrics::new();
    let audit = Audit::start(
        &store,
        settings.audit.clone(),
        Arc::clone(&metrics),
        Arc::new(root.clone()),
    )
    .context("CONFMGR_AUDIT_FILE: cannot open the audit file")?;
    if settings.legacy_api == LegacyApi::Open {
        tracing::warn!("CONFMGR_LEGACY_API=open: /vault/secret/create/ and /vault/secret/fetch answer without a token. Use on trusted networks only");
    }
    Ok(AppState::from(Shared {
        draining: Default::default(),
        metrics,
        client_cas,
        legacy_api: settings.legacy_api,
        audit,
        store,
        keyring: Arc::new(keyring),
        root_key: Arc::new(root),
        access: Arc::new(
            AccessSettings::new(
                settings.token_default_ttl,
                settings.token_max_ttl,
                HashCost::PRODUCTION,
                LoginGuard::new(
                    settings.login_failures_per_client,
                    settings.login_failures_per_address,
                    std::time::Duration::from_secs(60),
                    settings.login_concurrent_hashes,
                ),
            )
            .with_auth_cache(settings.auth_cache),
        ),
        limits: Limits {
            max_body_bytes: settings.max_body_bytes,
            request_timeout: settings.request_timeout,
        },
    }))
}

async fn dev_bootstrap(store: &Store, root: &RootKey, settings: &Settings) -> anyhow::Result<()> {
    tracing::warn!("running in --dev mode: SQLite, a root key kept beside the data, a root token printed on first start. Never use this for real secrets");
    let fixed = settings.dev_root_token.clone().map(Token::from_string);
    if !bootstrap::is_initialized(store).await? {
        let token =
            bootstrap::initialize(store, root, fixed.unwrap_or_else(Token::generate)).await?;
        println!("Root token (shown once): {}", token.expose());
        let _ = std::io::stdout().flush();
    } else if let Some(token) = fixed {
        if bootstrap::ensure_root_token(store, &token).await? == DevRootToken::Revoked {
            bail!(
                "--dev-root-token (CONFMGR_DEV_ROOT_TOKEN): this token was revoked in the dev database {}, and a revoked token is never brought back. Start with another --dev-root-token, or without one (the root token printed at the first start still works unless it was revoked too), or delete the dev data directory (--data-dir) to start afresh",
                settings.database_url
            );
        }
    }
    Ok(())
}

/// `confmgr-server` / `confmgr-server serve`.
pub async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let state = prepare(settings).await?;
    crate::cert_expiry::watch(settings, Arc::clone(&state.metrics));
    let store = state.store.clone();
    let key_worker = crate::services::keys::spawn_worker(
        store.clone(),
        Arc::clone(&state.root_key),
        Arc::clone(&state.keyring),
        settings.keys,
    );
    // Signal handlers before the port opens: a SIGTERM from then on shuts down gracefully.
    let stop = crate::shutdown::on_signal(settings.shutdown, state.draining.clone());
    match &settings.tls {
        Some(files) => {
            let tls = crate::tls::load_and_watch(files.clone(), state.client_cas.clone()).await?;
            let listener = std::net::TcpListener::bind(settings.listen)
                .with_context(|| format!("CONFMGR_LISTEN: cannot listen on {}", settings.listen))?;
            tracing::info!(address = %listener.local_addr()?, "confmgr-server listening (https)");
            crate::run_tls(state, listener, tls, stop, settings.shutdown.grace).await?;
        }
        None => {
            let listener = TcpListener::bind(settings.listen)
                .await
                .with_context(|| format!("CONFMGR_LISTEN: cannot listen on {}", settings.listen))?;
            tracing::info!(address = %listener.local_addr()?, "confmgr-server listening (http)");
            crate::run(state, listener, stop).await?;
        }
    }
    key_worker.abort();
    store.close().await;
    Ok(())
}
