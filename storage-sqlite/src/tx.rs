//! The typed access paths over one SQLite transaction (crate-private).

mod events;
mod routing;

pub(crate) use routing::fill_pending_transfers;

use crate::errors::{RowKey, corrupt, decode_err, sql_err, storage_msg};
use chatdesk::backend::next_after;
use chatdesk::backend::{
    AgentRecord, CrmLinks, CustomerInfo, EventRecord, MemberRecord, MessageRecord, PresenceRecord,
    SessionRecord, SessionRouting, SessionStats, TopicRecord, TopicRouting,
};
use chatdesk::backend::{IdKind, ReadTx, WriteTx};
use chatdesk::{ChatMessageSpecialType, ChatMessageType, ChatSessionStatus, ChatTopicEntity};
use chatdesk::{Error, MessageId, Result, SessionId, Timestamp, TopicId, UserId};
use chatdesk::{RoutingMode, RoutingStrategy};
use rusqlite::types::FromSql;
use rusqlite::types::Value;
use rusqlite::{Connection, Row, Rows, ToSql, params};

/// One open transaction on a connection. Every statement first checks that the
/// transaction is still open: SQLite rolls a transaction back by itself after
/// some errors (disk full, I/O), and a statement run after that would
/// otherwise autocommit on its own.
#[derive(Debug)]
pub(crate) struct SqlTx<'c> {
    conn: &'c Connection,
}

/// The columns of `chat_session` that hold a [`SessionRecord`], in the order
/// the upsert binds them: the 34 of version 1, then the 7 routing and
/// statistics columns of version 4.
macro_rules! session_cols {
    () => {
        "id, topic_id, user_id, person_id, contact_id, project_id, sale_id, ticket_id, \
         customer_alias, customer_host, customer_name, customer_email, customer_phone, \
         customer_consented, customer_company, status, first_message, last_message, \
         when_requested, when_started, when_ended, when_idle, when_fetched, key_hash, \
         initial_queue_pos, alert_level, rank, transfer_to, chatbot_is_active, rating, \
         queue_seq, queue_entered, customer_last_since, deleted_at, \
         routed_at, routed_answered, excluded_users, transfer_requested_at, \
         max_alert_level, answer_timeouts, first_answer_at"
    };
}

macro_rules! select_sessions {
    ($($rest:tt)*) => {
        concat!("SELECT ", session_cols!(), " FROM chat_session ", $($rest)*)
    };
}

macro_rules! select_topics {
    ($rest:literal) => {
        concat!(
            "SELECT id, settings_json, last_accept, seconds_pr_accept, routing_mode, \
             routing_strategy, default_capacity, answer_timeout_secs, transfer_timeout_secs \
             FROM chat_topic ",
            $rest
        )
    };
}

macro_rules! select_members {
    ($rest:literal) => {
        concat!(
            "SELECT topic_id, user_id, can_listen, can_respond, can_manage, can_notify \
             FROM chat_topic_agent ",
            $rest
        )
    };
}

macro_rules! select_messages {
    ($rest:literal) => {
        concat!(
            "SELECT id, session_id, type, message, author, read_by_customer, special_type, \
             special_param, when_posted FROM chat_message ",
            $rest
        )
    };
}

pub(crate) const UPSERT_SESSION: &str = concat!(
    "INSERT INTO chat_session (",
    session_cols!(),
    ", human_queue_seq, active_user, pending_transfer_to) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, \
     ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, \
     ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37, ?38, ?39, ?40, ?41, ?42, ?43, \
     ?44) \
     ON CONFLICT (id) DO UPDATE SET topic_id = excluded.topic_id, user_id = excluded.user_id, \
     person_id = excluded.person_id, contact_id = excluded.contact_id, \
     project_id = excluded.project_id, sale_id = excluded.sale_id, \
     ticket_id = excluded.ticket_id, customer_alias = excluded.customer_alias, \
     customer_host = excluded.customer_host, customer_name = excluded.customer_name, \
     customer_email = excluded.customer_email, customer_phone = excluded.customer_phone, \
     customer_consented = excluded.customer_consented, \
     customer_company = excluded.customer_company, status = excluded.status, \
     first_message = excluded.first_message, last_message = excluded.last_message, \
     when_requested = excluded.when_requested, when_started = excluded.when_started, \
     when_ended = excluded.when_ended, when_idle = excluded.when_idle, \
     when_fetched = excluded.when_fetched, key_hash = excluded.key_hash, \
     initial_queue_pos = excluded.initial_queue_pos, alert_level = excluded.alert_level, \
     rank = excluded.rank, transfer_to = excluded.transfer_to, \
     chatbot_is_active = excluded.chatbot_is_active, rating = excluded.rating, \
     queue_seq = excluded.queue_seq, queue_entered = excluded.queue_entered, \
     customer_last_since = excluded.customer_last_since, deleted_at = excluded.deleted_at, \
     routed_at = excluded.routed_at, routed_answered = excluded.routed_answered, \
     excluded_users = excluded.excluded_users, \
     transfer_requested_at = excluded.transfer_requested_at, \
     max_alert_level = excluded.max_alert_level, answer_timeouts = excluded.answer_timeouts, \
     first_answer_at = excluded.first_answer_at, \
     human_queue_seq = excluded.human_queue_seq, active_user = excluded.active_user, \
     pending_transfer_to = excluded.pending_transfer_to"
);

