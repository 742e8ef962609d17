//! The PostgreSQL storage backend of chatdesk: one desk shared by several
//! processes, on one machine or many, through one PostgreSQL database.
//!
//! ```no_run
//! use chatdesk::backend::StorageExt;
//! use chatdesk_postgres::{PgOptions, PgStorage};
//!
//! # fn main() -> chatdesk::Result<()> {
//! let store = PgStorage::open(
//!     "postgresql://chatdesk:secret@db.example/app",
//!     PgOptions::default(),
//! )?;
//! let topics = store.read(|tx| tx.topics())?;
//! # let _ = topics;
//! store.close();
//! # Ok(())
//! # }
//! ```
//!
//! The store lives in one schema of the database (`chatdesk` unless
//! [`PgOptions::schema`] says otherwise), so a host's own database can hold
//! it beside the host's tables. Every process that opens the same URL and
//! schema works on the same desk.
//!
//! # What it guarantees
//! - **Atomic**: [`Storage::write_tx`] runs its closure once inside one
//!   PostgreSQL transaction; an `Err` from the closure (returned unchanged)
//!   or a failed `COMMIT` leaves nothing behind.
//! - **Ids never make writers wait**: topic, session and message ids and
//!   queue sequence numbers come from PostgreSQL sequences, which hand out
//!   a value at once, whoever else holds one in an open transaction. They
//!   are unique, never reused, and increasing in commit order among writers
//!   of one topic (those hold the topic's lock in turn); a failed or retried
//!   write may leave a gap, which is why
//!   [`Capabilities::gap_free_ids`](chatdesk::Capabilities) is false here
//!   (ids taken with the locks and not used, say by a refused create, are
//!   such gaps too).
//!   Across topics, two values taken by writers that commit at the same time
//!   may be ordered differently from their commits, so "first come" across
//!   topics (pick up first) is exact up to that window.
//! - **Writers that could disagree run one after the other**: a write first
//!   takes transaction-scoped advisory locks: the store's routing lock
//!   (shared or exclusive), then its topics, then its users, each in
//!   ascending order, as [`WriteTx::lock`] names them; writes on disjoint
//!   topics and agents run side by side on different machines. The locks
//!   are sent with `BEGIN`, which goes out with the transaction's first
//!   statement: a write that runs any statement before calling `lock` (or
//!   never calls it) takes the routing lock exclusively at that first
//!   statement and runs alone (always correct, never fast), and its later
//!   `lock` call adds nothing. Writes run at READ COMMITTED: once the locks
//!   are held, each statement sees everything committed before it.
//!   `ChatDesk` calls `lock` first in every write, with the scope of its
//!   operation (see chatdesk's storage guide): a message, a pick-up or a
//!   close locks its session's topic and agents; routing passes while a
//!   topic is Auto, sweeps and other store-wide jobs run alone.
//! - **Never a hang**: every lock wait is bounded by
//!   [`PgOptions::busy_timeout`] (`lock_timeout`); a writer that cannot get
//!   its turn gets [`chatdesk::Error::Conflict`] (retryable, nothing
//!   written), as do serialization failures and deadlocks PostgreSQL breaks.
//! - **The change feed** stays gap-free and in commit order across
//!   processes: its sequence is a counter row that each event writer locks
//!   until it commits. While the feed is on, writers that add events
//!   therefore take their turns at that row, whatever their topics: the
//!   price of a feed with no holes.
//! - **Few round trips** (on a network they, more than the server's work,
//!   bound an operation's latency, and a write holds its locks across all of
//!   them): `BEGIN`, the locks, the store's metadata rows and the ids the
//!   write said it would take ([`WriteTx::prefetch_ids`]) go in one message;
//!   the writes are kept and sent with `COMMIT`, in one message, as
//!   `EXECUTE`s of statements each connection prepared once, with the values
//!   written as SQL literals (escaped by `postgres-protocol`, libpq's rules);
//!   a read of a table with kept writes sends them first, so a transaction
//!   always reads its own writes. A session write needs the session's old
//!   queue key, which the transaction knows when it read the session or made
//!   it; otherwise it is sent at once. A text with a NUL character (which the
//!   protocol cannot carry as a literal) is sent bound, and refused by the
//!   server as before. So creating a session takes 5 round trips, picking it
//!   up 8, adding a message 5 (pinned by a test). A write's errors may
//!   therefore surface at its commit; it is rolled back all the same.
//! - **Reads** see one snapshot for the whole closure (REPEATABLE READ, READ
//!   ONLY) and never wait for writers.
//! - **Durable**: [`Durability::Durable`] commits with
//!   `synchronous_commit = on` (acknowledged = on the server's disk);
//!   [`Durability::Relaxed`] with `off` (a server crash may lose the last
//!   fraction of a second of commits, never half of one; [`Storage::flush`]
//!   makes everything before it durable).
//! - **A lost connection while committing**: the store asks the server
//!   (`txid_status`) on a new connection whether the transaction committed,
//!   and answers accordingly; only when it cannot tell does the operation
//!   fail with [`chatdesk::Error::OutcomeUnknown`].
//!
//! # Connections
//! A small pool of our own: at most [`PgOptions::pool_size`] connections,
//! opened when needed and kept while healthy; a caller that finds all of
//! them busy waits up to the busy timeout, then gets Conflict. A connection
//! that broke is dropped and a new one opened next time, so the pool
//! recovers when the server is back.
//!
//! TLS: build with the cargo feature `tls` (needs OpenSSL's development
//! headers) and set `sslmode=require` in the URL; without it connections are
//! plain (use a Unix socket or a trusted network).
//!
//! # Schema (version 2)
//! Times are `BIGINT` 100 ns ticks since the Unix epoch (UTC), `NULL` for
//! none; enumerations are their integer codes. Tables: `chatdesk_schema`
//! (`application`, `version`: the guard), `chat_topic` (the settings as JSON
//! plus the routing settings and pick-up statistics), `chat_topic_agent`,
//! `chat_presence`, `chat_agent`, `chat_routing_free`, `chat_session` (one
//! column per record field, plus `human_queue_seq`, `active_user` and
//! `pending_transfer_to` written from the record's own methods, each with a
//! partial index), `chat_message`, `chat_queue_index` (the counted queue
//! index: a queue position costs a fixed number of rows read),
//! the sequences `chatdesk_seq_topic`, `chatdesk_seq_session`,
//! `chatdesk_seq_message` and `chatdesk_seq_queue_seq`, `chatdesk_counter`
//! (the change feed's counter row), `chat_event` (the change feed) and
//! `chatdesk_meta`. Version 1 kept every id kind in `chatdesk_counter`;
//! migrating starts each sequence after its counter.
//!
//! # Versions and upgrades
//! On open, an empty (or missing) schema is initialised in one transaction;
//! a schema holding other tables, another application's version row, or a
//! newer version → [`chatdesk::Error::IncompatibleStore`], nothing written;
//! an older version is migrated only with [`PgOptions::migrate`], in one
//! transaction that also writes the new version.

