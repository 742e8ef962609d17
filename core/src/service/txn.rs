//! The one path from the service to its storage: every operation's
//! transaction goes through [`ChatDesk::read`] / [`ChatDesk::write`], which
//! refuse a re-entrant call (from a hook running inside this instance's write
//! transaction) with Conflict instead of deadlocking, and wake the change
//! feed's waiters after a commit that added events.

use super::ChatDesk;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{IdKind, MessageId, SessionId, TopicId, UserId};
use crate::model::{
    AgentRecord, EventRecord, MemberRecord, MessageRecord, PresenceRecord, SessionRecord,
    TopicRecord,
};
use crate::storage::{ReadTx, Storage, StorageExt, WriteTx};
use crate::wire::ChatSessionStatus;
use parking_lot::{Condvar, Mutex};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;
use std::time::Instant;

/// Which thread is inside this instance's write transaction, if any.
#[derive(Debug, Default)]
pub(crate) struct Reentry {
    inside: Mutex<Option<ThreadId>>,
    /// Whether any thread is inside: read without a lock, so calls made
    /// while no write closure runs (most reads) never touch the mutex.
    anyone: AtomicBool,
}

/// Clears [`Reentry`] when the transaction's closure ends, panics included.
struct Inside<'a>(&'a Reentry);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        let mut inside = self.0.inside.lock();
        *inside = None;
        self.0.anyone.store(false, Ordering::Release);
    }
}

impl Reentry {
    fn check(&self) -> Result<()> {
        // A thread sees its own store of `anyone` (program order), so the
        // re-entrant call always takes the slow path below.
        if !self.anyone.load(Ordering::Acquire) {
            return Ok(());
        }
        if *self.inside.lock() == Some(std::thread::current().id()) {
            return Err(Error::conflict(
                "a re-entrant call into the service from inside its own write transaction \
                 (a message hook may not call the service)",
            ));
        }
        Ok(())
    }

    fn enter(&self) -> Inside<'_> {
        let mut inside = self.inside.lock();
        *inside = Some(std::thread::current().id());
        self.anyone.store(true, Ordering::Release);
        drop(inside);
        Inside(self)
    }
}

/// Wakes [`ChatDesk::wait_for_events`] after each commit that added events.
/// Committing only bumps a counter and notifies: a slow or absent waiter
/// never holds up an operation.
#[derive(Debug, Default)]
pub(crate) struct FeedSignal {
    generation: Mutex<u64>,
    cond: Condvar,
}

impl FeedSignal {
    pub(crate) fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    pub(crate) fn bump(&self) {
        let mut g = self.generation.lock();
        *g = g.wrapping_add(1);
        self.cond.notify_all();
    }

    /// Waits until the generation moves past `seen` (true) or `deadline`
    /// passes (false).
    pub(crate) fn wait_past(&self, seen: u64, deadline: Instant) -> bool {
        let mut g = self.generation.lock();
        while *g == seen {
            if self.cond.wait_until(&mut g, deadline).timed_out() {
                return *g != seen;
            }
        }
        true
    }
}

/// What one session means to routing: whether it waits in a human queue,
/// and whose load it counts in (its active User, its pending transfer's
/// target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RouteFacts {
    waiting: bool,
    load: [Option<UserId>; 2],
}

impl RouteFacts {
    fn of(s: &SessionRecord) -> Self {
        RouteFacts {
            waiting: s.in_human_queue(),
            load: [s.active_user(), s.pending_transfer_to()],
        }
    }
}

/// What a write transaction changed that may let routing assign a waiting
/// session: sessions that entered a human queue, agents who may have become
/// eligible (load down, present, CanRespond, capacity), topics whose routing
/// settings changed. Noted by [`Tx`] as the operation writes, so no
/// operation can forget one; read by the routing pass.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    pub(crate) sessions: Vec<SessionId>,
    pub(crate) agents: Vec<UserId>,
    pub(crate) topics: Vec<TopicId>,
}

/// What a write transaction changed that the routing index (who is free
/// where) depends on: users whose load, presence or capacity changed,
/// memberships written or removed, topics whose routing changed. The index
/// is brought up to date from these before a routing pass and at the end of
/// every write transaction.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    pub(crate) users: Vec<UserId>,
    pub(crate) members: Vec<(TopicId, UserId)>,
    pub(crate) topics: Vec<TopicId>,
}

