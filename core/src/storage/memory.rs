//! The in-memory backend: persistent maps (imbl) behind a swap-on-commit root.
//!
//! A writer holds the fair writer mutex across clone → mutate → swap, so two
//! writers never start from the same snapshot (that would be a lost update);
//! `FairMutex` hands the lock over in arrival order. Readers take the current
//! root under a brief lock and never wait for a writer's closure. A failed
//! closure simply drops its private copy: nothing is visible.

use super::{ReadTx, Storage, WriteTx};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{IdKind, MessageId, SessionId, TopicId, UserId, next_after};
use crate::model::{
    AgentRecord, EventRecord, MemberRecord, MessageRecord, PresenceRecord, SessionRecord,
    TopicRecord,
};
use crate::wire::ChatSessionStatus;
use imbl::{OrdMap, OrdSet, Vector};
use parking_lot::{FairMutex, RwLock};
use std::ops::Bound;
use std::sync::Arc;

/// One shelf of sessions with their indexes and messages. Open sessions
/// and ended ones (the history) sit on two shelves, so that the maps every
/// operation writes hold the open sessions only: a million closed chats do
/// not make a pick-up copy deeper paths (persistent maps copy the path to
/// every change). A session moves, with its messages, when its status
/// crosses over.
#[derive(Debug, Clone, Default)]
struct Shelf {
    sessions: OrdMap<SessionId, Arc<SessionRecord>>,
    by_key: OrdMap<[u8; 32], SessionId>,
    by_status: OrdSet<(i32, SessionId)>,
    by_topic: OrdSet<(TopicId, SessionId)>,
    /// Each session's messages by id: a persistent RRB vector per session,
    /// so that an append (the usual write) copies one tail chunk rather than
    /// a path of a map holding every message of the shelf.
    messages: OrdMap<SessionId, Vector<Arc<MessageRecord>>>,
}

impl Shelf {
    /// Ids of `topic`'s sessions on this shelf after `after`, ascending.
    fn topic_ids(&self, topic: TopicId, after: SessionId) -> impl Iterator<Item = SessionId> + '_ {
        self.by_topic
            .range((
                Bound::Excluded((topic, after)),
                Bound::Included((topic, SessionId(i32::MAX))),
            ))
            .map(|(_, id)| *id)
    }

    /// Ids of this shelf's sessions after `after_id`, ascending.
    fn ids_after(&self, after_id: SessionId) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.range(after(after_id)).map(|(id, _)| *id)
    }
}

/// Which shelf: open sessions, or ended ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Open,
    Ended,
}

impl Side {
    fn of(s: &SessionRecord) -> Side {
        if s.is_open() { Side::Open } else { Side::Ended }
    }
}

#[derive(Debug, Clone, Default)]
struct State {
    topics: OrdMap<TopicId, Arc<TopicRecord>>,
    members: OrdMap<(TopicId, UserId), MemberRecord>,
    members_by_user: OrdSet<(UserId, TopicId)>,
    presences: OrdMap<UserId, Arc<PresenceRecord>>,
    open: Shelf,
    ended: Shelf,
    queue: OrdMap<(TopicId, u64), SessionId>,
    /// Per topic, (sequence, session) of every session in its human queue,
    /// sorted: the memory backend's counted index. A persistent RRB vector
    /// keeps sizes in its nodes, so a position is a binary search and an
    /// entry or exit one insert or remove, each O(log n) and copying one
    /// path (a Fenwick map would copy up to 40 scattered paths a change).
    queue_counts: OrdMap<TopicId, Vector<(u64, SessionId)>>,
    active: OrdSet<(UserId, SessionId)>,
    /// (target, session) of every pending transfer.
    transfers: OrdSet<(UserId, SessionId)>,
    /// (WhenRequested, session) of every session: the time index. A
    /// session's WhenRequested never changes, so only a create or a purge
    /// writes it.
    requested: OrdSet<(Timestamp, SessionId)>,
    agents: OrdMap<UserId, AgentRecord>,
    /// The routing index: (topic, user) of every agent marked free.
    routing_free: OrdSet<(TopicId, UserId)>,
    /// The id counters, one per [`IdKind`] in [`IdKind::ALL`]'s order (a
    /// plain array: copied with the root, never allocated).
    counters: [i64; IdKind::ALL.len()],
    events: OrdMap<i64, Arc<EventRecord>>,
    meta: OrdMap<String, String>,
}