mod errors;
mod listener;
mod lit;
mod pool;
mod schema;
#[doc(hidden)]
pub mod testing;
mod tx;

use crate::errors::{pg_err, storage_msg};
use crate::pool::{Connector, Pool};
use crate::tx::{Mode, PgTx};
use chatdesk::backend::{ForeignCommitWaker, ReadTx, WriteTx};
use chatdesk::{Capabilities, Error, Result, Storage};
use postgres::Client;
use std::time::{Duration, Instant};

/// How hard the store works to keep what it acknowledged (re-exported from
/// `chatdesk`, so a host needs no second import to open a store).
pub use chatdesk::Durability;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i32 = schema::SCHEMA_VERSION;

/// How to open a [`PgStorage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The schema the store lives in (default `chatdesk`; letters, digits
    /// and `_`).
    pub schema: String,
    /// `synchronous_commit = on` ([`Durability::Durable`], the default) or
    /// `off`.
    pub durability: Durability,
    /// How long a write waits for a lock, or a caller for a free
    /// connection, before failing with [`chatdesk::Error::Conflict`]
    /// (default 5 s).
    pub busy_timeout: Duration,
    /// The most connections the store keeps open (default 8).
    pub pool_size: usize,
    /// How long opening a connection may take (default 10 s).
    pub connect_timeout: Duration,
    /// Whether opening may upgrade a schema of an older version (default
    /// `false`: such a store is refused with IncompatibleStore).
    pub migrate: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            schema: "chatdesk".to_owned(),
            durability: Durability::Durable,
            busy_timeout: Duration::from_secs(5),
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            migrate: false,
        }
    }
}

/// Opens connections with the store's session settings.
#[derive(Clone)]
pub(crate) struct PgConnector {
    config: postgres::Config,
    session_sql: String,
}

