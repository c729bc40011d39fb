//! PostgreSQL mutual TLS that explains itself: the preflight's findings about the files a URL
//! names, and the one-line explanation of a failed connection, against the real mTLS
//! PostgreSQL of the testkit where the case can be produced live. Each test asserts the
//! message prefix documented in doc/troubleshooting.md.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use confmgr_store::{
    days_left, explain_connect_error, preflight_postgres_tls, Store, StoreError, StoreOptions,
};
use confmgr_testkit::TestPostgres;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// 2025-01-01T00:00:00Z: "now" for the file-level checks.
const NOW: i64 = 1_735_689_600;

/// A CA of our own (the testkit keeps its CA key to itself), writing PEM files into a
/// temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

/// Year, month, day (UTC midnight).
type Ymd = (i32, u8, u8);

struct Issued {
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = dn("Some other CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = params.self_signed(&ca_key).unwrap();
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
            ca,
            ca_key,
        };
        let pem = pki.ca.pem();
        pki.write("ca.crt", &pem, 0o644);
        pki
    }

    fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn write(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// A client certificate for `cn` (none if `None`), with the given validity and purposes.
    fn client(
        &self,
        name: &str,
        cn: Option<&str>,
        validity: Option<(Ymd, Ymd)>,
        eku: Vec<ExtendedKeyUsagePurpose>,
    ) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = match cn {
            Some(cn) => dn(cn),
            None => {
                let mut names = DistinguishedName::new();
                names.push(DnType::OrganizationName, "ConfMgr tests");
                names
            }
        };
        if let Some(((y1, m1, d1), (y2, m2, d2))) = validity {
            params.not_before = date_time_ymd(y1, m1, d1);
            params.not_after = date_time_ymd(y2, m2, d2);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = eku;
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        Issued {
            cert: self.write(&format!("{name}.crt"), &cert.pem(), 0o644),
            key: self.write(&format!("{name}.key"), &key.serialize_pem(), 0o600),
        }
    }

    fn good_client(&self, name: &str, cn: &str) -> Issued {
        self.client(
            name,
            Some(cn),
            None,
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        )
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut names = DistinguishedName::new();
    names.push(DnType::CommonName, cn);
    names
}

fn url(user: &str, root: Option<&Path>, client: Option<&Issued>) -> String {
    let mut url = format!("postgres://{user}@db.example:5432/app?sslmode=verify-full");
    if let Some(root) = root {
        url.push_str(&format!("&sslrootcert={}", root.display()));
    }
    if let Some(client) = client {
        url.push_str(&format!(
            "&sslcert={}&sslkey={}",
            client.cert.display(),
            client.key.display()
        ));
    }
    url
}

fn assert_one(problems: &[String], prefix: &str) {
    assert_eq!(problems.len(), 1, "expected one problem, got {problems:#?}");
    assert!(
        problems[0].starts_with(prefix),
        "expected a line starting with\n  {prefix}\ngot\n  {}",
        problems[0]
    );
}

// ------------------------------------------------------------------------------------------
// Preflight: files only.

#[test]
fn preflight_accepts_good_files_and_ignores_sqlite() {
    let pki = Pki::new();
    let client = pki.good_client("client", "confmgr");
    let problems =
        preflight_postgres_tls(&url("confmgr", Some(&pki.ca_path()), Some(&client)), NOW);
    assert_eq!(problems, Vec::<String>::new());
    // Server-side password/IAM login (Amazon RDS): verify-full with a CA and no client cert.
    let problems = preflight_postgres_tls(&url("confmgr", Some(&pki.ca_path()), None), NOW);
    assert_eq!(problems, Vec::<String>::new());
    assert!(preflight_postgres_tls("sqlite:///tmp/x.db", NOW).is_empty());
    assert!(preflight_postgres_tls("sqlite::memory:", NOW).is_empty());
}

#[test]
fn preflight_verify_full_without_rootcert() {
    let problems =
        preflight_postgres_tls("postgres://confmgr@db.example/app?sslmode=verify-full", NOW);
    assert_one(
        &problems,
        "CONFMGR_DATABASE_URL sslmode=verify-full has no sslrootcert: only the system's CA \
         certificates (the platform store, or SSL_CERT_FILE) are trusted",
    );
}

#[test]
fn preflight_unreadable_and_non_pem_root() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("nope.crt");
    let problems = preflight_postgres_tls(&url("confmgr", Some(&missing), None), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslrootcert={}: cannot read the file (",
            missing.display()
        ),
    );

    let garbage = pki.write("garbage.crt", "not a certificate\n", 0o644);
    let problems = preflight_postgres_tls(&url("confmgr", Some(&garbage), None), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslrootcert={}: the file holds no PEM certificate",
            garbage.display()
        ),
    );
}