/// The statements `create_chat_session_for_topic` runs, named so that the
/// benchmarks' raw baseline runs literally the same text (see
/// [`crate::bench_support`]).
pub(crate) const SELECT_TOPIC: &str = select_topics!("WHERE id = ?1");
pub(crate) const SELECT_TOPIC_MEMBERS: &str =
    select_members!("WHERE topic_id = ?1 ORDER BY user_id");
pub(crate) const SELECT_PRESENCE: &str =
    "SELECT user_id, present, display_name FROM chat_presence WHERE user_id = ?1";
pub(crate) const SELECT_COUNTER: &str = "SELECT last FROM chatdesk_counter WHERE kind = ?1";
pub(crate) const UPSERT_COUNTER: &str = "INSERT INTO chatdesk_counter (kind, last) VALUES (?1, ?2) \
     ON CONFLICT (kind) DO UPDATE SET last = excluded.last";
pub(crate) const SELECT_QUEUE_KEY: &str =
    "SELECT topic_id, human_queue_seq FROM chat_session WHERE id = ?1";
pub(crate) const UPSERT_QUEUE_INDEX: &str = "INSERT INTO chat_queue_index (topic_id, node, count) VALUES (?1, ?2, ?3) \
     ON CONFLICT (topic_id, node) DO UPDATE SET count = count + excluded.count \
     RETURNING count";
/// Further statements named for the benchmarks' raw baselines.
pub(crate) const SELECT_SESSION: &str = select_sessions!("WHERE id = ?1");
pub(crate) const SELECT_SESSION_BY_KEY: &str = "SELECT id FROM chat_session WHERE key_hash = ?1";
pub(crate) const SELECT_MEMBER: &str = select_members!("WHERE topic_id = ?1 AND user_id = ?2");
pub(crate) const SELECT_USER_MEMBERSHIPS: &str =
    select_members!("WHERE user_id = ?1 ORDER BY topic_id");
