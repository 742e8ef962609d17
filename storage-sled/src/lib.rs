//! The sled backend of chatdesk: prefixed, big-endian keys (ordered access
//! paths are range scans) in two sled trees, one for ended sessions (the
//! history) and one for everything else, postcard rows with a version byte,
//! and transactions built on a lock, an overlay and one atomic commit.
//!
//! ```
//! use chatdesk::backend::{IdKind, StorageExt};
//! use chatdesk_sled::{SledOptions, SledStorage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = SledStorage::open(dir.path(), SledOptions::default())?;
//! let id = store.write(|tx| tx.next_id(IdKind::Session))?;
//! assert_eq!(id, 1);
//! store.close()?;
//!
//! // Counters are chatdesk's own keys, so they survive a reopen.
//! let store = SledStorage::open(dir.path(), SledOptions::default())?;
//! assert_eq!(store.write(|tx| tx.next_id(IdKind::Session))?, 2);
//! # Ok(()) }
//! ```
//!
//! # How the storage contract is kept
//! The guarantees every backend keeps are listed in
//! [`chatdesk::guide::storage`]; this is how sled keeps them.
//!
//! - **Atomic**: a write transaction's closure runs once against an overlay of
//!   its own pending writes; only when it returns `Ok` is the overlay applied,
//!   as one `sled::Batch` (sled applies a batch entirely or not at all, also
//!   across a crash), or, when a session moves between the two trees (it
//!   ends or is reopened), as one sled transaction over both trees with the
//!   same guarantee. An `Err` drops the overlay: nothing was written, no id
//!   was used.
//! - **Isolated**: writers queue on a fair mutex (served in arrival order), so
//!   one closure runs at a time and reads a tree nobody else changes. Readers
//!   hold a read lock for their whole closure; the commit (apply, then flush
//!   in durable mode) holds the same lock exclusively, so a reader sees the
//!   trees entirely before or entirely after a transaction. Sled's
//!   transactions only commit finished writes to both trees: the closure
//!   never runs inside one (they re-run their closure on conflict and cannot
//!   scan ranges).
//! - **History apart**: ended sessions (their rows, key/status/topic and
//!   request-time index entries and messages) live in the `history` tree,
//!   so a store of a million closed chats keeps the tree every open
//!   session's operations read and write as small as a new store's. The
//!   request-time index (what reports read) is split the same way: a range
//!   of it is a seek and a short scan in each tree, so a one-day report
//!   costs the same whatever the history holds. A session moves (messages
//!   included) when it ends or is reopened. The history tree is only read
//!   by an open session's write to check that no ended session holds its
//!   key hash (a key hash names the newest session written with it, on
//!   every backend).
//! - **Durable**: in [`Durability::Durable`] mode every commit is flushed
//!   before the lock is released and the call returns, so no reader acts on
//!   data a crash could take back. A flush is sled's `flush` followed by an
//!   `fdatasync` of sled's log file: on Linux sled 0.34 writes its log with
//!   `sync_file_range`, which does not flush the drive's write cache. In [`Durability::Relaxed`] mode sled flushes
//!   in the background (every 500 ms): a crash may lose a suffix of
//!   acknowledged transactions, never a hole and never half of one;
//!   [`Storage::flush`] makes everything before it durable.
//! - **Ids** are chatdesk's own counter keys, advanced with
//!   [`chatdesk::backend::next_after`] inside the transaction (never sled's
//!   `generate_id`, which jumps on reopen).
//! - **Versioned**: see the schema key rules on [`SledStorage::open`].
//!
//! # sled's limits
//! sled 0.34 may fail to open damaged files with an error or with a panic. Both
//! are reported as [`Error::Corrupt`] (a panic is caught, the hook still prints
//! it). A panic inside sled later on (for damage found while reading) is also
//! caught and reported as `Corrupt`, after which the handle refuses further
//! work; a panic on one of sled's own background threads cannot be caught.
//! One directory can be opened by one handle at a time (sled locks it).
//! Unlike the memory backend, a read closure holds the read lock until it
//! returns, so starting a write transaction on the same store from inside a
//! read closure deadlocks. A write transaction started from inside a write
//! transaction of the same store on the same thread (say, a message hook
//! calling a second service on this store) fails at once with
//! [`Error::Conflict`] instead of waiting for itself.

// Not part of the API: public only for the benchmarks' raw baselines.
#[doc(hidden)]
pub mod bench_support;
mod engine;
mod keys;
mod overlay;
mod preflight;
mod queue_cache;
mod rows;
mod schema;
// Not part of the API: public only for this workspace's tests.
#[doc(hidden)]
pub mod testing;
mod tx;

