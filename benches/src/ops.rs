//! Per-operation pairs: an operation of [`ChatDesk`] over a backend next to its
//! raw baseline ([`crate::raw`]), and the scaling / history pairs (the same
//! operation over a small and a large fixture). The criterion bench
//! `operations` and the `ratios` binary both measure what [`pairs`] lists.
//!
//! Fixtures are loaded in bulk (`storage().write` in batches of 10 000, relaxed
//! mode) and then reopened in the mode measured; each side gets its own
//! copy. Sizes are divided by 1 000 in quick mode ([`quick`]).
//!
//! Clock-driven rules are kept out of the way: the sweeps' 10 000 open
//! sessions carry timestamps one day ahead, so a sweep reads every one of them
//! and changes none (the steady state of a sweep the host calls every few
//! seconds); both sides then read the same rows in batches of 256, one write
//! transaction per batch, and write nothing.

use crate::raw::{Maps, RawMemStore, RawSledStore, RawSqliteStore, RawStore, RawTx};
use crate::{AGENT, customer, open_sled, open_sqlite, request, seed, sqlite_file, temp_dir};
use chatdesk::backend::{CrmLinks, MessageRecord, SessionRecord};
use chatdesk::backend::{IdKind, StorageExt};
use chatdesk::{
    Caller, ChatDesk, ChatMessage, ChatSessionStatus, Clock, Durability, MemoryStorage, MessageId,
    SessionId, Storage, SystemClock, Timestamp, TopicId, TranscriptFormat,
};
use chatdesk::{ChatMessageSpecialType, ChatMessageType};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Whether fixture sizes are divided by 1 000: `CHATDESK_BENCH_QUICK=1`, or
/// criterion's test mode (`cargo test --benches` passes `--test`... or
/// `--bench` without a filter; we look for `--test`).
pub fn quick() -> bool {
    std::env::var("CHATDESK_BENCH_QUICK").is_ok_and(|v| v == "1")
        || std::env::args().any(|a| a == "--test")
}

/// `n` divided by 1 000 in quick mode (at least 1).
pub fn size(n: usize) -> usize {
    if quick() { (n / 1000).max(1) } else { n }
}

/// One side of a pair: runs `iters` operations and returns the time they
/// took (fixture upkeep between them excluded).
pub trait Side {
    /// Runs `iters` operations.
    fn run(&mut self, iters: u64) -> Duration;
}

/// The operations measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `pick_up_chat_session` of a given queued session.
    PickUp,
    /// `add_chat_message` by the customer of an active session.
    AddMessage,
    /// `get_chat_session_entity` by the session's agent.
    GetEntity,
    /// `get_queue_position` by the customer of the last queued session.
    QueuePosition,
    /// `pick_up_first_chat_session`.
    PickUpFirst,
    /// `get_chat_transcript` (text) of a 1 000-message chat.
    Transcript,
    /// `alert_sweep` over 10 000 open sessions.
    AlertSweep,
    /// `idle_sweep` over 10 000 open sessions.
    IdleSweep,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 8] = [
        Op::PickUp,
        Op::AddMessage,
        Op::GetEntity,
        Op::QueuePosition,
        Op::PickUpFirst,
        Op::Transcript,
        Op::AlertSweep,
        Op::IdleSweep,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::PickUp => "pick_up",
            Op::AddMessage => "add_message",
            Op::GetEntity => "get_entity",
            Op::QueuePosition => "queue_position",
            Op::PickUpFirst => "pick_up_first",
            Op::Transcript => "transcript",
            Op::AlertSweep => "alert_sweep",
            Op::IdleSweep => "idle_sweep",
        }
    }

    fn fixture(self) -> Spec {
        let mut spec = Spec::default();
        match self {
            Op::PickUp | Op::PickUpFirst => spec.queued = 100,
            Op::AddMessage | Op::GetEntity => spec.target = Target::Active,
            Op::QueuePosition => {
                spec.queued = 100;
                spec.target = Target::Queued;
            }
            Op::Transcript => {
                spec.target = Target::Active;
                spec.messages = size(1000);
            }
            Op::AlertSweep | Op::IdleSweep => spec.open = size(10_000),
        }
        spec
    }
}

/// A backend and durability mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`MemoryStorage`].
    Memory,
    /// SQLite in a mode.
    Sqlite(Durability),
    /// sled in a mode.
    Sled(Durability),
}

