//! The database settings: `CONFMGR_DATABASE_URL` and how the server logs in, pool sizes,
//! and the checks of the URL (TLS, and for RDS IAM database authentication the shape the
//! token needs).

use clap::builder::BoolishValueParser;
use std::path::Path;
use std::time::Duration;

/// Where the RDS CA bundle is mounted in the docs, the Helm chart and the Terraform outputs.
const RDS_CA_BUNDLE: &str = "/etc/confmgr/rds-ca/global-bundle.pem";

#[derive(clap::Args, Clone)]
pub struct DatabaseArgs {
    /// postgres://...?sslmode=verify-full&sslrootcert=...&sslcert=...&sslkey=... or sqlite://path
    #[arg(
        long,
        env = "CONFMGR_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,

    /// Log in to PostgreSQL (Amazon RDS) with RDS IAM auth tokens instead of a password or
    /// client certificate: new pooled connections use a token at most 5 minutes old (each is
    /// valid for 15). CONFMGR_DATABASE_URL then
    /// names host, port, database and user, has no password, and uses sslmode=verify-full
    /// with sslrootcert= the RDS CA bundle. Credentials come from the AWS chain (environment,
    /// web identity, EKS Pod Identity, instance profile).
    #[arg(long, env = "CONFMGR_DATABASE_IAM_AUTH", value_parser = BoolishValueParser::new(), global = true)]
    pub database_iam_auth: bool,

    /// The AWS region the RDS auth token is signed for. [default: the AWS SDK's region,
    /// e.g. AWS_REGION]
    #[arg(long, env = "CONFMGR_DATABASE_IAM_REGION", global = true)]
    pub database_iam_region: Option<String>,

    /// Allow PostgreSQL without sslmode=verify-full (trusted networks only).
    #[arg(long, env = "CONFMGR_INSECURE_DATABASE", value_parser = BoolishValueParser::new(), global = true)]
    pub insecure_database: bool,

    /// How long to wait for a database connection before answering 503, in seconds.
    #[arg(
        long,
        env = "CONFMGR_DATABASE_ACQUIRE_TIMEOUT_SECS",
        default_value_t = 5,
        global = true
    )]
    pub database_acquire_timeout_secs: u64,

    /// Database connections per server process (PostgreSQL).
    #[arg(
        long,
        env = "CONFMGR_DATABASE_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub database_max_connections: u32,
}

/// `CONFMGR_DATABASE_IAM_AUTH`: what the RDS auth token is signed for, taken from the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseIam {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// `CONFMGR_DATABASE_IAM_REGION`; without it, the AWS SDK's region.
    pub region: Option<String>,
}

impl DatabaseArgs {
    /// The database URL (the --dev default when none is given) and the IAM login, or one
    /// line per problem in `problems`.
    pub(super) fn validate(
        &self,
        dev: bool,
        data_dir: &Path,
        problems: &mut Vec<String>,
    ) -> (Option<String>, Option<DatabaseIam>) {
        let url = match (&self.database_url, dev) {
            (Some(url), _) => Some(url.clone()),
            (None, true) => Some(format!(
                "sqlite://{}",
                data_dir.join("confmgr.db").display()
            )),
            (None, false) => {
                problems.push("CONFMGR_DATABASE_URL: required (postgres://... or sqlite://path), or run with --dev".into());
                None
            }
        };
        if !self.database_iam_auth {
            if self.database_iam_region.is_some() {
                problems.push(
                    "CONFMGR_DATABASE_IAM_REGION: only used with CONFMGR_DATABASE_IAM_AUTH".into(),
                );
            }
            if let Some(url) = &url {
                if let Err(problem) = check_database_url(url, dev || self.insecure_database) {
                    problems.push(format!("CONFMGR_DATABASE_URL: {problem}"));
                }
            }
            return (url, None);
        }
        if dev {
            problems.push("CONFMGR_DATABASE_IAM_AUTH: not with --dev (--dev keeps its data in SQLite; IAM database authentication is for Amazon RDS PostgreSQL)".into());
            return (url, None);
        }
        let Some(url) = url else {
            return (None, None);
        };
        let before = problems.len();
        let region = self.region(problems);
        let target = iam_target(&url, problems);
        match (target, region) {
            (Some((host, port, user)), Ok(region)) if problems.len() == before => (
                Some(url),
                Some(DatabaseIam {
                    host,
                    port,
                    user,
                    region,
                }),
            ),
            _ => (Some(url), None),
        }
    }

    pub(super) fn store_options(&self) -> confmgr_store::StoreOptions {
        confmgr_store::StoreOptions {
            max_connections: self.database_max_connections.max(1),
            acquire_timeout: Duration::from_secs(self.database_acquire_timeout_secs.max(1)),
        }
    }

