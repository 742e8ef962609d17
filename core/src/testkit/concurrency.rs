//! Real threads against one store: nothing lost, nothing doubled.

use super::Fixture;
use crate::backend::IdKind;
use crate::storage::{Storage, StorageExt};
use crate::{ChatSessionStatus, SessionId};
use std::collections::BTreeSet;
use std::sync::Arc;

const THREADS: usize = 8;
const PER_THREAD: usize = 12;

pub fn parallel_creates_get_distinct_ids_and_positions<S: Storage>(store: S) {
    let fx = Arc::new(Fixture::new(store));
    let t = fx.staffed_topic("busy");
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let fx = Arc::clone(&fx);
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|j| fx.customer_session(t, &format!("t{i}-{j}")).0)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for h in handles {
        for id in h.join().unwrap() {
            assert!(ids.insert(id), "id {id} given twice");
        }
    }
    let n = THREADS * PER_THREAD;
    let want: BTreeSet<SessionId> = (1..=i32::try_from(n).unwrap()).map(SessionId).collect();
    assert_eq!(ids, want);
    let mut initial = BTreeSet::new();
    let mut current = BTreeSet::new();
    for id in &ids {
        let e = fx.desk.get_chat_session_entity(&fx.sys(), *id).unwrap();
        assert_eq!(e.status, ChatSessionStatus::InQueue);
        assert!(
            initial.insert(e.initial_queue_pos),
            "InitialQueuePos repeated"
        );
        let p = fx.desk.get_queue_position(&fx.sys(), *id).unwrap().unwrap();
        assert!(current.insert(p));
    }
    let positions: BTreeSet<i32> = (1..=i32::try_from(n).unwrap()).collect();
    assert_eq!(initial, positions);
    assert_eq!(
        current
            .into_iter()
            .map(|p| i32::try_from(p).unwrap())
            .collect::<BTreeSet<_>>(),
        positions
    );
}

pub fn parallel_raw_writers_lose_nothing<S: Storage>(store: S) {
    let store = Arc::new(store);
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|_| {
                        store
                            .write(|tx| {
                                let id = i32::try_from(tx.next_id(IdKind::Session)?).unwrap();
                                let rec = super::storage::record(id, 1, ChatSessionStatus::Closed);
                                tx.put_session(&rec)?;
                                Ok(id)
                            })
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for h in handles {
        ids.extend(h.join().unwrap());
    }
    let n = i32::try_from(THREADS * PER_THREAD).unwrap();
    assert_eq!(ids, (1..=n).collect());
    let stored = store
        .read(|tx| tx.sessions(SessionId(0), usize::MAX))
        .unwrap();
    assert_eq!(stored.len(), usize::try_from(n).unwrap());
}
