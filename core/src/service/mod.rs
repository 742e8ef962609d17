//! The service: [`ChatDesk`] owns a storage and runs every operation, each one
//! atomic storage transaction.

pub use directory::{Directory, MemoryDirectory};
pub use estimate::{WaitBasis, WaitEstimate};
pub use events::{ChatEvent, ChatEventKind, EventMessage};
pub use feed::MAX_EVENTS_PER_READ;
pub use hook::{HookDecision, MessageDraft, MessageHook};
pub use integrity::IntegrityReport;
pub use messages::{MAX_MESSAGES_PER_FETCH, TranscriptFormat, Typing};
pub use queries::SessionQuery;
pub use report::{
    AgentReportRow, DeskReport, DeskReportRequest, DurationFigures, REPORT_ALERT_LEVELS,
    ReportBucket, ReportFigures, TopicReportRow,
};
pub use routing::{AgentVerdict, RoutingChange, RoutingExplanation, RoutingVerdict};
pub use sweeps::{AlertChange, IdleClose, SWEEP_BATCH};
#[cfg(any(test, feature = "testkit"))]
pub(crate) use trace::{OpSpan as TraceGuard, again as trace_again};

use crate::caller::{Caller, CallerKind};
use crate::clock::Clock;
use crate::error::Result;
use crate::ids::{SessionId, UserId};
use crate::storage::{ReadTx, Storage};
use std::sync::Arc;
use std::time::Duration;

/// Limits and windows of the time-driven rules (see
/// [`crate::guide::time_and_sweeps`]). Durations are counted in whole
/// seconds; anything finer is ignored.
///
/// ```
/// use chatdesk::Config;
/// use std::time::Duration;
/// let config = Config { idle_limit: Duration::from_secs(10 * 60), ..Config::default() };
/// # let _ = config;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// An active session idle this long is closed by the idle sweep (default 30 min).
    pub idle_limit: Duration,
    /// An open session whose customer has not been seen this long is closed by
    /// the idle sweep (default 3 min; zero = off).
    pub dead_customer: Duration,
    /// How long after it ended a customer may reopen a session (default 15 min).
    pub reopen_window: Duration,
    /// Deleted sessions deleted longer ago than this are removed by purge (default 24 h).
    pub purge_after: Duration,
    /// Typing state expires after this long (default 10 s).
    pub typing_expiry: Duration,
    /// A customer's fetch writes WhenFetched only when the stored value is
    /// older than this (default 5 s), so polling is not a write per poll.
    pub fetch_write_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_limit: Duration::from_secs(30 * 60),
            dead_customer: Duration::from_secs(3 * 60),
            reopen_window: Duration::from_secs(15 * 60),
            purge_after: Duration::from_secs(24 * 3600),
            typing_expiry: Duration::from_secs(10),
            fetch_write_interval: Duration::from_secs(5),
        }
    }
}

/// Whole seconds of `d`, saturating at `i64::MAX`.
pub(crate) fn whole_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The chat service over a storage `S`. Cheap to share behind an `Arc`; every
/// method is blocking and thread-safe.
#[derive(Debug)]
pub struct ChatDesk<S: Storage> {
    storage: S,
    clock: Arc<dyn Clock>,
    config: Config,
    directory: Arc<dyn Directory>,
    typing: typing::TypingBoard,
    props: build::PropsCache,
    hook: hook::HookSlot,
    reentry: txn::Reentry,
    /// The last list of Auto topics read, parsed (checked against the store
    /// on every use).
    auto_cache: txn::AutoCache,
    feed_signal: Arc<txn::FeedSignal>,
    /// What this process last saw of the facts that choose a write's locks.
    scope_hints: scope::Hints,
    /// Each topic's recent service as last measured for a wait estimate.
    service_cache: estimate::ServiceCache,
}

// rustdoc lists `ChatDesk`'s methods in the order of these modules:
// constructors first, then one block per concern.
mod setup;
mod sessions;
mod save;
mod queries;
mod queue;
mod lifecycle;
mod messages;
mod topics;
mod members;
mod presence;
mod routing;
mod sweeps;
mod feed;
mod integrity;
mod report;
mod estimate;

mod build;
mod directory;
mod events;
mod hook;
mod keys;
mod topic_rules;
mod scope;
mod trace;
mod txn;
mod typing;

/// Who the caller is, with a customer's key resolved to their session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    System,
    Agent(UserId),
    /// A customer whose key matches this session (None: no session has it).
    Customer(Option<SessionId>),
    Anonymous,
}

impl Who {
    pub(crate) fn resolve(tx: &dyn ReadTx, caller: &Caller) -> Result<Who> {
        Ok(match &caller.kind {
            CallerKind::System => Who::System,
            CallerKind::Agent(u) => Who::Agent(*u),
            CallerKind::Anonymous => Who::Anonymous,
            CallerKind::Customer(key) => {
                Who::Customer(tx.session_by_key(&keys::hash_key(key.as_str()))?)
            }
        })
    }
}
