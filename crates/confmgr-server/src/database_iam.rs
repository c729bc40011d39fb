//! Amazon RDS IAM database authentication (`CONFMGR_DATABASE_IAM_AUTH`, issue 26): on RDS,
//! which cannot check client certificates, ConfMgr logs in with an RDS auth token instead
//! of a static password, so no database password exists anywhere.
//!
//! A token is AWS's documented format (the one `aws rds generate-db-auth-token` and
//! botocore's `generate_db_auth_token` print): a SigV4-presigned
//! `https://HOST:PORT/?Action=connect&DBUser=USER` for service `rds-db`, valid 900 seconds
//! (`X-Amz-Expires`), with the scheme cut off. RDS checks it at login only, so an open
//! connection outlives its token; the store asks for a new one every few minutes for the
//! connections it opens later (confmgr-store's login.rs).
//!
//! Signing is local (aws-sigv4, the SDK's own signer): the network is only needed for the
//! credentials, which come from the standard AWS chain loaded as for KMS (kms.rs):
//! environment variables, web identity (IRSA), EKS Pod Identity / container credentials,
//! profile files, instance profile. Credentials are reused while they stay valid beyond the
//! token's lifetime. Errors are one line naming the chain; no token, key or session token
//! ever appears in an error or a log line.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail};
use aws_config::BehaviorVersion;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use confmgr_store::{Password, PasswordFuture, PasswordSource};

use crate::config::DatabaseIam;

/// How long a token is valid: AWS's fixed 15 minutes.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// Longest the AWS configuration (region lookup) or one credentials fetch may take.
const AWS_TIMEOUT: Duration = Duration::from_secs(20);
/// Where credentials may come from, for messages.
const CHAIN: &str = "the AWS credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, web identity AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, EKS Pod Identity AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_PROFILE, the instance profile)";

/// Issues RDS auth tokens for one database user.
pub struct RdsAuthTokens {
    host: String,
    port: u16,
    user: String,
    region: String,
    credentials: SharedCredentialsProvider,
    /// The last credentials, reused while they outlive a token made now.
    cached: Mutex<Option<Credentials>>,
}

impl RdsAuthTokens {
    /// Loads the AWS configuration (region and credential chain). Fetches no credentials yet.
    pub async fn load(iam: &DatabaseIam) -> anyhow::Result<Self> {
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        // The SDK's HTTPS client with ring, like kms.rs: web identity (STS), Pod Identity and
        // instance metadata are reached through it.
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
        let sdk = tokio::time::timeout(AWS_TIMEOUT, loader.load())
            .await
            .map_err(|_| {
                anyhow!(
                    "CONFMGR_DATABASE_IAM_AUTH: loading the AWS configuration (region, credential chain) took longer than {}s; set CONFMGR_DATABASE_IAM_REGION or AWS_REGION",
                    AWS_TIMEOUT.as_secs()
                )
            })?;
        let region = match (&iam.region, sdk.region()) {
            (Some(region), _) => region.clone(),
            (None, Some(region)) => region.to_string(),
            (None, None) => bail!(
                "CONFMGR_DATABASE_IAM_REGION: no AWS region to sign the RDS auth token for: set CONFMGR_DATABASE_IAM_REGION or AWS_REGION (the database's region)"
            ),
        };
        let Some(credentials) = sdk.credentials_provider() else {
            bail!("CONFMGR_DATABASE_IAM_AUTH: the AWS configuration has no credential provider; credentials come from {CHAIN}");
        };
        Ok(Self {
            host: iam.host.clone(),
            port: iam.port,
            user: iam.user.clone(),
            region,
            credentials,
            cached: Mutex::new(None),
        })
    }

    /// A token made now; the error is one line without secrets.
    pub async fn token(&self) -> Result<Password, String> {
        let credentials = self.credentials().await?;
        sign_token(
            &self.host,
            self.port,
            &self.user,
            &self.region,
            &credentials,
            SystemTime::now(),
        )
        .map(Password::new)
    }

    /// The first token, at start-up: its failure stops the start with one line.
    pub async fn first_token(&self) -> anyhow::Result<Password> {
        self.token().await.map_err(|reason| {
            anyhow!("CONFMGR_DATABASE_IAM_AUTH: cannot create an RDS auth token for user {:?} on {}:{} ({}): {reason}", self.user, self.host, self.port, self.region)
        })
    }