impl Backend {
    /// Every backend and mode.
    pub const ALL: [Backend; 5] = [
        Backend::Memory,
        Backend::Sqlite(Durability::Durable),
        Backend::Sqlite(Durability::Relaxed),
        Backend::Sled(Durability::Durable),
        Backend::Sled(Durability::Relaxed),
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Sqlite(Durability::Durable) => "sqlite_durable",
            Backend::Sqlite(Durability::Relaxed) => "sqlite_relaxed",
            Backend::Sled(Durability::Durable) => "sled_durable",
            Backend::Sled(Durability::Relaxed) => "sled_relaxed",
        }
    }

    /// Its durability mode ([`Durability::Relaxed`] for memory, which
    /// keeps nothing across a restart).
    pub fn durability(self) -> Durability {
        match self {
            Backend::Memory => Durability::Relaxed,
            Backend::Sqlite(d) | Backend::Sled(d) => d,
        }
    }
}

/// The session the operation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// None.
    #[default]
    None,
    /// A customer's session, last in the queue.
    Queued,
    /// A customer's session, picked up by [`AGENT`].
    Active,
}

/// What a fixture holds besides the seeded topic.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spec {
    /// Sessions queued in the topic (bulk).
    pub queued: usize,
    /// Open sessions for the sweeps: half InQueue, half UserLast (bulk).
    pub open: usize,
    /// Closed sessions of history (bulk, loaded first).
    pub history: usize,
    /// The target session.
    pub target: Target,
    /// Messages on the target (bulk).
    pub messages: usize,
}

/// What a fixture's operations need to know.
#[derive(Debug, Clone)]
struct Info {
    topic: TopicId,
    target: Option<(SessionId, String)>,
}

const BULK: usize = 10_000;

fn stamp_ahead() -> Timestamp {
    SystemClock.now().plus_seconds(86_400)
}

pub(crate) fn bulk_record(
    id: SessionId,
    topic: TopicId,
    status: ChatSessionStatus,
) -> SessionRecord {
    let now = stamp_ahead();
    let mut key_hash = [0u8; 32];
    key_hash[..4].copy_from_slice(&id.0.to_be_bytes());
    key_hash[4..].copy_from_slice(&crate::random_key()[4..]);
    SessionRecord {
        id,
        topic,
        user: None,
        links: CrmLinks::default(),
        customer: customer(),
        status,
        first_message: String::new(),
        last_message: String::new(),
        when_requested: now,
        when_started: None,
        when_ended: None,
        when_idle: None,
        when_fetched: None,
        key_hash,
        initial_queue_pos: 0,
        alert_level: 0,
        rank: 0,
        transfer_to: None,
        chatbot_is_active: false,
        rating: 0,
        queue_seq: None,
        queue_entered: None,
        customer_last_since: None,
        deleted_at: None,
        routing: Default::default(),
        stats: Default::default(),
    }
}

/// Writes `n` sessions made by `make(id, seq)` in batches of [`BULK`].
pub(crate) fn bulk<S: Storage>(
    desk: &ChatDesk<S>,
    n: usize,
    make: &dyn Fn(SessionId, u64, usize) -> SessionRecord,
) {
    let mut done = 0;
    while done < n {
        let k = BULK.min(n - done);
        desk.storage()
            .write(|tx| {
                for i in 0..k {
                    let id = SessionId(i32::try_from(tx.next_id(IdKind::Session)?).expect("id"));
                    let seq = u64::try_from(tx.next_id(IdKind::QueueSeq)?).expect("seq");
                    tx.put_session(&make(id, seq, done + i))?;
                }
                Ok(())
            })
            .expect("a bulk batch");
        done += k;
    }
}

fn queued(id: SessionId, topic: TopicId, seq: u64) -> SessionRecord {
    let mut s = bulk_record(id, topic, ChatSessionStatus::InQueue);
    s.queue_seq = Some(seq);
    s.queue_entered = Some(s.when_requested);
    s
}

