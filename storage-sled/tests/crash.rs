//! Killing the process mid-write: what reopens is a prefix of the acknowledged
//! transactions (all of them in durable mode), never a hole and never half of
//! one.

mod common;

use chatdesk::backend::{IdKind, StorageExt};
use chatdesk::{Durability, MessageId, SessionId, TopicId};
use chatdesk_sled::{SledOptions, SledStorage};
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DIR_VAR: &str = "CHATDESK_SLED_CRASH_DIR";
const MODE_VAR: &str = "CHATDESK_SLED_CRASH_MODE";

fn options(mode: &str) -> SledOptions {
    SledOptions {
        durability: if mode == "durable" {
            Durability::Durable
        } else {
            Durability::Relaxed
        },
        ..SledOptions::default()
    }
}

/// The child: writes until killed, printing each acknowledged id. A no-op
/// when run as an ordinary test.
#[test]
fn crash_child() {
    let (Ok(dir), Ok(mode)) = (std::env::var(DIR_VAR), std::env::var(MODE_VAR)) else {
        return;
    };
    let store = SledStorage::open(&dir, options(&mode)).unwrap();
    loop {
        let id = store
            .write(|tx| {
                let id = tx.next_id(IdKind::Session)?;
                let sid = i32::try_from(id).unwrap_or(0);
                tx.put_session(&queued(sid, 1, u64::try_from(id).unwrap_or(0)))?;
                tx.put_message(&message(sid, 1))?;
                tx.put_message(&message(sid, 2))?;
                Ok(id)
            })
            .unwrap();
        println!("ack {id}");
    }
}

fn crash_and_check(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, dir.path())
        .env(MODE_VAR, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let start = Instant::now();
    let mut acked = 0i64;
    while acked < 300 && start.elapsed() < Duration::from_secs(20) {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(n) = l.strip_prefix("ack ") {
                    acked = n.parse().unwrap();
                }
            }
            _ => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acked > 0, "the child acknowledged nothing");

    let store = SledStorage::open(dir.path(), options(mode)).unwrap();
    let sessions = store
        .read(|tx| tx.sessions(SessionId(0), usize::MAX))
        .unwrap();
    let k = i64::try_from(sessions.len()).unwrap();
    // A prefix: exactly 1..=k, no hole.
    assert_eq!(
        sessions
            .iter()
            .map(|s| i64::from(s.id.0))
            .collect::<Vec<_>>(),
        (1..=k).collect::<Vec<_>>()
    );
    if mode == "durable" {
        assert!(k >= acked, "durable: {acked} acknowledged, {k} found");
    }
    // Never half a transaction: every session has its queue entry and both
    // messages, and the counter is where the last one left it.
    store
        .read(|tx| {
            assert_eq!(i64::from(tx.queue_len(TopicId(1))?), k);
            for s in &sessions {
                assert_eq!(tx.messages(s.id, MessageId(0), 9)?.len(), 2, "{}", s.id);
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(
        store.write(|tx| tx.next_id(IdKind::Session)).unwrap(),
        k + 1
    );
    eprintln!("{mode}: acknowledged {acked}, found {k}");
}

#[test]
fn a_killed_durable_writer_loses_nothing_acknowledged() {
    crash_and_check("durable");
}

#[test]
fn a_killed_relaxed_writer_leaves_a_prefix() {
    crash_and_check("relaxed");
}
