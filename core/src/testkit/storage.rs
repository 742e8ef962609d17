//! Storage-level isolation and indexing cases every backend must pass.

use crate::backend::IdKind;
use crate::clock::Timestamp;
use crate::model::{CrmLinks, CustomerInfo, MessageRecord, SessionRecord};
use crate::storage::{Storage, StorageExt};
use crate::wire::{ChatMessageSpecialType, ChatMessageType, ChatSessionStatus};
use crate::{Error, MessageId, SessionId, TopicId, UserId};

/// A session record for storage tests.
pub fn record(id: i32, topic: i32, status: ChatSessionStatus) -> SessionRecord {
    let mut key_hash = [0u8; 32];
    key_hash[..4].copy_from_slice(&id.to_be_bytes());
    SessionRecord {
        id: SessionId(id),
        topic: TopicId(topic),
        user: None,
        links: CrmLinks::default(),
        customer: CustomerInfo {
            alias: format!("c{id}"),
            ..CustomerInfo::default()
        },
        status,
        first_message: String::new(),
        last_message: String::new(),
        when_requested: Timestamp(1_000),
        when_started: None,
        when_ended: None,
        when_idle: None,
        when_fetched: None,
        key_hash,
        initial_queue_pos: 0,
        alert_level: 0,
        rank: 0,
        transfer_to: None,
        chatbot_is_active: false,
        rating: 0,
        queue_seq: None,
        queue_entered: None,
        customer_last_since: None,
        deleted_at: None,
        routing: Default::default(),
        stats: Default::default(),
    }
}

fn message(id: i32, session: i32) -> MessageRecord {
    MessageRecord {
        id: MessageId(id),
        session: SessionId(session),
        kind: ChatMessageType::ToUser,
        text: format!("m{id} ünïcødé <b>&"),
        author: "a".into(),
        read_by_customer: false,
        special: ChatMessageSpecialType::None,
        special_param: String::new(),
        when_posted: Timestamp(-5),
    }
}

pub fn reads_see_own_writes<S: Storage>(store: S) {
    store
        .write(|tx| {
            let mut s = record(1, 1, ChatSessionStatus::InQueue);
            s.queue_seq = Some(7);
            tx.put_session(&s)?;
            assert_eq!(tx.session(SessionId(1))?, Some(s.clone()));
            assert_eq!(tx.queue_len(TopicId(1))?, 1);
            assert_eq!(tx.queue(TopicId(1), 0, 10)?, vec![(7, SessionId(1))]);
            assert_eq!(tx.session_by_key(&s.key_hash)?, Some(SessionId(1)));
            tx.put_message(&message(1, 1))?;
            assert_eq!(tx.messages(SessionId(1), MessageId(0), 10)?.len(), 1);
            Ok(())
        })
        .unwrap();
    let got = store.read(|tx| tx.session(SessionId(1))).unwrap();
    assert_eq!(got.map(|s| s.queue_seq), Some(Some(7)));
    let msgs = store
        .read(|tx| tx.messages(SessionId(1), MessageId(0), 10))
        .unwrap();
    assert_eq!(msgs, vec![message(1, 1)]);
}

pub fn failed_closure_leaves_nothing<S: Storage>(store: S) {
    let before = super::dump(&store);
    let r: crate::Result<()> = store.write(|tx| {
        assert_eq!(tx.next_id(IdKind::Session)?, 1);
        tx.put_session(&record(1, 1, ChatSessionStatus::InQueue))?;
        tx.put_message(&message(1, 1))?;
        Err(Error::validation("x", "test failure"))
    });
    assert!(matches!(r, Err(Error::Validation { .. })));
    assert_eq!(super::dump(&store), before);
    // Where ids are promised gap-free, the failed transaction used none;
    // elsewhere it may have used one, but the next is still new.
    let id = store.write(|tx| tx.next_id(IdKind::Session)).unwrap();
    if store.capabilities().gap_free_ids {
        assert_eq!(id, 1);
    } else {
        assert!(id >= 1, "id {id}");
    }
}

pub fn ids_are_sequential_per_kind<S: Storage>(store: S) {
    for want in 1..=3 {
        for kind in IdKind::ALL {
            assert_eq!(store.write(|tx| tx.next_id(kind)).unwrap(), want);
        }
    }
    let two = store
        .write(|tx| Ok((tx.next_id(IdKind::Message)?, tx.next_id(IdKind::Message)?)))
        .unwrap();
    assert_eq!(two, (4, 5));
}

