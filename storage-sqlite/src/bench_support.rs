//! What the benchmarks' raw baseline needs to do literally what the backend
//! does for `create_chat_session_for_topic`: the same statement texts and a
//! write connection opened with the same pragmas. Not part of the supported
//! API (hidden, may change with any release).

use crate::{Role, SqliteOptions, configure, connect};
use chatdesk::{Durability, Result};
use rusqlite::Connection;
use std::path::Path;

/// Reads a topic row by id (`?1`).
pub const SELECT_TOPIC: &str = crate::tx::SELECT_TOPIC;
/// Lists a topic's memberships (`?1` = topic), by user id.
pub const SELECT_TOPIC_MEMBERS: &str = crate::tx::SELECT_TOPIC_MEMBERS;
/// Reads a user's presence (`?1` = user).
pub const SELECT_PRESENCE: &str = crate::tx::SELECT_PRESENCE;
/// Reads an id counter (`?1` = `IdKind::name`).
pub const SELECT_COUNTER: &str = crate::tx::SELECT_COUNTER;
/// Advances an id counter (`?1` = `IdKind::name`, `?2` = the new last id).
pub const UPSERT_COUNTER: &str = crate::tx::UPSERT_COUNTER;
/// Reads a session's human-queue key (`?1` = session id).
pub const SELECT_QUEUE_KEY: &str = crate::tx::SELECT_QUEUE_KEY;
/// Adds to one node of the counted queue index (`?1` topic, `?2` node, `?3` delta).
pub const UPSERT_QUEUE_INDEX: &str = crate::tx::UPSERT_QUEUE_INDEX;
/// How many node slots [`sum_queue_index`]'s statement has (padded with node 0).
pub const QUEUE_INDEX_SLOTS: usize = crate::tx::QUEUE_INDEX_SLOTS;

/// Sums nodes of the counted queue index (`?1` topic, then
/// [`QUEUE_INDEX_SLOTS`] node slots padded with 0).
pub fn sum_queue_index() -> &'static str {
    crate::tx::SUM_QUEUE_INDEX.as_str()
}
/// Inserts or replaces a session row: the 41 record columns in the order of
/// the schema docs, then `human_queue_seq`, `active_user` and
/// `pending_transfer_to` (`?1`–`?44`).
pub const UPSERT_SESSION: &str = crate::tx::UPSERT_SESSION;

/// A write connection to the store at `path` as [`crate::SqliteStorage`]
/// opens its own: the same busy timeout, statement cache size and pragmas
/// (WAL, `synchronous` for `durability`, `foreign_keys`). The file must
/// already hold a store (it is neither checked nor initialised here).
///
/// # Errors
/// SQLite's failure to open the file or to set a pragma.
pub fn open_writer(path: &Path, durability: Durability) -> Result<Connection> {
    let options = SqliteOptions {
        durability,
        ..SqliteOptions::default()
    };
    let conn = connect(path, &options)?;
    configure(&conn, &options, Role::Writer)?;
    Ok(conn)
}

/// Reads a session row by id (`?1`): the 41 record columns.
pub const SELECT_SESSION: &str = crate::tx::SELECT_SESSION;
/// Finds a session id by key hash (`?1`).
pub const SELECT_SESSION_BY_KEY: &str = crate::tx::SELECT_SESSION_BY_KEY;
/// Reads one membership (`?1` topic, `?2` user).
pub const SELECT_MEMBER: &str = crate::tx::SELECT_MEMBER;
/// Lists a user's memberships (`?1` user), by topic.
pub const SELECT_USER_MEMBERSHIPS: &str = crate::tx::SELECT_USER_MEMBERSHIPS;
/// Sessions with a status (`?1`) and id > `?2`, by id, at most `?3`.
pub const SELECT_SESSIONS_BY_STATUS: &str = crate::tx::SELECT_SESSIONS_BY_STATUS;
/// A user's active sessions (`?1` user), by id.
pub const SELECT_ACTIVE_SESSIONS: &str = crate::tx::SELECT_ACTIVE_SESSIONS;
/// A session's messages (`?1`) with id > `?2`, by id, at most `?3`.
pub const SELECT_MESSAGES: &str = crate::tx::SELECT_MESSAGES;
/// A topic's human queue (`?1`) after sequence `?2`, at most `?3`: (seq, id).
pub const SELECT_QUEUE: &str = crate::tx::SELECT_QUEUE;
/// Inserts or replaces a topic row (`?1` id, `?2` name, `?3` settings JSON,
/// `?4` last accept, `?5` seconds per accept, `?6`–`?10` the routing
/// settings: mode and strategy codes, default capacity, answer and transfer
/// timeouts).
pub const UPSERT_TOPIC: &str = crate::tx::UPSERT_TOPIC;
/// Inserts or replaces a message row (`?1`–`?9`, the columns of
/// [`SELECT_MESSAGES`] in order).
pub const UPSERT_MESSAGE: &str = crate::tx::UPSERT_MESSAGE;
/// Deletes one node of the counted queue index (`?1` topic, `?2` node),
/// when its count reaches 0.
pub const DELETE_QUEUE_INDEX: &str = crate::tx::DELETE_QUEUE_INDEX;

/// The values [`UPSERT_SESSION`] binds for a session, in column order.
///
/// # Errors
/// Validation for a queue sequence beyond i64.
pub fn session_values(s: &chatdesk::backend::SessionRecord) -> Result<Vec<rusqlite::types::Value>> {
    crate::tx::session_values(s)
}
