//! The client side of the binary: `login`, `auth`, `org`, `project`,
//! `member`, `audit`, `verify`, `secret`, `ssh-key`, `oauth`, `workspace`.
//! Every command talks to a server through [`latchkey_client`] and nothing
//! else.
//!
//! Which server and which credential:
//! - server: `--api-url`, else `LATCHKEY_API_URL`, else the stored login's,
//!   else `http://127.0.0.1:7420`;
//! - credential: `LATCHKEY_API_KEY`, else the stored session token, which is
//!   only ever sent to the server that issued it.
//!
//! Exit codes: 0 ok, 1 the server refused (its code and message on stderr),
//! 2 usage error, 3 the server cannot be reached, 130 a wait stopped with
//! Ctrl-C.

mod auth;
pub mod credentials;
mod explain;
mod key_import;
mod oauth;
mod output;
mod sign_in;
mod team;
mod vault;
mod workspace;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use latchkey_client::{Client, DEFAULT_URL};

use self::credentials::StoredLogin;
pub use self::output::Output;

/// Options of every client command.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The latchkey server (default: `LATCHKEY_API_URL`, else the stored
    /// login's server, else http://127.0.0.1:7420).
    #[arg(long, global = true, value_name = "URL")]
    pub api_url: Option<String>,
    /// Print the server's data as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// Act in this organization (id) instead of the session's current one.
    #[arg(long, global = true, value_name = "ORG_ID")]
    pub org: Option<String>,
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Log in (email and password, a browser, or another device); the
    /// session is saved for later commands.
    Login(auth::LoginArgs),
    /// End the stored session on the server and forget it.
    Logout,
    /// Who you are, and your API keys.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Organizations: list, create, switch.
    #[command(subcommand)]
    Org(team::OrgCommand),
    /// Projects: list, create, delete.
    #[command(subcommand)]
    Project(team::ProjectCommand),
    /// Members and invitations.
    #[command(subcommand)]
    Member(team::MemberCommand),
    /// The organization's audit trail (admins), newest first.
    Audit(team::AuditArgs),
    /// Verify a key (needs `keys:verify`); exits 1 unless it is valid.
    Verify(team::VerifyArgs),
    /// Encrypted secrets: set, list, reveal, delete.
    #[command(subcommand)]
    Secret(vault::SecretCommand),
    /// SSH public keys: list, add, set-default, remove, authorized-keys.
    #[command(subcommand)]
    SshKey(vault::SshKeyCommand),
    /// Connected apps: connect, status, set-default, disconnect, providers,
    /// and an organization's own client credentials.
    #[command(subcommand)]
    Oauth(oauth::OAuthCommand),
    /// Workspaces: list, create, delete, mount-check, presign, files.
    #[command(subcommand)]
    Workspace(workspace::WorkspaceCommand),
}

/// A failure the CLI explains itself, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The invocation cannot work (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Refused before or after asking the server (exit 1).
    #[error("{0}")]
    Refused(String),
    /// A wait stopped with Ctrl-C (exit 130, as a shell reports SIGINT).
    #[error("{0}")]
    Interrupted(String),
}

/// Where the credential of a command comes from.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `LATCHKEY_API_KEY`.
    ApiKey,
    /// The stored login.
    Session(Box<StoredLogin>),
    /// None.
    Anonymous,
}

/// A resolved server, credential and output mode.
pub struct Ctx {
    /// The API client, with the credential set.
    pub client: Client,
    /// How to print.
    pub out: Output,
    /// Where the credential came from.
    pub credential: Credential,
}

impl Ctx {
    /// Resolves the server and the credential (see the module docs).
    pub fn resolve(global: &Global) -> anyhow::Result<Self> {
        let stored = credentials::load()?;
        let env_url = std::env::var("LATCHKEY_API_URL").ok().filter(|u| !u.trim().is_empty());
        let url = global
            .api_url
            .clone()
            .or(env_url)
            .or_else(|| stored.as_ref().map(|s| s.api_url.clone()))
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let mut client = Client::new(&url)?;
        let env_key = std::env::var("LATCHKEY_API_KEY").ok().filter(|k| !k.trim().is_empty());
        let credential = if let Some(key) = env_key {
            client = client.with_token(key.trim());
            Credential::ApiKey
        } else {
            match stored.filter(|s| same_server(&s.api_url, client.base_url())) {
                Some(login) => {
                    client = client.with_token(login.token.clone());
                    Credential::Session(Box::new(login))
                }
                None => Credential::Anonymous,
            }
        };
        if let Some(org) = &global.org {
            client = client.with_org(org.clone());
        }
        Ok(Self { client, out: Output::new(global.json), credential })
    }

