//! Who may call an operation: one [`AuthCheck`] value per operation.
//!
//! Each handler declares its requirement once, as a constant next to it
//! (`const CREATE: AuthCheck = AuthCheck::any().scope(ORG_WRITE);`), and
//! checks it with one call (`CREATE.check(&caller)?`). The same value is
//! exported into the OpenAPI document as the operation's
//! `x-latchkey-callers` and `x-latchkey-scope`, so the document says what
//! the check does.
//!
//! A check has up to four parts, tested in this order (the first that fails
//! answers):
//!
//! 1. **credential**: any key or session, or a session only (403
//!    `forbidden`); or the key-management rule: a session, or a key that
//!    carries `*` or may use `org:write` (403 `insufficient_scope`);
//! 2. **role**: the admin role, in the organization the request acts in
//!    (403 `forbidden`);
//! 3. **scope**: the scope the credential must carry and its role must
//!    allow (a session carries every scope; its role bounds it), or that
//!    only keys must hold (403 `insufficient_scope`).
//!
//! The decision is the pure [`AuthCheck::decide`] over a caller's
//! [`Facts`], table-tested below for every caller kind, role and scope.
//! What depends on the record a request names (whose key it is, whether a
//! secret is organization-wide) stays in the handler, stated with the same
//! values (`ORG_WIDE.check(&caller)?`).

use latchkey_core::{Role, Scope, ScopeRef, ScopeSet};
use latchkey_store::Session;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::auth::{Caller, Credential};
use crate::error::ApiError;

/// The extension a handler's `#[utoipa::path]` attribute carries its
/// check in: `extensions(("x-latchkey-auth" = json!(CREATE)))`. The
/// document replaces it with the three below ([`crate::openapi::Contract`]).
pub const AUTH_EXTENSION: &str = "x-latchkey-auth";
/// Who may call: `["anonymous"]`, `["key", "session"]`, `["session"]`,
/// `["key"]` or `["admin"]` ([`AuthCheck::callers`]).
pub const CALLERS: &str = "x-latchkey-callers";
/// The scope a key needs, or `null` ([`AuthCheck::scope_text`]).
pub const SCOPE: &str = "x-latchkey-scope";
/// Whether a session's role must allow that scope too
/// ([`AuthCheck::scope_binds_sessions`]).
pub const SCOPE_BINDS_SESSIONS: &str = "x-latchkey-scope-binds-sessions";

/// A static scope requirement (`resource`, `action`).
pub type Requirement = (&'static str, &'static str);

/// Read the organization: settings, keys, members, projects.
pub const ORG_READ: Requirement = ("org", "read");
/// Change the organization: manage keys and projects.
pub const ORG_WRITE: Requirement = ("org", "write");
/// Manage the organization's members and invitations.
pub const ORG_MEMBERS: Requirement = ("org", "members");
/// Verify the organization's keys.
pub const KEYS_VERIFY: Requirement = ("keys", "verify");
/// Read secrets: metadata, reveal, resolve.
pub const SECRET_READ: Requirement = ("secret", "read");
/// Resolve any member's secrets: a reserved scope, held only by service
/// keys the operator mints (`latchkey admin create-service-key`).
pub const SECRET_RESOLVE: Requirement = ("secret", "resolve");
/// Set and delete secrets.
pub const SECRET_WRITE: Requirement = ("secret", "write");
/// Listing connected-app providers and connections.
pub const OAUTH_READ: Requirement = ("oauth", "read");
/// Connecting, disconnecting, defaults, an organization's client credentials.
pub const OAUTH_WRITE: Requirement = ("oauth", "write");
/// Handing out any member's connected-app access tokens (reserved).
pub const OAUTH_TOKEN: Requirement = ("oauth", "token");
/// Read SSH keys and `authorized_keys`.
pub const SSH_KEY_READ: Requirement = ("ssh-key", "read");
/// Add, delete SSH keys and choose the default.
pub const SSH_KEY_WRITE: Requirement = ("ssh-key", "write");

/// Read workspaces: their records, mounting read-only, downloading and
/// listing their files.
pub const FILES_READ: Requirement = ("files", "read");
/// Create, change and delete workspaces, mount them read-write, upload and
/// delete their files.
pub const FILES_WRITE: Requirement = ("files", "write");

/// Which credentials an operation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials {
    /// None: the route is public (or authenticates what it is given
    /// itself, like forward auth).
    Anonymous,
    /// A key or a session.
    Any,
    /// A person's login session only.
    SessionOnly,
    /// A key only (forward auth, which checks the key it is forwarded).
    KeyOnly,
    /// A session, or a key that carries `*` or may use `org:write`.
    KeyManagers,
}

