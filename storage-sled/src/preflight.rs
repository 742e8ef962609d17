//! Deciding, before sled touches a directory, whether it may.
//!
//! `sled::open` writes to the directory it opens: it creates `blobs/` and
//! `conf` when they are missing, and its recovery writes to the log and
//! snapshot files of an existing database, so opening a foreign or
//! damaged store with plain sled grows its files even when chatdesk then
//! refuses it. So [`SledStorage::open`](crate::SledStorage::open) first
//! looks at the directory without sled:
//!
//! - missing, empty, or without sled's files (`db`, `conf`): a new store,
//!   opened directly;
//! - chatdesk's marker file names this build's version: our current store,
//!   opened directly, once sled's `db` and `conf` are seen to be there and
//!   not empty (an emptied or deleted `db` is refused as damaged before sled
//!   would re-create it);
//! - anything else (no marker: a foreign sled store, or an older chatdesk
//!   store; a marker naming another version: an upgrade, or a newer
//!   chatdesk's store): sled's files are copied to a temporary directory
//!   and the copy is opened and checked. Only when the copy passes is the
//!   directory itself opened (and upgraded, when asked); a refusal leaves it
//!   byte for byte as it was. The copy costs the store's size in temporary
//!   disk and time once: after a successful open the marker names the
//!   current version.
//!
//! What remains: a current store (marker and version agree) whose sled
//! files are damaged inside is opened directly, so sled's recovery may
//! write to them (for instance cutting the log at its first damaged entry)
//! before chatdesk reports `Corrupt`, as plain sled would.

use crate::schema;
use chatdesk::{Error, Result, StorageError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the directory holds, as far as can be told without sled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Nothing of sled's: sled creates a new database.
    New,
    /// Our store at this build's version.
    Current,
    /// Something to check on a copy first.
    Unknown,
}

fn io_err(context: String, e: std::io::Error) -> Error {
    Error::Storage(StorageError::new("sled", context, e))
}

/// sled 0.34's files in a store directory: the log, its settings, the
/// snapshots and the blob directory.
fn is_sled_file(name: &str) -> bool {
    name == crate::engine::LOG_FILE
        || name == "conf"
        || name == "blobs"
        || name.starts_with("snap.")
}

/// Looks at `dir` without opening it with sled.
///
/// # Errors
/// Storage when the directory cannot be read; Corrupt when our current
/// store's `db` or `conf` file is missing or empty.
pub(crate) fn look(dir: &Path) -> Result<Found> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Found::New),
        Err(e) => {
            return Err(io_err(
                format!("reading the directory {}", dir.display()),
                e,
            ));
        }
        Ok(entries) => entries,
    };
    let mut any_sled = false;
    for entry in entries {
        let entry = entry.map_err(|e| io_err(format!("reading {}", dir.display()), e))?;
        if entry.file_name().to_str().is_some_and(is_sled_file) {
            any_sled = true;
        }
    }
    let marked = dir.join(schema::MARKER_FILE).exists();
    if !schema::marker_is_current(dir) {
        return Ok(if any_sled || marked {
            Found::Unknown
        } else {
            Found::New
        });
    }
    for name in [crate::engine::LOG_FILE, "conf"] {
        let len = std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
        if len == 0 {
            return Err(Error::corrupt(format!(
                "sled's {name} file in {} is missing or empty, next to an initialised chatdesk store's marker \
                 (the store was damaged or partly deleted); nothing was written to it",
                dir.display()
            )));
        }
    }
    Ok(Found::Current)
}

/// Copies sled's files from `from` into `to` (which exists).
fn copy_sled_files(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name.to_str() else { continue };
        if !is_sled_file(n) {
            continue;
        }
        copy_tree(&entry.path(), &to.join(&name))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::metadata(from)?.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

/// Waits (up to 3 s, as for sled's own lock) until no other handle holds
/// sled's lock on `dir`'s log, so the copy is not taken while another
/// handle writes.
fn wait_unlocked(dir: &Path) -> Result<()> {
    let log: PathBuf = dir.join(crate::engine::LOG_FILE);
    let file = match std::fs::File::open(&log) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("opening {}", log.display()), e)),
        Ok(f) => f,
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                return Ok(());
            }
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io_err(
                    format!("opening {}", dir.display()),
                    std::io::Error::new(
                        ErrorKind::WouldBlock,
                        "the sled store is open in another handle or process (its lock is held)",
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err(format!("locking {}", log.display()), e));
            }
        }
    }
}

/// Opens a copy of `dir`'s sled files and checks it as opening `dir` with
/// `migrate` would; nothing is written to `dir`.
///
/// # Errors
/// What opening the directory itself would have refused it with
/// (IncompatibleStore, Corrupt), or Storage when the copy cannot be made.
pub(crate) fn check_copy(dir: &Path, migrate: bool) -> Result<()> {
    wait_unlocked(dir)?;
    let copy = tempfile::Builder::new()
        .prefix("chatdesk-sled-check-")
        .tempdir()
        .map_err(|e| {
            io_err(
                "making a directory to check a copy of the store in".into(),
                e,
            )
        })?;
    copy_sled_files(dir, copy.path()).map_err(|e| {
        io_err(
            format!("copying {} to check it before opening", dir.display()),
            e,
        )
    })?;
    let marked = dir.join(schema::MARKER_FILE).exists();
    let engine = crate::open_engine(copy.path(), &sled::Config::new().path(copy.path()))?;
    schema::plan(&engine, dir, marked, migrate).map(|_| ())
}
