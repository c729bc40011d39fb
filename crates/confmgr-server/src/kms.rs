//! The root key wrapped by AWS KMS (`CONFMGR_KMS_KEY_ID`, DESIGN.md section 3, doc/keys.md).
//!
//! The root key (32 random bytes from the OS) is encrypted with KMS `Encrypt` under the
//! configured key and the encryption context `{"confmgr:deployment": CONFMGR_KMS_CONTEXT}`;
//! the ciphertext blob is kept in `system_state` (`kms_root_key`, base64). Start-up reads the
//! blob and asks KMS to `Decrypt` it with the same key id and context: the database alone
//! (a dump, a backup, a stolen volume) opens nothing without the KMS key, and every start is
//! recorded in CloudTrail.
//!
//! Every failure is one line that names the setting, the endpoint and what KMS said; no key
//! material and no blob appear in errors or logs. Each KMS step is bounded by
//! `CONFMGR_KMS_TIMEOUT_SECS` (retries included), so an unreachable KMS stops start-up in
//! seconds rather than minutes.

use anyhow::{anyhow, bail, Context};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use base64::Engine as _;
use confmgr_core::crypto::{Keyring, RootKey};
use confmgr_store::Store;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// `system_state` key of the KMS ciphertext blob (base64) of the root key.
pub const STATE_BLOB: &str = "kms_root_key";
/// `system_state` key of the ARN of the KMS key that made the blob, for error messages.
pub const STATE_KEY_ARN: &str = "kms_root_key_arn";
/// The encryption context key; its value names the deployment (`CONFMGR_KMS_CONTEXT`).
pub const CONTEXT_KEY: &str = "confmgr:deployment";
pub const DEFAULT_CONTEXT: &str = "confmgr";
pub const DEFAULT_TIMEOUT_SECS: u64 = 15;

/// Validated KMS settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsSettings {
    /// Key id, key ARN, `alias/name` or alias ARN.
    pub key_id: String,
    /// Value of `confmgr:deployment` in the encryption context.
    pub context: String,
    /// `CONFMGR_KMS_ENDPOINT`; without it the SDK's own `AWS_ENDPOINT_URL_KMS` /
    /// `AWS_ENDPOINT_URL`, else the region's endpoint.
    pub endpoint: Option<String>,
    /// PEM bundle trusted for the KMS endpoint instead of the system store.
    pub ca_file: Option<PathBuf>,
    /// Bound of each KMS step, retries included.
    pub timeout: Duration,
}

/// A KMS client for one key and encryption context.
pub struct Kms {
    client: aws_sdk_kms::Client,
    settings: KmsSettings,
    /// Where requests go, for messages: `http://... (CONFMGR_KMS_ENDPOINT)` or the region.
    endpoint: String,
}

