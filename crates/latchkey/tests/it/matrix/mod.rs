//! The authorization matrix (issue 19): every operation of the committed
//! `docs/openapi.json`, called by seven callers — no credential, another
//! organization's admin key, a member's session, a member's narrow key, a
//! key lacking the operation's `x-latchkey-scope`, the admin's key and the
//! admin's session. Each answer's class (2xx, 401, 403, 404) is predicted
//! from the operation's declaration alone ([`declaration`]) and asserted.
//!
//! Beyond the predictions, two counts must be zero: **cross-tenant 2xx**
//! (another organization's admin naming one of organization A's records
//! gets a 2xx, or any answer to it carries an identifier or secret value of
//! A it was not sent) and **member-to-admin 2xx** (a member's credential
//! gets a 2xx on an operation reserved to admins). An operation without a
//! declaration, or without a request in [`world`], fails the test.
//!
//! The matrix is printed (`cargo test -p latchkey --test it matrix --
//! --nocapture`): each cell is the status the caller got, `!` marking one
//! that differs from the prediction, then the counts per class and caller.
//! Its size is bounded by the document: one request a cell, plus the fresh
//! targets of the operations that consume theirs.

mod declaration;
mod world;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use self::declaration::{Class, Operation};
use self::world::{Call, Caller, World};

/// One answered cell.
struct Cell {
    caller: Caller,
    status: u16,
    predicted: Class,
    /// An identifier of organization A in an answer to another
    /// organization's admin.
    leaked: Option<String>,
    foreign: bool,
}

fn committed_document() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// What organization A's `tenant` identifiers `answer` carries that the
/// request did not.
fn leak(tenant: &[String], call: &Call, answer: &str) -> Option<String> {
    let sent = format!("{} {}", call.path, call.body.as_ref().map(Value::to_string).unwrap_or_default());
    tenant.iter().find(|id| answer.contains(id.as_str()) && !sent.contains(id.as_str())).cloned()
}

/// Public operations a browser follows through an identity provider: their
/// answers are redirects and pages that depend on the provider and the
/// browser's dashboard session, not on the caller's credential, so they have
/// no column to predict. `sso/` and `oauth/` test them against a real
/// provider (every refusal included).
const BROWSER_REDIRECTS: [&str; 4] =
    ["startOidcSignIn", "finishOidcSignIn", "authorizeOAuthConnect", "finishOAuthConnect"];

/// Operations that answer 501 without an object store: called only when
/// SeaweedFS is installed (`crate::s3`).
const NEED_OBJECT_STORE: [&str; 2] = ["presignWorkspaceObject", "listWorkspaceFiles"];

#[tokio::test]
async fn every_operation_answers_every_caller_as_declared() {
    let started = std::time::Instant::now();
    let (ops, undeclared) = declaration::operations(&committed_document());
    assert!(undeclared.is_empty(), "operations without an authorization declaration:\n{}", undeclared.join("\n"));
    assert!(ops.len() >= 60, "{} operations: the document is incomplete", ops.len());
    let mut world = World::new().await;
    let mut rows: Vec<(&Operation, Vec<Cell>)> = Vec::new();
    let mut missing = Vec::new();
    for op in ops.iter().filter(|op| !BROWSER_REDIRECTS.contains(&op.id.as_str())) {
        if !world.object_store && NEED_OBJECT_STORE.contains(&op.id.as_str()) {
            eprintln!("SKIPPED {} {}: it needs SeaweedFS's `weed` (see tests/it/s3)", op.method, op.path);
            continue;
        }
        let mut cells = Vec::new();
        for caller in Caller::ALL {
            let call = match world.call(op, caller).await {
                Ok(call) => call,
                Err(why) => {
                    missing.push(why);
                    break;
                }
            };
            let predicted = op.declaration.predict(call.facts.as_ref(), call.foreign);
            let body = call.body.as_ref().map(|b| b.to_string().into());
            let r = call.api.send_with(call.method.clone(), &call.path, body, &call.headers).await;
            let leaked = (caller == Caller::OtherAdmin).then(|| leak(&world.tenant, &call, &r.text)).flatten();
            cells.push(Cell { caller, status: r.status, predicted, leaked, foreign: call.foreign });
            if Class::of(r.status) != predicted {
                eprintln!("{} {} as {:?}: {} {}", op.method, op.path, caller, r.status, r.text);
            }
        }
        rows.push((op, cells));
    }
    assert!(missing.is_empty(), "operations the matrix cannot call:\n{}", missing.join("\n"));
    let report = Report::of(&rows);
    println!("{}", report.render(&rows, started.elapsed()));
    assert!(report.wrong.is_empty(), "cells that differ from the declaration:\n{}", report.wrong.join("\n"));
    assert_eq!(report.cross_tenant_2xx, 0, "cross-tenant 2xx");
    assert_eq!(report.member_to_admin_2xx, 0, "member-to-admin 2xx");
    assert!(report.unreached.is_empty(), "operations no caller may use: {:?}", report.unreached);
    assert!(report.cross_tenant_cells > 20 && report.member_to_admin_cells > 10, "the matrix probes too little");
}