/// Loads `spec` into a freshly seeded store.
fn load<S: Storage>(desk: &ChatDesk<S>, spec: &Spec) -> Info {
    let topic = seed(desk);
    bulk(desk, spec.history, &|id, _, _| {
        let mut s = bulk_record(id, topic, ChatSessionStatus::Closed);
        s.when_ended = Some(s.when_requested);
        s
    });
    bulk(desk, spec.queued, &|id, seq, _| queued(id, topic, seq));
    bulk(desk, spec.open, &|id, seq, i| {
        if i % 2 == 0 {
            queued(id, topic, seq)
        } else {
            let mut s = bulk_record(id, topic, ChatSessionStatus::UserLast);
            s.user = Some(AGENT);
            s.when_started = Some(s.when_requested);
            s.rank = i32::try_from(i).expect("rank");
            s
        }
    });
    let target = match spec.target {
        Target::None => None,
        Target::Queued | Target::Active => {
            let e = desk
                .create_chat_session_for_topic(&Caller::anonymous(), topic, &request())
                .expect("the target session");
            let id = SessionId(e.chat_session_id);
            if spec.target == Target::Active {
                desk.pick_up_chat_session(&Caller::agent(AGENT), id)
                    .expect("picking up the target");
            }
            Some((id, e.session_key))
        }
    };
    if let Some((id, _)) = target {
        let mut done = 0;
        while done < spec.messages {
            let k = BULK.min(spec.messages - done);
            desk.storage()
                .write(|tx| {
                    for i in 0..k {
                        let mid = i32::try_from(tx.next_id(IdKind::Message)?).expect("id");
                        let to_user = (done + i) % 2 == 0;
                        tx.put_message(&MessageRecord {
                            id: MessageId(mid),
                            session: id,
                            kind: if to_user {
                                ChatMessageType::ToUser
                            } else {
                                ChatMessageType::ToCustomer
                            },
                            text: format!(
                                "Message number {} of the chat, a typical line.",
                                done + i
                            ),
                            author: if to_user { "Ann" } else { "Agent Seven" }.into(),
                            read_by_customer: true,
                            special: ChatMessageSpecialType::None,
                            special_param: String::new(),
                            when_posted: SystemClock.now(),
                        })?;
                    }
                    Ok(())
                })
                .expect("bulk messages");
            done += k;
        }
    }
    Info { topic, target }
}

// ------------------------------------------------------- operation side --

struct Svc<S: Storage> {
    desk: ChatDesk<S>,
    op: Op,
    info: Info,
    customer: Caller,
    agent: Caller,
    queued: VecDeque<SessionId>,
    picked: Vec<SessionId>,
    _dir: Option<TempDir>,
}

/// How many sessions one refill of a pick-up fixture queues.
const REFILL: usize = 64;

impl<S: Storage> Svc<S> {
    fn new(desk: ChatDesk<S>, op: Op, info: Info, dir: Option<TempDir>) -> Self {
        let customer = info
            .target
            .as_ref()
            .map_or_else(Caller::anonymous, |(_, k)| Caller::customer(k.clone()));
        Svc {
            desk,
            op,
            info,
            customer,
            agent: Caller::agent(AGENT),
            queued: VecDeque::new(),
            picked: Vec::new(),
            _dir: dir,
        }
    }

    fn needs_refill(&self) -> bool {
        matches!(self.op, Op::PickUp | Op::PickUpFirst) && self.queued.is_empty()
    }

    /// Removes what was picked up and queues [`REFILL`] more (at the tail).
    fn refill(&mut self) {
        let topic = self.info.topic;
        let picked = std::mem::take(&mut self.picked);
        let ids = self
            .desk
            .storage()
            .write(|tx| {
                for id in &picked {
                    tx.delete_session(*id)?;
                }
                let mut ids = Vec::new();
                for _ in 0..REFILL {
                    let id = SessionId(i32::try_from(tx.next_id(IdKind::Session)?).expect("id"));
                    let seq = u64::try_from(tx.next_id(IdKind::QueueSeq)?).expect("seq");
                    tx.put_session(&queued(id, topic, seq))?;
                    ids.push(id);
                }
                Ok(ids)
            })
            .expect("a refill");
        self.queued.extend(ids);
    }

    fn once(&mut self) {
        let d = &self.desk;
        let target = self.info.target.as_ref().map(|t| t.0);
        match self.op {
            Op::PickUp => {
                let id = self.queued.pop_front().expect("refilled");
                let e = d.pick_up_chat_session(&self.agent, id).expect("pick up");
                assert!(e.is_some(), "the session was queued");
                self.picked.push(id);
            }
            Op::PickUpFirst => {
                let e = d
                    .pick_up_first_chat_session(&self.agent)
                    .expect("pick up first")
                    .expect("somebody waits");
                self.queued.pop_front();
                self.picked.push(SessionId(e.chat_session_id));
            }
            Op::AddMessage => {
                let m = ChatMessage {
                    message: "Hello, I have a question about my order.".into(),
                    ..ChatMessage::default()
                };
                d.add_chat_message(&self.customer, target.expect("a target"), &m)
                    .expect("add message");
            }
            Op::GetEntity => {
                let e = d
                    .get_chat_session_entity(&self.agent, target.expect("a target"))
                    .expect("get entity");
                std::hint::black_box(e);
            }
            Op::QueuePosition => {
                let p = d
                    .get_queue_position(&self.customer, target.expect("a target"))
                    .expect("queue position");
                assert!(p.is_some(), "queued");
            }
            Op::Transcript => {
                let t = d
                    .get_chat_transcript(
                        &self.agent,
                        target.expect("a target"),
                        TranscriptFormat::Text,
                    )
                    .expect("transcript");
                std::hint::black_box(t);
            }
            Op::AlertSweep => {
                let c = d.alert_sweep(&Caller::system()).expect("alert sweep");
                assert!(c.is_empty(), "nothing due");
            }
            Op::IdleSweep => {
                let c = d.idle_sweep(&Caller::system()).expect("idle sweep");
                assert!(c.is_empty(), "nothing due");
            }
        }
    }
}

