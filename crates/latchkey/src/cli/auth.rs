//! `latchkey login`, `logout`, `auth status` and `auth keys …`. The
//! browser and device sign-ins are in `sign_in.rs`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::{Args, Subcommand};
use latchkey_client::types::{
    ApiKeyView, CreateApiKey, CreateApiKeys, KeyOwner, Login, RotateApiKey, SessionGrant, UNTIL_UNUSED,
};
use latchkey_client::{Client, KeyListQuery};
use serde_json::json;

use super::credentials::{self, StoredLogin};
use super::output::{Output, ago, cell, clean, print_fields};
use super::sign_in;
use super::{CliError, Credential, Ctx, Global};

/// `latchkey login`
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Your email (asked for when absent).
    #[arg(long, conflicts_with_all = ["sso", "browser", "device"])]
    email: Option<String>,
    /// Read the password from the first line of standard input instead of
    /// asking for it at a hidden prompt (for scripts).
    #[arg(long, conflicts_with_all = ["sso", "browser", "device"])]
    password_stdin: bool,
    /// Sign in in a browser through the identity provider ID (without ID:
    /// the server's only provider). With --device, the verification page
    /// leads through it.
    #[arg(long, value_name = "ID", num_args = 0..=1, default_missing_value = "")]
    sso: Option<String>,
    /// Sign in in a browser, with whatever sign-in the dashboard offers.
    #[arg(long, conflicts_with = "device")]
    browser: bool,
    /// Sign in by approving a code on another device (for machines without
    /// a browser).
    #[arg(long)]
    device: bool,
    /// Print the browser sign-in's URL instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
}

/// How `latchkey login` signs in.
enum Method {
    /// Email and password.
    Password,
    /// In a browser, through this provider if any.
    Browser(Option<String>),
    /// On another device, through this provider if any.
    Device(Option<String>),
}

/// The identity provider `--sso` names, or the server's only one (`--sso`
/// alone); `None` without `--sso`.
async fn sso_provider(client: &Client, sso: Option<&str>) -> anyhow::Result<Option<String>> {
    match sso {
        None => Ok(None),
        Some(id) if !id.is_empty() => Ok(Some(id.to_owned())),
        Some(_) => match client.oidc_providers().await?.as_slice() {
            [] => {
                Err(CliError::Usage("this server offers no single sign-on provider; log in with --email".into()).into())
            }
            [only] => Ok(Some(only.id.clone())),
            several => Err(several_providers(several)),
        },
    }
}

fn several_providers(list: &[latchkey_client::Provider]) -> anyhow::Error {
    let names: Vec<String> = list.iter().map(|p| format!("{} ({})", p.id, clean(&p.display_name))).collect();
    CliError::Usage(format!(
        "this server offers several sign-on providers; pick one with --sso ID: {}",
        names.join(", ")
    ))
    .into()
}

/// What `args` ask for; without a method, on a terminal, the browser when
/// the server offers a single provider (and a usage error naming them when
/// it offers several), else the password.
async fn method(client: &Client, args: &LoginArgs) -> anyhow::Result<Method> {
    let provider = sso_provider(client, args.sso.as_deref()).await?;
    if args.device {
        return Ok(Method::Device(provider));
    }
    if args.browser || provider.is_some() {
        return Ok(Method::Browser(provider));
    }
    if args.email.is_some() || args.password_stdin || !std::io::stdin().is_terminal() {
        return Ok(Method::Password);
    }
    match client.oidc_providers().await?.as_slice() {
        [] => Ok(Method::Password),
        [only] => Ok(Method::Browser(Some(only.id.clone()))),
        several => Err(several_providers(several)),
    }
}