impl Connector for PgConnector {
    fn connect(&self) -> Result<Client> {
        #[cfg(feature = "tls")]
        let client = {
            let tls = native_tls::TlsConnector::new()
                .map_err(|e| storage_msg("setting up TLS", e.to_string()))?;
            self.config
                .connect(postgres_native_tls::MakeTlsConnector::new(tls))
        };
        #[cfg(not(feature = "tls"))]
        let client = self.config.connect(postgres::NoTls);
        let mut client = client.map_err(|e| pg_err("connecting to PostgreSQL", e))?;
        client
            .batch_execute(&self.session_sql)
            .map_err(pool::setup_err)?;
        Ok(client)
    }
}

/// A chatdesk store in a PostgreSQL schema, shared by every process that
/// opens it. All calls block.
pub struct PgStorage {
    options: PgOptions,
    pool: Pool,
    /// Connects without preparing the write statements: how a commit's
    /// outcome is asked for after a lost connection (the fewer statements,
    /// the fewer locks that could make that question time out).
    plain: PgConnector,
    /// Hears other processes' commits of change-feed events (LISTEN).
    listener: listener::Listener,
    /// `NOTIFY` of this store's channel, then `COMMIT`: how a transaction
    /// that wrote events commits.
    notify_commit: String,
    /// The top bits of this store's advisory-lock keys (from the schema
    /// name, so stores in different schemas of one database do not wait
    /// for each other).
    space: u16,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// FNV-1a of the schema name, folded to 16 bits.
fn key_space(schema: &str) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in schema.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    // Only the low 16 bits are kept, on purpose.
    #[allow(clippy::cast_possible_truncation)]
    let folded = ((h >> 16) ^ h) as u16;
    folded
}

