//! The typed access paths over one PostgreSQL transaction (crate-private).

use crate::errors::{corrupt, pg_err, storage_msg};
use crate::lit::{Lit, execute};
use crate::pool::Conn;
use chatdesk::backend::{
    AgentRecord, CrmLinks, CustomerInfo, EventRecord, FreeAgent, IdKind, LockSet, MemberRecord,
    MessageRecord, PresenceRecord, ReadTx, RoutingLock, SessionRecord, SessionRouting,
    SessionStats, TopicRecord, TopicRouting, WriteTx, format_uuid, next_after, parse_uuid,
};
use chatdesk::{
    ChatMessageSpecialType, ChatMessageType, ChatSessionStatus, ChatTopicEntity, Error, EventActor,
    MessageId, Result, RoutingMode, RoutingStrategy, SessionId, Timestamp, TopicId, UserId,
};
use postgres::Row;
use postgres::types::{FromSql, ToSql};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Whether a transaction reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Read,
    Write,
}

/// Where a transaction is: `BEGIN` is sent lazily with the first statement
/// (together with the locks, in one round trip), so that a write that calls
/// [`WriteTx::lock`] first takes exactly those locks, and one that does not
/// takes the exclusive routing lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotBegun,
    Open,
}

/// The advisory-lock key spaces, one byte of the 64-bit key each (the top 16
/// bits name the store's schema, so two stores in one database never wait
/// for each other; the low 32 bits are the id).
const CLASS_ROUTING: i64 = 1;
const CLASS_TOPIC: i64 = 2;
const CLASS_USER: i64 = 3;
/// The key opening takes while it initialises or migrates the schema.
pub(crate) const CLASS_SCHEMA: i64 = 4;

/// The advisory-lock key of (`class`, `id`) in the store whose schema hashes
/// to `space`.
pub(crate) fn lock_key(space: u16, class: i64, id: i32) -> i64 {
    (i64::from(space) << 48) | (class << 32) | i64::from(id.cast_unsigned())
}

/// One transaction on a pooled connection.
pub(crate) struct PgTx<'c> {
    conn: RefCell<&'c mut Conn>,
    mode: Mode,
    state: Cell<State>,
    /// Set when a statement failed: PostgreSQL has then aborted the
    /// transaction, and a COMMIT would quietly roll back.
    failed: Cell<bool>,
    /// The transaction's id (writes), to learn a commit's outcome after a
    /// lost connection.
    txid: Cell<Option<i64>>,
    /// Set by [`WriteTx::put_event`]: the commit then notifies listeners.
    wrote_events: Cell<bool>,
    space: u16,
    /// Writes not sent yet, as SQL text with literal values: they go with
    /// the `COMMIT` (one round trip for all), or before the first read of a
    /// table they touch, so the transaction always reads its own writes.
    pending: RefCell<String>,
    /// The tables (`T_*` bits) that `pending` writes.
    pending_tables: Cell<u16>,
    /// The store's metadata rows, read with `BEGIN` (one round trip less
    /// per read of them). They stay true for the whole transaction: every
    /// write of metadata takes the exclusive routing lock, and every
    /// transaction holds the routing lock, shared or exclusive, from
    /// `BEGIN` (read transactions read one snapshot).
    meta: RefCell<Option<BTreeMap<String, String>>>,
    /// Each session's human-queue key as this transaction last read or wrote
    /// it (`None`: not queued, or a new session), by id: a session write
    /// with a known old key can wait for the commit, since the counted queue
    /// index's change follows from old and new without a read.
    queue_keys: RefCell<BTreeMap<i32, Option<(TopicId, u64)>>>,
    /// Ids to take with `BEGIN` ([`WriteTx::prefetch_ids`]), then the ids
    /// so taken, handed out by [`WriteTx::next_id`].
    prefetch: Vec<IdKind>,
    prefetched: RefCell<Vec<(IdKind, i64)>>,
}

/// The tables, as bits of a mask: what a pending write touches and what a
/// read reads.
pub(crate) const T_TOPIC: u16 = 1;
pub(crate) const T_MEMBER: u16 = 1 << 1;
pub(crate) const T_PRESENCE: u16 = 1 << 2;
pub(crate) const T_AGENT: u16 = 1 << 3;
pub(crate) const T_FREE: u16 = 1 << 4;
pub(crate) const T_SESSION: u16 = 1 << 5;
pub(crate) const T_QUEUE: u16 = 1 << 6;
pub(crate) const T_MESSAGE: u16 = 1 << 7;
pub(crate) const T_EVENT: u16 = 1 << 8;
pub(crate) const T_META: u16 = 1 << 9;
/// Any table (statements that are not a plain read of known tables).
pub(crate) const T_ALL: u16 = u16::MAX;

impl std::fmt::Debug for PgTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTx")
            .field("mode", &self.mode)
            .field("state", &self.state.get())
            .finish_non_exhaustive()
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn ts(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| t.0)
}

fn uid(u: Option<UserId>) -> Option<i32> {
    u.map(UserId::get)
}

fn seq_to_sql(seq: Option<u64>) -> Result<Option<i64>> {
    seq.map(|s| {
        i64::try_from(s).map_err(|_| {
            Error::validation("queue_seq", format!("queue sequence {s} is above i64::MAX"))
        })
    })
    .transpose()
}

/// Reads column `idx` (named `column`) of a row of `table`.
fn get<'a, T: FromSql<'a>>(row: &'a Row, table: &str, idx: usize, column: &str) -> Result<T> {
    row.try_get(idx)
        .map_err(|e| corrupt(table, column, "a row read", e))
}

impl<'c> PgTx<'c> {
    pub(crate) fn new(conn: &'c mut Conn, mode: Mode, space: u16) -> Self {
        PgTx {
            conn: RefCell::new(conn),
            mode,
            state: Cell::new(State::NotBegun),
            failed: Cell::new(false),
            txid: Cell::new(None),
            wrote_events: Cell::new(false),
            space,
            pending: RefCell::new(String::new()),
            pending_tables: Cell::new(0),
            meta: RefCell::new(None),
            queue_keys: RefCell::new(BTreeMap::new()),
            prefetch: Vec::new(),
            prefetched: RefCell::new(Vec::new()),
        }
    }

    /// The writes not sent yet (emptied): the commit sends them before its
    /// `COMMIT`, in the same message.
    pub(crate) fn take_pending(&self) -> String {
        self.pending_tables.set(0);
        std::mem::take(&mut *self.pending.borrow_mut())
    }

    /// Sends the pending writes when some touch a table in `tables`.
    fn flush_for(&self, tables: u16) -> Result<()> {
        if self.pending_tables.get() & tables == 0 {
            return Ok(());
        }
        let sql = self.take_pending();
        let mut conn = self.conn.borrow_mut();
        conn.trip();
        conn.client.batch_execute(&sql).map_err(|e| {
            self.failed.set(true);
            pg_err("applying this transaction's writes", e)
        })
    }

    /// A write touching `tables`: kept for the commit (as an `EXECUTE` of
    /// the statement prepared on the connection) when its values can be
    /// written as literals, else (after the pending ones) sent now, bound.
    fn write(&self, tables: u16, context: &str, stmt: &'static Stmt, params: &[Lit]) -> Result<()> {
        self.ensure_begun()?;
        if self.mode == Mode::Write && execute(&mut self.pending.borrow_mut(), stmt.name, params) {
            self.pending_tables.set(self.pending_tables.get() | tables);
            return Ok(());
        }
        let bound: Vec<&(dyn ToSql + Sync)> = params.iter().map(Lit::bound).collect();
        self.exec(T_ALL, context, stmt.sql, &bound).map(|_| ())
    }

    /// Whether `BEGIN` was sent.
    pub(crate) fn begun(&self) -> bool {
        self.state.get() == State::Open
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed.get()
    }

