//! Storage-level cases of the routing and statistics data every backend
//! must pass: the pending-transfer index, agent records, the time index and
//! the new record fields.

use super::storage::record;
use crate::clock::Timestamp;
use crate::model::{
    AgentRecord, SessionRecord, SessionRouting, SessionStats, TopicRecord, TopicRouting,
};
use crate::storage::{ReadTx, Storage, StorageExt};
use crate::wire::{ChatSessionStatus, ChatTopicEntity};
use crate::wire::{RoutingMode, RoutingStrategy};
use crate::{Error, SessionId, TopicId, UserId};

/// A session of `topic` in `status` with agent `user` and a transfer to `to`.
fn with_transfer(
    id: i32,
    status: ChatSessionStatus,
    user: Option<i32>,
    to: Option<i32>,
) -> SessionRecord {
    let mut s = record(id, 1, status);
    s.user = user.map(UserId);
    s.transfer_to = to.map(UserId);
    s
}

fn transfers(tx: &dyn ReadTx, user: i32) -> Vec<i32> {
    tx.transfers_to(UserId(user))
        .unwrap()
        .iter()
        .map(|id| id.0)
        .collect()
}

/// `transfers_to` lists exactly the sessions whose
/// `pending_transfer_to` is the user, through writes, status changes (open
/// to ended and back) and deletes, also inside the writing transaction.
pub fn transfers_follow_session_changes<S: Storage>(store: S) {
    use ChatSessionStatus::{Closed, CustomerLast, InQueue, UserLast};
    store
        .write(|tx| {
            tx.put_session(&with_transfer(1, CustomerLast, Some(5), Some(7)))?;
            tx.put_session(&with_transfer(2, UserLast, Some(6), Some(7)))?;
            // Not active, or active without a User: no pending transfer.
            tx.put_session(&with_transfer(3, InQueue, None, Some(7)))?;
            tx.put_session(&with_transfer(4, CustomerLast, None, Some(7)))?;
            tx.put_session(&with_transfer(5, Closed, Some(6), Some(7)))?;
            tx.put_session(&with_transfer(6, UserLast, Some(7), None))?;
            assert_eq!(transfers(tx, 7), [1, 2], "inside the transaction");
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(transfers(tx, 7), [1, 2]);
            assert_eq!(transfers(tx, 5), Vec::<i32>::new());
            assert_eq!(transfers(tx, 6), Vec::<i32>::new());
            Ok(())
        })
        .unwrap();
    store
        .write(|tx| {
            // 1 is transferred elsewhere, 2 closes (TransferTo kept), 3 is
            // picked up with its TransferTo still set.
            tx.put_session(&with_transfer(1, CustomerLast, Some(5), Some(8)))?;
            tx.put_session(&with_transfer(2, Closed, Some(6), Some(7)))?;
            tx.put_session(&with_transfer(3, UserLast, Some(9), Some(7)))?;
            assert_eq!(transfers(tx, 7), [3]);
            assert_eq!(transfers(tx, 8), [1]);
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(transfers(tx, 7), [3]);
            assert_eq!(transfers(tx, 8), [1]);
            Ok(())
        })
        .unwrap();
    // 2 is reopened (back from the ended sessions), 5 too; 1 is deleted,
    // 3's transfer is answered.
    store
        .write(|tx| {
            tx.put_session(&with_transfer(2, CustomerLast, Some(6), Some(7)))?;
            tx.put_session(&with_transfer(5, UserLast, Some(6), Some(7)))?;
            tx.delete_session(SessionId(1))?;
            tx.put_session(&with_transfer(3, UserLast, Some(7), None))
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(transfers(tx, 7), [2, 5]);
            assert_eq!(transfers(tx, 8), Vec::<i32>::new());
            Ok(())
        })
        .unwrap();
    // A failed transaction leaves the index as it was.
    let r: crate::Result<()> = store.write(|tx| {
        tx.put_session(&with_transfer(4, CustomerLast, Some(5), Some(7)))?;
        tx.delete_session(SessionId(2))?;
        assert_eq!(transfers(tx, 7), [4, 5]);
        Err(Error::validation("x", "test failure"))
    });
    assert!(matches!(r, Err(Error::Validation { .. })));
    store
        .read(|tx| {
            assert_eq!(transfers(tx, 7), [2, 5]);
            Ok(())
        })
        .unwrap();
}

/// Agent records round-trip exactly, are replaced by a second write and
/// are independent of each other.
pub fn agents_round_trip<S: Storage>(store: S) {
    let a = AgentRecord {
        user: UserId(7),
        max_chats: Some(1000),
        last_assigned: Some(Timestamp(-3)),
    };
    let b = AgentRecord {
        user: UserId(-2),
        max_chats: None,
        last_assigned: None,
    };
    store
        .write(|tx| {
            assert_eq!(tx.agent(UserId(7))?, None);
            tx.put_agent(&a)?;
            tx.put_agent(&b)?;
            assert_eq!(tx.agent(UserId(7))?, Some(a));
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(tx.agent(UserId(7))?, Some(a));
            assert_eq!(tx.agent(UserId(-2))?, Some(b));
            assert_eq!(tx.agent(UserId(8))?, None);
            Ok(())
        })
        .unwrap();
    let a2 = AgentRecord {
        max_chats: None,
        last_assigned: Some(Timestamp(i64::MAX)),
        ..a
    };
    store.write(|tx| tx.put_agent(&a2)).unwrap();
    store
        .read(|tx| {
            assert_eq!(tx.agent(UserId(7))?, Some(a2));
            assert_eq!(tx.agent(UserId(-2))?, Some(b));
            Ok(())
        })
        .unwrap();
}