fn timed_run(
    iters: u64,
    needs_refill: &mut dyn FnMut() -> bool,
    refill: &mut dyn FnMut(),
    once: &mut dyn FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        if needs_refill() {
            refill();
        }
        let start = Instant::now();
        let mut n = 0;
        while left > 0 && !needs_refill() {
            once();
            left -= 1;
            n += 1;
        }
        total += start.elapsed();
        debug_assert!(n > 0);
    }
    total
}

impl<S: Storage> Side for Svc<S> {
    fn run(&mut self, iters: u64) -> Duration {
        let this = std::cell::RefCell::new(self);
        timed_run(
            iters,
            &mut || this.borrow().needs_refill(),
            &mut || this.borrow_mut().refill(),
            &mut || this.borrow_mut().once(),
        )
    }
}

// ------------------------------------------------------------- raw side --

struct Raw<R: RawStore> {
    store: R,
    op: Op,
    topic: TopicId,
    target: Option<(SessionId, [u8; 32])>,
    queued: VecDeque<SessionId>,
    picked: Vec<SessionId>,
    _dir: Option<TempDir>,
}

fn raw_pick_up(tx: &mut dyn RawTx, s: SessionRecord, now: Timestamp) {
    let member = tx.member(s.topic, AGENT);
    assert!(member.is_some_and(|m| m.can_respond), "a responder");
    let name = tx.presence_name(AGENT).unwrap_or_default();
    tx.touch_topic(s.topic, now);
    let rank = chatdesk::testkit::rules::lowest_free_rank(tx.active_ranks(AGENT));
    let mid = tx.next_id(IdKind::Message);
    let welcome = crate::WELCOME.to_string();
    tx.put_message(&MessageRecord {
        id: MessageId(i32::try_from(mid).expect("id")),
        session: s.id,
        kind: ChatMessageType::ToCustomer,
        text: welcome.clone(),
        author: name,
        read_by_customer: false,
        special: ChatMessageSpecialType::Welcome,
        special_param: String::new(),
        when_posted: now,
    });
    let mut new = s.clone();
    new.user = Some(AGENT);
    new.rank = rank;
    new.when_started = Some(now);
    new.status = ChatSessionStatus::UserLast;
    new.last_message = welcome;
    new.when_idle = Some(now);
    tx.put_session(Some(&s), &new);
}

/// The evaluation a sweep makes of a row (timestamps only; never due here).
fn due(s: &SessionRecord, now: Timestamp) -> bool {
    let seen = s
        .when_fetched
        .unwrap_or(s.when_requested)
        .max(s.when_requested);
    let idle = s.when_idle.or(s.when_started);
    now.whole_seconds_since(seen) >= 180 || idle.is_some_and(|t| now.whole_seconds_since(t) >= 1800)
}

const OPEN: [ChatSessionStatus; 6] = [
    ChatSessionStatus::PreChatForm,
    ChatSessionStatus::Faq,
    ChatSessionStatus::OfflineForm,
    ChatSessionStatus::InQueue,
    ChatSessionStatus::CustomerLast,
    ChatSessionStatus::UserLast,
];

impl<R: RawStore> Raw<R> {
    fn needs_refill(&self) -> bool {
        matches!(self.op, Op::PickUp | Op::PickUpFirst) && self.queued.is_empty()
    }

    fn refill(&mut self) {
        let topic = self.topic;
        let picked = std::mem::take(&mut self.picked);
        let mut ids = Vec::new();
        self.store.write(&mut |tx| {
            for id in &picked {
                if let Some(s) = tx.session(*id) {
                    tx.delete_session(&s);
                }
            }
            for _ in 0..REFILL {
                let id = SessionId(i32::try_from(tx.next_id(IdKind::Session)).expect("id"));
                let seq = u64::try_from(tx.next_id(IdKind::QueueSeq)).expect("seq");
                tx.put_session(None, &queued(id, topic, seq));
                ids.push(id);
            }
        });
        self.queued.extend(ids);
    }

    fn sweep(&mut self, statuses: &[ChatSessionStatus]) {
        let now = SystemClock.now();
        for status in statuses {
            let mut after = SessionId(0);
            loop {
                let mut last = None;
                self.store.write(&mut |tx| {
                    let page = tx.sessions_by_status(*status, after, chatdesk::SWEEP_BATCH);
                    last = page.last().map(|s| s.id);
                    for s in &page {
                        assert!(!due(s, now), "nothing due");
                    }
                });
                match last {
                    Some(l) => after = l,
                    None => break,
                }
            }
        }
    }

