//! The raw baselines of the per-operation benchmarks ([`crate::ops`]): the
//! same rows, read and written with the storage engine alone, one
//! transaction per operation.
//!
//! [`RawTx`] is the handful of point reads, scans and writes an operation
//! needs, implemented three times: plain rusqlite with the backend's own
//! statement texts ([`chatdesk_sqlite::bench_support`]) inside `BEGIN
//! IMMEDIATE … COMMIT` (reads: a deferred transaction), plain sled with the
//! backend's keys and value encoding and one batch (flushed in durable mode),
//! and `BTreeMap`s under a `parking_lot::RwLock`. Each raw operation is
//! written once over [`RawTx`], so the three agree on what they touch.
//!
//! What the baseline does not do (and the ratio therefore charges to
//! chatdesk): check rights beyond the point reads they need, build carriers
//! and FieldProperties, re-read what it already knows (a session's old queue
//! key), wrap errors.

use chatdesk::backend::IdKind;
use chatdesk::backend::{
    CrmLinks, CustomerInfo, MemberRecord, MessageRecord, SessionRecord, SessionRouting,
    SessionStats,
};
use chatdesk::{ChatMessageSpecialType, ChatMessageType, ChatSessionStatus};
use chatdesk::{Durability, MessageId, SessionId, Timestamp, TopicId, UserId};
use chatdesk_sled::bench_support as kv;
use chatdesk_sqlite::bench_support as sql;
use parking_lot::RwLock;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The reads and writes of one raw transaction.
pub trait RawTx {
    /// A session row.
    fn session(&mut self, id: SessionId) -> Option<SessionRecord>;
    /// The session with a key hash.
    fn session_by_key(&mut self, hash: &[u8; 32]) -> Option<SessionId>;
    /// One membership row.
    fn member(&mut self, topic: TopicId, user: UserId) -> Option<MemberRecord>;
    /// A user's membership rows.
    fn user_memberships(&mut self, user: UserId) -> Vec<MemberRecord>;
    /// A user's presence display name.
    fn presence_name(&mut self, user: UserId) -> Option<String>;
    /// Reads the topic row and writes it back with new pick-up statistics.
    fn touch_topic(&mut self, topic: TopicId, now: Timestamp);
    /// The ranks of a user's active sessions (their rows read).
    fn active_ranks(&mut self, user: UserId) -> Vec<i32>;
    /// Reads, advances and writes an id counter.
    fn next_id(&mut self, kind: IdKind) -> i64;
    /// Writes a message row.
    fn put_message(&mut self, m: &MessageRecord);
    /// Writes a session row (`old`: the row as read), its index entries and
    /// the counted queue index.
    fn put_session(&mut self, old: Option<&SessionRecord>, new: &SessionRecord);
    /// Removes a session row, its index entries, its queue index counts and
    /// messages (fixture upkeep, not timed).
    fn delete_session(&mut self, s: &SessionRecord);
    /// The sum of some nodes of the counted queue index.
    fn queue_sum(&mut self, topic: TopicId, nodes: &[u64]) -> i64;
    /// The head of a topic's human queue.
    fn queue_head(&mut self, topic: TopicId) -> Option<(u64, SessionId)>;
    /// Session rows of a status after an id, at most `limit`.
    fn sessions_by_status(
        &mut self,
        status: ChatSessionStatus,
        after: SessionId,
        limit: usize,
    ) -> Vec<SessionRecord>;
    /// Message rows of a session after an id, at most `limit`.
    fn messages(
        &mut self,
        session: SessionId,
        after: MessageId,
        limit: usize,
    ) -> Vec<MessageRecord>;
}

/// A raw store: runs a closure in one read or write transaction.
pub trait RawStore {
    /// One write transaction (committed; flushed in durable mode).
    fn write(&mut self, f: &mut dyn FnMut(&mut dyn RawTx));
    /// One read transaction.
    fn read(&mut self, f: &mut dyn FnMut(&mut dyn RawTx));
}