/// The in-memory store: the reference backend, and the default in examples and
/// tests. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    root: RwLock<Arc<State>>,
    writer: FairMutex<()>,
    /// The thread inside a write transaction, if any: a second write from
    /// that same thread (a hook calling another service on this store)
    /// would wait for itself forever, so it gets Conflict instead.
    writing: parking_lot::Mutex<Option<std::thread::ThreadId>>,
}

/// Clears [`MemoryStorage::writing`] when a write transaction ends, panics included.
struct Writing<'a>(&'a parking_lot::Mutex<Option<std::thread::ThreadId>>);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Storage for MemoryStorage {
    fn read_tx(&self, f: &mut dyn FnMut(&dyn ReadTx) -> Result<()>) -> Result<()> {
        let snapshot = Arc::clone(&self.root.read());
        f(&*snapshot)
    }

    fn write_tx(&self, f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        let me = std::thread::current().id();
        if *self.writing.lock() == Some(me) {
            return Err(Error::conflict(
                "a write transaction on this store is already open on this thread \
                 (a message hook may not write through another service on the same store)",
            ));
        }
        let writer = self.writer.lock();
        *self.writing.lock() = Some(me);
        let _writing = Writing(&self.writing);
        let mut next: State = (**self.root.read()).clone();
        f(&mut next)?;
        let old = std::mem::replace(&mut *self.root.write(), Arc::new(next));
        // The old root (and the nodes only it held) is freed after both
        // locks are released: readers and the next writer never wait for it.
        drop(writer);
        drop(old);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "memory"
    }
}

fn after<K: Ord + Clone>(k: K) -> (Bound<K>, Bound<K>) {
    (Bound::Excluded(k), Bound::Unbounded)
}