#[test]
fn preflight_root_must_be_a_ca() {
    let pki = Pki::new();
    let leaf = pki.good_client("leaf", "confmgr");
    let problems = preflight_postgres_tls(&url("confmgr", Some(&leaf.cert), None), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslrootcert={}: certificate #1 (subject \"CN=confmgr\") is not \
             a CA certificate",
            leaf.cert.display()
        ),
    );
}

#[test]
fn preflight_cert_and_key_go_together() {
    let pki = Pki::new();
    let client = pki.good_client("client", "confmgr");
    let base = url("confmgr", Some(&pki.ca_path()), None);
    let problems =
        preflight_postgres_tls(&format!("{base}&sslcert={}", client.cert.display()), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslcert={} is set but there is no sslkey",
            client.cert.display()
        ),
    );
    let problems = preflight_postgres_tls(&format!("{base}&sslkey={}", client.key.display()), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslkey={} is set but there is no sslcert",
            client.key.display()
        ),
    );
}

#[test]
fn preflight_key_permissions() {
    let pki = Pki::new();
    let client = pki.good_client("client", "confmgr");
    let target = url("confmgr", Some(&pki.ca_path()), Some(&client));
    for ok in [0o600, 0o640, 0o400] {
        std::fs::set_permissions(&client.key, std::fs::Permissions::from_mode(ok)).unwrap();
        assert_eq!(
            preflight_postgres_tls(&target, NOW),
            Vec::<String>::new(),
            "mode {ok:o}"
        );
    }
    for (bad, shown) in [
        (0o644, "0644"),
        (0o660, "0660"),
        (0o604, "0604"),
        (0o666, "0666"),
    ] {
        std::fs::set_permissions(&client.key, std::fs::Permissions::from_mode(bad)).unwrap();
        assert_one(
            &preflight_postgres_tls(&target, NOW),
            &format!(
                "CONFMGR_DATABASE_URL sslkey={}: the key file has mode {shown}, so other accounts \
                 can read or change it: chmod 600",
                client.key.display()
            ),
        );
    }
}

#[test]
fn preflight_key_must_match_certificate() {
    let pki = Pki::new();
    let one = pki.good_client("one", "confmgr");
    let two = pki.good_client("two", "confmgr");
    let mixed = Issued {
        cert: one.cert.clone(),
        key: two.key.clone(),
    };
    let problems = preflight_postgres_tls(&url("confmgr", Some(&pki.ca_path()), Some(&mixed)), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslkey={}: the private key does not belong to the certificate \
             sslcert={}",
            two.key.display(),
            one.cert.display()
        ),
    );
}

#[test]
fn preflight_unusable_keys() {
    let pki = Pki::new();
    let client = pki.good_client("client", "confmgr");
    let not_a_key = pki.write("plain.key", "hello\n", 0o600);
    let encrypted = pki.write(
        "encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
        0o600,
    );
    for (key, prefix) in [
        (&not_a_key, "the file holds no PEM private key"),
        (
            &encrypted,
            "the private key is encrypted with a passphrase, which ConfMgr cannot use",
        ),
    ] {
        let issued = Issued {
            cert: client.cert.clone(),
            key: key.clone(),
        };
        let problems =
            preflight_postgres_tls(&url("confmgr", Some(&pki.ca_path()), Some(&issued)), NOW);
        assert_one(
            &problems,
            &format!("CONFMGR_DATABASE_URL sslkey={}: {prefix}", key.display()),
        );
    }
}

