//! The matcher, case by case: every check shape the routes declare × every
//! kind of caller (a session, a member's key, an admin's key, an
//! organization-owned key) × role × the scopes its credential carries.

use axum::response::IntoResponse as _;
use latchkey_core::{Role, Scope, ScopeSet};

use super::*;

/// One kind of caller: a label, whether it is a session, its role, and the
/// scopes its credential carries.
struct Kind {
    label: &'static str,
    session: bool,
    role: Role,
    scopes: &'static [&'static str],
}

/// The columns of [`TABLE`], in order.
const KINDS: [Kind; 11] = [
    Kind { label: "member session", session: true, role: Role::Member, scopes: &["*"] },
    Kind { label: "admin session", session: true, role: Role::Admin, scopes: &["*"] },
    Kind { label: "member key *", session: false, role: Role::Member, scopes: &["*"] },
    Kind { label: "member key org:read", session: false, role: Role::Member, scopes: &["org:read"] },
    Kind { label: "member key sandbox:*", session: false, role: Role::Member, scopes: &["sandbox:*"] },
    Kind { label: "admin key *", session: false, role: Role::Admin, scopes: &["*"] },
    Kind { label: "admin key org:write", session: false, role: Role::Admin, scopes: &["org:write"] },
    Kind { label: "admin key org:members", session: false, role: Role::Admin, scopes: &["org:members"] },
    // An organization-owned key acts as admin, within its scopes.
    Kind { label: "org key *", session: false, role: Role::Admin, scopes: &["*"] },
    Kind { label: "org key org:read", session: false, role: Role::Admin, scopes: &["org:read"] },
    Kind { label: "org key secret:resolve", session: false, role: Role::Admin, scopes: &["secret:resolve"] },
];

const SECRET_MESSAGE: &str = "organization-wide secrets need the admin role";

/// Each check shape the routes use, and its answer for each of [`KINDS`]:
/// `.` passes, `S` needs a session, `K` needs a key, `A` needs the admin
/// role, `s` lacks the scope.
const TABLE: [(&str, AuthCheck, &str); 16] = [
    ("public", AuthCheck::public(), "..........."),
    ("any credential", AuthCheck::any(), "..........."),
    ("session only", AuthCheck::session_only(), "..SSSSSSSSS"),
    ("session only, admin", AuthCheck::session_only().admin(), "A.SSSSSSSSS"),
    ("key only", AuthCheck::key_only(), "KK........."),
    ("key managers", AuthCheck::key_managers(), "...ss..s.ss"),
    ("key managers, admin", AuthCheck::key_managers().admin(), "A.Ass..s.ss"),
    ("admin", AuthCheck::any().admin(), "A.AAA......"),
    ("admin with a message", AuthCheck::any().admin_because(SECRET_MESSAGE), "A.AAA......"),
    ("admin, org:members", AuthCheck::any().admin().scope(ORG_MEMBERS), "A.AAA.s..ss"),
    ("admin, org:read", AuthCheck::any().admin().scope(ORG_READ), "A.AAA.ss..s"),
    ("admin, keys org:write", AuthCheck::any().admin().key_scope(ORG_WRITE), "A.AAA..s.ss"),
    ("org:read", AuthCheck::any().scope(ORG_READ), "....s.ss..s"),
    ("org:write", AuthCheck::any().scope(ORG_WRITE), "s.sss..s.ss"),
    ("keys org:members", AuthCheck::any().key_scope(ORG_MEMBERS), "..sss.s..ss"),
    ("secret:read or secret:resolve", AuthCheck::any().scope(SECRET_READ).or_scope(SECRET_RESOLVE), "...ss.ss.s."),
];

fn scope_set(texts: &[&str]) -> ScopeSet {
    ScopeSet::from_scopes(texts.iter().map(|t| Scope::parse(t).unwrap()))
}

fn symbol(decision: Result<(), Refusal>) -> char {
    match decision {
        Ok(()) => '.',
        Err(Refusal::NeedsSession) => 'S',
        Err(Refusal::NeedsKey) => 'K',
        Err(Refusal::NeedsAdmin(_)) => 'A',
        Err(Refusal::LacksScope(_)) => 's',
    }
}

