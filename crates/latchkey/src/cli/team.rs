//! `latchkey org|project|member …`, `audit` and `verify`.

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use latchkey_client::types::{AuditEventView, CreateInvitation, CreateOrg, CreateProject, RefView, VerifyKey};
use latchkey_client::{AuditQuery, PageRequest};
use serde_json::json;

use super::output::{Output, ago, cell, clean, print_fields};
use super::{CliError, Credential, Ctx};

/// `latchkey org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Your organizations (`*` marks the current one).
    List,
    /// Create an organization; you become its admin.
    Create {
        /// Display name.
        name: String,
        /// URL-safe name (derived from the name when absent).
        #[arg(long)]
        slug: Option<String>,
    },
    /// Make another organization the current one of this login.
    Switch {
        /// Its id, slug or name.
        #[arg(value_name = "ORG")]
        target: String,
    },
}

/// `latchkey project …`
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// The organization's projects.
    List,
    /// Create a project.
    Create {
        /// Display name.
        name: String,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a project.
    Delete {
        /// `prj_…`
        id: String,
    },
}

/// `latchkey member …`
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Members and their roles.
    List,
    /// Invite someone by email (admins); prints the one-time invitation token.
    Invite {
        /// Their email.
        email: String,
        /// `member` or `admin`.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Accept an invitation (with the invited person's login).
    Accept {
        /// The `lki_…` token from the invitation.
        token: String,
    },
    /// Change a member's role (admins).
    Role {
        /// Their email or user id.
        user: String,
        /// `member` or `admin`.
        role: String,
    },
    /// Remove a member (admins), or leave with your own email.
    Remove {
        /// Their email or user id.
        user: String,
    },
}

/// `latchkey audit`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Keep printing new events as they happen (Ctrl-C stops).
    #[arg(long, short)]
    follow: bool,
    /// Only this action (`api_key.create`, …).
    #[arg(long)]
    action: Option<String>,
    /// How many recent events to show first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: u32,
    /// Seconds between polls with `--follow`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
}

/// `latchkey verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The key, or `-` to read it from standard input (keeps it out of the
    /// shell history and the process list).
    key: String,
    /// A scope the key must hold (repeatable, or comma-separated).
    #[arg(long = "scope", visible_alias = "scopes", value_delimiter = ',')]
    scopes: Vec<String>,
    /// The project the request is for.
    #[arg(long, value_name = "PROJECT_ID")]
    project: Option<String>,
    /// The client address the key is used from (checked against its networks).
    #[arg(long)]
    ip: Option<String>,
}

/// `latchkey org …`
pub async fn org(ctx: &Ctx, cmd: OrgCommand) -> anyhow::Result<()> {
    let (c, out) = (&ctx.client, &ctx.out);
    match cmd {
        OrgCommand::List => {
            let orgs = c.all(|page| async move { c.orgs(&page).await }).await?;
            if out.json {
                return out.print_json(&orgs);
            }
            let current = c.me().await?.org.id;
            let mut t = out.table(&["", "id", "name", "slug", "role", "created"]);
            for o in &orgs {
                t.add_row(vec![
                    cell(&if o.id == current { "*" } else { "" }),
                    cell(&o.id),
                    cell(&o.name),
                    cell(&o.slug),
                    out.status_cell(o.role.as_deref().unwrap_or("-")),
                    cell(&ago(o.created_at.as_deref())),
                ]);
            }
            out.print_table(&t);
            Ok(())
        }
        OrgCommand::Create { name, slug } => {
            let o = c.create_org(&CreateOrg { name, slug }).await?;
            if out.json {
                return out.print_json(&o);
            }
            println!("Created organization {} ({}, slug {}); you are its admin.", clean(&o.name), o.id, o.slug);
            println!("Switch to it with `latchkey org switch {}`.", o.slug);
            Ok(())
        }
        OrgCommand::Switch { target: org } => {
            if !matches!(ctx.credential, Credential::Session(_)) {
                return Err(CliError::Usage(
                    "`org switch` changes the organization of a login session; an API key belongs to one organization"
                        .to_owned(),
                )
                .into());
            }
            let orgs = c.all(|page| async move { c.orgs(&page).await }).await?;
            let found = orgs
                .iter()
                .find(|o| o.id == org)
                .or_else(|| orgs.iter().find(|o| o.slug == org))
                .or_else(|| orgs.iter().find(|o| o.name == org))
                .ok_or_else(|| CliError::Refused(format!("you are not a member of an organization `{org}`")))?;
            let o = c.switch_org(&found.id).await?;
            if out.json {
                return out.print_json(&o);
            }
            println!("Now acting in {} ({}) as {}.", clean(&o.name), o.id, o.role.as_deref().unwrap_or("-"));
            Ok(())
        }
    }
}

