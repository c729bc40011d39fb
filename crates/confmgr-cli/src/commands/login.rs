//! `confmgr login`: get or check a token, then keep it in the token file (0600).

use super::{usage_error, Ctx};
use crate::cli::{LoginArgs, LoginMethod};
use crate::input::{read_secret, SecretSource};
use crate::output::{duration, fields, joined, scalar, strings, Report};
use crate::session::{self, Token};
use anyhow::{Context, Result};
use clap::error::ErrorKind;
use serde_json::{json, Value};
use std::path::Path;

/// What the login tells about the new token (never the token itself).
struct LoggedIn {
    token: Token,
    accessor: Value,
    policies: Value,
    ttl: Value,
    renewable: Value,
}

pub async fn run(ctx: &Ctx, args: &LoginArgs) -> Result<Report> {
    let logged_in = match args.method {
        LoginMethod::Approle => approle(ctx, args).await?,
        LoginMethod::Token => token(ctx, args).await?,
        LoginMethod::Cert => cert(ctx, args).await?,
    };
    let token_file = if args.no_store {
        None
    } else {
        let path = session::token_path(&session::process_env)?;
        session::store_token(&path, &logged_in.token)?;
        if let Some(shadow) = session::token_from_flag_or_env(None, &session::process_env) {
            if let session::TokenSource::Env(var) = shadow.source {
                eprintln!("warning: {var} is set and takes precedence over the stored token");
            }
        }
        Some(path)
    };
    Ok(report(args, &logged_in, token_file.as_deref()))
}

fn report(args: &LoginArgs, logged_in: &LoggedIn, token_file: Option<&Path>) -> Report {
    let method = match args.method {
        LoginMethod::Approle => "approle",
        LoginMethod::Token => "token",
        LoginMethod::Cert => "cert",
    };
    let mut json = json!({
        "method": method,
        "accessor": logged_in.accessor,
        "policies": logged_in.policies,
        "lease_duration": logged_in.ttl,
        "renewable": logged_in.renewable,
        "token_file": token_file.map(|p| p.display().to_string()),
    });
    let mut rows = vec![
        ("accessor", scalar(&logged_in.accessor)),
        ("policies", joined(&strings(&logged_in.policies))),
        ("token_ttl", duration(&logged_in.ttl)),
        ("renewable", scalar(&logged_in.renewable)),
    ];
    if args.print_token {
        json["token"] = Value::String(logged_in.token.expose().to_owned());
        rows.push(("token", logged_in.token.expose().to_owned()));
    }
    let stored = match token_file {
        Some(path) => format!("token stored in {}", path.display()),
        None => "token not stored (--no-store)".to_owned(),
    };
    let text = format!("logged in with {method}\n{}{stored}\n", fields(&rows));
    Report::new(json, text)
}

async fn approle(ctx: &Ctx, args: &LoginArgs) -> Result<LoggedIn> {
    if args.token_file.is_some() {
        return Err(usage_error(
            ErrorKind::ArgumentConflict,
            "--token-file goes with --method token",
        ));
    }
    let Some(role_id) = args.role_id.as_deref().filter(|r| !r.is_empty()) else {
        return Err(usage_error(
            ErrorKind::MissingRequiredArgument,
            "--method approle needs --role-id",
        ));
    };
    let source = match (&args.secret_id, &args.secret_id_file) {
        (Some(value), _) => SecretSource::from_value(value),
        (None, Some(path)) => SecretSource::from_path(path),
        (None, None) => {
            return Err(usage_error(
                ErrorKind::MissingRequiredArgument,
                "--method approle needs --secret-id-file FILE or --secret-id - (stdin)",
            ))
        }
    };
    if matches!(source, SecretSource::Value(_)) {
        eprintln!(
            "warning: a secret on the command line is visible to other local users; \
             prefer --secret-id - (stdin) or --secret-id-file"
        );
    }
    let secret_id = read_secret(&source, "client secret")?;
    let body = ctx
        .anonymous()?
        .post(
            "auth/approle/login",
            &json!({ "role_id": role_id, "secret_id": secret_id }),
        )
        .await?
        .unwrap_or(Value::Null);
    from_auth(&body)
}

