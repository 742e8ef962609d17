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
//! # Upgrading the format
//! To change the layout, bump [`CURRENT`] to N+1 and append a [`Migration`]
//! with `from: N` to [`MIGRATIONS`]. Its `run` rewrites keys and values
//! through the transaction it is given; the framework commits that
//! transaction together with the new version number as one batch and flushes,
//! so a crash during an upgrade leaves the store at N or at N+1, never in
//! between, and the next open simply continues. Version 1 is the first
//! format, so the list is empty today.

use crate::engine::Engine;
use crate::keys::SCHEMA_KEY;
use crate::tx::Tx;
use chatdesk::{Error, Result};

/// The magic at the start of the version key's value.
const MAGIC: &[u8; 8] = b"chatdesk";

/// The schema version this build writes.
pub(crate) const CURRENT: u32 = 1;

/// One upgrade step, from `from` to `from + 1`.
#[derive(Debug)]
pub(crate) struct Migration {
    /// The version this step upgrades.
    pub(crate) from: u32,
    /// Rewrites the store through the transaction (committed by the caller).
    pub(crate) run: fn(&mut Tx<'_>) -> Result<()>,
}

/// Every upgrade step, in order. Empty: version 1 is the first format.
pub(crate) const MIGRATIONS: &[Migration] = &[];

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
    engine.apply(tx.into_overlay().into_batch())?;
    engine.flush()
}

/// Checks the store's version; initialises an empty store and upgrades an
/// older one when `migrate` is set.
pub(crate) fn prepare(engine: &Engine, migrate: bool) -> Result<()> {
    let Some(value) = engine.get(SCHEMA_KEY)? else {
        if engine.is_blank()? {
            return commit_version(engine, Tx::new(engine), CURRENT);
        }
        return Err(incompatible(
            "a non-empty sled store without chatdesk's version key",
            supported(),
        ));
    };
    let mut version = parse(&value)?;
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
    while version < CURRENT {
        let step = MIGRATIONS
            .iter()
            .find(|m| m.from == version)
            .ok_or_else(|| {
                incompatible(
                    format!("chatdesk sled store v{version}"),
                    format!("{} (no upgrade path from v{version})", supported()),
                )
            })?;
        let mut tx = Tx::new(engine);
        (step.run)(&mut tx)?;
        version += 1;
        commit_version(engine, tx, version)?;
    }
    Ok(())
}