// ---------------------------------------------------------------- SQLite --

/// Plain rusqlite on a store file written by the backend.
#[derive(Debug)]
pub struct RawSqliteStore {
    conn: Connection,
}

impl RawSqliteStore {
    /// Opens `path` with the backend's writer pragmas.
    ///
    /// # Panics
    /// When SQLite fails.
    pub fn open(path: &std::path::Path, durability: Durability) -> Self {
        RawSqliteStore {
            conn: sql::open_writer(path, durability).expect("opening the raw connection"),
        }
    }
}

struct SqlRaw<'c>(&'c Connection);

fn session_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let hash: Vec<u8> = r.get(23)?;
    let opt_ts = |i: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(Timestamp))
    };
    let opt_user = |i: usize| -> rusqlite::Result<Option<UserId>> {
        Ok(r.get::<_, Option<i32>>(i)?.map(UserId))
    };
    Ok(SessionRecord {
        id: SessionId(r.get(0)?),
        topic: TopicId(r.get(1)?),
        user: opt_user(2)?,
        links: CrmLinks {
            person: r.get(3)?,
            contact: r.get(4)?,
            project: r.get(5)?,
            sale: r.get(6)?,
            ticket: r.get(7)?,
        },
        customer: CustomerInfo {
            alias: r.get(8)?,
            host: r.get(9)?,
            name: r.get(10)?,
            email: r.get(11)?,
            phone: r.get(12)?,
            consented: r.get(13)?,
            company: r.get(14)?,
        },
        status: ChatSessionStatus::from_code(r.get(15)?).unwrap_or_default(),
        first_message: r.get(16)?,
        last_message: r.get(17)?,
        when_requested: Timestamp(r.get(18)?),
        when_started: opt_ts(19)?,
        when_ended: opt_ts(20)?,
        when_idle: opt_ts(21)?,
        when_fetched: opt_ts(22)?,
        key_hash: hash.as_slice().try_into().unwrap_or([0; 32]),
        initial_queue_pos: r.get(24)?,
        alert_level: r.get(25)?,
        rank: r.get(26)?,
        transfer_to: opt_user(27)?,
        chatbot_is_active: r.get(28)?,
        rating: r.get(29)?,
        queue_seq: r.get::<_, Option<i64>>(30)?.map(|v| v as u64),
        queue_entered: opt_ts(31)?,
        customer_last_since: opt_ts(32)?,
        deleted_at: opt_ts(33)?,
        routing: SessionRouting {
            routed_at: opt_ts(34)?,
            answered: r.get(35)?,
            excluded: serde_json::from_str::<Vec<i32>>(&r.get::<_, String>(36)?)
                .unwrap_or_default()
                .into_iter()
                .map(UserId)
                .collect(),
            transfer_requested_at: opt_ts(37)?,
        },
        stats: SessionStats {
            max_alert_level: r.get(38)?,
            answer_timeouts: r.get(39)?,
            first_answer_at: opt_ts(40)?,
        },
    })
}

fn message_row(r: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    Ok(MessageRecord {
        id: MessageId(r.get(0)?),
        session: SessionId(r.get(1)?),
        kind: ChatMessageType::from_code(r.get(2)?).unwrap_or_default(),
        text: r.get(3)?,
        author: r.get(4)?,
        read_by_customer: r.get(5)?,
        special: ChatMessageSpecialType::from_code(r.get(6)?).unwrap_or_default(),
        special_param: r.get(7)?,
        when_posted: Timestamp(r.get(8)?),
    })
}

fn member_row(r: &Row<'_>) -> rusqlite::Result<MemberRecord> {
    Ok(MemberRecord {
        topic: TopicId(r.get(0)?),
        user: UserId(r.get(1)?),
        can_listen: r.get(2)?,
        can_respond: r.get(3)?,
        can_manage: r.get(4)?,
        can_notify: r.get(5)?,
    })
}