impl Kms {
    pub async fn connect(settings: &KmsSettings) -> anyhow::Result<Self> {
        if std::env::var("LOG_SENSITIVE_BODIES").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
            bail!("LOG_SENSITIVE_BODIES: set to true, it lets the AWS SDK log KMS answers, the unwrapped root key among them; unset it");
        }
        let http_client = http_client(settings)?;
        let attempt = (settings.timeout / 2).max(Duration::from_secs(1));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(attempt.min(Duration::from_secs(3)))
            .operation_attempt_timeout(attempt)
            .operation_timeout(settings.timeout)
            .build();
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        // Region lookup may ask the EC2 instance metadata service: bound it too.
        let sdk = tokio::time::timeout(settings.timeout, loader.load())
            .await
            .map_err(|_| {
                anyhow!(
                    "CONFMGR_KMS_KEY_ID: loading the AWS configuration (region, credentials) took longer than {}s (CONFMGR_KMS_TIMEOUT_SECS); set AWS_REGION",
                    settings.timeout.as_secs()
                )
            })?;
        let mut config = aws_sdk_kms::config::Builder::from(&sdk).interceptor(NoBodiesInLogs);
        let region = match sdk.region() {
            Some(region) => region.to_string(),
            None => match arn_region(&settings.key_id) {
                Some(region) => {
                    config = config.region(Region::new(region.clone()));
                    region
                }
                None => bail!(
                    "CONFMGR_KMS_KEY_ID: no AWS region: set AWS_REGION (or give the key as an ARN, which names its region)"
                ),
            },
        };
        let endpoint = match &settings.endpoint {
            Some(url) => {
                config = config.endpoint_url(url);
                format!("{url} (CONFMGR_KMS_ENDPOINT)")
            }
            None => sdk_endpoint_label(&region),
        };
        Ok(Self {
            client: aws_sdk_kms::Client::from_conf(config.build()),
            settings: settings.clone(),
            endpoint,
        })
    }

    /// `DescribeKey`: the key exists, is enabled and is a symmetric encryption key.
    /// Returns its ARN.
    pub async fn check_key(&self) -> anyhow::Result<String> {
        let call = self
            .client
            .describe_key()
            .key_id(&self.settings.key_id)
            .send();
        let answer = self
            .bounded(call)
            .await
            .map_err(|e| self.failure("cannot describe the key", e))?;
        let metadata = answer
            .key_metadata()
            .ok_or_else(|| self.problem("DescribeKey answered without key metadata"))?;
        if metadata.key_state() != Some(&KeyState::Enabled) {
            let state = metadata
                .key_state()
                .map(|s| s.as_str())
                .unwrap_or("unknown");
            return Err(self.problem(&format!(
                "the key is not enabled (state {state}); enable it or pick another"
            )));
        }
        let usage_ok = metadata
            .key_usage()
            .is_none_or(|u| *u == KeyUsageType::EncryptDecrypt);
        let spec_ok = metadata
            .key_spec()
            .is_none_or(|s| *s == KeySpec::SymmetricDefault);
        if !usage_ok || !spec_ok {
            return Err(self.problem(
                "the key must be a symmetric encryption key (key spec SYMMETRIC_DEFAULT, usage ENCRYPT_DECRYPT)",
            ));
        }
        Ok(metadata
            .arn()
            .map(str::to_owned)
            .unwrap_or_else(|| self.settings.key_id.clone()))
    }

    /// `Encrypt`: the ciphertext blob of `root` and the ARN of the key that made it.
    pub async fn wrap(&self, root: &RootKey) -> anyhow::Result<(Vec<u8>, String)> {
        let call = self
            .client
            .encrypt()
            .key_id(&self.settings.key_id)
            .encryption_context(CONTEXT_KEY, &self.settings.context)
            .plaintext(Blob::new(raw_key(root)?.to_vec()))
            .send();
        let answer = self
            .bounded(call)
            .await
            .map_err(|e| self.failure("cannot wrap the root key (Encrypt)", e))?;
        let blob = answer
            .ciphertext_blob()
            .ok_or_else(|| self.problem("Encrypt answered without a ciphertext"))?;
        let arn = answer
            .key_id()
            .map(str::to_owned)
            .unwrap_or_else(|| self.settings.key_id.clone());
        Ok((blob.as_ref().to_vec(), arn))
    }

    /// `Decrypt` with the configured key id and encryption context.
    pub async fn unwrap(&self, blob: &[u8]) -> anyhow::Result<RootKey> {
        let call = self
            .client
            .decrypt()
            .key_id(&self.settings.key_id)
            .encryption_context(CONTEXT_KEY, &self.settings.context)
            .ciphertext_blob(Blob::new(blob.to_vec()))
            .send();
        let answer = self
            .bounded(call)
            .await
            .map_err(|e| self.failure("cannot unwrap the root key (Decrypt)", e))?;
        let plaintext = answer
            .plaintext()
            .ok_or_else(|| self.problem("Decrypt answered without a plaintext"))?;
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(plaintext));
        RootKey::from_base64(&encoded).map_err(|_| {
            self.problem(&format!(
                "the stored blob ({STATE_BLOB}) does not hold a 32-byte root key"
            ))
        })
    }

    /// Wraps `root`, then unwraps the result: proves that this identity may decrypt with
    /// this context before anything depends on the blob.
    async fn wrap_checked(&self, root: &RootKey) -> anyhow::Result<(Vec<u8>, String)> {
        let (blob, arn) = self.wrap(root).await?;
        let back = self.unwrap(&blob).await?;
        if back.to_base64() != root.to_base64() {
            return Err(self.problem("Decrypt did not give back what Encrypt was given"));
        }
        Ok((blob, arn))
    }

    async fn bounded<T, E>(
        &self,
        call: impl std::future::Future<Output = Result<T, SdkError<E>>>,
    ) -> Result<T, Failure<E>> {
        // The SDK's operation timeout covers retries; this also covers credential lookups.
        let limit = self.settings.timeout + Duration::from_secs(2);
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(Failure::Sdk(Box::new(error))),
            Err(_) => Err(Failure::Deadline),
        }
    }

    fn problem(&self, what: &str) -> anyhow::Error {
        anyhow!(
            "CONFMGR_KMS_KEY_ID ({}): AWS KMS at {}: {what}",
            self.settings.key_id,
            self.endpoint
        )
    }

    fn failure<E>(&self, step: &str, failure: Failure<E>) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let why = match failure {
            Failure::Deadline => self.no_answer(),
            Failure::Sdk(error) => self.explain(*error),
        };
        self.problem(&format!("{step}: {why}"))
    }

    fn no_answer(&self) -> String {
        format!(
            "no answer within {}s (CONFMGR_KMS_TIMEOUT_SECS): is the endpoint reachable from here?",
            self.settings.timeout.as_secs()
        )
    }

    fn explain<E>(&self, error: SdkError<E>) -> String
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match error {
            SdkError::TimeoutError(_) => self.no_answer(),
            SdkError::DispatchFailure(failure) => {
                let chain = failure
                    .as_connector_error()
                    .map(|e| crate::error::one_line(e))
                    .unwrap_or_else(|| "dispatch failure".into());
                if failure.is_timeout() {
                    self.no_answer()
                } else if chain.contains("credentials") || chain.contains("identity") {
                    format!("no usable AWS credentials ({chain}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity or an instance/task role")
                } else if failure.is_io() {
                    format!("cannot connect ({chain})")
                } else {
                    format!("the request failed ({chain})")
                }
            }
            SdkError::ServiceError(service) => {
                let error = service.into_err();
                let code = error.code().unwrap_or("unknown error").to_owned();
                let message = error.message().unwrap_or("").trim().to_owned();
                let said = if message.is_empty() {
                    code.clone()
                } else {
                    format!("{code}: {message}")
                };
                match self.hint(&code) {
                    Some(hint) => format!("{hint} (KMS said {said})"),
                    None => format!("KMS said {said}"),
                }
            }
            other => {
                let chain = crate::error::one_line(&other);
                if chain.contains("credentials") || chain.contains("identity") {
                    format!("no usable AWS credentials ({chain}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity or an instance/task role")
                } else {
                    chain
                }
            }
        }
    }

    fn hint(&self, code: &str) -> Option<String> {
        let context = format!("{CONTEXT_KEY}={:?}", self.settings.context);
        Some(match code {
            "NotFoundException" => "no such key in this account and region (check CONFMGR_KMS_KEY_ID and AWS_REGION)".into(),
            "AccessDeniedException" => format!("access denied: this AWS identity may not use the key with encryption context {context} (see the IAM and key policies in doc/keys.md), or the stored blob was wrapped under another key"),
            "IncorrectKeyException" => "the stored blob was wrapped under another KMS key, not CONFMGR_KMS_KEY_ID".into(),
            "InvalidCiphertextException" => format!("the stored blob does not open with encryption context {context}: CONFMGR_KMS_CONTEXT must name the deployment it was wrapped for (or the blob is damaged)"),
            "DisabledException" => "the key is disabled".into(),
            "KMSInvalidStateException" => "the key is not usable in its current state (pending deletion or import?)".into(),
            "UnrecognizedClientException" | "InvalidClientTokenId" | "InvalidSignatureException" | "ExpiredTokenException" | "IncompleteSignature" =>
                "AWS refused the credentials (check the AWS credential chain: AWS_ACCESS_KEY_ID, AWS_PROFILE, role)".into(),
            "ThrottlingException" | "LimitExceededException" => "KMS is throttling this account; retry".into(),
            _ => return None,
        })
    }
}

