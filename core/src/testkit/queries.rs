//! Listing sessions: open sessions per caller, a topic's queue, paged queries.

use super::Fixture;
use crate::storage::{Storage, StorageExt};
use crate::{Caller, ChatSessionStatus, Error, SessionId, SessionQuery, TopicId};

fn ids(list: &[crate::ChatSessionEntity]) -> Vec<i32> {
    list.iter().map(|e| e.chat_session_id).collect()
}

pub fn session_lists_per_caller<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let a = fx.staffed_topic("a");
    let b = fx.staffed_topic("b");
    fx.member(a, 3, (false, false, false, true)); // notify-only on a
    let (s1, key1) = fx.customer_session(a, "1");
    let (s2, _) = fx.customer_session(b, "2");
    let (s3, _) = fx.customer_session(a, "3");
    // s3 is picked up: open, but no longer in the human queue.
    fx.desk
        .pick_up_chat_session(&Caller::agent(10), s3)
        .unwrap()
        .unwrap();
    let (s4, _) = fx.customer_session(a, "4");
    fx.desk
        .storage()
        .write(|tx| {
            let mut s = tx.session(s4)?.unwrap();
            s.status = ChatSessionStatus::Closed;
            tx.put_session(&s)
        })
        .unwrap();
    let mine = |ctx: &Caller| ids(&fx.desk.chat_sessions_for_user(ctx).unwrap());
    assert_eq!(mine(&fx.sys()), vec![s1.0, s2.0, s3.0]);
    assert_eq!(mine(&Caller::agent(10)), vec![s1.0, s2.0, s3.0]);
    assert_eq!(mine(&Caller::agent(3)), vec![s1.0]);
    assert_eq!(mine(&Caller::agent(77)), Vec::<i32>::new());
    assert_eq!(mine(&Caller::customer(key1.clone())), vec![s1.0]);

    let (s5, _) = fx.customer_session(a, "5");
    let queue = |ctx: &Caller| fx.desk.get_topic_queue(ctx, a).map(|l| ids(&l));
    assert_eq!(queue(&fx.sys()).unwrap(), vec![s1.0, s5.0]);
    assert_eq!(queue(&Caller::agent(3)).unwrap(), vec![s1.0, s5.0]);
    assert!(matches!(
        queue(&Caller::agent(77)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        queue(&Caller::customer(key1)),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        fx.desk.get_topic_queue(&fx.sys(), TopicId(99)),
        Err(Error::NotFound { .. })
    ));
}

pub fn paged_session_query<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let a = fx.staffed_topic("a");
    let b = fx.staffed_topic("b");
    let mut made = Vec::new();
    for i in 0..7 {
        let t = if i % 2 == 0 { a } else { b };
        made.push(fx.customer_session(t, &i.to_string()).0);
        fx.clock.advance_secs(60);
    }
    let find = |q: SessionQuery| ids(&fx.desk.find_chat_sessions(&fx.sys(), &q).unwrap());
    let all: Vec<i32> = made.iter().map(|s| s.0).collect();
    assert_eq!(find(SessionQuery::default()), all);
    let page1 = find(SessionQuery {
        limit: 3,
        ..Default::default()
    });
    assert_eq!(page1, all[..3].to_vec());
    let page2 = find(SessionQuery {
        limit: 3,
        after: SessionId(page1[2]),
        ..Default::default()
    });
    assert_eq!(page2, all[3..6].to_vec());
    let in_a = find(SessionQuery {
        topic: Some(a),
        ..Default::default()
    });
    assert_eq!(in_a, vec![all[0], all[2], all[4], all[6]]);
    let start = fx.desk.get_chat_session_entity(&fx.sys(), made[2]).unwrap();
    let from = crate::Timestamp::from_datetime(start.when_requested.to_utc().unwrap());
    let windowed = find(SessionQuery {
        requested_from: Some(from),
        requested_before: Some(from.plus_seconds(120)),
        ..Default::default()
    });
    assert_eq!(windowed, vec![all[2], all[3]]);
    fx.desk
        .pick_up_chat_session(&Caller::agent(10), made[1])
        .unwrap();
    let queued_in_b = find(SessionQuery {
        topic: Some(b),
        status: Some(ChatSessionStatus::InQueue),
        ..Default::default()
    });
    assert_eq!(queued_in_b, vec![all[3], all[5]]);
    // A non-member sees nothing; limits are checked.
    let none = fx
        .desk
        .find_chat_sessions(&Caller::agent(77), &SessionQuery::default())
        .unwrap();
    assert!(none.is_empty());
    assert!(matches!(
        fx.desk.find_chat_sessions(
            &fx.sys(),
            &SessionQuery {
                limit: 501,
                ..Default::default()
            }
        ),
        Err(Error::Validation { .. })
    ));
}