    pub(crate) fn txid(&self) -> Option<i64> {
        self.txid.get()
    }

    pub(crate) fn wrote_events(&self) -> bool {
        self.wrote_events.get()
    }

    /// Sends `BEGIN`, the locks and (for writes) `txid_current()` in one
    /// round trip.
    fn begin(&self, locks: Option<&LockSet>) -> Result<()> {
        let mut sql = String::new();
        match self.mode {
            Mode::Read => sql.push_str("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"),
            Mode::Write => {
                sql.push_str("BEGIN ISOLATION LEVEL READ COMMITTED;");
                let routing = locks.map_or(RoutingLock::Exclusive, |l| l.routing);
                let key = lock_key(self.space, CLASS_ROUTING, 0);
                match routing {
                    RoutingLock::Exclusive => {
                        let _ = write!(sql, "SELECT pg_advisory_xact_lock({key});");
                    }
                    RoutingLock::Shared => {
                        let _ = write!(sql, "SELECT pg_advisory_xact_lock_shared({key});");
                        if let Some(l) = locks {
                            let mut topics: Vec<i32> = l.topics.iter().map(|t| t.get()).collect();
                            topics.sort_unstable();
                            topics.dedup();
                            let mut users: Vec<i32> = l.users.iter().map(|u| u.get()).collect();
                            users.sort_unstable();
                            users.dedup();
                            for t in topics {
                                let key = lock_key(self.space, CLASS_TOPIC, t);
                                let _ = write!(sql, "SELECT pg_advisory_xact_lock({key});");
                            }
                            for u in users {
                                let key = lock_key(self.space, CLASS_USER, u);
                                let _ = write!(sql, "SELECT pg_advisory_xact_lock({key});");
                            }
                        }
                    }
                }
                sql.push_str("SELECT 'txid', '', txid_current()::text;");
                for kind in &self.prefetch {
                    // After the locks, so a queue sequence is still taken
                    // under its topic's lock. Near a sequence's end none is
                    // taken here: `next_id` then reports the end itself.
                    if let Some((seq, max)) = sequence_of(*kind) {
                        let _ = write!(
                            sql,
                            "SELECT 'id', '{name}', nextval('{seq}')::text FROM {seq} \
                             WHERE last_value < {max} - {PREFETCH_MARGIN};",
                            name = kind.name(),
                        );
                    }
                }
            }
        }
        sql.push_str("SELECT key, value FROM chatdesk_meta;");
        let ctx = "beginning a transaction";
        let mut conn = self.conn.borrow_mut();
        // Marked open first: if BEGIN went through but a lock did not, the
        // caller must still roll back.
        self.state.set(State::Open);
        conn.trip();
        let msgs = match conn.client.simple_query(&sql) {
            Ok(m) => m,
            Err(e) => {
                self.failed.set(true);
                return Err(pg_err(ctx, e));
            }
        };
        // The rows, told apart by their tags: the transaction id (writes),
        // the ids taken ahead, and the metadata (two columns).
        let mut meta = BTreeMap::new();
        for m in &msgs {
            if let postgres::SimpleQueryMessage::Row(r) = m {
                let text = |i| r.try_get(i).ok().flatten();
                match (r.len(), text(0)) {
                    (2, Some(k)) => {
                        if let Some(v) = text(1) {
                            meta.insert(k.to_owned(), v.to_owned());
                        }
                    }
                    (3, Some("txid")) => {
                        self.txid.set(text(2).and_then(|t| t.parse::<i64>().ok()));
                    }
                    (3, Some("id")) => {
                        let kind = self.prefetch.iter().find(|k| text(1) == Some(k.name()));
                        let id = text(2).and_then(|t| t.parse::<i64>().ok());
                        if let (Some(kind), Some(id)) = (kind, id) {
                            self.prefetched.borrow_mut().push((*kind, id));
                        }
                    }
                    _ => {}
                }
            }
        }
        *self.meta.borrow_mut() = Some(meta);
        Ok(())
    }

    fn ensure_begun(&self) -> Result<()> {
        if self.failed.get() {
            return Err(storage_msg(
                "running a statement",
                "an earlier statement of this transaction failed, so PostgreSQL aborted it",
            ));
        }
        if self.state.get() == State::NotBegun {
            self.begin(None)?;
        }
        Ok(())
    }

