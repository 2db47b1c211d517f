//! What the document declares of each operation, and the answer class a
//! caller must get from it: the matrix's oracle, which reads nothing but the
//! operation's `x-latchkey-callers`, `x-latchkey-scope` and
//! `x-latchkey-scope-binds-sessions`, the caller's facts (session or key,
//! role, scopes) and whether the request names another tenant's record.

use latchkey_core::{Role, Scope, ScopeSet};
use serde_json::Value;

/// The caller kinds `x-latchkey-callers` may name.
const CALLER_KINDS: [&str; 6] = ["anonymous", "key", "session", "admin", "admin-key", "admin-session"];

/// One operation's authorization, as the document states it.
#[derive(Debug, Clone)]
pub struct Declaration {
    /// `x-latchkey-callers`.
    pub callers: Vec<String>,
    /// `x-latchkey-scope`.
    pub scope: Option<Scope>,
    /// `x-latchkey-scope-binds-sessions`.
    pub binds_sessions: bool,
}

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path template (`/v1/api-keys/{id}`).
    pub path: String,
    /// `operationId`.
    pub id: String,
    pub declaration: Declaration,
}

/// Every operation of `doc`, in document order; and a line for each one
/// whose declaration is missing or malformed.
pub fn operations(doc: &Value) -> (Vec<Operation>, Vec<String>) {
    let mut ops = Vec::new();
    let mut undeclared = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        for (method, op) in item.as_object().expect("a path item is an object") {
            if !["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                continue;
            }
            let method = method.to_uppercase();
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            match declaration(op) {
                Ok(declaration) => ops.push(Operation { method, path: path.clone(), id, declaration }),
                Err(why) => undeclared.push(format!("{method} {path} ({id}): {why}")),
            }
        }
    }
    (ops, undeclared)
}

fn declaration(op: &Value) -> Result<Declaration, String> {
    let callers: Vec<String> = op["x-latchkey-callers"]
        .as_array()
        .ok_or("no x-latchkey-callers")?
        .iter()
        .map(|c| c.as_str().map(str::to_owned).ok_or_else(|| format!("caller {c} is not a string")))
        .collect::<Result<_, _>>()?;
    if callers.is_empty() {
        return Err("x-latchkey-callers is empty".to_owned());
    }
    if let Some(unknown) = callers.iter().find(|c| !CALLER_KINDS.contains(&c.as_str())) {
        return Err(format!("unknown caller kind `{unknown}`"));
    }
    let scope = match &op["x-latchkey-scope"] {
        Value::Null => None,
        Value::String(s) => Some(Scope::parse(s).ok_or_else(|| format!("x-latchkey-scope `{s}` is not a scope"))?),
        _ if op.get("x-latchkey-scope").is_none() => return Err("no x-latchkey-scope".to_owned()),
        other => return Err(format!("x-latchkey-scope {other} is not a string")),
    };
    let binds_sessions = op["x-latchkey-scope-binds-sessions"].as_bool().ok_or("no x-latchkey-scope-binds-sessions")?;
    Ok(Declaration { callers, scope, binds_sessions })
}

/// What a credential is, for the prediction.
#[derive(Debug, Clone)]
pub struct Facts {
    /// A person's login session (else an API key).
    pub session: bool,
    /// The role of its person in the organization it acts in.
    pub role: Role,
    /// What it carries (`*` for a session).
    pub scopes: ScopeSet,
}

/// The class of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Success,
    Unauthorized,
    Forbidden,
    NotFound,
    /// Anything else (400, 409, 429, 500, …): never predicted.
    Other(u16),
}

impl Class {
    pub fn of(status: u16) -> Self {
        match status {
            200..=299 => Self::Success,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            other => Self::Other(other),
        }
    }

    pub fn label(self) -> String {
        match self {
            Self::Success => "2xx".to_owned(),
            Self::Unauthorized => "401".to_owned(),
            Self::Forbidden => "403".to_owned(),
            Self::NotFound => "404".to_owned(),
            Self::Other(s) => s.to_string(),
        }
    }
}

impl Declaration {
    fn has(&self, kind: &str) -> bool {
        self.callers.iter().any(|c| c == kind)
    }

    /// Nobody needs a credential.
    pub fn public(&self) -> bool {
        self.has("anonymous")
    }

    /// Only the organization's admins may call it.
    pub fn needs_admin(&self) -> bool {
        self.has("admin") || self.has("admin-key") || self.has("admin-session")
    }

    fn takes_keys(&self) -> bool {
        self.has("key") || self.has("admin") || self.has("admin-key")
    }

    fn takes_sessions(&self) -> bool {
        self.has("session") || self.has("admin") || self.has("admin-session")
    }

    /// Reserved to admins: the admin role, or a scope that binds sessions
    /// and that the member role never allows. A member's 2xx here is a
    /// member-to-admin escalation.
    pub fn admin_only(&self) -> bool {
        self.needs_admin() || (self.binds_sessions && self.scope.as_ref().is_some_and(|s| !Role::Member.allows(s)))
    }

    /// The class `facts` must get (`None`: no credential); `foreign` when
    /// the request names a record of another organization than the
    /// caller's. The checks run in the order the declaration's parts are
    /// documented in (credential kind, role, scope), then the lookup,
    /// scoped to the caller's organization.
    pub fn predict(&self, facts: Option<&Facts>, foreign: bool) -> Class {
        if self.public() {
            return Class::Success;
        }
        let Some(f) = facts else { return Class::Unauthorized };
        if !f.session && !self.takes_keys() {
            return Class::Forbidden;
        }
        if f.session && !self.takes_sessions() {
            return Class::Unauthorized;
        }
        if self.needs_admin() && f.role != Role::Admin {
            return Class::Forbidden;
        }
        if let Some(scope) = &self.scope
            && (!f.session || self.binds_sessions)
            && !(f.scopes.allows(scope) && f.role.allows(scope))
        {
            return Class::Forbidden;
        }
        if foreign { Class::NotFound } else { Class::Success }
    }
}

/// The oracle refuses what it cannot read: an operation without the
/// extensions, or with a caller kind it does not know, is reported, not
/// skipped.
#[test]
fn an_operation_without_a_declaration_is_reported() {
    let doc = serde_json::json!({"paths": {
        "/declared": {"get": {"operationId": "declared", "x-latchkey-callers": ["key", "session"],
                              "x-latchkey-scope": "org:read", "x-latchkey-scope-binds-sessions": true}},
        "/bare": {"post": {"operationId": "bare"}, "parameters": []},
        "/odd": {"get": {"operationId": "odd", "x-latchkey-callers": ["robot"],
                         "x-latchkey-scope": null, "x-latchkey-scope-binds-sessions": false}},
    }});
    let (ops, undeclared) = operations(&doc);
    assert_eq!(ops.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["declared"]);
    assert_eq!(undeclared.len(), 2, "{undeclared:?}");
    assert!(undeclared[0].starts_with("POST /bare (bare): no x-latchkey-callers"), "{undeclared:?}");
    assert!(undeclared[1].contains("unknown caller kind `robot`"), "{undeclared:?}");
    let member_key = Facts { session: false, role: Role::Member, scopes: ScopeSet::from_stored(&["org:read"]) };
    let declared = &ops[0].declaration;
    assert_eq!(declared.predict(Some(&member_key), false), Class::Success);
    assert_eq!(declared.predict(Some(&member_key), true), Class::NotFound);
    assert_eq!(declared.predict(None, false), Class::Unauthorized);
}
