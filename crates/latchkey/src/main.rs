//! `latchkey`: the server (`latchkey serve`) and its command line.

mod admin;
mod config;
mod init;
mod master_key;
mod serve;
mod storage;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// latchkey: self-hosted API keys and access for developer platforms.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Init(args) => init::run(args).await,
            Command::Admin(cmd) => admin::run(cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
