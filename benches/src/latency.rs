//! Latency under contention and read scaling (issue 6).
//!
//! # Latency under 8 threads of mixed operations ([`run`])
//! Per backend and mode, a fresh fixture: one topic (with a welcome message)
//! staffed by the four [`AGENTS`] (members with CanRespond, present). Each
//! thread plays one agent (thread `k` is `AGENTS[k % 4]`) and a stream of
//! anonymous customers, and runs its share of operations, one weighted random
//! pick per iteration among those that apply to what it knows:
//!
//! | operation | weight | applies when |
//! |---|---:|---|
//! | a customer creates a session (`create_chat_session_for_topic`) | 10 | always |
//! | the agent picks up the first queued session (`pick_up_first_chat_session`) | 10 | the thread serves fewer than [`MAX_SERVING`] chats |
//! | the customer or the agent adds a message to a chat the thread serves | 40 | it serves one |
//! | `get_chat_session_entity`, as the agent of a served chat or as the customer of a session the thread created | 15 | it knows one |
//! | `get_queue_position` by the customer of a session the thread created and last saw queued | 10 | it has one |
//! | the agent or the customer closes a finished chat (2 to 4 messages sent) | 15 | it has one |
//!
//! Sessions change hands without races: the thread that creates a session
//! only reads it afterwards (queue position, entity); the thread whose agent
//! picks it up (from the shared queue, so usually another thread's customer)
//! owns the rest of its life, and acts as its customer through the session
//! key the creator published. So every call is expected to succeed; the only
//! tolerated error is [`chatdesk::Error::Conflict`] (a busy store), retried
//! and counted. Anything else panics. Closing finished chats keeps the open
//! set small; the queue stays short because chats are finished faster than
//! customers arrive.
//!
//! Every operation is timed on its own with [`Instant`] (retries included);
//! every thread's wall time for its share is taken from a common start
//! ([`Barrier`]) to its last operation. The workload first runs on one
//! thread (one thread's share of operations, fresh fixture) for the
//! single-thread median, then on [`THREADS`] threads over another fresh
//! fixture. Afterwards the store is audited ([`Audit`]): every session the
//! workload created is there, nothing was picked up twice, statuses and
//! message counts match what the threads were told.
//!
//! Targets: no starvation (the slowest thread's wall time ≤ 2 × the fastest
//! one's), and in the durable modes p99 ≤ 10 × (threads / cores) × the
//! single-thread median; memory and the relaxed modes report their p99.
//!
//! # Read throughput of the memory backend ([`read_throughput`])
//! A memory store with [`READ_SESSIONS`] queued and as many active sessions;
//! each reader loops for a fixed time over `get_chat_session_entity` (as the
//! session's agent) and `get_queue_position` (as a queued session's
//! customer). Operations per second with one reader, then with two, in
//! alternating rounds (median of each); two readers should do more than
//! one (readers must not serialize). The CPU time the readers actually got
//! is taken too ([`Throughput`]), since on a shared machine the second
//! reader may find no free core. Each queued session is polled once
//! before the clock starts, so the customer's WhenFetched write (at most once
//! per 5 s per session) rarely falls inside a round.

use crate::ops::Backend;
use crate::{open_sled, open_sqlite, request, seed, sqlite_file, staff, temp_dir};
use chatdesk::backend::MessageRecord;
use chatdesk::backend::StorageExt;
use chatdesk::testkit::rng::Rng;
use chatdesk::{
    Caller, ChatDesk, ChatMessage, ChatMessageSpecialType, ChatMessageType, ChatSessionStatus,
    Durability, Error, MemoryStorage, MessageId, SessionId, Storage, TopicId, UserId,
};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Threads of the contended run.
pub const THREADS: usize = 8;

/// The agents of the fixture topic (the first one is [`crate::AGENT`]).
pub const AGENTS: [UserId; 4] = [UserId(7), UserId(8), UserId(9), UserId(10)];

/// The most chats one thread's agent serves at a time; it picks up no more.
pub const MAX_SERVING: usize = 3;

/// Queued (and active) sessions of the read-throughput fixture.
pub const READ_SESSIONS: usize = 32;

/// Retries of one operation on [`Error::Conflict`] before giving up.
const MAX_RETRIES: u32 = 1000;

/// Operations per thread by default in the durable modes, where a write
/// waits for the disk (fsync, 0.3 to 4 ms here).
pub const DEFAULT_OPS: usize = 1000;

/// Operations per thread by default in the relaxed modes.
pub const DEFAULT_OPS_RELAXED: usize = 5000;

