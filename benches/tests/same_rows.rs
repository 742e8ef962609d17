//! The baselines write what the operation writes: the same session rows and
//! counters in SQLite, the same keys and value sizes in sled. Otherwise the
//! ratio the benchmark reports would compare different work.

use chatdesk::Durability;
use chatdesk_benches::raw_sled::RawSled;
use chatdesk_benches::raw_sqlite::RawSqlite;
use chatdesk_benches::{DRAIN_EVERY, Drained, Service, Subject};
use rusqlite::Connection;

/// Every column of the session rows except the random key hash and the
/// clock readings, and the counters.
fn sqlite_rows(conn: &Connection) -> (Vec<Vec<String>>, Vec<(String, i64)>) {
    let mut stmt = conn
        .prepare("SELECT * FROM chat_session ORDER BY id")
        .unwrap();
    let skip = ["key_hash", "when_requested", "queue_entered"];
    let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
    let sessions = stmt
        .query_map([], |r| {
            let mut row = Vec::new();
            for (i, n) in names.iter().enumerate() {
                if !skip.contains(&n.as_str()) {
                    let v: rusqlite::types::Value = r.get(i)?;
                    row.push(format!("{n}={v:?}"));
                }
            }
            Ok(row)
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    let counters = conn
        .prepare("SELECT kind, last FROM chatdesk_counter ORDER BY kind")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    (sessions, counters)
}

#[test]
fn sqlite_baseline_writes_the_same_rows() {
    let mut op = Service::sqlite(Durability::Relaxed);
    let mut raw = RawSqlite::new(Durability::Relaxed);
    for _ in 0..3 {
        op.create();
        raw.create();
    }
    let path = op.desk().storage().path();
    let op_rows = sqlite_rows(&Connection::open(path).unwrap());
    let raw_rows = sqlite_rows(raw.conn());
    assert_eq!(op_rows.0.len(), 3);
    assert_eq!(op_rows, raw_rows);
}

/// Every key with its value's length, but the key-hash index entries
/// (random) only counted, and the request-time index entries without their
/// time (each side's clock).
fn sled_keys(db: &sled::Db) -> (Vec<(Vec<u8>, usize)>, usize) {
    const REQUESTED: u8 = 0x11;
    let mut keys = Vec::new();
    let mut by_key = 0;
    for entry in db.iter() {
        let (k, v) = entry.unwrap();
        if k.len() == 33 {
            by_key += 1;
        } else if k.first() == Some(&REQUESTED) && k.len() == 13 {
            let mut k = k.to_vec();
            k[1..9].fill(0);
            keys.push((k, v.len()));
        } else {
            keys.push((k.to_vec(), v.len()));
        }
    }
    (keys, by_key)
}

#[test]
fn sled_baseline_writes_the_same_keys_and_value_sizes() {
    let mut op = Service::sled(Durability::Relaxed);
    let mut raw = RawSled::new(Durability::Relaxed);
    for _ in 0..3 {
        op.create();
        raw.create();
    }
    let dir = op.into_dir().unwrap();
    let op_db = chatdesk_sled::bench_support::config(dir.path(), Durability::Relaxed)
        .open()
        .unwrap();
    let (op_keys, op_by_key) = sled_keys(&op_db);
    let (raw_keys, raw_by_key) = sled_keys(raw.db());
    assert_eq!((op_by_key, raw_by_key), (3, 3));
    assert_eq!(op_keys, raw_keys);
}

#[test]
fn drains_keep_the_queue_short_on_both_sides() {
    let mut op = Drained::new(Service::sqlite(Durability::Relaxed));
    let mut raw = Drained::new(RawSqlite::new(Durability::Relaxed));
    op.run(DRAIN_EVERY as u64 * 2 + 5);
    raw.run(DRAIN_EVERY as u64 * 2 + 5);
    let path = op.subject().desk().storage().path();
    let op_rows = sqlite_rows(&Connection::open(path).unwrap());
    let raw_rows = sqlite_rows(raw.subject().conn());
    assert_eq!(op_rows.0.len(), 5);
    assert_eq!(op_rows, raw_rows);
}
