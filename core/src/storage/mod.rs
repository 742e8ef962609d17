//! The storage seam: a transactional, serializable, single-writer store with
//! typed access paths.
//!
//! # Contract every backend keeps
//! - [`Storage::write_tx`] runs its closure **exactly once**, inside one
//!   transaction that is atomic (an `Err` from the closure, or from the commit,
//!   leaves nothing visible) and serializable (writers run one after the other,
//!   served in arrival order within a process).
//! - Reads inside a write transaction see that transaction's own writes.
//! - [`Storage::read_tx`] sees one consistent committed snapshot and never
//!   sees a write transaction's uncommitted state.
//! - A backend never decides a business rule: what to index a session by comes
//!   from [`SessionRecord`]'s methods.
//! - Ids come from [`WriteTx::next_id`] and follow [`crate::ids::next_after`],
//!   so the same operations give the same ids on every backend.
//! - Change-feed events ([`WriteTx::put_event`]) are plain rows keyed by
//!   their sequence; the backend keeps them until
//!   [`WriteTx::delete_events_through`] and never reads their kind or data.
//!   The metadata map ([`ReadTx::meta`]) is a handful of small strings (the
//!   stored change-feed switch), read inside transactions like any row.
//!
//! Why this shape: the service does all the logic inside one closure and the
//! backend only makes that closure atomic and isolated, so the rules are
//! written once and the three backends can't disagree about them. The traits
//! are object-safe (`dyn ReadTx` / `dyn WriteTx`) so that backends stay plain
//! typed stores; [`StorageExt`] adds the generic, value-returning wrappers the
//! service calls.

pub(crate) mod memory;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{IdKind, MessageId, SessionId, TopicId, UserId};
use crate::model::{
    AgentRecord, EventRecord, MemberRecord, MessageRecord, PresenceRecord, SessionRecord,
    TopicRecord,
};
use crate::wire::ChatSessionStatus;

/// How hard a disk backend works to keep what it acknowledged (see
/// [`crate::guide::storage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// An acknowledged operation survives a process crash and a power loss
    /// (SQLite `synchronous=FULL`; sled flushed before returning).
    #[default]
    Durable,
    /// Faster: SQLite `synchronous=NORMAL` (survives a process crash); sled
    /// flushed in the background (a crash may lose a suffix of operations).
    Relaxed,
}

/// The store-wide routing lock a write takes first (see [`LockSet`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoutingLock {
    /// Runs beside other shared holders; waits for an exclusive one.
    Shared,
    /// Runs alone: taken by a write that may run a routing pass while some
    /// topic is Auto (the pass may assign any Auto topic's sessions to any
    /// agent), and by batch jobs (sweeps, purge).
    Exclusive,
}

/// What a write transaction locks before it reads what it will change: the
/// routing lock, then its topics, then its users (agents whose rank or load
/// it reads or changes), each in ascending id order, so that writers that
/// wait for each other can never wait in a circle. An exclusive routing
/// lock makes topics and users needless (the writer runs alone).
///
/// Embedded backends run one writer at a time and ignore it; a backend
/// shared by several machines (PostgreSQL) takes these locks, so writes on
/// disjoint topics and agents run side by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockSet {
    /// The routing lock.
    pub routing: RoutingLock,
    /// Topics, ascending, no repeats.
    pub topics: Vec<TopicId>,
    /// Users, ascending, no repeats.
    pub users: Vec<UserId>,
}

/// An agent marked free in a topic's routing index, with what the routing
/// choice compares (see [`ReadTx::routing_candidates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeAgent {
    /// The agent.
    pub user: UserId,
    /// Their active sessions plus the transfers pending to them.
    pub load: i32,
    /// When routing last assigned them a chat, if ever.
    pub last_assigned: Option<Timestamp>,
}

/// What a backend promises beyond the common contract, for hosts and for
/// tests that check a promise only where it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Ids and queue sequences are exactly 1 + the highest given, with no
    /// gaps (a failed operation uses none). Where false, they are unique and
    /// increasing but a failed or retried operation may leave a gap.
    pub gap_free_ids: bool,
    /// Several processes (or machines) may write the store at once.
    pub shared_between_processes: bool,
}

impl Capabilities {
    /// What the embedded, one-writer backends promise: gap-free ids, one
    /// process.
    pub const EMBEDDED: Capabilities = Capabilities {
        gap_free_ids: true,
        shared_between_processes: false,
    };

    /// The same, with `shared_between_processes` as given.
    pub const fn shared(self, shared: bool) -> Self {
        Capabilities {
            shared_between_processes: shared,
            ..self
        }
    }

