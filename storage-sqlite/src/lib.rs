//! The SQLite storage backend of chatdesk: rusqlite with a bundled SQLite, in
//! WAL mode, on a real relational schema that any SQLite tool can read.
//!
//! ```no_run
//! use chatdesk::backend::StorageExt;
//! use chatdesk_sqlite::{SqliteOptions, SqliteStorage};
//!
//! # fn main() -> chatdesk::Result<()> {
//! let store = SqliteStorage::open("chat.db", SqliteOptions::default())?;
//! let topics = store.read(|tx| tx.topics())?;
//! # let _ = topics;
//! store.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! # How it keeps the storage contract
//! The guarantees every backend keeps are listed in
//! [`chatdesk::guide::storage`]; this is how SQLite keeps them.
//!
//! - **Atomic**: [`Storage::write_tx`] runs its closure once inside
//!   `BEGIN IMMEDIATE … COMMIT`; an `Err` from the closure (returned unchanged)
//!   or a failed `COMMIT` rolls everything back, ids included (the id counters
//!   are rows written in the same transaction).
//! - **Isolated**: one writer connection behind a fair mutex, so writers of one
//!   process are served in arrival order and never rely on SQLite's busy
//!   handler between threads; `BEGIN IMMEDIATE` takes SQLite's write lock
//!   before the closure reads anything, so writers of different processes run
//!   one after the other too. Readers use their own connections and a
//!   deferred read transaction: one WAL snapshot for the whole closure, never
//!   a writer's uncommitted state, and they do not wait for writers.
//! - **Fair between processes**: before `BEGIN IMMEDIATE`, a writer takes a
//!   ticket and waits for its turn, in the order the tickets were drawn,
//!   with OS file locks in the directory `<file>-turns` beside the database
//!   (SQLite's busy handler sleeps and polls, and left some processes
//!   waiting for seconds while others wrote). Each process holds one ticket
//!   at a time, so processes take turns whatever their number of threads. A
//!   writer whose turn has not come after [`SqliteOptions::busy_timeout`]
//!   gets [`chatdesk::Error::Conflict`] (retryable), never a hang. The OS
//!   drops a killed process's locks, so a crashed writer never blocks the
//!   others; processes that do not take turns (another program, an older
//!   chatdesk) still write safely, SQLite's lock keeps them apart, but are
//!   not ordered. A `file:` URI, `:memory:`, or a file system that does
//!   not lock files takes no turns. Measured
//!   (the `fairness` benchmark: 1 creator and 4 agent processes, 2 000
//!   sessions, durable): each agent's share of the pick-ups 0.31–0.78 of a
//!   fair share → 1.00, the longest write 14–26 s → 0.19–0.35 s.
//! - **Re-entry**: a write (or `flush`) started from inside a write
//!   transaction of the same store on the same thread fails at once with
//!   [`chatdesk::Error::Conflict`] instead of waiting for itself.
//! - **Durable**: `synchronous=FULL` in [`Durability::Durable`] (a commit that
//!   returned survives a power loss); `synchronous=NORMAL` in
//!   [`Durability::Relaxed`] (survives a process crash; [`Storage::flush`]
//!   checkpoints the WAL, which makes everything before it durable).
//! - **No cache**: every read goes to SQLite, so several processes may share
//!   one file.
//! - **Checkpoints**: in [`Durability::Relaxed`] mode the writer connection
//!   runs with `wal_autocheckpoint = 0` and a thread of the store, on its
//!   own connection, runs a `PASSIVE` checkpoint every 128 commits, so no
//!   commit (and no writer queued behind it) waits for the WAL to be copied
//!   back (measured under 8 threads: p99 7.3 ms → 3.6–4.0 ms). In durable
//!   mode SQLite's own commit-time checkpoint stays: there a background
//!   checkpoint's `fsync` of the main file competes with every commit's
//!   `fsync` of the WAL (measured: a durable add-message 1.8× the raw
//!   baseline instead of ~1.0×).
//!
//! # Schema (version 4)
//! Times are `INTEGER` 100 ns ticks since the Unix epoch (UTC), `NULL` for
//! none; booleans are `INTEGER` 0/1; enumerations are their integer codes.
//!
//! | table | columns |
//! |---|---|
//! | `chat_topic` | `id INTEGER PRIMARY KEY`, `name TEXT` (the settings' `Name`, for reading only), `settings_json TEXT` (the saved `ChatTopicEntity`), `last_accept INTEGER NULL`, `seconds_pr_accept INTEGER`; the routing settings (version 4): `routing_mode` (0 Manual, 1 Auto; default 0), `routing_strategy` (0 LeastBusy, 1 LongestIdle; default 0), `default_capacity` (default 3), `answer_timeout_secs`, `transfer_timeout_secs` (seconds, 0 = off; default 0) |
//! | `chat_topic_agent` | `topic_id`, `user_id`, `can_listen`, `can_respond`, `can_manage`, `can_notify`; `PRIMARY KEY (topic_id, user_id)`; index `(user_id, topic_id)` |
//! | `chat_presence` | `user_id INTEGER PRIMARY KEY`, `present`, `display_name TEXT` |
//! | `chat_session` | one column per `SessionRecord` field (`id`, `topic_id`, `user_id`, `person_id`, `contact_id`, `project_id`, `sale_id`, `ticket_id`, `customer_alias`, `customer_host`, `customer_name`, `customer_email`, `customer_phone`, `customer_consented`, `customer_company`, `status`, `first_message`, `last_message`, `when_requested`, `when_started`, `when_ended`, `when_idle`, `when_fetched`, `key_hash BLOB` (32 bytes), `initial_queue_pos`, `alert_level`, `rank`, `transfer_to`, `chatbot_is_active`, `rating`, `queue_seq`, `queue_entered`, `customer_last_since`, `deleted_at`; since version 4 the routing state `routed_at`, `routed_answered`, `excluded_users TEXT` (a JSON array of user ids in the record's order, e.g. `[9,-3]`; `[]` when none), `transfer_requested_at`, and the statistics `max_alert_level`, `answer_timeouts`, `first_answer_at`) plus three derived columns written from the record's own methods: `human_queue_seq` (`SessionRecord::human_queue_seq`), `active_user` (`SessionRecord::active_user`) and `pending_transfer_to` (`SessionRecord::pending_transfer_to`, version 4). Indexes: `UNIQUE (key_hash)`, `(status, id)`, `(topic_id, id)`, `(topic_id, human_queue_seq) WHERE human_queue_seq IS NOT NULL`, `(active_user, id) WHERE active_user IS NOT NULL`, `(pending_transfer_to, id) WHERE pending_transfer_to IS NOT NULL` and `(when_requested, id)` (the time index reports read, version 4) |
//! | `chat_message` | `id INTEGER PRIMARY KEY`, `session_id REFERENCES chat_session(id)`, `type`, `message`, `author`, `read_by_customer`, `special_type`, `special_param`, `when_posted`; index `(session_id, id)` |
//! | `chat_queue_index` | `topic_id`, `node`, `count`; `PRIMARY KEY (topic_id, node)`: the counted queue index (`chatdesk::backend::queue_index`), so a queue position costs a fixed number of point reads (version 2) |
//! | `chat_agent` | what routing keeps per agent (version 4): `user_id INTEGER PRIMARY KEY`, `max_chats INTEGER NULL` (`NULL`: each topic's default capacity), `last_assigned INTEGER NULL` |
//! | `chatdesk_counter` | `kind TEXT PRIMARY KEY` (`IdKind::name`), `last INTEGER` (the highest id given) |
//! | `chat_event` | the change feed (version 3): `seq INTEGER PRIMARY KEY` (gap-free, commit order), `event_id TEXT` (UUID v4), `at`, `session_id`, `topic_id` (no foreign keys: a purged session's events stay until the host prunes them), `actor_kind` (0 System, 1 agent, 2 customer), `actor_user NULL` (the agent), `kind TEXT` (e.g. `session.created`), `data TEXT` (a JSON object chatdesk encodes) |
//! | `chatdesk_meta` | `key TEXT PRIMARY KEY`, `value TEXT`: the store's settings, e.g. `change_feed` = `on` (version 3) |
//!
//! # Versions and upgrades
//! The file carries `PRAGMA application_id` = [`APPLICATION_ID`] ("CHDS") and
//! `PRAGMA user_version` = [`SCHEMA_VERSION`]. On open:
//! - a brand-new empty file is initialised (schema, application id and version
//!   in one transaction);
//! - a file of another application (another application id, or id 0 with
//!   tables in it), a store of a newer schema version, or a file that is not a
//!   SQLite database → [`chatdesk::Error::IncompatibleStore`] (a damaged
//!   database → [`chatdesk::Error::Corrupt`]); nothing is written to it;
//! - a store of an older version is migrated only when
//!   [`SqliteOptions::migrate`] is set (otherwise IncompatibleStore): the
//!   migration steps after its version run in one immediate transaction that
//!   also writes the new version, so a crash leaves the old or the new schema,
//!   never half. A new schema version is a new step appended to the list (never
//!   an edit of a published one); back the file up before migrating, since an
//!   older build cannot open the upgraded store.
//!
//! Versions: 1 the tables above without the rest of this list; 2 the
//! counted queue index; 3 the change feed and the metadata map; 4 routing
//! and the desk's statistics (the topic and session columns marked
//! version 4, `chat_agent`, and the pending-transfer and request-time
//! indexes). The step to 4 adds its columns with the records' defaults, so
//! existing rows read as before plus defaults, and fills
//! `pending_transfer_to` from each stored session with a TransferTo by the
//! record's own rule (a row that does not decode keeps `NULL` and reads as
//! Corrupt, as before).

