//! Routing and statistics data (schema version 4): agent rows
//! (`chat_agent`), the pending-transfer index and the time index of
//! `chat_session`, the excluded-agents column's format, and the migration's
//! fill of `pending_transfer_to`.

use super::{
    SELECT_SESSIONS_REQUESTED, SELECT_SESSIONS_WITH_TRANSFER, SqlTx, key_of, limit,
    session_from_row, ts,
};
use crate::errors::{RowKey, decode_err};
use chatdesk::backend::{AgentRecord, FreeAgent, SessionRecord};
use chatdesk::{Result, SessionId, Timestamp, TopicId, UserId};
use rusqlite::{Connection, Row, params};

/// `chat_session.excluded_users`: a JSON array of user ids in the record's
/// order, e.g. `[9,-3]` (`[]` when none).
pub(crate) fn excluded_to_sql(users: &[UserId]) -> String {
    let mut out = String::with_capacity(2 + users.len() * 6);
    out.push('[');
    for (i, u) in users.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&u.get().to_string());
    }
    out.push(']');
    out
}

/// The inverse of [`excluded_to_sql`]; the reason when `text` is not such
/// an array.
pub(crate) fn excluded_from_sql(text: &str) -> std::result::Result<Vec<UserId>, String> {
    serde_json::from_str::<Vec<i32>>(text)
        .map(|ids| ids.into_iter().map(UserId).collect())
        .map_err(|e| format!("not a JSON array of user ids ({e}): {text:?}"))
}

fn agent_from_row(row: &Row<'_>) -> Result<AgentRecord> {
    let user = key_of(row, "chat_agent", 0, "user_id")?;
    let c = super::Cells {
        row,
        table: "chat_agent",
        key: RowKey::Id(user),
    };
    Ok(AgentRecord {
        user: UserId(c.get(0, "user_id")?),
        max_chats: c.get(1, "max_chats")?,
        last_assigned: c.opt_ts(2, "last_assigned")?,
    })
}

/// `ReadTx::transfers_to`: the partial index on `pending_transfer_to`.
pub(super) fn transfers_to(tx: &SqlTx<'_>, user: UserId) -> Result<Vec<SessionId>> {
    tx.list(
        "listing transfers to a user",
        "SELECT id FROM chat_session WHERE pending_transfer_to = ?1 ORDER BY id",
        params![user.get()],
        |row| {
            row.get::<_, i32>(0)
                .map(SessionId)
                .map_err(|e| decode_err("chat_session", "id", RowKey::Text("transfers"), e))
        },
    )
}

/// `ReadTx::agent`.
pub(super) fn agent(tx: &SqlTx<'_>, user: UserId) -> Result<Option<AgentRecord>> {
    tx.one(
        "reading an agent",
        "SELECT user_id, max_chats, last_assigned FROM chat_agent WHERE user_id = ?1",
        params![user.get()],
        agent_from_row,
    )
}

/// `ReadTx::sessions_requested`: the `(when_requested, id)` index.
pub(super) fn sessions_requested(
    tx: &SqlTx<'_>,
    after: (Timestamp, SessionId),
    before: Timestamp,
    n: usize,
) -> Result<Vec<SessionRecord>> {
    tx.list(
        "listing sessions by request time",
        SELECT_SESSIONS_REQUESTED,
        params![after.0.0, after.1.get(), before.0, limit(n)],
        session_from_row,
    )
}

/// `ReadTx::routing_free`: the routing index of one topic.
pub(super) fn routing_free(tx: &SqlTx<'_>, topic: TopicId) -> Result<Vec<UserId>> {
    tx.list(
        "reading the routing index",
        "SELECT user_id FROM chat_routing_free WHERE topic_id = ?1 ORDER BY user_id",
        params![topic.get()],
        |row| {
            row.get::<_, i32>(0)
                .map(UserId)
                .map_err(|e| decode_err("chat_routing_free", "user_id", RowKey::Text("free"), e))
        },
    )
}

/// `ReadTx::agent_load`: two counts on the partial indexes, one statement.
pub(super) fn agent_load(tx: &SqlTx<'_>, user: UserId) -> Result<i32> {
    let n = tx.one(
        "counting an agent's load",
        "SELECT (SELECT count(*) FROM chat_session WHERE active_user = ?1) \
              + (SELECT count(*) FROM chat_session WHERE pending_transfer_to = ?1)",
        params![user.get()],
        |row| {
            row.get::<_, i64>(0)
                .map_err(|e| decode_err("chat_session", "count", RowKey::Text("load"), e))
        },
    )?;
    Ok(n.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX)))
}