/// Marks each KMS call's answer as sensitive: at trace level the SDK then logs
/// "** REDACTED **" instead of the body (Decrypt is marked by the SDK itself; this covers
/// Encrypt, whose answer is the wrapped root key).
#[derive(Debug)]
struct NoBodiesInLogs;

impl aws_sdk_kms::config::Intercept for NoBodiesInLogs {
    fn name(&self) -> &'static str {
        "confmgr::NoBodiesInLogs"
    }

    fn read_before_execution(
        &self,
        _context: &aws_sdk_kms::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut aws_sdk_kms::config::ConfigBag,
    ) -> Result<(), aws_sdk_kms::error::BoxError> {
        cfg.interceptor_state()
            .store_put(aws_smithy_runtime_api::client::orchestrator::SensitiveOutput);
        Ok(())
    }
}

enum Failure<E> {
    Sdk(Box<SdkError<E>>),
    Deadline,
}

/// The SDK's HTTPS client with ring as the rustls provider (like the rest of the workspace),
/// trusting CONFMGR_KMS_CA_FILE alone when it is set, else the system store.
fn http_client(settings: &KmsSettings) -> anyhow::Result<aws_sdk_kms::config::SharedHttpClient> {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    let builder = match &settings.ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("CONFMGR_KMS_CA_FILE: cannot read {}", path.display()))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                bail!(
                    "CONFMGR_KMS_CA_FILE: {} holds no PEM certificate",
                    path.display()
                );
            }
            let context = tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::empty().with_pem_certificate(pem))
                .build()
                .map_err(|e| anyhow!("CONFMGR_KMS_CA_FILE: {}: {e}", path.display()))?;
            builder.tls_context(context)
        }
        None => builder,
    };
    Ok(builder.build_https())
}

