//! The service: [`ChatDesk`] owns a storage and runs every operation of SPEC
//! §9, each one atomic storage transaction.

mod build;
mod directory;
mod events;
mod feed;
mod hook;
mod keys;
mod lifecycle;
mod members;
mod messages;
mod presence;
mod queries;
mod save;
mod sessions;
mod sweeps;
mod topic_rules;
mod topics;
mod txn;
mod typing;

pub use directory::{Directory, MemoryDirectory};
pub use events::{ChatEvent, ChatEventKind, EventMessage};
pub use feed::MAX_EVENTS_PER_READ;
pub use hook::{HookDecision, MessageDraft, MessageHook};
pub use messages::{MAX_MESSAGES_PER_FETCH, TranscriptFormat, Typing};
pub use queries::SessionQuery;
pub use sweeps::{AlertChange, IdleClose, SWEEP_BATCH};

use crate::caller::{Caller, CallerKind};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::error::Result;
use crate::ids::{SessionId, UserId};
use crate::storage::{ReadTx, Storage};
use std::sync::Arc;

/// Limits and windows of the time-driven rules (SPEC §3). All in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// An active session idle this long is closed by the idle sweep (default 30 min).
    pub idle_limit_secs: i64,
    /// An open session whose customer has not been seen this long is closed by
    /// the idle sweep (default 3 min; 0 = off).
    pub dead_customer_secs: i64,
    /// How long after WhenEnded a customer may reopen (default 15 min).
    pub reopen_window_secs: i64,
    /// Deleted sessions older than this are removed by purge (default 24 h).
    pub purge_after_secs: i64,
    /// Typing state expires after this long (default 10 s).
    pub typing_expiry_secs: i64,
    /// A customer's fetch writes WhenFetched only when the stored value is
    /// older than this (default 5 s), so polling is not a write per poll.
    pub fetch_write_interval_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_limit_secs: 30 * 60,
            dead_customer_secs: 3 * 60,
            reopen_window_secs: 15 * 60,
            purge_after_secs: 24 * 3600,
            typing_expiry_secs: 10,
            fetch_write_interval_secs: 5,
        }
    }
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
    feed_signal: txn::FeedSignal,
}

impl<S: Storage> ChatDesk<S> {
    /// A service over `storage` with the system clock, the default
    /// configuration and an empty [`MemoryDirectory`].
    pub fn new(storage: S) -> Self {
        ChatDesk {
            storage,
            clock: Arc::new(SystemClock),
            config: Config::default(),
            directory: Arc::new(MemoryDirectory::new()),
            typing: typing::TypingBoard::default(),
            props: build::PropsCache::default(),
            hook: hook::HookSlot::default(),
            reentry: txn::Reentry::default(),
            feed_signal: txn::FeedSignal::default(),
        }
    }

    /// The same service reading time from `clock` (tests use [`crate::ManualClock`]).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The same service with `config`.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The same service taking summaries from `directory`.
    pub fn with_directory(mut self, directory: Arc<dyn Directory>) -> Self {
        self.directory = directory;
        self
    }

    /// The same service with a before-save message hook (this instance only;
    /// it replaces an earlier one). The hook sees every new message inside
    /// the write transaction and may rewrite or refuse it; see
    /// [`MessageHook`] for why it must be quick and must not call back.
    pub fn with_message_hook(mut self, hook: impl MessageHook) -> Self {
        self.hook = hook::HookSlot(Some(Arc::new(hook)));
        self
    }

    /// The storage. Calls made on it directly bypass the service: no rules,
    /// no change-feed events, no hook.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Gives the storage back (e.g. to close it).
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The directory.
    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    /// Now, from the clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

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