impl Touched {
    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty() && self.members.is_empty() && self.topics.is_empty()
    }

    fn user(&mut self, u: UserId) {
        if !self.users.contains(&u) {
            self.users.push(u);
        }
    }

    fn member(&mut self, t: TopicId, u: UserId) {
        if !self.members.contains(&(t, u)) {
            self.members.push((t, u));
        }
    }
}

impl Dirty {
    pub(crate) fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.agents.is_empty() && self.topics.is_empty()
    }

    fn agent(&mut self, user: UserId) {
        if !self.agents.contains(&user) {
            self.agents.push(user);
        }
    }

    fn session(&mut self, id: SessionId) {
        if !self.sessions.contains(&id) {
            self.sessions.push(id);
        }
    }

    /// Notes a topic whose routing settings changed.
    pub(crate) fn topic(&mut self, id: TopicId) {
        if !self.topics.contains(&id) {
            self.topics.push(id);
        }
    }
}

impl<S: Storage> ChatDesk<S> {
    /// Runs `f` in a write transaction whose [`Tx`] notes what routing needs
    /// (the caller ends it with a routing pass); after a commit that added
    /// events, wakes the feed's waiters.
    pub(crate) fn write_routed<R>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        self.reentry.check()?;
        let mut events = 0;
        let out = self.storage.write(|tx| {
            let _inside = self.reentry.enter();
            let mut wrapped = Tx {
                tx,
                events: 0,
                seen: RefCell::new(Vec::new()),
                dirty: Dirty::default(),
                touched: Touched::default(),
                auto: None,
            };
            let out = f(&mut wrapped).and_then(|out| {
                super::routing::refresh_free(&mut wrapped)?;
                Ok(out)
            });
            events = wrapped.events;
            out
        });
        if out.is_ok() && events > 0 {
            self.feed_signal.bump();
        }
        out
    }

    /// Runs `f` in a read transaction.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&dyn ReadTx) -> Result<R>) -> Result<R> {
        self.reentry.check()?;
        self.storage.read(f)
    }

    /// Runs `f` in a write transaction; after a commit that added events,
    /// wakes the feed's waiters.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut dyn WriteTx) -> Result<R>) -> Result<R> {
        self.reentry.check()?;
        let mut events = 0;
        let out = self.storage.write(|tx| {
            let _inside = self.reentry.enter();
            let mut wrapped = Tx {
                tx,
                events: 0,
                seen: RefCell::new(Vec::new()),
                dirty: Dirty::default(),
                touched: Touched::default(),
                auto: None,
            };
            let out = f(&mut wrapped).and_then(|out| {
                super::routing::refresh_free(&mut wrapped)?;
                Ok(out)
            });
            events = wrapped.events;
            out
        });
        if out.is_ok() && events > 0 {
            self.feed_signal.bump();
        }
        out
    }
}

/// The service's write transaction: the backend's, counting the events put
/// through it and noting what routing needs ([`Dirty`]).
pub(crate) struct Tx<'a> {
    tx: &'a mut dyn WriteTx,
    events: usize,
    /// The routing facts of the sessions this transaction read or wrote,
    /// as last seen (a handful per operation: a list beats a map).
    seen: RefCell<Vec<(SessionId, RouteFacts)>>,
    dirty: Dirty,
    touched: Touched,
    /// The store's Auto topics, read once per transaction (None: not yet).
    auto: Option<std::collections::BTreeSet<TopicId>>,
}

