use clap::Parser;
use confmgr_server::config::Settings;
use confmgr_server::config::{Cli, Command};
use confmgr_server::services::bootstrap;
use confmgr_server::{launch, telemetry};
use std::process::ExitCode;

mod healthcheck;

// glibc's malloc keeps each thread arena's peak: argon2id's 19 MiB blocks, hashed on
// whichever blocking thread is free, left the server holding hundreds of MiB after a burst
// of logins (doc/performance.md). mimalloc returns freed pages to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    // The image's HEALTHCHECK runs every few seconds: no runtime, no logging, one line.
    if command == Command::Healthcheck {
        return healthcheck::run(&cli.args);
    }
    telemetry::init(cli.args.log_format, &cli.args.log);
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Serve => launch::serve(&settings).await,
            Command::Init if cli.args.init_if_needed => init_if_needed(&settings).await,
            Command::Init => launch::init(&settings).await,
            Command::Migrate => launch::migrate(&settings).await,
            Command::Rekey => launch::rekey(&settings).await,
            Command::KmsMigrate => launch::kms_migrate(&settings).await,
            Command::Openapi | Command::Healthcheck => Ok(()),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `init --init-if-needed`: a one-shot job that runs on every `docker compose up` initializes
/// a fresh database once (printing the root token then) and is a no-op afterwards.
async fn init_if_needed(settings: &Settings) -> anyhow::Result<()> {
    let store = launch::open_store(settings).await?;
    if bootstrap::is_initialized(&store).await? {
        eprintln!("the database is initialized already: nothing to do (no new root token)");
        return Ok(());
    }
    drop(store);
    launch::init(settings).await
}