    /// Runs a statement that reads `tables` (after the pending writes to
    /// them) and returns its rows.
    fn query(
        &self,
        tables: u16,
        context: &str,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>> {
        self.ensure_begun()?;
        self.flush_for(tables)?;
        let mut conn = self.conn.borrow_mut();
        let out = conn.query(sql, params);
        out.map_err(|e| {
            self.failed.set(true);
            pg_err(context, e)
        })
    }

    /// Runs a statement that reads `tables` (after the pending writes to
    /// them) now, and returns how many rows it changed.
    fn exec(
        &self,
        tables: u16,
        context: &str,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<u64> {
        self.ensure_begun()?;
        self.flush_for(tables)?;
        let mut conn = self.conn.borrow_mut();
        let out = conn.execute(sql, params);
        out.map_err(|e| {
            self.failed.set(true);
            pg_err(context, e)
        })
    }

    fn list<T>(
        &self,
        tables: u16,
        context: &str,
        sql: &'static str,
        params: Params<'_>,
        decode: fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.query(tables, context, sql, params)?
            .iter()
            .map(decode)
            .collect()
    }

    fn one<T>(
        &self,
        tables: u16,
        context: &str,
        sql: &'static str,
        params: Params<'_>,
        decode: fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        self.query(tables, context, sql, params)?
            .first()
            .map(decode)
            .transpose()
    }

    /// The next value of `kind`'s sequence: `nextval` never waits for
    /// another transaction (a value taken by a transaction that rolls back
    /// is lost, hence gaps), and past `max` the sequence refuses, which is
    /// reported as [`next_after`] reports an exhausted kind.
    fn next_from_sequence(&self, kind: IdKind, max: i64) -> Result<i64> {
        let sql = match kind {
            IdKind::Topic => "SELECT nextval('chatdesk_seq_topic')",
            IdKind::Session => "SELECT nextval('chatdesk_seq_session')",
            IdKind::Message => "SELECT nextval('chatdesk_seq_message')",
            IdKind::QueueSeq => "SELECT nextval('chatdesk_seq_queue_seq')",
            IdKind::Event => {
                return Err(Error::corrupt("the change feed has no sequence"));
            }
        };
        self.ensure_begun()?;
        let taken = {
            let mut pre = self.prefetched.borrow_mut();
            let at = pre.iter().position(|(k, _)| *k == kind);
            at.map(|i| pre.remove(i).1)
        };
        if let Some(id) = taken {
            if kind == IdKind::Session
                && let Ok(id) = i32::try_from(id)
            {
                self.queue_keys.borrow_mut().insert(id, None);
            }
            return Ok(id);
        }
        let mut conn = self.conn.borrow_mut();
        match conn.query(sql, &[]) {
            Ok(rows) => match rows.first() {
                Some(row) => {
                    let id: i64 = get(row, "chatdesk_seq", 0, kind.name())?;
                    if kind == IdKind::Session
                        && let Ok(id) = i32::try_from(id)
                    {
                        // A new session: it has no row, so no queue key.
                        self.queue_keys.borrow_mut().insert(id, None);
                    }
                    Ok(id)
                }
                None => Err(Error::corrupt(format!(
                    "the {} sequence gave no value",
                    kind.name()
                ))),
            },
            Err(e) => {
                self.failed.set(true);
                if e.code() == Some(&postgres::error::SqlState::SEQUENCE_GENERATOR_LIMIT_EXCEEDED) {
                    return next_after(kind, max);
                }
                Err(pg_err("taking an id", e))
            }
        }
    }

    /// Applies the counted queue index's changes between a session's old and
    /// new queue keys: one upsert per topic, and a delete of the nodes that
    /// reached zero.
    fn count_queue(&self, old: Option<(TopicId, u64)>, new: Option<(TopicId, u64)>) -> Result<()> {
        // Summed per node first: one statement may not touch a row twice
        // (a session moving within one topic's queue shares nodes).
        let mut by_topic: BTreeMap<i32, BTreeMap<i64, i64>> = BTreeMap::new();
        for (topic, node, delta) in chatdesk::backend::queue_index::changes(old, new)? {
            let node = i64::try_from(node)
                .map_err(|_| Error::corrupt(format!("queue index node {node} is beyond i64")))?;
            *by_topic
                .entry(topic.get())
                .or_default()
                .entry(node)
                .or_default() += delta;
        }
        let ctx = "updating the queue index";
        for (topic, counts) in by_topic {
            let (nodes, deltas): (Vec<i64>, Vec<i64>) =
                counts.into_iter().filter(|(_, d)| *d != 0).unzip();
            if nodes.is_empty() {
                continue;
            }
            let (topic, nodes) = (Lit::from(topic), Lit::from(nodes));
            self.write(
                T_QUEUE,
                ctx,
                &W_QUEUE_COUNT,
                &[topic.clone(), nodes.clone(), Lit::from(deltas)],
            )?;
            self.write(T_QUEUE, ctx, &W_QUEUE_ZERO, &[topic, nodes])?;
        }
        Ok(())
    }
}

const UPSERT_QUEUE_INDEX: &str = "INSERT INTO chat_queue_index (topic_id, node, count) \
     SELECT $1, n, d FROM unnest($2::bigint[], $3::bigint[]) AS c (n, d) \
     ON CONFLICT (topic_id, node) DO UPDATE SET count = chat_queue_index.count + EXCLUDED.count";
const DELETE_QUEUE_INDEX: &str =
    "DELETE FROM chat_queue_index WHERE topic_id = $1 AND node = ANY($2) AND count = 0";

/// A write statement, prepared once per connection under `name` (see
/// [`prepare_writes`]), so a write sent with the commit is planned once per
/// connection, not once per commit.
#[derive(Debug)]
pub(crate) struct Stmt {
    name: &'static str,
    sql: &'static str,
}

const W_FREE_ADD: Stmt = Stmt {
    name: "chatdesk_w_free_add",
    sql: "INSERT INTO chat_routing_free (topic_id, user_id) VALUES ($1, $2) \
     ON CONFLICT (topic_id, user_id) DO NOTHING",
};
const W_FREE_REMOVE: Stmt = Stmt {
    name: "chatdesk_w_free_remove",
    sql: "DELETE FROM chat_routing_free WHERE topic_id = $1 AND user_id = $2",
};
const W_TOPIC_DELETE: Stmt = Stmt {
    name: "chatdesk_w_topic_delete",
    sql: "DELETE FROM chat_topic WHERE id = $1",
};
const W_MEMBER_DELETE: Stmt = Stmt {
    name: "chatdesk_w_member_delete",
    sql: "DELETE FROM chat_topic_agent WHERE topic_id = $1 AND user_id = $2",
};
const W_SESSION_DELETE: Stmt = Stmt {
    name: "chatdesk_w_session_delete",
    sql: "DELETE FROM chat_session WHERE id = $1",
};
const W_SESSION_MESSAGES_DELETE: Stmt = Stmt {
    name: "chatdesk_w_session_messages_delete",
    sql: "DELETE FROM chat_message WHERE session_id = $1",
};
const W_SESSION: Stmt = Stmt {
    name: "chatdesk_w_session",
    sql: UPSERT_SESSION_CHECKED,
};
const W_QUEUE_COUNT: Stmt = Stmt {
    name: "chatdesk_w_queue_count",
    sql: UPSERT_QUEUE_INDEX,
};
const W_QUEUE_ZERO: Stmt = Stmt {
    name: "chatdesk_w_queue_zero",
    sql: DELETE_QUEUE_INDEX,
};

const W_TOPIC: Stmt = Stmt {
    name: "chatdesk_w_topic",
    sql: "INSERT INTO chat_topic (id, name, settings_json, last_accept, seconds_pr_accept, \
     routing_mode, routing_strategy, default_capacity, answer_timeout_secs, \
     transfer_timeout_secs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, \
     settings_json = EXCLUDED.settings_json, last_accept = EXCLUDED.last_accept, \
     seconds_pr_accept = EXCLUDED.seconds_pr_accept, routing_mode = EXCLUDED.routing_mode, \
     routing_strategy = EXCLUDED.routing_strategy, \
     default_capacity = EXCLUDED.default_capacity, \
     answer_timeout_secs = EXCLUDED.answer_timeout_secs, \
     transfer_timeout_secs = EXCLUDED.transfer_timeout_secs",
};
const W_MEMBER: Stmt = Stmt {
    name: "chatdesk_w_member",
    sql: "INSERT INTO chat_topic_agent \
     (topic_id, user_id, can_listen, can_respond, can_manage, can_notify) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (topic_id, user_id) DO UPDATE SET \
     can_listen = EXCLUDED.can_listen, can_respond = EXCLUDED.can_respond, \
     can_manage = EXCLUDED.can_manage, can_notify = EXCLUDED.can_notify",
};
const W_PRESENCE: Stmt = Stmt {
    name: "chatdesk_w_presence",
    sql: "INSERT INTO chat_presence (user_id, present, display_name) VALUES ($1, $2, $3) \
     ON CONFLICT (user_id) DO UPDATE SET present = EXCLUDED.present, \
     display_name = EXCLUDED.display_name",
};
const W_AGENT: Stmt = Stmt {
    name: "chatdesk_w_agent",
    sql: "INSERT INTO chat_agent (user_id, max_chats, last_assigned) VALUES ($1, $2, $3) \
     ON CONFLICT (user_id) DO UPDATE SET max_chats = EXCLUDED.max_chats, \
     last_assigned = EXCLUDED.last_assigned",
};
const W_MESSAGE: Stmt = Stmt {
    name: "chatdesk_w_message",
    sql: "INSERT INTO chat_message (id, session_id, type, message, author, read_by_customer, \
     special_type, special_param, when_posted) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (id) DO UPDATE SET session_id = EXCLUDED.session_id, \
     type = EXCLUDED.type, message = EXCLUDED.message, author = EXCLUDED.author, \
     read_by_customer = EXCLUDED.read_by_customer, \
     special_type = EXCLUDED.special_type, special_param = EXCLUDED.special_param, \
     when_posted = EXCLUDED.when_posted",
};
const W_EVENT: Stmt = Stmt {
    name: "chatdesk_w_event",
    sql: "INSERT INTO chat_event \
     (seq, event_id, at, session_id, topic_id, actor_kind, actor_user, kind, data) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
};
const W_META: Stmt = Stmt {
    name: "chatdesk_w_meta",
    sql: "INSERT INTO chatdesk_meta (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
};

/// Every statement [`PgTx::write`] may send.
const WRITES: [&Stmt; 16] = [
    &W_FREE_ADD,
    &W_FREE_REMOVE,
    &W_TOPIC_DELETE,
    &W_MEMBER_DELETE,
    &W_SESSION_DELETE,
    &W_SESSION_MESSAGES_DELETE,
    &W_SESSION,
    &W_QUEUE_COUNT,
    &W_QUEUE_ZERO,
    &W_TOPIC,
    &W_MEMBER,
    &W_PRESENCE,
    &W_AGENT,
    &W_MESSAGE,
    &W_EVENT,
    &W_META,
];

/// `PREPARE` of every write statement: run once on each new connection.
pub(crate) fn prepare_writes() -> String {
    let mut sql = String::new();
    for w in WRITES {
        let _ = write!(sql, "PREPARE {} AS {};", w.name, w.sql);
    }
    sql
}

macro_rules! session_cols {
    () => {
        "id, topic_id, user_id, person_id, contact_id, project_id, sale_id, ticket_id, \
         customer_alias, customer_host, customer_name, customer_email, customer_phone, \
         customer_consented, customer_company, status, first_message, last_message, \
         when_requested, when_started, when_ended, when_idle, when_fetched, key_hash, \
         initial_queue_pos, alert_level, rank, transfer_to, chatbot_is_active, rating, \
         queue_seq, queue_entered, customer_last_since, deleted_at, routed_at, \
         routing_answered, routing_excluded, transfer_requested_at, max_alert_level, \
         answer_timeouts, first_answer_at"
    };
}

macro_rules! select_sessions {
    ($rest:literal) => {
        concat!("SELECT ", session_cols!(), " FROM chat_session ", $rest)
    };
}

macro_rules! select_topics {
    ($rest:literal) => {
        concat!(
            "SELECT id, settings_json, last_accept, seconds_pr_accept, routing_mode, \
             routing_strategy, default_capacity, answer_timeout_secs, transfer_timeout_secs \
             FROM chat_topic ",
            $rest
        )
    };
}

macro_rules! select_members {
    ($rest:literal) => {
        concat!(
            "SELECT topic_id, user_id, can_listen, can_respond, can_manage, can_notify \
             FROM chat_topic_agent ",
            $rest
        )
    };
}

macro_rules! select_messages {
    ($rest:literal) => {
        concat!(
            "SELECT id, session_id, type, message, author, read_by_customer, special_type, \
             special_param, when_posted FROM chat_message ",
            $rest
        )
    };
}

macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT seq, event_id, at, session_id, topic_id, actor_kind, actor_user, kind, data \
             FROM chat_event ",
            $rest
        )
    };
}