/// `latchkey auth …`
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Who you are, in which organization, on which server, until when.
    Status,
    /// Your API keys: list, create, get, rotate, revoke, delete, explain,
    /// usage, import, export.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `latchkey auth keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Your keys (`--all-org`: every key of the organization, admins).
    List {
        /// Every key of the organization, not only yours.
        #[arg(long)]
        all_org: bool,
        /// Only keys of this project.
        #[arg(long, value_name = "PROJECT_ID")]
        project: Option<String>,
    },
    /// Create a key; its plaintext is printed once.
    Create(CreateArgs),
    /// One key (never its plaintext).
    Get {
        /// `key_…`
        id: String,
    },
    /// Replace a key by a new one with the same grants (printed once).
    Rotate {
        /// `key_…`
        id: String,
        /// Name of the new key (default: the old one's).
        #[arg(long)]
        name: Option<String>,
        /// How long the old key keeps working: `1h` (at most `30d`), or
        /// `until-unused` (until it goes unused for `--quiet-for`, at most
        /// `--max-grace`); default: it stops now.
        #[arg(long, value_name = "DURATION|until-unused")]
        grace: Option<String>,
        /// With `--grace until-unused`: how long without a use ends the
        /// wait (default `1h`).
        #[arg(long, value_name = "DURATION")]
        quiet_for: Option<String>,
        /// With `--grace until-unused`: the longest the old key keeps
        /// working, used or not (default `7d`, at most `30d`).
        #[arg(long, value_name = "DURATION")]
        max_grace: Option<String>,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        /// `key_…`
        id: String,
    },
    /// Delete a key for good.
    Delete {
        /// `key_…`
        id: String,
    },
    /// What a key can do and why: each permission, its limits' windows,
    /// credits, networks, policy compliance; with --scope/--project/--ip
    /// what verify would answer. Nothing is counted or spent.
    Explain {
        /// `key_…`
        id: String,
        /// A scope a request would need; repeat or separate with commas.
        #[arg(long = "scope", visible_alias = "scopes", value_delimiter = ',', value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The project a request would be for.
        #[arg(long, value_name = "PROJECT_ID")]
        project: Option<String>,
        /// The client address a request would come from.
        #[arg(long, value_name = "ADDRESS")]
        ip: Option<String>,
    },
    /// Daily verification counts by outcome.
    Usage {
        /// `key_…`
        id: String,
        /// Days back from today (1–90).
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Import keys of another system by their hash (admins), all or none.
    Import(super::key_import::ImportArgs),
    /// Every key's metadata and hash as JSON lines (admins; never a plaintext).
    Export(super::key_import::ExportArgs),
}

/// `latchkey auth keys create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Display name.
    name: String,
    /// Scopes, comma-separated and/or repeated (`--scopes "sandbox:*,agent:run"`,
    /// `--scope sandbox:create`); default `*`.
    #[arg(long = "scopes", visible_alias = "scope", value_delimiter = ',', value_name = "SCOPES")]
    scopes: Vec<String>,
    /// Lifetime: `30d`, `90d`, `1y`, `12h` (default: no expiry).
    #[arg(long, value_name = "DURATION")]
    expires_in: Option<String>,
    /// A test key (`…_test_…`).
    #[arg(long)]
    test: bool,
    /// Bind the key to a project.
    #[arg(long, value_name = "PROJECT_ID")]
    project: Option<String>,
    /// Requests per minute.
    #[arg(long, value_name = "N")]
    rate_limit_per_minute: Option<i64>,
    /// Requests per day.
    #[arg(long, value_name = "N")]
    rate_limit_per_day: Option<i64>,
    /// Usage credits: each valid verify spends one.
    #[arg(long, value_name = "N")]
    remaining: Option<i64>,
    /// Owned by the organization (admins): it outlives your membership.
    #[arg(long)]
    org_owned: bool,
    /// A network the key may be used from (CIDR or address); repeat or
    /// separate with commas. Default: the key policy's, if any.
    #[arg(long = "allowed-cidr", value_delimiter = ',', value_name = "CIDR")]
    allowed_cidrs: Vec<String>,
    /// Create N keys alike (each named NAME) in one request, all or none
    /// (`POST /v1/api-keys/batch`); at most 1,000 (more is refused: run it
    /// again). Prints every key (with `--json`, an array).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    count: Option<u16>,
}

/// `latchkey login`: by password, in a browser or on another device; the
/// session is stored the same way whichever.
pub async fn login(global: &Global, args: LoginArgs) -> anyhow::Result<()> {
    let ctx = Ctx::resolve(global)?;
    // Sign in anonymously even when LATCHKEY_API_KEY is set.
    let anonymous = Client::new(ctx.client.base_url())?;
    let grant = match method(&anonymous, &args).await? {
        Method::Password => password_grant(&anonymous, args).await?,
        Method::Browser(provider) => sign_in::browser(&anonymous, provider.as_deref(), !args.no_browser).await?,
        Method::Device(provider) => sign_in::device(&anonymous, provider.as_deref()).await?,
    };
    save_login(&ctx, &anonymous, grant).await
}

