//! The transactional change feed: events written inside the transaction of
//! the change they describe, read by cursor, waited for in-process, pruned
//! only by the host.
//!
//! # The switch
//! The feed is off by default. [`ChatDesk::set_change_feed`] stores the
//! switch in the store itself and every write operation reads it inside its
//! own transaction, so every process and every service instance writing that
//! store writes events from the commit that switched it on: none is lost
//! because one process did not know. There is deliberately no per-process
//! [`Config`](super::Config) override: a process that skipped the feed while
//! the store has it on would leave holes that no cursor can notice. A host
//! that does not need the feed leaves it off (the default) and pays one
//! point read of the switch per operation.
//!
//! # Reading
//! [`ChatDesk::events_after`] returns the events after a cursor (the `seq`
//! of the last event the host handled; 0 at first), in order. Sequences grow
//! in commit order with no gaps, so a host that stores its cursor with the
//! work the events caused resumes after a restart or a crash with nothing
//! lost and nothing twice. Another process on the same SQLite file reads the
//! same feed by polling `events_after`. Events stay until the host prunes
//! them ([`ChatDesk::prune_events_before`],
//! [`ChatDesk::prune_events_older_than`]).
//!
//! # Waiting
//! [`ChatDesk::wait_for_events`] blocks until a commit of this service
//! instance adds events (or the timeout passes). Commits only bump a counter
//! and notify: a slow or absent waiter never holds an operation up. Writes of
//! other processes or of other `ChatDesk` instances do not wake it; poll with
//! a timeout for those.

use super::ChatDesk;
use super::events::{ChatEvent, ChatEventKind, Draft, EventMessage, changed_fields};
use super::scope::Scope;
use crate::caller::{Caller, CallerKind};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::IdKind;
use crate::model::{EventActor, MessageRecord, SessionRecord};
use crate::storage::{ReadTx, Storage, WriteTx};
use std::time::{Duration, Instant};

/// The most events one [`ChatDesk::events_after`] call returns.
pub const MAX_EVENTS_PER_READ: usize = 1000;

/// The metadata key of the stored switch ("on" / "off").
const FEED_KEY: &str = "change_feed";

/// How many events one pruning transaction removes at most.
const PRUNE_BATCH: usize = 1024;

/// What an operation did to one session: the kind of its event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Emit {
    kind: ChatEventKind,
    message: Option<EventMessage>,
}

impl Emit {
    /// A plain change (written only when a carrier field changed).
    pub(crate) fn changed() -> Self {
        Emit::kind(ChatEventKind::SessionChanged)
    }

    /// An event of `kind`.
    pub(crate) fn kind(kind: ChatEventKind) -> Self {
        Emit {
            kind,
            message: None,
        }
    }

    /// A message was added.
    pub(crate) fn message(m: &MessageRecord) -> Self {
        Emit {
            kind: ChatEventKind::MessageAdded,
            message: Some(EventMessage {
                id: m.id,
                message_type: m.kind,
                special_type: m.special,
            }),
        }
    }
}

/// Who the feed says caused what `caller` does.
pub(crate) fn actor_of(caller: &Caller) -> EventActor {
    match &caller.kind {
        CallerKind::System => EventActor::System,
        CallerKind::Agent(u) => EventActor::Agent(*u),
        CallerKind::Customer(_) | CallerKind::Anonymous => EventActor::Customer,
    }
}

/// Whether the store's feed switch is on.
pub(crate) fn feed_on(tx: &dyn ReadTx) -> Result<bool> {
    Ok(tx.meta(FEED_KEY)?.as_deref() == Some("on"))
}

/// Writes the event of one operation on one session, inside its transaction,
/// when the feed is on. A plain change with no changed carrier field writes
/// nothing.
pub(crate) fn record_event(
    tx: &mut dyn WriteTx,
    emit: Emit,
    at: Timestamp,
    actor: EventActor,
    before: Option<&SessionRecord>,
    after: &SessionRecord,
) -> Result<()> {
    if !feed_on(tx)? {
        return Ok(());
    }
    let changes = match (emit.kind, before) {
        (ChatEventKind::SessionPurged, _) | (_, None) => Vec::new(),
        (_, Some(b)) => changed_fields(b, after),
    };
    if emit.kind == ChatEventKind::SessionChanged && changes.is_empty() {
        return Ok(());
    }
    let id = new_uuid()?;
    let seq = tx.next_id(IdKind::Event)?;
    let record = Draft {
        kind: emit.kind,
        at,
        actor,
        before,
        after,
        changes,
        message: emit.message,
    }
    .into_record(seq, id)?;
    tx.put_event(&record)
}

/// A UUID v4 from the OS random source.
fn new_uuid() -> Result<[u8; 16]> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| {
        Error::Storage(crate::StorageError::new(
            "os",
            "drawing an event id from the OS random source",
            e.to_string(),
        ))
    })?;
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    Ok(b)
}

fn system_only(caller: &Caller, op: &'static str) -> Result<()> {
    if caller.is_system() {
        Ok(())
    } else {
        Err(Error::forbidden(
            op,
            "only System reads and manages the change feed",
        ))
    }
}

