//! The sled baseline: the keys `create_chat_session_for_topic` reads and
//! writes, with plain sled, the backend's own configuration, key builders and
//! value encoders ([`chatdesk_sled::bench_support`]): the same point reads and
//! queue range count, then one `apply_batch` (and `flush` in durable mode).
//!
//! sled 0.34.7 can deadlock inside `apply_batch` (its thread waits in
//! `SegmentAccountant::next` while every `sled-io` thread waits in
//! `IoBufs::write_to_log`; see spacejam/sled#1412). It was seen once while
//! writing this benchmark, in this baseline's drain; a sled run that hangs
//! is that, not a loop of ours.

use crate::{Subject, open_sled, queued_record, random_key, seeded, temp_dir};
use chatdesk::backend::IdKind;
use chatdesk::backend::SessionRecord;
use chatdesk::{Clock, Durability, SessionId, SystemClock, TopicId};
use chatdesk_sled::bench_support as kv;
use tempfile::TempDir;

/// Plain sled on a store seeded by the backend.
#[derive(Debug)]
pub struct RawSled {
    db: sled::Db,
    /// sled's log file, synced after each durable flush as the backend does.
    log: std::fs::File,
    topic: TopicId,
    durability: Durability,
    /// The records created since the last drain (their index keys go too).
    created: Vec<SessionRecord>,
    _dir: TempDir,
}

impl RawSled {
    /// A fresh store (topic written by the backend, which is then closed),
    /// reopened with the backend's sled configuration.
    ///
    /// # Panics
    /// When sled fails.
    pub fn new(durability: Durability) -> Self {
        let dir = temp_dir();
        let (store, topic) = seeded(open_sled(dir.path(), durability));
        store.close().expect("closing the seeded store");
        let db = kv::open_db(dir.path(), durability).expect("reopening the store");
        RawSled {
            db,
            log: kv::open_log_file(dir.path()).expect("opening sled's log file"),
            topic,
            durability,
            created: Vec::with_capacity(crate::DRAIN_EVERY),
            _dir: dir,
        }
    }

    /// The database, for a test to look at the keys.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    fn next_id(&self, kind: IdKind, batch: &mut sled::Batch) -> sled::Result<i64> {
        let key = kv::counter_key(kind);
        let last = match self.db.get(&key)? {
            Some(v) => kv::decode_counter(&key, &v).expect("a counter value"),
            None => 0,
        };
        let next = last + 1;
        batch.insert(key, kv::encode_counter(next));
        Ok(next)
    }

    /// Whether some member of the topic with CanRespond is present.
    fn staffed(&self) -> sled::Result<bool> {
        for entry in self.db.range(kv::members_of(self.topic)) {
            let (k, v) = entry?;
            let m = kv::decode_member(&k, &v).expect("a membership value");
            if !m.can_respond {
                continue;
            }
            if let Some(p) = self.db.get(kv::presence_key(m.user))? {
                let p =
                    kv::decode_presence(&kv::presence_key(m.user), &p).expect("a presence value");
                if p.present {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// One node of the counted queue index (absent: 0).
    fn index_count(&self, topic: TopicId, node: u64) -> sled::Result<i64> {
        Ok(self
            .db
            .get(kv::queue_index_key(topic, node))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, i64::from_be_bytes))
    }

    fn try_create(&mut self) -> sled::Result<SessionId> {
        let key_hash = random_key();
        let now = SystemClock.now();
        let topic = self.topic;
        // The topic row as a plain client reads it: the bytes, undecoded.
        let row = self.db.get(kv::topic_key(topic))?;
        assert!(row.is_some(), "the topic exists");
        assert!(self.staffed()?, "the topic is staffed");
        let mut batch = sled::Batch::default();
        let id = self.next_id(IdKind::Session, &mut batch)?;
        let seq = self.next_id(IdKind::QueueSeq, &mut batch)?;
        let seq = u64::try_from(seq).expect("a positive sequence");
        // The counted queue index, as the backend reads and writes it.
        let mut before = 0i64;
        for node in chatdesk::backend::queue_index::prefix_nodes(seq - 1) {
            before += self.index_count(topic, node)?;
        }
        for node in chatdesk::backend::queue_index::update_nodes(seq).expect("a sequence in range")
        {
            let count = self.index_count(topic, node)? + 1;
            batch.insert(
                kv::queue_index_key(topic, node),
                count.to_be_bytes().to_vec(),
            );
        }
        let id = SessionId(i32::try_from(id).expect("a small id"));
        let pos = i32::try_from(before).expect("a short queue") + 1;
        let s = queued_record(id, topic, key_hash, now, seq, pos);
        batch.insert(
            kv::session_key(id),
            kv::encode_session(&s).expect("encoding the session"),
        );
        for (k, v) in kv::session_index(&s) {
            batch.insert(k, v);
        }
        self.db.apply_batch(batch)?;
        if self.durability == Durability::Durable {
            self.db.flush()?;
            self.log.sync_data()?;
        }
        self.created.push(s);
        Ok(id)
    }
}

impl Subject for RawSled {
    fn create(&mut self) -> SessionId {
        self.try_create().expect("the raw sled batch")
    }

    fn drain(&mut self, ids: &[SessionId]) {
        debug_assert_eq!(ids.len(), self.created.len());
        let mut batch = sled::Batch::default();
        for s in self.created.drain(..) {
            batch.remove(kv::session_key(s.id));
            for (k, _) in kv::session_index(&s) {
                batch.remove(k);
            }
        }
        for k in self.db.range(kv::queue_index_all()).keys() {
            batch.remove(k.expect("a queue index key"));
        }
        self.db.apply_batch(batch).expect("draining the sessions");
        if self.durability == Durability::Durable {
            self.db.flush().expect("flushing the drain");
        }
    }
}