/// The password sign-in (`--email`, `--password-stdin` or the prompts).
async fn password_grant(anonymous: &Client, args: LoginArgs) -> anyhow::Result<SessionGrant> {
    let email = match args.email {
        Some(e) => e,
        None if args.password_stdin => {
            return Err(
                CliError::Usage("--password-stdin needs --email (standard input carries the password)".into()).into()
            );
        }
        None => ask_line("Email: ")?,
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password("Password: ").map_err(|_| {
            CliError::Usage(
                "cannot ask for the password without a terminal; pipe it in with --password-stdin".to_owned(),
            )
        })?
    };
    if password.is_empty() {
        return Err(CliError::Usage("the password is empty".to_owned()).into());
    }
    Ok(anonymous.login(&Login { email: email.trim().to_owned(), password }).await?)
}

/// Stores the session `grant` and says who signed in.
async fn save_login(ctx: &Ctx, anonymous: &Client, grant: SessionGrant) -> anyhow::Result<()> {
    let stored = StoredLogin {
        api_url: ctx.client.base_url().to_owned(),
        token: grant.token,
        session_id: grant.session_id,
        expires_at: grant.expires_at,
        user_id: grant.user.id.clone(),
        email: grant.user.email.clone(),
    };
    let path = credentials::save(&stored)?;
    let session = anonymous.clone().with_token(stored.token.clone());
    let me = session.me().await?;
    if ctx.out.json {
        return ctx.out.print_json(&json!({
            "apiUrl": stored.api_url,
            "sessionId": stored.session_id,
            "expiresAt": stored.expires_at,
            "user": grant.user,
            "org": me.org,
            "role": me.role,
        }));
    }
    println!(
        "Logged in to {} as {} ({}, {}).",
        stored.api_url,
        ctx.out.bold(&stored.email),
        clean(&me.org.name),
        me.role.as_deref().unwrap_or("-")
    );
    println!("Session expires {}; saved in {} (mode 0600).", ago(Some(&stored.expires_at)), path.display());
    if matches!(ctx.credential, Credential::ApiKey) {
        eprintln!("note: LATCHKEY_API_KEY is set and takes precedence over this login");
    }
    Ok(())
}

/// Reads one visible line from a terminal (prompt on stderr).
fn ask_line(prompt: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage("--email is required without a terminal".to_owned()).into());
    }
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// `latchkey logout`: revokes the stored session on its server, then
/// forgets it. If the server cannot be reached the login is kept, so the
/// session can still be ended later.
pub async fn logout(global: &Global) -> anyhow::Result<()> {
    let out = Output::new(global.json);
    let Some(stored) = credentials::load()? else {
        if out.json {
            return out.print_json(&json!({"loggedOut": false}));
        }
        println!("Not logged in.");
        return Ok(());
    };
    let client = Client::new(&stored.api_url)?.with_token(stored.token.clone());
    let ended_before = match client.logout().await {
        Ok(()) => false,
        Err(e) if e.status() == Some(401) => true,
        Err(e) => return Err(e.into()),
    };
    credentials::remove()?;
    if out.json {
        return out.print_json(&json!({"loggedOut": true, "apiUrl": stored.api_url, "sessionId": stored.session_id}));
    }
    if ended_before {
        println!("Logged out of {} (the session had already ended).", stored.api_url);
    } else {
        println!("Logged out of {}; the session is revoked.", stored.api_url);
    }
    Ok(())
}

/// `latchkey auth …`
pub async fn run(ctx: &Ctx, cmd: AuthCommand) -> anyhow::Result<()> {
    match cmd {
        AuthCommand::Status => status(ctx).await,
        AuthCommand::Keys(cmd) => keys(ctx, cmd).await,
    }
}

async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let me = ctx.client.me().await?;
    let session = match &ctx.credential {
        Credential::Session(login) => Some(login),
        _ => None,
    };
    if ctx.out.json {
        return ctx.out.print_json(&json!({
            "apiUrl": ctx.client.base_url(),
            "authType": me.auth_type,
            "credentialSource": if session.is_some() { "login" } else { "LATCHKEY_API_KEY" },
            "user": me.user,
            "org": me.org,
            "role": me.role,
            "keyId": me.key_id,
            "scopes": me.scopes,
            "sessionId": session.map(|s| &s.session_id),
            "expiresAt": session.map(|s| &s.expires_at),
        }));
    }
    let mut fields = vec![("Server", ctx.client.base_url().to_owned())];
    if let Some(user) = &me.user {
        fields.push(("User", format!("{} ({})", user.email, user.display_name)));
    }
    fields.push(("Organization", format!("{} ({})", me.org.name, me.org.id)));
    fields.push(("Role", me.role.clone().unwrap_or_else(|| "-".to_owned())));
    match session {
        Some(login) => fields.push((
            "Credential",
            format!(
                "session {} (stored login), expires {} ({})",
                login.session_id,
                ago(Some(&login.expires_at)),
                login.expires_at
            ),
        )),
        None => {
            fields.push(("Credential", format!("API key {} (LATCHKEY_API_KEY)", me.key_id.as_deref().unwrap_or("-"))));
        }
    }
    fields.push(("Scopes", me.scopes.join(", ")));
    print_fields(&fields);
    Ok(())
}

