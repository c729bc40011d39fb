use clap::Parser;
use confmgr_server::config::{Cli, Command};
use confmgr_server::{launch, telemetry};
use std::process::ExitCode;

// glibc's malloc keeps each thread arena's peak: argon2id's 19 MiB blocks, hashed on
// whichever blocking thread is free, left the server holding hundreds of MiB after a burst
// of logins (doc/performance.md). mimalloc returns freed pages to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.args.log_format, &cli.args.log);
    let command = cli.command.unwrap_or(Command::Serve);
    if command == Command::Openapi {
        println!("{}", confmgr_server::http::openapi_document());
        return ExitCode::SUCCESS;
    }
    let settings = match cli.args.validate(command) {
        Ok(settings) => settings,
        Err(problems) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            return ExitCode::from(2);
        }
    };
    let outcome = match command {
        Command::Serve => launch::serve(&settings).await,
        Command::Init => launch::init(&settings).await,
        Command::Migrate => launch::migrate(&settings).await,
        Command::Rekey => launch::rekey(&settings).await,
        Command::KmsMigrate => launch::kms_migrate(&settings).await,
        Command::Openapi => Ok(()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
