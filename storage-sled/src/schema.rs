//! The store's version key and its upgrade path.
//!
//! `b"\xFFmeta/schema"` holds `b"chatdesk"` followed by the schema version as a
//! big-endian u32. Opening a store:
//! - an empty store (no keys, no other trees) is initialised to [`CURRENT`];
//! - a store without the key but with data, or with another magic, is someone
//!   else's: `IncompatibleStore`, nothing is touched;
//! - a newer version is `IncompatibleStore` (this build cannot read it);
//! - an older version is upgraded only when the host sets
//!   [`SledOptions::migrate`](crate::SledOptions::migrate), otherwise
//!   `IncompatibleStore`.
//!
//! sled 0.34 opens a directory whose `db` file was emptied or overwritten as an
//! empty database, without an error. So that such damage is not mistaken for
//! a new store (and silently re-initialised), initialisation also leaves a
//! marker file, [`MARKER_FILE`], beside sled's files once the version key is on
//! disk: an empty tree next to the marker is `Corrupt`. The marker names the
//! version (`chatdesk sled store v4`) and is rewritten after an upgrade, so
//! that [`crate::preflight`] can tell, before sled touches the directory,
//! whether it holds a current store (opened directly) or something to be
//! checked on a copy first.
//!
//! # Upgrading the format
//! To change the layout, bump [`CURRENT`] to N+1 and append a [`Migration`]
//! with `from: N` to [`MIGRATIONS`]. Its `run` rewrites keys and values
//! through the transaction it is given; the framework commits that
//! transaction together with the new version number as one atomic commit
//! (a batch, or a transaction over both trees) and flushes,
//! so a crash during an upgrade leaves the store at N or at N+1, never in
//! between, and the next open simply continues. v1 → v2 added the counted
//! queue index; v2 → v3 the change feed and the settings map; v3 → v4 moved
//! ended sessions to their own tree, `history`; v4 → v5 added routing and
//! the desk's statistics: session and topic rows of row version 2 (the
//! routing state, statistics and routing settings appended), agent rows,
//! and the pending-transfer and request-time indexes.

use crate::engine::Engine;
use crate::keys::SCHEMA_KEY;
use crate::tx::Tx;
use chatdesk::{Error, Result, StorageError};
use std::path::Path;

/// The marker file left in an initialised store's directory.
pub(crate) const MARKER_FILE: &str = "chatdesk-sled.marker";

/// The magic at the start of the version key's value.
const MAGIC: &[u8; 8] = b"chatdesk";

/// The schema version this build writes.
pub(crate) const CURRENT: u32 = 5;

/// One upgrade step, from `from` to `from + 1`.
#[derive(Debug)]
pub(crate) struct Migration {
    /// The version this step upgrades.
    pub(crate) from: u32,
    /// Rewrites the store through the transaction (committed by the caller).
    pub(crate) run: fn(&mut Tx<'_>) -> Result<()>,
}

/// Every upgrade step, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        from: 1,
        run: add_queue_index,
    },
    Migration {
        from: 2,
        run: add_change_feed,
    },
    Migration {
        from: 3,
        run: move_history,
    },
    Migration {
        from: 4,
        run: add_routing,
    },
];

/// v4 → v5: every session and topic row is rewritten in row version 2
/// (with the defaults), and the pending-transfer and request-time indexes
/// are built from the rows, in one transaction over both trees (see
/// [`Tx::upgrade_rows_to_v5`]); agent rows start empty. While it runs, the
/// upgrade holds every session row in memory, about twice over (sled's
/// transaction keeps its own copy).
fn add_routing(tx: &mut Tx<'_>) -> Result<()> {
    tx.upgrade_rows_to_v5().map(|_| ())
}

/// v3 → v4: ended sessions move, with their index entries and messages, to
/// the history tree (see [`crate::keys::Shelf`]). The whole move is one
/// transaction: a store of a million closed chats needs their keys in
/// memory once, while it upgrades.
fn move_history(tx: &mut Tx<'_>) -> Result<()> {
    tx.move_ended_sessions_to_history().map(|_| ())
}

/// v2 → v3: the change feed (`EVENT` keys) and the settings map (`SETTING`
/// keys) are new prefixes that start empty (the feed starts off), so there is
/// nothing to rewrite; the step only moves the version, so that an older
/// build refuses a store that may hold them.
fn add_change_feed(_tx: &mut Tx<'_>) -> Result<()> {
    Ok(())
}

/// v1 → v2: builds the counted queue index from the human-queue keys.
fn add_queue_index(tx: &mut Tx<'_>) -> Result<()> {
    for key in tx.human_queue_keys()? {
        tx.count_queue(None, Some(key))?;
    }
    Ok(())
}

fn supported() -> String {
    format!("chatdesk sled store v{CURRENT}")
}

fn schema_value(version: u32) -> Vec<u8> {
    let mut v = MAGIC.to_vec();
    v.extend_from_slice(&version.to_be_bytes());
    v
}

