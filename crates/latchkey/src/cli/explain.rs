//! `latchkey auth keys explain ID`: what a key can do and why
//! (`POST /v1/keys/explain`), for people as a summary, for scripts as the
//! server's JSON.

use latchkey_client::types::{ExplainKey, ExplainView, PermissionReason, RateLimitView};

use super::Ctx;
use super::output::{ago, cell, print_fields};

/// What `explain` asks about a key besides the key itself.
pub struct Asked {
    /// `key_…`
    pub id: String,
    /// Scopes a request would need.
    pub scopes: Vec<String>,
    /// The project a request would be for.
    pub project: Option<String>,
    /// The address a request would come from.
    pub ip: Option<String>,
}

/// Asks the server to explain a key and prints the answer.
pub async fn run(ctx: &Ctx, asked: Asked) -> anyhow::Result<()> {
    let body = ExplainKey {
        key: None,
        key_id: Some(asked.id),
        scopes: asked.scopes.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
        project_id: asked.project,
        ip: asked.ip,
    };
    let e = ctx.client.explain_key(&body).await?;
    if ctx.out.json {
        return ctx.out.print_json(&e);
    }
    print_summary(ctx, &e, &body);
    Ok(())
}

fn print_summary(ctx: &Ctx, e: &ExplainView, asked: &ExplainKey) {
    let out = &ctx.out;
    let mut status = e.status.clone();
    if let Some(until) = &e.grace_ends_at {
        status.push_str(&format!(", rotated: works until {until} ({})", ago(Some(until))));
    }
    if let Some(at) = &e.leaked_at {
        status.push_str(&format!(", reported leaked {}", ago(Some(at))));
    }
    let owner = match (&e.owner_user_id, &e.owner_role) {
        (Some(u), Some(role)) => format!("{u} ({role})"),
        (Some(u), None) => format!("{u} (no longer a member)"),
        (None, _) => "the organization".to_owned(),
    };
    let mut fields = vec![
        ("Key", format!("{} ({}), {}…{}", e.key_id, e.name, e.key_prefix, e.key_hint)),
        ("Status", status),
        ("Environment", e.environment.clone()),
        ("Owner", owner),
        ("Scopes", e.scopes.join(", ")),
        ("Project", e.project_id.clone().unwrap_or_else(|| "-".to_owned())),
        ("Expires", e.expires_at.as_deref().map_or_else(|| "never".to_owned(), |t| format!("{t} ({})", ago(Some(t))))),
        ("Per minute", window(e.limits.per_minute.as_ref())),
        ("Per day", window(e.limits.per_day.as_ref())),
        (
            "Credits",
            e.credits.as_ref().map_or_else(
                || "unlimited".to_owned(),
                |c| match &c.refill {
                    Some(r) => format!("{} left (refilled to {} {})", c.remaining, r.amount, interval(r)),
                    None => format!("{} left", c.remaining),
                },
            ),
        ),
        ("Networks", networks(e)),
        (
            "Key policy",
            if e.policy.compliant {
                "compliant".to_owned()
            } else {
                let rules: Vec<&str> = e.policy.violations.iter().map(|v| v.rule.as_str()).collect();
                format!("breaks {}", rules.join(", "))
            },
        ),
    ];
    if let Some(v) = &e.verdict {
        let mut asked_for = Vec::new();
        if !asked.scopes.is_empty() {
            asked_for.push(asked.scopes.join(", "));
        }
        if let Some(p) = &asked.project_id {
            asked_for.push(format!("project {p}"));
        }
        if let Some(ip) = &asked.ip {
            asked_for.push(format!("from {ip}"));
        }
        fields.push(("Verify would say", format!("{} (for {})", v.code, asked_for.join(", "))));
    }
    print_fields(&fields);
    for v in &e.policy.violations {
        println!("  {}", super::output::clean(&v.message));
    }
    println!();
    let mut t = out.table(&["permission", "allowed", "why not"]);
    for p in &e.permissions {
        t.add_row(vec![
            cell(&p.permission),
            cell(if p.allowed { "yes" } else { "no" }),
            cell(p.reason.map_or("", PermissionReason::describe)),
        ]);
    }
    out.print_table(&t);
}

/// A window as "2 of 3 left, full again in 20 s"; `no limit` without one.
fn window(w: Option<&RateLimitView>) -> String {
    w.map_or_else(
        || "no limit".to_owned(),
        |w| format!("{} of {} left, full again in {} s", w.remaining, w.limit, w.reset),
    )
}

fn interval(r: &latchkey_client::types::RefillView) -> &'static str {
    match r.interval {
        latchkey_client::types::RefillIntervalView::Daily => "daily",
        latchkey_client::types::RefillIntervalView::Monthly => "monthly",
    }
}

fn networks(e: &ExplainView) -> String {
    let n = &e.network;
    let mut text = match (&n.allowed_cidrs, n.source.as_deref()) {
        (None, _) => "anywhere".to_owned(),
        (Some(list), Some("policy")) => format!("{} (the key policy's)", list.join(", ")),
        (Some(list), _) => list.join(", "),
    };
    if let (Some(ip), Some(allowed)) = (&n.ip, n.ip_allowed) {
        text.push_str(&format!("; {ip} {}", if allowed { "allowed" } else { "not allowed" }));
    }
    text
}
