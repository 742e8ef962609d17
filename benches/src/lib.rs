//! Shared fixtures for the chatdesk benchmarks.
//!
//! Every benchmark compares an operation of [`ChatDesk`] with a raw baseline
//! that reads and writes the same rows with the storage engine alone (plain
//! rusqlite, plain sled, maps under a lock), in the same run: on a
//! noisy machine only the ratio means something.
//!
//! Both sides implement [`Subject`] and run under [`Drained`], which empties
//! the fixture of its sessions every [`DRAIN_EVERY`] operations, outside the
//! timed region. So the human queue (which `create_chat_session_for_topic`
//! counts) holds between 0 and `DRAIN_EVERY - 1` sessions on both sides,
//! however many iterations criterion asks for; only the id counters keep
//! growing.

pub mod latency;
pub mod ops;
pub mod raw;
pub mod raw_memory;
pub mod raw_sled;
pub mod raw_sqlite;
pub mod report;
pub mod routing;

use chatdesk::backend::{CrmLinks, CustomerInfo, SessionRecord};
use chatdesk::backend::{StorageExt, WriteTx};
use chatdesk::{Associate, ChatPresence, ChatTopicAgent};
use chatdesk::{
    Caller, ChatDesk, ChatSessionEntity, ChatSessionStatus, Durability, MemoryStorage, SessionId,
    Storage, Timestamp, TopicId, UserId,
};
use chatdesk_sled::{SledOptions, SledStorage};
use chatdesk_sqlite::{SqliteOptions, SqliteStorage};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The agent of the fixture topic: a member with CanRespond, present.
pub const AGENT: UserId = UserId(7);

/// The fixture topic's name.
pub const TOPIC_NAME: &str = "Support";

/// The fixture topic's welcome message (posted on every pick-up).
pub const WELCOME: &str = "Welcome! An agent will be with you shortly.";

/// How many operations run between two drains of the fixture.
pub const DRAIN_EVERY: usize = 100;

/// One side of a comparison: something that creates queued sessions.
pub trait Subject {
    /// Creates one session (status InQueue) and returns its id. Timed.
    fn create(&mut self) -> SessionId;

    /// Removes the sessions `ids` (everything created since the last drain),
    /// with their index entries. Not timed.
    fn drain(&mut self, ids: &[SessionId]);
}

/// Runs a [`Subject`] for criterion's `iter_custom`, draining it every
/// [`DRAIN_EVERY`] operations outside the timed region.
#[derive(Debug)]
pub struct Drained<S> {
    subject: S,
    created: Vec<SessionId>,
}

impl<S: Subject> Drained<S> {
    /// Wraps a fresh subject.
    pub fn new(subject: S) -> Self {
        Drained {
            subject,
            created: Vec::with_capacity(DRAIN_EVERY),
        }
    }

    /// The subject (for a test to look at its store).
    pub fn subject(&self) -> &S {
        &self.subject
    }

    /// Runs `iters` operations and returns the time they took (drains
    /// excluded).
    pub fn run(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let room = (DRAIN_EVERY - self.created.len()) as u64;
            let n = left.min(room);
            let start = Instant::now();
            for _ in 0..n {
                let id = self.subject.create();
                self.created.push(id);
            }
            total += start.elapsed();
            left -= n;
            if self.created.len() == DRAIN_EVERY {
                self.subject.drain(&self.created);
                self.created.clear();
            }
        }
        total
    }
}

/// What the anonymous customer sends.
pub fn request() -> ChatSessionEntity {
    ChatSessionEntity {
        customer_alias: "Ann".into(),
        customer_host: "www.example.com".into(),
        customer_name: "Ann Smith".into(),
        customer_email: "ann@example.com".into(),
        ..ChatSessionEntity::default()
    }
}

/// The customer fields of [`request`] as a stored record holds them.
pub fn customer() -> CustomerInfo {
    let r = request();
    CustomerInfo {
        alias: r.customer_alias,
        host: r.customer_host,
        name: r.customer_name,
        email: r.customer_email,
        phone: r.customer_phone,
        consented: r.customer_consented,
        company: r.customer_company_name,
    }
}

/// A staffed topic in `desk`'s store: [`AGENT`] is a member with CanRespond
/// and present, so a new session goes InQueue.
///
/// # Panics
/// When the service refuses one of the set-up calls.
pub fn seed<S: Storage>(desk: &ChatDesk<S>) -> TopicId {
    let host = Caller::system();
    let mut topic = desk.create_default_chat_topic_entity(&host);
    topic.name = TOPIC_NAME.into();
    topic.welcome_message = WELCOME.into();
    let topic = desk
        .save_chat_topic_entity(&host, &topic)
        .expect("saving the topic");
    let id = TopicId(topic.chat_topic_id);
    staff(desk, id, AGENT, "Agent Seven");
    id
}

/// Makes `user` a member of `topic` with CanRespond and CanListen, present
/// under `name` (how [`seed`] adds [`AGENT`]).
///
/// # Panics
/// When the service refuses one of the calls.
pub fn staff<S: Storage>(desk: &ChatDesk<S>, topic: TopicId, user: UserId, name: &str) {
    desk.add_chat_topic_user_agent(
        &Caller::system(),
        &ChatTopicAgent {
            topic_id: topic.0,
            user: Some(Associate::with_id(user.0)),
            can_respond: true,
            can_listen: true,
            ..ChatTopicAgent::default()
        },
    )
    .expect("adding the agent");
    desk.save_chat_presence(
        &Caller::agent(user),
        &ChatPresence {
            user_id: user.0,
            present: true,
            display_name: name.into(),
            ..ChatPresence::default()
        },
    )
    .expect("saving the presence");
}

