//! RDS IAM database authentication through the real binary: settings refused before start,
//! no credentials or no region stop the start with one line, and a token the database
//! refuses stops it with what RDS needs and without the token, even at the most verbose
//! log level. (The token itself is checked against botocore in database_iam.rs; the pool's
//! refresh against a real PostgreSQL in confmgr-store's tests/it/login.rs.)

use crate::process::{key_file, BIN};
use confmgr_testkit::TestPostgres;
use std::path::Path;
use std::process::{Command, Output};

const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessiontokenvalue";

/// The binary with only `env` set from CONFMGR_* and AWS_*, so neither the machine's
/// settings nor its AWS profile leak in; the instance metadata service is never asked.
fn run(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Output {
    let mut command = Command::new(BIN);
    for (key, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("CONFMGR_") || k.starts_with("AWS_"))
    {
        command.env_remove(key);
    }
    let missing = |name: &str| dir.join(name).display().to_string();
    command
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", missing("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", missing("no-aws-credentials"))
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// stderr's `error:` lines, asserting there is exactly one.
fn one_error(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(errors.len(), 1, "{stderr}");
    errors[0].trim_start_matches("error: ").to_owned()
}

/// Arguments, environment, and the start of the one error line expected.
type Case<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn iam_settings_are_refused_before_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "root.key");
    let key = key.to_str().unwrap();
    let rds = "postgres://confmgr@db.example:5432/confmgr?sslmode=verify-full&sslrootcert=/etc/confmgr/rds-ca/global-bundle.pem";
    let with_password = rds.replace("confmgr@", "confmgr:s3cretpassw0rd@");
    let cases: [Case; 4] = [
        (
            &["serve"],
            vec![("CONFMGR_DATABASE_URL", &with_password)],
            "CONFMGR_DATABASE_URL: has a password",
        ),
        (
            &["serve"],
            vec![("CONFMGR_DATABASE_URL", "sqlite://x.db")],
            "CONFMGR_DATABASE_IAM_AUTH: needs a PostgreSQL CONFMGR_DATABASE_URL",
        ),
        (
            &["serve", "--dev"],
            vec![],
            "CONFMGR_DATABASE_IAM_AUTH: not with --dev",
        ),
        (
            &["migrate", "--insecure-database"],
            vec![(
                "CONFMGR_DATABASE_URL",
                "postgres://confmgr@db.example/confmgr?sslmode=require",
            )],
            "CONFMGR_DATABASE_URL: with CONFMGR_DATABASE_IAM_AUTH, sslmode must be verify-full",
        ),
    ];
    for (args, mut env, expected) in cases {
        env.extend([
            ("CONFMGR_DATABASE_IAM_AUTH", "yes"),
            ("CONFMGR_ROOT_KEY_FILE", key),
        ]);
        let output = run(args, &env, dir.path());
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}");
        let error = one_error(&output);
        assert!(error.starts_with(expected), "{error}");
        assert!(!error.contains("s3cretpassw0rd"), "{error}");
    }
}

#[test]
fn no_credentials_or_no_region_stop_the_start_with_one_line_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "root.key");
    let ca = dir.path().join("rds-ca.pem");
    std::fs::write(&ca, crate::tls::ca("RDS CA").pem).unwrap();
    // Nothing listens there: the start must stop before connecting.
    let url = format!(
        "postgres://confmgr@127.0.0.1:9/confmgr?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let base = [
        ("CONFMGR_DATABASE_URL", url.as_str()),
        ("CONFMGR_DATABASE_IAM_AUTH", "true"),
        ("CONFMGR_ROOT_KEY_FILE", key.to_str().unwrap()),
    ];

    let mut env = base.to_vec();
    env.push(("AWS_REGION", "eu-west-1"));
    let error = one_error(&run(&["serve"], &env, dir.path()));
    assert!(
        error.starts_with(
            "CONFMGR_DATABASE_IAM_AUTH: cannot create an RDS auth token for user \"confmgr\""
        ) && error.contains("no AWS credentials from the AWS credential chain")
            && error.contains("AWS_WEB_IDENTITY_TOKEN_FILE")
            && error.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        "{error}"
    );

    let mut env = base.to_vec();
    env.extend([
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ]);
    let error = one_error(&run(&["serve"], &env, dir.path()));
    assert!(
        error.starts_with("CONFMGR_DATABASE_IAM_REGION: no AWS region")
            && error.contains("set CONFMGR_DATABASE_IAM_REGION or AWS_REGION"),
        "{error}"
    );
}

#[tokio::test]
async fn a_refused_token_stops_the_start_with_what_rds_needs_and_never_shows_the_token() {
    let pg = TestPostgres::private().await.unwrap();
    let admin = pg.fresh_database().await.unwrap();
    let database = url::Url::parse(&admin).unwrap().path()[1..].to_owned();
    // A role that logs in by password over verify-full TLS, like an RDS IAM user; its
    // password is not the token the server makes, so the login is refused.
    let url = pg
        .password_role("confmgr_iam", "not-the-token", &database)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "root.key");
    let env = [
        ("CONFMGR_DATABASE_URL", url.as_str()),
        ("CONFMGR_DATABASE_IAM_AUTH", "1"),
        ("CONFMGR_DATABASE_IAM_REGION", "eu-west-1"),
        ("CONFMGR_ROOT_KEY_FILE", key.to_str().unwrap()),
        ("CONFMGR_LOG", "trace"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
    ];
    let output = run(&["migrate"], &env, dir.path());
    let error = one_error(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        error.starts_with("cannot connect to the database: CONFMGR_DATABASE_IAM_AUTH: the database refused the RDS IAM auth token for user \"confmgr_iam\" at localhost:")
            && error.contains("rds-db:connect")
            && error.contains("GRANT rds_iam TO confmgr_iam")
            && error.contains("password authentication failed for user \"confmgr_iam\""),
        "{error}"
    );
    // Neither the token (its signature, its query) nor the credentials it was made with,
    // in the error or anywhere in the trace-level logs.
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        everything.contains("TRACE") || everything.contains("trace"),
        "{everything}"
    );
    for secret in [
        "X-Amz-Signature",
        "X-Amz-Security-Token=",
        SECRET_KEY,
        "wJalrXUtnFEMI%2F",
        SESSION_TOKEN,
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} in the output:\n{everything}"
        );
    }
}
