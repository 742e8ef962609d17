//! One transaction over the store's two trees: reads go through the overlay
//! of its own pending writes (one per tree), writes only touch the overlays. A read transaction is the
//! same type with an overlay that stays empty.

mod events;

use crate::engine::Engine;
use crate::keys::{self, Key, Shelf, after_in, all_in, i32_bytes, i32_from};
use crate::overlay::{Overlay, Pending, Writes};
use crate::queue_cache::QueueCache;
use crate::rows;
use chatdesk::ChatSessionStatus;
use chatdesk::backend::next_after;
use chatdesk::backend::{
    AgentRecord, EventRecord, MemberRecord, MessageRecord, PresenceRecord, SessionRecord,
    TopicRecord,
};
use chatdesk::backend::{IdKind, ReadTx, WriteTx};
use chatdesk::{Error, MessageId, Result, SessionId, Timestamp, TopicId, UserId};
use std::ops::Bound;

pub(crate) type Bounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);
type Decoder<T> = fn(&[u8], &[u8]) -> Result<T>;
/// One entry of a scan through an overlay.
type Entry = Result<(Vec<u8>, Vec<u8>)>;
/// One entry of a scan, with the shelf it was found on.
type ShelfEntry = Result<(Vec<u8>, (Shelf, Vec<u8>))>;

/// A transaction: the committed trees plus this transaction's pending writes.
#[derive(Debug)]
pub(crate) struct Tx<'a> {
    engine: &'a Engine,
    /// The in-memory copy of the queue index, where the store has one.
    queue: Option<&'a QueueCache>,
    /// Pending writes to the default tree.
    overlay: Overlay,
    /// Pending writes to the history tree.
    history: Overlay,
}

/// Whether no key can lie within `b` (sled and `BTreeMap` dislike such ranges).
fn is_empty_range(b: &Bounds) -> bool {
    match b {
        (Bound::Included(lo), Bound::Included(hi)) => lo > hi,
        (Bound::Included(lo) | Bound::Excluded(lo), Bound::Excluded(hi))
        | (Bound::Excluded(lo), Bound::Included(hi)) => lo >= hi,
        _ => false,
    }
}

/// The session id at the end of an index key.
fn trailing_session(key: &[u8], _value: &[u8]) -> Result<SessionId> {
    key.len()
        .checked_sub(4)
        .and_then(|at| key.get(at..))
        .and_then(i32_from)
        .map(SessionId)
        .ok_or_else(|| Error::corrupt(format!("index key {key:02x?}: no session id")))
}

/// The session id held as an index value.
fn session_value(key: &[u8], value: &[u8]) -> Result<SessionId> {
    i32_from(value)
        .map(SessionId)
        .ok_or_else(|| Error::corrupt(format!("{}: not a session id", keys::describe(key))))
}

pub(crate) fn session_key(id: SessionId) -> Vec<u8> {
    Key::new(keys::SESSION).i32(id.0).build()
}

pub(crate) fn topic_key(id: TopicId) -> Vec<u8> {
    Key::new(keys::TOPIC).i32(id.0).build()
}

pub(crate) fn presence_key(user: UserId) -> Vec<u8> {
    Key::new(keys::PRESENCE).i32(user.0).build()
}

/// The prefix of a topic's memberships.
pub(crate) fn members_prefix(topic: TopicId) -> Vec<u8> {
    Key::new(keys::MEMBER).i32(topic.0).build()
}

fn member_key(topic: TopicId, user: UserId) -> Vec<u8> {
    Key::new(keys::MEMBER).i32(topic.0).i32(user.0).build()
}

fn member_by_user_key(user: UserId, topic: TopicId) -> Vec<u8> {
    Key::new(keys::MEMBER_BY_USER)
        .i32(user.0)
        .i32(topic.0)
        .build()
}

fn queue_prefix(topic: TopicId) -> Vec<u8> {
    Key::new(keys::QUEUE).i32(topic.0).build()
}

/// Every index entry of `s`, from the record's own methods only.
pub(crate) fn session_index(s: &SessionRecord) -> Vec<(Vec<u8>, Vec<u8>)> {
    session_index_entries(s)
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .collect()
}