impl PgStorage {
    /// Connects to the database at `url` (a `postgresql://` URL or a
    /// `key=value` connection string) and opens (creating it if needed) the
    /// store in `options.schema`.
    ///
    /// # Errors
    /// [`chatdesk::Error::Validation`] for a URL or schema name that cannot
    /// be used; [`chatdesk::Error::IncompatibleStore`] for a schema of
    /// another application, a newer version, or an older one without
    /// `options.migrate`; [`chatdesk::Error::Storage`] when the server
    /// cannot be reached or fails.
    pub fn open(url: &str, options: PgOptions) -> Result<Self> {
        schema::check_schema_name(&options.schema)?;
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            Error::validation("url", format!("not a PostgreSQL connection string: {e}"))
        })?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("chatdesk");
        }
        let sync = match options.durability {
            Durability::Durable => "on",
            Durability::Relaxed => "off",
        };
        let timeout_ms = options.busy_timeout.as_millis().max(1);
        let session_sql = format!(
            "SET search_path TO \"{}\"; SET synchronous_commit TO {sync}; \
             SET lock_timeout TO '{timeout_ms}ms'; SET TIME ZONE 'UTC';",
            options.schema
        );
        let connector = PgConnector {
            config,
            session_sql,
        };
        let space = key_space(&options.schema);
        let channel = format!("chatdesk_{}", options.schema);
        let notify_commit = format!("NOTIFY \"{channel}\"; COMMIT");
        let listener = listener::Listener::new(connector.clone(), channel);
        let mut first = connector.connect()?;
        schema::prepare(
            &mut first,
            &options.schema,
            options.migrate,
            tx::lock_key(space, tx::CLASS_SCHEMA, 0),
        )?;
        let _ = first.close();
        // The pool's connections also prepare the write statements that
        // commits send as `EXECUTE`s (the schema exists by now).
        let plain = connector.clone();
        let mut pooled = connector;
        pooled.session_sql.push_str(&tx::prepare_writes());
        let pool = Pool::new(Box::new(pooled), options.pool_size, options.busy_timeout);
        Ok(PgStorage {
            options,
            pool,
            plain,
            listener,
            notify_commit,
            space,
        })
    }

    /// The options it was opened with.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// How many round trips to the server this store has made (statements,
    /// prepares, BEGIN with its locks, COMMIT): what an operation costs on a
    /// network.
    #[doc(hidden)]
    pub fn round_trips(&self) -> u64 {
        self.pool.round_trips()
    }

    /// Closes the idle connections (the busy ones close when given back
    /// and the store is dropped).
    pub fn close(self) {
        self.pool.close_idle();
    }

    /// After the connection broke while committing transaction `txid`: asks
    /// the server, on new connections, until the busy timeout, whether it
    /// committed.
    fn learn_outcome(&self, txid: Option<i64>, cause: &postgres::Error) -> Result<()> {
        let unknown = |why: String| Error::OutcomeUnknown {
            what: format!("the connection was lost while committing ({cause}); {why}"),
        };
        let Some(txid) = txid else {
            return Err(unknown("the transaction's id is not known".to_owned()));
        };
        let deadline = Instant::now() + self.options.busy_timeout;
        let mut last: String;
        loop {
            match self.plain.connect() {
                Ok(mut client) => {
                    let status = client
                        .query_one("SELECT txid_status($1)", &[&txid])
                        .and_then(|row| row.try_get::<_, Option<String>>(0));
                    let _ = client.close();
                    match status.as_ref().map(Option::as_deref) {
                        Ok(Some("committed")) => return Ok(()),
                        Ok(Some("aborted")) => {
                            return Err(Error::conflict(format!(
                                "the connection was lost while committing ({cause}) and the server rolled the transaction back; nothing was written; retry"
                            )));
                        }
                        Ok(Some(other)) => last = format!("the server says {other:?}"),
                        Ok(None) => {
                            return Err(unknown(
                                "the server no longer knows the transaction".to_owned(),
                            ));
                        }
                        Err(e) => last = format!("asking the server failed: {e}"),
                    }
                }
                Err(e) => last = format!("the server could not be reached: {e}"),
            }
            if Instant::now() >= deadline {
                return Err(unknown(last));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Storage for PgStorage {
    fn read_tx(&self, f: &mut dyn FnMut(&dyn ReadTx) -> Result<()>) -> Result<()> {
        let mut pooled = self.pool.get()?;
        let conn = pooled.conn()?;
        let tx = PgTx::new(conn, Mode::Read, self.space);
        let out = f(&tx);
        let (begun, failed) = (tx.begun(), tx.failed());
        if !begun {
            return out;
        }
        if out.is_err() || failed {
            pooled.rollback();
            return out;
        }
        let conn = pooled.conn()?;
        conn.trip();
        match conn.client.batch_execute("COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                pooled.discard();
                Err(pg_err("ending a read transaction", e))
            }
        }
    }

    fn write_tx(&self, f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        let mut pooled = self.pool.get()?;
        let conn = pooled.conn()?;
        let mut tx = PgTx::new(conn, Mode::Write, self.space);
        let out = f(&mut tx);
        let (begun, failed, txid) = (tx.begun(), tx.failed(), tx.txid());
        let wrote_events = tx.wrote_events();
        // The writes kept for the commit go in its message, before COMMIT.
        let mut commit = tx.take_pending();
        if !begun {
            return out;
        }
        if let Err(e) = out {
            pooled.rollback();
            return Err(e);
        }
        if failed {
            pooled.rollback();
            return Err(storage_msg(
                "committing a write transaction",
                "a statement of the transaction failed (its error was not returned by the closure); rolled back",
            ));
        }
        let conn = pooled.conn()?;
        commit.push_str(if wrote_events {
            self.notify_commit.as_str()
        } else {
            "COMMIT"
        });
        conn.trip();
        match conn.client.batch_execute(&commit) {
            Ok(()) => Ok(()),
            Err(e) if e.code().is_some() => {
                // The server refused the commit (or the notification): the
                // transaction is rolled back or aborted; end it.
                pooled.rollback();
                Err(pg_err("committing a write transaction", e))
            }
            Err(e) => {
                pooled.discard();
                drop(pooled);
                self.learn_outcome(txid, &e)
            }
        }
    }

    fn flush(&self) -> Result<()> {
        if self.options.durability == Durability::Durable {
            return Ok(());
        }
        // A transaction with an id committed synchronously flushes the
        // server's log up to its commit, so every commit before it too.
        let mut pooled = self.pool.get()?;
        let conn = pooled.conn()?;
        let out = conn.client.batch_execute(
            "BEGIN; SET LOCAL synchronous_commit TO on; SELECT txid_current(); COMMIT;",
        );
        match out {
            Ok(()) => Ok(()),
            Err(e) => {
                pooled.discard();
                Err(pg_err("flushing the server's log", e))
            }
        }
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::EMBEDDED.shared(true).gap_free(false)
    }

    fn on_foreign_commit(&self, wake: ForeignCommitWaker) {
        self.listener.register(wake);
    }
}
