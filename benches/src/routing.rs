//! Routing's cost (issue 12), as ratio pairs measured in one run:
//!
//! - `routed_busy_<op>_<backend>`: an operation on a busy routed desk — 1 000
//!   agents, 100 Auto topics, 10 000 customers waiting, every agent present
//!   and at capacity — over the same operation on the same desk with every
//!   topic Manual (target ≤ 1.3: the pass must not scan queues or agents).
//! - `routed_assign_<backend>`: a create on an Auto topic that routing
//!   assigns at once over a create plus a manual pick-up on a Manual topic
//!   (target ≤ 1.3). The chat is closed after each, outside the timing.
//!
//! Sizes are divided by 1 000 in quick mode (`CHATDESK_BENCH_QUICK=1`).

use crate::ops::{Backend, Pair, Side, quick};
use crate::{open_sled, open_sqlite, request, sqlite_file, temp_dir};
use chatdesk::{
    Caller, ChatAgentCapacity, ChatDesk, ChatMessage, ChatPresence, ChatSessionStatus,
    ChatTopicAgent, ChatTopicRouting, Durability, MemoryStorage, RoutingMode, SessionId, Storage,
    TopicId, UserId,
};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The operations measured on the busy desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyOp {
    /// A customer asks for a chat (it waits: nobody is free).
    Create,
    /// An agent saves their presence again, unchanged (a heartbeat).
    Presence,
    /// An agent goes away and comes back, in turns (each save changes their
    /// presence: the index is brought up to date and a pass runs).
    AwayAndBack,
    /// An agent writes to their chat.
    AgentMessage,
    /// A waiting customer asks for their place in the queue.
    QueuePosition,
    /// An agent reads their chat.
    GetEntity,
}

impl BusyOp {
    /// Every operation.
    pub const ALL: [BusyOp; 6] = [
        BusyOp::Create,
        BusyOp::Presence,
        BusyOp::AwayAndBack,
        BusyOp::AgentMessage,
        BusyOp::QueuePosition,
        BusyOp::GetEntity,
    ];

    fn name(self) -> &'static str {
        match self {
            BusyOp::Create => "create",
            BusyOp::Presence => "presence",
            BusyOp::AwayAndBack => "away_and_back",
            BusyOp::AgentMessage => "agent_message",
            BusyOp::QueuePosition => "queue_position",
            BusyOp::GetEntity => "get_entity",
        }
    }
}

struct Sizes {
    agents: i32,
    topics: i32,
    waiting: usize,
}

fn sizes() -> Sizes {
    if quick() {
        Sizes {
            agents: 8,
            topics: 4,
            waiting: 20,
        }
    } else {
        Sizes {
            agents: 1000,
            topics: 100,
            waiting: 10_000,
        }
    }
}

/// A busy desk and what its operations need.
struct Busy<S: Storage> {
    desk: ChatDesk<S>,
    topics: Vec<TopicId>,
    /// (agent, their chat).
    chats: Vec<(UserId, SessionId)>,
    /// (session, key) of some waiting customers.
    waiting: Vec<(SessionId, String)>,
    op: BusyOp,
    turn: usize,
    _dir: Option<TempDir>,
}