/// How many entries of a sorted queue have a sequence ≤ `seq`.
fn counted_upto(queue: &Vector<(u64, SessionId)>, seq: u64) -> usize {
    match queue.binary_search_by(|(q, _)| {
        if *q <= seq {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    }) {
        Ok(i) | Err(i) => i,
    }
}

/// Two ascending id sequences merged into one (an id is on one shelf only).
fn merged(
    a: impl Iterator<Item = SessionId>,
    b: impl Iterator<Item = SessionId>,
) -> impl Iterator<Item = SessionId> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

impl State {
    fn shelf(&self, side: Side) -> &Shelf {
        match side {
            Side::Open => &self.open,
            Side::Ended => &self.ended,
        }
    }

    fn shelf_mut(&mut self, side: Side) -> &mut Shelf {
        match side {
            Side::Open => &mut self.open,
            Side::Ended => &mut self.ended,
        }
    }

    /// A stored session and its shelf.
    fn find(&self, id: SessionId) -> Option<(&Arc<SessionRecord>, Side)> {
        match self.open.sessions.get(&id) {
            Some(s) => Some((s, Side::Open)),
            None => self.ended.sessions.get(&id).map(|s| (s, Side::Ended)),
        }
    }

    /// The shelf holding a session's messages: its own, or the open shelf
    /// for messages of no stored session.
    fn messages_side(&self, id: SessionId) -> Side {
        self.find(id).map_or(Side::Open, |(_, side)| side)
    }

    fn sessions_of(
        &self,
        ids: impl Iterator<Item = SessionId>,
        limit: usize,
    ) -> Vec<SessionRecord> {
        ids.filter_map(|id| self.find(id).map(|(s, _)| (**s).clone()))
            .take(limit)
            .collect()
    }
}

impl ReadTx for State {
    fn topic(&self, id: TopicId) -> Result<Option<TopicRecord>> {
        Ok(self.topics.get(&id).map(|t| (**t).clone()))
    }

    fn topics(&self) -> Result<Vec<TopicRecord>> {
        Ok(self.topics.values().map(|t| (**t).clone()).collect())
    }

    fn topic_ids(&self) -> Result<Vec<TopicId>> {
        Ok(self.topics.keys().copied().collect())
    }

    fn member(&self, topic: TopicId, user: UserId) -> Result<Option<MemberRecord>> {
        Ok(self.members.get(&(topic, user)).copied())
    }

    fn topic_members(&self, topic: TopicId) -> Result<Vec<MemberRecord>> {
        Ok(self
            .members
            .range((topic, UserId(i32::MIN))..=(topic, UserId(i32::MAX)))
            .map(|(_, m)| *m)
            .collect())
    }

    fn user_memberships(&self, user: UserId) -> Result<Vec<MemberRecord>> {
        Ok(self
            .members_by_user
            .range((user, TopicId(i32::MIN))..=(user, TopicId(i32::MAX)))
            .filter_map(|(u, t)| self.members.get(&(*t, *u)).copied())
            .collect())
    }

    fn all_members(&self) -> Result<Vec<MemberRecord>> {
        Ok(self.members.values().copied().collect())
    }

    fn presence(&self, user: UserId) -> Result<Option<PresenceRecord>> {
        Ok(self.presences.get(&user).map(|p| (**p).clone()))
    }

    fn presences(&self) -> Result<Vec<PresenceRecord>> {
        Ok(self.presences.values().map(|p| (**p).clone()).collect())
    }

    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        Ok(self.find(id).map(|(s, _)| (**s).clone()))
    }

    fn session_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<SessionId>> {
        Ok(self
            .open
            .by_key
            .get(key_hash)
            .or_else(|| self.ended.by_key.get(key_hash))
            .copied())
    }

    fn sessions_by_status(
        &self,
        status: ChatSessionStatus,
        after: SessionId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let code = status.code();
        let side = if crate::model::status_is_open(status) {
            Side::Open
        } else {
            Side::Ended
        };
        let ids = self
            .shelf(side)
            .by_status
            .range((
                Bound::Excluded((code, after)),
                Bound::Included((code, SessionId(i32::MAX))),
            ))
            .map(|(_, id)| *id);
        Ok(self.sessions_of(ids, limit))
    }

    fn topic_sessions(
        &self,
        topic: TopicId,
        after: SessionId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let ids = merged(
            self.open.topic_ids(topic, after),
            self.ended.topic_ids(topic, after),
        );
        Ok(self.sessions_of(ids, limit))
    }

    fn sessions(&self, after_id: SessionId, limit: usize) -> Result<Vec<SessionRecord>> {
        let ids = merged(
            self.open.ids_after(after_id),
            self.ended.ids_after(after_id),
        );
        Ok(self.sessions_of(ids, limit))
    }

    fn session_ids(&self, after_id: SessionId, limit: usize) -> Result<Vec<SessionId>> {
        Ok(merged(
            self.open.ids_after(after_id),
            self.ended.ids_after(after_id),
        )
        .take(limit)
        .collect())
    }

    fn active_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        let ids = self
            .active
            .range((user, SessionId(i32::MIN))..=(user, SessionId(i32::MAX)))
            .map(|(_, id)| *id);
        Ok(self.sessions_of(ids, usize::MAX))
    }

    fn active_ranks(&self, user: UserId) -> Result<Vec<(SessionId, i32)>> {
        Ok(self
            .active
            .range((user, SessionId(i32::MIN))..=(user, SessionId(i32::MAX)))
            .filter_map(|(_, id)| self.find(*id).map(|(s, _)| (*id, s.rank)))
            .collect())
    }

    fn transfers_to(&self, user: UserId) -> Result<Vec<SessionId>> {
        Ok(self
            .transfers
            .range((user, SessionId(i32::MIN))..=(user, SessionId(i32::MAX)))
            .map(|(_, id)| *id)
            .collect())
    }

    fn agent(&self, user: UserId) -> Result<Option<AgentRecord>> {
        Ok(self.agents.get(&user).copied())
    }

    fn agent_load(&self, user: UserId) -> Result<i32> {
        let n = self
            .active
            .range((user, SessionId(i32::MIN))..=(user, SessionId(i32::MAX)))
            .count()
            + self
                .transfers
                .range((user, SessionId(i32::MIN))..=(user, SessionId(i32::MAX)))
                .count();
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    fn routing_free(&self, topic: TopicId) -> Result<Vec<UserId>> {
        Ok(self
            .routing_free
            .range((topic, UserId(i32::MIN))..=(topic, UserId(i32::MAX)))
            .map(|(_, u)| *u)
            .collect())
    }

    fn routing_is_free(&self, topic: TopicId, user: UserId) -> Result<bool> {
        Ok(self.routing_free.contains(&(topic, user)))
    }

    fn sessions_requested(
        &self,
        after_key: (Timestamp, SessionId),
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let ids = self
            .requested
            .range(after(after_key))
            .take_while(|(at, _)| *at < before)
            .map(|(_, id)| *id);
        Ok(self.sessions_of(ids, limit))
    }

    fn queue_index_sum(&self, topic: TopicId, nodes: &[u64]) -> Result<i64> {
        let Some(queue) = self.queue_counts.get(&topic) else {
            return Ok(0);
        };
        let sum: usize = nodes
            .iter()
            .map(|n| {
                let (low, high) = crate::backend::queue_index::node_range(*n);
                counted_upto(queue, high) - counted_upto(queue, low)
            })
            .sum();
        Ok(i64::try_from(sum).unwrap_or(i64::MAX))
    }

    fn queue_count_before(&self, topic: TopicId, seq: u64) -> Result<u32> {
        let n = self
            .queue_counts
            .get(&topic)
            .map_or(0, |q| counted_upto(q, seq.saturating_sub(1)));
        u32::try_from(n).map_err(|_| Error::corrupt(format!("queue of topic {topic} counts {n}")))
    }

    fn queue_len(&self, topic: TopicId) -> Result<u32> {
        let n = self.queue_counts.get(&topic).map_or(0, Vector::len);
        u32::try_from(n).map_err(|_| Error::corrupt(format!("queue of topic {topic} counts {n}")))
    }

    fn queue(&self, topic: TopicId, after_seq: u64, limit: usize) -> Result<Vec<(u64, SessionId)>> {
        Ok(self
            .queue
            .range((
                Bound::Excluded((topic, after_seq)),
                Bound::Included((topic, u64::MAX)),
            ))
            .take(limit)
            .map(|((_, seq), id)| (*seq, *id))
            .collect())
    }

    fn messages(
        &self,
        session: SessionId,
        after_id: MessageId,
        limit: usize,
    ) -> Result<Vec<MessageRecord>> {
        let Some(log) = self
            .shelf(self.messages_side(session))
            .messages
            .get(&session)
        else {
            return Ok(Vec::new());
        };
        let start = match log.binary_search_by(|m| {
            if m.id <= after_id {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        }) {
            Ok(i) | Err(i) => i,
        };
        let rest = if start == 0 {
            log.clone()
        } else {
            log.skip(start)
        };
        Ok(rest.iter().take(limit).map(|m| (**m).clone()).collect())
    }

    fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<EventRecord>> {
        Ok(self
            .events
            .range(after(after_seq))
            .take(limit)
            .map(|(_, e)| (**e).clone())
            .collect())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.meta.get(key).cloned())
    }
}

