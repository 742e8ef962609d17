//! How rusqlite errors become chatdesk errors (crate-private).

use chatdesk::{Error, StorageError};
use rusqlite::ErrorCode;
use std::fmt;

/// The backend name used in [`StorageError`]s.
pub(crate) const BACKEND: &str = "sqlite";

/// Whether `e` is SQLite saying another connection holds the lock (past the
/// busy timeout).
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Whether `e` is SQLite saying the file is damaged: a page that does not
/// parse (`SQLITE_CORRUPT`, with any extended code) or a file whose header
/// no longer says SQLite (`SQLITE_NOTADB`, once the store was open).
pub(crate) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Maps a rusqlite error met while doing `context`: BUSY/LOCKED (the busy
/// timeout ran out) → [`Error::Conflict`], a damaged file →
/// [`Error::Corrupt`], anything else → [`Error::Storage`] with the rusqlite
/// error kept as the source.
pub(crate) fn sql_err(context: impl Into<String>, e: rusqlite::Error) -> Error {
    let context = context.into();
    if is_busy(&e) {
        Error::conflict(format!(
            "the SQLite store stayed locked by another connection past the busy timeout while {context}; retry"
        ))
    } else if is_damage(&e) {
        Error::corrupt(format!(
            "SQLite found the file damaged while {context} ({e}); restore it from a backup"
        ))
    } else {
        Error::Storage(StorageError::new(BACKEND, context, e))
    }
}

/// A [`Error::Storage`] without a rusqlite error behind it.
pub(crate) fn storage_msg(context: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::Storage(StorageError::new(BACKEND, context, msg.into()))
}

/// Which row a decoding error is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowKey<'a> {
    /// A row with an integer id.
    Id(i64),
    /// A row keyed by two integers, with their names.
    Pair(&'static str, i64, &'static str, i64),
    /// A row keyed by text.
    Text(&'a str),
}

impl fmt::Display for RowKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowKey::Id(id) => write!(f, "id {id}"),
            RowKey::Pair(a, x, b, y) => write!(f, "{a} {x}, {b} {y}"),
            RowKey::Text(t) => write!(f, "key {t:?}"),
        }
    }
}

/// A column value that cannot be decoded → [`Error::Corrupt`] naming the
/// table, column and row; other rusqlite errors are mapped by [`sql_err`].
pub(crate) fn decode_err(
    table: &'static str,
    column: &'static str,
    key: RowKey<'_>,
    e: rusqlite::Error,
) -> Error {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => corrupt(table, column, key, e),
        other => sql_err(format!("reading {table}.{column} ({key})"), other),
    }
}

/// An [`Error::Corrupt`] naming the table, column and row.
pub(crate) fn corrupt(
    table: &'static str,
    column: &'static str,
    key: RowKey<'_>,
    why: impl fmt::Display,
) -> Error {
    Error::corrupt(format!("{table}.{column} of the row with {key}: {why}"))
}