    fn once(&mut self) {
        let now = SystemClock.now();
        let target = self.target;
        match self.op {
            Op::PickUp => {
                let id = self.queued.pop_front().expect("refilled");
                self.store.write(&mut |tx| {
                    let s = tx.session(id).expect("the session");
                    assert!(s.in_human_queue(), "queued");
                    raw_pick_up(tx, s, now);
                });
                self.picked.push(id);
            }
            Op::PickUpFirst => {
                let topic = self.topic;
                let mut got = None;
                self.store.write(&mut |tx| {
                    let mut best: Option<(u64, SessionId)> = None;
                    for m in tx.user_memberships(AGENT) {
                        if m.can_respond
                            && let Some(h) = tx.queue_head(m.topic)
                            && best.is_none_or(|b| h.0 < b.0)
                        {
                            best = Some(h);
                        }
                    }
                    let (_, id) = best.expect("somebody waits");
                    let s = tx.session(id).expect("the session");
                    debug_assert_eq!(s.topic, topic);
                    raw_pick_up(tx, s, now);
                    got = Some(id);
                });
                self.queued.pop_front();
                self.picked.push(got.expect("picked"));
            }
            Op::AddMessage => {
                let (_, hash) = target.expect("a target");
                self.store.write(&mut |tx| {
                    let id = tx.session_by_key(&hash).expect("the key");
                    let s = tx.session(id).expect("the session");
                    let mid = tx.next_id(IdKind::Message);
                    let text = "Hello, I have a question about my order.".to_string();
                    tx.put_message(&MessageRecord {
                        id: MessageId(i32::try_from(mid).expect("id")),
                        session: id,
                        kind: ChatMessageType::ToUser,
                        text: text.clone(),
                        author: s.customer.alias.clone(),
                        read_by_customer: false,
                        special: ChatMessageSpecialType::None,
                        special_param: String::new(),
                        when_posted: now,
                    });
                    let mut new = s.clone();
                    new.last_message = text;
                    new.when_idle = Some(now);
                    if new.status != ChatSessionStatus::CustomerLast {
                        new.status = ChatSessionStatus::CustomerLast;
                        new.customer_last_since = Some(now);
                    }
                    new.when_fetched = Some(now);
                    tx.put_session(Some(&s), &new);
                });
            }
            Op::GetEntity => {
                let (id, _) = target.expect("a target");
                self.store.read(&mut |tx| {
                    let s = tx.session(id).expect("the session");
                    let m = tx.member(s.topic, AGENT);
                    std::hint::black_box((s, m));
                });
            }
            Op::QueuePosition => {
                let (_, hash) = target.expect("a target");
                self.store.read(&mut |tx| {
                    let id = tx.session_by_key(&hash).expect("the key");
                    let s = tx.session(id).expect("the session");
                    let seq = s.human_queue_seq().expect("queued");
                    let before = tx.queue_sum(
                        s.topic,
                        &chatdesk::backend::queue_index::prefix_nodes(seq - 1),
                    );
                    std::hint::black_box(before + 1);
                });
            }
            Op::Transcript => {
                let (id, _) = target.expect("a target");
                self.store.read(&mut |tx| {
                    let s = tx.session(id).expect("the session");
                    let m = tx.member(s.topic, AGENT);
                    let rows = tx.messages(id, MessageId(0), usize::MAX);
                    std::hint::black_box((m, rows));
                });
            }
            Op::AlertSweep => {
                self.sweep(&[ChatSessionStatus::InQueue, ChatSessionStatus::CustomerLast]);
            }
            Op::IdleSweep => self.sweep(&OPEN),
        }
    }
}

impl<R: RawStore> Side for Raw<R> {
    fn run(&mut self, iters: u64) -> Duration {
        let this = std::cell::RefCell::new(self);
        timed_run(
            iters,
            &mut || this.borrow().needs_refill(),
            &mut || this.borrow_mut().refill(),
            &mut || this.borrow_mut().once(),
        )
    }
}

// ------------------------------------------------------------- building --

fn make_raw<R: RawStore>(store: R, op: Op, info: &Info, dir: Option<TempDir>) -> Raw<R> {
    let mut store = store;
    let target = info.target.as_ref().map(|(id, _)| {
        let mut hash = [0u8; 32];
        store.read(&mut |tx| hash = tx.session(*id).expect("the target").key_hash);
        (*id, hash)
    });
    Raw {
        store,
        op,
        topic: info.topic,
        target,
        queued: VecDeque::new(),
        picked: Vec::new(),
        _dir: dir,
    }
}

/// The operation side over `backend` with fixture `spec`.
pub fn service_side(op: Op, backend: Backend, spec: &Spec) -> Box<dyn Side> {
    service_side_feed(op, backend, spec, false)
}