async fn keys(ctx: &Ctx, cmd: KeysCommand) -> anyhow::Result<()> {
    let c = &ctx.client;
    let out = &ctx.out;
    match cmd {
        KeysCommand::List { all_org, project } => {
            let keys = c
                .all(|page| {
                    let q = KeyListQuery { all_org, project_id: project.clone(), page };
                    async move { c.keys(&q).await }
                })
                .await?;
            if out.json {
                return out.print_json(&keys);
            }
            if keys.is_empty() {
                println!("No API keys.");
                return Ok(());
            }
            let mut t = out.table(&["id", "name", "key", "scopes", "env", "status", "last used", "expires", "created"]);
            for k in &keys {
                t.add_row(vec![
                    cell(&k.id),
                    cell(&k.name),
                    cell(&format!("{}…{}", k.key_prefix, k.key_hint)),
                    cell(&k.scopes.join(",")),
                    cell(&k.environment),
                    out.status_cell(&k.status),
                    cell(&ago(k.last_used_at.as_deref())),
                    cell(&k.expires_at.as_deref().map_or_else(|| "never".to_owned(), |e| ago(Some(e)))),
                    cell(&ago(Some(&k.created_at))),
                ]);
            }
            out.print_table(&t);
            Ok(())
        }
        KeysCommand::Create(a) => {
            let count = a.count;
            let body = CreateApiKey {
                name: a.name,
                scopes: a.scopes.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
                expires_in: a.expires_in,
                expires_at: None,
                is_test: a.test,
                project_id: a.project,
                rate_limit_per_minute: a.rate_limit_per_minute,
                rate_limit_per_day: a.rate_limit_per_day,
                remaining: a.remaining,
                refill: None,
                owner: if a.org_owned { KeyOwner::Org } else { KeyOwner::User },
                allowed_cidrs: (!a.allowed_cidrs.is_empty()).then_some(a.allowed_cidrs),
            };
            match count {
                None => shown_once(out, "Created", &c.create_key(&body).await?),
                Some(n) => {
                    let keys: Vec<CreateApiKey> = vec![body; usize::from(n)];
                    shown_once_all(out, &c.create_keys(&CreateApiKeys { keys }).await?)
                }
            }
        }
        KeysCommand::Get { id } => {
            let k = c.key(&id).await?;
            if out.json {
                return out.print_json(&k);
            }
            print_key(&k);
            Ok(())
        }
        KeysCommand::Rotate { id, name, grace, quiet_for, max_grace } => {
            let body = RotateApiKey { name, grace_period: grace.clone(), max_grace, quiet_for };
            let key = c.rotate_key(&id, &body).await?;
            shown_once(out, "Rotated", &key)?;
            if !out.json {
                match grace.as_deref() {
                    Some(UNTIL_UNUSED) => {
                        let old = c.key(&id).await?;
                        match &old.until_unused {
                            Some(wait) => println!(
                                "The old key {id} keeps working until it has gone unused for {}, at the latest until \
                                 {}.",
                                wait.quiet_for, wait.max_grace_ends_at
                            ),
                            None => println!("The old key {id} keeps working until it goes unused."),
                        }
                    }
                    Some(g) => println!("The old key {id} keeps working for {g}."),
                    None => println!("The old key {id} is revoked."),
                }
            }
            Ok(())
        }
        KeysCommand::Revoke { id } => {
            let k = c.revoke_key(&id).await?;
            if out.json {
                return out.print_json(&k);
            }
            println!("Revoked {} ({}): it stops working at once.", k.id, clean(&k.name));
            Ok(())
        }
        KeysCommand::Delete { id } => {
            c.delete_key(&id).await?;
            if out.json {
                return out.print_json(&json!({"deleted": id}));
            }
            println!("Deleted {id}.");
            Ok(())
        }
        KeysCommand::Explain { id, scopes, project, ip } => {
            super::explain::run(ctx, super::explain::Asked { id, scopes, project, ip }).await
        }
        KeysCommand::Usage { id, days } => {
            let usage = c.key_usage(&id, Some(days)).await?;
            if out.json {
                return out.print_json(&usage);
            }
            if usage.is_empty() {
                println!("No verifications in the last {days} days.");
                return Ok(());
            }
            let mut t = out.table(&["date", "total", "by outcome"]);
            for d in &usage {
                let by: Vec<String> = d.counts.iter().map(|(code, n)| format!("{code} {n}")).collect();
                t.add_row(vec![cell(&d.date), cell(&d.total), cell(&by.join(", "))]);
            }
            out.print_table(&t);
            Ok(())
        }
        KeysCommand::Import(args) => super::key_import::import(ctx, args).await,
        KeysCommand::Export(args) => super::key_import::export(ctx, args).await,
    }
}

