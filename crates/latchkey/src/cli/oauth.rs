//! `latchkey oauth …`: connected apps. Connecting prints the latchkey page
//! to open in a browser signed in as the same person (and opens one when it
//! can), then polls the request about once a second until it completes,
//! fails or expires; Ctrl-C stops waiting (the request then expires on its
//! own). An organization's own client credentials are set from a file or
//! standard input, never from the command line.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use latchkey_client::OAuthConnectionQuery;
use latchkey_client::types::oauth::{
    ConnectState, ConnectionState, OAuthConnectionView, OAuthProviderView, PutOAuthClient, StartConnect,
};
use latchkey_client::types::secrets::OwnerScope;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use super::output::{Output, ago, cell, clean};
use super::sign_in::open_browser;
use super::{CliError, Ctx};

/// How often a waiting `connect` asks whether the request completed.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// How long `connect` waits when the server's `expiresAt` cannot be read
/// (the server's requests live 10 minutes).
const FALLBACK_WAIT: Duration = Duration::from_secs(10 * 60);

/// Polls in a row that may fail to reach the server (or get a 5xx) before
/// `connect` gives up waiting.
const POLL_FAILURES: u32 = 10;

/// `latchkey oauth …`
#[derive(Debug, Subcommand)]
pub enum OAuthCommand {
    /// Connect an account at a provider: prints the page to open in a
    /// browser where you are signed in to latchkey (and opens one), then
    /// waits until the provider sends you back.
    Connect {
        /// The provider's id (`github`; see `latchkey oauth providers`).
        provider: String,
        /// A scope to ask for (repeatable, or comma-separated; default: the
        /// provider's default scopes).
        #[arg(long = "scope", visible_alias = "scopes", value_delimiter = ',')]
        scopes: Vec<String>,
        /// The organization's shared connection, which every member's tools
        /// may use (admins).
        #[arg(long)]
        shared: bool,
        /// Print the page's URL instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Your connected apps and the organization's shared ones.
    Status {
        /// Only connections to this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Every member's connections too (admins).
        #[arg(long)]
        all_org: bool,
    },
    /// Make one of your connections to a provider your default for it.
    SetDefault {
        /// The provider's id.
        provider: String,
        /// The connection's account label (or account id); needed when you
        /// have several connections to the provider.
        #[arg(long, value_name = "LABEL")]
        account: Option<String>,
        /// Among the organization's shared connections instead of yours
        /// (admins).
        #[arg(long)]
        shared: bool,
    },
    /// Disconnect an app (revoking the grant at the provider when it can).
    Disconnect {
        /// `ocn_…` (see `latchkey oauth status`).
        id: String,
    },
    /// The providers that can be connected.
    Providers,
    /// Set the organization's own client credentials at a provider (admins);
    /// they take precedence over the operator's.
    SetClient {
        /// The provider's id.
        provider: String,
        /// The client id registered at the provider.
        #[arg(long)]
        client_id: String,
        /// Read the client secret from this file (one trailing newline is
        /// dropped); without it or `--client-secret-stdin`, a public client.
        #[arg(long, value_name = "FILE", conflicts_with = "client_secret_stdin")]
        client_secret_file: Option<PathBuf>,
        /// Read the client secret from standard input.
        #[arg(long)]
        client_secret_stdin: bool,
    },
    /// Remove the organization's own client credentials at a provider
    /// (admins); connects use the operator's again, if any.
    RemoveClient {
        /// The provider's id.
        provider: String,
    },
}

/// `latchkey oauth …`
pub async fn oauth(ctx: &Ctx, cmd: OAuthCommand) -> anyhow::Result<()> {
    let (c, out) = (&ctx.client, &ctx.out);
    match cmd {
        OAuthCommand::Connect { provider, scopes, shared, no_browser } => {
            connect(ctx, provider, scopes, shared, !no_browser).await
        }
        OAuthCommand::Status { provider, all_org } => {
            let list = c.oauth_connections(&OAuthConnectionQuery { provider, all_org }).await?;
            if out.json {
                return out.print_json(&list);
            }
            if list.is_empty() {
                println!("No connected apps.");
                return Ok(());
            }
            let me = my_user_id(ctx).await?;
            let mut t = out.table(&["id", "provider", "account", "default", "owner", "scopes", "status", "expires"]);
            for conn in &list {
                t.add_row(vec![
                    cell(&conn.id),
                    cell(&conn.provider),
                    cell(&conn.account_label),
                    cell(if conn.is_default { "✓" } else { "" }),
                    cell(&owner_word(conn, me.as_deref())),
                    cell(&conn.granted_scopes.join(" ")),
                    out.status_cell(state_word(conn.status)),
                    cell(&ago(conn.expires_at.as_deref())),
                ]);
            }
            out.print_table(&t);
            Ok(())
        }
        OAuthCommand::SetDefault { provider, account, shared } => {
            let chosen = pick_connection(ctx, &provider, account.as_deref(), shared).await?;
            let conn = c.set_default_oauth_connection(&chosen).await?;
            if out.json {
                return out.print_json(&conn);
            }
            let whose = if conn.owner == OwnerScope::Org { "the organization's" } else { "your" };
            println!(
                "{} account {} ({}) is now {whose} default for {}.",
                clean(&conn.provider),
                clean(&conn.account_label),
                conn.id,
                clean(&conn.provider)
            );
            Ok(())
        }
        OAuthCommand::Disconnect { id } => {
            c.delete_oauth_connection(&id).await?;
            if out.json {
                return out.print_json(&json!({"deleted": id}));
            }
            println!("Disconnected {id}.");
            Ok(())
        }
        OAuthCommand::Providers => {
            let providers = c.oauth_providers().await?;
            if out.json {
                return out.print_json(&providers);
            }
            if providers.is_empty() {
                println!("No providers: the operator lists them in latchkey.toml ([[oauth.providers]]).");
                return Ok(());
            }
            let mut t = out.table(&["id", "name", "configured", "default scopes", "org client"]);
            for p in &providers {
                t.add_row(vec![
                    cell(&p.id),
                    cell(&p.display_name),
                    cell(if p.configured { "yes" } else { "no" }),
                    cell(&p.default_scopes.join(" ")),
                    cell(&org_client_word(p)),
                ]);
            }
            out.print_table(&t);
            Ok(())
        }
        OAuthCommand::SetClient { provider, client_id, client_secret_file, client_secret_stdin } => {
            let client_secret = client_secret(client_secret_file, client_secret_stdin)?;
            let mut body = PutOAuthClient { client_id, client_secret: client_secret.as_ref().map(|s| s.to_string()) };
            let sent = c.put_oauth_client(&provider, &body).await;
            // The request's copy of the secret is wiped like the one read.
            drop(body.client_secret.take().map(Zeroizing::new));
            let p = sent?;
            if out.json {
                return out.print_json(&p);
            }
            println!(
                "{} now uses this organization's client credentials: {}.",
                clean(&p.display_name),
                org_client_word(&p)
            );
            Ok(())
        }
        OAuthCommand::RemoveClient { provider } => {
            c.delete_oauth_client(&provider).await?;
            if out.json {
                return out.print_json(&json!({"removed": provider}));
            }
            println!("Removed this organization's client credentials for {}.", clean(&provider));
            Ok(())
        }
    }
}

/// `latchkey oauth connect`: start, print (and open) the page, wait.
async fn connect(ctx: &Ctx, provider: String, scopes: Vec<String>, shared: bool, open: bool) -> anyhow::Result<()> {
    let (c, out) = (&ctx.client, &ctx.out);
    let scopes: Vec<String> = scopes.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    let body = StartConnect {
        provider: provider.clone(),
        scopes: (!scopes.is_empty()).then_some(scopes),
        shared: shared.then_some(true),
    };
    let started = c.start_oauth_connect(&body).await?;
    eprintln!("Open this URL to connect {}: {}", clean(&provider), clean(&started.authorize_url));
    eprintln!("(in a browser where you are signed in to latchkey as yourself)");
    if open {
        open_browser(&started.authorize_url);
    }
    let wait = wait_until(&started.expires_at);
    // Listening for Ctrl-C from before the line that says it stops the wait.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot listen for Ctrl-C")?;
    eprintln!("Waiting for the connection (up to {} minutes; Ctrl-C stops waiting)…", wait.as_secs().div_ceil(60));
    let outcome = tokio::select! {
        outcome = poll(ctx, &started.id, wait) => outcome?,
        _ = interrupt.recv() => {
            return Err(CliError::Interrupted(format!(
                "stopped waiting; the connect request {} expires on its own {}",
                started.id,
                ago(Some(&started.expires_at))
            ))
            .into());
        }
    };
    let connection_id = match outcome {
        Waited::Completed(id) => id,
        Waited::Failed(error) => {
            return Err(CliError::Refused(format!("connecting {} failed: {}", clean(&provider), clean(&error))).into());
        }
        Waited::Expired => {
            return Err(CliError::Refused(format!(
                "nobody finished connecting in time; run `latchkey oauth connect {}` again",
                clean(&provider)
            ))
            .into());
        }
    };
    let query = OAuthConnectionQuery { provider: Some(provider.clone()), all_org: false };
    let conn = c.oauth_connections(&query).await?.into_iter().find(|conn| conn.id == connection_id);
    let Some(conn) = conn else {
        // Completed, then gone (disconnected meanwhile): say what is known.
        if out.json {
            return out.print_json(&json!({"id": connection_id, "provider": provider}));
        }
        println!("Connected {} ({connection_id}).", clean(&provider));
        return Ok(());
    };
    if out.json {
        return out.print_json(&conn);
    }
    print_connected(out, &conn);
    Ok(())
}

/// How a wait for a connect request ended.
enum Waited {
    /// The connection's id.
    Completed(String),
    /// Why it failed.
    Failed(String),
    /// Nobody finished it in time.
    Expired,
}

/// Polls connect request `id` about once a second for at most `wait`.
/// A few failed polls in a row (the server restarting) are waited past.
async fn poll(ctx: &Ctx, id: &str, wait: Duration) -> anyhow::Result<Waited> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut failures = 0;
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        match ctx.client.oauth_connect_request(id).await {
            Ok(req) => {
                failures = 0;
                match req.status {
                    ConnectState::Pending => {}
                    ConnectState::Completed => {
                        let connection = req.connection_id.context("the server said completed without a connection")?;
                        return Ok(Waited::Completed(connection));
                    }
                    ConnectState::Failed => {
                        return Ok(Waited::Failed(req.error.unwrap_or_else(|| "no reason given".to_owned())));
                    }
                    ConnectState::Expired => return Ok(Waited::Expired),
                }
            }
            Err(e) if transient(&e) && failures + 1 < POLL_FAILURES => failures += 1,
            Err(e) => return Err(e.into()),
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Waited::Expired);
        }
    }
}