/// Operations per thread by default on the memory backend.
pub const DEFAULT_OPS_MEMORY: usize = 20_000;

/// Operations per thread in quick mode.
pub const QUICK_OPS: usize = 20;

/// Whether `CHATDESK_BENCH_QUICK=1` (a smoke run; figures meaningless).
pub fn quick() -> bool {
    std::env::var("CHATDESK_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Operations per thread on `backend`: `CHATDESK_LATENCY_OPS` (every
/// backend alike), else [`QUICK_OPS`] in quick mode, else the backend's
/// default: [`DEFAULT_OPS`] in the durable modes, [`DEFAULT_OPS_RELAXED`]
/// and [`DEFAULT_OPS_MEMORY`] where an operation takes microseconds, so
/// that each thread's share still lasts long against the scheduler's time
/// slices (otherwise the slowest / fastest ratio measures those). A full run
/// takes 25 to 50 s in release on two cores (durable SQLite dominates; its
/// commits took 0.25 to 4 ms here, depending on the load on the shared disk).
///
/// # Panics
/// When `CHATDESK_LATENCY_OPS` is set but not a positive number.
pub fn ops_per_thread(backend: Backend) -> usize {
    match std::env::var("CHATDESK_LATENCY_OPS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .expect("CHATDESK_LATENCY_OPS: a positive number of operations per thread"),
        Err(_) if quick() => QUICK_OPS,
        Err(_) => match backend {
            Backend::Memory => DEFAULT_OPS_MEMORY,
            b if b.durability() == Durability::Durable => DEFAULT_OPS,
            _ => DEFAULT_OPS_RELAXED,
        },
    }
}

/// The cores the scheduler gives this process
/// ([`std::thread::available_parallelism`], 1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The kinds of operation in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// `create_chat_session_for_topic` by an anonymous customer.
    Create,
    /// `pick_up_first_chat_session` by the thread's agent (may find nobody).
    PickUpFirst,
    /// `add_chat_message` by the customer of a served chat.
    CustomerMessage,
    /// `add_chat_message` by the agent of a served chat.
    AgentMessage,
    /// `get_chat_session_entity` (agent or customer).
    GetEntity,
    /// `get_queue_position` by a customer.
    QueuePosition,
    /// `close_chat_session` of a finished chat (agent or customer).
    Close,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 7] = [
        OpKind::Create,
        OpKind::PickUpFirst,
        OpKind::CustomerMessage,
        OpKind::AgentMessage,
        OpKind::GetEntity,
        OpKind::QueuePosition,
        OpKind::Close,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::PickUpFirst => "pick_up_first",
            OpKind::CustomerMessage => "customer_message",
            OpKind::AgentMessage => "agent_message",
            OpKind::GetEntity => "get_entity",
            OpKind::QueuePosition => "queue_position",
            OpKind::Close => "close",
        }
    }
}

/// p50 / p99 / max of a set of latencies (nearest rank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// How many latencies.
    pub count: usize,
    /// The median.
    pub p50: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
}

impl Percentiles {
    /// Of `samples` (sorted here); all zero when empty.
    pub fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let n = samples.len();
        if n == 0 {
            return Percentiles::default();
        }
        let rank = |q: f64| {
            // Nearest rank: the smallest value with at least q of the
            // samples at or below it.
            let r = (q * n as f64).ceil() as usize;
            samples[r.clamp(1, n) - 1]
        };
        Percentiles {
            count: n,
            p50: rank(0.50),
            p99: rank(0.99),
            max: samples[n - 1],
        }
    }
}

/// One session as the store holds it after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its status.
    pub status: ChatSessionStatus,
    /// Its User (the agent who picked it up).
    pub user: Option<UserId>,
    /// Its chat messages (ToUser / ToCustomer with no special type).
    pub messages: usize,
}

/// What the threads were told succeeded, and what the store holds afterwards.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// Every session created (acknowledged ids, as returned).
    pub created: Vec<SessionId>,
    /// Every pick-up that returned a session, with the agent (duplicates kept).
    pub picked: Vec<(SessionId, UserId)>,
    /// Every session closed.
    pub closed: Vec<SessionId>,
    /// Chat messages acknowledged, per session.
    pub messages: BTreeMap<SessionId, usize>,
    /// The store's view of each created session (`None`: not found).
    pub stored: BTreeMap<SessionId, Option<Stored>>,
}

