use thiserror::Error;

/// What went wrong in a database call, sorted by what the caller should do about it.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the message names the value.
    #[error("{0}")]
    Conflict(String),
    /// The request refers to something that does not exist (a user id that is not a user).
    #[error("{0}")]
    Invalid(String),
    /// The database cannot be reached right now; nothing was written.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row holds a value this version does not understand.
    #[error("unexpected value in column {column}: {value}")]
    Corrupt { column: &'static str, value: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err),
            sqlx::Error::Database(db) => {
                // PostgreSQL class 08 is "connection exception", 57P0x the server shutting down.
                let code = db.code().unwrap_or_default();
                if code.starts_with("08") || code.starts_with("57P0") {
                    StoreError::Unavailable(err)
                } else if db.is_unique_violation() {
                    StoreError::Conflict("already exists".into())
                } else {
                    StoreError::Database(err)
                }
            }
            _ => StoreError::Database(err),
        }
    }
}

impl StoreError {
    /// Turn a uniqueness violation into a conflict with a message a person can act on.
    pub(crate) fn conflict_as(self, message: impl Into<String>) -> Self {
        match self {
            StoreError::Conflict(_) => StoreError::Conflict(message.into()),
            other => other,
        }
    }
}

/// Parse a text column into one of the wire enums.
pub(crate) fn parse_column<T: std::str::FromStr>(
    column: &'static str,
    value: String,
) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt { column, value })
}
