//! What the benchmarks' raw baseline needs to write literally what the backend
//! writes for `create_chat_session_for_topic`: the sled configuration, the key
//! builders and the row encoders. Not part of the supported API (hidden, may
//! change with any release).

use crate::{DEFAULT_CACHE_BYTES, keys, rows, sled_config, tx};
use chatdesk::backend::IdKind;
use chatdesk::backend::{MemberRecord, PresenceRecord, SessionRecord};
use chatdesk::{Durability, Result, SessionId, TopicId, UserId};
use std::ops::Bound;
use std::path::Path;

/// A range of keys, as `sled::Tree::range` takes it.
pub type Bounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The configuration [`crate::SledStorage::open`] opens `path` with.
pub fn config(path: &Path, durability: Durability) -> sled::Config {
    sled_config(path, durability, DEFAULT_CACHE_BYTES)
}

/// The key of a topic row.
pub fn topic_key(id: TopicId) -> Vec<u8> {
    tx::topic_key(id)
}

/// Every membership key of `topic` (the range `topic_members` scans).
pub fn members_of(topic: TopicId) -> Bounds {
    keys::all_in(&tx::members_prefix(topic))
}

/// The key of a presence row.
pub fn presence_key(user: UserId) -> Vec<u8> {
    tx::presence_key(user)
}

/// The key of an id counter.
pub fn counter_key(kind: IdKind) -> Vec<u8> {
    keys::counter(kind)
}

/// The key of a session row.
pub fn session_key(id: SessionId) -> Vec<u8> {
    tx::session_key(id)
}

/// The key of one node of the counted queue index (value: i64 big-endian).
pub fn queue_index_key(topic: TopicId, node: u64) -> Vec<u8> {
    keys::Key::new(keys::QUEUE_INDEX)
        .i32(topic.0)
        .u64(node)
        .build()
}

/// Every key of the counted queue index.
pub fn queue_index_all() -> Bounds {
    keys::all_in(&[keys::QUEUE_INDEX])
}

/// Every index entry (key, value) the backend writes for a session.
pub fn session_index(s: &SessionRecord) -> Vec<(Vec<u8>, Vec<u8>)> {
    tx::session_index(s)
}

/// A session row as stored (version byte + postcard).
///
/// # Errors
/// postcard's failure to encode.
pub fn encode_session(s: &SessionRecord) -> Result<Vec<u8>> {
    rows::encode_session(s)
}

/// An id counter value as stored.
pub fn encode_counter(v: i64) -> Vec<u8> {
    rows::encode_counter(v)
}

/// Decodes an id counter value stored under `key`.
///
/// # Errors
/// `Corrupt` when it is not a counter value.
pub fn decode_counter(key: &[u8], bytes: &[u8]) -> Result<i64> {
    rows::decode_counter(key, bytes)
}

/// Decodes a membership stored under `key`.
///
/// # Errors
/// `Corrupt` when it is not a membership value.
pub fn decode_member(key: &[u8], bytes: &[u8]) -> Result<MemberRecord> {
    rows::decode_member(key, bytes)
}

/// Decodes a presence stored under `key`.
///
/// # Errors
/// `Corrupt` when it is not a presence value.
pub fn decode_presence(key: &[u8], bytes: &[u8]) -> Result<PresenceRecord> {
    rows::decode_presence(key, bytes)
}

/// The key of a session's key-hash index entry (value: the id, i32 big-endian).
pub fn session_by_key_key(key_hash: &[u8; 32]) -> Vec<u8> {
    keys::Key::new(keys::SESSION_BY_KEY).bytes(key_hash).build()
}

/// The key of a membership row.
pub fn member_key(topic: TopicId, user: UserId) -> Vec<u8> {
    keys::Key::new(keys::MEMBER)
        .i32(topic.0)
        .i32(user.0)
        .build()
}

/// Every by-user membership index key of `user` (the topic id trails).
pub fn memberships_of(user: UserId) -> Bounds {
    keys::all_in(&keys::Key::new(keys::MEMBER_BY_USER).i32(user.0).build())
}

/// The status index entries of `status` after session `after` (the session
/// id trails the key).
pub fn status_after(status: i32, after: SessionId) -> Bounds {
    let prefix = keys::Key::new(keys::SESSION_BY_STATUS).i32(status).build();
    keys::after_in(&prefix, &keys::i32_bytes(after.0))
}

/// The active-session index entries of `user` (the session id trails).
pub fn active_of(user: UserId) -> Bounds {
    keys::all_in(&keys::Key::new(keys::ACTIVE).i32(user.0).build())
}

/// The human queue of `topic` (key: prefix, topic, u64 sequence; value: the
/// session id).
pub fn queue_of(topic: TopicId) -> Bounds {
    keys::all_in(&keys::Key::new(keys::QUEUE).i32(topic.0).build())
}

/// The key of a message row.
pub fn message_key(session: SessionId, id: chatdesk::MessageId) -> Vec<u8> {
    keys::Key::new(keys::MESSAGE)
        .i32(session.0)
        .i32(id.0)
        .build()
}

/// The messages of `session` after message `after`.
pub fn messages_after(session: SessionId, after: chatdesk::MessageId) -> Bounds {
    let prefix = keys::Key::new(keys::MESSAGE).i32(session.0).build();
    keys::after_in(&prefix, &keys::i32_bytes(after.0))
}

/// Decodes a session stored under `key`.
///
/// # Errors
/// `Corrupt` when it is not a session value.
pub fn decode_session(key: &[u8], bytes: &[u8]) -> Result<SessionRecord> {
    rows::decode_session(key, bytes)
}

/// Decodes a topic stored under `key`.
///
/// # Errors
/// `Corrupt` when it is not a topic value.
pub fn decode_topic(key: &[u8], bytes: &[u8]) -> Result<chatdesk::backend::TopicRecord> {
    rows::decode_topic(key, bytes)
}

/// A topic row as stored.
///
/// # Errors
/// The encoder's failure.
pub fn encode_topic(t: &chatdesk::backend::TopicRecord) -> Result<Vec<u8>> {
    rows::encode_topic(t)
}

/// A message row as stored.
///
/// # Errors
/// The encoder's failure.
pub fn encode_message(m: &chatdesk::backend::MessageRecord) -> Result<Vec<u8>> {
    rows::encode_message(m)
}

/// Decodes a message stored under `key`.
///
/// # Errors
/// `Corrupt` when it is not a message value.
pub fn decode_message(key: &[u8], bytes: &[u8]) -> Result<chatdesk::backend::MessageRecord> {
    rows::decode_message(key, bytes)
}

/// Opens sled's log file in store directory `dir`, for a baseline to
/// `sync_data` after each flush as the backend does in durable mode.
///
/// # Errors
/// When the file cannot be opened.
pub fn open_log_file(dir: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(dir.join(crate::engine::LOG_FILE))
}

/// Opens plain sled at `path` with [`config`], waiting (up to 3 s) for a
/// just-closed handle's threads to release the directory lock, as
/// [`crate::SledStorage::open`] does.
///
/// # Errors
/// sled's failure to open.
pub fn open_db(path: &Path, durability: Durability) -> sled::Result<sled::Db> {
    crate::open_waiting_for_lock(&config(path, durability))
}