#[test]
fn every_check_answers_every_kind_of_caller_as_the_table_says() {
    let sets: Vec<ScopeSet> = KINDS.iter().map(|k| scope_set(k.scopes)).collect();
    let mut wrong = Vec::new();
    for (name, check, expected) in TABLE {
        assert_eq!(expected.len(), KINDS.len(), "{name}: one answer per kind of caller");
        for ((kind, scopes), want) in KINDS.iter().zip(&sets).zip(expected.chars()) {
            let facts = Facts { session: kind.session, role: kind.role, scopes };
            let got = symbol(check.decide(&facts));
            if got != want {
                wrong.push(format!("{name} × {}: expected {want}, got {got}", kind.label));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_refusal_names_what_is_missing() {
    let member_key = scope_set(&["sandbox:*"]);
    let facts = Facts { session: false, role: Role::Member, scopes: &member_key };
    assert_eq!(AuthCheck::key_managers().decide(&facts), Err(Refusal::LacksScope(ORG_WRITE)));
    assert_eq!(
        AuthCheck::any().scope(SECRET_READ).or_scope(SECRET_RESOLVE).decide(&facts),
        Err(Refusal::LacksScope(SECRET_READ))
    );
    assert_eq!(AuthCheck::any().admin_because(SECRET_MESSAGE).decide(&facts), Err(Refusal::NeedsAdmin(SECRET_MESSAGE)));
    assert_eq!(AuthCheck::any().admin().decide(&facts), Err(Refusal::NeedsAdmin(NEEDS_ADMIN)));
    // `or_scope` without a scope part changes nothing.
    assert_eq!(AuthCheck::any().or_scope(SECRET_RESOLVE), AuthCheck::any());
}

/// The answers the refusals become: status, code and message.
#[test]
fn refusals_answer_401_or_403_with_their_code() {
    let cases = [
        (Refusal::NeedsKey, "unauthorized", "Invalid or missing authentication"),
        (Refusal::NeedsSession, "forbidden", "this action needs a login session, not an API key"),
        (Refusal::NeedsAdmin(SECRET_MESSAGE), "forbidden", SECRET_MESSAGE),
        (Refusal::LacksScope(ORG_WRITE), "insufficient_scope", "this credential lacks the `org:write` scope"),
    ];
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for (refusal, code, message) in cases {
        let res = ApiError::from(refusal).into_response();
        let status = if refusal == Refusal::NeedsKey { 401 } else { 403 };
        assert_eq!(res.status(), status, "{refusal:?}");
        let body = rt.block_on(axum::body::to_bytes(res.into_body(), 4096)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!((v["error"]["code"].as_str(), v["error"]["message"].as_str()), (Some(code), Some(message)));
    }
}

/// What the document's `x-latchkey-callers` and `x-latchkey-scope` say of
/// each shape.
#[test]
fn the_exported_declaration_follows_the_check() {
    let cases: [(AuthCheck, &[&str], Option<&str>, bool); 9] = [
        (AuthCheck::public(), &["anonymous"], None, false),
        (AuthCheck::key_only(), &["key"], None, false),
        (AuthCheck::any(), &["key", "session"], None, false),
        (AuthCheck::session_only(), &["session"], None, false),
        (AuthCheck::key_managers(), &["key", "session"], Some("org:write"), false),
        (AuthCheck::key_managers().admin(), &["admin"], Some("org:write"), false),
        (AuthCheck::any().admin().scope(ORG_MEMBERS), &["admin"], Some("org:members"), true),
        (AuthCheck::any().scope(SECRET_READ).or_scope(SECRET_RESOLVE), &["key", "session"], Some("secret:read"), true),
        (AuthCheck::any().key_scope(ORG_MEMBERS), &["key", "session"], Some("org:members"), false),
    ];
    for (check, callers, scope, binds_sessions) in cases {
        assert_eq!(check.callers(), callers, "{check:?}");
        assert_eq!(check.scope_text().as_deref(), scope, "{check:?}");
        assert_eq!(check.scope_binds_sessions(), binds_sessions, "{check:?}");
    }
}