impl State {
    /// Moves a session's entry in its topic's counted queue when its
    /// human-queue key goes from `old`'s to `new`'s.
    fn count_queue(
        &mut self,
        old: Option<&SessionRecord>,
        new: Option<&SessionRecord>,
    ) -> Result<()> {
        let key = |s: &SessionRecord| s.human_queue_seq().map(|q| (s.topic, (q, s.id)));
        let (a, b) = (old.and_then(key), new.and_then(key));
        if a == b {
            return Ok(());
        }
        for (_, (seq, _)) in a.iter().chain(b.iter()) {
            crate::backend::queue_index::check_seq(*seq)?;
        }
        if let Some((topic, entry)) = a
            && let Some(queue) = self.queue_counts.get_mut(&topic)
        {
            if let Ok(i) = queue.binary_search(&entry) {
                queue.remove(i);
            }
            if queue.is_empty() {
                self.queue_counts.remove(&topic);
            }
        }
        if let Some((topic, entry)) = b {
            match self.queue_counts.get_mut(&topic) {
                Some(queue) => match queue.binary_search(&entry) {
                    Ok(_) => {}
                    Err(i) if i == queue.len() => queue.push_back(entry),
                    Err(i) => queue.insert(i, entry),
                },
                None => {
                    self.queue_counts.insert(topic, Vector::unit(entry));
                }
            }
        }
        Ok(())
    }