/// A failed poll that may work next time: no answer, or the server's 5xx.
fn transient(e: &latchkey_client::Error) -> bool {
    matches!(e, latchkey_client::Error::Unreachable { .. }) || e.status().is_some_and(|s| s >= 500)
}

/// How long until `expires_at` (plus a poll, so the server's own `expired`
/// is what ends the wait), or [`FALLBACK_WAIT`] when it cannot be read.
fn wait_until(expires_at: &str) -> Duration {
    match OffsetDateTime::parse(expires_at, &Rfc3339) {
        Ok(t) => {
            let left = (t - OffsetDateTime::now_utc()).whole_milliseconds().clamp(0, FALLBACK_WAIT.as_millis() as i128);
            Duration::from_millis(left as u64) + POLL_EVERY
        }
        Err(_) => FALLBACK_WAIT,
    }
}

fn print_connected(out: &Output, conn: &OAuthConnectionView) {
    let shared = conn.owner == OwnerScope::Org;
    println!(
        "Connected {} account {} ({}{}).",
        clean(&conn.provider),
        out.bold(&clean(&conn.account_label)),
        conn.id,
        if shared { ", shared with the organization" } else { "" }
    );
    let whose = if shared { "the organization's" } else { "your" };
    if conn.is_default {
        println!("It is {whose} default for {}.", clean(&conn.provider));
    } else {
        println!(
            "It is not {whose} default for {}; make it so with `latchkey oauth set-default {} --account {}`.",
            clean(&conn.provider),
            clean(&conn.provider),
            clean(&conn.account_label)
        );
    }
    if conn.granted_scopes != conn.requested_scopes {
        println!(
            "Granted scopes: {} (asked for: {}).",
            clean(&conn.granted_scopes.join(" ")),
            clean(&conn.requested_scopes.join(" "))
        );
    }
}

