//! `confmgr`: the command-line client of a ConfMgr server (Vault-compatible HTTP API).

mod cli;
mod client_spec;
mod clock;
mod commands;
mod dotenv;
mod exit;
mod fallback;
mod files;
mod http;
mod import;
mod input;
mod names;
mod output;
mod session;
mod ttl;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Usage problems found after parsing look and exit like clap's own (code 2).
            if let Some(usage) = error.downcast_ref::<clap::Error>() {
                let _ = usage.print();
                return ExitCode::from(exit::USAGE);
            }
            if error.downcast_ref::<commands::Reported>().is_some() {
                return ExitCode::from(exit::GENERAL);
            }
            // One line: the problem and what to do (multi-line lists stay as they are).
            eprintln!("error: {error:#}");
            ExitCode::from(exit::kind_of(&error).code())
        }
    }
}