fn at(id: i32, when: i64, status: ChatSessionStatus) -> SessionRecord {
    let mut s = record(id, 1 + id % 2, status);
    s.when_requested = Timestamp(when);
    s
}

fn requested(
    tx: &dyn ReadTx,
    after: (i64, i32),
    before: i64,
    limit: usize,
) -> crate::Result<Vec<i32>> {
    Ok(tx
        .sessions_requested(
            (Timestamp(after.0), SessionId(after.1)),
            Timestamp(before),
            limit,
        )?
        .iter()
        .map(|s| s.id.0)
        .collect())
}

/// `sessions_requested` lists sessions by (WhenRequested, id), open and
/// ended alike, strictly after the cursor and before the bound, at most
/// `limit`; a cursor from one page gives the next.
pub fn sessions_requested_by_time<S: Storage>(store: S) {
    use ChatSessionStatus::{Closed, CustomerLast, Deleted, Finished, InQueue};
    const LOW: (i64, i32) = (i64::MIN, i32::MIN);
    // (id, WhenRequested, status): ids out of time order, equal times,
    // negative times, open and ended sessions mixed.
    let rows = [
        (1, 500, Closed),
        (2, 100, InQueue),
        (3, 300, CustomerLast),
        (4, 300, Finished),
        (5, -50, Deleted),
        (6, 300, InQueue),
        (7, 900, Closed),
        (8, 100, Closed),
    ];
    store
        .write(|tx| {
            for (id, when, status) in rows {
                tx.put_session(&at(id, when, status))?;
            }
            assert_eq!(requested(tx, LOW, i64::MAX, 100)?, [5, 2, 8, 3, 4, 6, 1, 7]);
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(requested(tx, LOW, i64::MAX, 100)?, [5, 2, 8, 3, 4, 6, 1, 7]);
            // The upper bound excludes its own time; the cursor is strict
            // on (time, id).
            assert_eq!(requested(tx, LOW, 300, 100)?, [5, 2, 8]);
            assert_eq!(requested(tx, LOW, 301, 100)?, [5, 2, 8, 3, 4, 6]);
            assert_eq!(requested(tx, (100, 2), 500, 100)?, [8, 3, 4, 6]);
            assert_eq!(requested(tx, (300, 3), 500, 100)?, [4, 6]);
            assert_eq!(requested(tx, (300, 6), 501, 100)?, [1]);
            assert_eq!(requested(tx, (300, i32::MAX), i64::MAX, 100)?, [1, 7]);
            assert_eq!(requested(tx, (-51, i32::MAX), 100, 100)?, [5]);
            // Limits, empty ranges.
            assert_eq!(requested(tx, LOW, i64::MAX, 3)?, [5, 2, 8]);
            assert!(requested(tx, LOW, i64::MAX, 0)?.is_empty());
            assert!(requested(tx, (900, 7), i64::MAX, 10)?.is_empty());
            assert!(requested(tx, (500, 0), 400, 10)?.is_empty());
            assert!(requested(tx, LOW, -50, 10)?.is_empty());
            // Paging with the last (time, id) as the cursor.
            let mut cursor = (Timestamp(i64::MIN), SessionId(i32::MIN));
            let mut paged = Vec::new();
            loop {
                let page = tx.sessions_requested(cursor, Timestamp(i64::MAX), 3)?;
                let Some(last) = page.last() else { break };
                cursor = (last.when_requested, last.id);
                paged.extend(page.iter().map(|s| s.id.0));
            }
            assert_eq!(paged, [5, 2, 8, 3, 4, 6, 1, 7]);
            // Whole records, as stored.
            let full = tx.sessions_requested(
                (Timestamp(i64::MIN), SessionId(i32::MIN)),
                Timestamp(i64::MAX),
                100,
            )?;
            for s in &full {
                assert_eq!(tx.session(s.id)?.as_ref(), Some(s));
            }
            Ok(())
        })
        .unwrap();
    // Sessions end and reopen (crossing between open and ended), one is
    // purged, one gets another WhenRequested, one is added.
    store
        .write(|tx| {
            tx.put_session(&at(2, 100, Closed))?;
            tx.put_session(&at(7, 900, InQueue))?;
            tx.delete_session(SessionId(4))?;
            tx.put_session(&at(3, 1_000, CustomerLast))?;
            tx.put_session(&at(9, 300, Closed))?;
            assert_eq!(requested(tx, LOW, i64::MAX, 100)?, [5, 2, 8, 6, 9, 1, 7, 3]);
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(requested(tx, LOW, i64::MAX, 100)?, [5, 2, 8, 6, 9, 1, 7, 3]);
            assert_eq!(requested(tx, (100, 8), 901, 100)?, [6, 9, 1, 7]);
            let statuses: Vec<ChatSessionStatus> = tx
                .sessions_requested((Timestamp(100), SessionId(i32::MIN)), Timestamp(101), 10)?
                .iter()
                .map(|s| s.status)
                .collect();
            assert_eq!(statuses, [Closed, Closed]);
            Ok(())
        })
        .unwrap();
}