/// Every index entry of `s`, each with whether it lives beside the
/// session's row (its key, status, topic and request-time entries: on the
/// session's shelf) or always in the default tree (queue, active-set and
/// pending-transfer entries, which only open sessions have).
fn session_index_entries(s: &SessionRecord) -> Vec<(bool, Vec<u8>, Vec<u8>)> {
    let mut out = v4_index_entries(s);
    out.extend(v5_index_entries(s));
    out
}

/// The index entries store v5 added: the request-time entry (beside the
/// row) and the pending-transfer entry (default tree).
fn v5_index_entries(s: &SessionRecord) -> Vec<(bool, Vec<u8>, Vec<u8>)> {
    let mut out = vec![(true, requested_key(s.when_requested, s.id), Vec::new())];
    if let Some(to) = s.pending_transfer_to() {
        out.push((
            false,
            Key::new(keys::TRANSFER).i32(to.0).i32(s.id.0).build(),
            Vec::new(),
        ));
    }
    out
}

/// The request-time index key of a session.
fn requested_key(when: Timestamp, id: SessionId) -> Vec<u8> {
    Key::new(keys::REQUESTED).i64(when.0).i32(id.0).build()
}

fn free_key(topic: TopicId, user: UserId) -> Vec<u8> {
    Key::new(keys::FREE).i32(topic.0).i32(user.0).build()
}

fn agent_key(user: UserId) -> Vec<u8> {
    Key::new(keys::AGENT).i32(user.0).build()
}

/// The index entries of store v4 (what the v3 → v4 upgrade moves: that
/// published step must not change with later layouts).
fn v4_index_entries(s: &SessionRecord) -> Vec<(bool, Vec<u8>, Vec<u8>)> {
    let id = i32_bytes(s.id.0).to_vec();
    let mut out = vec![
        (
            true,
            Key::new(keys::SESSION_BY_KEY).bytes(&s.key_hash).build(),
            id.clone(),
        ),
        (
            true,
            Key::new(keys::SESSION_BY_STATUS)
                .i32(s.status.code())
                .i32(s.id.0)
                .build(),
            Vec::new(),
        ),
        (
            true,
            Key::new(keys::SESSION_BY_TOPIC)
                .i32(s.topic.0)
                .i32(s.id.0)
                .build(),
            Vec::new(),
        ),
    ];
    if let Some(seq) = s.human_queue_seq() {
        out.push((
            false,
            Key::new(keys::QUEUE).i32(s.topic.0).u64(seq).build(),
            id,
        ));
    }
    if let Some(user) = s.active_user() {
        out.push((
            false,
            Key::new(keys::ACTIVE).i32(user.0).i32(s.id.0).build(),
            Vec::new(),
        ));
    }
    out
}

fn messages_prefix(session: SessionId) -> Vec<u8> {
    Key::new(keys::MESSAGE).i32(session.0).build()
}

/// Two ordered entry streams (of different trees: no key is in both) merged
/// in key order.
fn merge_ordered<'a, V: 'a>(
    a: impl Iterator<Item = Result<(Vec<u8>, V)>> + 'a,
    b: impl Iterator<Item = Result<(Vec<u8>, V)>> + 'a,
) -> impl Iterator<Item = Result<(Vec<u8>, V)>> + 'a {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || {
        let take_a = match (a.peek(), b.peek()) {
            (None, None) => return None,
            (Some(_), None) | (Some(Err(_)), _) => true,
            (None, Some(_)) | (_, Some(Err(_))) => false,
            (Some(Ok((ka, _))), Some(Ok((kb, _)))) => ka <= kb,
        };
        if take_a { a.next() } else { b.next() }
    })
}

impl<'a> Tx<'a> {
    /// A transaction with no pending writes.
    pub(crate) fn new(engine: &'a Engine) -> Self {
        Tx {
            engine,
            queue: None,
            overlay: Overlay::new(),
            history: Overlay::new(),
        }
    }

    /// A transaction reading the queue index from `queue` (which must match
    /// the tree: the store's gate keeps them together).
    pub(crate) fn with_queue_cache(engine: &'a Engine, queue: &'a QueueCache) -> Self {
        Tx {
            engine,
            queue: Some(queue),
            overlay: Overlay::new(),
            history: Overlay::new(),
        }
    }

    /// The pending writes, to commit.
    pub(crate) fn into_writes(self) -> Writes {
        Writes {
            open: self.overlay,
            history: self.history,
        }
    }