use chatdesk::backend::{ReadTx, WriteTx};
use chatdesk::{Error, Result, Storage, StorageError};

/// How hard the store works to keep what it acknowledged (re-exported from
/// `chatdesk`, so a host needs no second import to open a store).
pub use chatdesk::Durability;
use engine::{Engine, panic_text};
use parking_lot::{FairMutex, Mutex, RwLock};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::thread::ThreadId;
use tx::Tx;

/// How [`SledStorage::open`] opens a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SledOptions {
    /// Flush every commit before returning ([`Durability::Durable`], the
    /// default), or let sled flush in the background ([`Durability::Relaxed`]).
    pub durability: Durability,
    /// Upgrade a store written by an older chatdesk instead of refusing it
    /// with [`Error::IncompatibleStore`].
    pub migrate: bool,
    /// The most memory sled's page cache may hold, in bytes (sled's
    /// `cache_capacity`; default [`DEFAULT_CACHE_BYTES`]). The cache fills
    /// as pages are read, so a store read widely (a report over the whole
    /// history, an upgrade) grows towards this bound; a smaller bound keeps
    /// the process smaller at the cost of decoding pages again when they
    /// are read again. sled also keeps memory per stored item outside the
    /// cache (its page table, loaded on open), so a process's memory grows
    /// with the store whatever the bound. Measured with 1 000 000 ended
    /// sessions (two messages each): about 190 MB once open; after reading
    /// every session once 518 MB with the default bound, 285 MB with
    /// 64 MiB, 215 MB with 8 MiB, with the same median time for a random
    /// read.
    pub cache_bytes: u64,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            durability: Durability::default(),
            migrate: false,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// How often sled flushes in the background in relaxed mode.
const RELAXED_FLUSH_MS: u64 = 500;

/// The default bound of sled's page cache ([`SledOptions::cache_bytes`]).
pub const DEFAULT_CACHE_BYTES: u64 = 1024 * 1024 * 1024;

/// A chatdesk store in a sled directory.
#[derive(Debug)]
pub struct SledStorage {
    engine: Engine,
    /// Writers queue here, in arrival order.
    writer: FairMutex<()>,
    /// The thread holding `writer`, so that a write started from inside a
    /// write on the same thread fails instead of waiting for itself.
    writer_thread: Mutex<Option<ThreadId>>,
    /// Readers (and a writer's closure) share it; a commit takes it
    /// exclusively. It guards the in-memory copy of the queue index, which
    /// changes together with the tree.
    gate: RwLock<queue_cache::QueueCache>,
    durability: Durability,
}

/// Opens `config`, retrying for up to 3 s while sled's threads of a handle
/// dropped a moment ago still hold the directory's file lock.
pub(crate) fn open_waiting_for_lock(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match config.open() {
            Err(e) if is_lock_error(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Whether sled failed to open because another handle holds the directory's lock.
fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
        || io.to_string().contains("lock"))
}

/// How a store is opened: background flushes only in relaxed mode.
fn sled_config(path: &Path, durability: Durability, cache_bytes: u64) -> sled::Config {
    let flush_every = match durability {
        Durability::Durable => None,
        Durability::Relaxed => Some(RELAXED_FLUSH_MS),
    };
    sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .flush_every_ms(flush_every)
}

/// Opens `config` (directory `path`) with sled, a panic included as Corrupt.
pub(crate) fn open_engine(path: &Path, config: &sled::Config) -> Result<Engine> {
    // sled's threads of a store dropped a moment ago may still hold the
    // directory's file lock: retry a lock failure for a short while.
    let opened = catch_unwind(AssertUnwindSafe(|| open_waiting_for_lock(config)));
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Err(open_error(path, e)),
        Err(p) => {
            return Err(Error::corrupt(format!(
                "sled panicked opening {}: {}",
                path.display(),
                panic_text(p.as_ref())
            )));
        }
    };
    Engine::new(db, path)
}

/// Maps a failure of `sled::Config::open`.
fn open_error(path: &Path, e: sled::Error) -> Error {
    use std::io::ErrorKind;
    match e {
        sled::Error::Io(io)
            if !matches!(io.kind(), ErrorKind::UnexpectedEof | ErrorKind::InvalidData) =>
        {
            Error::Storage(StorageError::new(
                "sled",
                format!("opening {}", path.display()),
                io,
            ))
        }
        other => Error::corrupt(format!("sled could not open {}: {other}", path.display())),
    }
}