/// Turns the change feed on in a store about to be measured.
fn feed_on<S: Storage>(desk: &ChatDesk<S>, on: bool) {
    if on {
        desk.set_change_feed(&chatdesk::Caller::system(), true)
            .expect("switching the change feed on");
    }
}

/// The service side, with the change feed on or off (issue 7's cost pairs).
pub fn service_side_feed(op: Op, backend: Backend, spec: &Spec, feed: bool) -> Box<dyn Side> {
    match backend {
        Backend::Memory => {
            let desk = ChatDesk::new(MemoryStorage::new());
            let info = load(&desk, spec);
            feed_on(&desk, feed);
            Box::new(Svc::new(desk, op, info, None))
        }
        Backend::Sqlite(d) => {
            let dir = temp_dir();
            let path = sqlite_file(dir.path());
            let desk = ChatDesk::new(std::sync::Arc::new(open_sqlite(&path, Durability::Relaxed)));
            let info = load(&desk, spec);
            desk_into_storage(desk)
                .close()
                .expect("closing the loaded store");
            let desk = ChatDesk::new(open_sqlite(&path, d));
            feed_on(&desk, feed);
            Box::new(Svc::new(desk, op, info, Some(dir)))
        }
        Backend::Sled(d) => {
            let dir = temp_dir();
            let desk = ChatDesk::new(open_sled(dir.path(), Durability::Relaxed));
            let info = load(&desk, spec);
            desk.storage().flush().expect("flushing the loaded store");
            drop(desk);
            let desk = ChatDesk::new(open_sled(dir.path(), d));
            feed_on(&desk, feed);
            Box::new(Svc::new(desk, op, info, Some(dir)))
        }
    }
}

fn desk_into_storage<S: Storage>(desk: ChatDesk<std::sync::Arc<S>>) -> S {
    let store = std::sync::Arc::clone(desk.storage());
    drop(desk);
    std::sync::Arc::try_unwrap(store).unwrap_or_else(|_| unreachable!("the desk is dropped"))
}

/// The raw side over `backend` with fixture `spec` (loaded by the backend,
/// then reopened with the engine alone).
pub fn raw_side(op: Op, backend: Backend, spec: &Spec) -> Box<dyn Side> {
    match backend {
        Backend::Memory => {
            let desk = ChatDesk::new(MemoryStorage::new());
            let info = load(&desk, spec);
            let maps = copy_maps(&desk);
            Box::new(make_raw(RawMemStore::new(maps), op, &info, None))
        }
        Backend::Sqlite(d) => {
            let dir = temp_dir();
            let path = sqlite_file(dir.path());
            let desk = ChatDesk::new(std::sync::Arc::new(open_sqlite(&path, Durability::Relaxed)));
            let info = load(&desk, spec);
            desk_into_storage(desk)
                .close()
                .expect("closing the loaded store");
            let store = RawSqliteStore::open(&path, d);
            Box::new(make_raw(store, op, &info, Some(dir)))
        }
        Backend::Sled(d) => {
            let dir = temp_dir();
            let desk = ChatDesk::new(open_sled(dir.path(), Durability::Relaxed));
            let info = load(&desk, spec);
            desk.storage().flush().expect("flushing the loaded store");
            drop(desk);
            let store = RawSledStore::open(dir.path(), d);
            Box::new(make_raw(store, op, &info, Some(dir)))
        }
    }
}

fn copy_maps(desk: &ChatDesk<MemoryStorage>) -> Maps {
    desk.storage()
        .read(|tx| {
            let mut m = Maps::default();
            for t in tx.topics()? {
                m.topics.insert(t.id, (t.last_accept, t.seconds_pr_accept));
            }
            for mb in tx.all_members()? {
                m.members.insert((mb.topic, mb.user), mb);
            }
            for p in tx.presences()? {
                m.presences.insert(p.user, p.display_name);
            }
            let mut after = SessionId(0);
            let (mut max_seq, mut max_msg) = (0u64, 0i32);
            loop {
                let page = tx.sessions(after, 10_000)?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for s in page {
                    max_seq = max_seq.max(s.queue_seq.unwrap_or(0));
                    let mut mafter = MessageId(0);
                    loop {
                        let msgs = tx.messages(s.id, mafter, 1000)?;
                        let Some(l) = msgs.last() else { break };
                        mafter = l.id;
                        for msg in msgs {
                            max_msg = max_msg.max(msg.id.0);
                            m.messages.insert((msg.session, msg.id), msg);
                        }
                    }
                    m.load_session(s);
                }
            }
            m.counters.insert(IdKind::Session, i64::from(after.0));
            m.counters
                .insert(IdKind::QueueSeq, i64::try_from(max_seq).expect("seq"));
            m.counters.insert(IdKind::Message, i64::from(max_msg));
            Ok(m)
        })
        .expect("copying the memory store")
}