/// Whom a scope binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binds {
    /// Every credential: a key must carry it, and the caller's role must
    /// allow it (a session carries every scope).
    Everyone,
    /// Keys only: a session passes whatever its role.
    KeysOnly,
}

/// A scope part: the requirement, whom it binds, and a scope that also
/// satisfies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScopePart {
    scope: Requirement,
    binds: Binds,
    or: Option<Requirement>,
}

/// Who may call an operation (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthCheck {
    credentials: Credentials,
    /// The admin role, and the refusal's message.
    admin: Option<&'static str>,
    scope: Option<ScopePart>,
}

/// What [`AuthCheck::decide`] reads of a caller.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// A person's login session (else a key).
    pub session: bool,
    /// The role in force.
    pub role: Role,
    /// What the credential carries (`*` for a session).
    pub scopes: &'a ScopeSet,
}

/// Why a caller is refused; [`ApiError`] is its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 403 `forbidden`: the operation needs a login session.
    NeedsSession,
    /// 401 `unauthorized`: the operation takes keys only.
    NeedsKey,
    /// 403 `forbidden`: the operation needs the admin role.
    NeedsAdmin(&'static str),
    /// 403 `insufficient_scope`: the credential lacks the scope.
    LacksScope(Requirement),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NeedsSession => Self::forbidden("this action needs a login session, not an API key"),
            Refusal::NeedsKey => Self::unauthorized(),
            Refusal::NeedsAdmin(message) => Self::forbidden(message),
            Refusal::LacksScope((resource, action)) => {
                Self::insufficient_scope(format!("this credential lacks the `{resource}:{action}` scope"))
            }
        }
    }
}

/// The default message of a refused admin check.
const NEEDS_ADMIN: &str = "this action needs the admin role";

impl AuthCheck {
    const fn new(credentials: Credentials) -> Self {
        Self { credentials, admin: None, scope: None }
    }

    /// A public route: no credential (documentation only; nothing to check).
    pub const fn public() -> Self {
        Self::new(Credentials::Anonymous)
    }

    /// Any valid credential: a key or a session.
    pub const fn any() -> Self {
        Self::new(Credentials::Any)
    }

    /// A person's login session; a key is refused with 403 `forbidden`.
    pub const fn session_only() -> Self {
        Self::new(Credentials::SessionOnly)
    }

    /// An API key only: forward auth checks the key the proxy forwards
    /// (with the scope the request or the route map names), and a session
    /// token is no key (401).
    pub const fn key_only() -> Self {
        Self::new(Credentials::KeyOnly)
    }

    /// Managing API keys: a person's session (a member manages their own
    /// keys, an admin every key), a key that carries `*` (a member's full
    /// access, as a Runloop `ak_` key is), or a key that may use
    /// `org:write` (Runloop: ACCOUNT WRITE). Others: 403
    /// `insufficient_scope` naming `org:write`.
    pub const fn key_managers() -> Self {
        Self::new(Credentials::KeyManagers)
    }

    /// Also the admin role (403 `forbidden`, [`NEEDS_ADMIN`]).
    #[must_use]
    pub const fn admin(self) -> Self {
        self.admin_because(NEEDS_ADMIN)
    }

    /// Also the admin role, refused with `message`.
    #[must_use]
    pub const fn admin_because(mut self, message: &'static str) -> Self {
        self.admin = Some(message);
        self
    }

    /// Also `scope`, carried by the credential and allowed by the role.
    #[must_use]
    pub const fn scope(mut self, scope: Requirement) -> Self {
        self.scope = Some(ScopePart { scope, binds: Binds::Everyone, or: None });
        self
    }

    /// Also `scope` for keys (carried, and allowed by the owner's role); a
    /// session passes.
    #[must_use]
    pub const fn key_scope(mut self, scope: Requirement) -> Self {
        self.scope = Some(ScopePart { scope, binds: Binds::KeysOnly, or: None });
        self
    }

    /// The scope part is also met by `alternative` (a service key's
    /// `secret:resolve` in place of `secret:read`). Without a scope part,
    /// nothing changes.
    #[must_use]
    pub const fn or_scope(mut self, alternative: Requirement) -> Self {
        if let Some(part) = &mut self.scope {
            part.or = Some(alternative);
        }
        self
    }

    /// The decision for `caller`, in the role it acts with.
    ///
    /// # Errors
    /// The refusal's answer, 403 `forbidden` or `insufficient_scope`.
    #[inline]
    pub fn check(&self, caller: &Caller) -> Result<(), ApiError> {
        self.check_as(caller, caller.role)
    }

