//! Wait estimates, computed by hand on small desks.

use super::Fixture;
use crate::storage::Storage;
use crate::{Caller, SessionId, UserId, WaitBasis, WaitEstimate};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6 * b.abs().max(1.0)
}

fn est<S: Storage>(fx: &Fixture<S>, id: SessionId) -> WaitEstimate {
    fx.desk
        .estimate_wait(&fx.sys(), id)
        .unwrap()
        .unwrap_or_else(|| panic!("{id} is not waiting"))
}

fn near(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs()
}

/// One agent (capacity 3, the default) picks up three customers at 0, 600
/// and 1 200 s, which fills them up; at 1 800 s two more wait. The three
/// chats are 1 800, 1 200 and 600 s old, 1 200 s on average: a slot frees
/// every 400 s (3 chats over 1 200 s), so the first waiting customer's
/// point estimate is 400 s and the second's 800 s. Their ranges: one and
/// two such intervals' 10th to 90th percentiles (39 to 912 s, 212 to
/// 1 549 s), which are wider than 0.8–1.75 times the point.
pub fn wait_estimates_follow_position_and_recent_service<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("desk");
    let agent = Caller::agent(UserId(10));
    let mut first = Vec::new();
    for _ in 0..3 {
        let (id, _) = fx.customer_session(t, "early");
        fx.desk.pick_up_chat_session(&agent, id).unwrap();
        first.push(id);
        fx.clock.advance_secs(600);
    }
    let (a, key) = fx.customer_session(t, "a");
    let (b, _) = fx.customer_session(t, "b");
    let e = est(&fx, a);
    assert_eq!((e.position, e.basis), (1, WaitBasis::Turnover));
    assert!(close(e.seconds, 400.0), "{e:?}");
    assert!(
        near(e.low_seconds, 39.4, 0.05) && near(e.high_seconds, 911.8, 0.02),
        "{e:?}"
    );
    let e = est(&fx, b);
    assert_eq!((e.position, e.basis), (2, WaitBasis::Turnover));
    assert!(close(e.seconds, 800.0), "{e:?}");
    assert!(
        near(e.low_seconds, 212.0, 0.05) && near(e.high_seconds, 1_549.0, 0.02),
        "{e:?}"
    );
    // The customer may ask for their own; a stranger may not.
    let own = fx.desk.estimate_wait(&Caller::customer(key), a).unwrap();
    assert_eq!(own.map(|e| e.position), Some(1));
    assert!(fx.desk.estimate_wait(&Caller::anonymous(), a).is_err());
    // A slot frees: with two chats going on the turnover says too little,
    // and the three pick-ups of the last 30 minutes give a slot every
    // 600 s. Customer a is next for the agent with room; b waits for one
    // more slot: 600 s, the range that slot's (59 to 1 368 s).
    fx.desk.close_chat_session(&agent, first[0]).unwrap();
    let e = est(&fx, a);
    assert_eq!(e.basis, WaitBasis::FreeAgent, "{e:?}");
    assert!(
        close(e.seconds, 300.0) && close(e.high_seconds, 600.0),
        "{e:?}"
    );
    let e = est(&fx, b);
    assert_eq!((e.position, e.basis), (2, WaitBasis::RecentService));
    assert!(close(e.seconds, 600.0), "{e:?}");
    assert!(
        near(e.low_seconds, 59.0, 0.05) && near(e.high_seconds, 1_367.8, 0.02),
        "{e:?}"
    );
    // Picked up: no longer waiting, no estimate.
    fx.desk.pick_up_chat_session(&agent, a).unwrap();
    assert_eq!(fx.desk.estimate_wait(&fx.sys(), a).unwrap(), None);
    // 2 000 s later (3 800 s): the agent ends the chat begun at 600 s and a
    // new customer c comes. b is next for the slot: no rate to go on (no
    // pick-up in the last 30 minutes, two chats going on), so no time.
    fx.clock.advance_secs(2_000);
    fx.desk.close_chat_session(&agent, first[1]).unwrap();
    let (c, _) = fx.customer_session(t, "c");
    let e = est(&fx, b);
    assert_eq!((e.position, e.basis), (1, WaitBasis::FreeAgent), "{e:?}");
    // The agent takes c: full again with chats 2 600, 2 000 and 0 s old
    // (1 533.3 s on average), one slot every 511.1 s.
    fx.desk.pick_up_chat_session(&agent, c).unwrap();
    let e = est(&fx, b);
    assert_eq!((e.position, e.basis), (1, WaitBasis::Turnover), "{e:?}");
    assert!(close(e.seconds, 4_600.0 / 9.0), "{e:?}");
}

/// No history: an agent with room means "next", but there is no time to
/// give; once the agent has gone away there is nothing to go on at all.
pub fn wait_estimate_without_history_says_so<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("new");
    let (id, _) = fx.customer_session(t, "first");
    let e = est(&fx, id);
    assert_eq!((e.position, e.basis), (1, WaitBasis::FreeAgent));
    assert_eq!((e.seconds, e.low_seconds, e.high_seconds), (0.0, 0.0, 0.0));
    fx.present(10, false);
    let e = est(&fx, id);
    assert_eq!((e.position, e.basis), (1, WaitBasis::Unknown));
    assert_eq!((e.seconds, e.low_seconds, e.high_seconds), (0.0, 0.0, 0.0));
}

/// The count of recent pick-ups is reused for 10 seconds of the desk's
/// clock: three pick-ups (each chat closed at once) give one slot every
/// 600 s; a fourth pick-up shows only 10 s later (one every 450 s).
pub fn recent_service_is_reused_for_ten_seconds<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("desk");
    let agent = Caller::agent(UserId(10));
    let served = |n: usize| {
        for _ in 0..n {
            let (id, _) = fx.customer_session(t, "quick");
            fx.desk.pick_up_chat_session(&agent, id).unwrap();
            fx.desk.close_chat_session(&agent, id).unwrap();
        }
    };
    served(3);
    // Three free slots: the fourth waiting customer waits for one more.
    let waiting: Vec<SessionId> = (0..4).map(|_| fx.customer_session(t, "w").0).collect();
    let e = est(&fx, waiting[3]);
    assert_eq!(
        (e.position, e.basis),
        (4, WaitBasis::RecentService),
        "{e:?}"
    );
    assert!(close(e.seconds, 600.0), "{e:?}");
    let (late, _) = fx.customer_session(t, "late");
    fx.desk.pick_up_chat_session(&agent, late).unwrap();
    fx.desk.close_chat_session(&agent, late).unwrap();
    assert!(close(est(&fx, waiting[3]).seconds, 600.0), "reused");
    fx.clock.advance_secs(10);
    assert!(close(est(&fx, waiting[3]).seconds, 450.0), "measured again");
}
