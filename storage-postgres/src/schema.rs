//! The versioned schema: the guard on open, the first-time initialisation and
//! the migration steps (crate-private; the layout is in the crate docs).

use crate::errors::pg_err;
use chatdesk::backend::IdKind;
use chatdesk::{Error, Result};
use postgres::Client;

/// What the version table's `application` column says of a chatdesk schema.
pub(crate) const APPLICATION: &str = "chatdesk";

/// The schema version this build reads and writes.
pub(crate) const SCHEMA_VERSION: i32 = 2;

/// One migration step: run inside the opening transaction, it takes a schema
/// at version `to - 1` to version `to`.
#[derive(Debug)]
struct Migration {
    /// The version the step produces.
    to: i32,
    /// What the step does (for errors).
    description: &'static str,
    /// The SQL it runs (one batch).
    sql: &'static str,
}

/// Every step from version 0 (an empty schema) to [`SCHEMA_VERSION`], in
/// order. To change the schema: append a step with `to = SCHEMA_VERSION + 1`
/// and bump [`SCHEMA_VERSION`]; never edit a published step.
const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 1,
        description: "create the version 1 schema",
        sql: SCHEMA_V1,
    },
    Migration {
        to: 2,
        description: "take topic, session, message and queue ids from sequences",
        sql: SCHEMA_V2,
    },
];

/// Version 2: topic, session and message ids and queue sequences come from
/// PostgreSQL sequences instead of counter rows, so writers on different
/// topics no longer wait for each other's commit to take an id. Each
/// sequence starts after its counter's last value (none on a new store);
/// the change feed keeps its counter row (gap-free, commit order).
const SCHEMA_V2: &str = r"
CREATE SEQUENCE chatdesk_seq_topic AS BIGINT MINVALUE 1 MAXVALUE 2147483647 NO CYCLE;
CREATE SEQUENCE chatdesk_seq_session AS BIGINT MINVALUE 1 MAXVALUE 2147483647 NO CYCLE;
CREATE SEQUENCE chatdesk_seq_message AS BIGINT MINVALUE 1 MAXVALUE 2147483647 NO CYCLE;
CREATE SEQUENCE chatdesk_seq_queue_seq AS BIGINT MINVALUE 1 NO CYCLE;
SELECT setval('chatdesk_seq_topic',
    COALESCE((SELECT last FROM chatdesk_counter WHERE kind = 'topic'), 0) + 1, false);
SELECT setval('chatdesk_seq_session',
    COALESCE((SELECT last FROM chatdesk_counter WHERE kind = 'session'), 0) + 1, false);
SELECT setval('chatdesk_seq_message',
    COALESCE((SELECT last FROM chatdesk_counter WHERE kind = 'message'), 0) + 1, false);
SELECT setval('chatdesk_seq_queue_seq',
    COALESCE((SELECT last FROM chatdesk_counter WHERE kind = 'queue_seq'), 0) + 1, false);
DELETE FROM chatdesk_counter WHERE kind <> 'event';
";

// The last step must produce the version this build supports.
const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].to == SCHEMA_VERSION);

/// Whether ids of `kind` come from a sequence (`chatdesk_seq_<name>`) rather
/// than a counter row.
pub(crate) fn uses_sequence(kind: IdKind) -> bool {
    kind != IdKind::Event
}

