//! Storage errors. Adapters map their driver's errors into these; the server
//! maps these to HTTP (not found → 404, conflict → 409, unavailable → 503).

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule or a precondition was violated.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The database cannot be reached or is overloaded (pool timeout, I/O).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A stored value could not be understood.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database holds a migration this binary does not know: a newer
    /// latchkey migrated it.
    #[error(
        "the database was migrated by a newer latchkey (migration {version}; this binary knows migrations up to \
         {known}): run that version or a later one, or restore a backup taken before the upgrade"
    )]
    NewerSchema {
        /// The first unknown migration.
        version: i64,
        /// The last migration this binary knows.
        known: i64,
    },
    /// An operator command refused to act (a non-empty target database, a
    /// schema that differs between the two sides of a copy); the sentence
    /// says why.
    #[error("{0}")]
    Refused(String),
}

/// Why a change was refused. Its `Display` is the sentence a client or an
/// operator is shown, the same on every backend; the database's own message
/// (which names tables, constraints and the driver) goes to the log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Another record already has this value.
    #[error("{what}")]
    Unique {
        /// What the rule keeps unique.
        what: Unique,
    },
    /// The change would leave the organization without an admin.
    #[error("an organization needs an admin: promote another member first")]
    LastAdmin,
    /// Removing the only way a person can sign in (an account without a
    /// password and with one identity).
    #[error("this is the account's only way to sign in: set a password or link another identity first")]
    LastSignInMethod,
    /// A project that active (unrevoked) keys still belong to.
    #[error("project has {active_keys} active API key(s); revoke or delete them first")]
    InUse {
        /// How many.
        active_keys: u64,
    },
    /// A project that workspaces still belong to.
    #[error("project has {workspaces} workspace(s); delete them or move them to another project first")]
    ProjectHasWorkspaces {
        /// How many.
        workspaces: u64,
    },
    /// A workspace named a project that is not (or no longer) one of its
    /// organization's.
    #[error("no such project in this organization")]
    NoSuchProject,
    /// A personal workspace for someone who is not (or no longer) a member
    /// of the organization.
    #[error("a personal workspace belongs to a member of the organization")]
    NotAMember,
    /// `bootstrap` on a database that has an organization already.
    #[error("already initialized (organization `{org_name}` exists)")]
    AlreadyInitialized {
        /// The organization found.
        org_name: String,
    },
    /// A data key was re-wrapped or added by someone else during a re-wrap.
    #[error("the data key of {org_id} changed during the re-wrap; nothing was changed")]
    Changed {
        /// Its organization.
        org_id: latchkey_core::id::OrgId,
    },
}

/// What a unique rule keeps from being stored twice: declared by the
/// statement that may break it (`Query::on_unique`), never read from the
/// database's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unique {
    /// An organization's slug.
    #[error("an organization with this slug already exists")]
    OrgSlug,
    /// A user's email.
    #[error("an account with this email already exists")]
    UserEmail,
    /// An SSH key's fingerprint, in its scope (the owner's, or
    /// organization-wide).
    #[error("an SSH key with this fingerprint already exists")]
    SshKeyFingerprint,
    /// A secret's name, in its scope.
    #[error("a secret with this name already exists")]
    SecretName,
    /// An identity at an identity provider (issuer and subject).
    #[error("this identity is linked to an account already")]
    Identity,
    /// A workspace's name, among the organization's workspaces or among
    /// one member's personal ones.
    #[error("a workspace with this name already exists")]
    WorkspaceName,
    /// A rule the statement did not expect to break.
    #[error("this conflicts with an existing record")]
    Other,
}

impl StoreError {
    /// `e` as a store error, where a unique violation means `what` (`None`:
    /// the statement expected none). The database's message is logged, in
    /// the caller's span (a request's carries its id).
    pub(crate) fn from_query(e: sqlx::Error, what: Option<Unique>) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => {
                Self::Unavailable(e)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                match what {
                    Some(what) => tracing::debug!(error = %db, ?what, "unique violation"),
                    None => tracing::warn!(error = %db, "unexpected unique violation"),
                }
                Self::Conflict(Conflict::Unique { what: what.unwrap_or(Unique::Other) })
            }
            // PostgreSQL: connection exception (08…), insufficient resources
            // (53…), operator intervention such as a shutdown or restart
            // (57…), and what a new connection meets when the database is
            // closed to connections (55000 "not currently accepting
            // connections"), gone (3D000) or refuses the credentials (28…).
            sqlx::Error::Database(db) if db.code().is_some_and(|c| unavailable_code(&c)) => Self::Unavailable(e),
            _ => Self::Database(e),
        }
    }
}

/// Whether a PostgreSQL error code means the database cannot be used now
/// (retry later: 503), not that the statement is wrong.
fn unavailable_code(code: &str) -> bool {
    ["08", "53", "57", "28"].iter().any(|class| code.starts_with(class)) || code == "55000" || code == "3D000"
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::from_query(e, None)
    }
}

impl From<Conflict> for StoreError {
    fn from(c: Conflict) -> Self {
        Self::Conflict(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_trouble_is_unavailable_and_statement_errors_are_not() {
        for code in ["08006", "53300", "57P01", "57P03", "55000", "3D000", "28P01"] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["23505", "42601", "22P02", "40001", "55P03"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }

    #[test]
    fn conflicts_read_as_fixed_sentences() {
        let cases = [
            (Conflict::Unique { what: Unique::OrgSlug }, "an organization with this slug already exists"),
            (Conflict::Unique { what: Unique::UserEmail }, "an account with this email already exists"),
            (Conflict::Unique { what: Unique::SshKeyFingerprint }, "an SSH key with this fingerprint already exists"),
            (Conflict::Unique { what: Unique::SecretName }, "a secret with this name already exists"),
            (Conflict::Unique { what: Unique::Identity }, "this identity is linked to an account already"),
            (Conflict::Unique { what: Unique::WorkspaceName }, "a workspace with this name already exists"),
            (Conflict::Unique { what: Unique::Other }, "this conflicts with an existing record"),
            (
                Conflict::LastSignInMethod,
                "this is the account's only way to sign in: set a password or link another identity first",
            ),
            (Conflict::LastAdmin, "an organization needs an admin: promote another member first"),
            (Conflict::InUse { active_keys: 2 }, "project has 2 active API key(s); revoke or delete them first"),
            (
                Conflict::ProjectHasWorkspaces { workspaces: 3 },
                "project has 3 workspace(s); delete them or move them to another project first",
            ),
            (Conflict::NoSuchProject, "no such project in this organization"),
            (Conflict::NotAMember, "a personal workspace belongs to a member of the organization"),
            (
                Conflict::AlreadyInitialized { org_name: "Acme".into() },
                "already initialized (organization `Acme` exists)",
            ),
            (
                Conflict::Changed { org_id: "org_1".into() },
                "the data key of org_1 changed during the re-wrap; nothing was changed",
            ),
        ];
        for (conflict, sentence) in cases {
            assert_eq!(conflict.to_string(), sentence);
            assert_eq!(StoreError::from(conflict).to_string(), format!("conflict: {sentence}"));
        }
    }
}