    /// Moves a session's index entries from `old` (the stored record, if
    /// any) to `new` (if any), each on its record's shelf. The sets (which
    /// hold the id in their key) are touched only where the entry changes;
    /// the key hash and queue slot always end up naming the newest record
    /// written with them (as on every backend), written only if they do not
    /// already.
    fn reindex_session(&mut self, old: Option<&SessionRecord>, new: Option<&SessionRecord>) {
        fn moved<K: PartialEq>(
            old: Option<&SessionRecord>,
            new: Option<&SessionRecord>,
            key: impl Fn(&SessionRecord) -> Option<K>,
        ) -> (Option<K>, Option<K>) {
            let (a, b) = (old.and_then(&key), new.and_then(&key));
            if a == b { (None, None) } else { (a, b) }
        }
        if let (Some(hash), _) = moved(old, new, |s| Some(s.key_hash)) {
            self.open.by_key.remove(&hash);
            self.ended.by_key.remove(&hash);
        }
        if let Some(s) = new {
            let (here, there) = match Side::of(s) {
                Side::Open => (&mut self.open, &mut self.ended),
                Side::Ended => (&mut self.ended, &mut self.open),
            };
            if here.by_key.get(&s.key_hash) != Some(&s.id) {
                here.by_key.insert(s.key_hash, s.id);
            }
            if there.by_key.contains_key(&s.key_hash) {
                there.by_key.remove(&s.key_hash);
            }
        }
        let slot = |s: &SessionRecord| s.human_queue_seq().map(|q| (s.topic, q));
        if let (Some(a), _) = moved(old, new, slot) {
            self.queue.remove(&a);
        }
        if let Some((s, b)) = new.and_then(|s| slot(s).map(|b| (s, b)))
            && self.queue.get(&b) != Some(&s.id)
        {
            self.queue.insert(b, s.id);
        }
        let (a, b) = moved(old, new, |s| Some((Side::of(s), s.status.code(), s.id)));
        if let Some((side, code, id)) = a {
            self.shelf_mut(side).by_status.remove(&(code, id));
        }
        if let Some((side, code, id)) = b {
            self.shelf_mut(side).by_status.insert((code, id));
        }
        let (a, b) = moved(old, new, |s| Some((Side::of(s), s.topic, s.id)));
        if let Some((side, topic, id)) = a {
            self.shelf_mut(side).by_topic.remove(&(topic, id));
        }
        if let Some((side, topic, id)) = b {
            self.shelf_mut(side).by_topic.insert((topic, id));
        }
        let (a, b) = moved(old, new, |s| s.active_user().map(|u| (u, s.id)));
        if let Some(k) = a {
            self.active.remove(&k);
        }
        if let Some(k) = b {
            self.active.insert(k);
        }
        let (a, b) = moved(old, new, |s| s.pending_transfer_to().map(|u| (u, s.id)));
        if let Some(k) = a {
            self.transfers.remove(&k);
        }
        if let Some(k) = b {
            self.transfers.insert(k);
        }
        let (a, b) = moved(old, new, |s| Some((s.when_requested, s.id)));
        if let Some(k) = a {
            self.requested.remove(&k);
        }
        if let Some(k) = b {
            self.requested.insert(k);
        }
    }

    /// Moves the messages of session `id` from one shelf to the other.
    fn move_messages(&mut self, id: SessionId, from: Side, to: Side) {
        if from == to {
            return;
        }
        let Some(log) = self.shelf_mut(from).messages.remove(&id) else {
            return;
        };
        if self.shelf(to).messages.contains_key(&id) {
            for m in log {
                self.add_message(to, m);
            }
        } else {
            self.shelf_mut(to).messages.insert(id, log);
        }
    }