impl Tx<'_> {
    /// Takes what routing must look at since the last call.
    pub(crate) fn take_dirty(&mut self) -> Dirty {
        std::mem::take(&mut self.dirty)
    }

    /// Notes a topic whose routing settings changed.
    pub(crate) fn topic_dirty(&mut self, topic: TopicId) {
        self.dirty.topic(topic);
        if !self.touched.topics.contains(&topic) {
            self.touched.topics.push(topic);
        }
    }

    /// Takes what the routing index must be brought up to date with.
    pub(crate) fn take_touched(&mut self) -> Touched {
        std::mem::take(&mut self.touched)
    }

    /// The Auto topics, read once per transaction.
    pub(crate) fn auto_topics(&mut self) -> Result<std::collections::BTreeSet<TopicId>> {
        if let Some(a) = &self.auto {
            return Ok(a.clone());
        }
        let a = super::routing::read_auto_topics(&*self.tx)?;
        self.auto = Some(a.clone());
        Ok(a)
    }

    /// Notes a session as read, unless this transaction has seen it.
    fn remember(&self, s: &SessionRecord) {
        let mut seen = self.seen.borrow_mut();
        if !seen.iter().any(|(id, _)| *id == s.id) {
            seen.push((s.id, RouteFacts::of(s)));
        }
    }

    /// Compares a session about to be written with its last seen state.
    fn note_session(&mut self, new: &SessionRecord) -> Result<()> {
        let known = self
            .seen
            .borrow()
            .iter()
            .find(|(id, _)| *id == new.id)
            .map(|(_, f)| *f);
        let old = match known {
            Some(f) => Some(f),
            None => self.tx.session(new.id)?.map(|s| RouteFacts::of(&s)),
        };
        let now = RouteFacts::of(new);
        if now.waiting && old.is_none_or(|o| !o.waiting) {
            self.dirty.session(new.id);
        }
        if let Some(old) = old {
            // A user who counted this session in their load and no longer
            // does may have room now.
            for u in old.load.into_iter().flatten() {
                let still = now.load.iter().filter(|x| **x == Some(u)).count();
                let before = old.load.iter().filter(|x| **x == Some(u)).count();
                if still < before {
                    self.dirty.agent(u);
                }
            }
        }
        // Whose load changed, either way: the routing index follows.
        let count = |f: &RouteFacts, u: UserId| f.load.iter().filter(|x| **x == Some(u)).count();
        for u in now
            .load
            .iter()
            .chain(old.iter().flat_map(|o| o.load.iter()))
            .flatten()
        {
            if old.map_or(0, |o| count(&o, *u)) != count(&now, *u) {
                self.touched.user(*u);
            }
        }
        let mut seen = self.seen.borrow_mut();
        match seen.iter_mut().find(|(id, _)| *id == new.id) {
            Some(slot) => slot.1 = now,
            None => seen.push((new.id, now)),
        }
        Ok(())
    }
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").field("dirty", &self.dirty).finish()
    }
}

impl ReadTx for Tx<'_> {
    fn topic(&self, id: TopicId) -> Result<Option<TopicRecord>> {
        self.tx.topic(id)
    }
    fn topics(&self) -> Result<Vec<TopicRecord>> {
        self.tx.topics()
    }
    fn member(&self, topic: TopicId, user: UserId) -> Result<Option<MemberRecord>> {
        self.tx.member(topic, user)
    }
    fn topic_members(&self, topic: TopicId) -> Result<Vec<MemberRecord>> {
        self.tx.topic_members(topic)
    }
    fn user_memberships(&self, user: UserId) -> Result<Vec<MemberRecord>> {
        self.tx.user_memberships(user)
    }
    fn all_members(&self) -> Result<Vec<MemberRecord>> {
        self.tx.all_members()
    }
    fn presence(&self, user: UserId) -> Result<Option<PresenceRecord>> {
        self.tx.presence(user)
    }
    fn presences(&self) -> Result<Vec<PresenceRecord>> {
        self.tx.presences()
    }
    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        let s = self.tx.session(id)?;
        if let Some(s) = &s {
            self.remember(s);
        }
        Ok(s)
    }
    fn transfers_to(&self, user: UserId) -> Result<Vec<SessionId>> {
        self.tx.transfers_to(user)
    }
    fn agent(&self, user: UserId) -> Result<Option<AgentRecord>> {
        self.tx.agent(user)
    }
    fn routing_free(&self, topic: TopicId) -> Result<Vec<UserId>> {
        self.tx.routing_free(topic)
    }
    fn routing_is_free(&self, topic: TopicId, user: UserId) -> Result<bool> {
        self.tx.routing_is_free(topic, user)
    }
    fn sessions_requested(
        &self,
        after: (Timestamp, SessionId),
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        self.tx.sessions_requested(after, before, limit)
    }
    fn session_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<SessionId>> {
        self.tx.session_by_key(key_hash)
    }
    fn sessions_by_status(
        &self,
        status: ChatSessionStatus,
        after: SessionId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let list = self.tx.sessions_by_status(status, after, limit)?;
        for s in &list {
            self.remember(s);
        }
        Ok(list)
    }
    fn topic_sessions(
        &self,
        topic: TopicId,
        after: SessionId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        self.tx.topic_sessions(topic, after, limit)
    }
    fn sessions(&self, after: SessionId, limit: usize) -> Result<Vec<SessionRecord>> {
        self.tx.sessions(after, limit)
    }
    fn active_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        self.tx.active_sessions(user)
    }
    fn active_ranks(&self, user: UserId) -> Result<Vec<(SessionId, i32)>> {
        self.tx.active_ranks(user)
    }
    fn queue_index_sum(&self, topic: TopicId, nodes: &[u64]) -> Result<i64> {
        self.tx.queue_index_sum(topic, nodes)
    }
    fn queue_count_before(&self, topic: TopicId, seq: u64) -> Result<u32> {
        self.tx.queue_count_before(topic, seq)
    }
    fn queue_len(&self, topic: TopicId) -> Result<u32> {
        self.tx.queue_len(topic)
    }
    fn queue(&self, topic: TopicId, after_seq: u64, limit: usize) -> Result<Vec<(u64, SessionId)>> {
        self.tx.queue(topic, after_seq, limit)
    }
    fn messages(
        &self,
        session: SessionId,
        after: MessageId,
        limit: usize,
    ) -> Result<Vec<MessageRecord>> {
        self.tx.messages(session, after, limit)
    }
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<EventRecord>> {
        self.tx.events_after(after, limit)
    }
    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.tx.meta(key)
    }
}