impl Audit {
    /// Everything that disagrees: a created session missing from the store,
    /// an id created twice, a session picked up twice or by someone other
    /// than its User, a queued session that was never picked up turned
    /// anything but InQueue, a closed session not Closed, message counts that
    /// differ from the acknowledged ones. Empty when all is well.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let created: BTreeSet<SessionId> = self.created.iter().copied().collect();
        if created.len() != self.created.len() {
            out.push(format!(
                "{} session ids handed out twice",
                self.created.len() - created.len()
            ));
        }
        let mut picked: BTreeMap<SessionId, UserId> = BTreeMap::new();
        for (id, agent) in &self.picked {
            if picked.insert(*id, *agent).is_some() {
                out.push(format!("session {id} picked up twice"));
            }
            if !created.contains(id) {
                out.push(format!("session {id} picked up but never created"));
            }
        }
        let closed: BTreeSet<SessionId> = self.closed.iter().copied().collect();
        if closed.len() != self.closed.len() {
            out.push("a session closed twice".into());
        }
        for id in closed.iter().filter(|id| !picked.contains_key(id)) {
            out.push(format!("session {id} closed but never picked up"));
        }
        for id in &created {
            let Some(Some(s)) = self.stored.get(id) else {
                out.push(format!("session {id} was created but is not in the store"));
                continue;
            };
            match picked.get(id) {
                Some(agent) if s.user != Some(*agent) => out.push(format!(
                    "session {id} picked up by {agent} but its User is {:?}",
                    s.user
                )),
                Some(_) if closed.contains(id) && s.status != ChatSessionStatus::Closed => {
                    out.push(format!("session {id} was closed but is {:?}", s.status))
                }
                Some(_)
                    if !closed.contains(id)
                        && !matches!(
                            s.status,
                            ChatSessionStatus::UserLast | ChatSessionStatus::CustomerLast
                        ) =>
                {
                    out.push(format!(
                        "session {id} is being served but is {:?}",
                        s.status
                    ));
                }
                None if s.status != ChatSessionStatus::InQueue || s.user.is_some() => {
                    out.push(format!(
                        "session {id} was never picked up but is {:?} with User {:?}",
                        s.status, s.user
                    ));
                }
                _ => {}
            }
            let acked = self.messages.get(id).copied().unwrap_or(0);
            if s.messages != acked {
                out.push(format!(
                    "session {id} holds {} chat messages, {acked} were acknowledged",
                    s.messages
                ));
            }
        }
        out
    }
}

/// One run of the workload on one fixture.
#[derive(Debug, Clone)]
pub struct Run {
    /// Threads.
    pub threads: usize,
    /// Operations per thread.
    pub ops_per_thread: usize,
    /// Over every operation of every thread.
    pub latency: Percentiles,
    /// Per kind of operation (kinds that ran).
    pub per_kind: Vec<(OpKind, Percentiles)>,
    /// Each thread's wall time for its share, from the common start.
    pub thread_walls: Vec<Duration>,
    /// The whole run's wall time (fixture excluded).
    pub wall: Duration,
    /// [`Error::Conflict`]s met and retried.
    pub conflicts: u64,
    /// What was done and what the store holds.
    pub audit: Audit,
}

impl Run {
    /// Operations timed (threads × operations per thread when complete).
    pub fn ops(&self) -> usize {
        self.latency.count
    }

    /// The slowest thread's wall time over the fastest one's (1 for one
    /// thread).
    pub fn slowest_over_fastest(&self) -> f64 {
        let min = self.thread_walls.iter().min().copied().unwrap_or_default();
        let max = self.thread_walls.iter().max().copied().unwrap_or_default();
        if min.is_zero() {
            return f64::INFINITY;
        }
        max.as_secs_f64() / min.as_secs_f64()
    }
}

/// A backend's report: the single-thread run and the contended one.
#[derive(Debug, Clone)]
pub struct Report {
    /// The backend and mode.
    pub backend: Backend,
    /// [`cores`] when measured.
    pub cores: usize,
    /// One thread, one share of operations.
    pub single: Run,
    /// [`THREADS`] threads (or what the caller asked), each a share.
    pub multi: Run,
}

/// The starvation target: slowest / fastest thread at most this.
pub const STARVATION_BOUND: f64 = 2.0;

impl Report {
    /// Whether the backend is in a durable mode (the p99 bound binds).
    pub fn durable(&self) -> bool {
        self.backend != Backend::Memory && self.backend.durability() == Durability::Durable
    }

    /// The single-thread median.
    pub fn single_median(&self) -> Duration {
        self.single.latency.p50
    }

