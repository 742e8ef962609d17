//! What the service tells a `tracing` subscriber: one span per public
//! operation and a few events (sweeps, failures worth a look, damaged rows
//! skipped). Fields are ids, counts and fixed words only: never a session
//! key, a message text or anything a customer typed, so a host may ship
//! them to any log store. With no subscriber installed each costs one
//! check of a static level filter (measured: see the README).

use crate::caller::{Caller, CallerKind};
use crate::error::{Error, Result};
use crate::ids::{SessionId, TopicId, UserId};
use tracing::field::Empty;
use tracing::span::EnteredSpan;

/// The target of every span and event, so a host can filter on `chatdesk`.
pub(crate) const TARGET: &str = "chatdesk";

/// The span of one operation, entered until it is dropped.
#[derive(Debug)]
#[must_use = "the span ends when this is dropped"]
pub(crate) struct OpSpan(EnteredSpan);

/// The caller's kind as a fixed word (a customer's key stays out).
fn kind_of(caller: &Caller) -> &'static str {
    match caller.kind {
        CallerKind::System => "system",
        CallerKind::Agent(_) => "agent",
        CallerKind::Customer(_) => "customer",
        CallerKind::Anonymous => "anonymous",
    }
}

/// Opens and enters the span of operation `op` for `caller`: fields `op`,
/// `caller` (its kind), `agent` (an agent caller's user id), and `session`,
/// `topic`, `user` when the operation names one ([`OpSpan::session`] …).
pub(crate) fn op(op: &'static str, caller: &Caller) -> OpSpan {
    let span = tracing::info_span!(
        target: TARGET,
        "operation",
        op,
        caller = kind_of(caller),
        agent = Empty,
        session = Empty,
        topic = Empty,
        user = Empty,
    );
    if let CallerKind::Agent(u) = caller.kind
        && !span.is_disabled()
    {
        span.record("agent", u.0);
    }
    OpSpan(span.entered())
}

impl OpSpan {
    /// Names the session the operation works on.
    pub(crate) fn session(self, id: SessionId) -> Self {
        self.0.record("session", id.0);
        self
    }

    /// Names the topic the operation works on.
    pub(crate) fn topic(self, id: TopicId) -> Self {
        self.0.record("topic", id.0);
        self
    }

    /// Names the user (agent) the operation is about, when known.
    pub(crate) fn user(self, id: impl Into<Option<UserId>>) -> Self {
        if let Some(id) = id.into() {
            self.0.record("user", id.0);
        }
        self
    }
}

/// Reports a failed transaction worth a host's attention, inside the
/// operation's span: Conflict (retryable: the store was busy or something
/// changed under the caller), an unknown outcome, damage, a backend failure.
/// The caller's own mistakes (NotFound, Forbidden, Validation …) are
/// answers, not incidents, and are not reported. Only the kind and, for a
/// Conflict, its reason (our own fixed wording) are given.
pub(crate) fn outcome<R>(out: &Result<R>) {
    let Err(e) = out else { return };
    match e {
        Error::Conflict { reason } => {
            tracing::warn!(target: TARGET, error = "conflict", reason = reason.as_str(), "operation failed; retryable");
        }
        Error::OutcomeUnknown { .. } => {
            tracing::warn!(target: TARGET, error = "outcome_unknown", "commit outcome unknown");
        }
        Error::Corrupt { .. } => {
            tracing::error!(target: TARGET, error = "corrupt", "stored data does not decode");
        }
        Error::Storage(_) => {
            tracing::error!(target: TARGET, error = "storage", "the backend failed");
        }
        _ => {}
    }
}

/// Reports a session left out because its stored record does not decode,
/// by id only (what the damage is may quote stored bytes).
pub(crate) fn skipped_damaged(id: SessionId, during: &'static str) {
    tracing::warn!(
        target: TARGET,
        session = id.0,
        during,
        "skipped a session whose stored record does not decode"
    );
}

/// Reports what a sweep (or another batch job: purge, pruning the feed)
/// did: how many sessions or events it changed or removed.
pub(crate) fn swept(sweep: &'static str, changed: usize) {
    tracing::info!(target: TARGET, sweep, changed, "sweep done");
}

/// Test and benchmark support: the same span a public operation opens, and
/// the same checks its events make, so that measuring an operation with
/// this around it next to the operation alone bounds what tracing costs it.
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn again(op_name: &'static str, caller: &Caller, session: Option<SessionId>) -> OpSpan {
    let span = op(op_name, caller);
    let span = match session {
        Some(id) => span.session(id),
        None => span,
    };
    outcome::<()>(&Ok(()));
    swept(op_name, 0);
    span
}