    async fn credentials(&self) -> Result<Credentials, String> {
        let now = SystemTime::now();
        // Reused only if they still hold when a token made now expires (a token signed with
        // temporary credentials is refused once they expire).
        let fresh = |c: &Credentials| c.expiry().is_none_or(|at| at > now + TOKEN_LIFETIME * 2);
        if let Ok(cached) = self.cached.lock() {
            if let Some(credentials) = cached.as_ref().filter(|c| fresh(c)) {
                return Ok(credentials.clone());
            }
        }
        let credentials =
            match tokio::time::timeout(AWS_TIMEOUT, self.credentials.provide_credentials()).await {
                Err(_) => {
                    return Err(format!(
                        "no AWS credentials within {}s from {CHAIN}",
                        AWS_TIMEOUT.as_secs()
                    ))
                }
                Ok(Err(error)) => {
                    return Err(format!(
                        "no AWS credentials from {CHAIN}: {}",
                        crate::error::one_line(&error)
                    ))
                }
                Ok(Ok(credentials)) => credentials,
            };
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(credentials.clone());
        }
        Ok(credentials)
    }
}

impl PasswordSource for RdsAuthTokens {
    fn password(&self) -> PasswordFuture<'_> {
        Box::pin(self.token())
    }
}

/// The RDS auth token for `user` at `host:port` in `region`, signed with `credentials` at
/// `time`: `HOST:PORT/?Action=connect&DBUser=USER&X-Amz-…&X-Amz-Signature=…`, the query in
/// the order botocore writes it.
pub fn sign_token(
    host: &str,
    port: u16,
    user: &str,
    region: &str,
    credentials: &Credentials,
    time: SystemTime,
) -> Result<String, String> {
    let endpoint = format!("{host}:{port}/?Action=connect&DBUser={}", aws_encode(user));
    let url = format!("https://{endpoint}");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let identity = Identity::from(credentials.clone());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("rds-db")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot set up request signing: {e}"))?
        .into();
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("cannot sign the connect request for {host}:{port}: {e}"))?;
    // aws-sigv4 traces the canonical request, session token included (its redaction covers
    // headers, and a presigned request carries the token in the query): its events go
    // nowhere, whatever CONFMGR_LOG asks for. Signing is synchronous, so the thread-local
    // default covers all of it.
    let signed =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::new(), || {
            sign(request, &params)
        });
    let (instructions, _signature) = signed
        .map_err(|e| format!("cannot sign the connect request: {e}"))?
        .into_parts();
    let (_headers, query) = instructions.into_parts();
    // aws-sigv4 lists the signature before the session token; botocore (and the CLI) put it
    // last. RDS reads the parameters by name: the order only keeps tokens comparable.
    let (signature, rest): (Vec<_>, Vec<_>) = query
        .into_iter()
        .partition(|(name, _)| *name == "X-Amz-Signature");
    let mut token = endpoint;
    for (name, value) in rest.into_iter().chain(signature) {
        token.push('&');
        token.push_str(name);
        token.push('=');
        token.push_str(&aws_encode(&value));
    }
    Ok(token)
}