    /// 10 × (threads / cores) × the single-thread median.
    pub fn p99_bound(&self) -> Duration {
        let factor = 10.0 * self.multi.threads as f64 / self.cores.max(1) as f64;
        self.single_median().mul_f64(factor)
    }

    /// Whether the contended p99 is within [`Report::p99_bound`].
    pub fn p99_within_bound(&self) -> bool {
        self.multi.latency.p99 <= self.p99_bound()
    }

    /// Whether no thread starved (slowest / fastest ≤ 2).
    pub fn no_starvation(&self) -> bool {
        self.multi.slowest_over_fastest() <= STARVATION_BOUND
    }

    /// The targets that bind this backend hold: no starvation, and in
    /// durable modes the p99 bound.
    pub fn holds(&self) -> bool {
        self.no_starvation() && (!self.durable() || self.p99_within_bound())
    }

    /// The machine-readable line.
    pub fn line(&self) -> String {
        let m = &self.multi;
        let bound = if self.durable() {
            format!("{:.1}", us(self.p99_bound()))
        } else {
            "none".into()
        };
        format!(
            "latency {} threads={} ops={} ops_per_thread={} p50_us={:.1} p99_us={:.1} max_us={:.1} \
             single_median_us={:.1} p99_bound_us={bound} p99_over_single_median={:.1} \
             slowest_over_fastest={:.2} conflicts={} holds={}",
            self.backend.name(),
            m.threads,
            m.ops(),
            m.ops_per_thread,
            us(m.latency.p50),
            us(m.latency.p99),
            us(m.latency.max),
            us(self.single_median()),
            us(m.latency.p99) / us(self.single_median()).max(1e-9),
            m.slowest_over_fastest(),
            m.conflicts + self.single.conflicts,
            if self.holds() { "yes" } else { "no" },
        )
    }

    /// Its row of the markdown table ([`TABLE_HEADER`]).
    pub fn table_row(&self) -> String {
        let m = &self.multi;
        let (bound, holds) = if self.durable() {
            let b = human(self.p99_bound());
            (b, yes_no(self.holds()).to_string())
        } else {
            (
                "— (reported only)".to_string(),
                format!("{} (starvation only)", yes_no(self.holds())),
            )
        };
        format!(
            "| {} | {} | {} | {} | {} | {} | {:.2} | {} |",
            self.backend.name(),
            human(m.latency.p50),
            human(m.latency.p99),
            human(m.latency.max),
            human(self.single_median()),
            bound,
            m.slowest_over_fastest(),
            holds
        )
    }
}

/// The header of the latency table.
pub const TABLE_HEADER: &str = "| backend | p50 | p99 | max | 1-thread median | p99 bound | slowest/fastest thread | holds |\n|---|---:|---:|---:|---:|---:|---:|:---:|";

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A duration for people: µs below a millisecond, else ms.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

// ---------------------------------------------------------------- fixture --

/// The fixture topic with [`AGENTS`] as present responders.
fn staffed<S: Storage>(desk: &ChatDesk<S>) -> TopicId {
    let topic = seed(desk);
    for (i, agent) in AGENTS.iter().enumerate().skip(1) {
        staff(desk, topic, *agent, &format!("Agent {}", i + 1));
    }
    topic
}

/// Runs the workload (`threads` × `ops` operations) on a fresh fixture of
/// `backend` and audits the store.
///
/// # Panics
/// When an operation fails with anything but [`Error::Conflict`], or keeps
/// conflicting.
pub fn run_workload(backend: Backend, threads: usize, ops: usize) -> Run {
    match backend {
        Backend::Memory => on_desk(&ChatDesk::new(MemoryStorage::new()), threads, ops),
        Backend::Sqlite(d) => {
            let dir = temp_dir();
            let desk = ChatDesk::new(open_sqlite(&sqlite_file(dir.path()), d));
            let run = on_desk(&desk, threads, ops);
            desk.into_storage()
                .close()
                .expect("closing the SQLite store");
            run
        }
        Backend::Sled(d) => {
            let dir = temp_dir();
            let desk = ChatDesk::new(open_sled(dir.path(), d));
            let run = on_desk(&desk, threads, ops);
            drop(desk);
            run
        }
    }
}

/// The single-thread run (one share of `ops` operations), then `threads`
/// threads of `ops` operations each, each on a fresh fixture of `backend`.
///
/// # Panics
/// As [`run_workload`].
pub fn run(backend: Backend, threads: usize, ops: usize) -> Report {
    let single = run_workload(backend, 1, ops);
    let multi = run_workload(backend, threads, ops);
    Report {
        backend,
        cores: cores(),
        single,
        multi,
    }
}