/// `latchkey project …`
pub async fn project(ctx: &Ctx, cmd: ProjectCommand) -> anyhow::Result<()> {
    let (c, out) = (&ctx.client, &ctx.out);
    match cmd {
        ProjectCommand::List => {
            let projects = c.all(|page| async move { c.projects(&page).await }).await?;
            if out.json {
                return out.print_json(&projects);
            }
            if projects.is_empty() {
                println!("No projects.");
                return Ok(());
            }
            let mut t = out.table(&["id", "name", "description", "created"]);
            for p in &projects {
                t.add_row(vec![
                    cell(&p.id),
                    cell(&p.name),
                    cell(&p.description.as_deref().unwrap_or("")),
                    cell(&ago(Some(&p.created_at))),
                ]);
            }
            out.print_table(&t);
            Ok(())
        }
        ProjectCommand::Create { name, description } => {
            let p = c.create_project(&CreateProject { name, description }).await?;
            if out.json {
                return out.print_json(&p);
            }
            println!("Created project {} ({}).", clean(&p.name), p.id);
            Ok(())
        }
        ProjectCommand::Delete { id } => {
            c.delete_project(&id).await?;
            if out.json {
                return out.print_json(&json!({"deleted": id}));
            }
            println!("Deleted project {id}.");
            Ok(())
        }
    }
}

/// `latchkey member …`
pub async fn member(ctx: &Ctx, cmd: MemberCommand) -> anyhow::Result<()> {
    let (c, out) = (&ctx.client, &ctx.out);
    match cmd {
        MemberCommand::List => {
            let members = c.all(|page| async move { c.members(&page).await }).await?;
            if out.json {
                return out.print_json(&members);
            }
            let mut t = out.table(&["user id", "email", "name", "role", "joined"]);
            for m in &members {
                t.add_row(vec![
                    cell(&m.user_id),
                    cell(&m.email),
                    cell(&m.display_name),
                    out.status_cell(&m.role),
                    cell(&ago(Some(&m.joined_at))),
                ]);
            }
            out.print_table(&t);
            Ok(())
        }
        MemberCommand::Invite { email, role } => {
            let inv = c.invite(&CreateInvitation { email, role }).await?;
            if out.json {
                return out.print_json(&inv);
            }
            println!(
                "Invited {} as {} (invitation {}, expires {}).",
                clean(&inv.email),
                inv.role,
                inv.id,
                ago(Some(&inv.expires_at))
            );
            println!();
            println!("    {}", out.bold(inv.token.as_deref().unwrap_or_default()));
            println!();
            println!(
                "{}",
                out.warn("This token is shown once. Send it to them; they join with `latchkey member accept <token>`.")
            );
            Ok(())
        }
        MemberCommand::Accept { token } => {
            let o = c.accept_invitation(&token).await?;
            if out.json {
                return out.print_json(&o);
            }
            println!("Joined {} ({}) as {}.", clean(&o.name), o.id, o.role.as_deref().unwrap_or("-"));
            println!("Act in it with `latchkey org switch {}`.", o.slug);
            Ok(())
        }
        MemberCommand::Role { user, role } => {
            let user_id = resolve_member(ctx, &user).await?;
            let m = c.set_member_role(&user_id, &role).await?;
            if out.json {
                return out.print_json(&m);
            }
            println!("{} is now {}.", clean(&m.email), m.role);
            Ok(())
        }
        MemberCommand::Remove { user } => {
            let user_id = resolve_member(ctx, &user).await?;
            c.remove_member(&user_id).await?;
            if out.json {
                return out.print_json(&json!({"removed": user_id}));
            }
            println!("Removed {user} from the organization.");
            Ok(())
        }
    }
}

/// A member's user id from their id or email.
async fn resolve_member(ctx: &Ctx, user: &str) -> anyhow::Result<String> {
    if user.starts_with("usr_") {
        return Ok(user.to_owned());
    }
    let c = &ctx.client;
    let members = c.all(|page| async move { c.members(&page).await }).await?;
    members
        .into_iter()
        .find(|m| m.email.eq_ignore_ascii_case(user.trim()))
        .map(|m| m.user_id)
        .ok_or_else(|| CliError::Refused(format!("no member with email {user}")).into())
}