/// The upsert of a session: the record's columns ($1–$41), then the three
/// derived index columns ($42–$44); returns the session's old queue key (a
/// CTE reads the row as it was before the statement).
/// The session upsert's CTEs: `old` (the row as it was) and `up` (the
/// upsert itself).
macro_rules! upsert_session_ctes {
    () => {
        concat!(
    "WITH old AS (SELECT topic_id, human_queue_seq FROM chat_session WHERE id = $1), \
     up AS (INSERT INTO chat_session (",
    session_cols!(),
    ", human_queue_seq, active_user, pending_transfer_to) VALUES ($1, $2, $3, $4, $5, $6, $7, \
     $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
     $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, \
     $44) ON CONFLICT (id) DO UPDATE SET topic_id = EXCLUDED.topic_id, \
     user_id = EXCLUDED.user_id, person_id = EXCLUDED.person_id, \
     contact_id = EXCLUDED.contact_id, project_id = EXCLUDED.project_id, \
     sale_id = EXCLUDED.sale_id, ticket_id = EXCLUDED.ticket_id, \
     customer_alias = EXCLUDED.customer_alias, customer_host = EXCLUDED.customer_host, \
     customer_name = EXCLUDED.customer_name, customer_email = EXCLUDED.customer_email, \
     customer_phone = EXCLUDED.customer_phone, \
     customer_consented = EXCLUDED.customer_consented, \
     customer_company = EXCLUDED.customer_company, status = EXCLUDED.status, \
     first_message = EXCLUDED.first_message, last_message = EXCLUDED.last_message, \
     when_requested = EXCLUDED.when_requested, when_started = EXCLUDED.when_started, \
     when_ended = EXCLUDED.when_ended, when_idle = EXCLUDED.when_idle, \
     when_fetched = EXCLUDED.when_fetched, key_hash = EXCLUDED.key_hash, \
     initial_queue_pos = EXCLUDED.initial_queue_pos, alert_level = EXCLUDED.alert_level, \
     rank = EXCLUDED.rank, transfer_to = EXCLUDED.transfer_to, \
     chatbot_is_active = EXCLUDED.chatbot_is_active, rating = EXCLUDED.rating, \
     queue_seq = EXCLUDED.queue_seq, queue_entered = EXCLUDED.queue_entered, \
     customer_last_since = EXCLUDED.customer_last_since, deleted_at = EXCLUDED.deleted_at, \
     routed_at = EXCLUDED.routed_at, routing_answered = EXCLUDED.routing_answered, \
     routing_excluded = EXCLUDED.routing_excluded, \
     transfer_requested_at = EXCLUDED.transfer_requested_at, \
     max_alert_level = EXCLUDED.max_alert_level, answer_timeouts = EXCLUDED.answer_timeouts, \
     first_answer_at = EXCLUDED.first_answer_at, human_queue_seq = EXCLUDED.human_queue_seq, \
     active_user = EXCLUDED.active_user, pending_transfer_to = EXCLUDED.pending_transfer_to \
     RETURNING id)"
        )
    };
}

const UPSERT_SESSION: &str = concat!(
    upsert_session_ctes!(),
    " SELECT old.topic_id, old.human_queue_seq FROM old, up"
);

/// The session upsert sent with the commit: the old queue key the
/// transaction expects ($45 topic, $46 sequence; both NULL for none) is
/// checked against the row, and a mismatch fails the commit (an error that
/// casts a text to an integer, evaluated only for a mismatch) rather than
/// letting the counted queue index drift.
const UPSERT_SESSION_CHECKED: &str = concat!(
    upsert_session_ctes!(),
    ", chk AS (SELECT CAST('queue key moved under its write: ' \
     || COALESCE(o.human_queue_seq::text, 'none') AS int) AS bad \
     FROM (SELECT 1) AS one LEFT JOIN old AS o ON true \
     WHERE (SELECT human_queue_seq FROM old) IS DISTINCT FROM $46::int8 \
     OR ($46::int8 IS NOT NULL AND (SELECT topic_id FROM old) IS DISTINCT FROM $45::int4)) \
     SELECT up.id, chk.bad FROM up LEFT JOIN chk ON true"
);

fn queue_key(topic: Option<i32>, seq: Option<i64>) -> Option<(TopicId, u64)> {
    match (topic, seq) {
        (Some(t), Some(q)) => u64::try_from(q).ok().map(|q| (TopicId(t), q)),
        _ => None,
    }
}

fn topic_from_row(row: &Row) -> Result<TopicRecord> {
    const T: &str = "chat_topic";
    let id: i32 = get(row, T, 0, "id")?;
    let json: String = get(row, T, 1, "settings_json")?;
    let settings: ChatTopicEntity = serde_json::from_str(&json)
        .map_err(|e| corrupt(T, "settings_json", format!("id {id}"), e))?;
    let mode: i32 = get(row, T, 4, "routing_mode")?;
    let strategy: i32 = get(row, T, 5, "routing_strategy")?;
    Ok(TopicRecord {
        id: TopicId(id),
        settings,
        last_accept: get::<Option<i64>>(row, T, 2, "last_accept")?.map(Timestamp),
        seconds_pr_accept: get(row, T, 3, "seconds_pr_accept")?,
        routing: TopicRouting {
            mode: RoutingMode::from_code(mode).ok_or_else(|| {
                corrupt(
                    T,
                    "routing_mode",
                    format!("id {id}"),
                    format!("unknown code {mode}"),
                )
            })?,
            strategy: RoutingStrategy::from_code(strategy).ok_or_else(|| {
                corrupt(
                    T,
                    "routing_strategy",
                    format!("id {id}"),
                    format!("unknown code {strategy}"),
                )
            })?,
            default_capacity: get(row, T, 6, "default_capacity")?,
            answer_timeout_secs: get(row, T, 7, "answer_timeout_secs")?,
            transfer_timeout_secs: get(row, T, 8, "transfer_timeout_secs")?,
        },
    })
}