pub(crate) const SELECT_SESSIONS_BY_STATUS: &str =
    select_sessions!("WHERE status = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
pub(crate) const SELECT_ACTIVE_SESSIONS: &str =
    select_sessions!("WHERE active_user = ?1 ORDER BY id");
pub(crate) const SELECT_ACTIVE_RANKS: &str =
    "SELECT id, rank FROM chat_session WHERE active_user = ?1 ORDER BY id";
pub(crate) const SELECT_MESSAGES: &str =
    select_messages!("WHERE session_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
pub(crate) const SELECT_QUEUE: &str = "SELECT human_queue_seq, id FROM chat_session \
             WHERE topic_id = ?1 AND human_queue_seq IS NOT NULL AND human_queue_seq > ?2 \
             ORDER BY human_queue_seq, id LIMIT ?3";
pub(crate) const UPSERT_TOPIC: &str = "INSERT INTO chat_topic (id, name, settings_json, last_accept, seconds_pr_accept, \
             routing_mode, routing_strategy, default_capacity, answer_timeout_secs, \
             transfer_timeout_secs) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             settings_json = excluded.settings_json, last_accept = excluded.last_accept, \
             seconds_pr_accept = excluded.seconds_pr_accept, \
             routing_mode = excluded.routing_mode, routing_strategy = excluded.routing_strategy, \
             default_capacity = excluded.default_capacity, \
             answer_timeout_secs = excluded.answer_timeout_secs, \
             transfer_timeout_secs = excluded.transfer_timeout_secs";
pub(crate) const UPSERT_MESSAGE: &str = "INSERT INTO chat_message (id, session_id, type, message, author, read_by_customer, \
             special_type, special_param, when_posted) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (id) DO UPDATE SET session_id = excluded.session_id, \
             type = excluded.type, message = excluded.message, author = excluded.author, \
             read_by_customer = excluded.read_by_customer, \
             special_type = excluded.special_type, special_param = excluded.special_param, \
             when_posted = excluded.when_posted";
/// Sessions after a (WhenRequested, id) cursor (`?1`, `?2`) and requested
/// before `?3`, by (WhenRequested, id), at most `?4`: a range of the
/// `(when_requested, id)` index (only sessions at the cursor's own tick are
/// read and skipped).
pub(crate) const SELECT_SESSIONS_REQUESTED: &str = select_sessions!(
    "WHERE when_requested >= ?1 AND when_requested < ?3 \
     AND (when_requested > ?1 OR id > ?2) ORDER BY when_requested, id LIMIT ?4"
);
/// Everything the migration to version 4 reads to fill `pending_transfer_to`:
/// the sessions with a TransferTo (any other has no pending transfer).
pub(crate) const SELECT_SESSIONS_WITH_TRANSFER: &str =
    select_sessions!("WHERE transfer_to IS NOT NULL ORDER BY id");
pub(crate) const DELETE_QUEUE_INDEX: &str =
    "DELETE FROM chat_queue_index WHERE topic_id = ?1 AND node = ?2";

/// A `usize` limit as SQLite's LIMIT (which is an i64).
fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count from SQLite as the trait's u32 (saturating, like the memory backend).
fn ts(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| t.0)
}

fn uid(u: Option<UserId>) -> Option<i32> {
    u.map(UserId::get)
}

/// A queue sequence for a column: they fit in i64 (they come from an i64
/// counter); anything larger is refused rather than wrapped.
fn seq_to_sql(field: &str, seq: Option<u64>) -> Result<Option<i64>> {
    seq.map(|s| {
        i64::try_from(s)
            .map_err(|_| Error::validation(field, format!("queue sequence {s} is above i64::MAX")))
    })
    .transpose()
}

/// The values [`UPSERT_SESSION`] binds for a session, in column order: the
/// 41 record columns, then the three indexed facts, which come from the
/// record's own methods (the backend never decides which queue or user a
/// session counts for, or whether its transfer is pending).
pub(crate) fn session_values(s: &SessionRecord) -> Result<Vec<Value>> {
    use Value::{Blob, Integer, Null, Text};
    let int = |v: Option<i64>| v.map_or(Null, Integer);
    let c = &s.customer;
    let l = &s.links;
    let link = |v: Option<i32>| int(v.map(i64::from));
    Ok(vec![
        Integer(s.id.get().into()),
        Integer(s.topic.get().into()),
        link(uid(s.user)),
        link(l.person),
        link(l.contact),
        link(l.project),
        link(l.sale),
        link(l.ticket),
        Text(c.alias.clone()),
        Text(c.host.clone()),
        Text(c.name.clone()),
        Text(c.email.clone()),
        Text(c.phone.clone()),
        Integer(c.consented.into()),
        Text(c.company.clone()),
        Integer(s.status.code().into()),
        Text(s.first_message.clone()),
        Text(s.last_message.clone()),
        Integer(s.when_requested.0),
        int(ts(s.when_started)),
        int(ts(s.when_ended)),
        int(ts(s.when_idle)),
        int(ts(s.when_fetched)),
        Blob(s.key_hash.to_vec()),
        Integer(s.initial_queue_pos.into()),
        Integer(s.alert_level.into()),
        Integer(s.rank.into()),
        link(uid(s.transfer_to)),
        Integer(s.chatbot_is_active.into()),
        Integer(s.rating.into()),
        int(seq_to_sql("queue_seq", s.queue_seq)?),
        int(ts(s.queue_entered)),
        int(ts(s.customer_last_since)),
        int(ts(s.deleted_at)),
        int(ts(s.routing.routed_at)),
        Integer(s.routing.answered.into()),
        Text(routing::excluded_to_sql(&s.routing.excluded)),
        int(ts(s.routing.transfer_requested_at)),
        Integer(s.stats.max_alert_level.into()),
        Integer(s.stats.answer_timeouts.into()),
        int(ts(s.stats.first_answer_at)),
        int(seq_to_sql("queue_seq", s.human_queue_seq())?),
        link(uid(s.active_user())),
        link(uid(s.pending_transfer_to())),
    ])
}

/// Reads the columns of one row, naming table, column and row in errors.
struct Cells<'a, 'r> {
    row: &'a Row<'r>,
    table: &'static str,
    key: RowKey<'a>,
}

impl Cells<'_, '_> {
    /// Column `idx` of the row, which the SELECT names `column`.
    fn get<T: FromSql>(&self, idx: usize, column: &'static str) -> Result<T> {
        debug_assert_eq!(self.row.as_ref().column_name(idx).ok(), Some(column));
        self.row
            .get(idx)
            .map_err(|e| decode_err(self.table, column, self.key, e))
    }

    fn opt_ts(&self, idx: usize, column: &'static str) -> Result<Option<Timestamp>> {
        Ok(self.get::<Option<i64>>(idx, column)?.map(Timestamp))
    }

    fn opt_user(&self, idx: usize, column: &'static str) -> Result<Option<UserId>> {
        Ok(self.get::<Option<i32>>(idx, column)?.map(UserId))
    }

    fn opt_seq(&self, idx: usize, column: &'static str) -> Result<Option<u64>> {
        self.get::<Option<i64>>(idx, column)?
            .map(|v| {
                u64::try_from(v)
                    .map_err(|_| corrupt(self.table, column, self.key, "negative queue sequence"))
            })
            .transpose()
    }
}

/// The integer key column `idx` (named `column`) of a row.
fn key_of(row: &Row<'_>, table: &'static str, idx: usize, column: &'static str) -> Result<i64> {
    debug_assert_eq!(row.as_ref().column_name(idx).ok(), Some(column));
    row.get::<_, i64>(idx)
        .map_err(|e| decode_err(table, column, RowKey::Text("?"), e))
}

fn topic_from_row(row: &Row<'_>) -> Result<TopicRecord> {
    let id = key_of(row, "chat_topic", 0, "id")?;
    let c = Cells {
        row,
        table: "chat_topic",
        key: RowKey::Id(id),
    };
    let json: String = c.get(1, "settings_json")?;
    let settings: ChatTopicEntity = serde_json::from_str(&json)
        .map_err(|e| corrupt("chat_topic", "settings_json", RowKey::Id(id), e))?;
    let mode: i32 = c.get(4, "routing_mode")?;
    let strategy: i32 = c.get(5, "routing_strategy")?;
    Ok(TopicRecord {
        id: TopicId(c.get(0, "id")?),
        settings,
        last_accept: c.opt_ts(2, "last_accept")?,
        seconds_pr_accept: c.get(3, "seconds_pr_accept")?,
        routing: TopicRouting {
            mode: RoutingMode::from_code(mode).ok_or_else(|| {
                corrupt(
                    "chat_topic",
                    "routing_mode",
                    c.key,
                    format!("unknown mode {mode}"),
                )
            })?,
            strategy: RoutingStrategy::from_code(strategy).ok_or_else(|| {
                corrupt(
                    "chat_topic",
                    "routing_strategy",
                    c.key,
                    format!("unknown strategy {strategy}"),
                )
            })?,
            default_capacity: c.get(6, "default_capacity")?,
            answer_timeout_secs: c.get(7, "answer_timeout_secs")?,
            transfer_timeout_secs: c.get(8, "transfer_timeout_secs")?,
        },
    })
}

fn member_from_row(row: &Row<'_>) -> Result<MemberRecord> {
    let topic = key_of(row, "chat_topic_agent", 0, "topic_id")?;
    let user = key_of(row, "chat_topic_agent", 1, "user_id")?;
    let c = Cells {
        row,
        table: "chat_topic_agent",
        key: RowKey::Pair("topic_id", topic, "user_id", user),
    };
    Ok(MemberRecord {
        topic: TopicId(c.get(0, "topic_id")?),
        user: UserId(c.get(1, "user_id")?),
        can_listen: c.get(2, "can_listen")?,
        can_respond: c.get(3, "can_respond")?,
        can_manage: c.get(4, "can_manage")?,
        can_notify: c.get(5, "can_notify")?,
    })
}

fn presence_from_row(row: &Row<'_>) -> Result<PresenceRecord> {
    let user = key_of(row, "chat_presence", 0, "user_id")?;
    let c = Cells {
        row,
        table: "chat_presence",
        key: RowKey::Id(user),
    };
    Ok(PresenceRecord {
        user: UserId(c.get(0, "user_id")?),
        present: c.get(1, "present")?,
        display_name: c.get(2, "display_name")?,
    })
}

fn rank_from_row(row: &Row<'_>) -> Result<(SessionId, i32)> {
    let id = key_of(row, "chat_session", 0, "id")?;
    let c = Cells {
        row,
        table: "chat_session",
        key: RowKey::Id(id),
    };
    Ok((SessionId(c.get(0, "id")?), c.get(1, "rank")?))
}

fn session_from_row(row: &Row<'_>) -> Result<SessionRecord> {
    let id = key_of(row, "chat_session", 0, "id")?;
    let c = Cells {
        row,
        table: "chat_session",
        key: RowKey::Id(id),
    };
    let code: i32 = c.get(15, "status")?;
    let status = ChatSessionStatus::from_code(code).ok_or_else(|| {
        corrupt(
            "chat_session",
            "status",
            c.key,
            format!("unknown status code {code}"),
        )
    })?;
    let hash: Vec<u8> = c.get(23, "key_hash")?;
    let key_hash: [u8; 32] = hash.as_slice().try_into().map_err(|_| {
        corrupt(
            "chat_session",
            "key_hash",
            c.key,
            format!("{} bytes, expected 32", hash.len()),
        )
    })?;
    Ok(SessionRecord {
        id: SessionId(c.get(0, "id")?),
        topic: TopicId(c.get(1, "topic_id")?),
        user: c.opt_user(2, "user_id")?,
        links: CrmLinks {
            person: c.get(3, "person_id")?,
            contact: c.get(4, "contact_id")?,
            project: c.get(5, "project_id")?,
            sale: c.get(6, "sale_id")?,
            ticket: c.get(7, "ticket_id")?,
        },
        customer: CustomerInfo {
            alias: c.get(8, "customer_alias")?,
            host: c.get(9, "customer_host")?,
            name: c.get(10, "customer_name")?,
            email: c.get(11, "customer_email")?,
            phone: c.get(12, "customer_phone")?,
            consented: c.get(13, "customer_consented")?,
            company: c.get(14, "customer_company")?,
        },
        status,
        first_message: c.get(16, "first_message")?,
        last_message: c.get(17, "last_message")?,
        when_requested: Timestamp(c.get(18, "when_requested")?),
        when_started: c.opt_ts(19, "when_started")?,
        when_ended: c.opt_ts(20, "when_ended")?,
        when_idle: c.opt_ts(21, "when_idle")?,
        when_fetched: c.opt_ts(22, "when_fetched")?,
        key_hash,
        initial_queue_pos: c.get(24, "initial_queue_pos")?,
        alert_level: c.get(25, "alert_level")?,
        rank: c.get(26, "rank")?,
        transfer_to: c.opt_user(27, "transfer_to")?,
        chatbot_is_active: c.get(28, "chatbot_is_active")?,
        rating: c.get(29, "rating")?,
        queue_seq: c.opt_seq(30, "queue_seq")?,
        queue_entered: c.opt_ts(31, "queue_entered")?,
        customer_last_since: c.opt_ts(32, "customer_last_since")?,
        deleted_at: c.opt_ts(33, "deleted_at")?,
        routing: SessionRouting {
            routed_at: c.opt_ts(34, "routed_at")?,
            answered: c.get(35, "routed_answered")?,
            excluded: routing::excluded_from_sql(&c.get::<String>(36, "excluded_users")?)
                .map_err(|why| corrupt("chat_session", "excluded_users", c.key, why))?,
            transfer_requested_at: c.opt_ts(37, "transfer_requested_at")?,
        },
        stats: SessionStats {
            max_alert_level: c.get(38, "max_alert_level")?,
            answer_timeouts: c.get(39, "answer_timeouts")?,
            first_answer_at: c.opt_ts(40, "first_answer_at")?,
        },
    })
}

fn message_from_row(row: &Row<'_>) -> Result<MessageRecord> {
    let id = key_of(row, "chat_message", 0, "id")?;
    let c = Cells {
        row,
        table: "chat_message",
        key: RowKey::Id(id),
    };
    let kind_code: i32 = c.get(2, "type")?;
    let kind = ChatMessageType::from_code(kind_code).ok_or_else(|| {
        corrupt(
            "chat_message",
            "type",
            c.key,
            format!("unknown message type {kind_code}"),
        )
    })?;
    let special_code: i32 = c.get(6, "special_type")?;
    let special = ChatMessageSpecialType::from_code(special_code).ok_or_else(|| {
        corrupt(
            "chat_message",
            "special_type",
            c.key,
            format!("unknown special type {special_code}"),
        )
    })?;
    Ok(MessageRecord {
        id: MessageId(c.get(0, "id")?),
        session: SessionId(c.get(1, "session_id")?),
        kind,
        text: c.get(3, "message")?,
        author: c.get(4, "author")?,
        read_by_customer: c.get(5, "read_by_customer")?,
        special,
        special_param: c.get(7, "special_param")?,
        when_posted: Timestamp(c.get(8, "when_posted")?),
    })
}

/// The `Name` of the settings, for the informative `chat_topic.name` column.
fn settings_json(settings: &ChatTopicEntity) -> Result<(String, String)> {
    let value = serde_json::to_value(settings)
        .map_err(|e| crate::errors::storage_msg("encoding topic settings", e.to_string()))?;
    let name = value
        .get("Name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let json = serde_json::to_string(&value)
        .map_err(|e| storage_msg("encoding topic settings", e.to_string()))?;
    Ok((name, json))
}

impl<'c> SqlTx<'c> {
    /// Wraps a connection on which a transaction has just begun.
    pub(crate) fn new(conn: &'c Connection) -> Self {
        SqlTx { conn }
    }

    fn guard(&self, context: &str) -> Result<()> {
        if self.conn.is_autocommit() {
            return Err(storage_msg(
                context,
                "the transaction is no longer open (SQLite rolled it back after an earlier error)",
            ));
        }
        Ok(())
    }

    /// Runs a query and decodes every row with `decode`.
    fn list<T>(
        &self,
        context: &str,
        sql: &str,
        params: &[&dyn ToSql],
        decode: fn(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.guard(context)?;
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| sql_err(context, e))?;
        let mut rows: Rows<'_> = stmt.query(params).map_err(|e| sql_err(context, e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| sql_err(context, e))? {
            out.push(decode(row)?);
        }
        Ok(out)
    }

    /// Runs a query expected to give at most one row.
    fn one<T>(
        &self,
        context: &str,
        sql: &str,
        params: &[&dyn ToSql],
        decode: fn(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.guard(context)?;
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| sql_err(context, e))?;
        let mut rows = stmt.query(params).map_err(|e| sql_err(context, e))?;
        match rows.next().map_err(|e| sql_err(context, e))? {
            Some(row) => decode(row).map(Some),
            None => Ok(None),
        }
    }

    fn exec(&self, context: &str, sql: &str, params: &[&dyn ToSql]) -> Result<usize> {
        self.guard(context)?;
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| sql_err(context, e))?;
        stmt.execute(params).map_err(|e| sql_err(context, e))
    }
}

