//! Storage-level behaviour of the sled backend: own writes, atomicity, ids and
//! the session indexes.

mod common;

use chatdesk::ChatSessionStatus;
use chatdesk::backend::{IdKind, StorageExt};
use chatdesk::{Error, MessageId, SessionId, TopicId, UserId};
use chatdesk_sled::testing::temp_store;
use common::*;

#[test]
fn reads_see_own_writes_point_and_range() {
    let store = temp_store();
    store
        .write(|tx| {
            tx.put_session(&session(1, 10))?;
            tx.put_session(&session(3, 10))?;
            Ok(())
        })
        .unwrap();
    store
        .write(|tx| {
            // Point reads: a new row, a replaced row, a deleted row.
            tx.put_session(&session(2, 10))?;
            assert_eq!(tx.session(SessionId(2))?, Some(session(2, 10)));
            let mut moved = session(3, 20);
            moved.rank = 5;
            tx.put_session(&moved)?;
            assert_eq!(tx.session(SessionId(3))?, Some(moved.clone()));
            tx.delete_session(SessionId(1))?;
            assert_eq!(tx.session(SessionId(1))?, None);
            assert_eq!(tx.session_by_key(&key_hash(1))?, None);
            assert_eq!(tx.session_by_key(&key_hash(2))?, Some(SessionId(2)));
            // Ranges merge pending and committed rows, in order.
            assert_eq!(ids(&tx.sessions(SessionId(0), 10)?), [2, 3]);
            assert_eq!(ids(&tx.topic_sessions(TopicId(10), SessionId(0), 10)?), [2]);
            assert_eq!(ids(&tx.topic_sessions(TopicId(20), SessionId(0), 10)?), [3]);
            tx.put_message(&message(2, 5))?;
            tx.put_message(&message(2, 4))?;
            let ms: Vec<_> = tx
                .messages(SessionId(2), MessageId(0), 10)?
                .into_iter()
                .map(|m| m.id.0)
                .collect();
            assert_eq!(ms, [4, 5]);
            tx.put_topic(&topic(7))?;
            assert_eq!(tx.topic(TopicId(7))?, Some(topic(7)));
            assert_eq!(tx.topics()?, vec![topic(7)]);
            tx.put_member(&member(7, 1))?;
            assert_eq!(tx.user_memberships(UserId(1))?, vec![member(7, 1)]);
            tx.put_presence(&presence(1))?;
            assert_eq!(tx.presences()?, vec![presence(1)]);
            Ok(())
        })
        .unwrap();
    // Readers saw none of it until the commit; now everything.
    store
        .read(|tx| {
            assert_eq!(ids(&tx.sessions(SessionId(0), 10)?), [2, 3]);
            assert_eq!(tx.messages(SessionId(2), MessageId(0), 10)?.len(), 2);
            assert_eq!(tx.topic(TopicId(7))?, Some(topic(7)));
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_failed_closure_leaves_nothing_and_uses_no_id() {
    let store = temp_store();
    let err = store
        .write(|tx| {
            let id = tx.next_id(IdKind::Session)?;
            tx.put_session(&queued(i32::try_from(id).unwrap(), 1, 1))?;
            tx.put_topic(&topic(1))?;
            tx.put_member(&member(1, 2))?;
            tx.put_message(&message(1, 1))?;
            Err::<(), _>(Error::conflict("changed my mind"))
        })
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }));
    store
        .read(|tx| {
            assert!(tx.sessions(SessionId(i32::MIN), usize::MAX)?.is_empty());
            assert!(tx.topics()?.is_empty());
            assert!(tx.all_members()?.is_empty());
            assert_eq!(tx.queue_len(TopicId(1))?, 0);
            assert!(tx.messages(SessionId(1), MessageId(0), 10)?.is_empty());
            Ok(())
        })
        .unwrap();
    assert_eq!(store.write(|tx| tx.next_id(IdKind::Session)).unwrap(), 1);
}