    /// The same, with `gap_free_ids` as given.
    pub const fn gap_free(self, gap_free: bool) -> Self {
        Capabilities {
            gap_free_ids: gap_free,
            ..self
        }
    }
}

/// Read access inside a transaction. Lists are ordered as each method says.
pub trait ReadTx {
    /// A topic by id.
    fn topic(&self, id: TopicId) -> Result<Option<TopicRecord>>;
    /// Every topic, by id.
    fn topics(&self) -> Result<Vec<TopicRecord>>;
    /// Every topic's id, ascending, read from the keys alone (a topic whose
    /// row no longer decodes is listed too).
    fn topic_ids(&self) -> Result<Vec<TopicId>>;
    /// One membership.
    fn member(&self, topic: TopicId, user: UserId) -> Result<Option<MemberRecord>>;
    /// The memberships of a topic, by user id.
    fn topic_members(&self, topic: TopicId) -> Result<Vec<MemberRecord>>;
    /// The memberships of a user, by topic id.
    fn user_memberships(&self, user: UserId) -> Result<Vec<MemberRecord>>;
    /// Every membership, by (topic, user).
    fn all_members(&self) -> Result<Vec<MemberRecord>>;
    /// A user's saved presence.
    fn presence(&self, user: UserId) -> Result<Option<PresenceRecord>>;
    /// Every saved presence, by user id.
    fn presences(&self) -> Result<Vec<PresenceRecord>>;
    /// A session by id.
    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>>;
    /// The session whose key hashes to `key_hash`.
    fn session_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<SessionId>>;
    /// Sessions with `status` and id > `after`, by id, at most `limit`.
    fn sessions_by_status(
        &self,
        status: ChatSessionStatus,
        after: SessionId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>>;
    /// Sessions of `topic` with id > `after`, by id, at most `limit`.
    fn topic_sessions(
        &self,
        topic: TopicId,
        after: SessionId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>>;
    /// All sessions with id > `after`, by id, at most `limit`.
    fn sessions(&self, after: SessionId, limit: usize) -> Result<Vec<SessionRecord>>;
    /// The ids of all sessions with id > `after`, by id, at most `limit`,
    /// read from the keys alone: a row that no longer decodes is listed
    /// too (the integrity check walks these and reads each row by itself).
    fn session_ids(&self, after: SessionId, limit: usize) -> Result<Vec<SessionId>>;
    /// The active sessions (see [`SessionRecord::active_user`]) of `user`, by id.
    fn active_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>>;
    /// The (id, rank) of `user`'s active sessions, by id: what rank
    /// allocation and the ongoing count read. A backend may answer it
    /// without building whole records.
    fn active_ranks(&self, user: UserId) -> Result<Vec<(SessionId, i32)>> {
        Ok(self
            .active_sessions(user)?
            .into_iter()
            .map(|s| (s.id, s.rank))
            .collect())
    }
    /// The sessions with a pending transfer to `user` (see
    /// [`SessionRecord::pending_transfer_to`]), by id.
    fn transfers_to(&self, user: UserId) -> Result<Vec<SessionId>>;
    /// What routing keeps about `user` (capacity, last assignment), if saved.
    fn agent(&self, user: UserId) -> Result<Option<AgentRecord>>;
    /// The routing index of `topic`: the agents marked free there, by id
    /// (the service keeps it; see [`WriteTx::set_routing_free`]).
    fn routing_free(&self, topic: TopicId) -> Result<Vec<UserId>>;
    /// Whether `user` is marked free in `topic`'s routing index.
    fn routing_is_free(&self, topic: TopicId, user: UserId) -> Result<bool>;
    /// Whether some member of `topic` with CanRespond is present (what
    /// decides between the queue and the offline form). A backend whose
    /// reads are statements may answer it in one, instead of one read per
    /// member.
    fn has_present_responder(&self, topic: TopicId) -> Result<bool> {
        for m in self.topic_members(topic)? {
            if m.can_respond && self.presence(m.user)?.is_some_and(|p| p.present) {
                return Ok(true);
            }
        }
        Ok(false)
    }
    /// How many chats count against `user`'s capacity: their active
    /// sessions and the transfers pending to them. A backend whose reads
    /// are statements may answer it in one.
    fn agent_load(&self, user: UserId) -> Result<i32> {
        let n = self.active_ranks(user)?.len() + self.transfers_to(user)?.len();
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
    /// The agents marked free in `topic`'s routing index, by id, each with
    /// what the routing choice compares (load and last assignment). A
    /// backend whose reads are statements may answer it in one, instead of
    /// one read per agent.
    fn routing_candidates(&self, topic: TopicId) -> Result<Vec<FreeAgent>> {
        self.routing_free(topic)?
            .into_iter()
            .map(|user| {
                Ok(FreeAgent {
                    user,
                    load: self.agent_load(user)?,
                    last_assigned: self.agent(user)?.and_then(|a| a.last_assigned),
                })
            })
            .collect()
    }
    /// Sessions whose `(when_requested, id)` is after `after` and whose
    /// `when_requested` is before `before`, by `(when_requested, id)`, at most
    /// `limit`: the time index reports read.
    fn sessions_requested(
        &self,
        after: (Timestamp, SessionId),
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<SessionRecord>>;
    /// The sum of the counted queue index's `nodes` for `topic` (see
    /// [`crate::backend::queue_index`]; absent nodes count 0).
    fn queue_index_sum(&self, topic: TopicId, nodes: &[u64]) -> Result<i64>;
    /// How many sessions of `topic`'s human queue have a sequence below `seq`
    /// (from the counted index: the cost does not grow with the queue).
    fn queue_count_before(&self, topic: TopicId, seq: u64) -> Result<u32> {
        let n = self.queue_index_sum(
            topic,
            &crate::backend::queue_index::prefix_nodes(seq.saturating_sub(1)),
        )?;
        u32::try_from(n)
            .map_err(|_| Error::corrupt(format!("queue index of topic {topic} counts {n}")))
    }
    /// How many sessions `topic`'s human queue holds.
    fn queue_len(&self, topic: TopicId) -> Result<u32> {
        let n = self.queue_index_sum(topic, &[crate::backend::queue_index::TOTAL_NODE])?;
        u32::try_from(n)
            .map_err(|_| Error::corrupt(format!("queue index of topic {topic} counts {n}")))
    }
    /// The sessions of `topic`'s human queue with sequence > `after_seq`, in
    /// queue order, at most `limit`, as (sequence, session).
    fn queue(&self, topic: TopicId, after_seq: u64, limit: usize) -> Result<Vec<(u64, SessionId)>>;
    /// The messages of `session` with id > `after`, by id, at most `limit`.
    fn messages(
        &self,
        session: SessionId,
        after: MessageId,
        limit: usize,
    ) -> Result<Vec<MessageRecord>>;
    /// The change-feed events with sequence > `after`, by sequence, at most
    /// `limit`.
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<EventRecord>>;
    /// A value of the store's metadata map.
    fn meta(&self, key: &str) -> Result<Option<String>>;
}

/// Write access inside a write transaction; reads see its own writes.
pub trait WriteTx: ReadTx {
    /// Takes the locks of `set` (see [`LockSet`]) before the transaction
    /// reads what it will change; called at most once per transaction, before
    /// anything but the immutable facts that choose the locks (a session's
    /// topic) is read. Embedded backends need not do anything.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the locks cannot be had within the busy
    /// timeout; the backend's failure.
    fn lock(&mut self, set: &LockSet) -> Result<()> {
        let _ = set;
        Ok(())
    }
    /// Ids the transaction will probably take (one of each kind listed),
    /// declared before [`WriteTx::lock`]: a backend on a network may take
    /// them in the round trip that takes the locks, and hand them out from
    /// [`WriteTx::next_id`]. One taken and not used is lost, as on a failed
    /// transaction, so only a backend whose [`Capabilities::gap_free_ids`]
    /// is false may do it; the others ignore the hint (the default).
    fn prefetch_ids(&mut self, kinds: &[IdKind]) {
        let _ = kinds;
    }
    /// The next id of `kind` (1 + the highest ever given; see
    /// [`crate::ids::next_after`]), recorded in this transaction. A backend
    /// whose [`Capabilities::gap_free_ids`] is false may skip values (one
    /// taken by a transaction that failed), but never repeats one.
    fn next_id(&mut self, kind: IdKind) -> Result<i64>;
    /// Inserts or replaces a topic.
    fn put_topic(&mut self, topic: &TopicRecord) -> Result<()>;
    /// Removes a topic (its memberships and sessions are the caller's business).
    fn delete_topic(&mut self, id: TopicId) -> Result<()>;
    /// Inserts or replaces a membership.
    fn put_member(&mut self, member: &MemberRecord) -> Result<()>;
    /// Removes a membership.
    fn delete_member(&mut self, topic: TopicId, user: UserId) -> Result<()>;
    /// Inserts or replaces a presence.
    fn put_presence(&mut self, presence: &PresenceRecord) -> Result<()>;
    /// Inserts or replaces what routing keeps about an agent.
    fn put_agent(&mut self, agent: &AgentRecord) -> Result<()>;
    /// Marks `user` free (or not) in `topic`'s routing index: a plain set of
    /// (topic, user) pairs the service keeps in step with its rules, so that
    /// "who could take a session of this topic" is one range read.
    fn set_routing_free(&mut self, topic: TopicId, user: UserId, free: bool) -> Result<()>;
    /// Inserts or replaces a session, keeping every index in step (the
    /// counted queue index through [`crate::backend::queue_index::changes`]).
    fn put_session(&mut self, session: &SessionRecord) -> Result<()>;
    /// Removes a session and all its messages (purge).
    fn delete_session(&mut self, id: SessionId) -> Result<()>;
    /// Inserts or replaces a message.
    fn put_message(&mut self, message: &MessageRecord) -> Result<()>;
    /// Inserts a change-feed event (its `seq` comes from
    /// [`IdKind::Event`]).
    fn put_event(&mut self, event: &EventRecord) -> Result<()>;
    /// Removes every change-feed event with sequence ≤ `seq`; returns how many.
    fn delete_events_through(&mut self, seq: i64) -> Result<usize>;
    /// Sets a value of the store's metadata map.
    fn put_meta(&mut self, key: &str, value: &str) -> Result<()>;
}

/// A store: what a backend implements. Object-safe.
pub trait Storage: Send + Sync + 'static {
    /// Runs `f` once against a consistent snapshot.
    ///
    /// # Errors
    /// What `f` returns, or the backend's failure.
    fn read_tx(&self, f: &mut dyn FnMut(&dyn ReadTx) -> Result<()>) -> Result<()>;

    /// Runs `f` once inside one atomic, serializable write transaction; commits
    /// if it returns `Ok`, rolls back otherwise.
    ///
    /// # Errors
    /// What `f` returns, [`Error::Conflict`] when another process held the
    /// store past the busy timeout, or the backend's failure.
    fn write_tx(&self, f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()>;

    /// Makes every acknowledged write durable (a no-op where it already is).
    ///
    /// # Errors
    /// The backend's failure.
    fn flush(&self) -> Result<()>;

    /// The backend's name ("memory", "sqlite", "sled", "postgres").
    fn backend_name(&self) -> &'static str;

    /// What the backend promises beyond the common contract.
    fn capabilities(&self) -> Capabilities {
        Capabilities::EMBEDDED
    }

    /// Registers `wake`, which a backend shared between processes calls
    /// whenever another process (or another handle on the same store) may
    /// have committed change-feed events, so that a waiting
    /// `ChatDesk::wait_for_events` wakes for them. `wake` returns `false`
    /// once it is no longer wanted (its service is gone); the backend then
    /// drops it. Embedded backends have no other writer to hear of and keep
    /// nothing (the default).
    fn on_foreign_commit(&self, wake: ForeignCommitWaker) {
        let _ = wake;
    }
}

/// What [`Storage::on_foreign_commit`] registers: called from a backend's
/// thread, it returns `false` once it is no longer wanted.
pub type ForeignCommitWaker = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// The value-returning wrappers the service calls; implemented for every
/// [`Storage`].
pub trait StorageExt: Storage {
    /// Runs `f` in a read transaction and returns its value.
    ///
    /// # Errors
    /// What `f` returns, or the backend's failure.
    fn read<R>(&self, f: impl FnOnce(&dyn ReadTx) -> Result<R>) -> Result<R> {
        let mut f = Some(f);
        let mut out = None;
        self.read_tx(&mut |tx| {
            let f = f
                .take()
                .ok_or_else(|| Error::conflict("read closure run twice"))?;
            out = Some(f(tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| Error::conflict("read closure did not run"))
    }

    /// Runs `f` in a write transaction, commits if it returns `Ok`, and
    /// returns its value.
    ///
    /// # Errors
    /// What `f` returns, or the backend's failure (nothing is written then).
    fn write<R>(&self, f: impl FnOnce(&mut dyn WriteTx) -> Result<R>) -> Result<R> {
        let mut f = Some(f);
        let mut out = None;
        self.write_tx(&mut |tx| {
            let f = f
                .take()
                .ok_or_else(|| Error::conflict("write closure run twice"))?;
            out = Some(f(tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| Error::conflict("write closure did not run"))
    }
}

impl<S: Storage + ?Sized> StorageExt for S {}

impl<S: Storage + ?Sized> Storage for std::sync::Arc<S> {
    fn read_tx(&self, f: &mut dyn FnMut(&dyn ReadTx) -> Result<()>) -> Result<()> {
        (**self).read_tx(f)
    }
    fn write_tx(&self, f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        (**self).write_tx(f)
    }
    fn flush(&self) -> Result<()> {
        (**self).flush()
    }
    fn backend_name(&self) -> &'static str {
        (**self).backend_name()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn on_foreign_commit(&self, wake: ForeignCommitWaker) {
        (**self).on_foreign_commit(wake)
    }
}