impl SqlRaw<'_> {
    fn list<T>(
        &self,
        text: &str,
        args: &[&dyn rusqlite::ToSql],
        f: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Vec<T> {
        let mut stmt = self.0.prepare_cached(text).expect("a statement");
        stmt.query_map(args, f)
            .expect("a query")
            .collect::<rusqlite::Result<Vec<T>>>()
            .expect("rows")
    }

    fn one<T>(
        &self,
        text: &str,
        args: &[&dyn rusqlite::ToSql],
        f: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let mut stmt = self.0.prepare_cached(text).expect("a statement");
        stmt.query_row(args, f).optional().expect("a row")
    }

    fn count_queue(&self, old: Option<(TopicId, u64)>, new: Option<(TopicId, u64)>) {
        for (topic, node, delta) in
            chatdesk::backend::queue_index::changes(old, new).expect("in range")
        {
            let node = i64::try_from(node).expect("a node");
            let count: i64 = self
                .0
                .prepare_cached(sql::UPSERT_QUEUE_INDEX)
                .expect("a statement")
                .query_row(params![topic.0, node, delta], |r| r.get(0))
                .expect("the index");
            if count == 0 {
                self.0
                    .prepare_cached(sql::DELETE_QUEUE_INDEX)
                    .expect("a statement")
                    .execute(params![topic.0, node])
                    .expect("the index");
            }
        }
    }
}

fn queue_key(s: &SessionRecord) -> Option<(TopicId, u64)> {
    s.human_queue_seq().map(|q| (s.topic, q))
}

