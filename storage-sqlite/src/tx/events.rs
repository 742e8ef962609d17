//! The change feed (`chat_event`) and the metadata map (`chatdesk_meta`),
//! schema version 3.

use super::{Cells, SqlTx, key_of, limit};
use crate::errors::{RowKey, corrupt, decode_err};
use chatdesk::EventActor;
use chatdesk::backend::{EventRecord, format_uuid, parse_uuid};
use chatdesk::{Result, SessionId, Timestamp, TopicId};
use rusqlite::{Row, params};

fn event_from_row(row: &Row<'_>) -> Result<EventRecord> {
    let seq = key_of(row, "chat_event", 0, "seq")?;
    let c = Cells {
        row,
        table: "chat_event",
        key: RowKey::Id(seq),
    };
    let id_text: String = c.get(1, "event_id")?;
    let id = parse_uuid(&id_text)
        .ok_or_else(|| corrupt("chat_event", "event_id", c.key, "not a UUID"))?;
    let actor_kind: i32 = c.get(5, "actor_kind")?;
    let actor_user: Option<i32> = c.get(6, "actor_user")?;
    let actor = EventActor::from_parts(actor_kind, actor_user).ok_or_else(|| {
        corrupt(
            "chat_event",
            "actor_kind",
            c.key,
            format!("actor {actor_kind} with user {actor_user:?}"),
        )
    })?;
    Ok(EventRecord {
        seq: c.get(0, "seq")?,
        id,
        at: Timestamp(c.get(2, "at")?),
        session: SessionId(c.get(3, "session_id")?),
        topic: TopicId(c.get(4, "topic_id")?),
        actor,
        kind: c.get(7, "kind")?,
        data: c.get(8, "data")?,
    })
}

/// `ReadTx::events_after`.
pub(super) fn events_after(tx: &SqlTx<'_>, after: i64, n: usize) -> Result<Vec<EventRecord>> {
    tx.list(
        "reading the change feed",
        "SELECT seq, event_id, at, session_id, topic_id, actor_kind, actor_user, kind, data \
         FROM chat_event WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        params![after, limit(n)],
        event_from_row,
    )
}

/// `ReadTx::meta`.
pub(super) fn meta(tx: &SqlTx<'_>, key: &str) -> Result<Option<String>> {
    tx.one(
        "reading the store's metadata",
        "SELECT value FROM chatdesk_meta WHERE key = ?1",
        params![key],
        |row| {
            row.get::<_, String>(0)
                .map_err(|e| decode_err("chatdesk_meta", "value", RowKey::Text("meta"), e))
        },
    )
}

/// `WriteTx::put_event`.
pub(super) fn put_event(tx: &SqlTx<'_>, e: &EventRecord) -> Result<()> {
    let (actor_kind, actor_user) = e.actor.to_parts();
    tx.exec(
        "writing a change-feed event",
        "INSERT INTO chat_event \
         (seq, event_id, at, session_id, topic_id, actor_kind, actor_user, kind, data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            e.seq,
            format_uuid(&e.id),
            e.at.0,
            e.session.get(),
            e.topic.get(),
            actor_kind,
            actor_user,
            e.kind,
            e.data
        ],
    )?;
    Ok(())
}

/// `WriteTx::delete_events_through`.
pub(super) fn delete_events_through(tx: &SqlTx<'_>, seq: i64) -> Result<usize> {
    tx.exec(
        "pruning the change feed",
        "DELETE FROM chat_event WHERE seq <= ?1",
        params![seq],
    )
}

/// `WriteTx::put_meta`.
pub(super) fn put_meta(tx: &SqlTx<'_>, key: &str, value: &str) -> Result<()> {
    tx.exec(
        "writing the store's metadata",
        "INSERT INTO chatdesk_meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}