fn incompatible(found: impl Into<String>, supported: impl Into<String>) -> Error {
    Error::IncompatibleStore {
        found: found.into(),
        supported: supported.into(),
    }
}

/// Reads the version the value of the schema key states.
fn parse(value: &[u8]) -> Result<u32> {
    match value.split_at_checked(MAGIC.len()) {
        Some((magic, version)) if magic == MAGIC => version
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| Error::corrupt("the schema key: not a 4-byte version after the magic")),
        _ => Err(incompatible(
            format!(
                "a sled store whose version key says {:?}",
                String::from_utf8_lossy(value)
            ),
            supported(),
        )),
    }
}

/// Commits `tx` plus the version key set to `version`, durably.
fn commit_version(engine: &Engine, mut tx: Tx<'_>, version: u32) -> Result<()> {
    tx.put_raw(SCHEMA_KEY.to_vec(), schema_value(version));
    engine.apply(tx.into_writes())?;
    engine.flush()
}

/// Writes the marker file durably (file and directory entry).
fn write_marker(dir: &Path) -> Result<()> {
    let io = |e: std::io::Error| {
        Error::Storage(StorageError::new(
            "sled",
            format!("writing {}", dir.join(MARKER_FILE).display()),
            e,
        ))
    };
    let path = dir.join(MARKER_FILE);
    std::fs::write(&path, marker_text()).map_err(io)?;
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    // Best effort: not every platform can sync a directory.
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

/// What opening a store has to do, decided before anything is written.
#[derive(Debug)]
pub(crate) enum Plan {
    /// A blank sled database: initialise it.
    Initialise,
    /// Upgrade through these steps (none: the store is current).
    Upgrade(u32, Vec<&'static Migration>),
}

/// Reads the store's version and decides what opening it does, or refuses
/// it. Reads only: a refused store is left as it was. `marked` says the
/// directory holds [`MARKER_FILE`] (a blank database next to it is damage,
/// not a new store).
pub(crate) fn plan(engine: &Engine, dir: &Path, marked: bool, migrate: bool) -> Result<Plan> {
    let Some(value) = engine.get(SCHEMA_KEY)? else {
        if engine.is_blank()? {
            if marked {
                return Err(Error::corrupt(format!(
                    "sled found no data in {}, which holds an initialised chatdesk store \
                     (its db file is damaged or was replaced)",
                    dir.display()
                )));
            }
            return Ok(Plan::Initialise);
        }
        if marked {
            return Err(Error::corrupt(format!(
                "the chatdesk store in {} lost its version key",
                dir.display()
            )));
        }
        return Err(incompatible(
            "a non-empty sled store without chatdesk's version key",
            supported(),
        ));
    };
    let version = parse(&value)?;
    if version > CURRENT {
        return Err(incompatible(
            format!("chatdesk sled store v{version} (written by a newer chatdesk)"),
            supported(),
        ));
    }
    if version < CURRENT && !migrate {
        return Err(incompatible(
            format!("chatdesk sled store v{version}"),
            format!(
                "{}; open with SledOptions {{ migrate: true, .. }} to upgrade",
                supported()
            ),
        ));
    }
    // Every step must exist before anything is written (the history tree
    // included): a store that cannot be upgraded is left as it was.
    let steps = (version..CURRENT)
        .map(|from| {
            MIGRATIONS.iter().find(|m| m.from == from).ok_or_else(|| {
                incompatible(
                    format!("chatdesk sled store v{version}"),
                    format!("{} (no upgrade path from v{from})", supported()),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Plan::Upgrade(version, steps))
}

/// Whether the marker file in `dir` names this build's version (written by
/// [`prepare`] whenever the version changes).
pub(crate) fn marker_is_current(dir: &Path) -> bool {
    std::fs::read(dir.join(MARKER_FILE)).is_ok_and(|m| m == marker_text().as_bytes())
}

fn marker_text() -> String {
    format!("chatdesk sled store v{CURRENT}\n")
}

/// Checks the store's version; initialises an empty store and upgrades an
/// older one when `migrate` is set. The history tree is opened (created, in
/// a new store) only once the store is known to be chatdesk's and of a
/// version this build may write: a refused store is left as it was (as far
/// as this function goes: see [`crate::preflight`] for sled's own writes).
/// The marker file is (re)written whenever it does not name the current
/// version.
pub(crate) fn prepare(engine: &mut Engine, dir: &Path, migrate: bool) -> Result<()> {
    let marked = dir.join(MARKER_FILE).exists();
    match plan(engine, dir, marked, migrate)? {
        Plan::Initialise => {
            engine.open_history()?;
            commit_version(engine, Tx::new(engine), CURRENT)?;
        }
        Plan::Upgrade(mut version, steps) => {
            engine.open_history()?;
            let engine = &*engine;
            for step in steps {
                let mut tx = Tx::new(engine);
                (step.run)(&mut tx)?;
                version += 1;
                commit_version(engine, tx, version)?;
            }
        }
    }
    if !marker_is_current(dir) {
        write_marker(dir)?;
    }
    Ok(())
}
