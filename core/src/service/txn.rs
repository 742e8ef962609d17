//! The one path from the service to its storage: every operation's
//! transaction goes through [`ChatDesk::read`] / [`ChatDesk::write`], which
//! refuse a re-entrant call (from a hook running inside this instance's write
//! transaction) with Conflict instead of deadlocking, and wake the change
//! feed's waiters after a commit that added events.

use super::ChatDesk;
use super::scope::{Facts, Scope};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{IdKind, MessageId, SessionId, TopicId, UserId};
use crate::model::{
    AgentRecord, EventRecord, MemberRecord, MessageRecord, PresenceRecord, SessionRecord,
    TopicRecord,
};
use crate::storage::{LockSet, ReadTx, RoutingLock, Storage, StorageExt, WriteTx};
use crate::wire::ChatSessionStatus;
use parking_lot::{Condvar, Mutex};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;
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
    /// For the lock-scope check: the session's topic, and its rank.
    topic: TopicId,
    rank: i32,
}

impl RouteFacts {
    fn of(s: &SessionRecord) -> Self {
        RouteFacts {
            waiting: s.in_human_queue(),
            load: [s.active_user(), s.pending_transfer_to()],
            topic: s.topic,
            rank: s.rank,
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
    /// Runs `f` in a write transaction that may end with a routing pass (the
    /// caller runs it): as [`Self::write`], with `scope` marked as routing.
    pub(crate) fn write_routed<R>(
        &self,
        scope: Scope,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R>,
    ) -> Result<R> {
        self.write(scope.routing(), f)
    }

    /// Runs `f` in a read transaction.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&dyn ReadTx) -> Result<R>) -> Result<R> {
        self.reentry.check()?;
        let out = self.storage.read(f);
        super::trace::outcome(&out);
        out
    }

    /// Runs `f` in a write transaction that first locks `scope` (see
    /// [`super::scope`]); after a commit that added events, wakes the feed's
    /// waiters.
    ///
    /// The locks are worked out before the write (from what this process
    /// last saw of the facts, else from a read transaction) and checked
    /// again inside it once they are held; when the facts moved
    /// in between, the write stops before `f` runs and starts again with the
    /// wider set (after [`SCOPE_TRIES`] such starts, with the exclusive
    /// routing lock, which covers everything). `f` itself runs once.
    pub(crate) fn write<R>(
        &self,
        scope: Scope,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R>,
    ) -> Result<R> {
        self.reentry.check()?;
        // Embedded backends ignore locks: work the scope out only where a
        // backend takes them, or where debug builds check it.
        let scoped = self.storage.capabilities().shared_between_processes || cfg!(debug_assertions);
        let mut held = if !scoped {
            None
        } else if let Some(set) = scope.guess(&self.scope_hints) {
            Some(set)
        } else {
            Some(self.read(|r| Ok(scope.facts(r, &self.scope_hints)?.set))?)
        };
        let mut f = Some(f);
        let mut starts = 0;
        loop {
            let mut events = 0;
            let mut wider = None;
            let mut written = Vec::new();
            let out = self.storage.write(|tx| {
                let _inside = self.reentry.enter();
                let mut primed = Facts {
                    set: super::scope::exclusive(),
                    auto: None,
                    sessions: Vec::new(),
                };
                if let Some(set) = &held {
                    tx.prefetch_ids(scope.ids());
                    tx.lock(set)?;
                    if set.routing == RoutingLock::Exclusive {
                        primed.auto = scope.auto_under_exclusive(&*tx, &self.scope_hints)?;
                    } else {
                        primed = scope.facts(&*tx, &self.scope_hints)?;
                        if !super::scope::covers(set, &primed.set) {
                            wider = Some(super::scope::union(set, &primed.set));
                            return Err(Error::conflict(
                                "the operation's lock scope grew before it started; retrying",
                            ));
                        }
                    }
                }
                let f = f
                    .take()
                    .ok_or_else(|| Error::conflict("write closure run twice"))?;
                let mut wrapped = Tx {
                    tx,
                    events: 0,
                    seen: RefCell::new(Vec::new()),
                    dirty: Dirty::default(),
                    touched: Touched::default(),
                    auto: primed.auto.map(Arc::new),
                    auto_cache: &self.auto_cache,
                    memberships: RefCell::new(Vec::new()),
                    member_rows: RefCell::new(Vec::new()),
                    free: RefCell::new(Vec::new()),
                    held: held.clone().filter(|h| h.routing == RoutingLock::Shared),
                    primed: RefCell::new(primed.sessions),
                    written: Vec::new(),
                    fresh: Vec::new(),
                };
                let out = f(&mut wrapped).and_then(|out| {
                    super::routing::refresh_free(&mut wrapped)?;
                    Ok(out)
                });
                events = wrapped.events;
                written = std::mem::take(&mut wrapped.written);
                out
            });
            if let Some(w) = wider {
                starts += 1;
                held = Some(if starts >= SCOPE_TRIES {
                    super::scope::exclusive()
                } else {
                    w
                });
                continue;
            }
            if out.is_ok() {
                if scoped {
                    for s in &written {
                        self.scope_hints.session(s);
                    }
                }
                if events > 0 {
                    self.feed_signal.bump();
                }
            }
            super::trace::outcome(&out);
            return out;
        }
    }
}

/// How many times a write starts again with a wider lock scope before it
/// takes the exclusive routing lock.
const SCOPE_TRIES: u32 = 3;

/// A parsed list of Auto topics.
pub(crate) type AutoTopics = Arc<BTreeSet<TopicId>>;

/// The last stored list of Auto topics and its parsed form: a transaction
/// reads the stored text and parses it again only when it changed (the
/// list is compared with the store's on every use, so another process's
/// change is always seen).
#[derive(Debug, Default)]
pub(crate) struct AutoCache(Mutex<Option<(String, AutoTopics)>>);

impl AutoCache {
    fn get(&self, tx: &dyn ReadTx) -> Result<AutoTopics> {
        let text = super::routing::auto_topics_text(tx)?;
        if let Some((cached, set)) = &*self.0.lock()
            && *cached == text
        {
            return Ok(Arc::clone(set));
        }
        let set = Arc::new(super::routing::parse_auto_topics(&text)?);
        *self.0.lock() = Some((text, Arc::clone(&set)));
        Ok(set)
    }
}

/// A membership as read: (topic, user) and the row, if any.
type MemberRow = ((TopicId, UserId), Option<MemberRecord>);

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
    auto: Option<AutoTopics>,
    auto_cache: &'a AutoCache,
    /// Users' memberships as read or written in this transaction (routing
    /// reads an agent's memberships several times in one write).
    memberships: RefCell<Vec<(UserId, Vec<MemberRecord>)>>,
    /// Single memberships as read in this transaction (an operation's rights
    /// check and its routing both read the caller's).
    member_rows: RefCell<Vec<MemberRow>>,
    /// Routing index entries as read or written in this transaction.
    free: RefCell<Vec<((TopicId, UserId), bool)>>,
    /// The shared lock scope this transaction holds, which debug builds
    /// check every written row against (None: exclusive or not locked).
    held: Option<LockSet>,
    /// Sessions the lock-scope check read after the locks were taken, handed
    /// to the operation's first read of each instead of reading it again.
    primed: RefCell<Vec<SessionRecord>>,
    /// Sessions written, for the scope hints after the commit.
    written: Vec<SessionRecord>,
    /// Session ids this transaction took: no row has them yet, so writing
    /// one reads no old row.
    fresh: Vec<SessionId>,
}