/// The id of the connection `set-default` means: the caller's (or, with
/// `shared`, the organization's) connection to `provider` whose account
/// label (or id) is `account`; without `account`, the only one.
async fn pick_connection(ctx: &Ctx, provider: &str, account: Option<&str>, shared: bool) -> anyhow::Result<String> {
    let c = &ctx.client;
    let me = my_user_id(ctx).await?;
    let query = OAuthConnectionQuery { provider: Some(provider.to_owned()), all_org: false };
    let mine: Vec<OAuthConnectionView> = c
        .oauth_connections(&query)
        .await?
        .into_iter()
        .filter(|conn| conn.provider == provider)
        .filter(|conn| match conn.owner {
            OwnerScope::Org => shared,
            OwnerScope::User => !shared && conn.owner_user_id.is_some() && conn.owner_user_id == me,
        })
        .collect();
    let whose = if shared { "the organization has" } else { "you have" };
    if mine.is_empty() {
        let flag = if shared { " --shared" } else { "" };
        return Err(CliError::Refused(format!(
            "{whose} no connection to {}; connect one with `latchkey oauth connect {}{flag}`",
            clean(provider),
            clean(provider)
        ))
        .into());
    }
    let labels = |list: &[&OAuthConnectionView]| {
        list.iter().map(|conn| format!("{} ({})", clean(&conn.account_label), conn.id)).collect::<Vec<_>>().join(", ")
    };
    let candidates: Vec<&OAuthConnectionView> = match account {
        None => mine.iter().collect(),
        Some(wanted) => {
            let exact: Vec<_> = mine.iter().filter(|c| c.account_label == wanted || c.account_id == wanted).collect();
            let found = if exact.is_empty() {
                mine.iter().filter(|c| c.account_label.eq_ignore_ascii_case(wanted)).collect()
            } else {
                exact
            };
            if found.is_empty() {
                let all: Vec<_> = mine.iter().collect();
                return Err(CliError::Refused(format!(
                    "{whose} no {} connection with the account {}; there are: {}",
                    clean(provider),
                    clean(wanted),
                    labels(&all)
                ))
                .into());
            }
            found
        }
    };
    match candidates.as_slice() {
        [only] => Ok(only.id.clone()),
        several => Err(CliError::Usage(format!(
            "{whose} several {} connections; pick one with --account LABEL: {}",
            clean(provider),
            labels(several)
        ))
        .into()),
    }
}

