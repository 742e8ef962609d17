//! Throw-away stores for tests: a sled store in a temporary directory that is
//! removed when the store is dropped.

use crate::{SledOptions, SledStorage};
use chatdesk::backend::{ReadTx, WriteTx};
use chatdesk::{Durability, Result, Storage};
use std::path::Path;
use tempfile::TempDir;

/// A small page cache: tests open many stores at once.
const TEST_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// `options` with the test page cache, unless they ask for a smaller one.
fn small_cache(options: SledOptions) -> SledOptions {
    SledOptions {
        cache_bytes: options.cache_bytes.min(TEST_CACHE_BYTES),
        ..options
    }
}

/// A [`SledStorage`] in its own temporary directory; the directory goes when
/// this is dropped. Implements [`Storage`] by delegation.
#[derive(Debug)]
pub struct TempSled {
    // Declared first: the store must close before its directory goes.
    store: SledStorage,
    options: SledOptions,
    dir: TempDir,
}

/// A fresh relaxed-mode store in a temporary directory (relaxed for speed:
/// nothing here has to survive a power loss).
///
/// # Panics
/// When no temporary directory can be created or sled cannot open it: this is
/// for tests only.
pub fn temp_store() -> TempSled {
    temp_store_with(SledOptions {
        durability: Durability::Relaxed,
        ..SledOptions::default()
    })
}

/// A fresh store in a temporary directory, opened with `options`.
///
/// # Panics
/// When no temporary directory can be created or sled cannot open it: this is
/// for tests only.
pub fn temp_store_with(options: SledOptions) -> TempSled {
    #[allow(clippy::expect_used)]
    let dir = tempfile::Builder::new()
        .prefix("chatdesk-sled-")
        .tempdir()
        .expect("creating a temporary directory for a test store");
    #[allow(clippy::expect_used)]
    let store = SledStorage::open(dir.path(), small_cache(options))
        .expect("opening a sled store in a fresh temporary directory");
    TempSled {
        store,
        options,
        dir,
    }
}

impl TempSled {
    /// The store's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The store itself.
    pub fn store(&self) -> &SledStorage {
        &self.store
    }

    /// Closes the store and opens the same directory again (what a restart
    /// does), with the same options.
    ///
    /// # Errors
    /// Closing or reopening failed.
    pub fn reopen(self) -> Result<TempSled> {
        let TempSled {
            store,
            options,
            dir,
        } = self;
        store.close()?;
        let store = SledStorage::open(dir.path(), small_cache(options))?;
        Ok(TempSled {
            store,
            options,
            dir,
        })
    }
}

impl TempSled {
    /// Damages session `id`'s stored record (a value that no longer
    /// decodes, written below chatdesk) so that reads of it fail with
    /// `Corrupt`: closes the store, writes the raw value in whichever tree
    /// holds the row, and opens the store again. Its index entries stay.
    ///
    /// # Errors
    /// Closing, writing or reopening failed.
    pub fn damage_session(self, id: chatdesk::SessionId) -> Result<TempSled> {
        let TempSled {
            store,
            options,
            dir,
        } = self;
        store.close()?;
        let fail = |e: sled::Error| crate::engine::sled_error("damaging a session for a test", e);
        let db = open_raw(dir.path()).map_err(fail)?;
        let key = crate::tx::session_key(id);
        let history = db.open_tree(crate::keys::HISTORY_TREE).map_err(fail)?;
        let tree: &sled::Tree = if history.contains_key(&key).map_err(fail)? {
            &history
        } else {
            &db
        };
        // The right version byte, then bytes that decode as no record.
        tree.insert(key, vec![1, 0xFF, 0xFF, 0xFF]).map_err(fail)?;
        db.flush().map_err(fail)?;
        drop(history);
        drop(db);
        let store = SledStorage::open(dir.path(), small_cache(options))?;
        Ok(TempSled {
            store,
            options,
            dir,
        })
    }
}

impl Storage for TempSled {
    fn read_tx(&self, f: &mut dyn FnMut(&dyn ReadTx) -> Result<()>) -> Result<()> {
        self.store.read_tx(f)
    }

    fn write_tx(&self, f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        self.store.write_tx(f)
    }

    fn flush(&self) -> Result<()> {
        self.store.flush()
    }

    fn backend_name(&self) -> &'static str {
        self.store.backend_name()
    }
}

/// Opens the sled database in `path` directly (for tests that inspect or
/// damage a store), waiting up to 3 s for a just-closed handle's threads to
/// release the directory lock.
///
/// # Errors
/// sled's failure to open.
pub fn open_raw(path: &std::path::Path) -> sled::Result<sled::Db> {
    crate::open_waiting_for_lock(&sled::Config::new().path(path))
}