/// The endpoint the SDK picks by itself, for messages.
fn sdk_endpoint_label(region: &str) -> String {
    for name in ["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"] {
        if let Ok(url) = std::env::var(name) {
            if !url.trim().is_empty() {
                return format!("{} ({name})", url.trim());
            }
        }
    }
    format!("the {region} endpoint")
}

/// `arn:aws:kms:REGION:ACCOUNT:key/...` names its region.
fn arn_region(key_id: &str) -> Option<String> {
    let mut parts = key_id.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => {
            Some(region.to_owned())
        }
        _ => None,
    }
}

fn raw_key(root: &RootKey) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    base64::engine::general_purpose::STANDARD
        .decode(root.to_base64().as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| anyhow!("the root key does not encode"))
}

/// The stored blob, if any.
async fn stored_blob(store: &Store) -> anyhow::Result<Option<Vec<u8>>> {
    let mut tx = store.begin().await?;
    let value = tx.state_value(STATE_BLOB).await?;
    tx.commit().await?;
    value.map(|v| decode_blob(&v)).transpose()
}

fn decode_blob(value: &str) -> anyhow::Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| anyhow!("system_state {STATE_BLOB}: not valid base64; restore it from a backup or run `confmgr-server kms-migrate` with the root key file"))
}

/// Whether this database keeps a KMS-wrapped root key.
pub async fn has_blob(store: &Store) -> anyhow::Result<bool> {
    let mut tx = store.begin().await?;
    let value = tx.state_value(STATE_BLOB).await?;
    tx.commit().await?;
    Ok(value.is_some())
}

/// Start-up: the stored blob, unwrapped through KMS.
pub async fn load_root_key(store: &Store, settings: &KmsSettings) -> anyhow::Result<RootKey> {
    let Some(blob) = stored_blob(store).await? else {
        if crate::services::bootstrap::is_initialized(store).await? {
            bail!(
                "CONFMGR_KMS_KEY_ID: this database holds no KMS-wrapped root key ({STATE_BLOB}): it was initialized with a root key file; run `confmgr-server kms-migrate` with CONFMGR_ROOT_KEY_FILE and CONFMGR_KMS_KEY_ID once (doc/keys.md)"
            );
        }
        bail!("the database is not initialized: run `confmgr-server init` first (with CONFMGR_KMS_KEY_ID)");
    };
    let kms = Kms::connect(settings).await?;
    let root = kms.unwrap(&blob).await?;
    tracing::info!(key_id = %settings.key_id, context = %settings.context, "root key unwrapped through AWS KMS");
    Ok(root)
}