/// The caller's user id (`None` for an organization's key).
pub(super) async fn my_user_id(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    Ok(ctx.client.me().await?.user.map(|u| u.id))
}

/// `me`, `org`, or the owner's user id.
fn owner_word(conn: &OAuthConnectionView, me: Option<&str>) -> String {
    match (conn.owner, conn.owner_user_id.as_deref()) {
        (OwnerScope::Org, _) | (OwnerScope::User, None) => "org".to_owned(),
        (OwnerScope::User, Some(owner)) if Some(owner) == me => "me".to_owned(),
        (OwnerScope::User, Some(owner)) => owner.to_owned(),
    }
}

fn state_word(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Active => "active",
        ConnectionState::NeedsReauthorization => "needs_reauthorization",
        ConnectionState::Revoked => "revoked",
    }
}

/// `CLIENT_ID (with a secret)`, `CLIENT_ID (public client)` or `-`.
fn org_client_word(p: &OAuthProviderView) -> String {
    match &p.org_client {
        None => "-".to_owned(),
        Some(oc) if oc.has_client_secret => format!("{} (with a secret)", clean(&oc.client_id)),
        Some(oc) => format!("{} (public client)", clean(&oc.client_id)),
    }
}

/// The client secret of `set-client`, from a file or standard input (one
/// trailing newline dropped); `None` for a public client.
fn client_secret(file: Option<PathBuf>, stdin: bool) -> anyhow::Result<Option<Zeroizing<String>>> {
    let mut raw = Zeroizing::new(String::new());
    match (file, stdin) {
        (Some(path), _) => {
            std::fs::File::open(&path)
                .and_then(|mut f| f.read_to_string(&mut raw))
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        }
        (None, true) => {
            std::io::stdin().read_to_string(&mut raw).context("cannot read the client secret from standard input")?;
        }
        (None, false) => return Ok(None),
    }
    let trimmed = raw.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&raw);
    if trimmed.is_empty() {
        return Err(CliError::Usage("the client secret is empty".to_owned()).into());
    }
    Ok(Some(Zeroizing::new(trimmed.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(owner: OwnerScope, owner_user_id: Option<&str>) -> OAuthConnectionView {
        OAuthConnectionView {
            id: "ocn_1".into(),
            provider: "github".into(),
            account_id: "1".into(),
            account_label: "octo".into(),
            owner,
            owner_user_id: owner_user_id.map(Into::into),
            is_default: true,
            requested_scopes: vec![],
            granted_scopes: vec![],
            status: ConnectionState::Active,
            expires_at: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn owners_read_me_org_or_the_member() {
        assert_eq!(owner_word(&view(OwnerScope::User, Some("usr_a")), Some("usr_a")), "me");
        assert_eq!(owner_word(&view(OwnerScope::User, Some("usr_b")), Some("usr_a")), "usr_b");
        assert_eq!(owner_word(&view(OwnerScope::User, Some("usr_b")), None), "usr_b");
        assert_eq!(owner_word(&view(OwnerScope::Org, None), Some("usr_a")), "org");
    }

    #[test]
    fn the_wait_is_bounded_by_the_request_s_expiry() {
        let at = |secs: i64| (OffsetDateTime::now_utc() + time::Duration::seconds(secs)).format(&Rfc3339).unwrap();
        let w = wait_until(&at(120));
        assert!(w > Duration::from_secs(119) && w <= Duration::from_secs(121), "{w:?}");
        assert_eq!(wait_until(&at(-30)), POLL_EVERY, "already expired: one last poll");
        assert_eq!(wait_until(&at(86_400)), FALLBACK_WAIT + POLL_EVERY, "never longer than a request lives");
        assert_eq!(wait_until("soon"), FALLBACK_WAIT);
    }
}
