//! The in-memory baseline: ordinary maps under one `parking_lot::RwLock`,
//! holding the records the memory backend holds, with the same index entries
//! (by key hash, by status, by topic, the queue and its counted index), and a session key drawn from
//! the OS random source as the operation draws one.

use crate::{Service, Subject, queued_record, random_key};
use chatdesk::backend::{IdKind, StorageExt};
use chatdesk::backend::{MemberRecord, PresenceRecord, SessionRecord, TopicRecord};
use chatdesk::{Clock, SessionId, SystemClock, TopicId, UserId};
use parking_lot::RwLock;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Default)]
struct Maps {
    topics: BTreeMap<TopicId, TopicRecord>,
    members: BTreeMap<(TopicId, UserId), MemberRecord>,
    presences: BTreeMap<UserId, PresenceRecord>,
    counters: BTreeMap<IdKind, i64>,
    sessions: BTreeMap<SessionId, SessionRecord>,
    by_key: HashMap<[u8; 32], SessionId>,
    by_status: BTreeSet<(i32, SessionId)>,
    by_topic: BTreeSet<(TopicId, SessionId)>,
    queue: BTreeMap<(TopicId, u64), SessionId>,
    queue_index: BTreeMap<(TopicId, u64), i64>,
}

impl Maps {
    fn next_id(&mut self, kind: IdKind) -> i64 {
        let next = self.counters.get(&kind).copied().unwrap_or(0) + 1;
        self.counters.insert(kind, next);
        next
    }
}

/// Maps under a lock, seeded with the records the service's fixture holds.
#[derive(Debug)]
pub struct RawMemory {
    maps: RwLock<Maps>,
    topic: TopicId,
}

impl Default for RawMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl RawMemory {
    /// Maps holding a copy of a freshly seeded memory store's topic,
    /// memberships and presences.
    ///
    /// # Panics
    /// When reading the seeded store fails.
    pub fn new() -> Self {
        let seeded = Service::memory();
        let (topics, members, presences) = seeded
            .desk
            .storage()
            .read(|tx| Ok((tx.topics()?, tx.all_members()?, tx.presences()?)))
            .expect("reading the seeded store");
        let maps = Maps {
            topics: topics.into_iter().map(|t| (t.id, t)).collect(),
            members: members
                .into_iter()
                .map(|m| ((m.topic, m.user), m))
                .collect(),
            presences: presences.into_iter().map(|p| (p.user, p)).collect(),
            ..Maps::default()
        };
        RawMemory {
            maps: RwLock::new(maps),
            topic: seeded.topic,
        }
    }
}

impl Subject for RawMemory {
    fn create(&mut self) -> SessionId {
        let key_hash = random_key();
        let now = SystemClock.now();
        let topic = self.topic;
        let mut m = self.maps.write();
        let bot = m
            .topics
            .get(&topic)
            .expect("the topic")
            .settings
            .bot_enabled;
        let staffed = m
            .members
            .range((topic, UserId(i32::MIN))..=(topic, UserId(i32::MAX)))
            .any(|(_, mb)| mb.can_respond && m.presences.get(&mb.user).is_some_and(|p| p.present));
        assert!(staffed && !bot, "the topic is staffed, without a bot");
        let id = SessionId(i32::try_from(m.next_id(IdKind::Session)).expect("a small id"));
        let seq = u64::try_from(m.next_id(IdKind::QueueSeq)).expect("a positive sequence");
        // The counted queue index, as the backend reads and writes it.
        let before: i64 = chatdesk::backend::queue_index::prefix_nodes(seq - 1)
            .into_iter()
            .filter_map(|n| m.queue_index.get(&(topic, n)))
            .sum();
        for n in chatdesk::backend::queue_index::update_nodes(seq).expect("a sequence in range") {
            *m.queue_index.entry((topic, n)).or_default() += 1;
        }
        let pos = i32::try_from(before).expect("a short queue") + 1;
        let s = queued_record(id, topic, key_hash, now, seq, pos);
        m.by_key.insert(s.key_hash, id);
        m.by_status.insert((s.status.code(), id));
        m.by_topic.insert((topic, id));
        m.queue.insert((topic, seq), id);
        m.sessions.insert(id, s.clone());
        id
    }

    fn drain(&mut self, ids: &[SessionId]) {
        let mut m = self.maps.write();
        for id in ids {
            let s = m.sessions.remove(id).expect("a created session");
            m.by_key.remove(&s.key_hash);
            m.by_status.remove(&(s.status.code(), s.id));
            m.by_topic.remove(&(s.topic, s.id));
            if let Some(seq) = s.queue_seq {
                m.queue.remove(&(s.topic, seq));
            }
        }
        m.queue_index.clear();
    }
}