impl RawTx for SqlRaw<'_> {
    fn session(&mut self, id: SessionId) -> Option<SessionRecord> {
        self.one(sql::SELECT_SESSION, params![id.0], session_row)
    }

    fn session_by_key(&mut self, hash: &[u8; 32]) -> Option<SessionId> {
        self.one(sql::SELECT_SESSION_BY_KEY, params![&hash[..]], |r| {
            Ok(SessionId(r.get(0)?))
        })
    }

    fn member(&mut self, topic: TopicId, user: UserId) -> Option<MemberRecord> {
        self.one(sql::SELECT_MEMBER, params![topic.0, user.0], member_row)
    }

    fn user_memberships(&mut self, user: UserId) -> Vec<MemberRecord> {
        self.list(sql::SELECT_USER_MEMBERSHIPS, params![user.0], member_row)
    }

    fn presence_name(&mut self, user: UserId) -> Option<String> {
        self.one(sql::SELECT_PRESENCE, params![user.0], |r| r.get(2))
    }

    fn touch_topic(&mut self, topic: TopicId, now: Timestamp) {
        // A plain client keeps the settings as text and rewrites the row
        // (the routing columns as they were).
        type Row = (String, Option<i64>, i32, [i32; 5]);
        let (json, last, spa, routing): Row = self
            .one(sql::SELECT_TOPIC, params![topic.0], |r| {
                Ok((
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    [r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?],
                ))
            })
            .expect("the topic");
        let spa = chatdesk::testkit::rules::next_seconds_pr_accept(last.map(|_| spa), 0);
        let [mode, strategy, capacity, answer, transfer] = routing;
        self.0
            .prepare_cached(sql::UPSERT_TOPIC)
            .expect("a statement")
            .execute(params![
                topic.0,
                crate::TOPIC_NAME,
                json,
                now.0,
                spa,
                mode,
                strategy,
                capacity,
                answer,
                transfer
            ])
            .expect("the topic");
    }

    fn active_ranks(&mut self, user: UserId) -> Vec<i32> {
        self.list(sql::SELECT_ACTIVE_SESSIONS, params![user.0], session_row)
            .into_iter()
            .map(|s| s.rank)
            .collect()
    }

    fn next_id(&mut self, kind: IdKind) -> i64 {
        let last: i64 = self
            .one(sql::SELECT_COUNTER, params![kind.name()], |r| r.get(0))
            .unwrap_or(0);
        self.0
            .prepare_cached(sql::UPSERT_COUNTER)
            .expect("a statement")
            .execute(params![kind.name(), last + 1])
            .expect("the counter");
        last + 1
    }

    fn put_message(&mut self, m: &MessageRecord) {
        self.0
            .prepare_cached(sql::UPSERT_MESSAGE)
            .expect("a statement")
            .execute(params![
                m.id.0,
                m.session.0,
                m.kind.code(),
                m.text,
                m.author,
                m.read_by_customer,
                m.special.code(),
                m.special_param,
                m.when_posted.0
            ])
            .expect("the message");
    }

    fn put_session(&mut self, old: Option<&SessionRecord>, s: &SessionRecord) {
        self.count_queue(old.and_then(queue_key), queue_key(s));
        let values = sql::session_values(s).expect("a session's values");
        self.0
            .prepare_cached(sql::UPSERT_SESSION)
            .expect("a statement")
            .execute(rusqlite::params_from_iter(values.iter()))
            .expect("the session");
    }

    fn delete_session(&mut self, s: &SessionRecord) {
        self.count_queue(queue_key(s), None);
        self.0
            .execute(
                "DELETE FROM chat_message WHERE session_id = ?1",
                params![s.id.0],
            )
            .expect("deleting messages");
        self.0
            .execute("DELETE FROM chat_session WHERE id = ?1", params![s.id.0])
            .expect("deleting a session");
    }

    fn queue_sum(&mut self, topic: TopicId, nodes: &[u64]) -> i64 {
        let mut slots = [0i64; sql::QUEUE_INDEX_SLOTS];
        for (slot, n) in slots.iter_mut().zip(nodes) {
            *slot = i64::try_from(*n).expect("a node");
        }
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&topic.0];
        args.extend(slots.iter().map(|n| n as &dyn rusqlite::ToSql));
        self.one(sql::sum_queue_index(), &args, |r| r.get(0))
            .unwrap_or(0)
    }

    fn queue_head(&mut self, topic: TopicId) -> Option<(u64, SessionId)> {
        self.one(sql::SELECT_QUEUE, params![topic.0, 0, 1], |r| {
            Ok((r.get::<_, i64>(0)? as u64, SessionId(r.get(1)?)))
        })
    }

    fn sessions_by_status(
        &mut self,
        status: ChatSessionStatus,
        after: SessionId,
        limit: usize,
    ) -> Vec<SessionRecord> {
        self.list(
            sql::SELECT_SESSIONS_BY_STATUS,
            params![status.code(), after.0, limit as i64],
            session_row,
        )
    }

    fn messages(
        &mut self,
        session: SessionId,
        after: MessageId,
        limit: usize,
    ) -> Vec<MessageRecord> {
        self.list(
            sql::SELECT_MESSAGES,
            params![session.0, after.0, limit as i64],
            message_row,
        )
    }
}

impl RawStore for RawSqliteStore {
    fn write(&mut self, f: &mut dyn FnMut(&mut dyn RawTx)) {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("BEGIN IMMEDIATE");
        f(&mut SqlRaw(&tx));
        tx.commit().expect("COMMIT");
    }

    fn read(&mut self, f: &mut dyn FnMut(&mut dyn RawTx)) {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .expect("BEGIN");
        f(&mut SqlRaw(&tx));
        tx.commit().expect("COMMIT");
    }
}

// ------------------------------------------------------------------ sled --

/// Plain sled on a store directory written by the backend.
#[derive(Debug)]
pub struct RawSledStore {
    db: sled::Db,
    /// sled's log file, synced after each flush as the backend does.
    log: std::fs::File,
    durability: Durability,
}

impl RawSledStore {
    /// Opens `dir` with the backend's configuration.
    ///
    /// # Panics
    /// When sled fails.
    pub fn open(dir: &std::path::Path, durability: Durability) -> Self {
        RawSledStore {
            db: kv::open_db(dir, durability).expect("opening sled"),
            log: kv::open_log_file(dir).expect("opening sled's log file"),
            durability,
        }
    }
}