    /// Fails unless there is a credential; a stored session past its expiry
    /// is reported as such without asking the server. Without any
    /// credential, a server that is down is reported first (exit 3).
    pub async fn require_credential(&self) -> anyhow::Result<()> {
        match &self.credential {
            Credential::ApiKey => Ok(()),
            Credential::Session(login) if expired(&login.expires_at) => Err(session_expired()),
            Credential::Session(_) => Ok(()),
            Credential::Anonymous => {
                self.client.healthz().await?;
                Err(CliError::Refused(format!(
                    "not logged in to {}: run `latchkey login` or set LATCHKEY_API_KEY",
                    self.client.base_url()
                ))
                .into())
            }
        }
    }
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn expired(expires_at: &str) -> bool {
    time::OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339)
        .is_ok_and(|t| t <= time::OffsetDateTime::now_utc())
}

fn session_expired() -> anyhow::Error {
    CliError::Refused("session expired, run `latchkey login`".to_owned()).into()
}

/// Runs a client command.
pub async fn run(cmd: ClientCommand, global: &Global) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Login(args) => auth::login(global, args).await,
        ClientCommand::Logout => auth::logout(global).await,
        cmd => {
            let ctx = Ctx::resolve(global)?;
            ctx.require_credential().await?;
            let result = match cmd {
                ClientCommand::Auth(cmd) => auth::run(&ctx, cmd).await,
                ClientCommand::Org(cmd) => team::org(&ctx, cmd).await,
                ClientCommand::Project(cmd) => team::project(&ctx, cmd).await,
                ClientCommand::Member(cmd) => team::member(&ctx, cmd).await,
                ClientCommand::Audit(args) => team::audit(&ctx, args).await,
                ClientCommand::Verify(args) => team::verify(&ctx, args).await,
                ClientCommand::Secret(cmd) => vault::secret(&ctx, cmd).await,
                ClientCommand::SshKey(cmd) => vault::ssh_key(&ctx, cmd).await,
                ClientCommand::Oauth(cmd) => oauth::oauth(&ctx, cmd).await,
                ClientCommand::Workspace(cmd) => workspace::workspace(&ctx, cmd).await,
                ClientCommand::Login(_) | ClientCommand::Logout => Ok(()),
            };
            result.map_err(|e| explain_refusal(e, &ctx.credential))
        }
    }
}

/// A 401 for a stored session means it ended (expired or revoked): say so.
fn explain_refusal(e: anyhow::Error, credential: &Credential) -> anyhow::Error {
    let unauthorized = matches!(e.downcast_ref::<latchkey_client::Error>(), Some(err) if err.status() == Some(401));
    match credential {
        Credential::Session(_) if unauthorized => session_expired(),
        Credential::ApiKey if unauthorized => {
            CliError::Refused("the key in LATCHKEY_API_KEY was refused (unauthorized)".to_owned()).into()
        }
        _ => e,
    }
}

/// Prints `e` for a person and picks the exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    if let Some(err) = e.downcast_ref::<latchkey_client::Error>() {
        return match err {
            latchkey_client::Error::Api { code, message, connect_url, .. } => {
                eprintln!("error: {} ({})", output::clean(message), output::clean(code));
                if let Some(url) = connect_url {
                    eprintln!("  connect at: {}", output::clean(url));
                }
                ExitCode::from(1)
            }
            latchkey_client::Error::Unreachable { url, reason } => {
                eprintln!("error: cannot reach latchkey at {url} — is `latchkey serve` running?");
                eprintln!("  ({reason})");
                ExitCode::from(3)
            }
            latchkey_client::Error::Protocol { url, status, detail } => {
                eprintln!("error: {url} did not answer like a latchkey server (HTTP {status}): {detail}");
                ExitCode::from(3)
            }
            latchkey_client::Error::InvalidUrl(_) => {
                eprintln!("error: {err}");
                ExitCode::from(2)
            }
        };
    }
    match e.downcast_ref::<CliError>() {
        Some(CliError::Usage(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Some(CliError::Refused(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
        Some(CliError::Interrupted(m)) => {
            eprintln!("{m}");
            ExitCode::from(130)
        }
        None => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