/// `latchkey audit [--follow]`
pub async fn audit(ctx: &Ctx, args: AuditArgs) -> anyhow::Result<()> {
    let (c, out) = (&ctx.client, &ctx.out);
    let query = AuditQuery {
        action: args.action.clone(),
        page: PageRequest { limit: Some(args.limit), cursor: None },
        ..AuditQuery::default()
    };
    let first = c.audit_events(&query).await?.data;
    if !args.follow {
        if out.json {
            return out.print_json(&first);
        }
        if first.is_empty() {
            println!("No events.");
            return Ok(());
        }
        let mut t = out.table(&["when", "action", "actor", "target", "id"]);
        for e in &first {
            t.add_row(vec![
                cell(&ago(Some(&e.at))),
                cell(&e.action),
                cell(&reference(Some(&e.actor))),
                cell(&reference(e.target.as_ref())),
                cell(&e.id),
            ]);
        }
        out.print_table(&t);
        return Ok(());
    }
    // Follow: print oldest first, then poll for events at or after the last
    // one seen, skipping ids already printed (ids sort by time).
    let mut seen: HashSet<String> = HashSet::new();
    let mut since: Option<String> = None;
    let mut batch = first;
    loop {
        batch.reverse();
        for e in batch {
            if seen.contains(&e.id) {
                continue;
            }
            print_event(out, &e)?;
            since = Some(e.at.clone());
            seen.insert(e.id);
        }
        tokio::time::sleep(Duration::from_secs(args.interval)).await;
        // Everything since the last event, following the cursor back to it.
        let mut fresh = Vec::new();
        let mut cursor = None;
        loop {
            let q = AuditQuery {
                action: args.action.clone(),
                since: since.clone(),
                page: PageRequest { limit: Some(100), cursor },
                ..AuditQuery::default()
            };
            let page = c.audit_events(&q).await?;
            fresh.extend(page.data);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        batch = fresh;
    }
}

fn print_event(out: &Output, e: &AuditEventView) -> anyhow::Result<()> {
    if out.json {
        println!("{}", serde_json::to_string(e)?);
    } else {
        let (actor, target) = (reference(Some(&e.actor)), reference(e.target.as_ref()));
        println!("{}  {:<24} {:<36} {}", e.at, clean(&e.action), clean(&actor), clean(&target));
    }
    Ok(())
}

fn reference(r: Option<&RefView>) -> String {
    match r {
        None => "-".to_owned(),
        Some(r) => format!("{} {}", r.kind, r.id.as_deref().unwrap_or("-")),
    }
}

/// `latchkey verify KEY`: prints the verdict; exit 1 unless `VALID`.
pub async fn verify(ctx: &Ctx, args: VerifyArgs) -> anyhow::Result<()> {
    let key = if args.key == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("cannot read the key from standard input")?;
        s.trim().to_owned()
    } else {
        args.key
    };
    let body = VerifyKey {
        key,
        scopes: args.scopes.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
        project_id: args.project,
        cost: None,
        ip: args.ip,
    };
    let v = ctx.client.verify(&body).await?;
    if ctx.out.json {
        ctx.out.print_json(&v)?;
    } else {
        let mut fields = vec![("Verdict", v.code.clone())];
        if let Some(id) = &v.key_id {
            fields.push(("Key", id.clone()));
        }
        if let Some(scopes) = &v.scopes {
            fields.push(("Scopes", scopes.join(", ")));
        }
        if let Some(env) = &v.environment {
            fields.push(("Environment", env.clone()));
        }
        if let Some(p) = &v.project_id {
            fields.push(("Project", p.clone()));
        }
        if let Some(e) = &v.expires_at {
            fields.push(("Expires", format!("{e} ({})", ago(Some(e)))));
        }
        if let Some(r) = &v.ratelimit {
            fields.push(("Rate limit", format!("{} of {} left, full again in {} s", r.remaining, r.limit, r.reset)));
        }
        if let Some(n) = v.remaining {
            fields.push(("Credits left", n.to_string()));
        }
        print_fields(&fields);
    }
    if v.valid { Ok(()) } else { Err(CliError::Refused(format!("the key is not valid: {}", v.code)).into()) }
}
