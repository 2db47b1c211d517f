//! `latchkey`: the server (`latchkey serve`) and its command line.

mod admin;
mod cli;
mod config;
mod init;
mod master_key;
mod ops;
mod serve;
mod storage;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// latchkey: self-hosted API keys and access for developer platforms.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: cli::Global,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Create the first organization, its admin and a `*` API key.
    Init(init::InitArgs),
    /// Operator commands that work on the data directory directly.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    #[command(flatten)]
    Client(cli::ClientCommand),
    /// Print the API's OpenAPI document (what `GET /openapi.json` serves;
    /// `latchkey openapi > docs/openapi.json` regenerates the committed copy).
    Openapi,
    /// Print a shell completion script (`source <(latchkey completions bash)`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "latchkey", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if let Command::Openapi = cli.command {
        print!("{}", latchkey_server::openapi::json());
        return ExitCode::SUCCESS;
    }
    // The server runs one worker per CPU it may use, and on one CPU the
    // current-thread scheduler; the CLI commands need no more than one thread.
    let workers = match &cli.command {
        Command::Serve(args) => args.workers(),
        _ => 1,
    };
    let mut builder = if workers > 1 {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args, workers).await,
            Command::Init(args) => init::run(args).await,
            Command::Admin(cmd) => admin::run(cmd).await,
            Command::Client(cmd) => cli::run(cmd, &cli.global).await,
            Command::Completions { .. } | Command::Openapi => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::report(&e),
    }
}
