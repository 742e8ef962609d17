//! Real threads against one store: no duplicate id, no lost update, no torn read.

mod common;

use chatdesk::backend::{IdKind, StorageExt};
use chatdesk::{Durability, SessionId, TopicId};
use chatdesk_sled::SledOptions;
use chatdesk_sled::testing::temp_store_with;
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const THREADS: usize = 8;

fn ids_are_exactly_one_to_n(durability: Durability, per_thread: usize) {
    let store = Arc::new(temp_store_with(SledOptions {
        durability,
        ..SledOptions::default()
    }));
    let done = Arc::new(AtomicBool::new(false));
    // A reader checks a cross-record invariant on every snapshot: each
    // transaction adds one session and its queue entry together.
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !done.load(Ordering::Acquire) || reads == 0 {
                store
                    .read(|tx| {
                        let sessions = tx.sessions(SessionId(0), usize::MAX)?.len();
                        let queued = tx.queue_len(TopicId(1))?;
                        assert_eq!(u32::try_from(sessions).unwrap(), queued);
                        Ok(())
                    })
                    .unwrap();
                reads += 1;
            }
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|_| {
                        store
                            .write(|tx| {
                                let id = tx.next_id(IdKind::Session)?;
                                let seq = tx.next_id(IdKind::QueueSeq)?;
                                let sid = i32::try_from(id).unwrap_or(0);
                                tx.put_session(&queued(sid, 1, u64::try_from(seq).unwrap_or(0)))?;
                                Ok(id)
                            })
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<i64> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    done.store(true, Ordering::Release);
    reader.join().unwrap();
    all.sort_unstable();
    let n = i64::try_from(THREADS * per_thread).unwrap();
    assert_eq!(all, (1..=n).collect::<Vec<_>>());
    let stored = store
        .read(|tx| tx.sessions(SessionId(0), usize::MAX))
        .unwrap();
    assert_eq!(ids(&stored).len(), THREADS * per_thread);
    assert_eq!(
        store.read(|tx| tx.queue_len(TopicId(1))).unwrap(),
        u32::try_from(n).unwrap()
    );
}

#[test]
fn eight_threads_get_distinct_ids_relaxed() {
    ids_are_exactly_one_to_n(Durability::Relaxed, 100);
}

#[test]
fn eight_threads_get_distinct_ids_durable() {
    ids_are_exactly_one_to_n(Durability::Durable, 20);
}