    /// [`AuthCheck::check`] with `role` in place of the caller's (its role
    /// in the organization a request names: `PATCH /v1/orgs/{id}`).
    ///
    /// # Errors
    /// The refusal's answer, 403 `forbidden` or `insufficient_scope`.
    #[inline]
    pub fn check_as(&self, caller: &Caller, role: Role) -> Result<(), ApiError> {
        let facts =
            Facts { session: matches!(caller.credential, Credential::Session(_)), role, scopes: caller.scopes() };
        self.decide(&facts).map_err(ApiError::from)
    }

    /// [`AuthCheck::check`], then the caller's session (an operation that
    /// acts on the session itself: logout, switching organizations).
    ///
    /// # Errors
    /// The refusal's answer; 403 `forbidden` for a key.
    pub fn check_session<'c>(&self, caller: &'c Caller) -> Result<&'c Session, ApiError> {
        self.check(caller)?;
        match &caller.credential {
            Credential::Session(s) => Ok(s),
            Credential::Key(_) => Err(Refusal::NeedsSession.into()),
        }
    }

    /// Whether `caller` passes (for a choice rather than a refusal).
    pub fn allows(&self, caller: &Caller) -> bool {
        self.check(caller).is_ok()
    }

    /// The pure decision: `Ok` or the first part that refuses `facts`.
    ///
    /// # Errors
    /// The [`Refusal`].
    pub fn decide(&self, facts: &Facts<'_>) -> Result<(), Refusal> {
        let may = |(resource, action): Requirement| {
            let scope = ScopeRef::Action(resource, action);
            facts.scopes.allows_ref(scope) && facts.role.allows_ref(scope)
        };
        match self.credentials {
            Credentials::SessionOnly if !facts.session => return Err(Refusal::NeedsSession),
            Credentials::KeyOnly if facts.session => return Err(Refusal::NeedsKey),
            Credentials::KeyManagers if !facts.session && !facts.scopes.allows(&Scope::All) && !may(ORG_WRITE) => {
                return Err(Refusal::LacksScope(ORG_WRITE));
            }
            _ => {}
        }
        if let Some(message) = self.admin
            && facts.role != Role::Admin
        {
            return Err(Refusal::NeedsAdmin(message));
        }
        if let Some(part) = self.scope {
            let exempt = part.binds == Binds::KeysOnly && facts.session;
            if !exempt && !may(part.scope) && !part.or.is_some_and(may) {
                return Err(Refusal::LacksScope(part.scope));
            }
        }
        Ok(())
    }

    /// `x-latchkey-callers`: who may call. `["anonymous"]` (public),
    /// `["session"]`, `["key"]`, `["admin"]` (an admin's key or session),
    /// or `["key", "session"]` (any member's).
    pub fn callers(&self) -> &'static [&'static str] {
        match (self.credentials, self.admin) {
            (Credentials::Anonymous, _) => &["anonymous"],
            (Credentials::SessionOnly, None) => &["session"],
            (Credentials::SessionOnly, Some(_)) => &["admin-session"],
            (Credentials::KeyOnly, None) => &["key"],
            (Credentials::KeyOnly, Some(_)) => &["admin-key"],
            (Credentials::Any | Credentials::KeyManagers, Some(_)) => &["admin"],
            (Credentials::Any | Credentials::KeyManagers, None) => &["key", "session"],
        }
    }

    /// `x-latchkey-scope`: the scope a key needs (`org:write` for key
    /// management), or `None`.
    pub fn scope_text(&self) -> Option<String> {
        let scope = match (self.credentials, self.scope) {
            (_, Some(part)) => part.scope,
            (Credentials::KeyManagers, None) => ORG_WRITE,
            _ => return None,
        };
        Some(format!("{}:{}", scope.0, scope.1))
    }

    /// Whether a session must also have a role that allows the scope
    /// (`false`: only keys need it).
    pub fn scope_binds_sessions(&self) -> bool {
        self.scope.is_some_and(|p| p.binds == Binds::Everyone)
    }
}

/// The three extensions of the document, as one object (what
/// [`AUTH_EXTENSION`] holds).
impl Serialize for AuthCheck {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry(CALLERS, self.callers())?;
        map.serialize_entry(SCOPE, &self.scope_text())?;
        map.serialize_entry(SCOPE_BINDS_SESSIONS, &self.scope_binds_sessions())?;
        map.end()
    }
}

#[cfg(test)]
mod tests;