#[test]
fn preflight_client_certificate_validity() {
    let pki = Pki::new();
    let expired = pki.client(
        "expired",
        Some("confmgr"),
        Some(((2020, 1, 1), (2024, 6, 30))),
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    );
    let problems =
        preflight_postgres_tls(&url("confmgr", Some(&pki.ca_path()), Some(&expired)), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslcert={}: the client certificate expired on 2024-06-30: issue \
             a new one",
            expired.cert.display()
        ),
    );

    let future = pki.client(
        "future",
        Some("confmgr"),
        Some(((2030, 1, 1), (2031, 1, 1))),
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    );
    let problems =
        preflight_postgres_tls(&url("confmgr", Some(&pki.ca_path()), Some(&future)), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslcert={}: the client certificate is not valid before \
             2030-01-01",
            future.cert.display()
        ),
    );

    // Expiring soon is not an error; days_left is there for a warning or a metric.
    let soon = pki.client(
        "soon",
        Some("confmgr"),
        Some(((2024, 1, 1), (2025, 1, 11))),
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    );
    assert!(
        preflight_postgres_tls(&url("confmgr", Some(&pki.ca_path()), Some(&soon)), NOW).is_empty()
    );
    assert_eq!(days_left(&soon.cert, NOW), Some(10));
    assert_eq!(days_left(&expired.cert, NOW), Some(-185));
    assert_eq!(days_left(pki.dir.path().join("missing.crt"), NOW), None);
}

#[test]
fn preflight_client_certificate_names_the_user() {
    let pki = Pki::new();
    let other = pki.good_client("other", "someoneelse");
    let problems = preflight_postgres_tls(&url("confmgr", Some(&pki.ca_path()), Some(&other)), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslcert={}: the client certificate's CN is \"someoneelse\" but \
             the URL's user is \"confmgr\": PostgreSQL certificate login (cert auth) requires CN = \
             database user",
            other.cert.display()
        ),
    );

    let anonymous = pki.client(
        "anonymous",
        None,
        None,
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    );
    let problems =
        preflight_postgres_tls(&url("confmgr", Some(&pki.ca_path()), Some(&anonymous)), NOW);
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslcert={}: the client certificate has no CN: PostgreSQL \
             certificate login (cert auth) takes the database user from the CN; issue it with \
             CN=confmgr",
            anonymous.cert.display()
        ),
    );

    let server_only = pki.client(
        "server-only",
        Some("confmgr"),
        None,
        vec![ExtendedKeyUsagePurpose::ServerAuth],
    );
    let problems = preflight_postgres_tls(
        &url("confmgr", Some(&pki.ca_path()), Some(&server_only)),
        NOW,
    );
    assert_one(
        &problems,
        &format!(
            "CONFMGR_DATABASE_URL sslcert={}: the client certificate's extendedKeyUsage does not \
             include clientAuth",
            server_only.cert.display()
        ),
    );
}

// ------------------------------------------------------------------------------------------
// Explaining failures: errors built by hand, for the cases the shared server cannot produce
// (its server certificate is fixed and valid, and its CA key is not exposed).

fn handshake_error(tls: rustls::Error) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, tls))
}

const SERVER_URL: &str = "postgres://confmgr@db.internal:5432/app?sslmode=verify-full\
                          &sslrootcert=/etc/confmgr/pg-ca.crt\
                          &sslcert=/etc/confmgr/pg.crt&sslkey=/etc/confmgr/pg.key";