    /// `CONFMGR_DATABASE_IAM_REGION`, checked for the shape of a region name.
    fn region(&self, problems: &mut Vec<String>) -> Result<Option<String>, ()> {
        let Some(raw) = self.database_iam_region.as_deref() else {
            return Ok(None);
        };
        let region = raw.trim();
        let plausible = !region.is_empty()
            && region.contains('-')
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if plausible {
            Ok(Some(region.to_owned()))
        } else {
            problems.push(format!(
                "CONFMGR_DATABASE_IAM_REGION: {raw:?} is not an AWS region name such as eu-west-1"
            ));
            Err(())
        }
    }
}

/// Host, port and user of a URL fit for IAM login, or the reasons it is not (one line each).
fn iam_target(url: &str, problems: &mut Vec<String>) -> Option<(String, u16, String)> {
    let shape = format!(
        "postgres://USER@HOST:5432/DATABASE?sslmode=verify-full&sslrootcert={RDS_CA_BUNDLE}"
    );
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        problems.push(format!(
            "CONFMGR_DATABASE_IAM_AUTH: needs a PostgreSQL CONFMGR_DATABASE_URL naming the RDS endpoint ({shape}); SQLite and other URLs have no IAM login"
        ));
        return None;
    }
    let parsed = match url::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => {
            problems.push(format!("CONFMGR_DATABASE_URL: not a valid URL: {e}"));
            return None;
        }
    };
    let param = |names: &[&str]| {
        parsed
            .query_pairs()
            .find(|(k, _)| names.contains(&k.as_ref()))
            .map(|(_, v)| v.into_owned())
    };
    // Never the password itself: this line is printed.
    if parsed.password().is_some() || param(&["password"]).is_some() {
        problems.push("CONFMGR_DATABASE_URL: has a password, but with CONFMGR_DATABASE_IAM_AUTH the password is a fresh RDS IAM auth token for each connection: remove the password from the URL (no static database password anywhere)".into());
    }
    let user = match (parsed.username(), param(&["user"])) {
        ("", Some(user)) => user,
        (user, _) => user.to_owned(),
    };
    let plain = |name: &str| {
        name.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    if user.is_empty() {
        problems.push(format!(
            "CONFMGR_DATABASE_URL: names no database user; with CONFMGR_DATABASE_IAM_AUTH the token is signed for one user, the one granted rds_iam: {shape}"
        ));
    } else if !plain(&user) {
        problems.push(format!(
            "CONFMGR_DATABASE_URL: the user {user:?} is not a plain name (letters, digits, _ - .), as RDS IAM database users are"
        ));
    }
    let host = parsed.host_str().unwrap_or_default().to_owned();
    if host.is_empty() {
        problems.push(format!(
            "CONFMGR_DATABASE_URL: names no host; with CONFMGR_DATABASE_IAM_AUTH the token is signed for the RDS endpoint's host and port: {shape}"
        ));
    }
    if param(&["sslmode", "ssl-mode"]).as_deref() != Some("verify-full") {
        problems.push(format!(
            "CONFMGR_DATABASE_URL: with CONFMGR_DATABASE_IAM_AUTH, sslmode must be verify-full (the token is a credential: send it only to the server whose certificate and name were checked; --insecure-database does not change this): add sslmode=verify-full&sslrootcert={RDS_CA_BUNDLE} (the RDS CA bundle)"
        ));
    } else if param(&["sslrootcert", "ssl-root-cert", "ssl-ca"]).is_none() {
        problems.push(format!(
            "CONFMGR_DATABASE_URL: with CONFMGR_DATABASE_IAM_AUTH, add sslrootcert={RDS_CA_BUNDLE} (the RDS CA bundle the server certificate is checked against)"
        ));
    }
    if param(&["sslcert", "ssl-cert"]).is_some() != param(&["sslkey", "ssl-key"]).is_some() {
        problems.push("CONFMGR_DATABASE_URL: sslcert and sslkey must be given together (the client certificate and its key); RDS needs neither".into());
    }
    Some((host, parsed.port().unwrap_or(5432), user))
}

