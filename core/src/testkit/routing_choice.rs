//! Routing, the choices: queue-sequence order over the human
//! queues of all Auto topics, LeastBusy and LongestIdle with their
//! tie-breaks, and an assignment raising load and last-assignment time
//! before the next choice. Times: T = the start of each test.

use super::Fixture;
use super::lifecycle::agent;
use super::routing::{auto, max_chats, new_session, pick, responder, set_routing, taken, waits};
use super::routing_pass::assignments;
use crate::storage::Storage;
use crate::{RoutingMode, RoutingStrategy, SessionId, UserId};

/// Queue-sequence order over the human queues of all Auto topics; a session
/// with no eligible agent is passed over, not waited on; capacity per topic.
pub fn pass_order_over_auto_topics<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let [a, b, c, m] = ["a", "b", "c", "m"].map(|n| fx.topic(n));
    for t in [a, b, m] {
        responder(&fx, t, 10);
    }
    for t in [a, b, c, m] {
        responder(&fx, t, 12);
    }
    auto(&fx, a, 1);
    auto(&fx, b, 3);
    auto(&fx, c, 3);
    // 12 is Present (so sessions enter the queues) but at capacity; 10 holds
    // one manual chat (rank 1) and is not Present.
    fx.present(12, true);
    max_chats(&fx, 12, Some(1));
    let m1 = new_session(&fx, m);
    let m2 = new_session(&fx, m);
    pick(&fx, 10, m1);
    pick(&fx, 12, m2);
    let a1 = new_session(&fx, a);
    let b1 = new_session(&fx, b);
    let mq = new_session(&fx, m);
    let c1 = new_session(&fx, c);
    let a2 = new_session(&fx, a);
    let b2 = new_session(&fx, b);
    let b3 = new_session(&fx, b);
    waits(&fx, b3, 3);
    fx.desk.set_change_feed(&fx.sys(), true).unwrap();
    let mut cursor = 0;
    // 10 comes: load 1, capacity 1 in a, 3 in b. a1 passed over, b1 taken
    // (load 2), mq is Manual, c1 not theirs, a2 passed over, b2 taken
    // (load 3), b3 waits.
    fx.present(10, true);
    assignments(&fx, &mut cursor, &[(b1, 10), (b2, 10)]);
    taken(&fx, b1, 10, 2);
    taken(&fx, b2, 10, 3);
    waits(&fx, a1, 1);
    waits(&fx, a2, 2);
    waits(&fx, b3, 1);
    // MaxChats 5 everywhere: a1 (load 4), a2 (load 5); b3 waits.
    max_chats(&fx, 10, Some(5));
    assignments(&fx, &mut cursor, &[(a1, 10), (a2, 10)]);
    taken(&fx, a1, 10, 4);
    taken(&fx, a2, 10, 5);
    waits(&fx, b3, 1);
    waits(&fx, c1, 1);
    waits(&fx, mq, 1);
}

/// LeastBusy: the lowest load, then the earliest last assignment (never
/// first), then the lowest user id; a manual pick-up and an accepted transfer
/// count as assignments.
pub fn least_busy_tie_breaks<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let m = fx.topic("m");
    let a = fx.topic("a");
    for u in [13, 11, 12, 10] {
        responder(&fx, m, u);
        responder(&fx, a, u);
        fx.present(u, true);
    }
    auto(&fx, a, 10);
    let step = |fx: &Fixture<S>| fx.clock.advance_secs(10);
    // T: 12 picks up m1 by hand. T+10: 11 picks up m2.
    let m1 = new_session(&fx, m);
    pick(&fx, 12, m1);
    step(&fx);
    let m2 = new_session(&fx, m);
    pick(&fx, 11, m2);
    // T+20: loads 10:0 11:1 12:1 13:0; 10 and 13 never → 10.
    step(&fx);
    let a1 = new_session(&fx, a);
    taken(&fx, a1, 10, 1);
    // T+30: 13 alone at load 0.
    step(&fx);
    let a2 = new_session(&fx, a);
    taken(&fx, a2, 13, 1);
    // T+40: all at load 1; earliest: 12 (T).
    step(&fx);
    let a3 = new_session(&fx, a);
    taken(&fx, a3, 12, 2);
    // T+50: 10 (T+20), 11 (T+10), 13 (T+30) at load 1 → 11.
    step(&fx);
    let a4 = new_session(&fx, a);
    taken(&fx, a4, 11, 2);
    // T+60: 10 (T+20), 13 (T+30) at load 1 → 10.
    step(&fx);
    let a5 = new_session(&fx, a);
    taken(&fx, a5, 10, 2);
    // T+70: 13 accepts a transfer of a5 (10's load 1, 13's 2; 13's last T+70).
    step(&fx);
    fx.desk
        .transfer_chat_session(&agent(10), a5, UserId(13))
        .unwrap();
    fx.desk
        .accept_chat_session_transfer(&agent(13), a5)
        .unwrap();
    // T+80: 10 alone at load 1.
    step(&fx);
    let a6 = new_session(&fx, a);
    taken(&fx, a6, 10, 2);
    // T+90: all at load 2: 10 T+80, 11 T+50, 12 T+40, 13 T+70 → 12.
    step(&fx);
    let a7 = new_session(&fx, a);
    taken(&fx, a7, 12, 3);
    // A pending transfer counts in the load but is no assignment: 11 (load
    // 2 + 1) is passed over; 13 (T+70) and 10 (T+80) at load 2 → 13.
    step(&fx);
    fx.desk
        .transfer_chat_session(&agent(12), m1, UserId(11))
        .unwrap();
    let a8 = new_session(&fx, a);
    taken(&fx, a8, 13, 3);
}

