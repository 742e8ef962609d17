//! The one error type of chatdesk.

use crate::wire::ChatSessionStatus;

/// Shorthand for `Result<T, chatdesk::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a chatdesk call can fail with. Match on the kind; the fields say
/// what was wrong. An operation checks in a fixed order (NotFound → Forbidden
/// → InvalidTransition → Validation → FieldRightDenied), so the first failing
/// check decides the kind; on any error nothing was written. Which kinds are
/// worth a retry: [`crate::guide::errors`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such record, or the caller may not see it (on purpose, no hint which).
    #[error("{what} {id} not found")]
    NotFound {
        /// The kind of record ("session", "topic", "membership", …).
        what: &'static str,
        /// The id or key that was asked for.
        id: String,
    },
    /// The caller's role may not run this operation at all.
    #[error("{op} is forbidden: {reason}")]
    Forbidden {
        /// The operation.
        op: &'static str,
        /// Why, in a short sentence.
        reason: String,
    },
    /// The session's state does not allow the operation now.
    #[error("{op} is not allowed: the session is {from:?}{detail}")]
    InvalidTransition {
        /// The operation.
        op: &'static str,
        /// The session's status.
        from: ChatSessionStatus,
        /// More about the state (e.g. "; no transfer is pending"), possibly empty.
        detail: String,
    },
    /// An argument or carrier field is wrong.
    #[error("invalid {field}: {reason}")]
    Validation {
        /// The field (carrier name) or argument.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A save changed a field the caller may not write.
    #[error("may not change {field}: {reason}")]
    FieldRightDenied {
        /// The first differing field, in carrier order.
        field: String,
        /// Why it may not be written.
        reason: String,
    },
    /// Retryable: the store was busy, the carrier was stale, or other records
    /// forbid the operation now.
    #[error("conflict: {reason}")]
    Conflict {
        /// What conflicted.
        reason: String,
    },
    /// A host hook refused the operation.
    #[error("rejected: {reason}")]
    Rejected {
        /// The hook's reason.
        reason: String,
    },
    /// The store was written by something else or by a newer chatdesk.
    #[error("incompatible store: found {found}, this build supports {supported}")]
    IncompatibleStore {
        /// What the store says it is.
        found: String,
        /// What this build can open.
        supported: String,
    },
    /// The store holds data that cannot be read.
    #[error("corrupt store: {what}")]
    Corrupt {
        /// What could not be read.
        what: String,
    },
    /// A backend shared over the network (PostgreSQL) lost its connection
    /// while committing and could not learn whether the commit happened. The
    /// operation either happened whole or not at all; a host must find out
    /// which (e.g. read the session) before trying again, never retry blindly.
    #[error("outcome unknown: {what}")]
    OutcomeUnknown {
        /// What was being committed, and why the outcome is unknown.
        what: String,
    },
    /// The backend failed (I/O, SQLite, sled); the source is kept.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Error {
    /// A [`Error::Validation`] for `field`.
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A [`Error::NotFound`] for a record kind and id.
    pub fn not_found(what: &'static str, id: impl std::fmt::Display) -> Self {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// A [`Error::Forbidden`] for an operation.
    pub fn forbidden(op: &'static str, reason: impl Into<String>) -> Self {
        Error::Forbidden {
            op,
            reason: reason.into(),
        }
    }

    /// A [`Error::InvalidTransition`] for an operation on a session in `from`.
    pub fn invalid_transition(op: &'static str, from: ChatSessionStatus) -> Self {
        Error::InvalidTransition {
            op,
            from,
            detail: String::new(),
        }
    }

    /// A [`Error::Conflict`] with a reason.
    pub fn conflict(reason: impl Into<String>) -> Self {
        Error::Conflict {
            reason: reason.into(),
        }
    }

    /// A [`Error::Corrupt`] naming what could not be read.
    pub fn corrupt(what: impl Into<String>) -> Self {
        Error::Corrupt { what: what.into() }
    }
}

/// A backend failure, with the backend's own error kept as the source so that
/// nothing is stringified away and no backend type leaks into the API.
#[derive(Debug, thiserror::Error)]
#[error("{backend} storage error while {context}: {source}")]
pub struct StorageError {
    /// "memory", "sqlite" or "sled".
    pub backend: &'static str,
    /// What the backend was doing.
    pub context: String,
    /// The backend's error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl StorageError {
    /// Wraps a backend error.
    pub fn new(
        backend: &'static str,
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        StorageError {
            backend,
            context: context.into(),
            source: source.into(),
        }
    }
}
