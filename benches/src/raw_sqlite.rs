//! The SQLite baseline: the rows `create_chat_session_for_topic` reads and
//! writes, with plain rusqlite, the backend's own statement texts and pragmas
//! ([`chatdesk_sqlite::bench_support`]), in one `BEGIN IMMEDIATE … COMMIT`.

use crate::{Subject, open_sqlite, queued_record, random_key, seeded, sqlite_file, temp_dir};
use chatdesk::backend::IdKind;
use chatdesk::backend::SessionRecord;
use chatdesk::{Clock, Durability, SessionId, SystemClock, TopicId};
use chatdesk_sqlite::bench_support as sql;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tempfile::TempDir;

/// Plain rusqlite on a store file seeded by the backend.
#[derive(Debug)]
pub struct RawSqlite {
    conn: Connection,
    topic: TopicId,
    _dir: TempDir,
}

impl RawSqlite {
    /// A fresh store file (schema and topic written by the backend, which is
    /// then closed), reopened with the backend's writer pragmas.
    ///
    /// # Panics
    /// When SQLite fails.
    pub fn new(durability: Durability) -> Self {
        let dir = temp_dir();
        let path = sqlite_file(dir.path());
        let (store, topic) = seeded(open_sqlite(&path, durability));
        store.close().expect("closing the seeded store");
        let conn = sql::open_writer(&path, durability).expect("reopening the file");
        RawSqlite {
            conn,
            topic,
            _dir: dir,
        }
    }
}

impl RawSqlite {
    /// The connection, for a test to look at the rows.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// The next id of `kind`: the counter row read, advanced and written back.
fn next_id(tx: &Connection, kind: IdKind) -> rusqlite::Result<i64> {
    let last: Option<i64> = tx
        .prepare_cached(sql::SELECT_COUNTER)?
        .query_row(params![kind.name()], |r| r.get(0))
        .optional()?;
    let next = last.unwrap_or(0) + 1;
    tx.prepare_cached(sql::UPSERT_COUNTER)?
        .execute(params![kind.name(), next])?;
    Ok(next)
}

/// Whether some member of `topic` with CanRespond is present.
fn staffed(tx: &Connection, topic: TopicId) -> rusqlite::Result<bool> {
    let mut members = tx.prepare_cached(sql::SELECT_TOPIC_MEMBERS)?;
    let mut rows = members.query(params![topic.0])?;
    while let Some(row) = rows.next()? {
        let user: i32 = row.get(1)?;
        let can_respond: bool = row.get(3)?;
        if !can_respond {
            continue;
        }
        let present: Option<(bool, String)> = tx
            .prepare_cached(sql::SELECT_PRESENCE)?
            .query_row(params![user], |r| Ok((r.get(1)?, r.get(2)?)))
            .optional()?;
        if present.is_some_and(|(p, _)| p) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The session row, bound as the backend binds it.
fn insert_session(tx: &Connection, s: &SessionRecord) -> rusqlite::Result<usize> {
    let values = sql::session_values(s).expect("a session's values");
    tx.prepare_cached(sql::UPSERT_SESSION)?
        .execute(rusqlite::params_from_iter(values.iter()))
}

impl RawSqlite {
    fn try_create(&mut self) -> rusqlite::Result<SessionId> {
        let key_hash = random_key();
        let now = SystemClock.now();
        let topic = self.topic;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The topic row as a plain client reads it: the settings stay text.
        let (_settings, _last_accept, _spa): (String, Option<i64>, i32) = tx
            .prepare_cached(sql::SELECT_TOPIC)?
            .query_row(params![topic.0], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?)))?;
        assert!(staffed(&tx, topic)?, "the topic is staffed");
        let id = next_id(&tx, IdKind::Session)?;
        let seq = next_id(&tx, IdKind::QueueSeq)?;
        let seq = u64::try_from(seq).expect("a positive sequence");
        // The counted queue index, as the backend reads and writes it.
        let mut slots = vec![0i64; sql::QUEUE_INDEX_SLOTS];
        for (slot, node) in slots
            .iter_mut()
            .zip(chatdesk::backend::queue_index::prefix_nodes(seq - 1))
        {
            *slot = i64::try_from(node).expect("a node in range");
        }
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&topic.0];
        args.extend(slots.iter().map(|n| n as &dyn rusqlite::ToSql));
        let before: i64 = tx
            .prepare_cached(sql::sum_queue_index())?
            .query_row(args.as_slice(), |r| r.get(0))?;
        let id = SessionId(i32::try_from(id).expect("a small id"));
        let _old: Option<(i32, Option<i64>)> = tx
            .prepare_cached(sql::SELECT_QUEUE_KEY)?
            .query_row(params![id.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        for node in chatdesk::backend::queue_index::update_nodes(seq).expect("a sequence in range")
        {
            let node = i64::try_from(node).expect("a node in range");
            let _count: i64 = tx
                .prepare_cached(sql::UPSERT_QUEUE_INDEX)?
                .query_row(params![topic.0, node, 1], |r| r.get(0))?;
        }
        let pos = i32::try_from(before).expect("a short queue") + 1;
        let s = queued_record(id, topic, key_hash, now, seq, pos);
        insert_session(&tx, &s)?;
        tx.commit()?;
        Ok(id)
    }
}

impl Subject for RawSqlite {
    fn create(&mut self) -> SessionId {
        self.try_create().expect("the raw SQLite transaction")
    }

    fn drain(&mut self, ids: &[SessionId]) {
        let tx = self.conn.transaction().expect("beginning the drain");
        for id in ids {
            tx.execute("DELETE FROM chat_session WHERE id = ?1", params![id.0])
                .expect("deleting a session");
        }
        tx.execute("DELETE FROM chat_queue_index", [])
            .expect("clearing the queue index");
        tx.commit().expect("committing the drain");
    }
}