impl SqlTx<'_> {
    /// The human-queue key a stored session has now.
    fn queue_key_of(&self, id: SessionId) -> Result<Option<(TopicId, u64)>> {
        let row = self.one(
            "reading a session's queue key",
            SELECT_QUEUE_KEY,
            params![id.get()],
            |row| {
                let topic: i32 = row.get(0).map_err(|e| {
                    decode_err("chat_session", "topic_id", RowKey::Text("queue key"), e)
                })?;
                let seq: Option<i64> = row.get(1).map_err(|e| {
                    decode_err(
                        "chat_session",
                        "human_queue_seq",
                        RowKey::Text("queue key"),
                        e,
                    )
                })?;
                Ok((topic, seq))
            },
        )?;
        Ok(row.and_then(|(t, seq)| {
            seq.and_then(|q| u64::try_from(q).ok())
                .map(|q| (TopicId(t), q))
        }))
    }

    /// Applies the counted queue index's changes (see `chatdesk::backend::queue_index`).
    fn count_queue(&self, old: Option<(TopicId, u64)>, new: Option<(TopicId, u64)>) -> Result<()> {
        for (topic, node, delta) in chatdesk::backend::queue_index::changes(old, new)? {
            let node = i64::try_from(node)
                .map_err(|_| Error::corrupt(format!("queue index node {node} is beyond i64")))?;
            let context = "updating the queue index";
            self.guard(context)?;
            let mut stmt = self
                .conn
                .prepare_cached(UPSERT_QUEUE_INDEX)
                .map_err(|e| sql_err(context, e))?;
            let count: i64 = stmt
                .query_row(params![topic.get(), node, delta], |r| r.get(0))
                .map_err(|e| sql_err(context, e))?;
            if count == 0 {
                self.exec(context, DELETE_QUEUE_INDEX, params![topic.get(), node])?;
            }
        }
        Ok(())
    }
}

