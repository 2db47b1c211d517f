//! `latchkey secret …` and `latchkey ssh-key …`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use latchkey_client::types::secrets::{CreateSshKey, OwnerScope, PutSecret};
use latchkey_client::{SecretListQuery, SshKeyListQuery};
use serde_json::json;

use super::output::{ago, cell, clean};
use super::{CliError, Ctx};

/// Which of two same-named secrets (yours or the organization's).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Which {
    /// Your own.
    User,
    /// The organization's.
    Org,
}

impl From<Which> for OwnerScope {
    fn from(w: Which) -> Self {
        match w {
            Which::User => Self::User,
            Which::Org => Self::Org,
        }
    }
}

/// `latchkey secret …`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create or replace a secret (user-private unless `--org-wide`).
    Set {
        /// `A-Z`, `0-9`, `_` (e.g. `ANTHROPIC_API_KEY`).
        name: String,
        /// The value; prefer `--value-stdin`, which keeps it out of the
        /// shell history and the process list.
        #[arg(required_unless_present = "value_stdin", conflicts_with = "value_stdin")]
        value: Option<String>,
        /// Read the value from standard input (one trailing newline is dropped).
        #[arg(long)]
        value_stdin: bool,
        /// `provider`, `tool`, … (lowercase letters, digits, `-`, `_`).
        #[arg(long, default_value = "general")]
        category: String,
        /// Shared with the whole organization (admins).
        #[arg(long)]
        org_wide: bool,
    },
    /// Your secrets and the organization's (names and metadata, never values).
    List {
        /// Only the organization's.
        #[arg(long)]
        org_only: bool,
    },
    /// Print a secret's value (audited).
    Reveal {
        /// The name.
        name: String,
        /// `user` or `org` when both exist (default: yours).
        #[arg(long, value_enum)]
        scope: Option<Which>,
    },
    /// Delete a secret.
    Delete {
        /// The name.
        name: String,
        /// `user` or `org` when both exist (default: yours).
        #[arg(long, value_enum)]
        scope: Option<Which>,
    },
}

/// `latchkey ssh-key …`
#[derive(Debug, Subcommand)]
pub enum SshKeyCommand {
    /// Your SSH keys and the organization's.
    List {
        /// Only the organization's.
        #[arg(long)]
        org_only: bool,
        /// Every member's keys (admins).
        #[arg(long)]
        all_org: bool,
    },
    /// Register an OpenSSH public key (`~/.ssh/id_ed25519.pub`).
    Add {
        /// A name for it (`personal-laptop`).
        name: String,
        /// The public key file.
        #[arg(long)]
        file: PathBuf,
        /// For the whole organization (admins).
        #[arg(long)]
        org_wide: bool,
    },
    /// Make a key your default.
    SetDefault {
        /// `ssh_…`
        id: String,
    },
    /// Remove a key.
    Remove {
        /// `ssh_…`
        id: String,
    },
    /// Print a member's `authorized_keys` (their keys and the organization's),
    /// for OpenSSH's `AuthorizedKeysCommand`.
    AuthorizedKeys {
        /// Email or user id.
        user: String,
    },
}

