//! Key layout: one byte of prefix, then big-endian, order-preserving fields, so
//! that every ordered access path is a range scan. Keys of ended sessions
//! live in the history tree ([`Shelf`]), with the same layout: a scan that
//! may cross both (all sessions, a topic's sessions, the request-time index)
//! merges the two in key order.

use chatdesk::backend::IdKind;
use std::ops::Bound;

/// Id counters: `COUNTER` + kind name → i64.
pub(crate) const COUNTER: u8 = 0x01;
/// Topics: `TOPIC` + topic → topic row.
pub(crate) const TOPIC: u8 = 0x02;
/// Memberships: `MEMBER` + topic + user → member row.
pub(crate) const MEMBER: u8 = 0x03;
/// Memberships by user: `MEMBER_BY_USER` + user + topic → (empty).
pub(crate) const MEMBER_BY_USER: u8 = 0x04;
/// Presences: `PRESENCE` + user → presence row.
pub(crate) const PRESENCE: u8 = 0x05;
/// Sessions: `SESSION` + session → session row.
pub(crate) const SESSION: u8 = 0x06;
/// Sessions by key hash: `SESSION_BY_KEY` + 32 bytes → session id.
pub(crate) const SESSION_BY_KEY: u8 = 0x07;
/// Sessions by status: `SESSION_BY_STATUS` + status code + session → (empty).
pub(crate) const SESSION_BY_STATUS: u8 = 0x08;
/// Sessions by topic: `SESSION_BY_TOPIC` + topic + session → (empty).
pub(crate) const SESSION_BY_TOPIC: u8 = 0x09;
/// Human queues: `QUEUE` + topic + seq (u64) → session id.
pub(crate) const QUEUE: u8 = 0x0A;
/// Active sessions: `ACTIVE` + user + session → (empty).
pub(crate) const ACTIVE: u8 = 0x0B;
/// Messages: `MESSAGE` + session + message → message row.
pub(crate) const MESSAGE: u8 = 0x0C;
/// The counted queue index (v2): `QUEUE_INDEX` + topic + node (u64) → count (i64).
pub(crate) const QUEUE_INDEX: u8 = 0x0D;
/// The change feed (v3): `EVENT` + seq (u64) → event row.
pub(crate) const EVENT: u8 = 0x0E;
/// The store's settings map (v3): `SETTING` + key (UTF-8) → setting row.
pub(crate) const SETTING: u8 = 0x0F;
/// Pending transfers (v5): `TRANSFER` + target user + session → (empty),
/// from `SessionRecord::pending_transfer_to`. Only active (so open)
/// sessions have one: always in the default tree, like `ACTIVE`.
pub(crate) const TRANSFER: u8 = 0x10;
/// The request-time index (v5): `REQUESTED` + WhenRequested (i64) +
/// session → (empty), beside the session's row (see [`Shelf`]).
pub(crate) const REQUESTED: u8 = 0x11;
/// What routing keeps per agent (v5): `AGENT` + user → agent row.
pub(crate) const AGENT: u8 = 0x12;
/// The routing index (v5): `FREE` + topic + user → (empty), the agents the
/// service marked free in a topic (a plain set; only Auto topics have any).
pub(crate) const FREE: u8 = 0x13;
/// Store metadata (the schema version key lives here).
pub(crate) const META: u8 = 0xFF;

/// The sled tree holding ended sessions (v4).
pub(crate) const HISTORY_TREE: &[u8] = b"history";

/// Which of the store's two trees a key lives in (v4).
///
/// Ended sessions (Closed, Finished, Deleted... everything that is not an
/// open state) live with their rows, their key/status/topic and (v5)
/// request-time index entries and their messages in the history tree; everything else (open sessions,
/// queues, active sets, counters, topics, the feed...) in sled's default
/// tree. A million closed chats then leave the tree every open session's
/// reads and writes descend as small as it was (measured: a point read
/// 0.42 → 0.25 µs beside 1 000 000 closed sessions in one tree or two).
///
/// The request-time index follows the same rule rather than sitting in
/// one tree: in the default tree it would grow with the history, in the
/// history tree every new session would write both trees. Split, a range
/// of it (one day's report) is one seek and a short scan in each tree,
/// whatever the history holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shelf {
    /// sled's default tree.
    Open,
    /// The history tree.
    History,
}

impl Shelf {
    /// Both shelves, open first.
    pub(crate) const BOTH: [Shelf; 2] = [Shelf::Open, Shelf::History];

    /// The other shelf.
    pub(crate) fn other(self) -> Shelf {
        match self {
            Shelf::Open => Shelf::History,
            Shelf::History => Shelf::Open,
        }
    }

    /// The shelf a session in `status` lives on.
    pub(crate) fn of(status: chatdesk::ChatSessionStatus) -> Shelf {
        if chatdesk::backend::status_is_open(status) {
            Shelf::Open
        } else {
            Shelf::History
        }
    }
}

/// The key holding the store's magic and schema version.
pub(crate) const SCHEMA_KEY: &[u8] = b"\xFFmeta/schema";