#[test]
fn explains_server_certificate_problems() {
    use rustls::pki_types::{ServerName, UnixTime};
    use rustls::CertificateError;

    let expired = handshake_error(rustls::Error::InvalidCertificate(
        CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_735_689_600)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_719_705_600)),
        },
    ));
    assert!(explain_connect_error(SERVER_URL, &expired).starts_with(
        "CONFMGR_DATABASE_URL: the server certificate of db.internal:5432 has expired on \
         2024-06-30: renew the PostgreSQL server certificate"
    ));
    let expired = handshake_error(rustls::Error::InvalidCertificate(CertificateError::Expired));
    assert!(explain_connect_error(SERVER_URL, &expired).starts_with(
        "CONFMGR_DATABASE_URL: the server certificate of db.internal:5432 has expired: renew"
    ));

    let name = handshake_error(rustls::Error::InvalidCertificate(
        CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("db.internal").unwrap(),
            presented: vec![
                "DnsName(\"localhost\")".into(),
                "IpAddress(127.0.0.1)".into(),
            ],
        },
    ));
    assert!(explain_connect_error(SERVER_URL, &name).starts_with(
        "CONFMGR_DATABASE_URL: the server certificate of db.internal:5432 has no subjectAltName \
         for db.internal (it lists DNS:localhost, IP:127.0.0.1): rustls ignores the CN; add \
         DNS:db.internal"
    ));
    let name = handshake_error(rustls::Error::InvalidCertificate(
        CertificateError::NotValidForName,
    ));
    assert!(explain_connect_error(SERVER_URL, &name).starts_with(
        "CONFMGR_DATABASE_URL: the server certificate of db.internal:5432 has no subjectAltName \
         for db.internal: rustls ignores the CN"
    ));

    let issuer = handshake_error(rustls::Error::InvalidCertificate(
        CertificateError::UnknownIssuer,
    ));
    assert!(explain_connect_error(SERVER_URL, &issuer).starts_with(
        "CONFMGR_DATABASE_URL: the server certificate of db.internal:5432 is not signed by \
         sslrootcert=/etc/confmgr/pg-ca.crt: point sslrootcert at the CA that signed the \
         PostgreSQL server certificate"
    ));
    assert!(explain_connect_error(
        "postgres://confmgr@db.internal/app?sslmode=verify-full",
        &issuer
    )
    .starts_with(
        "CONFMGR_DATABASE_URL: the server certificate of db.internal:5432 is not signed by a \
         CA in the system store and there is no sslrootcert"
    ));
}

#[test]
fn explains_timeouts_refusals_and_the_rest() {
    assert!(explain_connect_error(SERVER_URL, &sqlx::Error::PoolTimedOut).starts_with(
        "CONFMGR_DATABASE_URL: no connection to PostgreSQL at db.internal:5432 within the connect \
         timeout"
    ));
    let timed_out = sqlx::Error::Io(std::io::ErrorKind::TimedOut.into());
    assert!(explain_connect_error(SERVER_URL, &timed_out).starts_with(
        "CONFMGR_DATABASE_URL: no connection to PostgreSQL at db.internal:5432 within the connect \
         timeout"
    ));
    let no_tls = sqlx::Error::Tls("server does not support TLS".into());
    assert!(explain_connect_error(SERVER_URL, &no_tls)
        .starts_with("CONFMGR_DATABASE_URL: PostgreSQL at db.internal:5432 does not offer TLS"));
    // Unknown: the error text, with where it happened.
    let other = sqlx::Error::Protocol("something odd".into());
    assert_eq!(
        explain_connect_error(SERVER_URL, &other),
        format!("CONFMGR_DATABASE_URL: cannot connect to PostgreSQL at db.internal:5432: {other}")
    );
    // Not PostgreSQL: the error text as is.
    assert_eq!(
        explain_connect_error("sqlite:///tmp/x.db", &other),
        other.to_string()
    );
}

