//! What a write operation locks before it reads what it will change.
//!
//! Each operation names its footprint as a [`Scope`]: the topics and sessions
//! it works on, the users whose rank or load it reads or changes, and whether
//! it may run a routing pass. The footprint becomes a [`LockSet`] from facts
//! read before the write (a session's topic, which never changes; its current
//! agents, which may), so inside the write, right after the locks are taken,
//! the same facts are read again: if they now need more than was locked, the
//! write stops before doing anything and runs again with the wider set (a few
//! times, then alone with the exclusive routing lock). The facts read
//! again are stable once the locks are held: a session's agents change only
//! under its topic's lock, a user's memberships only under that user's lock,
//! and the list of Auto topics only under the exclusive routing lock.
//!
//! Embedded backends run one writer at a time and ignore locks; for them the
//! scope is worked out only in debug builds, where the service's transaction
//! wrapper checks every row written against it (see `Tx`), so the whole
//! conformance suite on the memory backend proves the declared scopes.

use crate::caller::{Caller, CallerKind};
use crate::error::Result;
use crate::ids::{IdKind, SessionId, TopicId, UserId};
use crate::model::SessionRecord;
use crate::storage::{LockSet, ReadTx, RoutingLock};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};

/// The footprint of one write operation (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    store: bool,
    routes: bool,
    topics: Vec<TopicId>,
    users: Vec<UserId>,
    sessions: Vec<SessionId>,
    /// Users whose topics with CanRespond are part of the footprint (pick
    /// up first looks at every such queue).
    responder_topics: Vec<UserId>,
    /// Customer session keys whose session is part of the footprint.
    keys: Vec<String>,
    /// Ids the operation will probably take (a hint for the backend).
    ids: Vec<IdKind>,
}

impl Scope {
    /// Store-wide: sweeps, purge, topic deletion, routing settings, the
    /// change-feed switch, anything batch-like. Runs alone.
    pub(crate) fn store() -> Self {
        Scope {
            store: true,
            ..Scope::default()
        }
    }

    /// What the caller itself brings: an agent's own rank and load, a
    /// customer's own session.
    pub(crate) fn of(caller: &Caller) -> Self {
        let mut s = Scope::default();
        match &caller.kind {
            CallerKind::Agent(u) => s.users.push(*u),
            CallerKind::Customer(key) => s.keys.push(key.as_str().to_string()),
            CallerKind::System | CallerKind::Anonymous => {}
        }
        s
    }

    /// Adds a topic.
    pub(crate) fn topic(mut self, t: TopicId) -> Self {
        self.topics.push(t);
        self
    }

    /// Adds a user (an agent whose rank or load the operation reads or
    /// changes, or whose presence, capacity or membership it writes).
    pub(crate) fn user(mut self, u: UserId) -> Self {
        self.users.push(u);
        self
    }

    /// Adds a session: its topic and every user it names.
    pub(crate) fn session(mut self, id: SessionId) -> Self {
        self.sessions.push(id);
        self
    }

    /// Adds every topic where `u` may respond.
    pub(crate) fn responder_topics(mut self, u: UserId) -> Self {
        self.responder_topics.push(u);
        self
    }

    /// The operation will probably take an id of `kind` (a new session's,
    /// a message's): a backend on a network takes it with the locks.
    pub(crate) fn takes(mut self, kind: IdKind) -> Self {
        self.ids.push(kind);
        self
    }

    /// The ids the operation will probably take.
    pub(crate) fn ids(&self) -> &[IdKind] {
        &self.ids
    }

    /// The operation may run a routing pass: while some topic is Auto it
    /// takes the exclusive routing lock.
    pub(crate) fn routing(mut self) -> Self {
        self.routes = true;
        self
    }

    /// Under the exclusive lock: notes whether any topic is Auto (for the
    /// next guess) when this scope depends on it, and returns the Auto
    /// topics then read.
    pub(crate) fn auto_under_exclusive(
        &self,
        tx: &dyn ReadTx,
        hints: &Hints,
    ) -> Result<Option<BTreeSet<TopicId>>> {
        if self.store || !self.routes {
            return Ok(None);
        }
        let a = super::routing::read_auto_topics(tx)?;
        hints.inner.lock().auto = !a.is_empty();
        Ok(Some(a))
    }

    /// The locks this scope needs given what `hints` remember, or None
    /// when they do not know every fact (a read finds them out then).
    pub(crate) fn guess(&self, hints: &Hints) -> Option<LockSet> {
        if self.store {
            return Some(exclusive());
        }
        if !self.responder_topics.is_empty() {
            return None;
        }
        let h = hints.inner.lock();
        if self.routes && h.auto {
            return Some(exclusive());
        }
        let mut topics: BTreeSet<TopicId> = self.topics.iter().copied().collect();
        let mut users: BTreeSet<UserId> = self.users.iter().copied().collect();
        let mut sessions = self.sessions.clone();
        for key in &self.keys {
            sessions.push(*h.keys.get(&super::keys::hash_key(key))?);
        }
        for id in sessions {
            let (topic, named) = h.sessions.get(&id)?;
            topics.insert(*topic);
            users.extend(named.iter().flatten());
        }
        Some(LockSet {
            routing: RoutingLock::Shared,
            topics: topics.into_iter().collect(),
            users: users.into_iter().collect(),
        })
    }

