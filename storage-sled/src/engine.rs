//! The sled handle, with every call guarded: sled errors become chatdesk
//! errors, and a panic inside sled (its answer to some damaged files) becomes
//! `Corrupt` and poisons the handle instead of unwinding into the host.

use crate::keys::{HISTORY_TREE, Shelf};
use crate::overlay::Writes;
use chatdesk::{Error, Result, StorageError};
use sled::IVec;
use sled::Transactional;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a key range scan yields.
pub(crate) type Entry = Result<(IVec, IVec)>;

/// The opened sled database and whether it may still be trusted.
#[derive(Debug)]
pub(crate) struct Engine {
    db: sled::Db,
    /// The history tree ([`Shelf::History`]), opened by [`Engine::open_history`]
    /// once the store's version allows it (opening creates it).
    history: Option<sled::Tree>,
    /// sled's log file (`db` in the store's directory), synced after every
    /// flush: on Linux sled 0.34 writes its log with `sync_file_range`,
    /// which flushes neither the drive's write cache nor the file's
    /// metadata, so on its own a flush survives a process crash but not
    /// necessarily a power loss.
    log: std::fs::File,
    poisoned: AtomicBool,
}

/// The file sled 0.34 keeps its log and pages in, inside the store's
/// directory.
pub(crate) const LOG_FILE: &str = "db";

/// Maps a sled error met while doing `context`.
pub(crate) fn sled_error(context: &str, e: sled::Error) -> Error {
    match e {
        sled::Error::Corruption { .. } => Error::corrupt(format!("sled while {context}: {e}")),
        other => Error::Storage(StorageError::new("sled", context, other)),
    }
}

/// The text of a caught panic.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

impl Engine {
    /// Wraps a database opened in directory `dir`.
    ///
    /// # Errors
    /// Storage when sled's log file cannot be opened for syncing.
    pub(crate) fn new(db: sled::Db, dir: &std::path::Path) -> Result<Self> {
        let path = dir.join(LOG_FILE);
        let log = std::fs::File::open(&path).map_err(|e| {
            Error::Storage(StorageError::new(
                "sled",
                format!("opening {} to sync it", path.display()),
                e,
            ))
        })?;
        Ok(Engine {
            db,
            history: None,
            log,
            poisoned: AtomicBool::new(false),
        })
    }

    /// Refuses further work after a failure that left the state unknown.
    pub(crate) fn check(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Storage(StorageError::new(
                "sled",
                "using the store",
                std::io::Error::other(
                    "an earlier sled failure left this handle in an unknown state; reopen the store",
                ),
            )));
        }
        Ok(())
    }

    /// Marks the handle unusable.
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    /// Runs one sled call, turning a panic into `Corrupt` (and poisoning).
    fn guard<T>(&self, context: &str, f: impl FnOnce() -> sled::Result<T>) -> Result<T> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(sled_error(context, e)),
            Err(p) => {
                self.poison();
                Err(Error::corrupt(format!(
                    "sled panicked while {context}: {}",
                    panic_text(p.as_ref())
                )))
            }
        }
    }

    /// Opens (creating it if need be) the history tree.
    pub(crate) fn open_history(&mut self) -> Result<()> {
        let tree = self.guard("opening the history tree", || {
            self.db.open_tree(HISTORY_TREE)
        })?;
        self.history = Some(tree);
        Ok(())
    }

    /// The tree of `shelf`.
    fn tree(&self, shelf: Shelf) -> Result<&sled::Tree> {
        match shelf {
            Shelf::Open => Ok(&self.db),
            Shelf::History => self.history.as_ref().ok_or_else(|| {
                Error::Storage(StorageError::new(
                    "sled",
                    "reading the history tree",
                    std::io::Error::other("the history tree is not open yet"),
                ))
            }),
        }
    }

    /// A point read of the committed default tree.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<IVec>> {
        self.get_in(Shelf::Open, key)
    }

    /// A point read of the committed tree of `shelf`.
    pub(crate) fn get_in(&self, shelf: Shelf, key: &[u8]) -> Result<Option<IVec>> {
        let tree = self.tree(shelf)?;
        self.guard("reading", || tree.get(key))
    }

    /// An ordered scan of the committed default tree.
    pub(crate) fn range(
        &self,
        bounds: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    ) -> Result<impl Iterator<Item = Entry> + '_> {
        self.range_in(Shelf::Open, bounds)
    }

    /// An ordered scan of the committed tree of `shelf`.
    pub(crate) fn range_in(
        &self,
        shelf: Shelf,
        bounds: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    ) -> Result<impl Iterator<Item = Entry> + '_> {
        let tree = self.tree(shelf)?;
        let mut iter = self.guard("starting a scan", || Ok(tree.range(bounds)))?;
        Ok(std::iter::from_fn(move || {
            match catch_unwind(AssertUnwindSafe(|| iter.next())) {
                Ok(None) => None,
                Ok(Some(r)) => Some(r.map_err(|e| sled_error("scanning", e))),
                Err(p) => {
                    self.poison();
                    Some(Err(Error::corrupt(format!(
                        "sled panicked while scanning: {}",
                        panic_text(p.as_ref())
                    ))))
                }
            }
        }))
    }

    /// Whether the default tree is empty and no other tree exists but an
    /// empty history tree.
    pub(crate) fn is_blank(&self) -> Result<bool> {
        let names = self.guard("listing trees", || Ok(self.db.tree_names()))?;
        for name in names {
            let blank = match name.as_ref() {
                b"__sled__default" => true,
                // Only an existing tree is opened here: nothing is created.
                n if n == HISTORY_TREE => self
                    .guard("checking the history tree", || self.db.open_tree(n))?
                    .is_empty(),
                _ => false,
            };
            if !blank {
                return Ok(false);
            }
        }
        self.guard("checking for data", || Ok(self.db.is_empty()))
    }

    /// Applies a transaction's writes atomically: one sled batch when they
    /// touch one tree, one sled transaction over both trees (also atomic
    /// across a crash) when a session moves between them. On failure the
    /// handle is poisoned: whether sled applied them is not known.
    pub(crate) fn apply(&self, writes: Writes) -> Result<()> {
        let Writes { open, history } = writes;
        let result = if history.is_empty() {
            self.guard("committing", || self.db.apply_batch(open.into_batch()))
        } else {
            let tree = self.tree(Shelf::History)?;
            if open.is_empty() {
                self.guard("committing", || tree.apply_batch(history.into_batch()))
            } else {
                let (open, history) = (open.into_batch(), history.into_batch());
                self.guard("committing", || {
                    (&*self.db, tree)
                        .transaction(|(o, h)| {
                            o.apply_batch(&open)?;
                            h.apply_batch(&history)?;
                            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
                        })
                        .map_err(|e| match e {
                            sled::transaction::TransactionError::Storage(e) => e,
                            // The closure never aborts.
                            sled::transaction::TransactionError::Abort(()) => {
                                sled::Error::Unsupported("an aborted commit".to_owned())
                            }
                        })
                })
            }
        };
        result.inspect_err(|_| self.poison())
    }

    /// Makes everything applied so far durable: sled's flush, then an
    /// `fdatasync` of its log file (see [`Engine`]).
    pub(crate) fn flush(&self) -> Result<()> {
        self.guard("flushing", || self.db.flush())?;
        self.log
            .sync_data()
            .map_err(|e| Error::Storage(StorageError::new("sled", "syncing the log file", e)))
    }
}