/// One sled transaction: point reads see this transaction's own writes
/// (a small map of them), scans read the tree; writes go to one batch.
struct SledRaw<'d> {
    db: &'d sled::Db,
    batch: sled::Batch,
    own: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

fn trailing_id(k: &[u8]) -> SessionId {
    let at = k.len() - 4;
    SessionId(i32::from_be_bytes(k[at..].try_into().expect("4 bytes")) ^ i32::MIN)
}

impl SledRaw<'_> {
    fn get(&self, k: &[u8]) -> Option<Vec<u8>> {
        match self.own.get(k) {
            Some(v) => v.clone(),
            None => self.db.get(k).expect("a read").map(|v| v.to_vec()),
        }
    }

    fn put(&mut self, k: Vec<u8>, v: Vec<u8>) {
        self.batch.insert(k.clone(), v.clone());
        self.own.insert(k, Some(v));
    }

    fn del(&mut self, k: Vec<u8>) {
        self.batch.remove(k.clone());
        self.own.insert(k, None);
    }

    fn count_queue(&mut self, old: Option<(TopicId, u64)>, new: Option<(TopicId, u64)>) {
        for (topic, node, delta) in
            chatdesk::backend::queue_index::changes(old, new).expect("in range")
        {
            let key = kv::queue_index_key(topic, node);
            let count = self.get(&key).map_or(0, |v| {
                i64::from_be_bytes(v.as_slice().try_into().expect("8 bytes"))
            }) + delta;
            if count == 0 {
                self.del(key);
            } else {
                self.put(key, count.to_be_bytes().to_vec());
            }
        }
    }
}