pub fn indexes_follow_session_changes<S: Storage>(store: S) {
    let mut a = record(1, 1, ChatSessionStatus::InQueue);
    a.queue_seq = Some(1);
    let mut b = record(2, 1, ChatSessionStatus::InQueue);
    b.queue_seq = Some(2);
    let mut bot = record(3, 1, ChatSessionStatus::InQueue);
    bot.queue_seq = Some(3);
    bot.chatbot_is_active = true;
    store
        .write(|tx| {
            tx.put_session(&a)?;
            tx.put_session(&b)?;
            tx.put_session(&bot)
        })
        .unwrap();
    let q = |s: &S| {
        s.read(|tx| {
            Ok((
                tx.queue_len(TopicId(1))?,
                tx.queue_count_before(TopicId(1), 2)?,
                tx.queue(TopicId(1), 0, 10)?,
            ))
        })
        .unwrap()
    };
    assert_eq!(
        q(&store),
        (2, 1, vec![(1, SessionId(1)), (2, SessionId(2))])
    );
    // a is picked up by user 5: leaves the queue, becomes active.
    a.status = ChatSessionStatus::UserLast;
    a.user = Some(UserId(5));
    a.rank = 1;
    store.write(|tx| tx.put_session(&a)).unwrap();
    assert_eq!(q(&store), (1, 0, vec![(2, SessionId(2))]));
    let active = store.read(|tx| tx.active_sessions(UserId(5))).unwrap();
    assert_eq!(active, vec![a.clone()]);
    let in_queue = store
        .read(|tx| tx.sessions_by_status(ChatSessionStatus::InQueue, SessionId(0), 10))
        .unwrap();
    assert_eq!(
        in_queue.iter().map(|s| s.id.0).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let after_two = store
        .read(|tx| tx.sessions_by_status(ChatSessionStatus::InQueue, SessionId(2), 10))
        .unwrap();
    assert_eq!(
        after_two.iter().map(|s| s.id.0).collect::<Vec<_>>(),
        vec![3]
    );
    // a moves to topic 2 and closes: no longer active, listed under topic 2.
    a.status = ChatSessionStatus::Closed;
    a.topic = TopicId(2);
    a.key_hash = [9; 32];
    store.write(|tx| tx.put_session(&a)).unwrap();
    store
        .read(|tx| {
            assert!(tx.active_sessions(UserId(5))?.is_empty());
            assert_eq!(tx.session_by_key(&[9; 32])?, Some(SessionId(1)));
            assert_eq!(
                tx.session_by_key(&record(1, 1, ChatSessionStatus::Closed).key_hash)?,
                None
            );
            let t1: Vec<i32> = tx
                .topic_sessions(TopicId(1), SessionId(0), 10)?
                .iter()
                .map(|s| s.id.0)
                .collect();
            assert_eq!(t1, vec![2, 3]);
            let t2: Vec<i32> = tx
                .topic_sessions(TopicId(2), SessionId(0), 10)?
                .iter()
                .map(|s| s.id.0)
                .collect();
            assert_eq!(t2, vec![1]);
            let limited = tx.sessions(SessionId(0), 2)?;
            assert_eq!(
                limited.iter().map(|s| s.id.0).collect::<Vec<_>>(),
                vec![1, 2]
            );
            assert_eq!(
                tx.sessions_by_status(ChatSessionStatus::Closed, SessionId(0), 10)?
                    .len(),
                1
            );
            Ok(())
        })
        .unwrap();
}

pub fn delete_session_removes_messages<S: Storage>(store: S) {
    store
        .write(|tx| {
            tx.put_session(&record(1, 1, ChatSessionStatus::Deleted))?;
            tx.put_session(&record(2, 1, ChatSessionStatus::Closed))?;
            for i in 1..=3 {
                tx.put_message(&message(i, 1))?;
            }
            tx.put_message(&message(4, 2))
        })
        .unwrap();
    let page = store
        .read(|tx| tx.messages(SessionId(1), MessageId(1), 1))
        .unwrap();
    assert_eq!(page, vec![message(2, 1)]);
    store.write(|tx| tx.delete_session(SessionId(1))).unwrap();
    store
        .read(|tx| {
            assert_eq!(tx.session(SessionId(1))?, None);
            assert!(tx.messages(SessionId(1), MessageId(0), 10)?.is_empty());
            assert_eq!(tx.messages(SessionId(2), MessageId(0), 10)?.len(), 1);
            assert_eq!(
                tx.sessions_by_status(ChatSessionStatus::Deleted, SessionId(0), 10)?
                    .len(),
                0
            );
            Ok(())
        })
        .unwrap();
}

/// Sessions going from open to ended and back (the memory backend keeps
/// the two apart) keep their messages, indexes, paging and id order.
pub fn sessions_cross_open_and_ended<S: Storage>(store: S) {
    use ChatSessionStatus::{Closed, CustomerLast, Deleted, InQueue};
    let ids = |v: Vec<SessionRecord>| v.iter().map(|s| s.id.0).collect::<Vec<_>>();
    store
        .write(|tx| {
            // Odd ids end, even ones stay open; messages before and after
            // the moves below.
            for id in 1..=8 {
                let status = if id % 2 == 1 { Closed } else { InQueue };
                tx.put_session(&record(id, 1 + id % 3, status))?;
                tx.put_message(&message(100 + id, id))?;
            }
            Ok(())
        })
        .unwrap();
    store
        .write(|tx| {
            // 2 ends, 3 reopens, 4 goes active, 5 is deleted (soft).
            tx.put_session(&record(2, 3, Closed))?;
            tx.put_session(&record(3, 1, CustomerLast))?;
            tx.put_session(&record(4, 2, CustomerLast))?;
            tx.put_session(&record(5, 3, Deleted))?;
            for id in 1..=8 {
                tx.put_message(&message(200 + id, id))?;
            }
            tx.put_message(&message(300, 2))?;
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(
                ids(tx.sessions(SessionId(0), 100)?),
                (1..=8).collect::<Vec<_>>()
            );
            assert_eq!(ids(tx.sessions(SessionId(2), 3)?), vec![3, 4, 5]);
            assert_eq!(
                ids(tx.topic_sessions(TopicId(3), SessionId(0), 10)?),
                vec![2, 5, 8]
            );
            assert_eq!(
                ids(tx.topic_sessions(TopicId(3), SessionId(2), 1)?),
                vec![5]
            );
            assert_eq!(
                ids(tx.sessions_by_status(Closed, SessionId(0), 10)?),
                vec![1, 2, 7]
            );
            assert_eq!(
                ids(tx.sessions_by_status(CustomerLast, SessionId(0), 10)?),
                vec![3, 4]
            );
            assert_eq!(
                ids(tx.sessions_by_status(InQueue, SessionId(0), 10)?),
                vec![6, 8]
            );
            assert_eq!(
                ids(tx.sessions_by_status(Deleted, SessionId(0), 10)?),
                vec![5]
            );
            for id in 1..=8 {
                let s = tx.session(SessionId(id))?.unwrap();
                assert_eq!(tx.session_by_key(&s.key_hash)?, Some(SessionId(id)));
                let want: Vec<i32> = if id == 2 {
                    vec![102, 202, 300]
                } else {
                    vec![100 + id, 200 + id]
                };
                let got: Vec<i32> = tx
                    .messages(SessionId(id), MessageId(0), 10)?
                    .iter()
                    .map(|m| m.id.0)
                    .collect();
                assert_eq!(got, want, "messages of session {id}");
            }
            Ok(())
        })
        .unwrap();
    store.write(|tx| tx.delete_session(SessionId(2))).unwrap();
    store
        .read(|tx| {
            assert!(tx.messages(SessionId(2), MessageId(0), 10)?.is_empty());
            assert_eq!(
                ids(tx.sessions_by_status(Closed, SessionId(0), 10)?),
                vec![1, 7]
            );
            Ok(())
        })
        .unwrap();
}

/// `active_ranks` lists (id, rank) of a user's active sessions, and
/// `queue_index_sum` answers for any node what the counted index says: the
/// number of queued sequences in the node's range.
pub fn active_ranks_and_queue_counts<S: Storage>(store: S) {
    use crate::backend::queue_index::{TOTAL_NODE, node_range, prefix_nodes, update_nodes};
    let seqs = [1u64, 2, 3, 7, 8, 9, 100, 1023, 1024];
    store
        .write(|tx| {
            for (i, seq) in (1..).zip(seqs) {
                let mut s = record(i, 1, ChatSessionStatus::InQueue);
                s.queue_seq = Some(seq);
                tx.put_session(&s)?;
            }
            for (id, user, rank) in [(20, 5, 2), (21, 5, 1), (22, 6, 1)] {
                let mut s = record(id, 1, ChatSessionStatus::CustomerLast);
                s.user = Some(UserId(user));
                s.rank = rank;
                tx.put_session(&s)?;
            }
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(
                tx.active_ranks(UserId(5))?,
                vec![(SessionId(20), 2), (SessionId(21), 1)]
            );
            assert_eq!(tx.active_ranks(UserId(7))?, vec![]);
            let mut nodes = vec![0, TOTAL_NODE, 5, 6, 12, 64, 96, 1 << 20];
            for q in seqs {
                nodes.extend(prefix_nodes(q));
                nodes.extend(update_nodes(q)?);
            }
            for node in nodes {
                let (low, high) = node_range(node);
                let want = seqs.iter().filter(|q| low < **q && **q <= high).count();
                assert_eq!(
                    tx.queue_index_sum(TopicId(1), &[node])?,
                    i64::try_from(want).unwrap(),
                    "node {node}"
                );
            }
            assert_eq!(tx.queue_index_sum(TopicId(2), &[TOTAL_NODE])?, 0);
            Ok(())
        })
        .unwrap();
}

/// Messages come back in id order whatever order they were written in, and
/// writing an existing id replaces it.
pub fn messages_in_id_order_and_replaced<S: Storage>(store: S) {
    store
        .write(|tx| {
            tx.put_session(&record(1, 1, ChatSessionStatus::CustomerLast))?;
            for id in [3, 1, 5, 2] {
                tx.put_message(&message(id, 1))?;
            }
            let mut again = message(2, 1);
            again.text = "replaced".into();
            again.read_by_customer = true;
            tx.put_message(&again)
        })
        .unwrap();
    store
        .read(|tx| {
            let all = tx.messages(SessionId(1), MessageId(0), 10)?;
            let ids: Vec<i32> = all.iter().map(|m| m.id.0).collect();
            assert_eq!(ids, vec![1, 2, 3, 5]);
            assert_eq!(all[1].text, "replaced");
            assert!(all[1].read_by_customer);
            let page: Vec<i32> = tx
                .messages(SessionId(1), MessageId(2), 2)?
                .iter()
                .map(|m| m.id.0)
                .collect();
            assert_eq!(page, vec![3, 5]);
            assert!(tx.messages(SessionId(1), MessageId(5), 10)?.is_empty());
            Ok(())
        })
        .unwrap();
}

pub fn readers_see_committed_snapshots<S: Storage>(store: S) {
    // A reader running while a writer is inside its closure sees the state
    // before the write, never half of it.
    let store = std::sync::Arc::new(store);
    store
        .write(|tx| tx.put_session(&record(1, 1, ChatSessionStatus::InQueue)))
        .unwrap();
    let (in_tx, in_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let writer = {
        let store = std::sync::Arc::clone(&store);
        std::thread::spawn(move || {
            store
                .write(|tx| {
                    tx.put_session(&record(2, 1, ChatSessionStatus::InQueue))?;
                    let _ = in_tx.send(());
                    let _ = go_rx.recv_timeout(std::time::Duration::from_millis(300));
                    tx.put_session(&record(3, 1, ChatSessionStatus::InQueue))
                })
                .unwrap();
        })
    };
    in_rx.recv().unwrap();
    // sled and memory let readers in during a write; SQLite WAL readers too.
    let seen = store.read(|tx| tx.sessions(SessionId(0), 10)).unwrap();
    let _ = go_tx.send(());
    writer.join().unwrap();
    let n = seen.len();
    assert!(
        n == 1 || n == 3,
        "a reader saw half a transaction: {n} sessions"
    );
    assert_eq!(
        store
            .read(|tx| tx.sessions(SessionId(0), 10))
            .unwrap()
            .len(),
        3
    );
}

/// A queued session whose sequence changes within its topic, in one write
/// (old and new places share counted-index nodes, so the index must sum the
/// changes per node): the index follows, in a transaction that read the row
/// first and in one that did not.
pub fn a_queued_session_moves_within_its_topic<S: Storage>(store: S) {
    let mut s = record(1, 1, ChatSessionStatus::InQueue);
    s.queue_seq = Some(5);
    let mut other = record(2, 1, ChatSessionStatus::InQueue);
    other.queue_seq = Some(7);
    store
        .write(|tx| {
            tx.put_session(&s)?;
            tx.put_session(&other)
        })
        .unwrap();
    for (seq, read_first) in [(9u64, true), (6, false)] {
        store
            .write(|tx| {
                let mut moved = s.clone();
                if read_first {
                    moved = tx.session(SessionId(1))?.unwrap();
                }
                moved.queue_seq = Some(seq);
                tx.put_session(&moved)
            })
            .unwrap();
        store
            .read(|tx| {
                let mut want = vec![(seq, SessionId(1)), (7, SessionId(2))];
                want.sort_unstable();
                assert_eq!(tx.queue(TopicId(1), 0, 10)?, want);
                assert_eq!(tx.queue_len(TopicId(1))?, 2);
                let first = want[0].0;
                assert_eq!(tx.queue_count_before(TopicId(1), first)?, 0);
                assert_eq!(tx.queue_count_before(TopicId(1), want[1].0)?, 1);
                Ok(())
            })
            .unwrap();
    }
}