    /// Inserts or replaces a message in its session's log on shelf `side`.
    fn add_message(&mut self, side: Side, m: Arc<MessageRecord>) {
        let shelf = self.shelf_mut(side);
        let Some(log) = shelf.messages.get_mut(&m.session) else {
            shelf.messages.insert(m.session, Vector::unit(m));
            return;
        };
        if log.last().is_none_or(|last| last.id < m.id) {
            log.push_back(m);
            return;
        }
        match log.binary_search_by(|x| x.id.cmp(&m.id)) {
            Ok(i) => {
                log.set(i, m);
            }
            Err(i) => log.insert(i, m),
        }
    }
}

impl WriteTx for State {
    fn next_id(&mut self, kind: IdKind) -> Result<i64> {
        let slot = IdKind::ALL
            .iter()
            .position(|k| *k == kind)
            .and_then(|i| self.counters.get_mut(i))
            .ok_or_else(|| Error::corrupt(format!("no counter for {kind:?}")))?;
        let next = next_after(kind, *slot)?;
        *slot = next;
        Ok(next)
    }

    fn put_topic(&mut self, topic: &TopicRecord) -> Result<()> {
        self.topics.insert(topic.id, Arc::new(topic.clone()));
        Ok(())
    }

    fn delete_topic(&mut self, id: TopicId) -> Result<()> {
        self.topics.remove(&id);
        Ok(())
    }

    fn put_member(&mut self, member: &MemberRecord) -> Result<()> {
        self.members.insert((member.topic, member.user), *member);
        self.members_by_user.insert((member.user, member.topic));
        Ok(())
    }

    fn delete_member(&mut self, topic: TopicId, user: UserId) -> Result<()> {
        self.members.remove(&(topic, user));
        self.members_by_user.remove(&(user, topic));
        Ok(())
    }

    fn put_presence(&mut self, presence: &PresenceRecord) -> Result<()> {
        self.presences
            .insert(presence.user, Arc::new(presence.clone()));
        Ok(())
    }

    fn put_agent(&mut self, agent: &AgentRecord) -> Result<()> {
        self.agents.insert(agent.user, *agent);
        Ok(())
    }

    fn set_routing_free(&mut self, topic: TopicId, user: UserId, free: bool) -> Result<()> {
        if free {
            self.routing_free.insert((topic, user));
        } else {
            self.routing_free.remove(&(topic, user));
        }
        Ok(())
    }

    fn put_session(&mut self, session: &SessionRecord) -> Result<()> {
        let old = self.find(session.id).map(|(s, side)| (Arc::clone(s), side));
        let old_record = old.as_ref().map(|(s, _)| &**s);
        self.count_queue(old_record, Some(session))?;
        self.reindex_session(old_record, Some(session));
        let to = Side::of(session);
        let from = old.as_ref().map_or(Side::Open, |(_, side)| *side);
        if from != to {
            if old.is_some() {
                self.shelf_mut(from).sessions.remove(&session.id);
            }
            self.move_messages(session.id, from, to);
        }
        self.shelf_mut(to)
            .sessions
            .insert(session.id, Arc::new(session.clone()));
        Ok(())
    }

    fn delete_session(&mut self, id: SessionId) -> Result<()> {
        if let Some((old, side)) = self.find(id).map(|(s, side)| (Arc::clone(s), side)) {
            self.shelf_mut(side).sessions.remove(&id);
            self.count_queue(Some(&old), None)?;
            self.reindex_session(Some(&old), None);
        }
        for side in [Side::Open, Side::Ended] {
            self.shelf_mut(side).messages.remove(&id);
        }
        Ok(())
    }

    fn put_message(&mut self, message: &MessageRecord) -> Result<()> {
        let side = self.messages_side(message.session);
        self.add_message(side, Arc::new(message.clone()));
        Ok(())
    }

    fn put_event(&mut self, event: &EventRecord) -> Result<()> {
        self.events.insert(event.seq, Arc::new(event.clone()));
        Ok(())
    }

    fn delete_events_through(&mut self, seq: i64) -> Result<usize> {
        let (_, rest) = self.events.split(&seq);
        let removed = self.events.len() - rest.len();
        self.events = rest;
        Ok(removed)
    }

    fn put_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.meta.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}