#[test]
fn ids_count_from_one_per_kind() {
    let store = temp_store();
    for want in 1..=3 {
        for kind in IdKind::ALL {
            assert_eq!(store.write(|tx| tx.next_id(kind)).unwrap(), want);
        }
    }
    // Several in one transaction.
    let got = store
        .write(|tx| Ok([tx.next_id(IdKind::Message)?, tx.next_id(IdKind::Message)?]))
        .unwrap();
    assert_eq!(got, [4, 5]);
}

#[test]
fn ids_past_i32_max_are_validation_and_queue_seq_is_64_bit() {
    // Reaching the limit through the API would take 2^31 transactions: write
    // the counters the way the backend stores them (version byte, i64 BE).
    let dir = tempfile::tempdir().unwrap();
    {
        let s = chatdesk_sled::SledStorage::open(dir.path(), Default::default()).unwrap();
        s.close().unwrap();
    }
    {
        let db = chatdesk_sled::testing::open_raw(dir.path()).unwrap();
        let mut v = vec![1u8];
        v.extend_from_slice(&i64::from(i32::MAX).to_be_bytes());
        db.insert(b"\x01session", v.clone()).unwrap();
        db.insert(b"\x01queue_seq", v).unwrap();
        db.flush().unwrap();
    }
    let s = chatdesk_sled::SledStorage::open(dir.path(), Default::default()).unwrap();
    let err = s.write(|tx| tx.next_id(IdKind::Session)).unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    assert_eq!(
        s.write(|tx| tx.next_id(IdKind::QueueSeq)).unwrap(),
        i64::from(i32::MAX) + 1
    );
}

#[test]
fn replacing_a_session_keeps_every_index_in_step() {
    let store = temp_store();
    store
        .write(|tx| {
            tx.put_session(&queued(1, 10, 5))?;
            tx.put_session(&queued(2, 10, 7))?;
            tx.put_session(&queued(3, 10, 9))?;
            tx.put_session(&queued(4, 20, 8))?;
            Ok(())
        })
        .unwrap();
    let check = |f: &dyn Fn(&dyn chatdesk::backend::ReadTx) -> chatdesk::Result<()>| {
        store.read(|tx| f(tx)).unwrap();
    };
    check(&|tx| {
        assert_eq!(tx.queue_len(TopicId(10))?, 3);
        assert_eq!(tx.queue_count_before(TopicId(10), 9)?, 2);
        assert_eq!(tx.queue_count_before(TopicId(10), 0)?, 0);
        assert_eq!(
            tx.queue(TopicId(10), 0, 10)?,
            vec![(5, SessionId(1)), (7, SessionId(2)), (9, SessionId(3))]
        );
        assert_eq!(tx.queue(TopicId(10), 5, 1)?, vec![(7, SessionId(2))]);
        assert_eq!(
            ids(&tx.sessions_by_status(ChatSessionStatus::InQueue, SessionId(0), 10)?),
            [1, 2, 3, 4]
        );
        assert_eq!(
            ids(&tx.sessions_by_status(ChatSessionStatus::InQueue, SessionId(1), 2)?),
            [2, 3]
        );
        Ok(())
    });

    // 2 is picked up by user 8: leaves the queue, becomes active.
    // 3 moves to topic 20 (same seq).
    // 1 is handed to the bot: still InQueue but out of the human queue.
    store
        .write(|tx| {
            tx.put_session(&active(2, 10, 8))?;
            tx.put_session(&queued(3, 20, 9))?;
            let mut bot = queued(1, 10, 5);
            bot.chatbot_is_active = true;
            tx.put_session(&bot)?;
            Ok(())
        })
        .unwrap();
    check(&|tx| {
        assert_eq!(tx.queue_len(TopicId(10))?, 0);
        assert_eq!(
            tx.queue(TopicId(20), 0, 10)?,
            vec![(8, SessionId(4)), (9, SessionId(3))]
        );
        assert_eq!(tx.queue_count_before(TopicId(20), 9)?, 1);
        assert_eq!(ids(&tx.active_sessions(UserId(8))?), [2]);
        assert_eq!(
            ids(&tx.sessions_by_status(ChatSessionStatus::InQueue, SessionId(0), 10)?),
            [1, 3, 4]
        );
        assert_eq!(
            ids(&tx.sessions_by_status(ChatSessionStatus::UserLast, SessionId(0), 10)?),
            [2]
        );
        assert_eq!(
            ids(&tx.topic_sessions(TopicId(10), SessionId(0), 10)?),
            [1, 2]
        );
        assert_eq!(
            ids(&tx.topic_sessions(TopicId(20), SessionId(0), 10)?),
            [3, 4]
        );
        Ok(())
    });

    // 2 is transferred to user 9, then closed; its key changes.
    store
        .write(|tx| {
            tx.put_session(&active(2, 10, 9))?;
            assert_eq!(ids(&tx.active_sessions(UserId(8))?), Vec::<i32>::new());
            assert_eq!(ids(&tx.active_sessions(UserId(9))?), [2]);
            let mut closed = active(2, 10, 9);
            closed.status = ChatSessionStatus::Closed;
            closed.key_hash = key_hash(200);
            tx.put_session(&closed)?;
            Ok(())
        })
        .unwrap();
    check(&|tx| {
        assert!(tx.active_sessions(UserId(8))?.is_empty());
        assert!(tx.active_sessions(UserId(9))?.is_empty());
        assert!(
            tx.sessions_by_status(ChatSessionStatus::UserLast, SessionId(0), 10)?
                .is_empty()
        );
        assert_eq!(
            ids(&tx.sessions_by_status(ChatSessionStatus::Closed, SessionId(0), 10)?),
            [2]
        );
        assert_eq!(tx.session_by_key(&key_hash(2))?, None);
        assert_eq!(tx.session_by_key(&key_hash(200))?, Some(SessionId(2)));
        Ok(())
    });
}