// --------------------------------------------------------------- workload --

/// A chat the thread's agent serves.
struct Chat {
    id: SessionId,
    /// The customer's key, once the creator has published it.
    key: Option<String>,
    sent: usize,
    /// Messages after which the chat is finished (2 to 4).
    finish_after: usize,
}

/// One thread's log.
#[derive(Default)]
struct ThreadLog {
    samples: Vec<(OpKind, Duration)>,
    wall: Duration,
    conflicts: u64,
    created: Vec<SessionId>,
    picked: Vec<(SessionId, UserId)>,
    closed: Vec<SessionId>,
    messages: HashMap<SessionId, usize>,
}

/// The keys creators publish for the threads that pick their sessions up.
type Keys = Mutex<HashMap<SessionId, String>>;

/// Runs `f`, retrying [`Error::Conflict`] (counted in `conflicts`).
fn retry<T>(conflicts: &mut u64, what: &str, mut f: impl FnMut() -> chatdesk::Result<T>) -> T {
    for _ in 0..MAX_RETRIES {
        match f() {
            Ok(v) => return v,
            Err(Error::Conflict { .. }) => *conflicts += 1,
            Err(e) => panic!("{what} failed in the latency workload (a bug): {e}"),
        }
    }
    panic!("{what} conflicted {MAX_RETRIES} times in a row")
}

fn message(text: &str) -> ChatMessage {
    ChatMessage {
        message: text.into(),
        ..ChatMessage::default()
    }
}