/// `init`: a new root key, wrapped through KMS and stored, for a database that is not
/// initialized yet. A blob left by an interrupted or concurrent `init` is used as it is,
/// so the keyring is always created under the key the stored blob holds.
pub async fn init_root_key(store: &Store, settings: &KmsSettings) -> anyhow::Result<RootKey> {
    if crate::services::bootstrap::is_initialized(store).await? {
        bail!("the database is already initialized; `init` runs once per database and its root token was printed then");
    }
    let kms = Kms::connect(settings).await?;
    if let Some(blob) = stored_blob(store).await? {
        tracing::info!("using the KMS-wrapped root key left by an earlier `init` of this database");
        return kms.unwrap(&blob).await;
    }
    let arn = kms.check_key().await?;
    let root = RootKey::generate();
    let (blob, wrapped_by) = kms.wrap_checked(&root).await?;
    let mut tx = store.begin_write().await?;
    if let Some(theirs) = tx.state_value(STATE_BLOB).await? {
        // Another `init` stored its blob first: use that one.
        tx.commit().await?;
        return kms.unwrap(&decode_blob(&theirs)?).await;
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&blob);
    tx.set_state_value(STATE_BLOB, Some(&encoded)).await?;
    tx.set_state_value(STATE_KEY_ARN, Some(&wrapped_by)).await?;
    tx.commit().await?;
    tracing::info!(key = %arn, context = %settings.context, "generated a root key and stored it wrapped by AWS KMS");
    Ok(root)
}

/// What `kms-migrate` did.
pub enum Migrated {
    /// The root key was wrapped and stored for the first time.
    Wrapped { arn: String },
    /// A blob was there already and was replaced by a new wrap (another key or context).
    Replaced { arn: String },
}

/// `kms-migrate`: wraps `current` (the root key that opens this keyring) through KMS and
/// stores the blob, replacing any earlier one. The keyring is checked against `current` in
/// the same transaction, so a blob that does not open the keyring is never stored.
pub async fn migrate(
    store: &Store,
    current: &RootKey,
    settings: &KmsSettings,
) -> anyhow::Result<Migrated> {
    let kms = Kms::connect(settings).await?;
    let arn = kms.check_key().await?;
    let (blob, wrapped_by) = kms.wrap_checked(current).await?;
    let mut tx = store.begin_write().await?;
    let terms = tx.keyring_terms().await?;
    if terms.is_empty() || Keyring::unwrap_all(current, &terms).is_err() {
        bail!("CONFMGR_ROOT_KEY_FILE: the root key does not open this database's keyring (was it rekeyed meanwhile?); nothing stored");
    }
    let had = tx.state_value(STATE_BLOB).await?.is_some();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&blob);
    tx.set_state_value(STATE_BLOB, Some(&encoded)).await?;
    tx.set_state_value(STATE_KEY_ARN, Some(&wrapped_by)).await?;
    tx.commit().await?;
    Ok(if had {
        Migrated::Replaced { arn }
    } else {
        Migrated::Wrapped { arn }
    })
}

/// The key that made the stored blob, if recorded (not secret; for messages).
pub async fn stored_key_arn(store: &Store) -> Option<String> {
    let mut tx = store.begin().await.ok()?;
    let arn = tx.state_value(STATE_KEY_ARN).await.ok()?;
    tx.commit().await.ok()?;
    arn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_names_its_region() {
        assert_eq!(
            arn_region("arn:aws:kms:eu-west-1:111122223333:key/1234abcd").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            arn_region("arn:aws:kms:us-east-2:111122223333:alias/confmgr").as_deref(),
            Some("us-east-2")
        );
        assert_eq!(arn_region("alias/confmgr"), None);
        assert_eq!(arn_region("1234abcd-12ab-34cd-56ef-1234567890ab"), None);
    }

    #[test]
    fn raw_key_is_32_bytes_and_round_trips() {
        let root = RootKey::generate();
        let raw = raw_key(&root).unwrap_or_default();
        assert_eq!(raw.len(), 32);
        let back = RootKey::from_base64(&base64::engine::general_purpose::STANDARD.encode(&*raw));
        assert!(back.is_ok_and(|k| k.to_base64() == root.to_base64()));
    }
}