/// An i32 as 4 bytes that sort like the signed value (the sign bit flipped).
pub(crate) fn i32_bytes(v: i32) -> [u8; 4] {
    (v.cast_unsigned() ^ 0x8000_0000).to_be_bytes()
}

/// An i64 as 8 bytes that sort like the signed value (the sign bit flipped).
pub(crate) fn i64_bytes(v: i64) -> [u8; 8] {
    (v.cast_unsigned() ^ 0x8000_0000_0000_0000).to_be_bytes()
}

/// The inverse of [`i32_bytes`]; `None` unless `b` is exactly 4 bytes.
pub(crate) fn i32_from(b: &[u8]) -> Option<i32> {
    let arr: [u8; 4] = b.try_into().ok()?;
    Some((u32::from_be_bytes(arr) ^ 0x8000_0000).cast_signed())
}

/// A key builder: a prefix byte, then fields.
#[derive(Debug, Clone)]
pub(crate) struct Key(Vec<u8>);

impl Key {
    /// A key starting with `prefix`.
    pub(crate) fn new(prefix: u8) -> Self {
        let mut v = Vec::with_capacity(16);
        v.push(prefix);
        Key(v)
    }

    /// Appends an order-preserving i32.
    pub(crate) fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&i32_bytes(v));
        self
    }

    /// Appends an order-preserving i64.
    pub(crate) fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&i64_bytes(v));
        self
    }

    /// Appends a big-endian u64.
    pub(crate) fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends raw bytes.
    pub(crate) fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }

    /// The finished key.
    pub(crate) fn build(self) -> Vec<u8> {
        self.0
    }
}

/// The counter key of `kind`.
pub(crate) fn counter(kind: IdKind) -> Vec<u8> {
    Key::new(COUNTER).bytes(kind.name().as_bytes()).build()
}

/// The smallest key greater than every key starting with `prefix`
/// (`Unbounded` when there is none).
pub(crate) fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// Every key starting with `prefix` and greater than `prefix + after`.
pub(crate) fn after_in(prefix: &[u8], after: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let mut lo = prefix.to_vec();
    lo.extend_from_slice(after);
    (Bound::Excluded(lo), prefix_end(prefix))
}

/// Every key starting with `prefix`.
pub(crate) fn all_in(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    (Bound::Included(prefix.to_vec()), prefix_end(prefix))
}

/// A readable name for a key, for error messages ("session 42").
pub(crate) fn describe(key: &[u8]) -> String {
    let Some((&prefix, rest)) = key.split_first() else {
        return "the empty key".to_owned();
    };
    let ints = |n: usize| -> String {
        rest.chunks(4)
            .take(n)
            .map(|c| i32_from(c).map_or_else(|| format!("{c:02x?}"), |v| v.to_string()))
            .collect::<Vec<_>>()
            .join("/")
    };
    match prefix {
        COUNTER => format!("counter {}", String::from_utf8_lossy(rest)),
        TOPIC => format!("topic {}", ints(1)),
        MEMBER => format!("membership (topic/user) {}", ints(2)),
        PRESENCE => format!("presence of user {}", ints(1)),
        SESSION => format!("session {}", ints(1)),
        MESSAGE => format!("message (session/message) {}", ints(2)),
        QUEUE => format!("queue entry of topic {}", ints(1)),
        SESSION_BY_KEY => "session key index entry".to_owned(),
        EVENT => match <[u8; 8]>::try_from(rest) {
            Ok(b) => format!("change-feed event {}", u64::from_be_bytes(b)),
            Err(_) => format!("change-feed key {rest:02x?}"),
        },
        SETTING => format!("setting {}", String::from_utf8_lossy(rest)),
        AGENT => format!("agent {}", ints(1)),
        FREE => format!("routing index entry (topic/user) {}", ints(2)),
        TRANSFER => format!("pending transfer (user/session) {}", ints(2)),
        REQUESTED => "request-time index entry".to_owned(),
        META => format!("metadata key {}", String::from_utf8_lossy(rest)),
        _ => format!("key {key:02x?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i32_bytes_sort_like_the_values() {
        let vals = [i32::MIN, -70_000, -1, 0, 1, 255, 256, i32::MAX];
        for w in vals.windows(2) {
            assert!(i32_bytes(w[0]) < i32_bytes(w[1]), "{w:?}");
        }
        for v in vals {
            assert_eq!(i32_from(&i32_bytes(v)), Some(v));
        }
        assert_eq!(i32_from(&[1, 2, 3]), None);
    }

    #[test]
    fn i64_bytes_sort_like_the_values() {
        let vals = [i64::MIN, -(1 << 40), -1, 0, 1, 255, 1 << 40, i64::MAX];
        for w in vals.windows(2) {
            assert!(i64_bytes(w[0]) < i64_bytes(w[1]), "{w:?}");
        }
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Bound::Excluded(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xFF]), Bound::Excluded(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), Bound::Unbounded);
    }

    #[test]
    fn describe_names_records() {
        assert_eq!(describe(&Key::new(SESSION).i32(42).build()), "session 42");
        assert_eq!(describe(&counter(IdKind::Topic)), "counter topic");
        assert_eq!(describe(&[]), "the empty key");
    }
}