// Not part of the API: public only for the benchmarks' raw baselines.
#[doc(hidden)]
pub mod bench_support;
mod checkpointer;
mod errors;
mod schema;
// Not part of the API: public only for this workspace's tests.
#[doc(hidden)]
pub mod testing;
mod turns;
mod tx;

use crate::errors::sql_err;
use chatdesk::backend::{ReadTx, WriteTx};
use chatdesk::{Result, Storage};

/// How hard the store works to keep what it acknowledged (re-exported from
/// `chatdesk`, so a host needs no second import to open a store).
pub use chatdesk::Durability;
use parking_lot::{FairMutex, Mutex};
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::thread::ThreadId;
use std::time::Duration;
use tx::SqlTx;

/// `PRAGMA application_id` of a chatdesk store: `0x43484453`, "CHDS".
pub const APPLICATION_ID: i32 = schema::APPLICATION_ID;

/// The schema version (`PRAGMA user_version`) this build reads and writes.
pub const SCHEMA_VERSION: i32 = schema::SCHEMA_VERSION;

/// How many idle read connections are kept for reuse.
const MAX_IDLE_READERS: usize = 8;

/// How many prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 64;

/// How to open a [`SqliteStorage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// `synchronous=FULL` ([`Durability::Durable`], the default) or `NORMAL`.
    pub durability: Durability,
    /// How long a connection waits for another process's lock before the
    /// operation fails with [`chatdesk::Error::Conflict`] (default 5 s).
    pub busy_timeout: Duration,
    /// Whether opening may upgrade a store of an older schema version
    /// (default `false`: such a store is refused with IncompatibleStore).
    pub migrate: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Durable,
            busy_timeout: Duration::from_secs(5),
            migrate: false,
        }
    }
}