/// LongestIdle: the earliest last assignment (never first), then the lowest
/// load, then the lowest user id.
pub fn longest_idle_tie_breaks<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let m = fx.topic("m");
    let a = fx.topic("a");
    for u in [13, 12, 11, 10] {
        responder(&fx, a, u);
    }
    for u in [10, 11, 12, 13, 30] {
        responder(&fx, m, u);
        fx.present(u, true);
    }
    set_routing(&fx, a, |r| {
        r.mode = RoutingMode::Auto;
        r.strategy = RoutingStrategy::LongestIdle;
        r.default_capacity = 10;
    });
    let step = |fx: &Fixture<S>| fx.clock.advance_secs(10);
    // T: 10 picks m1 (kept, load 1). T+10: 11 picks m2 and closes it (load 0).
    // 12: never assigned, load 2 from two pending transfers. 13: never, load 0.
    let m1 = new_session(&fx, m);
    pick(&fx, 10, m1);
    step(&fx);
    let m2 = new_session(&fx, m);
    pick(&fx, 11, m2);
    fx.desk.close_chat_session(&agent(11), m2).unwrap();
    let d1 = new_session(&fx, m);
    let d2 = new_session(&fx, m);
    for d in [d1, d2] {
        pick(&fx, 30, d);
        fx.desk
            .transfer_chat_session(&agent(30), d, UserId(12))
            .unwrap();
    }
    // T+20: 12 and 13 never; 13 has the lower load.
    step(&fx);
    let a1 = new_session(&fx, a);
    taken(&fx, a1, 13, 1);
    // T+30: 12 never, whatever its load.
    step(&fx);
    let a2 = new_session(&fx, a);
    taken(&fx, a2, 12, 1);
    // T+40: 10 (T, load 1) before 11 (T+10, load 0).
    step(&fx);
    let a3 = new_session(&fx, a);
    taken(&fx, a3, 10, 2);
    // T+50: 11 (T+10).
    step(&fx);
    let a4 = new_session(&fx, a);
    taken(&fx, a4, 11, 1);
    // T+60: 13 (T+20).
    step(&fx);
    let a5 = new_session(&fx, a);
    taken(&fx, a5, 13, 2);
    // T+65: 12 accepts d1: their last assignment is now T+65.
    fx.clock.advance_secs(5);
    fx.desk
        .accept_chat_session_transfer(&agent(12), d1)
        .unwrap();
    // T+70: 10 (T+40); T+80: 11 (T+50); T+90: 13 (T+60), not 12 (T+65).
    for (user, rank) in [(10, 3), (11, 2), (13, 3)] {
        fx.clock.advance_secs(if user == 10 { 5 } else { 10 });
        let s = new_session(&fx, a);
        taken(&fx, s, user, rank);
    }
}

/// Within one pass each assignment raises the agent's load and last
/// assignment time before the next choice; equal load and time go to the
/// lowest id. Assignments write their events in assignment order.
pub fn one_pass_spreads_waiting_sessions<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let m = fx.topic("m");
    let l = fx.topic("least busy");
    let i = fx.topic("longest idle");
    for u in [11, 10] {
        responder(&fx, l, u);
    }
    for u in [21, 20] {
        responder(&fx, i, u);
    }
    for u in [10, 11, 20, 21, 30] {
        responder(&fx, m, u);
        fx.present(u, true);
    }
    // 11 and 21 carry one pending transfer each (load 1, never assigned).
    for to in [11, 21] {
        let d = new_session(&fx, m);
        pick(&fx, 30, d);
        fx.desk
            .transfer_chat_session(&agent(30), d, UserId(to))
            .unwrap();
    }
    // Both topics are Manual while their sessions arrive.
    let ls: Vec<SessionId> = (0..5).map(|_| new_session(&fx, l)).collect();
    let is: Vec<SessionId> = (0..5).map(|_| new_session(&fx, i)).collect();
    waits(&fx, ls[4], 5);
    waits(&fx, is[4], 5);
    fx.desk.set_change_feed(&fx.sys(), true).unwrap();
    let mut cursor = 0;
    // LeastBusy, one pass at T+10: l0 → 10 (load 0 < 1); l1 → 11 (both load
    // 1, 11 never); l2 → 10 (1 < 2); l3 → 10 (both 2, both T+10: lowest
    // id); l4 → 11 (2 < 3).
    fx.clock.advance_secs(10);
    set_routing(&fx, l, |r| {
        r.mode = RoutingMode::Auto;
        r.default_capacity = 5;
    });
    let expected = [(10, 1), (11, 1), (10, 2), (10, 3), (11, 2)];
    for (s, (u, rank)) in ls.iter().zip(expected) {
        taken(&fx, *s, u, rank);
    }
    let order: Vec<_> = ls.iter().zip(expected).map(|(s, (u, _))| (*s, u)).collect();
    assignments(&fx, &mut cursor, &order);
    // LongestIdle, one pass at T+20: i0 → 20 (both never, load 0 < 1);
    // i1 → 21 (never); i2 → 20 (both T+20, load 1 < 2); i3 → 20 (both T+20,
    // load 2: lowest id); i4 → 21 (load 2 < 3).
    fx.clock.advance_secs(10);
    set_routing(&fx, i, |r| {
        r.mode = RoutingMode::Auto;
        r.strategy = RoutingStrategy::LongestIdle;
        r.default_capacity = 5;
    });
    let expected = [(20, 1), (21, 1), (20, 2), (20, 3), (21, 2)];
    for (s, (u, rank)) in is.iter().zip(expected) {
        taken(&fx, *s, u, rank);
    }
    let order: Vec<_> = is.iter().zip(expected).map(|(s, (u, _))| (*s, u)).collect();
    assignments(&fx, &mut cursor, &order);
}
