//! The versioned schema: the guard on open, the first-time initialisation and
//! the migration steps (crate-private; the layout is documented in the crate
//! docs).

use crate::errors::sql_err;
use chatdesk::{Error, Result};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

/// `PRAGMA application_id` of a chatdesk store: "CHDS".
pub(crate) const APPLICATION_ID: i32 = 0x4348_4453;

/// `PRAGMA user_version` this build writes and reads.
pub(crate) const SCHEMA_VERSION: i32 = 4;

/// One migration step: run inside the opening transaction, it takes a store at
/// version `to - 1` to version `to`.
#[derive(Debug)]
struct Migration {
    /// The version the step produces.
    to: i32,
    /// What the step does (for errors).
    description: &'static str,
    /// Columns the step adds first, as (table, column, declaration), each
    /// only where the table lacks it: SQLite has no `ADD COLUMN IF NOT
    /// EXISTS`, and every step stays harmless on a store whose version was
    /// reset by hand.
    add_columns: &'static [(&'static str, &'static str, &'static str)],
    /// The SQL it runs next (one batch).
    sql: &'static str,
    /// What it fills in last from the stored records, if anything.
    fill: Option<fn(&Connection) -> Result<()>>,
}

/// Every step from version 0 (a brand-new file) to [`SCHEMA_VERSION`], in
/// order. To change the schema: append a step with `to = SCHEMA_VERSION + 1`
/// and bump [`SCHEMA_VERSION`]; never edit a published step.
const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 1,
        description: "create the version 1 schema",
        add_columns: &[],
        sql: SCHEMA_V1,
        fill: None,
    },
    Migration {
        to: 2,
        description: "add the counted queue index",
        add_columns: &[],
        sql: SCHEMA_V2,
        fill: None,
    },
    Migration {
        to: 3,
        description: "add the change feed and the metadata map",
        add_columns: &[],
        sql: SCHEMA_V3,
        fill: None,
    },
    Migration {
        to: 4,
        description: "add routing settings, session routing and statistics, agents, and the \
                      pending-transfer and request-time indexes",
        add_columns: COLUMNS_V4,
        sql: SCHEMA_V4,
        fill: Some(crate::tx::fill_pending_transfers),
    },
];