fn member_from_row(row: &Row) -> Result<MemberRecord> {
    const T: &str = "chat_topic_agent";
    Ok(MemberRecord {
        topic: TopicId(get(row, T, 0, "topic_id")?),
        user: UserId(get(row, T, 1, "user_id")?),
        can_listen: get(row, T, 2, "can_listen")?,
        can_respond: get(row, T, 3, "can_respond")?,
        can_manage: get(row, T, 4, "can_manage")?,
        can_notify: get(row, T, 5, "can_notify")?,
    })
}

fn presence_from_row(row: &Row) -> Result<PresenceRecord> {
    const T: &str = "chat_presence";
    Ok(PresenceRecord {
        user: UserId(get(row, T, 0, "user_id")?),
        present: get(row, T, 1, "present")?,
        display_name: get(row, T, 2, "display_name")?,
    })
}

fn agent_from_row(row: &Row) -> Result<AgentRecord> {
    const T: &str = "chat_agent";
    Ok(AgentRecord {
        user: UserId(get(row, T, 0, "user_id")?),
        max_chats: get(row, T, 1, "max_chats")?,
        last_assigned: get::<Option<i64>>(row, T, 2, "last_assigned")?.map(Timestamp),
    })
}

fn session_from_row(row: &Row) -> Result<SessionRecord> {
    const T: &str = "chat_session";
    let id: i32 = get(row, T, 0, "id")?;
    let key = || format!("id {id}");
    let opt_ts = |idx: usize, col: &str| -> Result<Option<Timestamp>> {
        Ok(get::<Option<i64>>(row, T, idx, col)?.map(Timestamp))
    };
    let opt_user = |idx: usize, col: &str| -> Result<Option<UserId>> {
        Ok(get::<Option<i32>>(row, T, idx, col)?.map(UserId))
    };
    let code: i32 = get(row, T, 15, "status")?;
    let status = ChatSessionStatus::from_code(code)
        .ok_or_else(|| corrupt(T, "status", key(), format!("unknown status code {code}")))?;
    let hash: Vec<u8> = get(row, T, 23, "key_hash")?;
    let key_hash: [u8; 32] = hash.as_slice().try_into().map_err(|_| {
        corrupt(
            T,
            "key_hash",
            key(),
            format!("{} bytes, expected 32", hash.len()),
        )
    })?;
    let queue_seq = get::<Option<i64>>(row, T, 30, "queue_seq")?
        .map(|v| {
            u64::try_from(v).map_err(|_| corrupt(T, "queue_seq", key(), "negative queue sequence"))
        })
        .transpose()?;
    let excluded: Vec<i32> = get(row, T, 36, "routing_excluded")?;
    Ok(SessionRecord {
        id: SessionId(id),
        topic: TopicId(get(row, T, 1, "topic_id")?),
        user: opt_user(2, "user_id")?,
        links: CrmLinks {
            person: get(row, T, 3, "person_id")?,
            contact: get(row, T, 4, "contact_id")?,
            project: get(row, T, 5, "project_id")?,
            sale: get(row, T, 6, "sale_id")?,
            ticket: get(row, T, 7, "ticket_id")?,
        },
        customer: CustomerInfo {
            alias: get(row, T, 8, "customer_alias")?,
            host: get(row, T, 9, "customer_host")?,
            name: get(row, T, 10, "customer_name")?,
            email: get(row, T, 11, "customer_email")?,
            phone: get(row, T, 12, "customer_phone")?,
            consented: get(row, T, 13, "customer_consented")?,
            company: get(row, T, 14, "customer_company")?,
        },
        status,
        first_message: get(row, T, 16, "first_message")?,
        last_message: get(row, T, 17, "last_message")?,
        when_requested: Timestamp(get(row, T, 18, "when_requested")?),
        when_started: opt_ts(19, "when_started")?,
        when_ended: opt_ts(20, "when_ended")?,
        when_idle: opt_ts(21, "when_idle")?,
        when_fetched: opt_ts(22, "when_fetched")?,
        key_hash,
        initial_queue_pos: get(row, T, 24, "initial_queue_pos")?,
        alert_level: get(row, T, 25, "alert_level")?,
        rank: get(row, T, 26, "rank")?,
        transfer_to: opt_user(27, "transfer_to")?,
        chatbot_is_active: get(row, T, 28, "chatbot_is_active")?,
        rating: get(row, T, 29, "rating")?,
        queue_seq,
        queue_entered: opt_ts(31, "queue_entered")?,
        customer_last_since: opt_ts(32, "customer_last_since")?,
        deleted_at: opt_ts(33, "deleted_at")?,
        routing: SessionRouting {
            routed_at: opt_ts(34, "routed_at")?,
            answered: get(row, T, 35, "routing_answered")?,
            excluded: excluded.into_iter().map(UserId).collect(),
            transfer_requested_at: opt_ts(37, "transfer_requested_at")?,
        },
        stats: SessionStats {
            max_alert_level: get(row, T, 38, "max_alert_level")?,
            answer_timeouts: get(row, T, 39, "answer_timeouts")?,
            first_answer_at: opt_ts(40, "first_answer_at")?,
        },
    })
}

fn message_from_row(row: &Row) -> Result<MessageRecord> {
    const T: &str = "chat_message";
    let id: i32 = get(row, T, 0, "id")?;
    let kind_code: i32 = get(row, T, 2, "type")?;
    let kind = ChatMessageType::from_code(kind_code).ok_or_else(|| {
        corrupt(
            T,
            "type",
            format!("id {id}"),
            format!("unknown message type {kind_code}"),
        )
    })?;
    let special_code: i32 = get(row, T, 6, "special_type")?;
    let special = ChatMessageSpecialType::from_code(special_code).ok_or_else(|| {
        corrupt(
            T,
            "special_type",
            format!("id {id}"),
            format!("unknown special type {special_code}"),
        )
    })?;
    Ok(MessageRecord {
        id: MessageId(id),
        session: SessionId(get(row, T, 1, "session_id")?),
        kind,
        text: get(row, T, 3, "message")?,
        author: get(row, T, 4, "author")?,
        read_by_customer: get(row, T, 5, "read_by_customer")?,
        special,
        special_param: get(row, T, 7, "special_param")?,
        when_posted: Timestamp(get(row, T, 8, "when_posted")?),
    })
}

fn event_from_row(row: &Row) -> Result<EventRecord> {
    const T: &str = "chat_event";
    let seq: i64 = get(row, T, 0, "seq")?;
    let id_text: String = get(row, T, 1, "event_id")?;
    let id = parse_uuid(&id_text)
        .ok_or_else(|| corrupt(T, "event_id", format!("seq {seq}"), "not a UUID"))?;
    let actor_kind: i32 = get(row, T, 5, "actor_kind")?;
    let actor_user: Option<i32> = get(row, T, 6, "actor_user")?;
    let actor = EventActor::from_parts(actor_kind, actor_user).ok_or_else(|| {
        corrupt(
            T,
            "actor_kind",
            format!("seq {seq}"),
            format!("actor {actor_kind} with user {actor_user:?}"),
        )
    })?;
    Ok(EventRecord {
        seq,
        id,
        at: Timestamp(get(row, T, 2, "at")?),
        session: SessionId(get(row, T, 3, "session_id")?),
        topic: TopicId(get(row, T, 4, "topic_id")?),
        actor,
        kind: get(row, T, 7, "kind")?,
        data: get(row, T, 8, "data")?,
    })
}

fn session_id_from_row(row: &Row) -> Result<SessionId> {
    Ok(SessionId(get(row, "chat_session", 0, "id")?))
}

fn user_id_from_row(row: &Row) -> Result<UserId> {
    Ok(UserId(get(row, "chat_routing_free", 0, "user_id")?))
}

