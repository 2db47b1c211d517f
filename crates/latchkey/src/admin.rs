//! `latchkey admin …`: operator commands on the data directory.

use std::io::BufRead;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::init::{InitArgs, prepare, report};
use crate::storage::StorageArgs;

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create another organization with its admin and a `*` API key (an
    /// existing user with that email becomes its admin).
    CreateOrg(InitArgs),
    /// Set a user's login password (read from the first line of stdin, so it
    /// stays out of the shell history and the process list).
    SetPassword(SetPasswordArgs),
}

/// `latchkey admin set-password`
#[derive(Debug, Args)]
pub struct SetPasswordArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The user's email.
    #[arg(long)]
    email: String,
}

/// Runs an admin command.
pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::CreateOrg(args) => {
            let b = prepare(&args)?;
            let store = args.storage.open().await?;
            let user_id = store.create_org_with_admin(&b.org, &b.user, &b.key).await?;
            report(&args, &b, &user_id);
            Ok(())
        }
        AdminCommand::SetPassword(args) => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password).context("cannot read the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let hash = latchkey_core::password::hash_password(password)?;
            let store = args.storage.open().await?;
            let email = args.email.trim().to_lowercase();
            let (user, _) =
                store.user_by_email(&email).await?.with_context(|| format!("no user with email {email}"))?;
            store.set_password(&user.id, &hash).await?;
            println!("password set for {email} ({})", user.id);
            Ok(())
        }
    }
}
