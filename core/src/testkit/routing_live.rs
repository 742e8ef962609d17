//! Routing under real threads: the invariant (no session waiting in an Auto
//! topic's human queue has an eligible agent) checked from consistent
//! snapshots while agents come and go and customers arrive and leave, and
//! no routed assignment ever pushing an agent past their capacity.

use super::Fixture;
use super::rng::Rng;
use crate::model::{AgentRecord, SessionRecord, TopicRecord};
use crate::storage::{ReadTx, Storage, StorageExt};
use crate::wire::{ChatMessage, ChatTopicRouting, RoutingMode, RoutingStrategy};
use crate::{Caller, ChatAgentCapacity, SessionId, TopicId, UserId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What one read transaction shows of routing: every session, topic,
/// membership with CanRespond, presence and agent record.
#[derive(Debug, Default)]
pub struct RoutingSnapshot {
    pub sessions: Vec<SessionRecord>,
    pub topics: BTreeMap<TopicId, TopicRecord>,
    /// (topic, user) of every member with CanRespond.
    pub responders: BTreeSet<(TopicId, UserId)>,
    pub present: BTreeSet<UserId>,
    pub agents: BTreeMap<UserId, AgentRecord>,
    /// The routing index as stored: (topic, user) marked free.
    pub free: BTreeSet<(TopicId, UserId)>,
}

impl RoutingSnapshot {
    /// Reads everything in one read transaction.
    pub fn read(tx: &dyn ReadTx) -> crate::Result<Self> {
        let mut snap = RoutingSnapshot {
            sessions: tx.sessions(SessionId(0), usize::MAX)?,
            ..RoutingSnapshot::default()
        };
        for t in tx.topics()? {
            for u in tx.routing_free(t.id)? {
                snap.free.insert((t.id, u));
            }
            snap.topics.insert(t.id, t);
        }
        let mut users = BTreeSet::new();
        for m in tx.all_members()? {
            users.insert(m.user);
            if m.can_respond {
                snap.responders.insert((m.topic, m.user));
            }
        }
        for p in tx.presences()? {
            users.insert(p.user);
            if p.present {
                snap.present.insert(p.user);
            }
        }
        for u in users {
            if let Some(a) = tx.agent(u)? {
                snap.agents.insert(u, a);
            }
        }
        Ok(snap)
    }

    /// An agent's load: active sessions with them as User plus pending
    /// transfers to them, counted from the sessions themselves.
    pub fn load(&self, user: UserId) -> i32 {
        let n = self
            .sessions
            .iter()
            .filter(|s| s.active_user() == Some(user) || s.pending_transfer_to() == Some(user))
            .count();
        i32::try_from(n).unwrap_or(i32::MAX)
    }

    /// An agent's capacity in a topic: their MaxChats, else its DefaultCapacity.
    pub fn capacity(&self, user: UserId, topic: TopicId) -> i32 {
        let default = self
            .topics
            .get(&topic)
            .map_or(3, |t| t.routing.default_capacity);
        self.agents
            .get(&user)
            .and_then(|a| a.max_chats)
            .unwrap_or(default)
    }

    /// The routing index holds exactly the (Auto topic, member with
    /// CanRespond, Present, below capacity) pairs.
    pub fn check_index(&self) -> Result<(), String> {
        let mut expected = BTreeSet::new();
        for (topic, user) in &self.responders {
            let auto = self
                .topics
                .get(topic)
                .is_some_and(|t| t.routing.mode == RoutingMode::Auto);
            if auto
                && self.present.contains(user)
                && self.load(*user) < self.capacity(*user, *topic)
            {
                expected.insert((*topic, *user));
            }
        }
        if expected == self.free {
            Ok(())
        } else {
            Err(format!(
                "routing index {:?}, expected {:?}",
                self.free, expected
            ))
        }
    }

    /// The invariant: no session waiting in the human queue of an Auto
    /// topic has an eligible agent. Returns the first violation.
    pub fn check_invariant(&self) -> Result<(), String> {
        self.check_index()?;
        for s in &self.sessions {
            if !s.in_human_queue() {
                continue;
            }
            let Some(t) = self.topics.get(&s.topic) else {
                continue;
            };
            if t.routing.mode != RoutingMode::Auto {
                continue;
            }
            for (topic, user) in &self.responders {
                if *topic != s.topic
                    || !self.present.contains(user)
                    || s.routing.excluded.contains(user)
                {
                    continue;
                }
                if self.load(*user) < self.capacity(*user, s.topic) {
                    return Err(format!(
                        "session {} waits in Auto topic {} while agent {user} is eligible \
                         (load {} of {})",
                        s.id,
                        s.topic,
                        self.load(*user),
                        self.capacity(*user, s.topic)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Checks the invariant on one consistent snapshot of `store`.
pub fn assert_routing_invariant<S: Storage>(store: &S) {
    let snap = store.read(RoutingSnapshot::read).unwrap();
    if let Err(e) = snap.check_invariant() {
        panic!("routing invariant broken: {e}");
    }
}

const AGENTS: i32 = 6;
const CAPACITY: i32 = 2;
const OPS_PER_THREAD: usize = 50;

/// 8 threads on an Auto desk: customers arrive and close, agents come and
/// go, write and close, the routing and idle sweeps run, while a reader
/// checks the invariant from snapshots. Nobody picks up or transfers by
/// hand, so every assignment is routing's: no agent's load may ever pass
/// their capacity, no rank may repeat.
pub fn eight_threads_keep_the_routing_invariant<S: Storage>(store: S) {
    let fx = Arc::new(Fixture::new(store));
    let sys = Caller::system();
    let topics: Vec<TopicId> = (0..2)
        .map(|i| {
            let t = fx.topic(&format!("routed {i}"));
            for u in 1..=AGENTS {
                // Agents 1–4 answer topic 0, agents 3–6 topic 1.
                let responds = if i == 0 { u <= 4 } else { u >= 3 };
                fx.member(t, u, (true, responds, false, false));
            }
            fx.desk
                .save_chat_topic_routing(
                    &sys,
                    &ChatTopicRouting {
                        mode: RoutingMode::Auto,
                        strategy: if i == 0 {
                            RoutingStrategy::LeastBusy
                        } else {
                            RoutingStrategy::LongestIdle
                        },
                        default_capacity: CAPACITY + 1,
                        answer_timeout_seconds: 30,
                        ..ChatTopicRouting::defaults_for(t)
                    },
                )
                .unwrap();
            t
        })
        .collect();
    for u in 1..=AGENTS {
        fx.desk
            .save_chat_agent_capacity(
                &sys,
                &ChatAgentCapacity {
                    user_id: u,
                    max_chats: Some(CAPACITY),
                },
            )
            .unwrap();
        fx.present(u, true);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let fx = Arc::clone(&fx);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut checked = 0u32;
            while !stop.load(Ordering::Acquire) || checked == 0 {
                let snap = fx.desk.storage().read(RoutingSnapshot::read).unwrap();
                if let Err(e) = snap.check_invariant() {
                    panic!("routing invariant broken in a snapshot: {e}");
                }
                for u in 1..=AGENTS {
                    let load = snap.load(UserId(u));
                    assert!(
                        load <= CAPACITY,
                        "agent {u} holds {load} chats, capacity {CAPACITY}"
                    );
                }
                let mut ranks: BTreeSet<(UserId, i32)> = BTreeSet::new();
                for s in &snap.sessions {
                    if let Some(u) = s.active_user() {
                        assert!(ranks.insert((u, s.rank)), "rank {} of {u} twice", s.rank);
                    }
                }
                checked += 1;
            }
            checked
        })
    };
    let workers: Vec<_> = (0..7u64)
        .map(|n| {
            let fx = Arc::clone(&fx);
            let topics = topics.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::seeded(0x5eed_0000 + n);
                let sys = Caller::system();
                let mut mine: Vec<(SessionId, String)> = Vec::new();
                for _ in 0..OPS_PER_THREAD {
                    match n {
                        // Customers: arrive, write, leave.
                        0..=3 => {
                            let r = rng.below(10);
                            if r < 5 || mine.is_empty() {
                                let t = topics[rng.below(2)];
                                mine.push(fx.customer_session(t, &format!("c{n}")));
                            } else if r < 8 {
                                let (id, key) = &mine[rng.below(mine.len())];
                                let m = ChatMessage {
                                    message: "hello".into(),
                                    ..ChatMessage::default()
                                };
                                let _ = fx.desk.add_chat_message(
                                    &Caller::customer(key.clone()),
                                    *id,
                                    &m,
                                );
                            } else {
                                let i = rng.below(mine.len());
                                let (id, key) = mine.swap_remove(i);
                                let _ = fx.desk.close_chat_session(&Caller::customer(key), id);
                            }
                        }
                        // Agents: come and go, answer, close.
                        4 | 5 => {
                            let u = 1 + rng.int(AGENTS);
                            let me = Caller::agent(u);
                            match rng.below(6) {
                                0 => fx.present(u, false),
                                1 | 2 => fx.present(u, true),
                                3 | 4 => {
                                    for s in fx.desk.chat_sessions_for_user(&me).unwrap() {
                                        if s.user_id() == Some(UserId(u)) {
                                            let m = ChatMessage {
                                                message: "hi".into(),
                                                ..ChatMessage::default()
                                            };
                                            let _ = fx.desk.add_chat_message(&me, s.id(), &m);
                                        }
                                    }
                                }
                                _ => {
                                    for s in fx.desk.chat_sessions_for_user(&me).unwrap() {
                                        if s.user_id() == Some(UserId(u)) {
                                            let _ = fx.desk.close_chat_session(&me, s.id());
                                            break;
                                        }
                                    }
                                }
                            }
                        }
                        // Time and the sweeps.
                        _ => {
                            fx.clock.advance_secs(7);
                            fx.desk.routing_sweep(&sys).unwrap();
                            if rng.below(4) == 0 {
                                fx.desk.idle_sweep(&sys).unwrap();
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    let checked = reader.join().unwrap();
    assert!(checked > 0);
    assert_routing_invariant(fx.desk.storage());
    // The run did route: many sessions got an agent without a manual pick-up.
    let snap = fx.desk.storage().read(RoutingSnapshot::read).unwrap();
    let served = snap.sessions.iter().filter(|s| s.user.is_some()).count();
    assert!(served >= 20, "only {served} sessions were ever assigned");
}