/// How many node slots the cached queue-index sum statement has.
pub(crate) const QUEUE_INDEX_SLOTS: usize = chatdesk::backend::queue_index::DEPTH as usize + 1;

/// `SELECT … WHERE topic_id = ?1 AND node IN (?2, …)` with every slot.
pub(crate) static SUM_QUEUE_INDEX: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let slots: Vec<String> = (2..QUEUE_INDEX_SLOTS + 2)
        .map(|i| format!("?{i}"))
        .collect();
    format!(
        "SELECT COALESCE(SUM(count), 0) FROM chat_queue_index WHERE topic_id = ?1 AND node IN ({})",
        slots.join(", ")
    )
});

impl ReadTx for SqlTx<'_> {
    fn topic(&self, id: TopicId) -> Result<Option<TopicRecord>> {
        self.one(
            "reading a topic",
            SELECT_TOPIC,
            params![id.get()],
            topic_from_row,
        )
    }

    fn topics(&self) -> Result<Vec<TopicRecord>> {
        self.list(
            "listing topics",
            select_topics!("ORDER BY id"),
            params![],
            topic_from_row,
        )
    }

    fn topic_ids(&self) -> Result<Vec<TopicId>> {
        self.list(
            "listing topic ids",
            "SELECT id FROM chat_topic ORDER BY id",
            params![],
            |row| {
                row.get::<_, i32>(0)
                    .map(TopicId)
                    .map_err(|e| decode_err("chat_topic", "id", RowKey::Text("ids"), e))
            },
        )
    }

    fn member(&self, topic: TopicId, user: UserId) -> Result<Option<MemberRecord>> {
        self.one(
            "reading a membership",
            SELECT_MEMBER,
            params![topic.get(), user.get()],
            member_from_row,
        )
    }

    fn topic_members(&self, topic: TopicId) -> Result<Vec<MemberRecord>> {
        self.list(
            "listing a topic's members",
            SELECT_TOPIC_MEMBERS,
            params![topic.get()],
            member_from_row,
        )
    }

    fn user_memberships(&self, user: UserId) -> Result<Vec<MemberRecord>> {
        self.list(
            "listing a user's memberships",
            SELECT_USER_MEMBERSHIPS,
            params![user.get()],
            member_from_row,
        )
    }

    fn all_members(&self) -> Result<Vec<MemberRecord>> {
        self.list(
            "listing memberships",
            select_members!("ORDER BY topic_id, user_id"),
            params![],
            member_from_row,
        )
    }

    fn presence(&self, user: UserId) -> Result<Option<PresenceRecord>> {
        self.one(
            "reading a presence",
            SELECT_PRESENCE,
            params![user.get()],
            presence_from_row,
        )
    }

    fn presences(&self) -> Result<Vec<PresenceRecord>> {
        self.list(
            "listing presences",
            "SELECT user_id, present, display_name FROM chat_presence ORDER BY user_id",
            params![],
            presence_from_row,
        )
    }

    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        self.one(
            "reading a session",
            SELECT_SESSION,
            params![id.get()],
            session_from_row,
        )
    }

    fn session_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<SessionId>> {
        self.one(
            "finding a session by key",
            SELECT_SESSION_BY_KEY,
            params![&key_hash[..]],
            |row| {
                row.get::<_, i32>(0)
                    .map(SessionId)
                    .map_err(|e| decode_err("chat_session", "id", RowKey::Text("by key"), e))
            },
        )
    }

    fn sessions_by_status(
        &self,
        status: ChatSessionStatus,
        after: SessionId,
        n: usize,
    ) -> Result<Vec<SessionRecord>> {
        self.list(
            "listing sessions by status",
            SELECT_SESSIONS_BY_STATUS,
            params![status.code(), after.get(), limit(n)],
            session_from_row,
        )
    }

    fn topic_sessions(
        &self,
        topic: TopicId,
        after: SessionId,
        n: usize,
    ) -> Result<Vec<SessionRecord>> {
        self.list(
            "listing a topic's sessions",
            select_sessions!("WHERE topic_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"),
            params![topic.get(), after.get(), limit(n)],
            session_from_row,
        )
    }

    fn sessions(&self, after: SessionId, n: usize) -> Result<Vec<SessionRecord>> {
        self.list(
            "listing sessions",
            select_sessions!("WHERE id > ?1 ORDER BY id LIMIT ?2"),
            params![after.get(), limit(n)],
            session_from_row,
        )
    }

    fn session_ids(&self, after: SessionId, n: usize) -> Result<Vec<SessionId>> {
        self.list(
            "listing session ids",
            "SELECT id FROM chat_session WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after.get(), limit(n)],
            |row| {
                row.get::<_, i32>(0)
                    .map(SessionId)
                    .map_err(|e| decode_err("chat_session", "id", RowKey::Text("ids"), e))
            },
        )
    }

    fn active_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        self.list(
            "listing a user's active sessions",
            SELECT_ACTIVE_SESSIONS,
            params![user.get()],
            session_from_row,
        )
    }

    fn active_ranks(&self, user: UserId) -> Result<Vec<(SessionId, i32)>> {
        self.list(
            "listing a user's active ranks",
            SELECT_ACTIVE_RANKS,
            params![user.get()],
            rank_from_row,
        )
    }

    fn transfers_to(&self, user: UserId) -> Result<Vec<SessionId>> {
        routing::transfers_to(self, user)
    }

    fn agent(&self, user: UserId) -> Result<Option<AgentRecord>> {
        routing::agent(self, user)
    }

    fn routing_free(&self, topic: TopicId) -> Result<Vec<UserId>> {
        routing::routing_free(self, topic)
    }

    fn routing_is_free(&self, topic: TopicId, user: UserId) -> Result<bool> {
        routing::routing_is_free(self, topic, user)
    }

    fn agent_load(&self, user: UserId) -> Result<i32> {
        routing::agent_load(self, user)
    }

    fn routing_candidates(&self, topic: TopicId) -> Result<Vec<chatdesk::backend::FreeAgent>> {
        routing::routing_candidates(self, topic)
    }

    fn sessions_requested(
        &self,
        after: (Timestamp, SessionId),
        before: Timestamp,
        n: usize,
    ) -> Result<Vec<SessionRecord>> {
        routing::sessions_requested(self, after, before, n)
    }

    fn queue_index_sum(&self, topic: TopicId, nodes: &[u64]) -> Result<i64> {
        // One cached statement for any node list: the list is padded with
        // node 0, which never exists.
        let mut padded = [0i64; QUEUE_INDEX_SLOTS];
        if nodes.len() > QUEUE_INDEX_SLOTS {
            return Err(Error::corrupt(format!(
                "{} queue index nodes asked at once",
                nodes.len()
            )));
        }
        for (slot, node) in padded.iter_mut().zip(nodes) {
            *slot = i64::try_from(*node)
                .map_err(|_| Error::corrupt(format!("queue index node {node} is beyond i64")))?;
        }
        let mut params: Vec<&dyn ToSql> = Vec::with_capacity(QUEUE_INDEX_SLOTS + 1);
        let topic_id = topic.get();
        params.push(&topic_id);
        params.extend(padded.iter().map(|n| n as &dyn ToSql));
        self.guard("summing the queue index")?;
        let mut stmt = self
            .conn
            .prepare_cached(&SUM_QUEUE_INDEX)
            .map_err(|e| sql_err("summing the queue index", e))?;
        stmt.query_row(params.as_slice(), |r| r.get::<_, i64>(0))
            .map_err(|e| sql_err("summing the queue index", e))
    }

    fn queue(&self, topic: TopicId, after_seq: u64, n: usize) -> Result<Vec<(u64, SessionId)>> {
        let Ok(after_seq) = i64::try_from(after_seq) else {
            // No stored sequence is above it.
            return Ok(Vec::new());
        };
        self.list(
            "listing a queue",
            SELECT_QUEUE,
            params![topic.get(), after_seq, limit(n)],
            |row| {
                let id = key_of(row, "chat_session", 1, "id")?;
                let c = Cells {
                    row,
                    table: "chat_session",
                    key: RowKey::Id(id),
                };
                let seq = c.opt_seq(0, "human_queue_seq")?.ok_or_else(|| {
                    corrupt(
                        "chat_session",
                        "human_queue_seq",
                        c.key,
                        "NULL in the queue",
                    )
                })?;
                Ok((seq, SessionId(c.get(1, "id")?)))
            },
        )
    }

    fn messages(
        &self,
        session: SessionId,
        after: MessageId,
        n: usize,
    ) -> Result<Vec<MessageRecord>> {
        self.list(
            "listing messages",
            SELECT_MESSAGES,
            params![session.get(), after.get(), limit(n)],
            message_from_row,
        )
    }

    fn events_after(&self, after: i64, n: usize) -> Result<Vec<EventRecord>> {
        events::events_after(self, after, n)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        events::meta(self, key)
    }
}