async fn cert(ctx: &Ctx, args: &LoginArgs) -> Result<LoggedIn> {
    if args.role_id.is_some() || args.secret_id.is_some() || args.secret_id_file.is_some() {
        return Err(usage_error(
            ErrorKind::ArgumentConflict,
            "--role-id and --secret-id go with --method approle",
        ));
    }
    if ctx.tls.client_cert.is_none() {
        return Err(usage_error(
            ErrorKind::MissingRequiredArgument,
            "--method cert needs --client-cert FILE and --client-key FILE (or CONFMGR_CLIENT_CERT and CONFMGR_CLIENT_KEY)",
        ));
    }
    let body = ctx
        .anonymous()?
        .post("auth/cert/login", &json!({ "name": args.name }))
        .await?
        .unwrap_or(Value::Null);
    from_auth(&body)
}

/// The `auth` block of a login answer.
fn from_auth(body: &Value) -> Result<LoggedIn> {
    let auth = &body["auth"];
    let token = auth["client_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .context("login failed: the server answered no auth.client_token")?;
    let policies = if auth["token_policies"].is_array() {
        auth["token_policies"].clone()
    } else {
        auth["policies"].clone()
    };
    Ok(LoggedIn {
        token: Token::new(token),
        accessor: auth["accessor"].clone(),
        policies,
        ttl: auth["lease_duration"].clone(),
        renewable: auth["renewable"].clone(),
    })
}

async fn token(ctx: &Ctx, args: &LoginArgs) -> Result<LoggedIn> {
    if args.role_id.is_some() || args.secret_id.is_some() || args.secret_id_file.is_some() {
        return Err(usage_error(
            ErrorKind::ArgumentConflict,
            "--role-id and --secret-id go with --method approle",
        ));
    }
    let source = match &args.token_file {
        Some(path) => SecretSource::from_path(path),
        None => SecretSource::Stdin,
    };
    let token = Token::new(read_secret(&source, "token")?);
    let body = ctx
        .anonymous()?
        .with_token(token.clone())
        .get("auth/token/lookup-self")
        .await?;
    let data = &body["data"];
    Ok(LoggedIn {
        token,
        accessor: data["accessor"].clone(),
        policies: data["policies"].clone(),
        ttl: data["ttl"].clone(),
        renewable: data["renewable"].clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(print_token: bool) -> LoginArgs {
        LoginArgs {
            method: LoginMethod::Approle,
            role_id: Some("r".into()),
            secret_id: None,
            secret_id_file: None,
            token_file: None,
            name: None,
            print_token,
            no_store: false,
        }
    }

    fn logged_in() -> LoggedIn {
        LoggedIn {
            token: Token::new("cmt.sekrit"),
            accessor: json!("acc1"),
            policies: json!(["default", "app-read"]),
            ttl: json!(3600),
            renewable: json!(true),
        }
    }

    #[test]
    fn token_is_printed_only_on_request() {
        let path = Path::new("/cfg/confmgr/token");
        let quiet = report(&args(false), &logged_in(), Some(path));
        assert!(!quiet.text.contains("cmt.sekrit"));
        assert!(!quiet.json.to_string().contains("cmt.sekrit"));
        assert_eq!(
            quiet.text,
            "logged in with approle\naccessor   acc1\npolicies   default, app-read\n\
             token_ttl  1h\nrenewable  true\ntoken stored in /cfg/confmgr/token\n"
        );
        let loud = report(&args(true), &logged_in(), None);
        assert!(loud.text.contains("token      cmt.sekrit"));
        assert_eq!(loud.json["token"], "cmt.sekrit");
        assert_eq!(loud.json["token_file"], Value::Null);
    }
}