#[test]
fn delete_session_removes_it_its_indexes_and_its_messages() {
    let store = temp_store();
    store
        .write(|tx| {
            tx.put_session(&queued(1, 10, 1))?;
            tx.put_session(&active(2, 10, 5))?;
            for m in 1..=5 {
                tx.put_message(&message(1, m))?;
                tx.put_message(&message(2, 10 + m))?;
            }
            Ok(())
        })
        .unwrap();
    store
        .write(|tx| {
            tx.put_message(&message(1, 6))?; // pending, deleted with the rest
            tx.delete_session(SessionId(1))?;
            tx.delete_session(SessionId(2))?;
            tx.delete_session(SessionId(3))?; // absent: harmless
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert!(tx.sessions(SessionId(0), 10)?.is_empty());
            assert!(
                tx.messages(SessionId(1), MessageId(i32::MIN), 100)?
                    .is_empty()
            );
            assert!(
                tx.messages(SessionId(2), MessageId(i32::MIN), 100)?
                    .is_empty()
            );
            assert_eq!(tx.queue_len(TopicId(10))?, 0);
            assert!(tx.active_sessions(UserId(5))?.is_empty());
            assert!(tx.topic_sessions(TopicId(10), SessionId(0), 10)?.is_empty());
            assert_eq!(tx.session_by_key(&key_hash(1))?, None);
            Ok(())
        })
        .unwrap();
}

#[test]
fn memberships_by_topic_by_user_and_all() {
    let store = temp_store();
    store
        .write(|tx| {
            for (t, u) in [(2, 1), (1, 2), (1, 1), (3, 2), (-1, 1)] {
                tx.put_member(&member(t, u))?;
            }
            tx.delete_member(TopicId(3), UserId(2))?;
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            let pairs = |v: Vec<chatdesk::backend::MemberRecord>| {
                v.iter().map(|m| (m.topic.0, m.user.0)).collect::<Vec<_>>()
            };
            assert_eq!(pairs(tx.all_members()?), [(-1, 1), (1, 1), (1, 2), (2, 1)]);
            assert_eq!(pairs(tx.topic_members(TopicId(1))?), [(1, 1), (1, 2)]);
            assert_eq!(
                pairs(tx.user_memberships(UserId(1))?),
                [(-1, 1), (1, 1), (2, 1)]
            );
            assert_eq!(pairs(tx.user_memberships(UserId(2))?), [(1, 2)]);
            assert_eq!(tx.member(TopicId(3), UserId(2))?, None);
            Ok(())
        })
        .unwrap();
}

