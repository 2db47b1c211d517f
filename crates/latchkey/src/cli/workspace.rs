//! `latchkey workspace …`: workspaces' records, whether a sandbox may mount
//! one, presigned URLs for their objects and their listings. A refusal
//! (`personal_workspace_not_mountable`, `insufficient_scope`,
//! `storage_not_configured`, …) is the server's, printed with its code by
//! [`super::report`] (exit 1).

use clap::{Subcommand, ValueEnum};
use latchkey_client::types::workspaces::{
    CreateWorkspace, MountMode, MountRequest, PresignMethod, PresignRequest, WorkspaceKind, WorkspaceView,
};
use latchkey_client::{WorkspaceFileQuery, WorkspaceListQuery};
use serde_json::json;

use super::Ctx;
use super::oauth::my_user_id;
use super::output::{ago, cell, clean, print_fields};

/// `--kind` of `workspace list`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// The organization's workspaces.
    Org,
    /// Members' own.
    Personal,
}

impl From<Kind> for WorkspaceKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Org => Self::Org,
            Kind::Personal => Self::Personal,
        }
    }
}

/// `latchkey workspace …`
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// The organization's workspaces and your personal ones.
    List {
        /// Every member's personal workspaces too (admins).
        #[arg(long, visible_alias = "all-org")]
        all: bool,
        /// Only this kind.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// Only this project's (`prj_…`).
        #[arg(long, value_name = "ID")]
        project: Option<String>,
    },
    /// Create a workspace: the organization's (admins) unless `--personal`.
    Create {
        /// Display name.
        name: String,
        /// Your own workspace: only you and the admins reach it, and no
        /// sandbox mounts it.
        #[arg(long)]
        personal: bool,
        /// The project it belongs to (`prj_…`).
        #[arg(long, value_name = "ID")]
        project: Option<String>,
        /// The most it may hold, in bytes.
        #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(i64).range(1..))]
        quota: Option<i64>,
    },
    /// Delete a workspace (refused while its store still holds objects).
    Delete {
        /// `wsp_…`
        id: String,
    },
    /// Ask whether a sandbox may mount a workspace, as the sandbox runtime
    /// does; exits 1 with the server's reason when it may not.
    MountCheck {
        /// `wsp_…`
        id: String,
        /// The sandbox's id.
        #[arg(long, value_name = "S")]
        sandbox: String,
        /// Where it would be mounted (absolute, e.g. `/workspace`).
        #[arg(long, value_name = "P")]
        path: String,
        /// Read-write (needs `files:write`); default read-only (`files:read`).
        #[arg(long)]
        rw: bool,
    },
    /// Print a short-lived URL for one object of a workspace (GET unless
    /// `--put` or `--delete`); only the URL, so that
    /// `curl -T FILE "$(latchkey workspace presign ID a.txt --put)"` works.
    Presign {
        /// `wsp_…`
        id: String,
        /// The object's path in the workspace (`notes/today.md`).
        path: String,
        /// A URL to upload the object with.
        #[arg(long, conflicts_with = "delete")]
        put: bool,
        /// A URL to delete the object with.
        #[arg(long)]
        delete: bool,
        /// How long the URL works, in seconds (1 to 3600; the server's
        /// default is 900).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        expires: Option<u64>,
    },
    /// The objects of a workspace: path, size, last change.
    Files {
        /// `wsp_…`
        id: String,
        /// Only paths that start with this (`notes/`).
        #[arg(long, value_name = "P")]
        prefix: Option<String>,
    },
}