/// A measured pair: `a` over `b`, with the target the ratio should meet.
pub struct Pair {
    /// The name printed (`ratio <name> <value>`).
    pub name: String,
    /// Builds the numerator side (the operation).
    pub a: Box<dyn Fn() -> Box<dyn Side>>,
    /// Builds the denominator side (the baseline).
    pub b: Box<dyn Fn() -> Box<dyn Side>>,
    /// The target ratio (at most).
    pub target: f64,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pair({}, ≤ {})", self.name, self.target)
    }
}

fn target(op: Op, backend: Backend) -> f64 {
    match (op, backend) {
        (Op::PickUp | Op::AddMessage | Op::PickUpFirst, Backend::Memory) => 5.0,
        (Op::PickUp | Op::AddMessage | Op::PickUpFirst, b)
            if b.durability() == Durability::Durable =>
        {
            1.3
        }
        (Op::PickUp | Op::AddMessage | Op::PickUpFirst, _) => 2.0,
        (Op::GetEntity | Op::QueuePosition, Backend::Memory) => 4.0,
        (Op::GetEntity | Op::QueuePosition, _) => 2.0,
        (Op::Transcript, _) => 2.0,
        // No target in the issue; reported against 2x.
        _ => 2.0,
    }
}

impl<S: crate::Subject> Side for crate::Drained<S> {
    fn run(&mut self, iters: u64) -> Duration {
        crate::Drained::run(self, iters)
    }
}

/// `create_chat_session_for_topic` next to its raw baseline
/// ([`crate::Service`] and [`crate::raw_memory`], [`crate::raw_sqlite`],
/// [`crate::raw_sled`] under [`crate::Drained`], as the criterion bench
/// `create_session` measures them).
pub fn create_pairs() -> Vec<Pair> {
    use crate::raw_memory::RawMemory;
    use crate::raw_sled::RawSled;
    use crate::raw_sqlite::RawSqlite;
    use crate::{Drained, Service};
    Backend::ALL
        .into_iter()
        .map(|backend| {
            let (a, b): (SideMaker, SideMaker) = match backend {
                Backend::Memory => (
                    Box::new(|| Box::new(Drained::new(Service::memory()))),
                    Box::new(|| Box::new(Drained::new(RawMemory::new()))),
                ),
                Backend::Sqlite(d) => (
                    Box::new(move || Box::new(Drained::new(Service::sqlite(d)))),
                    Box::new(move || Box::new(Drained::new(RawSqlite::new(d)))),
                ),
                Backend::Sled(d) => (
                    Box::new(move || Box::new(Drained::new(Service::sled(d)))),
                    Box::new(move || Box::new(Drained::new(RawSled::new(d)))),
                ),
            };
            Pair {
                name: format!("create_{}", backend.name()),
                a,
                b,
                // The issue gives create the targets of pick up and add message.
                target: target(Op::PickUp, backend),
            }
        })
        .collect()
}

/// Builds one side of a pair.
type SideMaker = Box<dyn Fn() -> Box<dyn Side>>;

/// Every operation / baseline pair (create first), then the scaling,
/// history and change-feed pairs.
pub fn pairs() -> Vec<Pair> {
    let mut out = create_pairs();
    for op in Op::ALL {
        for backend in Backend::ALL {
            let spec = op.fixture();
            out.push(Pair {
                name: format!("{}_{}", op.name(), backend.name()),
                a: Box::new(move || service_side(op, backend, &spec)),
                b: Box::new(move || raw_side(op, backend, &spec)),
                target: target(op, backend),
            });
        }
    }
    out.extend(scaling_pairs());
    out.extend(feed_pairs());
    out.extend(tracing_pairs());
    out.extend(crate::routing::routing_pairs());
    out.extend(crate::report::report_pairs());
    out
}

/// The change feed's cost (issue 7): an operation with the feed on over the
/// same operation with it off, every backend and mode (`feed_<op>_<backend>`;
/// the target, 1.15, binds in the durable modes).
pub fn feed_pairs() -> Vec<Pair> {
    let mut out = Vec::new();
    for op in [Op::PickUp, Op::AddMessage] {
        for backend in Backend::ALL {
            let spec = op.fixture();
            out.push(Pair {
                name: format!("feed_{}_{}", op.name(), backend.name()),
                a: Box::new(move || service_side_feed(op, backend, &spec, true)),
                b: Box::new(move || service_side_feed(op, backend, &spec, false)),
                target: 1.15,
            });
        }
    }
    out
}

