//! `latchkey admin …`: operator commands on the data directory.

use clap::Subcommand;

use crate::init::{InitArgs, prepare, report};

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create another organization with its admin and a `*` API key (an
    /// existing user with that email becomes its admin).
    CreateOrg(InitArgs),
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
    }
}