    /// The locks this scope needs, given the facts `tx` sees, with the
    /// facts read on the way (noted in `hints`).
    pub(crate) fn facts(&self, tx: &dyn ReadTx, hints: &Hints) -> Result<Facts> {
        if self.store {
            return Ok(Facts::store());
        }
        let mut auto = None;
        if self.routes {
            let a = super::routing::read_auto_topics(tx)?;
            hints.inner.lock().auto = !a.is_empty();
            if !a.is_empty() {
                return Ok(Facts {
                    auto: Some(a),
                    ..Facts::store()
                });
            }
            auto = Some(a);
        }
        let mut topics: BTreeSet<TopicId> = self.topics.iter().copied().collect();
        let mut users: BTreeSet<UserId> = self.users.iter().copied().collect();
        let mut ids = self.sessions.clone();
        for key in &self.keys {
            let hash = super::keys::hash_key(key);
            if let Some(id) = tx.session_by_key(&hash)? {
                hints.key(hash, id);
                ids.push(id);
            }
        }
        let mut sessions = Vec::new();
        for id in ids {
            if let Some(s) = tx.session(id)? {
                hints.session(&s);
                topics.insert(s.topic);
                users.extend(s.user);
                users.extend(s.transfer_to);
                sessions.push(s);
            }
        }
        for u in &self.responder_topics {
            for m in tx.user_memberships(*u)? {
                if m.can_respond {
                    topics.insert(m.topic);
                }
            }
        }
        Ok(Facts {
            set: LockSet {
                routing: RoutingLock::Shared,
                topics: topics.into_iter().collect(),
                users: users.into_iter().collect(),
            },
            auto,
            sessions,
        })
    }
}

/// What [`Scope::facts`] found: the locks needed, and the rows read to
/// find them (the transaction that holds the locks reuses them instead of
/// reading them again).
#[derive(Debug)]
pub(crate) struct Facts {
    pub(crate) set: LockSet,
    /// The Auto topics, when read.
    pub(crate) auto: Option<BTreeSet<TopicId>>,
    pub(crate) sessions: Vec<SessionRecord>,
}

impl Facts {
    fn store() -> Self {
        Facts {
            set: exclusive(),
            auto: None,
            sessions: Vec::new(),
        }
    }
}

/// What this process last saw of the facts that choose a scope: each
/// session's topic and named users, customer keys' sessions, whether any
/// topic is Auto. Only a guess that saves the read before a write: the
/// write checks the facts again once it holds its locks.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    inner: Mutex<HintMap>,
}

#[derive(Debug, Default)]
struct HintMap {
    sessions: HashMap<SessionId, (TopicId, [Option<UserId>; 2])>,
    keys: HashMap<[u8; 32], SessionId>,
    auto: bool,
}

/// Past this many entries a map of hints starts over (a guess costs one
/// read when missing, so a bound beats an eviction policy).
const HINT_LIMIT: usize = 8192;

impl Hints {
    /// Notes a session's topic and named users (as read or written).
    pub(crate) fn session(&self, s: &SessionRecord) {
        let mut h = self.inner.lock();
        if h.sessions.len() >= HINT_LIMIT {
            h.sessions.clear();
        }
        h.sessions.insert(s.id, (s.topic, [s.user, s.transfer_to]));
    }

    fn key(&self, hash: [u8; 32], id: SessionId) {
        let mut h = self.inner.lock();
        if h.keys.len() >= HINT_LIMIT {
            h.keys.clear();
        }
        h.keys.insert(hash, id);
    }
}

/// The store-wide lock set.
pub(crate) fn exclusive() -> LockSet {
    LockSet {
        routing: RoutingLock::Exclusive,
        topics: Vec::new(),
        users: Vec::new(),
    }
}

/// Whether `held` covers everything `need` asks for.
pub(crate) fn covers(held: &LockSet, need: &LockSet) -> bool {
    match (held.routing, need.routing) {
        (RoutingLock::Exclusive, _) => true,
        (RoutingLock::Shared, RoutingLock::Exclusive) => false,
        (RoutingLock::Shared, RoutingLock::Shared) => {
            need.topics
                .iter()
                .all(|t| held.topics.binary_search(t).is_ok())
                && need
                    .users
                    .iter()
                    .all(|u| held.users.binary_search(u).is_ok())
        }
    }
}

/// The smallest lock set covering both.
pub(crate) fn union(a: &LockSet, b: &LockSet) -> LockSet {
    if a.routing == RoutingLock::Exclusive || b.routing == RoutingLock::Exclusive {
        return exclusive();
    }
    let topics: BTreeSet<TopicId> = a.topics.iter().chain(&b.topics).copied().collect();
    let users: BTreeSet<UserId> = a.users.iter().chain(&b.users).copied().collect();
    LockSet {
        routing: RoutingLock::Shared,
        topics: topics.into_iter().collect(),
        users: users.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(topics: &[i32], users: &[i32]) -> LockSet {
        LockSet {
            routing: RoutingLock::Shared,
            topics: topics.iter().map(|t| TopicId(*t)).collect(),
            users: users.iter().map(|u| UserId(*u)).collect(),
        }
    }

    #[test]
    fn exclusive_covers_everything_and_shared_only_its_ids() {
        assert!(covers(&exclusive(), &shared(&[1], &[2])));
        assert!(!covers(&shared(&[1], &[2]), &exclusive()));
        assert!(covers(&shared(&[1, 3], &[2, 5]), &shared(&[3], &[5])));
        assert!(!covers(&shared(&[1], &[2]), &shared(&[1], &[3])));
        assert!(!covers(&shared(&[1], &[2]), &shared(&[4], &[])));
    }

    #[test]
    fn union_is_sorted_and_exclusive_wins() {
        assert_eq!(
            union(&shared(&[3], &[9]), &shared(&[1, 3], &[2])),
            shared(&[1, 3], &[2, 9])
        );
        assert_eq!(union(&shared(&[3], &[9]), &exclusive()), exclusive());
    }
}