/// # Change feed
///
/// Every write's events, in commit order, for hosts that must react at once
/// (see [`crate::guide::change_feed`]).
impl<S: Storage> ChatDesk<S> {
    /// Switches the change feed on or off **in the store**: from the commit
    /// on, every write operation of every process and service instance on
    /// this store writes (or stops writing) events. Off by default. System
    /// only. Switch it on once, when the store is set up; how to read it is
    /// under [`Self::events_after`].
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, _topic, _anna) = chatdesk::doc_support::desk_with_agent()?;
    /// let host = Caller::system();
    /// desk.set_change_feed(&host, true)?;
    /// assert!(desk.change_feed_enabled(&host)?);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) for callers other than System;
    /// the backend's failure.
    pub fn set_change_feed(&self, caller: &Caller, on: bool) -> Result<()> {
        let _op = super::trace::op("set_change_feed", caller);
        system_only(caller, "set_change_feed")?;
        self.write(Scope::store(), |tx| {
            tx.put_meta(FEED_KEY, if on { "on" } else { "off" })
        })
    }

    /// Whether the store's change feed is on. System only.
    ///
    /// # Errors
    /// Forbidden for other callers; the backend's failure.
    pub fn change_feed_enabled(&self, caller: &Caller) -> Result<bool> {
        let _op = super::trace::op("change_feed_enabled", caller);
        system_only(caller, "change_feed_enabled")?;
        self.read(|tx| feed_on(tx))
    }

    /// The events with `seq` > `cursor`, in order, at most `limit`
    /// (≤ [`MAX_EVENTS_PER_READ`]). Pass 0 to start at the beginning, then
    /// the `seq` of the last event handled. System only. Keep the cursor
    /// where it survives a restart, and prune what is handled.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatEventKind};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, _anna) = chatdesk::doc_support::desk_with_agent()?;
    /// let host = Caller::system();
    /// desk.set_change_feed(&host, true)?;
    /// # let (id, _customer) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    ///
    /// let mut cursor = 0; // the host's saved cursor; 0 the first time
    /// let events = desk.events_after(&host, cursor, 100)?;
    /// assert_eq!((events[0].kind, events[0].session), (ChatEventKind::SessionCreated, id));
    /// for event in &events {
    ///     let _webhook = event.to_webhook_json(); // forward it
    ///     cursor = event.seq; // and remember how far we got
    /// }
    /// desk.prune_events_before(&host, cursor)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) for callers other than System;
    /// [`Validation`](crate::Error::Validation) naming `limit` above 1000;
    /// [`Corrupt`](crate::Error::Corrupt) for an unreadable event; the
    /// backend's failure.
    pub fn events_after(
        &self,
        caller: &Caller,
        cursor: i64,
        limit: usize,
    ) -> Result<Vec<ChatEvent>> {
        let _op = super::trace::op("events_after", caller);
        system_only(caller, "events_after")?;
        if limit > MAX_EVENTS_PER_READ {
            return Err(Error::validation(
                "limit",
                format!("{limit}; at most {MAX_EVENTS_PER_READ}"),
            ));
        }
        let records = self.read(|tx| tx.events_after(cursor, limit))?;
        records.iter().map(ChatEvent::from_record).collect()
    }

    /// Like [`Self::events_after`], but when there is nothing after `cursor`
    /// yet, blocks until a commit of this service instance adds events or
    /// `timeout` passes (then returns an empty list). Operations never wait
    /// for a waiter. Writes of other processes or other `ChatDesk` instances
    /// wake it where the backend hears of them (PostgreSQL does, through
    /// LISTEN/NOTIFY); elsewhere the next call (or the timeout) finds them.
    ///
    /// # Errors
    /// As [`Self::events_after`].
    pub fn wait_for_events(
        &self,
        caller: &Caller,
        cursor: i64,
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<ChatEvent>> {
        let _op = super::trace::op("wait_for_events", caller);
        let deadline = Instant::now().checked_add(timeout);
        loop {
            // Read the generation before the store: a commit after the read
            // moves it, so the wait below cannot miss that commit.
            let seen = self.feed_signal.generation();
            let list = self.events_after(caller, cursor, limit)?;
            if !list.is_empty() || limit == 0 {
                return Ok(list);
            }
            let deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            if !self.feed_signal.wait_past(seen, deadline) {
                return Ok(Vec::new());
            }
        }
    }

    /// Removes every event the host is done with: those with `seq` ≤
    /// `cursor` (all that `events_after(cursor)` no longer returns). Returns
    /// how many were removed. Nothing else ever removes events. System only.
    ///
    /// # Errors
    /// Forbidden for other callers; the backend's failure (batches already
    /// committed stay committed).
    pub fn prune_events_before(&self, caller: &Caller, cursor: i64) -> Result<usize> {
        let _op = super::trace::op("prune_events_before", caller);
        system_only(caller, "prune_events_before")?;
        self.prune_while(|e| e.seq <= cursor)
    }

    /// Removes the oldest events, those written more than `age` ago (the
    /// run of them at the start of the feed: the feed stays a suffix with no
    /// holes even if the clock jumped back). Returns how many were removed.
    /// System only.
    ///
    /// # Errors
    /// Forbidden for other callers; the backend's failure.
    pub fn prune_events_older_than(&self, caller: &Caller, age: Duration) -> Result<usize> {
        let _op = super::trace::op("prune_events_older_than", caller);
        system_only(caller, "prune_events_older_than")?;
        let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        let cutoff = Timestamp(
            self.now()
                .0
                .saturating_sub(secs.saturating_mul(crate::clock::ticks_per_second())),
        );
        self.prune_while(|e| e.at < cutoff)
    }

    /// Deletes the longest run of events at the start of the feed for which
    /// `old` holds, in batches.
    fn prune_while(&self, old: impl Fn(&crate::model::EventRecord) -> bool) -> Result<usize> {
        let mut removed = 0;
        loop {
            let n = self.write(Scope::store(), |tx| {
                let page = tx.events_after(0, PRUNE_BATCH)?;
                match page.iter().take_while(|e| old(e)).last() {
                    Some(last) => tx.delete_events_through(last.seq),
                    None => Ok(0),
                }
            })?;
            if n == 0 {
                super::trace::swept("prune_events", removed);
                return Ok(removed);
            }
            removed += n;
        }
    }
}