impl Tx<'_> {
    /// Forgets the cached memberships of `user`.
    fn forget_memberships(&self, user: UserId) {
        self.memberships.borrow_mut().retain(|(u, _)| *u != user);
        self.member_rows
            .borrow_mut()
            .retain(|((_, u), _)| *u != user);
    }

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
    pub(crate) fn auto_topics(&mut self) -> Result<AutoTopics> {
        if let Some(a) = &self.auto {
            return Ok(a.clone());
        }
        let a = self.auto_cache.get(&*self.tx)?;
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
            None if self.fresh.contains(&new.id) => None,
            None => self.tx.session(new.id)?.map(|s| RouteFacts::of(&s)),
        };
        let now = RouteFacts::of(new);
        self.check_session("writes a session", old, now);
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

/// The lock-scope check: in debug builds, a write holding a shared scope
/// may only write rows of its topics and users (the exclusive routing lock
/// covers everything). A row outside is a bug in the operation's declared
/// scope, which on PostgreSQL would let two writers race: a panic, so tests
/// cannot miss it.
impl Tx<'_> {
    fn check_rows(&self, what: &str, topic: Option<TopicId>, users: &[UserId]) {
        if !cfg!(debug_assertions) {
            return;
        }
        let Some(h) = &self.held else { return };
        if let Some(t) = topic {
            assert!(
                h.topics.binary_search(&t).is_ok(),
                "lock scope: an operation {what} of topic {t} outside its scope {h:?}"
            );
        }
        for u in users {
            assert!(
                h.users.binary_search(u).is_ok(),
                "lock scope: an operation {what} of user {u} outside its scope {h:?}"
            );
        }
    }

    fn check_store_wide(&self, what: &str) {
        if cfg!(debug_assertions) {
            assert!(
                self.held.is_none(),
                "lock scope: an operation {what} under the shared scope {:?}",
                self.held
            );
        }
    }

    /// A session written (or removed: `new` None) must be of a locked
    /// topic, and every user whose load or rank it changes must be locked.
    fn check_session(&self, what: &str, old: Option<RouteFacts>, new: RouteFacts) {
        if !cfg!(debug_assertions) || self.held.is_none() {
            return;
        }
        let count = |f: &RouteFacts, u: UserId| f.load.iter().filter(|x| **x == Some(u)).count();
        let mut users = Vec::new();
        for u in new
            .load
            .iter()
            .chain(old.iter().flat_map(|o| o.load.iter()))
            .flatten()
        {
            if old.map_or(0, |o| count(&o, *u)) != count(&new, *u) {
                users.push(*u);
            }
        }
        if old.is_none_or(|o| o.rank != new.rank) {
            users.extend(new.load[0]);
        }
        self.check_rows(what, Some(new.topic), &users);
        if let Some(o) = old {
            self.check_rows(what, Some(o.topic), &[]);
        }
    }

    /// The topic of session `id` for the scope check, from what this
    /// transaction saw of it, else read.
    fn topic_of(&self, id: SessionId) -> Result<Option<RouteFacts>> {
        let known = self
            .seen
            .borrow()
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, f)| *f);
        match known {
            Some(f) => Ok(Some(f)),
            None => Ok(self.tx.session(id)?.map(|s| RouteFacts::of(&s))),
        }
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
        let key = (topic, user);
        if let Some((_, m)) = self.member_rows.borrow().iter().find(|(k, _)| *k == key) {
            return Ok(*m);
        }
        if let Some((_, all)) = self.memberships.borrow().iter().find(|(u, _)| *u == user) {
            return Ok(all.iter().find(|m| m.topic == topic).copied());
        }
        let m = self.tx.member(topic, user)?;
        self.member_rows.borrow_mut().push((key, m));
        Ok(m)
    }
    fn topic_members(&self, topic: TopicId) -> Result<Vec<MemberRecord>> {
        self.tx.topic_members(topic)
    }
    fn user_memberships(&self, user: UserId) -> Result<Vec<MemberRecord>> {
        if let Some((_, m)) = self.memberships.borrow().iter().find(|(u, _)| *u == user) {
            return Ok(m.clone());
        }
        let m = self.tx.user_memberships(user)?;
        self.memberships.borrow_mut().push((user, m.clone()));
        Ok(m)
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
        let primed = {
            let mut p = self.primed.borrow_mut();
            p.iter().position(|s| s.id == id).map(|i| p.swap_remove(i))
        };
        let s = match primed {
            Some(s) => Some(s),
            None => self.tx.session(id)?,
        };
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
    fn agent_load(&self, user: UserId) -> Result<i32> {
        self.tx.agent_load(user)
    }
    fn has_present_responder(&self, topic: TopicId) -> Result<bool> {
        self.tx.has_present_responder(topic)
    }
    fn routing_candidates(&self, topic: TopicId) -> Result<Vec<crate::storage::FreeAgent>> {
        self.tx.routing_candidates(topic)
    }
    fn routing_is_free(&self, topic: TopicId, user: UserId) -> Result<bool> {
        let key = (topic, user);
        if let Some((_, f)) = self.free.borrow().iter().find(|(k, _)| *k == key) {
            return Ok(*f);
        }
        let f = self.tx.routing_is_free(topic, user)?;
        self.free.borrow_mut().push((key, f));
        Ok(f)
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
    fn session_ids(&self, after: SessionId, limit: usize) -> Result<Vec<SessionId>> {
        self.tx.session_ids(after, limit)
    }
    fn topic_ids(&self) -> Result<Vec<TopicId>> {
        self.tx.topic_ids()
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
    fn prefetch_ids(&mut self, kinds: &[IdKind]) {
        self.tx.prefetch_ids(kinds);
    }
    fn next_id(&mut self, kind: IdKind) -> Result<i64> {
        let id = self.tx.next_id(kind)?;
        if kind == IdKind::Session
            && let Ok(id) = i32::try_from(id)
        {
            self.fresh.push(SessionId(id));
        }
        Ok(id)
    }
    fn put_topic(&mut self, topic: &TopicRecord) -> Result<()> {
        self.check_rows("writes the row", Some(topic.id), &[]);
        self.tx.put_topic(topic)
    }
    fn delete_topic(&mut self, id: TopicId) -> Result<()> {
        self.check_store_wide("deletes a topic");
        self.memberships.borrow_mut().clear();
        self.free.borrow_mut().clear();
        self.tx.delete_topic(id)
    }
    fn delete_member(&mut self, topic: TopicId, user: UserId) -> Result<()> {
        self.check_rows("removes a membership", Some(topic), &[user]);
        self.forget_memberships(user);
        self.touched.member(topic, user);
        self.tx.delete_member(topic, user)
    }
    fn put_member(&mut self, member: &MemberRecord) -> Result<()> {
        self.check_rows("writes a membership", Some(member.topic), &[member.user]);
        self.forget_memberships(member.user);
        if member.can_respond {
            self.dirty.agent(member.user);
        }
        self.touched.member(member.topic, member.user);
        self.tx.put_member(member)
    }
    fn put_presence(&mut self, presence: &PresenceRecord) -> Result<()> {
        self.check_rows("writes the presence", None, &[presence.user]);
        // Only Present matters to routing: a saved name or a repeated
        // "present" changes nothing it keeps.
        let was = self.tx.presence(presence.user)?.is_some_and(|p| p.present);
        if was != presence.present {
            if presence.present {
                self.dirty.agent(presence.user);
            }
            self.touched.user(presence.user);
        }
        self.tx.put_presence(presence)
    }
    fn put_agent(&mut self, agent: &AgentRecord) -> Result<()> {
        self.check_rows("writes the agent row", None, &[agent.user]);
        self.dirty.agent(agent.user);
        self.touched.user(agent.user);
        self.tx.put_agent(agent)
    }
    fn set_routing_free(&mut self, topic: TopicId, user: UserId, free: bool) -> Result<()> {
        self.check_rows("writes the routing index", None, &[user]);
        self.tx.set_routing_free(topic, user, free)?;
        let key = (topic, user);
        let mut cache = self.free.borrow_mut();
        match cache.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = free,
            None => cache.push((key, free)),
        }
        Ok(())
    }
    fn put_session(&mut self, session: &SessionRecord) -> Result<()> {
        self.note_session(session)?;
        self.primed.borrow_mut().retain(|s| s.id != session.id);
        if let Some(w) = self.written.iter_mut().find(|w| w.id == session.id) {
            *w = session.clone();
        } else {
            self.written.push(session.clone());
        }
        self.tx.put_session(session)
    }
    fn delete_session(&mut self, id: SessionId) -> Result<()> {
        self.primed.borrow_mut().retain(|s| s.id != id);
        self.written.retain(|s| s.id != id);
        if cfg!(debug_assertions)
            && self.held.is_some()
            && let Some(f) = self.topic_of(id)?
        {
            let gone = RouteFacts {
                waiting: false,
                load: [None, None],
                ..f
            };
            self.check_session("removes a session", Some(f), gone);
        }
        self.tx.delete_session(id)
    }
    fn put_message(&mut self, message: &MessageRecord) -> Result<()> {
        if cfg!(debug_assertions) && self.held.is_some() {
            let topic = self.topic_of(message.session)?.map(|f| f.topic);
            self.check_rows("writes a message", topic, &[]);
        }
        self.tx.put_message(message)
    }
    fn put_event(&mut self, event: &EventRecord) -> Result<()> {
        self.tx.put_event(event)?;
        self.events += 1;
        Ok(())
    }
    fn delete_events_through(&mut self, seq: i64) -> Result<usize> {
        self.check_store_wide("prunes the change feed");
        self.tx.delete_events_through(seq)
    }
    fn put_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.check_store_wide("writes the store's metadata");
        // The cached list of Auto topics may change.
        self.auto = None;
        self.tx.put_meta(key, value)
    }
}