/// One thread's share: `ops` operations, thread number `k`.
fn worker<S: Storage>(
    desk: &ChatDesk<S>,
    topic: TopicId,
    k: usize,
    ops: usize,
    keys: &Keys,
    start: &Barrier,
) -> ThreadLog {
    let mut rng = Rng::seeded(k as u64);
    let agent_id = AGENTS[k % AGENTS.len()];
    let agent = Caller::agent(agent_id);
    let input = request();
    let mut log = ThreadLog {
        samples: Vec::with_capacity(ops),
        ..ThreadLog::default()
    };
    // Sessions this thread's customers created, and those last seen queued.
    let mut own: Vec<(SessionId, String)> = Vec::new();
    let mut waiting: Vec<(SessionId, String)> = Vec::new();
    let mut serving: Vec<Chat> = Vec::new();
    start.wait();
    let began = Instant::now();
    for _ in 0..ops {
        let finished: Vec<usize> = (0..serving.len())
            .filter(|&i| serving[i].sent >= serving[i].finish_after)
            .collect();
        let weights = [
            (OpKind::Create, 10),
            (
                OpKind::PickUpFirst,
                if serving.len() < MAX_SERVING { 10 } else { 0 },
            ),
            // CustomerMessage stands for "a message", AgentMessage is never drawn.
            (
                OpKind::CustomerMessage,
                if serving.is_empty() { 0 } else { 40 },
            ),
            (
                OpKind::GetEntity,
                if own.is_empty() && serving.is_empty() {
                    0
                } else {
                    15
                },
            ),
            (
                OpKind::QueuePosition,
                if waiting.is_empty() { 0 } else { 10 },
            ),
            (OpKind::Close, if finished.is_empty() { 0 } else { 15 }),
        ];
        let total: usize = weights.iter().map(|w| w.1).sum();
        let mut roll = rng.below(total);
        let mut kind = OpKind::Create;
        for (kd, w) in weights {
            if roll < w {
                kind = kd;
                break;
            }
            roll -= w;
        }
        let c = &mut log.conflicts;
        match kind {
            OpKind::Create => {
                let ctx = Caller::anonymous();
                let t = Instant::now();
                let e = retry(c, "create_chat_session_for_topic", || {
                    desk.create_chat_session_for_topic(&ctx, topic, &input)
                });
                log.samples.push((OpKind::Create, t.elapsed()));
                assert_eq!(
                    e.status,
                    ChatSessionStatus::InQueue,
                    "the topic is staffed, a new session is queued"
                );
                let id = SessionId(e.chat_session_id);
                keys.lock().insert(id, e.session_key.clone());
                log.created.push(id);
                own.push((id, e.session_key.clone()));
                waiting.push((id, e.session_key));
            }
            OpKind::PickUpFirst => {
                let t = Instant::now();
                let got = retry(c, "pick_up_first_chat_session", || {
                    desk.pick_up_first_chat_session(&agent)
                });
                log.samples.push((OpKind::PickUpFirst, t.elapsed()));
                if let Some(e) = got {
                    let id = SessionId(e.chat_session_id);
                    let user = e.user.as_ref().and_then(chatdesk::Associate::id);
                    assert_eq!(user, Some(agent_id.0), "picked-up session {id}'s User");
                    log.picked.push((id, agent_id));
                    serving.push(Chat {
                        id,
                        key: keys.lock().get(&id).cloned(),
                        sent: 0,
                        finish_after: 2 + rng.below(3),
                    });
                }
            }
            OpKind::CustomerMessage | OpKind::AgentMessage => {
                let i = rng.below(serving.len());
                let chat = &mut serving[i];
                if chat.key.is_none() {
                    chat.key = keys.lock().get(&chat.id).cloned();
                }
                let (kind, ctx, text) = match &chat.key {
                    Some(key) if rng.coin() => (
                        OpKind::CustomerMessage,
                        Caller::customer(key.clone()),
                        "A question from the customer",
                    ),
                    _ => (
                        OpKind::AgentMessage,
                        agent.clone(),
                        "An answer from the agent",
                    ),
                };
                let m = message(text);
                let id = chat.id;
                let t = Instant::now();
                retry(c, "add_chat_message", || {
                    desk.add_chat_message(&ctx, id, &m)
                });
                log.samples.push((kind, t.elapsed()));
                chat.sent += 1;
                *log.messages.entry(id).or_default() += 1;
            }
            OpKind::GetEntity => {
                let (ctx, id) = if !serving.is_empty() && (own.is_empty() || rng.coin()) {
                    (agent.clone(), serving[rng.below(serving.len())].id)
                } else {
                    let (id, key) = &own[rng.below(own.len())];
                    (Caller::customer(key.clone()), *id)
                };
                let t = Instant::now();
                let e = retry(c, "get_chat_session_entity", || {
                    desk.get_chat_session_entity(&ctx, id)
                });
                log.samples.push((OpKind::GetEntity, t.elapsed()));
                assert_eq!(e.chat_session_id, id.0, "get_chat_session_entity's id");
            }
            OpKind::QueuePosition => {
                let i = rng.below(waiting.len());
                let (id, key) = &waiting[i];
                let (id, ctx) = (*id, Caller::customer(key.clone()));
                let t = Instant::now();
                let pos = retry(c, "get_queue_position", || {
                    desk.get_queue_position(&ctx, id)
                });
                log.samples.push((OpKind::QueuePosition, t.elapsed()));
                if pos.is_none() {
                    // Picked up meanwhile: the picker owns it now.
                    waiting.swap_remove(i);
                }
            }
            OpKind::Close => {
                let i = finished[rng.below(finished.len())];
                let chat = serving.swap_remove(i);
                let ctx = match &chat.key {
                    Some(key) if rng.coin() => Caller::customer(key.clone()),
                    _ => agent.clone(),
                };
                let t = Instant::now();
                let e = retry(c, "close_chat_session", || {
                    desk.close_chat_session(&ctx, chat.id)
                });
                log.samples.push((OpKind::Close, t.elapsed()));
                assert_eq!(e.status, ChatSessionStatus::Closed, "a closed chat");
                log.closed.push(chat.id);
            }
        }
    }
    log.wall = began.elapsed();
    log
}

fn is_chat_message(m: &MessageRecord) -> bool {
    matches!(
        m.kind,
        ChatMessageType::ToUser | ChatMessageType::ToCustomer
    ) && m.special == ChatMessageSpecialType::None
}

/// Runs the workload on a fresh `desk`: seeds it, runs `threads` workers of
/// `ops` operations, audits the store.
fn on_desk<S: Storage>(desk: &ChatDesk<S>, threads: usize, ops: usize) -> Run {
    let topic = staffed(desk);
    let keys: Keys = Mutex::new(HashMap::new());
    let start = Barrier::new(threads);
    let began = Instant::now();
    let logs: Vec<ThreadLog> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (keys, start) = (&keys, &start);
                scope.spawn(move || worker(desk, topic, k, ops, keys, start))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a workload thread panicked"))
            .collect()
    });
    let wall = began.elapsed();

    let mut all = Vec::with_capacity(threads * ops);
    let mut by_kind: BTreeMap<OpKind, Vec<Duration>> = BTreeMap::new();
    let mut audit = Audit::default();
    let mut conflicts = 0;
    let mut thread_walls = Vec::with_capacity(threads);
    for log in logs {
        for (kind, d) in &log.samples {
            all.push(*d);
            by_kind.entry(*kind).or_default().push(*d);
        }
        thread_walls.push(log.wall);
        conflicts += log.conflicts;
        audit.created.extend(log.created);
        audit.picked.extend(log.picked);
        audit.closed.extend(log.closed);
        for (id, n) in log.messages {
            *audit.messages.entry(id).or_default() += n;
        }
    }
    audit.stored = desk
        .storage()
        .read(|tx| {
            let mut out = BTreeMap::new();
            for id in &audit.created {
                let stored = match tx.session(*id)? {
                    Some(s) => Some(Stored {
                        status: s.status,
                        user: s.user,
                        messages: tx
                            .messages(*id, MessageId(0), usize::MAX)?
                            .iter()
                            .filter(|m| is_chat_message(m))
                            .count(),
                    }),
                    None => None,
                };
                out.insert(*id, stored);
            }
            Ok(out)
        })
        .expect("reading the store back");
    Run {
        threads,
        ops_per_thread: ops,
        latency: Percentiles::of(&mut all),
        per_kind: by_kind
            .into_iter()
            .map(|(k, mut v)| (k, Percentiles::of(&mut v)))
            .collect(),
        thread_walls,
        wall,
        conflicts,
        audit,
    }
}