/// `latchkey workspace …`
pub async fn workspace(ctx: &Ctx, cmd: WorkspaceCommand) -> anyhow::Result<()> {
    let (c, out) = (&ctx.client, &ctx.out);
    match cmd {
        WorkspaceCommand::List { all, kind, project } => {
            let list = c
                .all(|page| {
                    let q = WorkspaceListQuery {
                        all_org: all,
                        kind: kind.map(Into::into),
                        project_id: project.clone(),
                        page,
                    };
                    async move { c.workspaces(&q).await }
                })
                .await?;
            if out.json {
                return out.print_json(&list);
            }
            if list.is_empty() {
                println!("No workspaces.");
                return Ok(());
            }
            let me = if list.iter().any(|w| w.kind == WorkspaceKind::Personal) { my_user_id(ctx).await? } else { None };
            let mut t = out.table(&["id", "name", "kind", "owner", "project", "quota"]);
            for w in &list {
                t.add_row(vec![
                    cell(&w.id),
                    cell(&w.name),
                    cell(kind_word(w.kind)),
                    cell(&owner_word(w, me.as_deref())),
                    cell(w.project_id.as_deref().unwrap_or("-")),
                    cell(&w.quota_bytes.map_or_else(|| "-".to_owned(), |q| q.to_string())),
                ]);
            }
            out.print_table(&t);
            Ok(())
        }
        WorkspaceCommand::Create { name, personal, project, quota } => {
            let kind = if personal { WorkspaceKind::Personal } else { WorkspaceKind::Org };
            let w =
                c.create_workspace(&CreateWorkspace { name, kind, project_id: project, quota_bytes: quota }).await?;
            if out.json {
                return out.print_json(&w);
            }
            println!("Created {} workspace {} ({}).", kind_word(w.kind), clean(&w.name), w.id);
            Ok(())
        }
        WorkspaceCommand::Delete { id } => {
            c.delete_workspace(&id).await?;
            if out.json {
                return out.print_json(&json!({"deleted": id}));
            }
            println!("Deleted workspace {id}.");
            Ok(())
        }
        WorkspaceCommand::MountCheck { id, sandbox, path, rw } => {
            let mode = if rw { MountMode::Rw } else { MountMode::Ro };
            let g = c.decide_mount(&id, &MountRequest { sandbox_id: sandbox, path, mode }).await?;
            if out.json {
                return out.print_json(&g);
            }
            // The grant is a credential for the sandbox runtime: only --json prints it.
            print_fields(&[
                ("Allowed", format!("{} mount of {} at {}", mode_word(g.mode), g.workspace_id, g.path)),
                ("Sandbox", g.sandbox_id.clone()),
                ("Expires", format!("{} ({})", g.expires_at, ago(Some(&g.expires_at)))),
            ]);
            Ok(())
        }
        WorkspaceCommand::Presign { id, path, put, delete, expires } => {
            let method = match (put, delete) {
                (true, _) => PresignMethod::Put,
                (_, true) => PresignMethod::Delete,
                _ => PresignMethod::Get,
            };
            let p = c.presign_workspace_object(&id, &PresignRequest { path, method, expires_in: expires }).await?;
            if out.json {
                return out.print_json(&p);
            }
            println!("{}", p.url);
            Ok(())
        }
        WorkspaceCommand::Files { id, prefix } => {
            let files = c
                .all(|page| {
                    let q = WorkspaceFileQuery { prefix: prefix.clone(), page };
                    let id = &id;
                    async move { c.workspace_files(id, &q).await }
                })
                .await?;
            if out.json {
                return out.print_json(&files);
            }
            if files.is_empty() {
                println!("No files.");
                return Ok(());
            }
            let mut t = out.table(&["path", "size", "modified"]);
            for f in &files {
                t.add_row(vec![cell(&f.path), cell(&f.size), cell(&ago(f.last_modified.as_deref()))]);
            }
            out.print_table(&t);
            Ok(())
        }
    }
}

fn kind_word(kind: WorkspaceKind) -> &'static str {
    match kind {
        WorkspaceKind::Org => "org",
        WorkspaceKind::Personal => "personal",
    }
}

fn mode_word(mode: MountMode) -> &'static str {
    match mode {
        MountMode::Ro => "read-only",
        MountMode::Rw => "read-write",
    }
}

/// `org` for an organization workspace; `me` or the member's id for a
/// personal one.
fn owner_word(w: &WorkspaceView, me: Option<&str>) -> String {
    match (w.kind, w.owner_user_id.as_deref()) {
        (WorkspaceKind::Org, _) | (WorkspaceKind::Personal, None) => "org".to_owned(),
        (WorkspaceKind::Personal, Some(owner)) if Some(owner) == me => "me".to_owned(),
        (WorkspaceKind::Personal, Some(owner)) => owner.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(kind: WorkspaceKind, owner: Option<&str>) -> WorkspaceView {
        WorkspaceView {
            id: "wsp_1".into(),
            name: "notes".into(),
            kind,
            owner_user_id: owner.map(Into::into),
            project_id: None,
            storage_prefix: "orgs/org_1/workspaces/wsp_1/".into(),
            quota_bytes: None,
            created_by_user_id: None,
            created_by_key_id: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn owners_read_org_me_or_the_member() {
        assert_eq!(owner_word(&view(WorkspaceKind::Org, None), Some("usr_a")), "org");
        assert_eq!(owner_word(&view(WorkspaceKind::Personal, Some("usr_a")), Some("usr_a")), "me");
        assert_eq!(owner_word(&view(WorkspaceKind::Personal, Some("usr_b")), Some("usr_a")), "usr_b");
        assert_eq!(owner_word(&view(WorkspaceKind::Personal, Some("usr_b")), None), "usr_b");
    }
}