/// A chatdesk store in one SQLite file (WAL mode). Several processes may open
/// the same file. All calls block.
#[derive(Debug)]
pub struct SqliteStorage {
    path: PathBuf,
    options: SqliteOptions,
    writer: FairMutex<Connection>,
    /// The thread holding `writer`, so that a write started from inside a
    /// write on the same thread fails instead of waiting for itself.
    writer_thread: Mutex<Option<ThreadId>>,
    /// Turn-taking with the writers of other processes (none for a
    /// database that is not a plain file).
    turns: Option<turns::Turns>,
    readers: Mutex<Vec<Connection>>,
    /// Runs the WAL checkpoints the writer no longer runs inside its
    /// commits (relaxed mode; see the crate docs).
    checkpointer: Option<checkpointer::Checkpointer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
}

fn connect(path: &Path, options: &SqliteOptions) -> Result<Connection> {
    let ctx = || format!("opening {}", path.display());
    let conn = Connection::open(path).map_err(|e| sql_err(ctx(), e))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| sql_err(ctx(), e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The pragmas every connection gets (after the file was checked).
fn configure(conn: &Connection, options: &SqliteOptions, role: Role) -> Result<()> {
    let ctx = "setting the connection's pragmas";
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| schema::open_err(ctx, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(errors::storage_msg(
            ctx,
            format!("SQLite kept journal_mode {mode:?} instead of WAL"),
        ));
    }
    let sync = match options.durability {
        Durability::Durable => "FULL",
        Durability::Relaxed => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;"
    ))
    .map_err(|e| sql_err(ctx, e))?;
    if role == Role::Reader {
        conn.execute_batch("PRAGMA query_only = ON;")
            .map_err(|e| sql_err(ctx, e))?;
    }
    Ok(())
}

impl SqliteStorage {
    /// Opens (creating it if needed) the store at `path`.
    ///
    /// # Errors
    /// [`chatdesk::Error::IncompatibleStore`] for a file of another application,
    /// a newer schema version, an older one without `options.migrate`, or a
    /// file that is not a SQLite database; [`chatdesk::Error::Corrupt`] for a
    /// damaged database; [`chatdesk::Error::Conflict`] when another process
    /// held the file past the busy timeout; [`chatdesk::Error::Storage`] when
    /// SQLite fails (e.g. the path cannot be opened).
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut writer = connect(&path, &options)?;
        // Check before writing anything: a foreign file is never touched.
        let needs_prepare = schema::check(&writer, options.migrate)?;
        configure(&writer, &options, Role::Writer)?;
        if needs_prepare {
            schema::prepare(&mut writer, options.migrate)?;
        }
        let checkpointer = match options.durability {
            Durability::Durable => None,
            Durability::Relaxed => Some(start_checkpointer(&path, &options, &writer)?),
        };
        // Only once the file is known to be ours: a refused file gets no
        // lock files beside it.
        let turns = if turns::is_plain_file(&path) {
            turns::Turns::open(&path)?
        } else {
            None
        };
        Ok(SqliteStorage {
            path,
            options,
            writer: FairMutex::new(writer),
            writer_thread: Mutex::new(None),
            turns,
            readers: Mutex::new(Vec::new()),
            checkpointer,
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options it was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }

    /// Checkpoints the WAL into the main file and closes every connection.
    ///
    /// # Errors
    /// [`chatdesk::Error::Storage`] when SQLite fails to checkpoint or close
    /// (the connections are closed anyway).
    pub fn close(self) -> Result<()> {
        let SqliteStorage {
            writer,
            readers,
            checkpointer,
            turns,
            ..
        } = self;
        drop(checkpointer);
        drop(turns);
        let mut first_err = None;
        for conn in readers.into_inner() {
            if let Err((_, e)) = conn.close() {
                first_err.get_or_insert(sql_err("closing a read connection", e));
            }
        }
        let writer = writer.into_inner();
        if let Err(e) = checkpoint(&writer, "TRUNCATE") {
            first_err.get_or_insert(e);
        }
        if let Err((_, e)) = writer.close() {
            first_err.get_or_insert(sql_err("closing the write connection", e));
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Takes the writer connection (in arrival order), or fails with
    /// Conflict when this thread already holds it: waiting would be waiting
    /// for itself.
    fn lock_writer(&self, what: &str) -> Result<WriterGuard<'_>> {
        let me = std::thread::current().id();
        if *self.writer_thread.lock() == Some(me) {
            return Err(chatdesk::Error::conflict(format!(
                "{what} on a SQLite store from inside a write transaction of the same store on the same thread \
                 (e.g. a message hook calling another service on this store): it would wait for itself"
            )));
        }
        let conn = self.writer.lock();
        *self.writer_thread.lock() = Some(me);
        Ok(WriterGuard {
            conn,
            thread: &self.writer_thread,
        })
    }

    fn take_reader(&self) -> Result<Connection> {
        if let Some(conn) = self.readers.lock().pop() {
            return Ok(conn);
        }
        let conn = connect(&self.path, &self.options)?;
        configure(&conn, &self.options, Role::Reader)?;
        Ok(conn)
    }

    fn give_back_reader(&self, conn: Connection) {
        // A connection left inside a transaction (a failed rollback) is
        // dropped rather than reused.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = self.readers.lock();
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// The writer connection, with its holder recorded until dropped.
struct WriterGuard<'a> {
    conn: parking_lot::FairMutexGuard<'a, Connection>,
    thread: &'a Mutex<Option<ThreadId>>,
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        *self.thread.lock() = None;
    }
}

impl std::ops::Deref for WriterGuard<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Turns off the writer's commit-time checkpoint and starts the thread that
/// checkpoints instead, on its own connection.
fn start_checkpointer(
    path: &Path,
    options: &SqliteOptions,
    writer: &Connection,
) -> Result<checkpointer::Checkpointer> {
    writer
        .execute_batch("PRAGMA wal_autocheckpoint = 0;")
        .map_err(|e| sql_err("turning off the commit-time checkpoint", e))?;
    let background = connect(path, options)?;
    configure(&background, options, Role::Writer)?;
    checkpointer::Checkpointer::start(background).map_err(|e| {
        chatdesk::Error::Storage(chatdesk::StorageError::new(
            "sqlite",
            "starting the checkpoint thread",
            e,
        ))
    })
}

/// Runs `PRAGMA wal_checkpoint(mode)`; returns whether it completed.
fn checkpoint(conn: &Connection, mode: &str) -> Result<bool> {
    let ctx = "checkpointing the WAL";
    let busy: i64 = conn
        .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get(0))
        .map_err(|e| sql_err(ctx, e))?;
    Ok(busy == 0)
}

impl Storage for SqliteStorage {
    fn read_tx(&self, f: &mut dyn FnMut(&dyn ReadTx) -> Result<()>) -> Result<()> {
        let mut conn = self.take_reader()?;
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(|e| sql_err("beginning a read transaction", e))?;
            let out = f(&SqlTx::new(&tx));
            // Ending a read transaction only releases its snapshot.
            let end = tx
                .commit()
                .map_err(|e| sql_err("ending a read transaction", e));
            out.and(end)
        })();
        self.give_back_reader(conn);
        result
    }

    fn write_tx(&self, f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        let mut conn = self.lock_writer("write_tx")?;
        // Dropped before the connection's guard: the turn goes back first.
        let _turn = match &self.turns {
            Some(t) => Some(t.take(self.options.busy_timeout)?),
            None => None,
        };
        if !conn.is_autocommit() {
            // Left open by an earlier failure: nothing of it may survive.
            conn.execute_batch("ROLLBACK")
                .map_err(|e| sql_err("rolling back a leftover transaction", e))?;
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_err("beginning a write transaction", e))?;
        let out = f(&mut SqlTx::new(&tx));
        match out {
            Ok(()) => {
                tx.commit()
                    .map_err(|e| sql_err("committing a write transaction", e))?;
                if let Some(c) = &self.checkpointer {
                    c.committed();
                }
                Ok(())
            }
            Err(e) => {
                // A failed rollback leaves the transaction open; the next
                // write_tx rolls it back before it begins.
                let _ = tx.rollback();
                Err(e)
            }
        }
    }

    fn flush(&self) -> Result<()> {
        let conn = self.lock_writer("flush")?;
        match self.options.durability {
            // Commits are already durable: a passive checkpoint only keeps the
            // WAL short.
            Durability::Durable => checkpoint(&conn, "PASSIVE").map(|_| ()),
            // The checkpoint syncs the WAL before copying it back, which makes
            // every commit before it durable.
            Durability::Relaxed => {
                if checkpoint(&conn, "FULL")? {
                    Ok(())
                } else {
                    Err(chatdesk::Error::conflict(
                        "flush: readers of another connection kept the WAL checkpoint from completing past the busy timeout; retry",
                    ))
                }
            }
        }
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}