fn settings_json(settings: &ChatTopicEntity) -> Result<(String, String)> {
    let value = serde_json::to_value(settings)
        .map_err(|e| storage_msg("encoding topic settings", e.to_string()))?;
    let name = value
        .get("Name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let json = serde_json::to_string(&value)
        .map_err(|e| storage_msg("encoding topic settings", e.to_string()))?;
    Ok((name, json))
}

impl ReadTx for PgTx<'_> {
    fn topic(&self, id: TopicId) -> Result<Option<TopicRecord>> {
        self.one(
            T_TOPIC,
            "reading a topic",
            select_topics!("WHERE id = $1"),
            &[&id.get()],
            topic_from_row,
        )
    }

    fn topics(&self) -> Result<Vec<TopicRecord>> {
        self.list(
            T_TOPIC,
            "listing topics",
            select_topics!("ORDER BY id"),
            &[],
            topic_from_row,
        )
    }

    fn topic_ids(&self) -> Result<Vec<TopicId>> {
        self.list(
            T_TOPIC,
            "listing topic ids",
            "SELECT id FROM chat_topic ORDER BY id",
            &[],
            |row| Ok(TopicId(get(row, "chat_topic", 0, "id")?)),
        )
    }

    fn member(&self, topic: TopicId, user: UserId) -> Result<Option<MemberRecord>> {
        self.one(
            T_MEMBER,
            "reading a membership",
            select_members!("WHERE topic_id = $1 AND user_id = $2"),
            &[&topic.get(), &user.get()],
            member_from_row,
        )
    }

    fn topic_members(&self, topic: TopicId) -> Result<Vec<MemberRecord>> {
        self.list(
            T_MEMBER,
            "listing a topic's members",
            select_members!("WHERE topic_id = $1 ORDER BY user_id"),
            &[&topic.get()],
            member_from_row,
        )
    }

    fn user_memberships(&self, user: UserId) -> Result<Vec<MemberRecord>> {
        self.list(
            T_MEMBER,
            "listing a user's memberships",
            select_members!("WHERE user_id = $1 ORDER BY topic_id"),
            &[&user.get()],
            member_from_row,
        )
    }

    fn all_members(&self) -> Result<Vec<MemberRecord>> {
        self.list(
            T_MEMBER,
            "listing memberships",
            select_members!("ORDER BY topic_id, user_id"),
            &[],
            member_from_row,
        )
    }

    fn presence(&self, user: UserId) -> Result<Option<PresenceRecord>> {
        self.one(
            T_PRESENCE,
            "reading a presence",
            "SELECT user_id, present, display_name FROM chat_presence WHERE user_id = $1",
            &[&user.get()],
            presence_from_row,
        )
    }

    fn presences(&self) -> Result<Vec<PresenceRecord>> {
        self.list(
            T_PRESENCE,
            "listing presences",
            "SELECT user_id, present, display_name FROM chat_presence ORDER BY user_id",
            &[],
            presence_from_row,
        )
    }

    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        let s = self.one(
            T_SESSION,
            "reading a session",
            select_sessions!("WHERE id = $1"),
            &[&id.get()],
            session_from_row,
        )?;
        let key = s
            .as_ref()
            .and_then(|r| r.human_queue_seq().map(|q| (r.topic, q)));
        self.queue_keys.borrow_mut().insert(id.get(), key);
        Ok(s)
    }

    fn session_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<SessionId>> {
        let key: &[u8] = key_hash;
        self.one(
            T_SESSION,
            "finding a session by key",
            "SELECT id FROM chat_session WHERE key_hash = $1",
            &[&key],
            session_id_from_row,
        )
    }

    fn sessions_by_status(
        &self,
        status: ChatSessionStatus,
        after: SessionId,
        n: usize,
    ) -> Result<Vec<SessionRecord>> {
        self.list(
            T_SESSION,
            "listing sessions by status",
            select_sessions!("WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3"),
            &[&status.code(), &after.get(), &limit(n)],
            session_from_row,
        )
    }

    fn topic_sessions(
        &self,
        topic: TopicId,
        after: SessionId,
        n: usize,
    ) -> Result<Vec<SessionRecord>> {
        self.list(
            T_SESSION,
            "listing a topic's sessions",
            select_sessions!("WHERE topic_id = $1 AND id > $2 ORDER BY id LIMIT $3"),
            &[&topic.get(), &after.get(), &limit(n)],
            session_from_row,
        )
    }

    fn sessions(&self, after: SessionId, n: usize) -> Result<Vec<SessionRecord>> {
        self.list(
            T_SESSION,
            "listing sessions",
            select_sessions!("WHERE id > $1 ORDER BY id LIMIT $2"),
            &[&after.get(), &limit(n)],
            session_from_row,
        )
    }

    fn session_ids(&self, after: SessionId, n: usize) -> Result<Vec<SessionId>> {
        self.list(
            T_SESSION,
            "listing session ids",
            "SELECT id FROM chat_session WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after.get(), &limit(n)],
            session_id_from_row,
        )
    }

    fn active_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        self.list(
            T_SESSION,
            "listing a user's active sessions",
            select_sessions!("WHERE active_user = $1 ORDER BY id"),
            &[&user.get()],
            session_from_row,
        )
    }

    fn active_ranks(&self, user: UserId) -> Result<Vec<(SessionId, i32)>> {
        self.list(
            T_SESSION,
            "reading a user's ranks",
            "SELECT id, rank FROM chat_session WHERE active_user = $1 ORDER BY id",
            &[&user.get()],
            |row| {
                Ok((
                    SessionId(get(row, "chat_session", 0, "id")?),
                    get(row, "chat_session", 1, "rank")?,
                ))
            },
        )
    }

    fn transfers_to(&self, user: UserId) -> Result<Vec<SessionId>> {
        self.list(
            T_SESSION,
            "listing a user's pending transfers",
            "SELECT id FROM chat_session WHERE pending_transfer_to = $1 ORDER BY id",
            &[&user.get()],
            session_id_from_row,
        )
    }

    fn agent(&self, user: UserId) -> Result<Option<AgentRecord>> {
        self.one(
            T_AGENT,
            "reading an agent's routing record",
            "SELECT user_id, max_chats, last_assigned FROM chat_agent WHERE user_id = $1",
            &[&user.get()],
            agent_from_row,
        )
    }

    fn routing_free(&self, topic: TopicId) -> Result<Vec<UserId>> {
        self.list(
            T_FREE,
            "reading a topic's routing index",
            "SELECT user_id FROM chat_routing_free WHERE topic_id = $1 ORDER BY user_id",
            &[&topic.get()],
            user_id_from_row,
        )
    }

    fn routing_is_free(&self, topic: TopicId, user: UserId) -> Result<bool> {
        Ok(!self
            .query(
                T_FREE,
                "reading the routing index",
                "SELECT user_id FROM chat_routing_free WHERE topic_id = $1 AND user_id = $2",
                &[&topic.get(), &user.get()],
            )?
            .is_empty())
    }

    fn agent_load(&self, user: UserId) -> Result<i32> {
        let rows = self.query(
            T_SESSION,
            "counting an agent's load",
            "SELECT ((SELECT count(*) FROM chat_session WHERE active_user = $1) \
                   + (SELECT count(*) FROM chat_session WHERE pending_transfer_to = $1))::int4",
            &[&user.get()],
        )?;
        match rows.first() {
            Some(row) => get(row, "chat_session", 0, "count"),
            None => Ok(0),
        }
    }

    fn has_present_responder(&self, topic: TopicId) -> Result<bool> {
        let row = self.one(
            T_MEMBER | T_PRESENCE,
            "reading whether a topic has a present responder",
            "SELECT EXISTS (SELECT 1 FROM chat_topic_agent m \
             JOIN chat_presence p ON p.user_id = m.user_id \
             WHERE m.topic_id = $1 AND m.can_respond AND p.present)",
            &[&topic.get()],
            |row| get::<bool>(row, "chat_topic_agent", 0, "exists"),
        )?;
        Ok(row.unwrap_or(false))
    }

    fn routing_candidates(&self, topic: TopicId) -> Result<Vec<FreeAgent>> {
        self.list(
            T_FREE | T_SESSION | T_AGENT,
            "reading a topic's routing index with loads",
            "SELECT f.user_id, \
                    ((SELECT count(*) FROM chat_session s WHERE s.active_user = f.user_id) \
                   + (SELECT count(*) FROM chat_session s WHERE s.pending_transfer_to = f.user_id))::int4, \
                    a.last_assigned \
             FROM chat_routing_free f LEFT JOIN chat_agent a ON a.user_id = f.user_id \
             WHERE f.topic_id = $1 ORDER BY f.user_id",
            &[&topic.get()],
            |row| {
                const T: &str = "chat_routing_free";
                Ok(FreeAgent {
                    user: UserId(get(row, T, 0, "user_id")?),
                    load: get(row, T, 1, "load")?,
                    last_assigned: get::<Option<i64>>(row, T, 2, "last_assigned")?.map(Timestamp),
                })
            },
        )
    }

    fn sessions_requested(
        &self,
        after: (Timestamp, SessionId),
        before: Timestamp,
        n: usize,
    ) -> Result<Vec<SessionRecord>> {
        self.list(
            T_SESSION,
            "listing sessions by request time",
            select_sessions!(
                "WHERE (when_requested, id) > ($1, $2) AND when_requested < $3 \
                 ORDER BY when_requested, id LIMIT $4"
            ),
            &[&after.0.0, &after.1.get(), &before.0, &limit(n)],
            session_from_row,
        )
    }

    fn queue_index_sum(&self, topic: TopicId, nodes: &[u64]) -> Result<i64> {
        let nodes: Vec<i64> = nodes
            .iter()
            .filter_map(|&n| i64::try_from(n).ok())
            .collect();
        let rows = self.query(
            T_QUEUE,
            "reading the queue index",
            "SELECT COALESCE(SUM(count), 0)::BIGINT FROM chat_queue_index \
             WHERE topic_id = $1 AND node = ANY($2)",
            &[&topic.get(), &nodes],
        )?;
        match rows.first() {
            Some(row) => get(row, "chat_queue_index", 0, "count"),
            None => Ok(0),
        }
    }

    fn queue(&self, topic: TopicId, after_seq: u64, n: usize) -> Result<Vec<(u64, SessionId)>> {
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        self.list(
            T_SESSION,
            "reading a queue",
            "SELECT human_queue_seq, id FROM chat_session \
             WHERE topic_id = $1 AND human_queue_seq IS NOT NULL AND human_queue_seq > $2 \
             ORDER BY human_queue_seq, id LIMIT $3",
            &[&topic.get(), &after, &limit(n)],
            |row| {
                let seq: i64 = get(row, "chat_session", 0, "human_queue_seq")?;
                let id: i32 = get(row, "chat_session", 1, "id")?;
                let seq = u64::try_from(seq).map_err(|_| {
                    corrupt(
                        "chat_session",
                        "human_queue_seq",
                        format!("id {id}"),
                        "negative",
                    )
                })?;
                Ok((seq, SessionId(id)))
            },
        )
    }

    fn messages(
        &self,
        session: SessionId,
        after: MessageId,
        n: usize,
    ) -> Result<Vec<MessageRecord>> {
        self.list(
            T_MESSAGE,
            "reading messages",
            select_messages!("WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3"),
            &[&session.get(), &after.get(), &limit(n)],
            message_from_row,
        )
    }

    fn events_after(&self, after: i64, n: usize) -> Result<Vec<EventRecord>> {
        self.list(
            T_EVENT,
            "reading the change feed",
            select_events!("WHERE seq > $1 ORDER BY seq LIMIT $2"),
            &[&after, &limit(n)],
            event_from_row,
        )
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.ensure_begun()?;
        if let Some(meta) = &*self.meta.borrow() {
            return Ok(meta.get(key).cloned());
        }
        self.one(
            T_META,
            "reading the store's metadata",
            "SELECT value FROM chatdesk_meta WHERE key = $1",
            &[&key],
            |row| get(row, "chatdesk_meta", 0, "value"),
        )
    }
}

