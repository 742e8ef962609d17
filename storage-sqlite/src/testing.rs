//! Test support: a store on a real file in a temporary directory, removed when
//! the guard is dropped. Used by the conformance suite
//! (`chatdesk::conformance_suite!(chatdesk_sqlite::testing::temp_store())`).

use crate::{SqliteOptions, SqliteStorage};
use chatdesk::backend::{ReadTx, WriteTx};
use chatdesk::{Durability, Result, Storage};
use std::path::{Path, PathBuf};

/// The file name of the store inside the temporary directory.
const FILE_NAME: &str = "chatdesk.sqlite3";

/// A [`SqliteStorage`] on a file in its own temporary directory; implements
/// [`Storage`] by delegation. The directory is removed on drop.
#[derive(Debug)]
pub struct TempSqlite {
    // Dropped in declaration order: the store closes before the directory goes.
    store: SqliteStorage,
    dir: tempfile::TempDir,
}

impl TempSqlite {
    /// The store.
    pub fn store(&self) -> &SqliteStorage {
        &self.store
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join(FILE_NAME)
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Damages session `id`'s stored row (an unknown status code, written
    /// by a second connection below chatdesk) so that reads of it fail with
    /// `Corrupt`; its index entries stay. The store stays open.
    ///
    /// # Errors
    /// The write failed.
    pub fn damage_session(&self, id: chatdesk::SessionId) -> Result<()> {
        let fail = |e: rusqlite::Error| {
            chatdesk::Error::Storage(chatdesk::StorageError::new(
                "sqlite",
                "damaging a session for a test",
                e,
            ))
        };
        let conn = rusqlite::Connection::open(self.path()).map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        conn.execute(
            "UPDATE chat_session SET status = 99 WHERE id = ?1",
            [id.get()],
        )
        .map_err(fail)?;
        Ok(())
    }

    /// Closes the store and opens the same file again with `options`.
    ///
    /// # Errors
    /// What [`SqliteStorage::close`] or [`SqliteStorage::open`] return.
    pub fn reopen(self, options: SqliteOptions) -> Result<TempSqlite> {
        let TempSqlite { store, dir } = self;
        store.close()?;
        let store = SqliteStorage::open(dir.path().join(FILE_NAME), options)?;
        Ok(TempSqlite { store, dir })
    }
}

/// A fresh store on a real file (WAL, so the reader/writer path is the real
/// one), [`Durability::Relaxed`] for speed.
///
/// # Panics
/// When the temporary directory or the store cannot be created (test support
/// only).
pub fn temp_store() -> TempSqlite {
    temp_store_with(SqliteOptions {
        durability: Durability::Relaxed,
        ..SqliteOptions::default()
    })
}

/// Like [`temp_store`], with the given options.
///
/// # Panics
/// When the temporary directory or the store cannot be created (test support
/// only).
pub fn temp_store_with(options: SqliteOptions) -> TempSqlite {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("cannot create a temporary directory for a test store: {e}"),
    };
    let store = match SqliteStorage::open(dir.path().join(FILE_NAME), options) {
        Ok(store) => store,
        Err(e) => panic!("cannot open a test store: {e}"),
    };
    TempSqlite { store, dir }
}

impl Storage for TempSqlite {
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