impl RawTx for SledRaw<'_> {
    fn session(&mut self, id: SessionId) -> Option<SessionRecord> {
        let k = kv::session_key(id);
        self.get(&k)
            .map(|v| kv::decode_session(&k, &v).expect("a session"))
    }

    fn session_by_key(&mut self, hash: &[u8; 32]) -> Option<SessionId> {
        self.get(&kv::session_by_key_key(hash)).map(|v| {
            SessionId(i32::from_be_bytes(v.as_slice().try_into().expect("4 bytes")) ^ i32::MIN)
        })
    }

    fn member(&mut self, topic: TopicId, user: UserId) -> Option<MemberRecord> {
        let k = kv::member_key(topic, user);
        self.get(&k)
            .map(|v| kv::decode_member(&k, &v).expect("a member"))
    }

    fn user_memberships(&mut self, user: UserId) -> Vec<MemberRecord> {
        let mut out = Vec::new();
        for entry in self.db.range(kv::memberships_of(user)) {
            let (k, _) = entry.expect("a key");
            let topic = TopicId(trailing_id(&k).0);
            if let Some(m) = self.member(topic, user) {
                out.push(m);
            }
        }
        out
    }

    fn presence_name(&mut self, user: UserId) -> Option<String> {
        let k = kv::presence_key(user);
        self.get(&k).map(|v| {
            kv::decode_presence(&k, &v)
                .expect("a presence")
                .display_name
        })
    }

    fn touch_topic(&mut self, topic: TopicId, now: Timestamp) {
        let k = kv::topic_key(topic);
        let v = self.get(&k).expect("the topic");
        let mut t = kv::decode_topic(&k, &v).expect("a topic");
        t.seconds_pr_accept = chatdesk::testkit::rules::next_seconds_pr_accept(
            t.last_accept.map(|_| t.seconds_pr_accept),
            0,
        );
        t.last_accept = Some(now);
        let v = kv::encode_topic(&t).expect("encoding");
        self.put(k, v);
    }

    fn active_ranks(&mut self, user: UserId) -> Vec<i32> {
        let mut out = Vec::new();
        for entry in self.db.range(kv::active_of(user)) {
            let (k, _) = entry.expect("a key");
            if let Some(s) = self.session(trailing_id(&k)) {
                out.push(s.rank);
            }
        }
        out
    }

    fn next_id(&mut self, kind: IdKind) -> i64 {
        let k = kv::counter_key(kind);
        let last = self
            .get(&k)
            .map_or(0, |v| kv::decode_counter(&k, &v).expect("a counter"));
        self.put(k, kv::encode_counter(last + 1));
        last + 1
    }

    fn put_message(&mut self, m: &MessageRecord) {
        let v = kv::encode_message(m).expect("encoding");
        self.put(kv::message_key(m.session, m.id), v);
    }

    fn put_session(&mut self, old: Option<&SessionRecord>, s: &SessionRecord) {
        self.count_queue(old.and_then(queue_key), queue_key(s));
        let new_index = kv::session_index(s);
        if let Some(old) = old {
            for (k, _) in kv::session_index(old) {
                if !new_index.iter().any(|(n, _)| *n == k) {
                    self.del(k);
                }
            }
        }
        for (k, v) in new_index {
            self.put(k, v);
        }
        let v = kv::encode_session(s).expect("encoding");
        self.put(kv::session_key(s.id), v);
    }

    fn delete_session(&mut self, s: &SessionRecord) {
        self.count_queue(queue_key(s), None);
        for (k, _) in kv::session_index(s) {
            self.del(k);
        }
        self.del(kv::session_key(s.id));
        let doomed: Vec<_> = self
            .db
            .range(kv::messages_after(s.id, MessageId(i32::MIN)))
            .keys()
            .map(|k| k.expect("a key").to_vec())
            .collect();
        for k in doomed {
            self.del(k);
        }
    }

    fn queue_sum(&mut self, topic: TopicId, nodes: &[u64]) -> i64 {
        nodes
            .iter()
            .filter_map(|n| self.get(&kv::queue_index_key(topic, *n)))
            .map(|v| i64::from_be_bytes(v.as_slice().try_into().expect("8 bytes")))
            .sum()
    }

    fn queue_head(&mut self, topic: TopicId) -> Option<(u64, SessionId)> {
        let (k, v) = self
            .db
            .range(kv::queue_of(topic))
            .next()?
            .expect("a queue entry");
        let at = k.len() - 8;
        let seq = u64::from_be_bytes(k[at..].try_into().expect("8 bytes"));
        let id = i32::from_be_bytes(v.as_ref().try_into().expect("4 bytes")) ^ i32::MIN;
        Some((seq, SessionId(id)))
    }

    fn sessions_by_status(
        &mut self,
        status: ChatSessionStatus,
        after: SessionId,
        limit: usize,
    ) -> Vec<SessionRecord> {
        let mut out = Vec::new();
        for entry in self.db.range(kv::status_after(status.code(), after)) {
            if out.len() >= limit {
                break;
            }
            let (k, _) = entry.expect("a key");
            if let Some(s) = self.session(trailing_id(&k)) {
                out.push(s);
            }
        }
        out
    }

    fn messages(
        &mut self,
        session: SessionId,
        after: MessageId,
        limit: usize,
    ) -> Vec<MessageRecord> {
        self.db
            .range(kv::messages_after(session, after))
            .take(limit)
            .map(|e| {
                let (k, v) = e.expect("a message");
                kv::decode_message(&k, &v).expect("a message")
            })
            .collect()
    }
}

impl RawStore for RawSledStore {
    fn write(&mut self, f: &mut dyn FnMut(&mut dyn RawTx)) {
        let mut tx = SledRaw {
            db: &self.db,
            batch: sled::Batch::default(),
            own: HashMap::new(),
        };
        f(&mut tx);
        let batch = tx.batch;
        self.db.apply_batch(batch).expect("the batch");
        if self.durability == Durability::Durable {
            self.db.flush().expect("the flush");
            self.log.sync_data().expect("syncing the log file");
        }
    }

    fn read(&mut self, f: &mut dyn FnMut(&mut dyn RawTx)) {
        let mut tx = SledRaw {
            db: &self.db,
            batch: sled::Batch::default(),
            own: HashMap::new(),
        };
        f(&mut tx);
    }
}

