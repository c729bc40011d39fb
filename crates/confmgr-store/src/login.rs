//! PostgreSQL logins whose password changes: an Amazon RDS IAM auth token
//! (`CONFMGR_DATABASE_IAM_AUTH`) is valid for 15 minutes from signing, so the password the
//! pool logs in with must be renewed while the server runs.
//!
//! How: the pool's connect options are replaced with a freshly issued password every
//! [`DynamicLogin::refresh_every`] (sqlx's `Pool::set_connect_options`), so every connection
//! the pool opens afterwards logs in with it. sqlx 0.8 has no hook that runs before each new
//! connection's login (a per-connection options provider arrives only with sqlx 0.9's
//! connectors), and `after_connect` runs once the login is done, too late. Replacing the
//! options on a timer costs one signature per interval rather than one per connection, and
//! keeps issuing the password (which may fetch AWS credentials over the network) out of the
//! path of a request waiting for a connection.
//!
//! The default interval (5 minutes) leaves a token 10 of its 15 minutes of validity after
//! the next refresh is due: a refresh that fails is logged (the source's one-line reason,
//! never the password) and retried every [`DynamicLogin::retry_after`] while new connections
//! keep using the previous password. Connections already open are not affected either way:
//! PostgreSQL checks a password only at login.
//!
//! This crate knows nothing about AWS: the server passes the token maker in as a
//! [`PasswordSource`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyConnectOptions;
use sqlx::AnyPool;

use crate::StoreError;

/// How often a new password is put in place by default.
pub const DEFAULT_REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
/// How soon a failed refresh is tried again by default.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Longest one call of the source may take before it counts as failed.
const ISSUE_TIMEOUT: Duration = Duration::from_secs(30);

/// A password for the database login. Its `Debug` output is redacted and it has no
/// `Display`, so it cannot end up in a log line or an error by accident.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(password: String) -> Self {
        Self(password)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The future of [`PasswordSource::password`].
pub type PasswordFuture<'a> = Pin<Box<dyn Future<Output = Result<Password, String>> + Send + 'a>>;

/// Issues a password that is valid now. An error is one line that says what failed and
/// contains no secret (it is logged as is).
pub trait PasswordSource: Send + Sync + 'static {
    fn password(&self) -> PasswordFuture<'_>;
}

/// A login whose password comes from a [`PasswordSource`] and is renewed while the store
/// is open.
#[derive(Clone)]
pub struct DynamicLogin {
    source: Arc<dyn PasswordSource>,
    refresh_every: Duration,
    retry_after: Duration,
}

impl fmt::Debug for DynamicLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicLogin")
            .field("refresh_every", &self.refresh_every)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl DynamicLogin {
    pub fn new(source: Arc<dyn PasswordSource>) -> Self {
        Self {
            source,
            refresh_every: DEFAULT_REFRESH_EVERY,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }

    /// How often a new password replaces the pool's (at least 1 ms).
    pub fn refresh_every(mut self, every: Duration) -> Self {
        self.refresh_every = every.max(Duration::from_millis(1));
        self
    }

    /// How soon a failed refresh is tried again (at least 1 ms).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after.max(Duration::from_millis(1));
        self
    }

    /// One password from the source, bounded in time.
    async fn issue(&self) -> Result<Password, String> {
        match tokio::time::timeout(ISSUE_TIMEOUT, self.source.password()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no password within {}s", ISSUE_TIMEOUT.as_secs())),
        }
    }
}

/// `base` (a `postgres://` URL without a password) with `password` in it.
///
/// sqlx's Any driver takes PostgreSQL options only as a URL and percent-decodes the password
/// it finds there. The `url` crate leaves `%` as it is when setting a password, so a token
/// holding `%2F` would reach PostgreSQL as `/`: every byte other than an unreserved
/// character is percent-encoded here first, which the decoding undoes exactly.
pub(crate) fn with_password(
    base: &AnyConnectOptions,
    password: &Password,
) -> Result<AnyConnectOptions, StoreError> {
    let mut options = base.clone();
    options
        .database_url
        .set_password(Some(&percent_encode_all(password.expose())))
        .map_err(|()| {
            StoreError::Url("a postgres:// URL with a host is needed for a password login".into())
        })?;
    Ok(options)
}

fn percent_encode_all(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Puts a new password in place every `refresh_every` until the pool is closed.
pub(crate) async fn keep_fresh(pool: AnyPool, base: AnyConnectOptions, login: DynamicLogin) {
    let closed = pool.close_event();
    tokio::pin!(closed);
    let mut wait = login.refresh_every;
    let mut failures: u32 = 0;
    loop {
        tokio::select! {
            () = &mut closed => return,
            () = tokio::time::sleep(wait) => {}
        }
        let refreshed = login
            .issue()
            .await
            .and_then(|password| with_password(&base, &password).map_err(|e| e.to_string()));
        match refreshed {
            Ok(options) => {
                pool.set_connect_options(options);
                if failures > 0 {
                    tracing::warn!(
                        failures,
                        "database login password refreshed again after failures"
                    );
                }
                failures = 0;
                wait = login.refresh_every;
                tracing::debug!("database login password refreshed");
            }
            Err(reason) => {
                failures = failures.saturating_add(1);
                wait = login.retry_after;
                tracing::warn!(
                    error = %reason,
                    failures,
                    retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "cannot refresh the database login password: open connections keep working and new ones use the previous password until it expires; retrying"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn every_reserved_byte_of_the_password_is_percent_encoded_and_debug_hides_it() {
        let base = AnyConnectOptions::from_str("postgres://confmgr@db.example:5432/confmgr")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let token = "db.example:5432/?Action=connect&X-Amz-Credential=AKID%2F2025%2Frds-db&X=a+b=";
        let options = with_password(&base, &Password::new(token.into()))
            .unwrap_or_else(|e| unreachable!("{e}"));
        // Python's urllib.parse.quote(token, safe="-._~"): sqlx percent-decodes it back to
        // the token (the pool test in tests/it/login.rs logs in with such a password).
        assert_eq!(
            options.database_url.password(),
            Some("db.example%3A5432%2F%3FAction%3Dconnect%26X-Amz-Credential%3DAKID%252F2025%252Frds-db%26X%3Da%2Bb%3D")
        );
        assert_eq!(options.database_url.username(), "confmgr");
        assert_eq!(options.database_url.host_str(), Some("db.example"));
        assert_eq!(
            format!("{:?}", Password::new(token.into())),
            "Password(<redacted>)"
        );
    }
}