fn must<T>(r: chatdesk::Result<T>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Builds the busy desk in `desk`: every agent a responder of two topics,
/// present, capacity 1, with one chat each; `waiting` customers queued.
fn fill<S: Storage>(desk: &ChatDesk<S>, auto: bool) -> Filled {
    let z = sizes();
    let host = Caller::system();
    let topics: Vec<TopicId> = (0..z.topics)
        .map(|i| {
            let mut t = desk.create_default_chat_topic_entity(&host);
            t.name = format!("Topic {i}");
            t.welcome_message = "Welcome!".into();
            must(desk.save_chat_topic_entity(&host, &t), "saving a topic").id()
        })
        .collect();
    let first_topic = |u: i32| topics[usize::try_from(u % z.topics).unwrap_or(0)];
    let second_topic = |u: i32| topics[usize::try_from((u * 7 + 3) % z.topics).unwrap_or(0)];
    let mut members = Vec::new();
    for u in 1..=z.agents {
        for t in [first_topic(u), second_topic(u)] {
            if !members.contains(&(t, u)) {
                members.push((t, u));
            }
        }
    }
    let list: Vec<ChatTopicAgent> = members
        .iter()
        .map(|(t, u)| ChatTopicAgent {
            can_respond: true,
            can_listen: true,
            ..ChatTopicAgent::new(*t, UserId(*u))
        })
        .collect();
    for chunk in list.chunks(500) {
        must(
            desk.update_chat_topic_user_agents(&host, chunk),
            "adding members",
        );
    }
    for u in 1..=z.agents {
        must(
            desk.save_chat_agent_capacity(
                &host,
                &ChatAgentCapacity {
                    user_id: u,
                    max_chats: Some(1),
                },
            ),
            "saving a capacity",
        );
    }
    if auto {
        for t in &topics {
            must(
                desk.save_chat_topic_routing(
                    &host,
                    &ChatTopicRouting {
                        mode: RoutingMode::Auto,
                        default_capacity: 1,
                        ..ChatTopicRouting::defaults_for(*t)
                    },
                ),
                "turning a topic Auto",
            );
        }
    }
    let presences: Vec<ChatPresence> = (1..=z.agents)
        .map(|u| ChatPresence::new(UserId(u), true, format!("Agent {u}")))
        .collect();
    for chunk in presences.chunks(500) {
        must(
            desk.save_all_chat_presence(&host, chunk),
            "saving presences",
        );
    }
    let anon = Caller::anonymous();
    let mut chats = Vec::new();
    if auto {
        // Fill every topic until a new customer has to wait: then nobody in
        // it is free.
        for t in &topics {
            loop {
                let s = must(
                    desk.create_chat_session_for_topic(&anon, *t, &request()),
                    "a create",
                );
                match s.user_id() {
                    Some(u) => chats.push((u, s.id())),
                    None => break,
                }
            }
        }
    } else {
        for u in 1..=z.agents {
            let s = must(
                desk.create_chat_session_for_topic(&anon, first_topic(u), &request()),
                "a create",
            );
            let picked = must(
                desk.pick_up_chat_session(&Caller::agent(u), s.id()),
                "a pick-up",
            );
            assert!(picked.is_some(), "the session waited");
            chats.push((UserId(u), s.id()));
        }
    }
    let mut waiting = Vec::new();
    let mut i = 0usize;
    while waiting.len() < z.waiting {
        let t = topics[i % topics.len()];
        i += 1;
        let s = must(
            desk.create_chat_session_for_topic(&anon, t, &request()),
            "a waiting create",
        );
        assert_eq!(s.status, ChatSessionStatus::InQueue, "nobody is free");
        if waiting.len() < 1000 {
            waiting.push((s.id(), s.session_key.clone()));
        } else {
            waiting.push((s.id(), String::new()));
        }
    }
    waiting.retain(|(_, k)| !k.is_empty());
    chats.sort();
    (topics, chats, waiting)
}

impl<S: Storage> Busy<S> {
    fn step(&mut self) {
        self.turn = self.turn.wrapping_add(1);
        let i = self.turn;
        match self.op {
            BusyOp::Create => {
                let t = self.topics[i % self.topics.len()];
                must(
                    self.desk
                        .create_chat_session_for_topic(&Caller::anonymous(), t, &request()),
                    "a create",
                );
            }
            BusyOp::Presence => {
                let (u, _) = self.chats[i % self.chats.len()];
                must(
                    self.desk.save_chat_presence(
                        &Caller::agent(u),
                        &ChatPresence::new(u, true, format!("Agent {u}")),
                    ),
                    "a presence",
                );
            }
            BusyOp::AwayAndBack => {
                let (u, _) = self.chats[(i.saturating_sub(1) / 2) % self.chats.len()];
                must(
                    self.desk.save_chat_presence(
                        &Caller::agent(u),
                        &ChatPresence::new(u, i.is_multiple_of(2), format!("Agent {u}")),
                    ),
                    "a presence",
                );
            }
            BusyOp::AgentMessage => {
                let (u, s) = self.chats[i % self.chats.len()];
                let m = ChatMessage {
                    message: "Let me check that for you.".into(),
                    ..ChatMessage::default()
                };
                must(
                    self.desk.add_chat_message(&Caller::agent(u), s, &m),
                    "a message",
                );
            }
            BusyOp::QueuePosition => {
                let (s, key) = &self.waiting[i % self.waiting.len()];
                must(
                    self.desk
                        .get_queue_position(&Caller::customer(key.clone()), *s),
                    "a position",
                );
            }
            BusyOp::GetEntity => {
                let (u, s) = self.chats[i % self.chats.len()];
                must(
                    self.desk.get_chat_session_entity(&Caller::agent(u), s),
                    "a get",
                );
            }
        }
    }
}

impl<S: Storage> Side for Busy<S> {
    fn run(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.step();
        }
        start.elapsed()
    }
}