impl SledStorage {
    /// Opens (or creates) the store in the directory `path`.
    ///
    /// An empty directory is initialised with chatdesk's version key; a store
    /// written by this version opens as it is; one written by an older
    /// version is upgraded only when `options.migrate` is set.
    ///
    /// Plain `sled::open` writes to any directory it opens (its settings
    /// file, its blob directory, its recovery), so a store is looked at
    /// before sled may touch it. A directory whose marker file names this
    /// version is opened directly (our current store, the usual case); a new
    /// or empty one is initialised; anything else (a foreign sled store, a
    /// store of another chatdesk version, damage that removed the marker) is
    /// first copied to a temporary directory (the system's, `TMPDIR` on
    /// Unix) and checked there, so a store
    /// that is refused is left byte for byte as it was. That check costs a
    /// copy of sled's files once (an upgrade, or a store of a build that did
    /// not name its version in the marker). What remains: when the marker
    /// names this version but sled's files are damaged inside, sled's
    /// recovery may write to them (for instance cut its log at the first
    /// damaged entry) before the store is refused as `Corrupt`, as with
    /// plain sled; an emptied or missing `db` or `conf` file is refused
    /// before sled runs. Copy such a directory first to keep it as it was.
    ///
    /// # Errors
    /// - [`Error::IncompatibleStore`] when the directory holds a sled store that
    ///   is not chatdesk's, or one of a newer version (or an older one without
    ///   `migrate`);
    /// - [`Error::Corrupt`] when sled cannot read the files (sled's limit: it
    ///   may not tell damage from other failures);
    /// - [`Error::Storage`] for I/O failures such as a missing permission, or
    ///   the directory being open in another handle or process.
    pub fn open(path: impl AsRef<Path>, options: SledOptions) -> Result<Self> {
        let path = path.as_ref();
        // Before sled writes anything: a directory not known to hold our
        // current store is checked on a copy (see the docs above).
        if preflight::look(path)? == preflight::Found::Unknown {
            preflight::check_copy(path, options.migrate)?;
        }
        let config = sled_config(path, options.durability, options.cache_bytes);
        let mut engine = open_engine(path, &config)?;
        schema::prepare(&mut engine, path, options.migrate)?;
        let queue = queue_cache::QueueCache::load(&engine)?;
        Ok(SledStorage {
            engine,
            writer: FairMutex::new(()),
            writer_thread: Mutex::new(None),
            gate: RwLock::new(queue),
            durability: options.durability,
        })
    }

    /// Flushes and closes the store.
    ///
    /// # Errors
    /// The flush failed: what relaxed mode acknowledged last may be lost.
    pub fn close(self) -> Result<()> {
        self.engine.flush()
    }

    /// The durability mode the store was opened with.
    pub fn durability(&self) -> Durability {
        self.durability
    }
}

/// Clears the writer's thread when its transaction ends (before the writer
/// mutex is released: it is declared after that guard).
struct Holder<'a>(&'a Mutex<Option<ThreadId>>);

impl Drop for Holder<'_> {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

impl Storage for SledStorage {
    fn read_tx(&self, f: &mut dyn FnMut(&dyn ReadTx) -> Result<()>) -> Result<()> {
        let shared = self.gate.read();
        self.engine.check()?;
        f(&Tx::with_queue_cache(&self.engine, &shared))
    }

    fn write_tx(&self, f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        let me = std::thread::current().id();
        if *self.writer_thread.lock() == Some(me) {
            return Err(Error::conflict(
                "a write transaction on a sled store from inside a write transaction of the same store \
                 on the same thread (e.g. a message hook calling another service on this store): \
                 it would wait for itself",
            ));
        }
        let _writer = self.writer.lock();
        *self.writer_thread.lock() = Some(me);
        let _holder = Holder(&self.writer_thread);
        self.engine.check()?;
        // The closure reads the queue index's copy under the shared gate;
        // no other writer can change it meanwhile (the writer mutex).
        let writes = {
            let shared = self.gate.read();
            let mut tx = Tx::with_queue_cache(&self.engine, &shared);
            f(&mut tx)?;
            tx.into_writes()
        };
        if writes.is_empty() {
            return Ok(());
        }
        let queue_writes = queue_cache::QueueCache::writes_of(&writes.open);
        let mut exclusive = self.gate.write();
        self.engine.apply(writes)?;
        exclusive.apply(queue_writes);
        if self.durability == Durability::Durable {
            // Visible but maybe not on disk: refuse further work rather than
            // let anyone act on it.
            self.engine.flush().inspect_err(|_| self.engine.poison())?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.engine.check()?;
        self.engine.flush()
    }

    fn backend_name(&self) -> &'static str {
        "sled"
    }
}