/// Version 1: the records of `chatdesk::backend`, one column per field, and
/// the derived index columns written from the records' own methods.
const SCHEMA_V1: &str = r"
CREATE TABLE chat_topic (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT    NOT NULL,
    settings_json         TEXT    NOT NULL,
    last_accept           BIGINT  NULL,
    seconds_pr_accept     INTEGER NOT NULL,
    routing_mode          INTEGER NOT NULL,
    routing_strategy      INTEGER NOT NULL,
    default_capacity      INTEGER NOT NULL,
    answer_timeout_secs   INTEGER NOT NULL,
    transfer_timeout_secs INTEGER NOT NULL
);
CREATE TABLE chat_topic_agent (
    topic_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    can_listen  BOOLEAN NOT NULL,
    can_respond BOOLEAN NOT NULL,
    can_manage  BOOLEAN NOT NULL,
    can_notify  BOOLEAN NOT NULL,
    PRIMARY KEY (topic_id, user_id)
);
CREATE INDEX chat_topic_agent_by_user ON chat_topic_agent (user_id, topic_id);
CREATE TABLE chat_presence (
    user_id      INTEGER PRIMARY KEY,
    present      BOOLEAN NOT NULL,
    display_name TEXT    NOT NULL
);
CREATE TABLE chat_agent (
    user_id       INTEGER PRIMARY KEY,
    max_chats     INTEGER NULL,
    last_assigned BIGINT  NULL
);
CREATE TABLE chat_routing_free (
    topic_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    PRIMARY KEY (topic_id, user_id)
);
CREATE TABLE chat_session (
    id                    INTEGER   PRIMARY KEY,
    topic_id              INTEGER   NOT NULL,
    user_id               INTEGER   NULL,
    person_id             INTEGER   NULL,
    contact_id            INTEGER   NULL,
    project_id            INTEGER   NULL,
    sale_id               INTEGER   NULL,
    ticket_id             INTEGER   NULL,
    customer_alias        TEXT      NOT NULL,
    customer_host         TEXT      NOT NULL,
    customer_name         TEXT      NOT NULL,
    customer_email        TEXT      NOT NULL,
    customer_phone        TEXT      NOT NULL,
    customer_consented    BOOLEAN   NOT NULL,
    customer_company      TEXT      NOT NULL,
    status                INTEGER   NOT NULL,
    first_message         TEXT      NOT NULL,
    last_message          TEXT      NOT NULL,
    when_requested        BIGINT    NOT NULL,
    when_started          BIGINT    NULL,
    when_ended            BIGINT    NULL,
    when_idle             BIGINT    NULL,
    when_fetched          BIGINT    NULL,
    key_hash              BYTEA     NOT NULL,
    initial_queue_pos     INTEGER   NOT NULL,
    alert_level           INTEGER   NOT NULL,
    rank                  INTEGER   NOT NULL,
    transfer_to           INTEGER   NULL,
    chatbot_is_active     BOOLEAN   NOT NULL,
    rating                INTEGER   NOT NULL,
    queue_seq             BIGINT    NULL,
    queue_entered         BIGINT    NULL,
    customer_last_since   BIGINT    NULL,
    deleted_at            BIGINT    NULL,
    routed_at             BIGINT    NULL,
    routing_answered      BOOLEAN   NOT NULL,
    routing_excluded      INTEGER[] NOT NULL,
    transfer_requested_at BIGINT    NULL,
    max_alert_level       INTEGER   NOT NULL,
    answer_timeouts       INTEGER   NOT NULL,
    first_answer_at       BIGINT    NULL,
    human_queue_seq       BIGINT    NULL,
    active_user           INTEGER   NULL,
    pending_transfer_to   INTEGER   NULL
);
CREATE UNIQUE INDEX chat_session_by_key ON chat_session (key_hash);
CREATE INDEX chat_session_by_status ON chat_session (status, id);
CREATE INDEX chat_session_by_topic ON chat_session (topic_id, id);
CREATE INDEX chat_session_by_requested ON chat_session (when_requested, id);
CREATE INDEX chat_session_queue ON chat_session (topic_id, human_queue_seq, id)
    WHERE human_queue_seq IS NOT NULL;
CREATE INDEX chat_session_active ON chat_session (active_user, id)
    WHERE active_user IS NOT NULL;
CREATE INDEX chat_session_transfers ON chat_session (pending_transfer_to, id)
    WHERE pending_transfer_to IS NOT NULL;
CREATE TABLE chat_message (
    id               INTEGER PRIMARY KEY,
    session_id       INTEGER NOT NULL,
    type             INTEGER NOT NULL,
    message          TEXT    NOT NULL,
    author           TEXT    NOT NULL,
    read_by_customer BOOLEAN NOT NULL,
    special_type     INTEGER NOT NULL,
    special_param    TEXT    NOT NULL,
    when_posted      BIGINT  NOT NULL
);
CREATE INDEX chat_message_by_session ON chat_message (session_id, id);
CREATE TABLE chat_queue_index (
    topic_id INTEGER NOT NULL,
    node     BIGINT  NOT NULL,
    count    BIGINT  NOT NULL,
    PRIMARY KEY (topic_id, node)
);
CREATE TABLE chatdesk_counter (
    kind TEXT   PRIMARY KEY,
    last BIGINT NOT NULL
);
CREATE TABLE chat_event (
    seq        BIGINT  PRIMARY KEY,
    event_id   TEXT    NOT NULL,
    at         BIGINT  NOT NULL,
    session_id INTEGER NOT NULL,
    topic_id   INTEGER NOT NULL,
    actor_kind INTEGER NOT NULL,
    actor_user INTEGER NULL,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL
);
CREATE TABLE chatdesk_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// A schema name as an SQL identifier: letters, digits and `_`, not starting
/// with a digit, at most 63 bytes (so it never needs quoting rules beyond
/// double quotes, and never reaches SQL unchecked).
pub(crate) fn check_schema_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "schema",
            format!("{name:?} is not a plain schema name (letters, digits and _, at most 63)"),
        ))
    }
}