/// Opens `backend`'s store, lets `build` fill it (disk stores in relaxed
/// mode, then reopened in the measured mode), and makes the side.
fn over<T>(
    backend: Backend,
    build: impl Fn(&ChatDesk<MemoryStorage>) -> T,
    build_sqlite: impl Fn(&ChatDesk<chatdesk_sqlite::SqliteStorage>) -> T,
    build_sled: impl Fn(&ChatDesk<chatdesk_sled::SledStorage>) -> T,
    make: impl FnOnce(Store, T, Option<TempDir>) -> Box<dyn Side>,
) -> Box<dyn Side> {
    match backend {
        Backend::Memory => {
            let desk = ChatDesk::new(MemoryStorage::new());
            let info = build(&desk);
            make(Store::Memory(desk), info, None)
        }
        Backend::Sqlite(d) => {
            let dir = temp_dir();
            let path = sqlite_file(dir.path());
            let desk = ChatDesk::new(open_sqlite(&path, Durability::Relaxed));
            let info = build_sqlite(&desk);
            must(desk.into_storage().close(), "closing the filled store");
            let desk = ChatDesk::new(open_sqlite(&path, d));
            make(Store::Sqlite(desk), info, Some(dir))
        }
        Backend::Sled(d) => {
            let dir = temp_dir();
            let desk = ChatDesk::new(open_sled(dir.path(), Durability::Relaxed));
            let info = build_sled(&desk);
            must(desk.storage().flush(), "flushing the filled store");
            drop(desk);
            let desk = ChatDesk::new(open_sled(dir.path(), d));
            make(Store::Sled(desk), info, Some(dir))
        }
    }
}

/// A desk over one of the backends.
enum Store {
    Memory(ChatDesk<MemoryStorage>),
    Sqlite(ChatDesk<chatdesk_sqlite::SqliteStorage>),
    Sled(ChatDesk<chatdesk_sled::SledStorage>),
}

type Filled = (
    Vec<TopicId>,
    Vec<(UserId, SessionId)>,
    Vec<(SessionId, String)>,
);

fn busy_side(op: BusyOp, backend: Backend, auto: bool) -> Box<dyn Side> {
    over(
        backend,
        |d| fill(d, auto),
        |d| fill(d, auto),
        |d| fill(d, auto),
        move |store, (topics, chats, waiting): Filled, dir| match store {
            Store::Memory(desk) => Box::new(Busy {
                desk,
                topics,
                chats,
                waiting,
                op,
                turn: 0,
                _dir: dir,
            }),
            Store::Sqlite(desk) => Box::new(Busy {
                desk,
                topics,
                chats,
                waiting,
                op,
                turn: 0,
                _dir: dir,
            }),
            Store::Sled(desk) => Box::new(Busy {
                desk,
                topics,
                chats,
                waiting,
                op,
                turn: 0,
                _dir: dir,
            }),
        },
    )
}

