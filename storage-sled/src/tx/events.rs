//! The change feed (`EVENT` + seq) and the metadata map (`SETTING` + key),
//! format version 3.

use super::Tx;
use crate::keys::{self, Key, all_in};
use crate::rows;
use chatdesk::Result;
use chatdesk::backend::EventRecord;
use std::ops::Bound;

/// The key of event `seq`; sequences below 1 do not exist, so they clamp to 0.
fn event_key(seq: i64) -> Vec<u8> {
    Key::new(keys::EVENT)
        .u64(u64::try_from(seq).unwrap_or(0))
        .build()
}

fn setting_key(key: &str) -> Vec<u8> {
    Key::new(keys::SETTING).bytes(key.as_bytes()).build()
}

/// `ReadTx::events_after`.
pub(super) fn events_after(tx: &Tx<'_>, after: i64, limit: usize) -> Result<Vec<EventRecord>> {
    let bounds = (Bound::Excluded(event_key(after)), all_in(&[keys::EVENT]).1);
    tx.rows(bounds, limit, rows::decode_event)
}

/// `ReadTx::meta`.
pub(super) fn meta(tx: &Tx<'_>, key: &str) -> Result<Option<String>> {
    tx.get_row(&setting_key(key), rows::decode_setting)
}

/// `WriteTx::put_event`.
pub(super) fn put_event(tx: &mut Tx<'_>, e: &EventRecord) -> Result<()> {
    let value = rows::encode_event(e)?;
    tx.overlay.put(event_key(e.seq), value);
    Ok(())
}

/// `WriteTx::delete_events_through`.
pub(super) fn delete_events_through(tx: &mut Tx<'_>, seq: i64) -> Result<usize> {
    if seq < 1 {
        return Ok(0);
    }
    let bounds = (
        Bound::Included(vec![keys::EVENT]),
        Bound::Included(event_key(seq)),
    );
    let mut doomed = Vec::new();
    tx.scan(bounds, |k, _| {
        doomed.push(k.to_vec());
        Ok(true)
    })?;
    let n = doomed.len();
    for k in doomed {
        tx.overlay.delete(k);
    }
    Ok(n)
}

/// `WriteTx::put_meta`.
pub(super) fn put_meta(tx: &mut Tx<'_>, key: &str, value: &str) -> Result<()> {
    tx.overlay
        .put(setting_key(key), rows::encode_setting(value)?);
    Ok(())
}
