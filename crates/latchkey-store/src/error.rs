//! Storage errors. Adapters map their driver's errors into these; the server
//! maps these to HTTP (not found → 404, conflict → 409, unavailable → 503).

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule or a precondition was violated.
    #[error("conflict: {0}")]
    Conflict(String),
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
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => {
                Self::Unavailable(e)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(db.message().to_owned()),
            // PostgreSQL: connection exception (08…), insufficient resources
            // (53…), operator intervention such as a shutdown or restart (57…).
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("53") || c.starts_with("57")) =>
            {
                Self::Unavailable(e)
            }
            _ => Self::Database(e),
        }
    }
}