/// `latchkey secret …`
pub async fn secret(ctx: &Ctx, cmd: SecretCommand) -> anyhow::Result<()> {
    let (c, out) = (&ctx.client, &ctx.out);
    match cmd {
        SecretCommand::Set { name, value, value_stdin, category, org_wide } => {
            let value = match value {
                Some(v) => v,
                None => {
                    let mut v = String::new();
                    std::io::stdin().read_to_string(&mut v).context("cannot read the value from standard input")?;
                    let trimmed = v.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&v);
                    trimmed.to_owned()
                }
            };
            if value_stdin && value.is_empty() {
                return Err(CliError::Usage("standard input held no value".to_owned()).into());
            }
            let s = c.put_secret(&name, &PutSecret { value, category, org_wide: Some(org_wide) }).await?;
            if out.json {
                return out.print_json(&s);
            }
            println!("Saved {} ({}, {}, version {}).", clean(&s.name), scope_word(s.scope), s.category, s.version);
            Ok(())
        }
        SecretCommand::List { org_only } => {
            let secrets = c
                .all(|page| {
                    let q = SecretListQuery { org_only, page };
                    async move { c.secrets(&q).await }
                })
                .await?;
            if out.json {
                return out.print_json(&secrets);
            }
            if secrets.is_empty() {
                println!("No secrets.");
                return Ok(());
            }
            let mut t = out.table(&["name", "category", "scope", "version", "updated"]);
            for s in &secrets {
                t.add_row(vec![
                    cell(&s.name),
                    cell(&s.category),
                    cell(&scope_word(s.scope)),
                    cell(&s.version),
                    cell(&ago(Some(&s.updated_at))),
                ]);
            }
            out.print_table(&t);
            Ok(())
        }
        SecretCommand::Reveal { name, scope } => {
            let s = c.reveal_secret(&name, scope.map(Into::into)).await?;
            if out.json {
                return out.print_json(&s);
            }
            // The bare value, so `$(latchkey secret reveal NAME)` works.
            println!("{}", s.value);
            Ok(())
        }
        SecretCommand::Delete { name, scope } => {
            c.delete_secret(&name, scope.map(Into::into)).await?;
            if out.json {
                return out.print_json(&json!({"deleted": name}));
            }
            println!("Deleted {name}.");
            Ok(())
        }
    }
}

fn scope_word(scope: OwnerScope) -> &'static str {
    match scope {
        OwnerScope::User => "user",
        OwnerScope::Org => "org",
    }
}

/// `latchkey ssh-key …`
pub async fn ssh_key(ctx: &Ctx, cmd: SshKeyCommand) -> anyhow::Result<()> {
    let (c, out) = (&ctx.client, &ctx.out);
    match cmd {
        SshKeyCommand::List { org_only, all_org } => {
            let keys = c
                .all(|page| {
                    let q = SshKeyListQuery { org_only, all_org, page };
                    async move { c.ssh_keys(&q).await }
                })
                .await?;
            if out.json {
                return out.print_json(&keys);
            }
            if keys.is_empty() {
                println!("No SSH keys.");
                return Ok(());
            }
            let mut t = out.table(&["id", "name", "type", "fingerprint", "scope", "default", "added"]);
            for k in &keys {
                t.add_row(vec![
                    cell(&k.id),
                    cell(&k.name),
                    cell(&format!("{} {}", k.algorithm, k.bits)),
                    cell(&k.fingerprint),
                    cell(&scope_word(k.scope)),
                    cell(&if k.is_default { "yes" } else { "" }),
                    cell(&ago(Some(&k.created_at))),
                ]);
            }
            out.print_table(&t);
            Ok(())
        }
        SshKeyCommand::Add { name, file, org_wide } => {
            let public_key = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let k = c.add_ssh_key(&CreateSshKey { name, public_key, org_wide: Some(org_wide) }).await?;
            if out.json {
                return out.print_json(&k);
            }
            println!(
                "Added {} ({}): {} {}, {}.",
                clean(&k.name),
                k.id,
                k.algorithm,
                k.fingerprint,
                scope_word(k.scope)
            );
            Ok(())
        }
        SshKeyCommand::SetDefault { id } => {
            let k = c.set_default_ssh_key(&id).await?;
            if out.json {
                return out.print_json(&k);
            }
            println!("{} ({}) is now your default SSH key.", clean(&k.name), k.id);
            Ok(())
        }
        SshKeyCommand::Remove { id } => {
            c.delete_ssh_key(&id).await?;
            if out.json {
                return out.print_json(&json!({"deleted": id}));
            }
            println!("Removed {id}.");
            Ok(())
        }
        SshKeyCommand::AuthorizedKeys { user } => {
            let file = c.authorized_keys(Some(&user)).await?;
            if out.json {
                let lines: Vec<&str> = file.lines().filter(|l| !l.trim().is_empty()).collect();
                return out.print_json(&json!({"user": user, "authorizedKeys": lines}));
            }
            print!("{file}");
            Ok(())
        }
    }
}
