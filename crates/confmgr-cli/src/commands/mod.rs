//! One module per command group; each returns a [`Report`] and leaves printing to `main`
//! (except `audit`, whose tail and export stream their output).

mod audit;
mod client;
mod completions;
mod export;
mod formats;
pub mod gen_env;
pub mod keys;
mod kv;
mod login;
mod pki;
mod policy;
pub mod run;
mod secrets_import;
mod status;
mod token;

use crate::cli::{Cli, Command};
use crate::http::Api;
use crate::output::{resolve_format, Format, Report};
use crate::session::{self, ResolvedToken};
use anyhow::Result;
use clap::error::ErrorKind;
use clap::CommandFactory;

/// What every command needs: where the server is, how to print, and the token on demand.
pub struct Ctx {
    pub addr: String,
    pub format: Format,
    pub tls: session::ClientTls,
    token_flag: Option<String>,
}

impl Ctx {
    fn new(cli: &Cli) -> Self {
        Self {
            addr: session::resolve_addr(cli.addr.as_deref(), &session::process_env),
            format: resolve_format(cli.format),
            tls: session::resolve_tls(
                cli.ca_cert.as_deref(),
                cli.client_cert.as_deref(),
                cli.client_key.as_deref(),
                &session::process_env,
            ),
            token_flag: cli.token.clone(),
        }
    }

    /// A client without a token (health, login).
    pub fn anonymous(&self) -> Result<Api> {
        Api::new(&self.addr, None, &self.tls)
    }

    /// The token by precedence: flag, CONFMGR_TOKEN, VAULT_TOKEN, token file.
    pub fn token(&self) -> Result<ResolvedToken> {
        match session::resolve_token(self.token_flag.as_deref(), &session::process_env)? {
            Some(token) => Ok(token),
            None => Err(crate::exit::permission_denied(
                "no token: run `confmgr login`, set CONFMGR_TOKEN, or pass --token",
            )),
        }
    }

    /// A client carrying the token.
    pub fn authed(&self) -> Result<Api> {
        Api::new(&self.addr, Some(self.token()?.token), &self.tls)
    }
}

/// A usage error, reported like clap's own (exit code 2).
pub fn usage_error(kind: ErrorKind, message: impl std::fmt::Display) -> anyhow::Error {
    Cli::command().error(kind, message).into()
}

/// A failure already explained on stderr: exit code 1 without another message.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed (reported above)")
    }
}

impl std::error::Error for Reported {}

pub async fn run(cli: Cli) -> Result<()> {
    let mut ctx = Ctx::new(&cli);
    ctx.format = formats::resolve(&cli.command, cli.format)?;
    let report = match cli.command {
        Command::Audit(command) => return audit::run(&ctx, command).await,
        Command::Status => status::run(&ctx).await?,
        Command::Login(args) => login::run(&ctx, &args).await?,
        Command::Kv(command) => kv::run(&ctx, command).await?,
        Command::Export(args) => return export::run(&ctx, args).await,
        Command::Import(args) => secrets_import::run(&ctx, args).await?,
        Command::Completions { shell } => return completions::run(shell),
        Command::Client(command) => client::run(&ctx, command).await?,
        Command::Policy(command) => policy::run(&ctx, command).await?,
        Command::Token(command) => token::run(&ctx, command).await?,
        Command::Pki(command) => pki::run(command)?,
        Command::Run(args) => return run::run(&ctx, args).await,
        Command::GenEnv(args) => gen_env::run(&args)?,
        Command::Keys(command) => keys::run(&ctx, command).await?,
    };
    print_report(&report, ctx.format);
    Ok(())
}

pub fn print_report(report: &Report, format: Format) {
    print!("{}", report.render(format));
}