impl WriteTx for SqlTx<'_> {
    fn next_id(&mut self, kind: IdKind) -> Result<i64> {
        let last = self
            .one(
                "reading an id counter",
                SELECT_COUNTER,
                params![kind.name()],
                |row| {
                    row.get::<_, i64>(0).map_err(|e| {
                        decode_err("chatdesk_counter", "last", RowKey::Text("counter"), e)
                    })
                },
            )?
            .unwrap_or(0);
        let next = next_after(kind, last)?;
        self.exec(
            "advancing an id counter",
            UPSERT_COUNTER,
            params![kind.name(), next],
        )?;
        Ok(next)
    }

    fn put_topic(&mut self, topic: &TopicRecord) -> Result<()> {
        let (name, json) = settings_json(&topic.settings)?;
        self.exec(
            "writing a topic",
            UPSERT_TOPIC,
            params![
                topic.id.get(),
                name,
                json,
                ts(topic.last_accept),
                topic.seconds_pr_accept,
                topic.routing.mode.code(),
                topic.routing.strategy.code(),
                topic.routing.default_capacity,
                topic.routing.answer_timeout_secs,
                topic.routing.transfer_timeout_secs
            ],
        )?;
        Ok(())
    }

    fn delete_topic(&mut self, id: TopicId) -> Result<()> {
        self.exec(
            "deleting a topic",
            "DELETE FROM chat_topic WHERE id = ?1",
            params![id.get()],
        )?;
        Ok(())
    }

    fn put_member(&mut self, m: &MemberRecord) -> Result<()> {
        self.exec(
            "writing a membership",
            "INSERT INTO chat_topic_agent \
             (topic_id, user_id, can_listen, can_respond, can_manage, can_notify) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (topic_id, user_id) DO UPDATE SET can_listen = excluded.can_listen, \
             can_respond = excluded.can_respond, can_manage = excluded.can_manage, \
             can_notify = excluded.can_notify",
            params![
                m.topic.get(),
                m.user.get(),
                m.can_listen,
                m.can_respond,
                m.can_manage,
                m.can_notify
            ],
        )?;
        Ok(())
    }

    fn delete_member(&mut self, topic: TopicId, user: UserId) -> Result<()> {
        self.exec(
            "deleting a membership",
            "DELETE FROM chat_topic_agent WHERE topic_id = ?1 AND user_id = ?2",
            params![topic.get(), user.get()],
        )?;
        Ok(())
    }

    fn put_presence(&mut self, p: &PresenceRecord) -> Result<()> {
        self.exec(
            "writing a presence",
            "INSERT INTO chat_presence (user_id, present, display_name) VALUES (?1, ?2, ?3) \
             ON CONFLICT (user_id) DO UPDATE SET present = excluded.present, \
             display_name = excluded.display_name",
            params![p.user.get(), p.present, p.display_name],
        )?;
        Ok(())
    }

    fn put_agent(&mut self, agent: &AgentRecord) -> Result<()> {
        routing::put_agent(self, agent)
    }

    fn set_routing_free(&mut self, topic: TopicId, user: UserId, free: bool) -> Result<()> {
        routing::set_routing_free(self, topic, user, free)
    }

    fn put_session(&mut self, s: &SessionRecord) -> Result<()> {
        let old_key = self.queue_key_of(s.id)?;
        self.count_queue(old_key, s.human_queue_seq().map(|q| (s.topic, q)))?;
        let values = session_values(s)?;
        let params: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        self.exec("writing a session", UPSERT_SESSION, &params)
            .map_err(|e| match e {
                Error::Storage(ref se) if is_unique_violation(se) => Error::conflict(format!(
                    "session {} has the same key hash as another session",
                    s.id
                )),
                e => e,
            })?;
        Ok(())
    }

    fn delete_session(&mut self, id: SessionId) -> Result<()> {
        let old_key = self.queue_key_of(id)?;
        self.count_queue(old_key, None)?;
        self.exec(
            "deleting a session's messages",
            "DELETE FROM chat_message WHERE session_id = ?1",
            params![id.get()],
        )?;
        self.exec(
            "deleting a session",
            "DELETE FROM chat_session WHERE id = ?1",
            params![id.get()],
        )?;
        Ok(())
    }

    fn put_message(&mut self, m: &MessageRecord) -> Result<()> {
        self.exec(
            "writing a message",
            UPSERT_MESSAGE,
            params![
                m.id.get(),
                m.session.get(),
                m.kind.code(),
                m.text,
                m.author,
                m.read_by_customer,
                m.special.code(),
                m.special_param,
                m.when_posted.0
            ],
        )
        .map_err(|e| match e {
            Error::Storage(ref se) if is_fk_violation(se) => Error::not_found("session", m.session),
            e => e,
        })?;
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

fn extended_code(se: &chatdesk::StorageError) -> Option<i32> {
    match se.source.downcast_ref::<rusqlite::Error>() {
        Some(rusqlite::Error::SqliteFailure(f, _)) => Some(f.extended_code),
        _ => None,
    }
}

fn is_unique_violation(se: &chatdesk::StorageError) -> bool {
    matches!(
        extended_code(se),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

fn is_fk_violation(se: &chatdesk::StorageError) -> bool {
    extended_code(se) == Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}