/// SigV4's URI encoding: everything but unreserved characters as `%XX` (upper-case hex).
fn aws_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-06-15T08:09:10Z.
    const AT: u64 = 1_749_974_950;
    const RDS_HOST: &str = "confmgr.abcdefghijkl.eu-west-1.rds.amazonaws.com";
    const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLE/session+token==";

    // The expected tokens were made by botocore 1.43.11 (Python 3), independently of this
    // code, with AWS's documentation credentials and botocore's clock frozen:
    //
    //     import datetime
    //     from unittest import mock
    //     import botocore.auth, botocore.session
    //     from botocore.credentials import Credentials
    //     FIXED = datetime.datetime(2025, 6, 15, 8, 9, 10)  # naive UTC, like utcnow()
    //     class Frozen(datetime.datetime):
    //         @classmethod
    //         def utcnow(cls): return FIXED
    //         @classmethod
    //         def now(cls, tz=None): return FIXED.replace(tzinfo=tz) if tz else FIXED
    //     client = botocore.session.get_session().create_client(
    //         "rds", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    //     def token(host, port, user, region, session_token=None):
    //         client._request_signer._credentials = Credentials(
    //             "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token)
    //         with mock.patch.object(botocore.auth.datetime, "datetime", Frozen):
    //             return client.generate_db_auth_token(
    //                 DBHostname=host, Port=port, DBUsername=user, Region=region)
    //     print(token("confmgr.abcdefghijkl.eu-west-1.rds.amazonaws.com", 5432, "confmgr", "eu-west-1"))
    //     print(token("confmgr.abcdefghijkl.eu-west-1.rds.amazonaws.com", 5432, "confmgr", "eu-west-1",
    //                 "FwoGZXIvYXdzEXAMPLE/session+token=="))
    //     print(token("db.internal.example", 6432, "confmgr-app", "us-east-2"))
    const BOTOCORE: [&str; 3] = [
        "confmgr.abcdefghijkl.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=confmgr&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20250615%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20250615T080910Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=c3af7cdb36b47fed907a62a98df7a34b6040c1ff33b4e4c1378227d38339dfe4",
        "confmgr.abcdefghijkl.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=confmgr&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20250615%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20250615T080910Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE%2Fsession%2Btoken%3D%3D&X-Amz-Signature=8030bd6f59290c4f625dc0a1e45dc79466953706075734e1856b7a6f79d82691",
        "db.internal.example:6432/?Action=connect&DBUser=confmgr-app&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20250615%2Fus-east-2%2Frds-db%2Faws4_request&X-Amz-Date=20250615T080910Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=f1ca6dc70da58a6747e74ae3435becbaec2369740d6f8a866841cd6a661e29ef",
    ];

    fn credentials(session_token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token.map(str::to_owned),
            None,
            "test",
        )
    }

    fn token(host: &str, port: u16, user: &str, region: &str, session: Option<&str>) -> String {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(AT);
        sign_token(host, port, user, region, &credentials(session), at)
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// The query parameters of a token, in order, still encoded.
    fn query(token: &str) -> Vec<(&str, &str)> {
        let (_, query) = token.split_once("/?").unwrap_or_default();
        query
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .collect()
    }

    #[test]
    fn tokens_equal_botocores_for_the_same_credentials_and_time() {
        assert_eq!(
            token(RDS_HOST, 5432, "confmgr", "eu-west-1", None),
            BOTOCORE[0]
        );
        assert_eq!(
            token(RDS_HOST, 5432, "confmgr", "eu-west-1", Some(SESSION_TOKEN)),
            BOTOCORE[1]
        );
        assert_eq!(
            token(
                "db.internal.example",
                6432,
                "confmgr-app",
                "us-east-2",
                None
            ),
            BOTOCORE[2]
        );
    }

    #[test]
    fn a_token_is_a_presigned_connect_request_without_its_scheme() {
        let plain = token(RDS_HOST, 5432, "confmgr", "eu-west-1", None);
        let session = token(RDS_HOST, 5432, "confmgr", "eu-west-1", Some(SESSION_TOKEN));
        for t in [&plain, &session] {
            assert!(t.starts_with(&format!("{RDS_HOST}:5432/?")), "{t}");
            assert!(!t.contains("://"), "{t}");
            let q = query(t);
            assert_eq!(q[0], ("Action", "connect"));
            assert_eq!(q[1], ("DBUser", "confmgr"));
            let value = |name: &str| q.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
            assert_eq!(value("X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
            assert_eq!(
                value("X-Amz-Credential"),
                Some("AKIDEXAMPLE%2F20250615%2Feu-west-1%2Frds-db%2Faws4_request")
            );
            assert_eq!(value("X-Amz-Date"), Some("20250615T080910Z"));
            assert_eq!(value("X-Amz-Expires"), Some("900"));
            assert_eq!(value("X-Amz-SignedHeaders"), Some("host"));
            let signature = value("X-Amz-Signature").unwrap_or_default();
            assert!(
                signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()),
                "{signature}"
            );
            assert_eq!(q.last().map(|(n, _)| *n), Some("X-Amz-Signature"));
        }
        assert!(!plain.contains("X-Amz-Security-Token"));
        assert!(query(&session).contains(&(
            "X-Amz-Security-Token",
            "FwoGZXIvYXdzEXAMPLE%2Fsession%2Btoken%3D%3D"
        )));
        // The secret key never appears, encoded or not.
        for t in [&plain, &session] {
            assert!(
                !t.contains("wJalrXUtnFEMI") && !t.contains("EXAMPLEKEY"),
                "{t}"
            );
        }
    }

    #[test]
    fn the_signature_depends_on_every_input() {
        let base = token(RDS_HOST, 5432, "confmgr", "eu-west-1", None);
        let signature = |t: &str| t.rsplit_once("X-Amz-Signature=").map(|(_, s)| s.to_owned());
        for other in [
            token(RDS_HOST, 5433, "confmgr", "eu-west-1", None),
            token(RDS_HOST, 5432, "confmgr2", "eu-west-1", None),
            token(RDS_HOST, 5432, "confmgr", "eu-west-2", None),
            token("other.example", 5432, "confmgr", "eu-west-1", None),
        ] {
            assert_ne!(signature(&other), signature(&base), "{other}");
        }
    }
}