/// A topic with every routing setting away from its default.
fn routed_topic(id: i32) -> TopicRecord {
    TopicRecord {
        id: TopicId(id),
        settings: ChatTopicEntity {
            chat_topic_id: id,
            name: format!("routed {id}"),
            ..ChatTopicEntity::default()
        },
        last_accept: Some(Timestamp(-7)),
        seconds_pr_accept: 12,
        routing: TopicRouting {
            mode: RoutingMode::Auto,
            strategy: RoutingStrategy::LongestIdle,
            default_capacity: 1000,
            answer_timeout_secs: 86_400,
            transfer_timeout_secs: 1,
        },
    }
}

/// A session with every routing and statistics field set.
fn routed_session(id: i32, status: ChatSessionStatus) -> SessionRecord {
    let mut s = record(id, 1, status);
    s.user = Some(UserId(4));
    s.transfer_to = Some(UserId(11));
    s.routing = SessionRouting {
        routed_at: Some(Timestamp(-1)),
        answered: true,
        // Order and values kept as given (not sorted, negative ids too).
        excluded: vec![UserId(9), UserId(-3), UserId(i32::MAX), UserId(2)],
        transfer_requested_at: Some(Timestamp(i64::MAX)),
    };
    s.stats = SessionStats {
        max_alert_level: 3,
        answer_timeouts: i32::MAX,
        first_answer_at: Some(Timestamp(i64::MIN)),
    };
    s
}

/// The routing settings of topics and the routing and statistics fields of
/// sessions come back exactly through every read path, defaults included,
/// on open and ended sessions.
pub fn routing_fields_round_trip<S: Storage>(store: S) {
    use ChatSessionStatus::{Closed, UserLast};
    let topic = routed_topic(1);
    let plain = TopicRecord {
        routing: TopicRouting::default(),
        ..routed_topic(2)
    };
    let open = routed_session(1, UserLast);
    let ended = routed_session(2, Closed);
    let bare = record(3, 1, UserLast);
    let mut one_excluded = record(4, 1, Closed);
    one_excluded.routing.excluded = vec![UserId(0)];
    let all = [
        open.clone(),
        ended.clone(),
        bare.clone(),
        one_excluded.clone(),
    ];
    store
        .write(|tx| {
            tx.put_topic(&topic)?;
            tx.put_topic(&plain)?;
            for s in &all {
                tx.put_session(s)?;
            }
            assert_eq!(tx.session(SessionId(1))?, Some(open.clone()));
            assert_eq!(tx.topic(TopicId(1))?, Some(topic.clone()));
            Ok(())
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(tx.topic(TopicId(1))?, Some(topic.clone()));
            assert_eq!(tx.topics()?, vec![topic.clone(), plain.clone()]);
            for s in &all {
                assert_eq!(tx.session(s.id)?.as_ref(), Some(s));
            }
            assert_eq!(tx.sessions(SessionId(0), 10)?, all.to_vec());
            assert_eq!(
                tx.topic_sessions(TopicId(1), SessionId(0), 10)?,
                all.to_vec()
            );
            assert_eq!(
                tx.sessions_by_status(Closed, SessionId(0), 10)?,
                vec![ended.clone(), one_excluded.clone()]
            );
            assert_eq!(tx.active_sessions(UserId(4))?, vec![open.clone()]);
            assert_eq!(tx.transfers_to(UserId(11))?, vec![SessionId(1)]);
            assert_eq!(
                tx.sessions_requested(
                    (Timestamp(i64::MIN), SessionId(0)),
                    Timestamp(i64::MAX),
                    10
                )?,
                all.to_vec()
            );
            Ok(())
        })
        .unwrap();
    // Moving between open and ended keeps every field; clearing them
    // stores the defaults.
    let reopened = routed_session(2, UserLast);
    let mut cleared = routed_session(1, Closed);
    cleared.routing = SessionRouting::default();
    cleared.stats = SessionStats::default();
    store
        .write(|tx| {
            tx.put_session(&reopened)?;
            tx.put_session(&cleared)?;
            tx.put_topic(&TopicRecord {
                routing: TopicRouting::default(),
                ..topic.clone()
            })
        })
        .unwrap();
    store
        .read(|tx| {
            assert_eq!(tx.session(SessionId(1))?, Some(cleared.clone()));
            assert_eq!(tx.session(SessionId(2))?, Some(reopened.clone()));
            assert_eq!(tx.transfers_to(UserId(11))?, vec![SessionId(2)]);
            assert_eq!(
                tx.topic(TopicId(1))?.map(|t| t.routing),
                Some(TopicRouting::default())
            );
            Ok(())
        })
        .unwrap();
}