    fn pending(&self, shelf: Shelf) -> &Overlay {
        match shelf {
            Shelf::Open => &self.overlay,
            Shelf::History => &self.history,
        }
    }

    fn pending_mut(&mut self, shelf: Shelf) -> &mut Overlay {
        match shelf {
            Shelf::Open => &mut self.overlay,
            Shelf::History => &mut self.history,
        }
    }

    /// A point read of the default tree through the overlay.
    pub(crate) fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_in(Shelf::Open, key)
    }

    /// A point read of `shelf`'s tree through its overlay.
    fn get_in(&self, shelf: Shelf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.pending(shelf).get(key) {
            Pending::Put(v) => Ok(Some(v.to_vec())),
            Pending::Deleted => Ok(None),
            Pending::Untouched => match self.queue {
                Some(cache) if shelf == Shelf::Open && QueueCache::holds(key) => {
                    Ok(cache.get(key).map(<[u8]>::to_vec))
                }
                _ => Ok(self.engine.get_in(shelf, key)?.map(|v| v.to_vec())),
            },
        }
    }

    /// Records a raw write (migrations use it).
    pub(crate) fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.put(key, value);
    }

    /// The entries of `shelf`'s tree in `bounds`, in key order, through its
    /// overlay.
    fn entries_in(
        &self,
        shelf: Shelf,
        bounds: Bounds,
    ) -> Result<Box<dyn Iterator<Item = Entry> + '_>> {
        if is_empty_range(&bounds) {
            return Ok(Box::new(std::iter::empty()));
        }
        let base = self.engine.range_in(shelf, bounds.clone())?;
        Ok(Box::new(self.pending(shelf).merge(base, bounds)))
    }

    /// The entries in `bounds` of both trees, in key order.
    fn entries_both(&self, bounds: Bounds) -> Result<impl Iterator<Item = Entry> + '_> {
        Ok(merge_ordered(
            self.entries_in(Shelf::Open, bounds.clone())?,
            self.entries_in(Shelf::History, bounds)?,
        ))
    }

    /// [`Tx::entries_both`], each entry with the shelf it is on.
    fn entries_both_tagged(&self, bounds: Bounds) -> Result<impl Iterator<Item = ShelfEntry> + '_> {
        let tag = |shelf: Shelf| move |e: Entry| e.map(|(k, v)| (k, (shelf, v)));
        Ok(merge_ordered(
            self.entries_in(Shelf::Open, bounds.clone())?
                .map(tag(Shelf::Open)),
            self.entries_in(Shelf::History, bounds)?
                .map(tag(Shelf::History)),
        ))
    }

    /// Visits `entries` until `f` returns `false`.
    fn visit(
        entries: impl Iterator<Item = Entry>,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        for entry in entries {
            let (k, v) = entry?;
            if !f(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    /// Visits the default tree's entries in `bounds`, in key order, through
    /// the overlay, until `f` returns `false`.
    fn scan(&self, bounds: Bounds, f: impl FnMut(&[u8], &[u8]) -> Result<bool>) -> Result<()> {
        self.scan_in(Shelf::Open, bounds, f)
    }

    /// [`Tx::scan`] over `shelf`'s tree.
    fn scan_in(
        &self,
        shelf: Shelf,
        bounds: Bounds,
        f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        Self::visit(self.entries_in(shelf, bounds)?, f)
    }

    fn get_row<T>(&self, key: &[u8], decode: Decoder<T>) -> Result<Option<T>> {
        self.get_raw(key)?.map(|v| decode(key, &v)).transpose()
    }

    fn rows<T>(&self, bounds: Bounds, limit: usize, decode: Decoder<T>) -> Result<Vec<T>> {
        self.rows_of(self.entries_in(Shelf::Open, bounds)?, limit, decode)
    }

    fn rows_of<T>(
        &self,
        entries: impl Iterator<Item = Entry>,
        limit: usize,
        decode: Decoder<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        Self::visit(entries, |k, v| {
            out.push(decode(k, v)?);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// A session with the shelf its row was found on.
    fn located_session(&self, id: SessionId) -> Result<Option<(Shelf, SessionRecord)>> {
        let key = session_key(id);
        for shelf in Shelf::BOTH {
            if let Some(v) = self.get_in(shelf, &key)? {
                return Ok(Some((shelf, rows::decode_session(&key, &v)?)));
            }
        }
        Ok(None)
    }

    /// A session whose index entry was found on `shelf`: read there first
    /// (where its row is), then on the other shelf.
    fn session_near(&self, shelf: Shelf, id: SessionId) -> Result<Option<SessionRecord>> {
        let key = session_key(id);
        for shelf in [shelf, shelf.other()] {
            if let Some(v) = self.get_in(shelf, &key)? {
                return rows::decode_session(&key, &v).map(Some);
            }
        }
        Ok(None)
    }

    /// The shelf of a session's messages: its row's (the default tree when
    /// there is no such session).
    fn message_shelf(&self, session: SessionId) -> Result<Shelf> {
        let key = session_key(session);
        if !self.has_in(Shelf::Open, &key)? && self.has_in(Shelf::History, &key)? {
            return Ok(Shelf::History);
        }
        Ok(Shelf::Open)
    }

    /// Whether `key` is in `shelf`'s tree (through its overlay), without
    /// copying its value.
    fn has_in(&self, shelf: Shelf, key: &[u8]) -> Result<bool> {
        match self.pending(shelf).get(key) {
            Pending::Put(_) => Ok(true),
            Pending::Deleted => Ok(false),
            Pending::Untouched => Ok(self.engine.get_in(shelf, key)?.is_some()),
        }
    }

    /// Moves a session's messages from one shelf to the other.
    fn move_messages(&mut self, session: SessionId, from: Shelf, to: Shelf) -> Result<()> {
        let mut moving = Vec::new();
        self.scan_in(from, all_in(&messages_prefix(session)), |k, v| {
            moving.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })?;
        for (k, v) in moving {
            self.pending_mut(from).delete(k.clone());
            self.pending_mut(to).put(k, v);
        }
        Ok(())
    }

    /// The sessions an index range points at, in index order; like the
    /// reference backend, an entry whose session is gone is skipped.
    fn indexed_sessions(
        &self,
        entries: impl Iterator<Item = Entry>,
        limit: usize,
        id_of: Decoder<SessionId>,
    ) -> Result<Vec<SessionRecord>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        Self::visit(entries, |k, v| {
            if let Some(s) = self.session(id_of(k, v)?)? {
                out.push(s);
            }
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// One node of the counted queue index (absent: 0).
    fn queue_index_count(&self, topic: TopicId, node: u64) -> Result<i64> {
        let key = Key::new(keys::QUEUE_INDEX).i32(topic.0).u64(node).build();
        match self.get_raw(&key)? {
            None => Ok(0),
            Some(v) => <[u8; 8]>::try_from(v.as_slice())
                .map(i64::from_be_bytes)
                .map_err(|_| {
                    Error::corrupt(format!(
                        "queue index node {node} of topic {topic}: not 8 bytes"
                    ))
                }),
        }
    }

    /// Applies the counted queue index's changes (see `chatdesk::backend::queue_index`).
    pub(crate) fn count_queue(
        &mut self,
        old: Option<(TopicId, u64)>,
        new: Option<(TopicId, u64)>,
    ) -> Result<()> {
        for (topic, node, delta) in chatdesk::backend::queue_index::changes(old, new)? {
            let count = self.queue_index_count(topic, node)? + delta;
            let key = Key::new(keys::QUEUE_INDEX).i32(topic.0).u64(node).build();
            if count == 0 {
                self.overlay.delete(key);
            } else {
                self.overlay.put(key, count.to_be_bytes().to_vec());
            }
        }
        Ok(())
    }

    /// Every (topic, sequence) in the human queues, for the v1 → v2 migration.
    pub(crate) fn human_queue_keys(&self) -> Result<Vec<(TopicId, u64)>> {
        let mut out = Vec::new();
        self.scan(all_in(&[keys::QUEUE]), |k, _| {
            let topic = k.get(1..5).and_then(keys::i32_from);
            let seq = k
                .get(5..13)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes);
            match (topic, seq) {
                (Some(t), Some(q)) => out.push((TopicId(t), q)),
                _ => return Err(Error::corrupt(format!("queue key {k:02x?}"))),
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Deletes `s`'s index entries, those beside its row on `shelf`.
    fn unindex_session(&mut self, s: &SessionRecord, shelf: Shelf) {
        for (beside, k, _) in session_index_entries(s) {
            self.pending_mut(if beside { shelf } else { Shelf::Open })
                .delete(k);
        }
    }

    /// Writes `s`'s index entries, those beside its row on `shelf`.
    fn index_session(&mut self, s: &SessionRecord, shelf: Shelf) -> Result<()> {
        for (beside, k, v) in session_index_entries(s) {
            self.pending_mut(if beside { shelf } else { Shelf::Open })
                .put(k, v);
        }
        // A key hash names the newest session written with it, on either
        // shelf (as on every backend): no other shelf keeps it.
        self.forget_key_hash(&s.key_hash, shelf.other())
    }

    /// Deletes the key-hash entry `key_hash` from `shelf` if it is there (a
    /// read, so that a write on one shelf does not touch the other's tree).
    fn forget_key_hash(&mut self, key_hash: &[u8; 32], shelf: Shelf) -> Result<()> {
        let key = Key::new(keys::SESSION_BY_KEY).bytes(key_hash).build();
        if self.has_in(shelf, &key)? {
            self.pending_mut(shelf).delete(key);
        }
        Ok(())
    }

    /// v3 → v4: moves every ended session (row, key/status/topic index
    /// entries, messages) from the default tree to the history tree.
    ///
    /// Entries move as they are: a key-hash entry moves only if it names
    /// the session (another session written later with the same hash keeps
    /// it, as before the upgrade). A row that does not decode stays where it
    /// is, in the default tree, where reads of that one session report it
    /// `Corrupt` as before: one damaged row does not make the store
    /// unopenable. Returns how many sessions moved.
    pub(crate) fn move_ended_sessions_to_history(&mut self) -> Result<usize> {
        let mut ended = Vec::new();
        self.scan(all_in(&[keys::SESSION]), |k, v| {
            if let Ok(s) = rows::decode_session(k, v)
                && Shelf::of(s.status) == Shelf::History
            {
                ended.push((s, v.to_vec()));
            }
            Ok(true)
        })?;
        let n = ended.len();
        for (s, row) in ended {
            let id = i32_bytes(s.id.0);
            for (beside, k, v) in v4_index_entries(&s) {
                let move_it = beside
                    && (k.first() != Some(&keys::SESSION_BY_KEY)
                        || self.get_raw(&k)?.as_deref() == Some(id.as_slice()));
                if move_it {
                    self.overlay.delete(k.clone());
                    self.history.put(k, v);
                }
            }
            self.overlay.delete(session_key(s.id));
            self.move_messages(s.id, Shelf::Open, Shelf::History)?;
            self.history.put(session_key(s.id), row);
        }
        Ok(n)
    }
}

impl Tx<'_> {
    /// v4 → v5: rewrites every session and topic row in the current row
    /// version and builds the pending-transfer and request-time indexes
    /// (entries beside each row, as [`v5_index_entries`] places them).
    ///
    /// Entries of those two prefixes already there (a store whose version
    /// was set back by hand) are dropped first, so the indexes end up
    /// exactly what the rows say. A row that does not decode is left as it
    /// is: only that session reads as `Corrupt`, as before, and the store
    /// still opens. Returns how many sessions were rewritten.
    pub(crate) fn upgrade_rows_to_v5(&mut self) -> Result<usize> {
        for shelf in Shelf::BOTH {
            let mut stale = Vec::new();
            for prefix in [keys::TRANSFER, keys::REQUESTED] {
                self.scan_in(shelf, all_in(&[prefix]), |k, _| {
                    stale.push(k.to_vec());
                    Ok(true)
                })?;
            }
            for k in stale {
                self.pending_mut(shelf).delete(k);
            }
        }
        let mut n = 0;
        for shelf in Shelf::BOTH {
            // Keys and values only (no decoded records): the upgrade holds
            // every row once, as the commit will write it.
            let mut writes: Vec<(Shelf, Vec<u8>, Vec<u8>)> = Vec::new();
            self.scan_in(shelf, all_in(&[keys::SESSION]), |k, v| {
                if let Ok(s) = rows::decode_session(k, v) {
                    writes.push((shelf, k.to_vec(), rows::encode_session(&s)?));
                    for (beside, ik, iv) in v5_index_entries(&s) {
                        writes.push((if beside { shelf } else { Shelf::Open }, ik, iv));
                    }
                    n += 1;
                }
                Ok(true)
            })?;
            for (shelf, k, v) in writes {
                self.pending_mut(shelf).put(k, v);
            }
        }
        let mut topics = Vec::new();
        self.scan(all_in(&[keys::TOPIC]), |k, v| {
            if let Ok(t) = rows::decode_topic(k, v) {
                topics.push((k.to_vec(), rows::encode_topic(&t)?));
            }
            Ok(true)
        })?;
        for (k, v) in topics {
            self.overlay.put(k, v);
        }
        Ok(n)
    }
}

impl ReadTx for Tx<'_> {
    fn topic(&self, id: TopicId) -> Result<Option<TopicRecord>> {
        self.get_row(&topic_key(id), rows::decode_topic)
    }

    fn topics(&self) -> Result<Vec<TopicRecord>> {
        self.rows(all_in(&[keys::TOPIC]), usize::MAX, rows::decode_topic)
    }

    fn topic_ids(&self) -> Result<Vec<TopicId>> {
        let mut out = Vec::new();
        self.scan(all_in(&[keys::TOPIC]), |k, v| {
            out.push(TopicId(trailing_session(k, v)?.0));
            Ok(true)
        })?;
        Ok(out)
    }

    fn member(&self, topic: TopicId, user: UserId) -> Result<Option<MemberRecord>> {
        self.get_row(&member_key(topic, user), rows::decode_member)
    }

    fn topic_members(&self, topic: TopicId) -> Result<Vec<MemberRecord>> {
        self.rows(
            all_in(&members_prefix(topic)),
            usize::MAX,
            rows::decode_member,
        )
    }

    fn user_memberships(&self, user: UserId) -> Result<Vec<MemberRecord>> {
        let prefix = Key::new(keys::MEMBER_BY_USER).i32(user.0).build();
        let mut out = Vec::new();
        self.scan(all_in(&prefix), |k, _| {
            let topic = k
                .get(prefix.len()..)
                .and_then(i32_from)
                .map(TopicId)
                .ok_or_else(|| Error::corrupt(format!("membership index key {k:02x?}")))?;
            if let Some(m) = self.member(topic, user)? {
                out.push(m);
            }
            Ok(true)
        })?;
        Ok(out)
    }

    fn all_members(&self) -> Result<Vec<MemberRecord>> {
        self.rows(all_in(&[keys::MEMBER]), usize::MAX, rows::decode_member)
    }

    fn presence(&self, user: UserId) -> Result<Option<PresenceRecord>> {
        self.get_row(&presence_key(user), rows::decode_presence)
    }

    fn presences(&self) -> Result<Vec<PresenceRecord>> {
        self.rows(all_in(&[keys::PRESENCE]), usize::MAX, rows::decode_presence)
    }

    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        Ok(self.located_session(id)?.map(|(_, s)| s))
    }

    fn session_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<SessionId>> {
        let key = Key::new(keys::SESSION_BY_KEY).bytes(key_hash).build();
        for shelf in Shelf::BOTH {
            if let Some(v) = self.get_in(shelf, &key)? {
                return session_value(&key, &v).map(Some);
            }
        }
        Ok(None)
    }

    fn sessions_by_status(
        &self,
        status: ChatSessionStatus,
        after: SessionId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let prefix = Key::new(keys::SESSION_BY_STATUS).i32(status.code()).build();
        self.indexed_sessions(
            self.entries_in(Shelf::of(status), after_in(&prefix, &i32_bytes(after.0)))?,
            limit,
            trailing_session,
        )
    }

    fn topic_sessions(
        &self,
        topic: TopicId,
        after: SessionId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let prefix = Key::new(keys::SESSION_BY_TOPIC).i32(topic.0).build();
        self.indexed_sessions(
            self.entries_both(after_in(&prefix, &i32_bytes(after.0)))?,
            limit,
            trailing_session,
        )
    }

    fn sessions(&self, after: SessionId, limit: usize) -> Result<Vec<SessionRecord>> {
        self.rows_of(
            self.entries_both(after_in(&[keys::SESSION], &i32_bytes(after.0)))?,
            limit,
            rows::decode_session,
        )
    }

    fn session_ids(&self, after: SessionId, limit: usize) -> Result<Vec<SessionId>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let entries = self.entries_both(after_in(&[keys::SESSION], &i32_bytes(after.0)))?;
        Self::visit(entries, |k, v| {
            out.push(trailing_session(k, v)?);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    fn active_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        let prefix = Key::new(keys::ACTIVE).i32(user.0).build();
        self.indexed_sessions(
            self.entries_in(Shelf::Open, all_in(&prefix))?,
            usize::MAX,
            trailing_session,
        )
    }

    fn transfers_to(&self, user: UserId) -> Result<Vec<SessionId>> {
        let prefix = Key::new(keys::TRANSFER).i32(user.0).build();
        let mut out = Vec::new();
        self.scan(all_in(&prefix), |k, v| {
            out.push(trailing_session(k, v)?);
            Ok(true)
        })?;
        Ok(out)
    }

    fn agent(&self, user: UserId) -> Result<Option<AgentRecord>> {
        self.get_row(&agent_key(user), rows::decode_agent)
    }

    fn agent_load(&self, user: UserId) -> Result<i32> {
        // Counts index keys: no session is decoded.
        let active = Key::new(keys::ACTIVE).i32(user.0).build();
        let mut n = 0usize;
        for entry in self.entries_in(Shelf::Open, all_in(&active))? {
            entry?;
            n += 1;
        }
        let transfers = Key::new(keys::TRANSFER).i32(user.0).build();
        let mut m = 0usize;
        self.scan(all_in(&transfers), |_, _| {
            m += 1;
            Ok(true)
        })?;
        Ok(i32::try_from(n + m).unwrap_or(i32::MAX))
    }

    fn routing_free(&self, topic: TopicId) -> Result<Vec<UserId>> {
        let prefix = Key::new(keys::FREE).i32(topic.0).build();
        let mut out = Vec::new();
        self.scan(all_in(&prefix), |k, v| {
            // The user id is the key's last four bytes (as a session id is in
            // the other sets).
            out.push(UserId(trailing_session(k, v)?.0));
            Ok(true)
        })?;
        Ok(out)
    }

    fn routing_is_free(&self, topic: TopicId, user: UserId) -> Result<bool> {
        Ok(self.get_raw(&free_key(topic, user))?.is_some())
    }

    fn sessions_requested(
        &self,
        after: (Timestamp, SessionId),
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let bounds = (
            Bound::Excluded(requested_key(after.0, after.1)),
            Bound::Excluded(Key::new(keys::REQUESTED).i64(before.0).build()),
        );
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for entry in self.entries_both_tagged(bounds)? {
            let (k, (shelf, v)) = entry?;
            if let Some(s) = self.session_near(shelf, trailing_session(&k, &v)?)? {
                out.push(s);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn queue_index_sum(&self, topic: TopicId, nodes: &[u64]) -> Result<i64> {
        let mut sum = 0i64;
        for node in nodes {
            sum += self.queue_index_count(topic, *node)?;
        }
        Ok(sum)
    }

    fn queue(&self, topic: TopicId, after_seq: u64, limit: usize) -> Result<Vec<(u64, SessionId)>> {
        let prefix = queue_prefix(topic);
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.scan(after_in(&prefix, &after_seq.to_be_bytes()), |k, v| {
            let seq = k
                .get(prefix.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| Error::corrupt(format!("queue key {k:02x?}: no sequence")))?;
            out.push((seq, session_value(k, v)?));
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    fn messages(
        &self,
        session: SessionId,
        after: MessageId,
        limit: usize,
    ) -> Result<Vec<MessageRecord>> {
        let prefix = messages_prefix(session);
        self.rows_of(
            self.entries_in(
                self.message_shelf(session)?,
                after_in(&prefix, &i32_bytes(after.0)),
            )?,
            limit,
            rows::decode_message,
        )
    }

    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<EventRecord>> {
        events::events_after(self, after, limit)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        events::meta(self, key)
    }
}

impl WriteTx for Tx<'_> {
    fn next_id(&mut self, kind: IdKind) -> Result<i64> {
        let key = keys::counter(kind);
        let last = self.get_row(&key, rows::decode_counter)?.unwrap_or(0);
        let next = next_after(kind, last)?;
        self.overlay.put(key, rows::encode_counter(next));
        Ok(next)
    }

    fn put_topic(&mut self, topic: &TopicRecord) -> Result<()> {
        let value = rows::encode_topic(topic)?;
        self.overlay.put(topic_key(topic.id), value);
        Ok(())
    }

    fn delete_topic(&mut self, id: TopicId) -> Result<()> {
        self.overlay.delete(topic_key(id));
        Ok(())
    }

    fn put_member(&mut self, member: &MemberRecord) -> Result<()> {
        let value = rows::encode_member(member)?;
        self.overlay
            .put(member_key(member.topic, member.user), value);
        self.overlay
            .put(member_by_user_key(member.user, member.topic), Vec::new());
        Ok(())
    }

    fn delete_member(&mut self, topic: TopicId, user: UserId) -> Result<()> {
        self.overlay.delete(member_key(topic, user));
        self.overlay.delete(member_by_user_key(user, topic));
        Ok(())
    }

    fn put_presence(&mut self, presence: &PresenceRecord) -> Result<()> {
        let value = rows::encode_presence(presence)?;
        self.overlay.put(presence_key(presence.user), value);
        Ok(())
    }

    fn put_agent(&mut self, agent: &AgentRecord) -> Result<()> {
        let value = rows::encode_agent(agent)?;
        self.overlay.put(agent_key(agent.user), value);
        Ok(())
    }

    fn set_routing_free(&mut self, topic: TopicId, user: UserId, free: bool) -> Result<()> {
        if free {
            self.overlay.put(free_key(topic, user), Vec::new());
        } else {
            self.overlay.delete(free_key(topic, user));
        }
        Ok(())
    }

    fn put_session(&mut self, session: &SessionRecord) -> Result<()> {
        let value = rows::encode_session(session)?;
        let old = self.located_session(session.id)?;
        let key = |s: &SessionRecord| s.human_queue_seq().map(|q| (s.topic, q));
        self.count_queue(old.as_ref().and_then(|(_, s)| key(s)), key(session))?;
        let to = Shelf::of(session.status);
        // Where its messages are: beside the old row, or (no row yet) in
        // the default tree, where messages of an unknown session go.
        let from = match old {
            Some((shelf, old)) => {
                self.unindex_session(&old, shelf);
                if old.key_hash != session.key_hash {
                    self.forget_key_hash(&old.key_hash, shelf.other())?;
                }
                if shelf != to {
                    self.pending_mut(shelf).delete(session_key(session.id));
                }
                shelf
            }
            None => Shelf::Open,
        };
        if from != to {
            self.move_messages(session.id, from, to)?;
        }
        self.index_session(session, to)?;
        self.pending_mut(to).put(session_key(session.id), value);
        Ok(())
    }

    fn delete_session(&mut self, id: SessionId) -> Result<()> {
        let shelf = match self.located_session(id)? {
            Some((shelf, old)) => {
                self.count_queue(old.human_queue_seq().map(|q| (old.topic, q)), None)?;
                self.unindex_session(&old, shelf);
                self.forget_key_hash(&old.key_hash, shelf.other())?;
                self.pending_mut(shelf).delete(session_key(id));
                shelf
            }
            None => Shelf::Open,
        };
        let mut doomed = Vec::new();
        self.scan_in(shelf, all_in(&messages_prefix(id)), |k, _| {
            doomed.push(k.to_vec());
            Ok(true)
        })?;
        for k in doomed {
            self.pending_mut(shelf).delete(k);
        }
        Ok(())
    }

    fn put_message(&mut self, message: &MessageRecord) -> Result<()> {
        let value = rows::encode_message(message)?;
        let shelf = self.message_shelf(message.session)?;
        self.pending_mut(shelf).put(
            Key::new(keys::MESSAGE)
                .i32(message.session.0)
                .i32(message.id.0)
                .build(),
            value,
        );
        Ok(())
    }

    fn put_event(&mut self, event: &EventRecord) -> Result<()> {
        events::put_event(self, event)
    }

    fn delete_events_through(&mut self, seq: i64) -> Result<usize> {
        events::delete_events_through(self, seq)
    }

    fn put_meta(&mut self, key: &str, value: &str) -> Result<()> {
        events::put_meta(self, key, value)
    }
}
