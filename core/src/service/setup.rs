//! Building a [`ChatDesk`]: its store, clock, configuration, directory and
//! message hook.

use super::{ChatDesk, Config, Directory, MemoryDirectory, MessageHook, build, hook, txn, typing};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::storage::Storage;
use std::sync::Arc;

/// # Constructors and settings
///
/// A desk over a store, with the clock, configuration, directory and message
/// hook it runs with.
impl<S: Storage> ChatDesk<S> {
    /// A service over `storage` with the system clock, the default
    /// configuration and an empty [`MemoryDirectory`].
    pub fn new(storage: S) -> Self {
        let feed_signal = Arc::new(txn::FeedSignal::default());
        // Commits of other processes wake this service's waiters where the
        // backend hears of them; a weak link, so the store keeps no dead
        // service alive.
        let weak = Arc::downgrade(&feed_signal);
        storage.on_foreign_commit(Arc::new(move || match weak.upgrade() {
            Some(signal) => {
                signal.bump();
                true
            }
            None => false,
        }));
        ChatDesk {
            storage,
            clock: Arc::new(SystemClock),
            config: Config::default(),
            directory: Arc::new(MemoryDirectory::new()),
            typing: typing::TypingBoard::default(),
            props: build::PropsCache::default(),
            hook: hook::HookSlot::default(),
            reentry: txn::Reentry::default(),
            auto_cache: txn::AutoCache::default(),
            feed_signal,
            scope_hints: super::scope::Hints::default(),
            service_cache: super::estimate::ServiceCache::default(),
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