// ---------------------------------------------------------------- memory --

/// Ordinary maps with the memory backend's rows and index entries.
#[derive(Debug, Default, Clone)]
pub struct Maps {
    /// Topic rows (only the pick-up statistics change here).
    pub topics: BTreeMap<TopicId, (Option<Timestamp>, i32)>,
    /// Membership rows.
    pub members: BTreeMap<(TopicId, UserId), MemberRecord>,
    /// Presence display names.
    pub presences: BTreeMap<UserId, String>,
    /// Id counters.
    pub counters: BTreeMap<IdKind, i64>,
    /// Session rows.
    pub sessions: BTreeMap<SessionId, SessionRecord>,
    /// Key hash → session.
    pub by_key: HashMap<[u8; 32], SessionId>,
    /// (status, session).
    pub by_status: BTreeSet<(i32, SessionId)>,
    /// (active user, session).
    pub active: BTreeSet<(UserId, SessionId)>,
    /// (topic, sequence) → session.
    pub queue: BTreeMap<(TopicId, u64), SessionId>,
    /// The counted queue index.
    pub queue_index: BTreeMap<(TopicId, u64), i64>,
    /// Message rows.
    pub messages: BTreeMap<(SessionId, MessageId), MessageRecord>,
}

impl Maps {
    fn unindex(&mut self, s: &SessionRecord) {
        self.by_key.remove(&s.key_hash);
        self.by_status.remove(&(s.status.code(), s.id));
        if let Some(u) = s.active_user() {
            self.active.remove(&(u, s.id));
        }
        if let Some(q) = s.human_queue_seq() {
            self.queue.remove(&(s.topic, q));
        }
    }

    fn index(&mut self, s: &SessionRecord) {
        self.by_key.insert(s.key_hash, s.id);
        self.by_status.insert((s.status.code(), s.id));
        if let Some(u) = s.active_user() {
            self.active.insert((u, s.id));
        }
        if let Some(q) = s.human_queue_seq() {
            self.queue.insert((s.topic, q), s.id);
        }
    }

    fn count_queue(&mut self, old: Option<(TopicId, u64)>, new: Option<(TopicId, u64)>) {
        for (topic, node, delta) in
            chatdesk::backend::queue_index::changes(old, new).expect("in range")
        {
            let c = self.queue_index.entry((topic, node)).or_default();
            *c += delta;
            if *c == 0 {
                self.queue_index.remove(&(topic, node));
            }
        }
    }

    /// Adds a session row with its index entries (fixture loading).
    pub fn load_session(&mut self, s: SessionRecord) {
        self.count_queue(None, queue_key(&s));
        self.index(&s);
        self.sessions.insert(s.id, s);
    }
}

/// The maps under one `parking_lot::RwLock`.
#[derive(Debug, Default)]
pub struct RawMemStore {
    maps: RwLock<Maps>,
}

impl RawMemStore {
    /// Over `maps`.
    pub fn new(maps: Maps) -> Self {
        RawMemStore {
            maps: RwLock::new(maps),
        }
    }
}

enum Guard<'a> {
    R(parking_lot::RwLockReadGuard<'a, Maps>),
    W(parking_lot::RwLockWriteGuard<'a, Maps>),
}

struct MemRaw<'a>(Guard<'a>);

impl MemRaw<'_> {
    fn m(&self) -> &Maps {
        match &self.0 {
            Guard::R(g) => g,
            Guard::W(g) => g,
        }
    }

    fn w(&mut self) -> &mut Maps {
        match &mut self.0 {
            Guard::R(_) => unreachable!("a write in a read transaction"),
            Guard::W(g) => g,
        }
    }
}