/// How far from a sequence's end `BEGIN` stops taking ids ahead: near the
/// end, ids are taken one statement at a time, which reports an exhausted
/// kind as such (two writers ahead could both pass a check at the very end).
const PREFETCH_MARGIN: i64 = 1_000;

/// The sequence of `kind` and its last value.
fn sequence_of(kind: IdKind) -> Option<(&'static str, i64)> {
    let wire = i64::from(i32::MAX);
    match kind {
        IdKind::Topic => Some(("chatdesk_seq_topic", wire)),
        IdKind::Session => Some(("chatdesk_seq_session", wire)),
        IdKind::Message => Some(("chatdesk_seq_message", wire)),
        IdKind::QueueSeq => Some(("chatdesk_seq_queue_seq", i64::MAX)),
        IdKind::Event => None,
    }
}

impl WriteTx for PgTx<'_> {
    fn prefetch_ids(&mut self, kinds: &[IdKind]) {
        if self.state.get() == State::NotBegun {
            self.prefetch = kinds.to_vec();
        }
    }

    fn lock(&mut self, set: &LockSet) -> Result<()> {
        if self.failed.get() {
            return Err(storage_msg(
                "taking locks",
                "an earlier statement of this transaction failed, so PostgreSQL aborted it",
            ));
        }
        if self.state.get() == State::Open {
            // A statement already ran and took the exclusive routing lock
            // (always correct); more locks would add nothing.
            return Ok(());
        }
        self.begin(Some(set))
    }

    fn next_id(&mut self, kind: IdKind) -> Result<i64> {
        let max = if kind.is_wire_id() {
            i64::from(i32::MAX)
        } else {
            i64::MAX
        };
        if crate::schema::uses_sequence(kind) {
            return self.next_from_sequence(kind, max);
        }
        let name = kind.name();
        let rows = self.query(
            0,
            "taking an id",
            "UPDATE chatdesk_counter SET last = last + 1 WHERE kind = $1 AND last < $2 RETURNING last",
            &[&name, &max],
        )?;
        if let Some(row) = rows.first() {
            return get(row, "chatdesk_counter", 0, "last");
        }
        // Either the counter is exhausted or its row is missing.
        let rows = self.query(
            0,
            "reading an id counter",
            "SELECT last FROM chatdesk_counter WHERE kind = $1",
            &[&name],
        )?;
        match rows.first() {
            Some(row) => {
                let last: i64 = get(row, "chatdesk_counter", 0, "last")?;
                next_after(kind, last)
            }
            None => Err(Error::corrupt(format!(
                "chatdesk_counter has no row for {name}"
            ))),
        }
    }

    fn put_topic(&mut self, topic: &TopicRecord) -> Result<()> {
        let (name, json) = settings_json(&topic.settings)?;
        let r = &topic.routing;
        self.write(
            T_TOPIC,
            "writing a topic",
            &W_TOPIC,
            &[
                Lit::from(topic.id.get()),
                Lit::from(name),
                Lit::from(json),
                Lit::from(ts(topic.last_accept)),
                Lit::from(topic.seconds_pr_accept),
                Lit::from(r.mode.code()),
                Lit::from(r.strategy.code()),
                Lit::from(r.default_capacity),
                Lit::from(r.answer_timeout_secs),
                Lit::from(r.transfer_timeout_secs),
            ],
        )?;
        Ok(())
    }

    fn delete_topic(&mut self, id: TopicId) -> Result<()> {
        self.write(
            T_TOPIC,
            "removing a topic",
            &W_TOPIC_DELETE,
            &[Lit::from(id.get())],
        )?;
        Ok(())
    }

    fn put_member(&mut self, m: &MemberRecord) -> Result<()> {
        self.write(
            T_MEMBER,
            "writing a membership",
            &W_MEMBER,
            &[
                Lit::from(m.topic.get()),
                Lit::from(m.user.get()),
                Lit::from(m.can_listen),
                Lit::from(m.can_respond),
                Lit::from(m.can_manage),
                Lit::from(m.can_notify),
            ],
        )?;
        Ok(())
    }

    fn delete_member(&mut self, topic: TopicId, user: UserId) -> Result<()> {
        self.write(
            T_MEMBER,
            "removing a membership",
            &W_MEMBER_DELETE,
            &[Lit::from(topic.get()), Lit::from(user.get())],
        )?;
        Ok(())
    }

    fn put_presence(&mut self, p: &PresenceRecord) -> Result<()> {
        self.write(
            T_PRESENCE,
            "writing a presence",
            &W_PRESENCE,
            &[
                Lit::from(p.user.get()),
                Lit::from(p.present),
                Lit::from(&p.display_name),
            ],
        )?;
        Ok(())
    }

    fn put_agent(&mut self, a: &AgentRecord) -> Result<()> {
        self.write(
            T_AGENT,
            "writing an agent's routing record",
            &W_AGENT,
            &[
                Lit::from(a.user.get()),
                Lit::from(a.max_chats),
                Lit::from(ts(a.last_assigned)),
            ],
        )?;
        Ok(())
    }

    fn set_routing_free(&mut self, topic: TopicId, user: UserId, free: bool) -> Result<()> {
        let sql = if free { &W_FREE_ADD } else { &W_FREE_REMOVE };
        self.write(
            T_FREE,
            "writing the routing index",
            sql,
            &[Lit::from(topic.get()), Lit::from(user.get())],
        )?;
        Ok(())
    }

    fn put_session(&mut self, s: &SessionRecord) -> Result<()> {
        let c = &s.customer;
        let l = &s.links;
        let queue_seq = seq_to_sql(s.queue_seq)?;
        let human_seq = seq_to_sql(s.human_queue_seq())?;
        let excluded: Vec<i32> = s.routing.excluded.iter().map(|u| u.get()).collect();
        let params = [
            Lit::from(s.id.get()),
            Lit::from(s.topic.get()),
            Lit::from(uid(s.user)),
            Lit::from(l.person),
            Lit::from(l.contact),
            Lit::from(l.project),
            Lit::from(l.sale),
            Lit::from(l.ticket),
            Lit::from(&c.alias),
            Lit::from(&c.host),
            Lit::from(&c.name),
            Lit::from(&c.email),
            Lit::from(&c.phone),
            Lit::from(c.consented),
            Lit::from(&c.company),
            Lit::from(s.status.code()),
            Lit::from(&s.first_message),
            Lit::from(&s.last_message),
            Lit::from(s.when_requested.0),
            Lit::from(ts(s.when_started)),
            Lit::from(ts(s.when_ended)),
            Lit::from(ts(s.when_idle)),
            Lit::from(ts(s.when_fetched)),
            Lit::from(s.key_hash.to_vec()),
            Lit::from(s.initial_queue_pos),
            Lit::from(s.alert_level),
            Lit::from(s.rank),
            Lit::from(uid(s.transfer_to)),
            Lit::from(s.chatbot_is_active),
            Lit::from(s.rating),
            Lit::from(queue_seq),
            Lit::from(ts(s.queue_entered)),
            Lit::from(ts(s.customer_last_since)),
            Lit::from(ts(s.deleted_at)),
            Lit::from(ts(s.routing.routed_at)),
            Lit::from(s.routing.answered),
            Lit::from(excluded),
            Lit::from(ts(s.routing.transfer_requested_at)),
            Lit::from(s.stats.max_alert_level),
            Lit::from(s.stats.answer_timeouts),
            Lit::from(ts(s.stats.first_answer_at)),
            Lit::from(human_seq),
            Lit::from(uid(s.active_user())),
            Lit::from(uid(s.pending_transfer_to())),
        ];
        let new = human_seq
            .and_then(|q| u64::try_from(q).ok())
            .map(|q| (s.topic, q));
        let known = self.queue_keys.borrow().get(&s.id.get()).copied();
        let ctx = "writing a session";
        let old = match known {
            // The old queue key is known: the write and the queue index's
            // change can wait for the commit.
            Some(old) => {
                let mut checked = params.to_vec();
                checked.push(Lit::from(old.map(|(t, _)| t.get())));
                checked.push(Lit::from(seq_to_sql(old.map(|(_, q)| q))?));
                self.write(T_SESSION, ctx, &W_SESSION, &checked)?;
                old
            }
            None => {
                let bound: Vec<&(dyn ToSql + Sync)> = params.iter().map(Lit::bound).collect();
                let rows = self.query(T_ALL, ctx, UPSERT_SESSION, &bound)?;
                match rows.first() {
                    Some(row) => queue_key(
                        get(row, "chat_session", 0, "topic_id")?,
                        get(row, "chat_session", 1, "human_queue_seq")?,
                    ),
                    None => None,
                }
            }
        };
        self.queue_keys.borrow_mut().insert(s.id.get(), new);
        self.count_queue(old, new)
    }

    fn delete_session(&mut self, id: SessionId) -> Result<()> {
        let known = self.queue_keys.borrow().get(&id.get()).copied();
        let old = match known {
            Some(old) => {
                self.write(
                    T_SESSION,
                    "removing a session",
                    &W_SESSION_DELETE,
                    &[Lit::from(id.get())],
                )?;
                old
            }
            None => {
                let rows = self.query(
                    T_ALL,
                    "removing a session",
                    "DELETE FROM chat_session WHERE id = $1 RETURNING topic_id, human_queue_seq",
                    &[&id.get()],
                )?;
                match rows.first() {
                    Some(row) => queue_key(
                        get(row, "chat_session", 0, "topic_id")?,
                        get(row, "chat_session", 1, "human_queue_seq")?,
                    ),
                    None => None,
                }
            }
        };
        self.write(
            T_MESSAGE,
            "removing a session's messages",
            &W_SESSION_MESSAGES_DELETE,
            &[Lit::from(id.get())],
        )?;
        self.queue_keys.borrow_mut().insert(id.get(), None);
        self.count_queue(old, None)
    }

    fn put_message(&mut self, m: &MessageRecord) -> Result<()> {
        self.write(
            T_MESSAGE,
            "writing a message",
            &W_MESSAGE,
            &[
                Lit::from(m.id.get()),
                Lit::from(m.session.get()),
                Lit::from(m.kind.code()),
                Lit::from(&m.text),
                Lit::from(&m.author),
                Lit::from(m.read_by_customer),
                Lit::from(m.special.code()),
                Lit::from(&m.special_param),
                Lit::from(m.when_posted.0),
            ],
        )?;
        Ok(())
    }

    fn put_event(&mut self, e: &EventRecord) -> Result<()> {
        let (actor_kind, actor_user) = e.actor.to_parts();
        self.wrote_events.set(true);
        self.write(
            T_EVENT,
            "writing a change-feed event",
            &W_EVENT,
            &[
                Lit::from(e.seq),
                Lit::from(format_uuid(&e.id)),
                Lit::from(e.at.0),
                Lit::from(e.session.get()),
                Lit::from(e.topic.get()),
                Lit::from(actor_kind),
                Lit::from(actor_user),
                Lit::from(&e.kind),
                Lit::from(&e.data),
            ],
        )?;
        Ok(())
    }

    fn delete_events_through(&mut self, seq: i64) -> Result<usize> {
        let n = self.exec(
            T_ALL,
            "pruning the change feed",
            "DELETE FROM chat_event WHERE seq <= $1",
            &[&seq],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn put_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.write(
            T_META,
            "writing the store's metadata",
            &W_META,
            &[Lit::from(key), Lit::from(value)],
        )?;
        if let Some(meta) = &mut *self.meta.borrow_mut() {
            meta.insert(key.to_owned(), value.to_owned());
        }
        Ok(())
    }
}
