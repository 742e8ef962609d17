//! How PostgreSQL client errors become chatdesk errors (crate-private).

use chatdesk::{Error, StorageError};
use std::fmt;

/// The backend name used in [`StorageError`]s.
pub(crate) const BACKEND: &str = "postgres";

/// Maps an error met while doing `context`:
/// - lock timeout (55P03), serialization failure (40001), deadlock (40P01),
///   a cancelled statement (57014) or too many connections (53300) →
///   [`Error::Conflict`] (retryable: nothing was written);
/// - data corruption (XX001, XX002) → [`Error::Corrupt`];
/// - anything else (a lost connection, class 08, a server failure) →
///   [`Error::Storage`] with the client's error kept as the source.
pub(crate) fn pg_err(context: impl Into<String>, e: postgres::Error) -> Error {
    let context = context.into();
    let code = e.code().map(|c| c.code().to_owned());
    match code.as_deref() {
        Some("55P03") => Error::conflict(format!(
            "another writer held a lock past the busy timeout while {context}; retry"
        )),
        Some("40001" | "40P01") => Error::conflict(format!(
            "PostgreSQL chose this transaction to give way to another while {context} ({e}); retry"
        )),
        Some("57014" | "53300") => Error::conflict(format!(
            "PostgreSQL did not serve the request in time while {context} ({e}); retry"
        )),
        Some("XX001" | "XX002") => Error::corrupt(format!(
            "PostgreSQL reports damaged data while {context}: {e}"
        )),
        _ => Error::Storage(StorageError::new(BACKEND, context, e)),
    }
}

/// A [`Error::Storage`] without a client error behind it.
pub(crate) fn storage_msg(context: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::Storage(StorageError::new(BACKEND, context, msg.into()))
}

/// An [`Error::Corrupt`] naming the table, column and row.
pub(crate) fn corrupt(
    table: &str,
    column: &str,
    key: impl fmt::Display,
    why: impl fmt::Display,
) -> Error {
    Error::corrupt(format!("{table}.{column} of the row with {key}: {why}"))
}