// ------------------------------------------------------- read throughput --

/// Read throughput of the memory backend with one and two readers.
///
/// On a shared machine two readers may not get two cores; so each round
/// also takes the CPU time the readers actually ran (Linux,
/// `/proc/thread-self/schedstat`): cores used = reader CPU time / wall
/// time, and operations per CPU-second, which stays level from one reader
/// to two when readers do not get in each other's way.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    /// Operations per second with one reader (median of the rounds).
    pub threads1: f64,
    /// Operations per second with two readers together (median of the rounds).
    pub threads2: f64,
    /// Cores the one reader kept busy (median; `None` without schedstat).
    pub cores1: Option<f64>,
    /// Cores the two readers kept busy together (median).
    pub cores2: Option<f64>,
    /// The time each round ran.
    pub round: Duration,
    /// Rounds of each.
    pub rounds: usize,
}

impl Throughput {
    /// Two readers over one.
    pub fn ratio(&self) -> f64 {
        self.threads2 / self.threads1
    }

    /// Operations per CPU-second with one reader and with two (when the CPU
    /// time is known).
    pub fn per_cpu_second(&self) -> Option<(f64, f64)> {
        match (self.cores1, self.cores2) {
            (Some(c1), Some(c2)) if c1 > 0.0 && c2 > 0.0 => {
                Some((self.threads1 / c1, self.threads2 / c2))
            }
            _ => None,
        }
    }

    /// The machine-readable line.
    pub fn line(&self) -> String {
        let mut out = format!(
            "throughput memory_reads threads1={:.0} threads2={:.0} ratio={:.2}",
            self.threads1,
            self.threads2,
            self.ratio()
        );
        if let (Some(c1), Some(c2), Some((p1, p2))) =
            (self.cores1, self.cores2, self.per_cpu_second())
        {
            out.push_str(&format!(
                " cores_used1={c1:.2} cores_used2={c2:.2} per_cpu_s1={p1:.0} per_cpu_s2={p2:.0}"
            ));
        }
        out
    }

