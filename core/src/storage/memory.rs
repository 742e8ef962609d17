//! The in-memory backend: persistent maps (imbl) behind a swap-on-commit root.
//!
//! A writer holds the fair writer mutex across clone → mutate → swap, so two
//! writers never start from the same snapshot (that would be a lost update);
//! `FairMutex` hands the lock over in arrival order. Readers take the current
//! root under a brief lock and never wait for a writer's closure. A failed
//! closure simply drops its private copy: nothing is visible.

use super::{ReadTx, Storage, WriteTx};
use crate::error::Result;
use crate::ids::{IdKind, MessageId, SessionId, TopicId, UserId, next_after};
use crate::model::{
    EventRecord, MemberRecord, MessageRecord, PresenceRecord, SessionRecord, TopicRecord,
};
use crate::wire::ChatSessionStatus;
use imbl::{OrdMap, OrdSet};
use parking_lot::{FairMutex, RwLock};
use std::ops::Bound;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
struct State {
    topics: OrdMap<TopicId, Arc<TopicRecord>>,
    members: OrdMap<(TopicId, UserId), MemberRecord>,
    members_by_user: OrdSet<(UserId, TopicId)>,
    presences: OrdMap<UserId, Arc<PresenceRecord>>,
    sessions: OrdMap<SessionId, Arc<SessionRecord>>,
    by_key: OrdMap<[u8; 32], SessionId>,
    by_status: OrdSet<(i32, SessionId)>,
    by_topic: OrdSet<(TopicId, SessionId)>,
    queue: OrdMap<(TopicId, u64), SessionId>,
    queue_index: OrdMap<(TopicId, u64), i64>,
    active: OrdSet<(UserId, SessionId)>,
    messages: OrdMap<(SessionId, MessageId), Arc<MessageRecord>>,
    counters: OrdMap<IdKind, i64>,
    events: OrdMap<i64, Arc<EventRecord>>,
    meta: OrdMap<String, String>,
}

/// The in-memory store: the reference backend, and the default in examples and
/// tests. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    root: RwLock<Arc<State>>,
    writer: FairMutex<()>,
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
        let writer = self.writer.lock();
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

impl State {
    fn sessions_of(
        &self,
        ids: impl Iterator<Item = SessionId>,
        limit: usize,
    ) -> Vec<SessionRecord> {
        ids.filter_map(|id| self.sessions.get(&id).map(|s| (**s).clone()))
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
        Ok(self.sessions.get(&id).map(|s| (**s).clone()))
    }

    fn session_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<SessionId>> {
        Ok(self.by_key.get(key_hash).copied())
    }

    fn sessions_by_status(
        &self,
        status: ChatSessionStatus,
        after: SessionId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let code = status.code();
        let ids = self
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
        let ids = self
            .by_topic
            .range((
                Bound::Excluded((topic, after)),
                Bound::Included((topic, SessionId(i32::MAX))),
            ))
            .map(|(_, id)| *id);
        Ok(self.sessions_of(ids, limit))
    }

    fn sessions(&self, after_id: SessionId, limit: usize) -> Result<Vec<SessionRecord>> {
        Ok(self
            .sessions
            .range(after(after_id))
            .take(limit)
            .map(|(_, s)| (**s).clone())
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
            .filter_map(|(_, id)| self.sessions.get(id).map(|s| (*id, s.rank)))
            .collect())
    }