/// Version 4, routing and the desk's statistics: a topic's routing settings
/// and a session's routing state and statistics as plain columns whose
/// defaults are the records' defaults (so existing rows read as they did
/// plus defaults); `pending_transfer_to`, derived like `active_user` from
/// the record's own method (filled from the stored rows by the step's
/// fill); the excluded agents as a JSON array of user ids.
const COLUMNS_V4: &[(&str, &str, &str)] = &[
    ("chat_topic", "routing_mode", "INTEGER NOT NULL DEFAULT 0"),
    (
        "chat_topic",
        "routing_strategy",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    (
        "chat_topic",
        "default_capacity",
        "INTEGER NOT NULL DEFAULT 3",
    ),
    (
        "chat_topic",
        "answer_timeout_secs",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    (
        "chat_topic",
        "transfer_timeout_secs",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    ("chat_session", "routed_at", "INTEGER NULL"),
    (
        "chat_session",
        "routed_answered",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    (
        "chat_session",
        "excluded_users",
        "TEXT NOT NULL DEFAULT '[]'",
    ),
    ("chat_session", "transfer_requested_at", "INTEGER NULL"),
    (
        "chat_session",
        "max_alert_level",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    (
        "chat_session",
        "answer_timeouts",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    ("chat_session", "first_answer_at", "INTEGER NULL"),
    ("chat_session", "pending_transfer_to", "INTEGER NULL"),
];

/// Version 4's indexes and table: pending transfers by target (partial,
/// like the active-user index), sessions by request time (the time index
/// reports read: one day costs the same whatever the history holds), and
/// what routing keeps per agent.
const SCHEMA_V4: &str = r"
CREATE INDEX IF NOT EXISTS chat_session_transfers ON chat_session (pending_transfer_to, id)
    WHERE pending_transfer_to IS NOT NULL;
CREATE INDEX IF NOT EXISTS chat_session_by_requested ON chat_session (when_requested, id);
CREATE TABLE IF NOT EXISTS chat_agent (
    user_id       INTEGER PRIMARY KEY,
    max_chats     INTEGER NULL,
    last_assigned INTEGER NULL
);
CREATE TABLE IF NOT EXISTS chat_routing_free (
    topic_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    PRIMARY KEY (topic_id, user_id)
) WITHOUT ROWID;
";

/// Version 3: the change feed (`chat_event`, one row per event, keyed by its
/// gap-free sequence; no foreign key, since a purged session's events stay
/// until the host prunes them) and a small metadata map (`chatdesk_meta`,
/// holding the stored feed switch). Nothing to fill in: the feed starts off.
const SCHEMA_V3: &str = r"
CREATE TABLE IF NOT EXISTS chat_event (
    seq        INTEGER PRIMARY KEY,
    event_id   TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    session_id INTEGER NOT NULL,
    topic_id   INTEGER NOT NULL,
    actor_kind INTEGER NOT NULL,
    actor_user INTEGER NULL,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS chatdesk_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// Version 2: the counted queue index (`chatdesk::backend::queue_index`), built from
/// the sessions in the human queues: each queued sequence counts once in each
/// node on its Fenwick update path (`node + (node & -node)` up to 2^40).
const SCHEMA_V2: &str = r"
CREATE TABLE IF NOT EXISTS chat_queue_index (
    topic_id INTEGER NOT NULL,
    node     INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (topic_id, node)
) WITHOUT ROWID;
DELETE FROM chat_queue_index;
INSERT INTO chat_queue_index (topic_id, node, count)
WITH RECURSIVE path (topic_id, node) AS (
    SELECT topic_id, human_queue_seq FROM chat_session
     WHERE human_queue_seq IS NOT NULL AND human_queue_seq >= 1
    UNION ALL
    SELECT topic_id, node + (node & -node) FROM path
     WHERE node + (node & -node) <= 1099511627776
)
SELECT topic_id, node, count(*) FROM path GROUP BY topic_id, node;
";

// The last step must produce the version this build supports.
const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].to == SCHEMA_VERSION);

/// Version 1. `IF NOT EXISTS` so that the step is harmless on a store whose
/// version was reset by hand.
const SCHEMA_V1: &str = r"
CREATE TABLE IF NOT EXISTS chat_topic (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL,
    settings_json     TEXT    NOT NULL,
    last_accept       INTEGER NULL,
    seconds_pr_accept INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_topic_agent (
    topic_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    can_listen  INTEGER NOT NULL,
    can_respond INTEGER NOT NULL,
    can_manage  INTEGER NOT NULL,
    can_notify  INTEGER NOT NULL,
    PRIMARY KEY (topic_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chat_topic_agent_by_user ON chat_topic_agent (user_id, topic_id);
CREATE TABLE IF NOT EXISTS chat_presence (
    user_id      INTEGER PRIMARY KEY,
    present      INTEGER NOT NULL,
    display_name TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_session (
    id                  INTEGER PRIMARY KEY,
    topic_id            INTEGER NOT NULL,
    user_id             INTEGER NULL,
    person_id           INTEGER NULL,
    contact_id          INTEGER NULL,
    project_id          INTEGER NULL,
    sale_id             INTEGER NULL,
    ticket_id           INTEGER NULL,
    customer_alias      TEXT    NOT NULL,
    customer_host       TEXT    NOT NULL,
    customer_name       TEXT    NOT NULL,
    customer_email      TEXT    NOT NULL,
    customer_phone      TEXT    NOT NULL,
    customer_consented  INTEGER NOT NULL,
    customer_company    TEXT    NOT NULL,
    status              INTEGER NOT NULL,
    first_message       TEXT    NOT NULL,
    last_message        TEXT    NOT NULL,
    when_requested      INTEGER NOT NULL,
    when_started        INTEGER NULL,
    when_ended          INTEGER NULL,
    when_idle           INTEGER NULL,
    when_fetched        INTEGER NULL,
    key_hash            BLOB    NOT NULL,
    initial_queue_pos   INTEGER NOT NULL,
    alert_level         INTEGER NOT NULL,
    rank                INTEGER NOT NULL,
    transfer_to         INTEGER NULL,
    chatbot_is_active   INTEGER NOT NULL,
    rating              INTEGER NOT NULL,
    queue_seq           INTEGER NULL,
    queue_entered       INTEGER NULL,
    customer_last_since INTEGER NULL,
    deleted_at          INTEGER NULL,
    human_queue_seq     INTEGER NULL,
    active_user         INTEGER NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS chat_session_by_key ON chat_session (key_hash);
CREATE INDEX IF NOT EXISTS chat_session_by_status ON chat_session (status, id);
CREATE INDEX IF NOT EXISTS chat_session_by_topic ON chat_session (topic_id, id);
CREATE INDEX IF NOT EXISTS chat_session_queue ON chat_session (topic_id, human_queue_seq)
    WHERE human_queue_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS chat_session_active ON chat_session (active_user, id)
    WHERE active_user IS NOT NULL;
CREATE TABLE IF NOT EXISTS chat_message (
    id               INTEGER PRIMARY KEY,
    session_id       INTEGER NOT NULL REFERENCES chat_session (id),
    type             INTEGER NOT NULL,
    message          TEXT    NOT NULL,
    author           TEXT    NOT NULL,
    read_by_customer INTEGER NOT NULL,
    special_type     INTEGER NOT NULL,
    special_param    TEXT    NOT NULL,
    when_posted      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_message_by_session ON chat_message (session_id, id);
CREATE TABLE IF NOT EXISTS chatdesk_counter (
    kind TEXT    PRIMARY KEY,
    last INTEGER NOT NULL
) WITHOUT ROWID;
";

/// What the file header and schema say.
#[derive(Debug, Clone, Copy)]
struct Header {
    application_id: i32,
    user_version: i32,
    objects: i64,
}

/// What opening must do with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Already at [`SCHEMA_VERSION`].
    Ready,
    /// Run the steps after `from` (0 = a brand-new file).
    Upgrade { from: i32 },
}

fn supported() -> String {
    format!(
        "chatdesk SQLite store (application_id 0x{APPLICATION_ID:08X}) schema version {SCHEMA_VERSION}"
    )
}

fn incompatible(found: impl Into<String>) -> Error {
    Error::IncompatibleStore {
        found: found.into(),
        supported: supported(),
    }
}

/// Maps an error met while first reading a file: not a database →
/// IncompatibleStore, a damaged one → Corrupt, the rest as usual.
pub(crate) fn open_err(context: &str, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            incompatible(format!("a file that is not a SQLite database ({e})"))
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            Error::corrupt(format!("the SQLite file is damaged ({e}) while {context}"))
        }
        _ => sql_err(context, e),
    }
}

fn read_header(conn: &Connection) -> Result<Header> {
    // One statement, so one snapshot: another process initialising the file
    // meanwhile is seen entirely or not at all.
    let ctx = "reading the store's header";
    conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id), \
                (SELECT user_version FROM pragma_user_version), \
                (SELECT count(*) FROM sqlite_master)",
        [],
        |r| {
            Ok(Header {
                application_id: r.get(0)?,
                user_version: r.get(1)?,
                objects: r.get(2)?,
            })
        },
    )
    .map_err(|e| open_err(ctx, e))
}

fn plan(h: Header, migrate: bool) -> Result<Plan> {
    if h.application_id == 0 {
        if h.user_version == 0 && h.objects == 0 {
            return Ok(Plan::Upgrade { from: 0 });
        }
        return Err(incompatible(format!(
            "a SQLite file of another application (application_id 0, user_version {}, {} schema objects)",
            h.user_version, h.objects
        )));
    }
    if h.application_id != APPLICATION_ID {
        return Err(incompatible(format!(
            "a SQLite file of another application (application_id 0x{:08X})",
            h.application_id
        )));
    }
    match h.user_version {
        v if v == SCHEMA_VERSION => Ok(Plan::Ready),
        v if v > SCHEMA_VERSION => Err(incompatible(format!(
            "chatdesk schema version {v}, written by a newer chatdesk-sqlite"
        ))),
        v if v < 0 => Err(incompatible(format!("chatdesk schema version {v}"))),
        v if migrate => Ok(Plan::Upgrade { from: v }),
        v => Err(incompatible(format!(
            "chatdesk schema version {v}, older than this build; open it with SqliteOptions {{ migrate: true, .. }} to upgrade it"
        ))),
    }
}

/// Checks the file before anything is written to it: a foreign, newer, or
/// (without `migrate`) older store is refused. Returns whether opening must
/// then initialise or migrate it (see [`prepare`]).
pub(crate) fn check(conn: &Connection, migrate: bool) -> Result<bool> {
    Ok(plan(read_header(conn)?, migrate)? != Plan::Ready)
}

/// Initialises a brand-new file or migrates an older one, in one immediate
/// transaction that checks the header again (another process may have done it
/// meanwhile).
pub(crate) fn prepare(conn: &mut Connection, migrate: bool) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| open_err("locking the store to initialise it", e))?;
    let from = match plan(read_header(&tx)?, migrate)? {
        Plan::Ready => return Ok(()),
        Plan::Upgrade { from } => from,
    };
    for step in MIGRATIONS.iter().filter(|m| m.to > from) {
        let context = || {
            format!(
                "migrating the store to version {} ({})",
                step.to, step.description
            )
        };
        for (table, column, declaration) in step.add_columns {
            let present: bool = tx
                .query_row(
                    "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
                    [table, column],
                    |r| r.get(0),
                )
                .map_err(|e| sql_err(context(), e))?;
            if !present {
                tx.execute_batch(&format!(
                    "ALTER TABLE {table} ADD COLUMN {column} {declaration};"
                ))
                .map_err(|e| sql_err(context(), e))?;
            }
        }
        tx.execute_batch(step.sql)
            .map_err(|e| sql_err(context(), e))?;
        if let Some(fill) = step.fill {
            fill(&tx)?;
        }
    }
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
    .map_err(|e| sql_err("writing the store's version", e))?;
    tx.commit()
        .map_err(|e| sql_err("committing the store's initialisation", e))
}