impl RawTx for MemRaw<'_> {
    fn session(&mut self, id: SessionId) -> Option<SessionRecord> {
        self.m().sessions.get(&id).cloned()
    }

    fn session_by_key(&mut self, hash: &[u8; 32]) -> Option<SessionId> {
        self.m().by_key.get(hash).copied()
    }

    fn member(&mut self, topic: TopicId, user: UserId) -> Option<MemberRecord> {
        self.m().members.get(&(topic, user)).copied()
    }

    fn user_memberships(&mut self, user: UserId) -> Vec<MemberRecord> {
        self.m()
            .members
            .values()
            .filter(|m| m.user == user)
            .copied()
            .collect()
    }

    fn presence_name(&mut self, user: UserId) -> Option<String> {
        self.m().presences.get(&user).cloned()
    }

    fn touch_topic(&mut self, topic: TopicId, now: Timestamp) {
        let t = self.w().topics.get_mut(&topic).expect("the topic");
        t.1 = chatdesk::testkit::rules::next_seconds_pr_accept(t.0.map(|_| t.1), 0);
        t.0 = Some(now);
    }

    fn active_ranks(&mut self, user: UserId) -> Vec<i32> {
        let m = self.m();
        m.active
            .range((user, SessionId(i32::MIN))..=(user, SessionId(i32::MAX)))
            .filter_map(|(_, id)| m.sessions.get(id).map(|s| s.rank))
            .collect()
    }

    fn next_id(&mut self, kind: IdKind) -> i64 {
        let c = self.w().counters.entry(kind).or_default();
        *c += 1;
        *c
    }

    fn put_message(&mut self, m: &MessageRecord) {
        self.w().messages.insert((m.session, m.id), m.clone());
    }

    fn put_session(&mut self, old: Option<&SessionRecord>, s: &SessionRecord) {
        let m = self.w();
        m.count_queue(old.and_then(queue_key), queue_key(s));
        if let Some(old) = old {
            m.unindex(old);
        }
        m.index(s);
        m.sessions.insert(s.id, s.clone());
    }

    fn delete_session(&mut self, s: &SessionRecord) {
        let m = self.w();
        m.count_queue(queue_key(s), None);
        m.unindex(s);
        m.sessions.remove(&s.id);
        let doomed: Vec<_> = m
            .messages
            .range((s.id, MessageId(i32::MIN))..=(s.id, MessageId(i32::MAX)))
            .map(|(k, _)| *k)
            .collect();
        for k in doomed {
            m.messages.remove(&k);
        }
    }

    fn queue_sum(&mut self, topic: TopicId, nodes: &[u64]) -> i64 {
        let m = self.m();
        nodes
            .iter()
            .filter_map(|n| m.queue_index.get(&(topic, *n)))
            .sum()
    }

    fn queue_head(&mut self, topic: TopicId) -> Option<(u64, SessionId)> {
        self.m()
            .queue
            .range((topic, 0)..=(topic, u64::MAX))
            .next()
            .map(|((_, q), id)| (*q, *id))
    }

    fn sessions_by_status(
        &mut self,
        status: ChatSessionStatus,
        after: SessionId,
        limit: usize,
    ) -> Vec<SessionRecord> {
        let m = self.m();
        let code = status.code();
        m.by_status
            .range((code, SessionId(after.0.saturating_add(1)))..=(code, SessionId(i32::MAX)))
            .take(limit)
            .filter_map(|(_, id)| m.sessions.get(id).cloned())
            .collect()
    }

    fn messages(
        &mut self,
        session: SessionId,
        after: MessageId,
        limit: usize,
    ) -> Vec<MessageRecord> {
        self.m()
            .messages
            .range((session, MessageId(after.0.saturating_add(1)))..=(session, MessageId(i32::MAX)))
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl RawStore for RawMemStore {
    fn write(&mut self, f: &mut dyn FnMut(&mut dyn RawTx)) {
        f(&mut MemRaw(Guard::W(self.maps.write())));
    }

    fn read(&mut self, f: &mut dyn FnMut(&mut dyn RawTx)) {
        f(&mut MemRaw(Guard::R(self.maps.read())));
    }
}