/// The session record the operation stores for [`request`], as the raw
/// baselines build it.
pub fn queued_record(
    id: SessionId,
    topic: TopicId,
    key_hash: [u8; 32],
    now: Timestamp,
    seq: u64,
    initial_queue_pos: i32,
) -> SessionRecord {
    SessionRecord {
        id,
        topic,
        user: None,
        links: CrmLinks::default(),
        customer: customer(),
        status: ChatSessionStatus::InQueue,
        first_message: String::new(),
        last_message: String::new(),
        when_requested: now,
        when_started: None,
        when_ended: None,
        when_idle: None,
        when_fetched: None,
        key_hash,
        initial_queue_pos,
        alert_level: 0,
        rank: 0,
        transfer_to: None,
        chatbot_is_active: false,
        rating: 0,
        queue_seq: Some(seq),
        queue_entered: Some(now),
        customer_last_since: None,
        deleted_at: None,
        routing: Default::default(),
        stats: Default::default(),
    }
}

/// 32 bytes from the OS random source, as the operation draws for a key.
///
/// # Panics
/// When the OS has no random source.
pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source");
    key
}

/// The operation side: `create_chat_session_for_topic` through the service.
#[derive(Debug)]
pub struct Service<S: Storage> {
    desk: ChatDesk<S>,
    topic: TopicId,
    ctx: Caller,
    input: ChatSessionEntity,
    /// Keeps a disk store's directory alive (removed on drop).
    _dir: Option<TempDir>,
}

impl<S: Storage> Service<S> {
    fn over(storage: S, dir: Option<TempDir>) -> Self {
        let desk = ChatDesk::new(storage);
        let topic = seed(&desk);
        Service {
            desk,
            topic,
            ctx: Caller::anonymous(),
            input: request(),
            _dir: dir,
        }
    }
}

impl Service<MemoryStorage> {
    /// Over a fresh [`MemoryStorage`].
    pub fn memory() -> Self {
        Service::over(MemoryStorage::new(), None)
    }
}

/// A fresh temporary directory.
///
/// # Panics
/// When it cannot be created.
pub fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The SQLite file inside a fixture directory.
pub fn sqlite_file(dir: &Path) -> std::path::PathBuf {
    dir.join("chat.db")
}

/// Opens a SQLite store at `path`.
///
/// # Panics
/// When it cannot be opened.
pub fn open_sqlite(path: &Path, durability: Durability) -> SqliteStorage {
    let options = SqliteOptions {
        durability,
        ..SqliteOptions::default()
    };
    SqliteStorage::open(path, options).expect("opening the SQLite store")
}

/// Opens a sled store in `dir`.
///
/// # Panics
/// When it cannot be opened.
pub fn open_sled(dir: &Path, durability: Durability) -> SledStorage {
    let options = SledOptions {
        durability,
        ..SledOptions::default()
    };
    SledStorage::open(dir, options).expect("opening the sled store")
}

impl Service<SqliteStorage> {
    /// Over a fresh SQLite file in a temporary directory.
    pub fn sqlite(durability: Durability) -> Self {
        let dir = temp_dir();
        let store = open_sqlite(&sqlite_file(dir.path()), durability);
        Service::over(store, Some(dir))
    }
}

impl Service<SledStorage> {
    /// Over a fresh sled store in a temporary directory.
    pub fn sled(durability: Durability) -> Self {
        let dir = temp_dir();
        let store = open_sled(dir.path(), durability);
        Service::over(store, Some(dir))
    }
}

impl<S: Storage> Service<S> {
    /// The service.
    pub fn desk(&self) -> &ChatDesk<S> {
        &self.desk
    }

    /// Drops the service (closing its store) and hands over the directory
    /// of a disk store, for a test to look at the files.
    pub fn into_dir(self) -> Option<TempDir> {
        self._dir
    }
}

impl<S: Storage> Subject for Service<S> {
    fn create(&mut self) -> SessionId {
        let e = self
            .desk
            .create_chat_session_for_topic(&self.ctx, self.topic, &self.input)
            .expect("creating a session");
        assert_eq!(e.status, ChatSessionStatus::InQueue, "the topic is staffed");
        SessionId(e.chat_session_id)
    }

    fn drain(&mut self, ids: &[SessionId]) {
        self.desk
            .storage()
            .write(|tx: &mut dyn WriteTx| {
                for id in ids {
                    tx.delete_session(*id)?;
                }
                Ok(())
            })
            .expect("draining the sessions");
    }
}

/// Seeds `store` as [`Service`] does and gives it back (for the raw
/// baselines to close and reopen with the engine alone, so that they start
/// from the very same rows), with the topic's id.
pub fn seeded<S: Storage>(store: S) -> (S, TopicId) {
    let store = Arc::new(store);
    let desk = ChatDesk::new(Arc::clone(&store));
    let topic = seed(&desk);
    drop(desk);
    let store = Arc::try_unwrap(store).unwrap_or_else(|_| unreachable!("the desk is dropped"));
    (store, topic)
}