impl Op {
    /// The public operation it calls, and its caller's kind, as its
    /// tracing span names them.
    fn traced_as(self) -> (&'static str, Caller) {
        let customer = Caller::customer("k".repeat(43));
        match self {
            Op::PickUp => ("pick_up_chat_session", Caller::agent(AGENT)),
            Op::PickUpFirst => ("pick_up_first_chat_session", Caller::agent(AGENT)),
            Op::AddMessage => ("add_chat_message", customer),
            Op::GetEntity => ("get_chat_session_entity", Caller::agent(AGENT)),
            Op::QueuePosition => ("get_queue_position", customer),
            Op::Transcript => ("get_chat_transcript", Caller::agent(AGENT)),
            Op::AlertSweep => ("alert_sweep", Caller::system()),
            Op::IdleSweep => ("idle_sweep", Caller::system()),
        }
    }
}

/// The tracing work of one operation, with no subscriber installed: the
/// span it opens and the checks its events make
/// (`chatdesk::testkit::trace_again`, the same code the operation runs).
struct TraceWork {
    op: &'static str,
    caller: Caller,
}

impl Side for TraceWork {
    fn run(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for i in 0..iters {
            let session = Some(SessionId(i32::try_from(i & 0xFFFF).unwrap_or(1)));
            let guard = chatdesk::testkit::trace_again(
                std::hint::black_box(self.op),
                std::hint::black_box(&self.caller),
                session,
            );
            drop(std::hint::black_box(guard));
        }
        start.elapsed()
    }
}

/// What tracing costs each operation with no subscriber installed (issue
/// 14, target ≤ 5 %): the operation's tracing work alone (its span and its
/// event checks, run by the same code, see `TraceWork`) over the whole
/// operation, in the same run (`tracing_<op>_<backend>`); the ratio is
/// tracing's share of the operation's time. Measuring the operation with
/// and without a second copy of its tracing instead was tried: the
/// difference (nanoseconds) drowned in the two sides' noise (±10–50 % on
/// memory and relaxed SQLite), while the work alone is a steady figure.
/// Memory, where operations are shortest and the share largest, and
/// relaxed SQLite.
pub fn tracing_pairs() -> Vec<Pair> {
    let mut out = Vec::new();
    for op in Op::ALL {
        for backend in [Backend::Memory, Backend::Sqlite(Durability::Relaxed)] {
            let spec = op.fixture();
            out.push(Pair {
                name: format!("tracing_{}_{}", op.name(), backend.name()),
                a: Box::new(move || {
                    let (name, caller) = op.traced_as();
                    Box::new(TraceWork { op: name, caller })
                }),
                b: Box::new(move || service_side(op, backend, &spec)),
                target: 0.05,
            });
        }
    }
    out
}

/// Queue position and pick-up-first at 10 000 and 100 000 queued over 100
/// queued; then queue position, pick-up-first, pick-up, add-message and
/// get-entity with 1 000 000 closed sessions of history over none (the
/// relaxed modes for the disk backends; sizes divided by 1 000 in quick
/// mode).
pub fn scaling_pairs() -> Vec<Pair> {
    let mut out = Vec::new();
    let backends = [
        Backend::Memory,
        Backend::Sqlite(Durability::Relaxed),
        Backend::Sled(Durability::Relaxed),
    ];
    for op in [Op::QueuePosition, Op::PickUpFirst] {
        for backend in backends {
            let target = if op == Op::QueuePosition {
                Target::Queued
            } else {
                Target::None
            };
            for big in [10_000usize, 100_000] {
                let small = Spec {
                    queued: 100,
                    target,
                    ..Spec::default()
                };
                let large = Spec {
                    queued: size(big),
                    ..small
                };
                let label = if big == 100_000 { "100k" } else { "10k" };
                out.push(Pair {
                    name: format!("{}_{label}_vs_100_{}", op.name(), backend.name()),
                    a: Box::new(move || service_side(op, backend, &large)),
                    b: Box::new(move || service_side(op, backend, &small)),
                    target: 2.0,
                });
            }
        }
    }
    for op in [
        Op::QueuePosition,
        Op::PickUpFirst,
        Op::PickUp,
        Op::AddMessage,
        Op::GetEntity,
    ] {
        for backend in backends {
            let plain = op.fixture();
            let history = Spec {
                history: size(history_size()),
                ..plain
            };
            out.push(Pair {
                name: format!("{}_history_{}", op.name(), backend.name()),
                a: Box::new(move || service_side(op, backend, &history)),
                b: Box::new(move || service_side(op, backend, &plain)),
                target: 1.25,
            });
        }
    }
    out
}

/// The closed sessions of the history fixtures: 1 000 000, or
/// `CHATDESK_BENCH_HISTORY`.
pub fn history_size() -> usize {
    std::env::var("CHATDESK_BENCH_HISTORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}