/// The counts of a matrix.
struct Report {
    /// Cells by caller and class.
    counts: BTreeMap<(usize, String), usize>,
    wrong: Vec<String>,
    cross_tenant_cells: usize,
    cross_tenant_2xx: usize,
    member_to_admin_cells: usize,
    member_to_admin_2xx: usize,
    /// Operations without a single 2xx cell.
    unreached: Vec<String>,
}

impl Report {
    fn of(rows: &[(&Operation, Vec<Cell>)]) -> Self {
        let mut r = Self {
            counts: BTreeMap::new(),
            wrong: Vec::new(),
            cross_tenant_cells: 0,
            cross_tenant_2xx: 0,
            member_to_admin_cells: 0,
            member_to_admin_2xx: 0,
            unreached: Vec::new(),
        };
        for (op, cells) in rows {
            for cell in cells {
                let got = Class::of(cell.status);
                let column = Caller::ALL.iter().position(|c| *c == cell.caller).unwrap();
                let class = if let Class::Other(_) = got { "other".to_owned() } else { got.label() };
                *r.counts.entry((column, class)).or_default() += 1;
                if got != cell.predicted {
                    r.wrong.push(format!(
                        "{} {} as {:?}: {} where the declaration says {}",
                        op.method,
                        op.path,
                        cell.caller,
                        cell.status,
                        cell.predicted.label()
                    ));
                }
                if let Some(id) = &cell.leaked {
                    r.wrong.push(format!("{} {}: another organization's admin was shown {id}", op.method, op.path));
                }
                let success = got == Class::Success;
                if cell.foreign || cell.leaked.is_some() {
                    r.cross_tenant_cells += 1;
                    r.cross_tenant_2xx += usize::from(success || cell.leaked.is_some());
                }
                if cell.caller.is_member() && op.declaration.admin_only() {
                    r.member_to_admin_cells += 1;
                    r.member_to_admin_2xx += usize::from(success);
                }
            }
            // An operation only a reserved scope opens (`oauth:token`) is
            // refused to every caller here: only the operator mints such
            // keys (its own tests use one).
            let reserved = op.declaration.scope.as_ref().is_some_and(latchkey_core::Scope::is_reserved);
            if !reserved && !cells.iter().any(|c| Class::of(c.status) == Class::Success) {
                r.unreached.push(format!("{} {}", op.method, op.path));
            }
        }
        r
    }

    /// The matrix (operations × callers, each cell the status), then the
    /// counts.
    fn render(&self, rows: &[(&Operation, Vec<Cell>)], took: std::time::Duration) -> String {
        let cells: usize = rows.iter().map(|(_, c)| c.len()).sum();
        let mut out = format!(
            "authorization matrix: {} operations × {} callers = {cells} cells ({:.1} s)\n",
            rows.len(),
            Caller::ALL.len(),
            took.as_secs_f64()
        );
        let width = rows.iter().map(|(op, _)| op.method.len() + op.path.len() + 1).max().unwrap_or(0);
        let _ = write!(out, "{:width$}", "");
        for caller in Caller::ALL {
            let _ = write!(out, " {:>6}", caller.label());
        }
        out.push('\n');
        for (op, cells) in rows {
            let _ = write!(out, "{:width$}", format!("{} {}", op.method, op.path));
            for cell in cells {
                let mark = if Class::of(cell.status) == cell.predicted && cell.leaked.is_none() { "" } else { "!" };
                let _ = write!(out, " {:>6}", format!("{mark}{}", cell.status));
            }
            out.push('\n');
        }
        for class in ["2xx", "401", "403", "404", "other"] {
            let _ = write!(out, "{:>width$}", class);
            let mut total = 0;
            for column in 0..Caller::ALL.len() {
                let n = self.counts.get(&(column, class.to_owned())).copied().unwrap_or(0);
                total += n;
                let _ = write!(out, " {n:>6}");
            }
            let _ = writeln!(out, "  = {total}");
        }
        let _ = writeln!(
            out,
            "mismatches: {}; cross-tenant 2xx: {} of {} cells; member-to-admin 2xx: {} of {} cells",
            self.wrong.len(),
            self.cross_tenant_2xx,
            self.cross_tenant_cells,
            self.member_to_admin_2xx,
            self.member_to_admin_cells
        );
        out
    }
}