// ------------------------------------------------------------------------------------------
// Live, against the testkit's PostgreSQL (only mutual TLS, CN = user).

struct Live {
    pg: &'static TestPostgres,
    host: String,
    port: u16,
    db: String,
}

impl Live {
    async fn new() -> Self {
        let pg = TestPostgres::shared().await.unwrap();
        let parsed = url::Url::parse(&pg.fresh_database().await.unwrap()).unwrap();
        Self {
            pg,
            host: parsed.host_str().unwrap().to_owned(),
            port: parsed.port().unwrap_or(5432),
            db: parsed.path().trim_start_matches('/').to_owned(),
        }
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn url(&self, host: &str, user: &str, root: &Path, client: Option<(&Path, &Path)>) -> String {
        let mut url = format!(
            "postgres://{user}@{host}:{}/{}?sslmode=verify-full&sslrootcert={}",
            self.port,
            self.db,
            root.display()
        );
        if let Some((cert, key)) = client {
            url.push_str(&format!(
                "&sslcert={}&sslkey={}",
                cert.display(),
                key.display()
            ));
        }
        url
    }

    fn good(&self, host: &str, user: &str) -> String {
        let certs = self.pg.certs();
        self.url(
            host,
            user,
            &certs.ca_cert,
            Some((&certs.client_cert, &certs.client_key)),
        )
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Connects the way the server does and returns the sqlx error.
async fn connect_error(url: &str) -> sqlx::Error {
    let options = StoreOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(3),
    };
    match Store::connect(url, &options).await {
        Ok(_) => panic!("connecting with {url} should fail"),
        Err(StoreError::Unavailable(err) | StoreError::Database(err)) => err,
        Err(other) => panic!("unexpected {other:?}"),
    }
}

/// Connects with `url`, which must fail with an explanation starting with `prefix`: the
/// explanation.
async fn connect_explained(url: &str, prefix: &str) -> String {
    let err = connect_error(url).await;
    assert_explained(url, &err, prefix);
    explain_connect_error(url, &err)
}

fn assert_explained(url: &str, err: &sqlx::Error, prefix: &str) {
    let line = explain_connect_error(url, err);
    // Shown with --nocapture: what sqlx returned and what is said about it.
    eprintln!("{err:?}\n  => {line}");
    assert!(
        line.starts_with(prefix),
        "for {err:?}\nexpected a line starting with\n  {prefix}\ngot\n  {line}"
    );
}

#[tokio::test]
async fn live_good_url_passes_preflight_and_connects() {
    let live = Live::new().await;
    let url = live.good(&live.host, "confmgr");
    assert_eq!(preflight_postgres_tls(&url, now()), Vec::<String>::new());
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    store.ping().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn live_wrong_ca() {
    let live = Live::new().await;
    let other = Pki::new();
    let certs = live.pg.certs();
    let url = live.url(
        &live.host,
        "confmgr",
        &other.ca_path(),
        Some((&certs.client_cert, &certs.client_key)),
    );
    assert_eq!(preflight_postgres_tls(&url, now()), Vec::<String>::new());
    connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: the server certificate of {} is not signed by sslrootcert={}: \
             point sslrootcert at the CA that signed the PostgreSQL server certificate",
            live.addr(),
            other.ca_path().display()
        ),
    )
    .await;
}

#[tokio::test]
async fn live_missing_client_certificate() {
    let live = Live::new().await;
    let url = live.url(&live.host, "confmgr", &live.pg.certs().ca_cert, None);
    assert_eq!(preflight_postgres_tls(&url, now()), Vec::<String>::new());
    connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: PostgreSQL at {} requires a client certificate and none was \
             sent: add sslcert=/path/client.crt&sslkey=/path/client.key",
            live.addr()
        ),
    )
    .await;
}