/// Prints a new key with its plaintext, marked as shown once.
fn shown_once(out: &Output, verb: &str, key: &ApiKeyView) -> anyhow::Result<()> {
    if out.json {
        return out.print_json(key);
    }
    let plain = key.key.as_deref().unwrap_or_default();
    println!("{verb} API key {} ({})", key.id, clean(&key.name));
    print_fields(&[
        ("  scopes", key.scopes.join(", ")),
        ("  environment", key.environment.clone()),
        (
            "  expires",
            key.expires_at.as_deref().map_or_else(|| "never".to_owned(), |e| format!("{e} ({})", ago(Some(e)))),
        ),
    ]);
    println!();
    println!("    {}", out.bold(plain));
    println!();
    println!("{}", out.warn("This key is shown once: store it securely now; it cannot be shown again."));
    Ok(())
}

/// Keys just created together, their plaintexts shown once: a JSON array,
/// or a table of ids and keys.
fn shown_once_all(out: &Output, keys: &[ApiKeyView]) -> anyhow::Result<()> {
    if out.json {
        return out.print_json(&keys);
    }
    println!("Created {} API keys", keys.len());
    let mut t = out.table(&["id", "name", "key"]);
    for k in keys {
        t.add_row(vec![cell(&k.id), cell(&k.name), cell(k.key.as_deref().unwrap_or_default())]);
    }
    out.print_table(&t);
    println!("{}", out.warn("These keys are shown once: store them securely now; they cannot be shown again."));
    Ok(())
}

fn print_key(k: &ApiKeyView) {
    let opt = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let num = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    print_fields(&[
        ("ID", k.id.clone()),
        ("Name", k.name.clone()),
        ("Key", format!("{}…{}", k.key_prefix, k.key_hint)),
        ("Status", k.status.clone()),
        ("Scopes", k.scopes.join(", ")),
        ("Environment", k.environment.clone()),
        ("Project", opt(k.project_id.as_deref())),
        ("Owner", format!("{} {}", owner_word(k.owner), opt(k.owner_email.as_deref()))),
        ("Created", format!("{} ({})", k.created_at, ago(Some(&k.created_at)))),
        ("Expires", k.expires_at.as_deref().map_or_else(|| "never".to_owned(), |e| format!("{e} ({})", ago(Some(e))))),
        ("Last used", ago(k.last_used_at.as_deref())),
        ("Revoked", opt(k.revoked_at.as_deref())),
        ("Rate limit", format!("{}/min, {}/day", num(k.rate_limit_per_minute), num(k.rate_limit_per_day))),
        ("Credits left", num(k.remaining)),
        ("Rotated from", opt(k.rotated_from.as_deref())),
        ("Rotated to", opt(k.rotated_to.as_deref())),
    ]);
    if let Some(wait) = &k.until_unused {
        let state = match &wait.ended_at {
            Some(at) => format!("ended {at}"),
            None => format!("revoked once unused for {}, at the latest {}", wait.quiet_for, wait.max_grace_ends_at),
        };
        print_fields(&[
            ("Until unused", state),
            ("Used since rotation", ago(k.last_used_since_rotation_at.as_deref())),
        ]);
    }
}

fn owner_word(owner: KeyOwner) -> &'static str {
    match owner {
        KeyOwner::User => "user",
        KeyOwner::Org => "org",
    }
}