fn supported() -> String {
    format!("chatdesk PostgreSQL schema version {SCHEMA_VERSION}")
}

fn incompatible(found: impl Into<String>) -> Error {
    Error::IncompatibleStore {
        found: found.into(),
        supported: supported(),
    }
}

/// What opening must do with the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Ready,
    Upgrade { from: i32 },
}

/// Reads what the schema holds: how many tables, and the version row.
fn plan(client: &mut Client, schema: &str, migrate: bool) -> Result<Plan> {
    let ctx = "reading the store's version";
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1), \
                    to_regclass(quote_ident($1) || '.chatdesk_schema') IS NOT NULL",
            &[&schema],
        )
        .map_err(|e| pg_err(ctx, e))?;
    let tables: i64 = row.try_get(0).map_err(|e| pg_err(ctx, e))?;
    let has_version: bool = row.try_get(1).map_err(|e| pg_err(ctx, e))?;
    if !has_version {
        if tables == 0 {
            return Ok(Plan::Upgrade { from: 0 });
        }
        return Err(incompatible(format!(
            "schema {schema:?} holds {tables} tables of another application (no chatdesk_schema table)"
        )));
    }
    let rows = client
        .query("SELECT application, version FROM chatdesk_schema", &[])
        .map_err(|e| pg_err(ctx, e))?;
    let [row] = rows.as_slice() else {
        return Err(incompatible(format!(
            "schema {schema:?} whose chatdesk_schema table has {} rows",
            rows.len()
        )));
    };
    let app: String = row.try_get(0).map_err(|e| pg_err(ctx, e))?;
    let version: i32 = row.try_get(1).map_err(|e| pg_err(ctx, e))?;
    if app != APPLICATION {
        return Err(incompatible(format!(
            "schema {schema:?} of another application ({app:?})"
        )));
    }
    match version {
        v if v == SCHEMA_VERSION => Ok(Plan::Ready),
        v if v > SCHEMA_VERSION => Err(incompatible(format!(
            "chatdesk schema version {v}, written by a newer chatdesk-postgres"
        ))),
        v if v < 0 => Err(incompatible(format!("chatdesk schema version {v}"))),
        v if migrate => Ok(Plan::Upgrade { from: v }),
        v => Err(incompatible(format!(
            "chatdesk schema version {v}, older than this build; open it with PgOptions {{ migrate: true, .. }} to upgrade it"
        ))),
    }
}

/// Checks the schema and initialises or migrates it when needed, in one
/// transaction that holds an advisory lock of the schema (so two processes
/// opening at once do it once). A foreign or newer schema is never written.
pub(crate) fn prepare(
    client: &mut Client,
    schema: &str,
    migrate: bool,
    lock_key: i64,
) -> Result<()> {
    if plan(client, schema, migrate)? == Plan::Ready {
        return Ok(());
    }
    let ctx = "initialising the store's schema";
    client
        .batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        .map_err(|e| pg_err(ctx, e))?;
    let out = (|| {
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
            .map_err(|e| pg_err(ctx, e))?;
        let from = match plan(client, schema, migrate)? {
            Plan::Ready => return Ok(()),
            Plan::Upgrade { from } => from,
        };
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .map_err(|e| pg_err(ctx, e))?;
        if from == 0 {
            client
                .batch_execute(
                    "CREATE TABLE chatdesk_schema (application TEXT NOT NULL, version INTEGER NOT NULL); ",
                )
                .map_err(|e| pg_err(ctx, e))?;
            client
                .execute(
                    "INSERT INTO chatdesk_schema (application, version) VALUES ($1, 0)",
                    &[&APPLICATION],
                )
                .map_err(|e| pg_err(ctx, e))?;
        }
        for step in MIGRATIONS.iter().filter(|m| m.to > from) {
            client.batch_execute(step.sql).map_err(|e| {
                pg_err(
                    format!(
                        "migrating the store to version {} ({})",
                        step.to, step.description
                    ),
                    e,
                )
            })?;
        }
        if from == 0 {
            for kind in IdKind::ALL.into_iter().filter(|k| !uses_sequence(*k)) {
                client
                    .execute(
                        "INSERT INTO chatdesk_counter (kind, last) VALUES ($1, 0)",
                        &[&kind.name()],
                    )
                    .map_err(|e| pg_err(ctx, e))?;
            }
        }
        client
            .execute(
                "UPDATE chatdesk_schema SET version = $1",
                &[&SCHEMA_VERSION],
            )
            .map_err(|e| pg_err("writing the store's version", e))?;
        Ok(())
    })();
    match out {
        Ok(()) => client
            .batch_execute("COMMIT")
            .map_err(|e| pg_err("committing the store's initialisation", e)),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}