    /// The markdown table (header and one row).
    pub fn table(&self) -> String {
        let cores = |c: Option<f64>| c.map_or_else(|| "?".to_string(), |c| format!("{c:.2}"));
        let per_cpu = self.per_cpu_second().map_or_else(
            || "? / ?".to_string(),
            |(p1, p2)| format!("{p1:.0} / {p2:.0}"),
        );
        format!(
            "| reads on memory | 1 thread | 2 threads | 2 / 1 | cores used (1 / 2) | ops per CPU-second (1 / 2) | target |\n\
             |---|---:|---:|---:|---:|---:|---|\n\
             | get_chat_session_entity + get_queue_position | {:.0} ops/s | {:.0} ops/s | {:.2} | {} / {} | {per_cpu} | 2 / 1 > 1: readers do not serialize (reported, not a gate) |",
            self.threads1,
            self.threads2,
            self.ratio(),
            cores(self.cores1),
            cores(self.cores2),
        )
    }
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat`
/// (nanoseconds on the CPU, first field); `None` where there is none.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// A memory store with [`READ_SESSIONS`] active sessions (picked up by the
/// [`AGENTS`] in turn) and as many queued ones: (desk, active (id, agent),
/// queued (id, key)).
type ReadFixture = (
    ChatDesk<MemoryStorage>,
    Vec<(SessionId, UserId)>,
    Vec<(SessionId, String)>,
);

fn read_fixture() -> ReadFixture {
    let desk = ChatDesk::new(MemoryStorage::new());
    let topic = staffed(&desk);
    let create = || {
        let e = desk
            .create_chat_session_for_topic(&Caller::anonymous(), topic, &request())
            .expect("creating a session");
        (SessionId(e.chat_session_id), e.session_key)
    };
    let mut active = Vec::new();
    for i in 0..READ_SESSIONS {
        let (id, _) = create();
        let agent = AGENTS[i % AGENTS.len()];
        desk.pick_up_chat_session(&Caller::agent(agent), id)
            .expect("picking up")
            .expect("a queued session");
        active.push((id, agent));
    }
    let queued: Vec<_> = (0..READ_SESSIONS).map(|_| create()).collect();
    for (id, key) in &queued {
        // Sets WhenFetched now, so polls of the next 5 s do not write.
        desk.get_queue_position(&Caller::customer(key.clone()), *id)
            .expect("polling the queue position");
    }
    (desk, active, queued)
}

/// One round: `threads` readers for `round`; operations per second, all
/// readers together, and the cores they kept busy (when known).
fn read_round(fx: &ReadFixture, threads: usize, round: Duration) -> (f64, Option<f64>) {
    let (desk, active, queued) = fx;
    let done = AtomicU64::new(0);
    let cpu_ns = AtomicU64::new(0);
    let cpu_known = std::sync::atomic::AtomicBool::new(true);
    let start = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| {
        for k in 0..threads {
            let (done, start, cpu_ns, cpu_known) = (&done, &start, &cpu_ns, &cpu_known);
            scope.spawn(move || {
                let agents: Vec<Caller> = active.iter().map(|(_, a)| Caller::agent(*a)).collect();
                let customers: Vec<Caller> = queued
                    .iter()
                    .map(|(_, key)| Caller::customer(key.clone()))
                    .collect();
                let mut i = k * 7;
                let mut n = 0u64;
                start.wait();
                let cpu_before = thread_cpu();
                let deadline = Instant::now() + round;
                while Instant::now() < deadline {
                    let j = i % active.len();
                    let e = desk
                        .get_chat_session_entity(&agents[j], active[j].0)
                        .expect("get_chat_session_entity by the agent");
                    std::hint::black_box(e);
                    let j = i % queued.len();
                    let p = desk
                        .get_queue_position(&customers[j], queued[j].0)
                        .expect("get_queue_position by the customer");
                    assert!(p.is_some(), "a queued session has a position");
                    n += 2;
                    i += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
                match (cpu_before, thread_cpu()) {
                    (Some(a), Some(b)) => {
                        let ns = u64::try_from(b.saturating_sub(a).as_nanos()).unwrap_or(u64::MAX);
                        cpu_ns.fetch_add(ns, Ordering::Relaxed);
                    }
                    _ => cpu_known.store(false, Ordering::Relaxed),
                }
            });
        }
        let t = Instant::now();
        start.wait();
        // The scope joins the readers when this closure returns.
        t
    });
    let secs = elapsed.elapsed().as_secs_f64().max(round.as_secs_f64());
    let cores = cpu_known
        .load(Ordering::Relaxed)
        .then(|| cpu_ns.load(Ordering::Relaxed) as f64 / 1e9 / secs);
    (done.load(Ordering::Relaxed) as f64 / secs, cores)
}

/// Read operations per second on the memory backend with one reader and
/// with two, `rounds` alternating rounds of `round` each (median of each).
///
/// # Panics
/// When a read fails.
pub fn read_throughput(round: Duration, rounds: usize) -> Throughput {
    let fx = read_fixture();
    let (mut one, mut two) = (Vec::new(), Vec::new());
    let (mut cores1, mut cores2) = (Some(Vec::new()), Some(Vec::new()));
    let keep = |all: &mut Option<Vec<f64>>, c: Option<f64>| match (all.as_mut(), c) {
        (Some(v), Some(c)) => v.push(c),
        _ => *all = None,
    };
    for _ in 0..rounds.max(1) {
        let (ops, cores) = read_round(&fx, 1, round);
        one.push(ops);
        keep(&mut cores1, cores);
        let (ops, cores) = read_round(&fx, 2, round);
        two.push(ops);
        keep(&mut cores2, cores);
    }
    Throughput {
        threads1: median(&mut one),
        threads2: median(&mut two),
        cores1: cores1.map(|mut v| median(&mut v)),
        cores2: cores2.map(|mut v| median(&mut v)),
        round,
        rounds: rounds.max(1),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