fn check_database_url(url: &str, insecure_allowed: bool) -> Result<(), String> {
    confmgr_store::Backend::from_url(url).map_err(|e| e.to_string())?;
    if url.starts_with("sqlite:") {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("not a valid URL: {e}"))?;
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if param("sslcert").is_some() != param("sslkey").is_some() {
        return Err(
            "sslcert and sslkey must be given together (the client certificate and its key)".into(),
        );
    }
    if param("sslmode").as_deref() != Some("verify-full") && !insecure_allowed {
        return Err("PostgreSQL must be reached with sslmode=verify-full (TLS that checks the server's certificate and name); \
             add sslmode=verify-full&sslrootcert=pki/ca.pem&sslcert=pki/postgres-client.pem&sslkey=pki/postgres-client-key.pem, \
             or pass --insecure-database on a trusted network"
            .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command, Settings};
    use clap::Parser;
    use confmgr_core::crypto::RootKey;

    const RDS_URL: &str = "postgres://confmgr@confmgr.abcdefghijkl.eu-west-1.rds.amazonaws.com:5432/confmgr?sslmode=verify-full&sslrootcert=/etc/confmgr/rds-ca/global-bundle.pem";

    fn validate(extra: &[&str]) -> Result<Settings, Vec<String>> {
        let key = RootKey::generate().to_base64();
        let mut argv = vec!["confmgr-server", "--root-key", &key];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).args.validate(Command::Serve)
    }

    /// The one problem of `extra`, which must start with `variable:` and contain `says`.
    fn refused(extra: &[&str], variable: &str, says: &str) {
        let problems = validate(extra).err().unwrap_or_default();
        assert_eq!(problems.len(), 1, "{extra:?}: {problems:?}");
        assert!(
            problems[0].starts_with(&format!("{variable}: ")) && problems[0].contains(says),
            "{extra:?}: {problems:?}"
        );
        assert!(!problems[0].contains('\n'), "{problems:?}");
    }

    #[test]
    fn postgres_without_verify_full_is_refused_with_a_reason() {
        refused(
            &["--database-url", "postgres://u@db/x?sslmode=require"],
            "CONFMGR_DATABASE_URL",
            "verify-full",
        );
        let ok = validate(&[
            "--database-url",
            "postgres://u@db/x?sslmode=require",
            "--insecure-database",
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn iam_auth_takes_host_port_user_and_region_from_the_settings() {
        let settings = validate(&["--database-url", RDS_URL, "--database-iam-auth"])
            .unwrap_or_else(|p| unreachable!("{p:?}"));
        let iam = settings.database_iam.unwrap_or_else(|| unreachable!());
        assert_eq!(
            (iam.host.as_str(), iam.port, iam.user.as_str(), iam.region),
            (
                "confmgr.abcdefghijkl.eu-west-1.rds.amazonaws.com",
                5432,
                "confmgr",
                None
            )
        );
        let url = RDS_URL.replace(":5432/", "/");
        let settings = validate(&[
            "--database-url",
            &url,
            "--database-iam-auth",
            "--database-iam-region",
            "eu-west-1",
        ])
        .unwrap_or_else(|p| unreachable!("{p:?}"));
        let iam = settings.database_iam.unwrap_or_else(|| unreachable!());
        assert_eq!((iam.port, iam.region.as_deref()), (5432, Some("eu-west-1")));
        assert!(validate(&["--database-url", RDS_URL]).is_ok_and(|s| s.database_iam.is_none()));
    }

    #[test]
    fn iam_auth_refusals_are_one_line_naming_the_variable() {
        let iam = "--database-iam-auth";
        refused(
            &["--database-url", "sqlite://x.db", iam],
            "CONFMGR_DATABASE_IAM_AUTH",
            "needs a PostgreSQL CONFMGR_DATABASE_URL",
        );
        let with_password = RDS_URL.replace("confmgr@", "confmgr:hunter2secret@");
        refused(
            &["--database-url", &with_password, iam],
            "CONFMGR_DATABASE_URL",
            "has a password",
        );
        let problems = validate(&["--database-url", &with_password, iam])
            .err()
            .unwrap_or_default();
        assert!(!problems.concat().contains("hunter2secret"), "{problems:?}");
        refused(
            &["--database-url", &format!("{RDS_URL}&password=p"), iam],
            "CONFMGR_DATABASE_URL",
            "has a password",
        );
        refused(
            &["--database-url", &RDS_URL.replace("confmgr@", ""), iam],
            "CONFMGR_DATABASE_URL",
            "names no database user",
        );
        for mode in ["require", "verify-ca"] {
            refused(
                &[
                    "--database-url",
                    &RDS_URL.replace("verify-full", mode),
                    iam,
                    "--insecure-database",
                ],
                "CONFMGR_DATABASE_URL",
                "sslmode must be verify-full",
            );
        }
        refused(
            &[
                "--database-url",
                &RDS_URL.replace("&sslrootcert=/etc/confmgr/rds-ca/global-bundle.pem", ""),
                iam,
            ],
            "CONFMGR_DATABASE_URL",
            "add sslrootcert=/etc/confmgr/rds-ca/global-bundle.pem",
        );
        refused(
            &["--dev", iam],
            "CONFMGR_DATABASE_IAM_AUTH",
            "not with --dev",
        );
        refused(
            &[
                "--database-url",
                RDS_URL,
                iam,
                "--database-iam-region",
                "Mars 1",
            ],
            "CONFMGR_DATABASE_IAM_REGION",
            "not an AWS region name",
        );
        refused(
            &[
                "--database-url",
                RDS_URL,
                "--database-iam-region",
                "eu-west-1",
            ],
            "CONFMGR_DATABASE_IAM_REGION",
            "only used with CONFMGR_DATABASE_IAM_AUTH",
        );
    }

    #[test]
    fn iam_auth_does_not_need_a_client_certificate_but_takes_none_half_given() {
        assert!(validate(&["--database-url", RDS_URL, "--database-iam-auth"]).is_ok());
        refused(
            &[
                "--database-url",
                &format!("{RDS_URL}&sslcert=/c.pem"),
                "--database-iam-auth",
            ],
            "CONFMGR_DATABASE_URL",
            "sslcert and sslkey must be given together",
        );
    }
}