/// How many agents the assignment pair's topic has.
const ASSIGN_AGENTS: i32 = 10;

/// A topic with [`ASSIGN_AGENTS`] present agents (capacity 1000), Auto or
/// Manual; returns it.
fn assign_topic<S: Storage>(desk: &ChatDesk<S>, auto: bool) -> TopicId {
    let host = Caller::system();
    let mut t = desk.create_default_chat_topic_entity(&host);
    t.name = "Support".into();
    t.welcome_message = "Welcome!".into();
    let t = must(desk.save_chat_topic_entity(&host, &t), "saving the topic").id();
    for u in 1..=ASSIGN_AGENTS {
        must(
            desk.add_chat_topic_user_agent(
                &host,
                &ChatTopicAgent {
                    can_respond: true,
                    ..ChatTopicAgent::new(t, UserId(u))
                },
            ),
            "adding an agent",
        );
        must(
            desk.save_chat_presence(
                &host,
                &ChatPresence::new(UserId(u), true, format!("Agent {u}")),
            ),
            "a presence",
        );
    }
    must(
        desk.save_chat_topic_routing(
            &host,
            &ChatTopicRouting {
                mode: if auto {
                    RoutingMode::Auto
                } else {
                    RoutingMode::Manual
                },
                default_capacity: 1000,
                ..ChatTopicRouting::defaults_for(t)
            },
        ),
        "the topic's routing",
    );
    t
}

/// Creates a session (routed at once, or picked up by hand by the next
/// agent in turn), timed; closes it, not timed.
struct Assign<S: Storage> {
    desk: ChatDesk<S>,
    topic: TopicId,
    auto: bool,
    turn: i32,
    _dir: Option<TempDir>,
}

impl<S: Storage> Side for Assign<S> {
    fn run(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let s = must(
                self.desk.create_chat_session_for_topic(
                    &Caller::anonymous(),
                    self.topic,
                    &request(),
                ),
                "a create",
            );
            let agent = if self.auto {
                s.user_id()
                    .unwrap_or_else(|| panic!("routing did not assign"))
            } else {
                self.turn = self.turn % ASSIGN_AGENTS + 1;
                let u = UserId(self.turn);
                let picked = must(
                    self.desk.pick_up_chat_session(&Caller::agent(u), s.id()),
                    "a pick-up",
                );
                assert!(picked.is_some(), "the session waited");
                u
            };
            total += start.elapsed();
            must(
                self.desk.close_chat_session(&Caller::agent(agent), s.id()),
                "a close",
            );
        }
        total
    }
}

fn assign_side(backend: Backend, auto: bool) -> Box<dyn Side> {
    over(
        backend,
        |d| assign_topic(d, auto),
        |d| assign_topic(d, auto),
        |d| assign_topic(d, auto),
        move |store, topic, dir| match store {
            Store::Memory(desk) => Box::new(Assign {
                desk,
                topic,
                auto,
                turn: 0,
                _dir: dir,
            }),
            Store::Sqlite(desk) => Box::new(Assign {
                desk,
                topic,
                auto,
                turn: 0,
                _dir: dir,
            }),
            Store::Sled(desk) => Box::new(Assign {
                desk,
                topic,
                auto,
                turn: 0,
                _dir: dir,
            }),
        },
    )
}

/// The routing pairs: every busy-desk operation and the assignment, on
/// every backend and mode.
pub fn routing_pairs() -> Vec<Pair> {
    let mut out = Vec::new();
    for backend in Backend::ALL {
        for op in BusyOp::ALL {
            out.push(Pair {
                name: format!("routed_busy_{}_{}", op.name(), backend.name()),
                a: Box::new(move || busy_side(op, backend, true)),
                b: Box::new(move || busy_side(op, backend, false)),
                target: 1.3,
            });
        }
        out.push(Pair {
            name: format!("routed_assign_{}", backend.name()),
            a: Box::new(move || assign_side(backend, true)),
            b: Box::new(move || assign_side(backend, false)),
            target: 1.3,
        });
    }
    out
}
