//! What the benchmarks' raw baseline needs to write literally what the backend
//! writes for `create_chat_session_for_topic`: the sled configuration, the key
//! builders and the row encoders. Not part of the supported API (hidden, may
//! change with any release).

use crate::{DEFAULT_CACHE_BYTES, keys, rows, sled_config, tx};
use chatdesk::model::{MemberRecord, PresenceRecord, SessionRecord};
use chatdesk::{Durability, IdKind, Result, SessionId, TopicId, UserId};
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