    fn queue_index_sum(&self, topic: TopicId, nodes: &[u64]) -> Result<i64> {
        Ok(nodes
            .iter()
            .filter_map(|n| self.queue_index.get(&(topic, *n)))
            .sum())
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
        Ok(self
            .messages
            .range((
                Bound::Excluded((session, after_id)),
                Bound::Included((session, MessageId(i32::MAX))),
            ))
            .take(limit)
            .map(|(_, m)| (**m).clone())
            .collect())
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
    /// Applies the counted queue index's changes for a session going from
    /// `old` to `new`.
    fn count_queue(
        &mut self,
        old: Option<&SessionRecord>,
        new: Option<&SessionRecord>,
    ) -> Result<()> {
        let key = |s: &SessionRecord| s.human_queue_seq().map(|q| (s.topic, q));
        for (topic, node, delta) in
            crate::queue_index::changes(old.and_then(key), new.and_then(key))?
        {
            // One search for the common case (the node exists and stays
            // non-zero); insert or remove only when it appears or empties.
            match self.queue_index.get_mut(&(topic, node)) {
                Some(count) if *count + delta != 0 => *count += delta,
                Some(_) => {
                    self.queue_index.remove(&(topic, node));
                }
                None => {
                    if delta != 0 {
                        self.queue_index.insert((topic, node), delta);
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves a session's index entries from `old` (the stored record, if
    /// any) to `new` (if any). The sets (which hold the id in their key) are
    /// touched only where the key changes; the two maps (key hash → id,
    /// queue slot → id) are always written for the new record, so that a
    /// slot another record took over in between comes back, as on every
    /// backend.
    fn reindex_session(&mut self, old: Option<&SessionRecord>, new: Option<&SessionRecord>) {
        fn moved<K: PartialEq>(
            old: Option<&SessionRecord>,
            new: Option<&SessionRecord>,
            key: impl Fn(&SessionRecord) -> Option<K>,
        ) -> (Option<K>, Option<K>) {
            let (a, b) = (old.and_then(&key), new.and_then(&key));
            if a == b { (None, None) } else { (a, b) }
        }
        if let (Some(a), _) = moved(old, new, |s| Some(s.key_hash)) {
            self.by_key.remove(&a);
        }
        if let Some(s) = new {
            self.by_key.insert(s.key_hash, s.id);
        }
        let slot = |s: &SessionRecord| s.human_queue_seq().map(|q| (s.topic, q));
        if let (Some(a), _) = moved(old, new, slot) {
            self.queue.remove(&a);
        }
        if let Some((s, b)) = new.and_then(|s| slot(s).map(|b| (s, b))) {
            self.queue.insert(b, s.id);
        }
        let (a, b) = moved(old, new, |s| Some((s.status.code(), s.id)));
        if let Some(k) = a {
            self.by_status.remove(&k);
        }
        if let Some(k) = b {
            self.by_status.insert(k);
        }
        let (a, b) = moved(old, new, |s| Some((s.topic, s.id)));
        if let Some(k) = a {
            self.by_topic.remove(&k);
        }
        if let Some(k) = b {
            self.by_topic.insert(k);
        }
        let (a, b) = moved(old, new, |s| s.active_user().map(|u| (u, s.id)));
        if let Some(k) = a {
            self.active.remove(&k);
        }
        if let Some(k) = b {
            self.active.insert(k);
        }
    }
}

impl WriteTx for State {
    fn next_id(&mut self, kind: IdKind) -> Result<i64> {
        let last = self.counters.get(&kind).copied().unwrap_or(0);
        let next = next_after(kind, last)?;
        self.counters.insert(kind, next);
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

    fn put_session(&mut self, session: &SessionRecord) -> Result<()> {
        let old = self.sessions.get(&session.id).cloned();
        self.count_queue(old.as_deref(), Some(session))?;
        self.reindex_session(old.as_deref(), Some(session));
        self.sessions.insert(session.id, Arc::new(session.clone()));
        Ok(())
    }

    fn delete_session(&mut self, id: SessionId) -> Result<()> {
        if let Some(old) = self.sessions.remove(&id) {
            self.count_queue(Some(&old), None)?;
            self.reindex_session(Some(&old), None);
        }
        let keys: Vec<_> = self
            .messages
            .range((id, MessageId(i32::MIN))..=(id, MessageId(i32::MAX)))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.messages.remove(&k);
        }
        Ok(())
    }

    fn put_message(&mut self, message: &MessageRecord) -> Result<()> {
        self.messages
            .insert((message.session, message.id), Arc::new(message.clone()));
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