#[test]
fn limits_and_after_bounds_at_the_edges() {
    let store = temp_store();
    store
        .write(|tx| {
            for id in [i32::MIN, -1, 0, 1, i32::MAX] {
                tx.put_session(&session(id, 1))?;
            }
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(
                ids(&tx.sessions(SessionId(i32::MIN), 10)?),
                [-1, 0, 1, i32::MAX]
            );
            assert_eq!(ids(&tx.sessions(SessionId(-1), 2)?), [0, 1]);
            assert!(tx.sessions(SessionId(0), 0)?.is_empty());
            assert!(tx.sessions(SessionId(i32::MAX), 10)?.is_empty());
            assert!(
                tx.topic_sessions(TopicId(1), SessionId(i32::MAX), 10)?
                    .is_empty()
            );
            assert_eq!(tx.queue(TopicId(1), u64::MAX, 10)?, vec![]);
            assert_eq!(tx.queue_count_before(TopicId(1), u64::MAX)?, 0);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_reader_never_sees_a_writers_pending_state() {
    use std::sync::{Arc, Barrier};
    let store = Arc::new(temp_store());
    let in_closure = Arc::new(Barrier::new(2));
    let may_finish = Arc::new(Barrier::new(2));
    let writer = {
        let (store, a, b) = (store.clone(), in_closure.clone(), may_finish.clone());
        std::thread::spawn(move || {
            store
                .write(|tx| {
                    tx.put_session(&session(1, 1))?;
                    a.wait();
                    b.wait();
                    Ok(())
                })
                .unwrap();
        })
    };
    in_closure.wait();
    // The writer is inside its closure: a reader runs and sees nothing.
    let seen = store.read(|tx| tx.session(SessionId(1))).unwrap();
    assert_eq!(seen, None);
    may_finish.wait();
    writer.join().unwrap();
    assert!(store.read(|tx| tx.session(SessionId(1))).unwrap().is_some());
}

#[test]
fn backend_name_and_flush() {
    use chatdesk::Storage;
    let store = temp_store();
    assert_eq!(store.backend_name(), "sled");
    store.write(|tx| tx.put_topic(&topic(1))).unwrap();
    store.flush().unwrap();
}

#[test]
fn topic_settings_round_trip_exactly() {
    use chatdesk::ChatTopicEntity;
    let settings: ChatTopicEntity = serde_json::from_str(
        r#"{
            "ChatTopicId": 4, "Name": "Støtte", "Description": "d\u0000\"",
            "Language": {"Id": 3, "Name": "Norsk", "Extra": {"deep": [1, 2.5, null]}},
            "LastAccept": "2024-01-02T03:04:05",
            "WarnNewChatMinutes": 3, "BotEnabled": true,
            "Widget": {"RequiredFields": "name, EMAIL"},
            "BotSettings": {"BotName": "Robo"},
            "TableRight": {"Mask": "Select, Update", "Reason": "why"},
            "FieldProperties": {"b": {"FieldRight": {"Mask": "Read"}}, "a": {}}
        }"#,
    )
    .unwrap();
    let t = chatdesk::backend::TopicRecord {
        id: TopicId(4),
        settings,
        last_accept: None,
        seconds_pr_accept: -1,
        routing: Default::default(),
    };
    let store = temp_store();
    store.write(|tx| tx.put_topic(&t)).unwrap();
    let store = store.reopen().unwrap();
    assert_eq!(store.read(|tx| tx.topic(TopicId(4))).unwrap(), Some(t));
}