/// `ReadTx::routing_candidates`: the routing index of one topic with each
/// agent's load and last assignment, in one statement.
pub(super) fn routing_candidates(tx: &SqlTx<'_>, topic: TopicId) -> Result<Vec<FreeAgent>> {
    tx.list(
        "reading the routing index",
        "SELECT f.user_id, \
                (SELECT count(*) FROM chat_session s WHERE s.active_user = f.user_id) \
              + (SELECT count(*) FROM chat_session s WHERE s.pending_transfer_to = f.user_id) \
                AS load, \
                a.last_assigned \
         FROM chat_routing_free f LEFT JOIN chat_agent a ON a.user_id = f.user_id \
         WHERE f.topic_id = ?1 ORDER BY f.user_id",
        params![topic.get()],
        |row| {
            let user = key_of(row, "chat_routing_free", 0, "user_id")?;
            let c = super::Cells {
                row,
                table: "chat_routing_free",
                key: RowKey::Id(user),
            };
            let load: i64 = c.get(1, "load")?;
            Ok(FreeAgent {
                user: UserId(c.get(0, "user_id")?),
                load: i32::try_from(load).unwrap_or(i32::MAX),
                last_assigned: c.opt_ts(2, "last_assigned")?,
            })
        },
    )
}

/// `ReadTx::routing_is_free`.
pub(super) fn routing_is_free(tx: &SqlTx<'_>, topic: TopicId, user: UserId) -> Result<bool> {
    Ok(tx
        .one(
            "reading the routing index",
            "SELECT 1 FROM chat_routing_free WHERE topic_id = ?1 AND user_id = ?2",
            params![topic.get(), user.get()],
            |_| Ok(()),
        )?
        .is_some())
}

/// `WriteTx::set_routing_free`.
pub(super) fn set_routing_free(
    tx: &SqlTx<'_>,
    topic: TopicId,
    user: UserId,
    free: bool,
) -> Result<()> {
    if free {
        tx.exec(
            "marking an agent free",
            "INSERT OR IGNORE INTO chat_routing_free (topic_id, user_id) VALUES (?1, ?2)",
            params![topic.get(), user.get()],
        )?;
    } else {
        tx.exec(
            "marking an agent busy",
            "DELETE FROM chat_routing_free WHERE topic_id = ?1 AND user_id = ?2",
            params![topic.get(), user.get()],
        )?;
    }
    Ok(())
}

/// `WriteTx::put_agent`.
pub(super) fn put_agent(tx: &SqlTx<'_>, a: &AgentRecord) -> Result<()> {
    tx.exec(
        "writing an agent",
        "INSERT INTO chat_agent (user_id, max_chats, last_assigned) VALUES (?1, ?2, ?3) \
         ON CONFLICT (user_id) DO UPDATE SET max_chats = excluded.max_chats, \
         last_assigned = excluded.last_assigned",
        params![a.user.get(), a.max_chats, ts(a.last_assigned)],
    )?;
    Ok(())
}

/// The migration to version 4: sets `pending_transfer_to` of every session
/// from [`SessionRecord::pending_transfer_to`] (only sessions with a
/// TransferTo can have one). A row that does not decode keeps `NULL`: that
/// session alone reads as Corrupt, as it did before, and the store still
/// opens. Run inside the migration's transaction.
pub(crate) fn fill_pending_transfers(conn: &Connection) -> Result<()> {
    let tx = SqlTx::new(conn);
    tx.exec(
        "clearing pending transfers (migration to version 4)",
        "UPDATE chat_session SET pending_transfer_to = NULL WHERE pending_transfer_to IS NOT NULL",
        params![],
    )?;
    let pending = tx.list(
        "reading sessions with a transfer (migration to version 4)",
        SELECT_SESSIONS_WITH_TRANSFER,
        params![],
        |row| {
            Ok(session_from_row(row)
                .ok()
                .and_then(|s| s.pending_transfer_to().map(|to| (s.id, to))))
        },
    )?;
    for (id, to) in pending.into_iter().flatten() {
        tx.exec(
            "indexing a pending transfer (migration to version 4)",
            "UPDATE chat_session SET pending_transfer_to = ?2 WHERE id = ?1",
            params![id.get(), to.get()],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_users_are_a_json_array_in_order() {
        let users = [UserId(9), UserId(-3), UserId(i32::MAX), UserId(i32::MIN)];
        let text = excluded_to_sql(&users);
        assert_eq!(text, "[9,-3,2147483647,-2147483648]");
        assert_eq!(excluded_from_sql(&text), Ok(users.to_vec()));
        assert_eq!(excluded_to_sql(&[]), "[]");
        assert_eq!(excluded_from_sql("[]"), Ok(vec![]));
        assert_eq!(
            excluded_from_sql(" [ 1 , 2 ] "),
            Ok(vec![UserId(1), UserId(2)])
        );
        for bad in ["", "null", "[1,", "[\"7\"]", "[2147483648]", "{}"] {
            assert!(excluded_from_sql(bad).is_err(), "{bad:?}");
        }
    }
}