#[tokio::test]
async fn live_client_certificate_from_an_unknown_ca() {
    let live = Live::new().await;
    let other = Pki::new();
    let stranger = other.good_client("stranger", "confmgr");
    let url = live.url(
        &live.host,
        "confmgr",
        &live.pg.certs().ca_cert,
        Some((&stranger.cert, &stranger.key)),
    );
    assert_eq!(preflight_postgres_tls(&url, now()), Vec::<String>::new());
    connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: PostgreSQL at {} refused the client certificate sslcert={} \
             (TLS alert ",
            live.addr(),
            stranger.cert.display()
        ),
    )
    .await;
}

#[tokio::test]
async fn live_cn_is_not_the_user() {
    let live = Live::new().await;
    // The testkit's certificate says CN=confmgr; log in as someone else with it.
    let url = live.good(&live.host, "someoneelse");
    assert_one(
        &preflight_postgres_tls(&url, now()),
        &format!(
            "CONFMGR_DATABASE_URL sslcert={}: the client certificate's CN is \"confmgr\" but the \
             URL's user is \"someoneelse\"",
            live.pg.certs().client_cert.display()
        ),
    );
    connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: PostgreSQL at {} refused certificate login for user \
             \"someoneelse\": the client certificate's CN must equal the database user (the \
             certificate's CN is \"confmgr\")",
            live.addr()
        ),
    )
    .await;
}

#[tokio::test]
async fn live_name_not_in_the_server_certificate() {
    use std::net::ToSocketAddrs;
    let live = Live::new().await;
    if !matches!(live.host.as_str(), "localhost" | "127.0.0.1") {
        eprintln!("skipped: the test server is not local");
        return;
    }
    // A name that reaches 127.0.0.1 but is not among the SANs (localhost, 127.0.0.1).
    let alias = ["vm", "runsc", "localhost.localdomain"]
        .into_iter()
        .find(|name| {
            let addrs: Vec<_> = (*name, live.port)
                .to_socket_addrs()
                .map(Iterator::collect)
                .unwrap_or_default();
            !addrs.is_empty()
                && addrs
                    .iter()
                    .all(|addr| addr.ip() == std::net::Ipv4Addr::LOCALHOST)
        });
    let Some(alias) = alias else {
        eprintln!("skipped: no other name for 127.0.0.1 on this machine");
        return;
    };
    let url = live.good(alias, "confmgr");
    // The SAN list is the testkit's (localhost, 127.0.0.1) unless an external server is used.
    let line = connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: the server certificate of {alias}:{} has no subjectAltName for \
             {alias} (it lists ",
            live.port
        ),
    )
    .await;
    assert!(line.contains(&format!(
        "): rustls ignores the CN; add DNS:{alias} to the server certificate"
    )));
}

/// A private cluster whose server certificate lists only `DNS:localhost` (signed by a CA of
/// ours, added to the cluster's CA file so that its own admin connection still verifies),
/// dialled by address: the fix names `IP:127.0.0.1`, not `DNS:127.0.0.1`.
#[tokio::test]
async fn live_address_not_in_the_server_certificate() {
    let mut pg = TestPostgres::private().await.unwrap();
    let ours = Pki::new();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.distinguished_name = dn("localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ours.ca, &ours.ca_key).unwrap();
    let certs = pg.certs().clone();
    // Rewritten in place: the key keeps its owner (the server's account) and mode 0600.
    std::fs::write(
        &certs.server_cert,
        format!("{}{}", cert.pem(), ours.ca.pem()),
    )
    .unwrap();
    std::fs::write(&certs.server_key, key.serialize_pem()).unwrap();
    let both = format!(
        "{}{}",
        std::fs::read_to_string(&certs.ca_cert).unwrap(),
        ours.ca.pem()
    );
    std::fs::write(&certs.ca_cert, both).unwrap();
    pg.stop().await.unwrap();
    pg.start().await.unwrap();

    let db = url::Url::parse(&pg.fresh_database().await.unwrap()).unwrap();
    let url = format!(
        "postgres://confmgr@127.0.0.1:{}{}?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        pg.port(),
        db.path(),
        certs.ca_cert.display(),
        certs.client_cert.display(),
        certs.client_key.display()
    );
    assert_eq!(preflight_postgres_tls(&url, now()), Vec::<String>::new());
    let line = connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: the server certificate of 127.0.0.1:{} has no subjectAltName \
             for 127.0.0.1 (it lists DNS:localhost): rustls ignores the CN; add IP:127.0.0.1 to \
             the server certificate",
            pg.port()
        ),
    )
    .await;
    assert!(!line.contains("DNS:127.0.0.1"));
}