impl WriteTx for Tx<'_> {
    fn lock(&mut self, set: &crate::storage::LockSet) -> Result<()> {
        self.tx.lock(set)
    }
    fn next_id(&mut self, kind: IdKind) -> Result<i64> {
        self.tx.next_id(kind)
    }
    fn put_topic(&mut self, topic: &TopicRecord) -> Result<()> {
        self.tx.put_topic(topic)
    }
    fn delete_topic(&mut self, id: TopicId) -> Result<()> {
        self.tx.delete_topic(id)
    }
    fn delete_member(&mut self, topic: TopicId, user: UserId) -> Result<()> {
        self.touched.member(topic, user);
        self.tx.delete_member(topic, user)
    }
    fn put_member(&mut self, member: &MemberRecord) -> Result<()> {
        if member.can_respond {
            self.dirty.agent(member.user);
        }
        self.touched.member(member.topic, member.user);
        self.tx.put_member(member)
    }
    fn put_presence(&mut self, presence: &PresenceRecord) -> Result<()> {
        if presence.present {
            self.dirty.agent(presence.user);
        }
        self.touched.user(presence.user);
        self.tx.put_presence(presence)
    }
    fn put_agent(&mut self, agent: &AgentRecord) -> Result<()> {
        self.dirty.agent(agent.user);
        self.touched.user(agent.user);
        self.tx.put_agent(agent)
    }
    fn set_routing_free(&mut self, topic: TopicId, user: UserId, free: bool) -> Result<()> {
        self.tx.set_routing_free(topic, user, free)
    }
    fn put_session(&mut self, session: &SessionRecord) -> Result<()> {
        self.note_session(session)?;
        self.tx.put_session(session)
    }
    fn delete_session(&mut self, id: SessionId) -> Result<()> {
        self.tx.delete_session(id)
    }
    fn put_message(&mut self, message: &MessageRecord) -> Result<()> {
        self.tx.put_message(message)
    }
    fn put_event(&mut self, event: &EventRecord) -> Result<()> {
        self.tx.put_event(event)?;
        self.events += 1;
        Ok(())
    }
    fn delete_events_through(&mut self, seq: i64) -> Result<usize> {
        self.tx.delete_events_through(seq)
    }
    fn put_meta(&mut self, key: &str, value: &str) -> Result<()> {
        // The cached list of Auto topics may change.
        self.auto = None;
        self.tx.put_meta(key, value)
    }
}