#[tokio::test]
async fn live_sslmode_disable_names_the_url_not_pg_hba() {
    let live = Live::new().await;
    let url = live
        .good(&live.host, "confmgr")
        .replace("sslmode=verify-full", "sslmode=disable");
    let line = connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: PostgreSQL at {} refused an unencrypted connection: the URL \
             has sslmode=disable, so ConfMgr did not use TLS, and pg_hba.conf admits user \
             \"confmgr\" only over TLS (hostssl): use sslmode=verify-full",
            live.addr()
        ),
    )
    .await;
    assert!(!line.contains("add a line"));
}

#[tokio::test]
async fn live_database_that_does_not_exist() {
    let live = Live::new().await;
    let url = live
        .good(&live.host, "confmgr")
        .replace(&format!("/{}?", live.db), "/no_such_db?");
    connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: PostgreSQL at {} has no database \"no_such_db\": the URL's \
             database (its path) is wrong",
            live.addr()
        ),
    )
    .await;
}

/// pg_hba.conf admits only the user `confmgr` (as the getting-started guide sets it up):
/// a URL with another user is told its user is wrong, not to add a pg_hba.conf line.
#[tokio::test]
async fn live_wrong_user_names_the_user() {
    let mut pg = TestPostgres::private().await.unwrap();
    let certs = pg.certs().clone();
    let hba = certs
        .ca_cert
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("data")
        .join("pg_hba.conf");
    std::fs::write(
        &hba,
        "hostssl all confmgr 127.0.0.1/32 cert clientcert=verify-full\n",
    )
    .unwrap();
    pg.stop().await.unwrap();
    pg.start().await.unwrap();
    let db = url::Url::parse(&pg.fresh_database().await.unwrap()).unwrap();
    let url = format!(
        "postgres://admin@{}:{}{}?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        db.host_str().unwrap(),
        pg.port(),
        db.path(),
        certs.ca_cert.display(),
        certs.client_cert.display(),
        certs.client_key.display()
    );
    let line = connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: PostgreSQL at {}:{} admits no user \"admin\" to database \
             \"{}\" from 127.0.0.1: the URL's user \"admin\" is not the client certificate's CN \
             \"confmgr\"",
            db.host_str().unwrap(),
            pg.port(),
            db.path().trim_start_matches('/')
        ),
    )
    .await;
    assert!(!line.contains("add a line"));
}

#[tokio::test]
async fn live_nothing_listening() {
    let live = Live::new().await;
    let port = confmgr_testkit::free_port().unwrap();
    let certs = live.pg.certs();
    let url = format!(
        "postgres://confmgr@127.0.0.1:{port}/db?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        certs.ca_cert.display(),
        certs.client_cert.display(),
        certs.client_key.display()
    );
    // Through the pool (as the server connects): refusals are retried until the timeout.
    connect_explained(
        &url,
        &format!(
            "CONFMGR_DATABASE_URL: no connection to PostgreSQL at 127.0.0.1:{port} within the \
             connect timeout"
        ),
    )
    .await;
    // One connection: the refusal itself.
    sqlx::any::install_default_drivers();
    let err = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .err()
        .unwrap();
    assert_explained(
        &url,
        &err,
        &format!(
            "CONFMGR_DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:{port} (connection refused)"
        ),
    );
}
