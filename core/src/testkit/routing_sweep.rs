//! Routing, the sweep: answer timeouts (requeue in place, the
//! exclusion set), transfer timeouts, the order of a batch and of what it
//! returns, batches of at most 256. Times: T = the session's assignment.

use super::Fixture;
use super::feed::drain;
use super::lifecycle::{Kind, agent, assert_special, cust, kind, last_msg, msgs, rec, text};
use super::routing::{
    max_chats, new_session, pick, responder, set_routing, st, taken, verdicts, waits,
};
use crate::storage::Storage;
use crate::wire::ChatMessageSpecialType;
use crate::{
    Caller, ChatEventKind, ChatSessionStatus, EventActor, RoutingChange, RoutingMode,
    RoutingVerdict, SessionId, TopicId, UserId,
};
use ChatSessionStatus::*;
use RoutingChange::{AnswerTimeout, Assigned, TransferTimeout};

fn sweep<S: Storage>(fx: &Fixture<S>) -> Vec<RoutingChange> {
    fx.desk.routing_sweep(&fx.sys()).unwrap()
}

fn at(session: SessionId, user: i32) -> RoutingChange {
    AnswerTimeout {
        session,
        user: UserId(user),
    }
}

fn tt(session: SessionId, to: i32) -> RoutingChange {
    TransferTimeout {
        session,
        to: UserId(to),
    }
}

fn asg(session: SessionId, user: i32) -> RoutingChange {
    Assigned {
        session,
        user: UserId(user),
    }
}

/// An Auto topic with this capacity and these timeouts.
fn routed_topic<S: Storage>(
    fx: &Fixture<S>,
    name: &str,
    capacity: i32,
    answer: i32,
    transfer: i32,
) -> TopicId {
    let t = fx.topic(name);
    set_routing(fx, t, |r| {
        r.mode = RoutingMode::Auto;
        r.default_capacity = capacity;
        r.answer_timeout_seconds = answer;
        r.transfer_timeout_seconds = transfer;
    });
    t
}

pub fn answer_timeout_requeues_in_place<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let t = fx.topic_with("t", |x| {
        x.welcome_message = "Hi".into();
        x.warn_new_chat_minutes = 2;
        x.warn_chat_message_minutes = 1;
    });
    responder(&fx, t, 10);
    responder(&fx, t, 11);
    fx.present(10, true);
    set_routing(&fx, t, |r| {
        r.mode = RoutingMode::Auto;
        r.default_capacity = 1;
        r.answer_timeout_seconds = 120;
    });
    // T: s1 → 10. T+10: s2 waits. T+20: s3 waits.
    let (s1, k1) = fx.customer_session(t, "s1");
    taken(&fx, s1, 10, 1);
    let before = rec(&fx, s1);
    fx.clock.advance_secs(10);
    let s2 = new_session(&fx, t);
    waits(&fx, s2, 1);
    fx.clock.advance_secs(10);
    let s3 = new_session(&fx, t);
    waits(&fx, s3, 2);
    // T+30: the customer writes (a customer message is no answer).
    fx.clock.advance_secs(10);
    fx.desk
        .add_chat_message(&cust(&k1), s1, &text("hello"))
        .unwrap();
    // T+90: an alert on the unanswered customer.
    fx.clock.advance_secs(60);
    let alerts = fx.desk.alert_sweep(&sys).unwrap();
    assert_eq!(
        alerts
            .iter()
            .map(|a| (a.session, a.new))
            .collect::<Vec<_>>(),
        [(s1, 1)]
    );
    // T+119: not yet; T+120: now − assignment ≥ 120.
    fx.clock.advance_secs(29);
    assert_eq!(sweep(&fx), []);
    fx.clock.advance_secs(1);
    assert_eq!(sweep(&fx), [at(s1, 10), asg(s2, 10)]);
    // Requeued in place: InQueue, nothing of 10 left, AlertLevel 0, its old
    // sequence, entry time and InitialQueuePos; no message.
    let e = fx.desk.get_chat_session_entity(&sys, s1).unwrap();
    assert_eq!((e.status, e.user_id(), e.rank), (InQueue, None, 0));
    assert!(e.when_started.is_unset() && e.transfer_to.is_none());
    assert_eq!((e.alert_level, e.initial_queue_pos), (0, 1));
    let after = rec(&fx, s1);
    assert_eq!(
        (after.queue_seq, after.queue_entered),
        (before.queue_seq, before.queue_entered)
    );
    let texts: Vec<_> = msgs(&fx, s1).into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["Hi", "hello"]);
    waits(&fx, s1, 1); // ahead of s3, as it always was
    waits(&fx, s3, 2);
    taken(&fx, s2, 10, 1);
    assert_eq!(
        verdicts(&fx, s1),
        vec![
            (10, RoutingVerdict::Excluded),
            (11, RoutingVerdict::NotPresent)
        ]
    );
    assert_eq!(
        verdicts(&fx, s3),
        vec![
            (
                10,
                RoutingVerdict::AtCapacity {
                    load: 1,
                    capacity: 1
                }
            ),
            (11, RoutingVerdict::NotPresent)
        ]
    );
    // The kept entry time: s1 has waited 120 s ≥ WarnNewChatMinutes 2 (s3 100 s).
    let alerts = fx.desk.alert_sweep(&sys).unwrap();
    assert_eq!(
        alerts
            .iter()
            .map(|a| (a.session, a.old, a.new))
            .collect::<Vec<_>>(),
        [(s1, 0, 1)]
    );
    // T+130: 11 comes and gets s1 (10 is excluded from it); s3 waits.
    fx.clock.advance_secs(10);
    fx.present(11, true);
    taken(&fx, s1, 11, 1);
    waits(&fx, s3, 1);
    assert_eq!(rec(&fx, s1).alert_level, 0);
    // SecondsPrAccept: s1 at T waited 0 → 0; s2 at T+120 waited 110 →
    // 0 + round(11) = 11; s1 at T+130 waited 130 from its first entry →
    // 11 + round(11.9) = 23.
    let te = fx.desk.get_chat_topic_entity(&sys, t).unwrap();
    assert_eq!(te.seconds_pr_accept, 23);
    // 11 answers s1; 10 never answers s2 (routed at T+120).
    fx.desk
        .add_chat_message(&agent(11), s1, &text("here"))
        .unwrap();
    fx.clock.advance_secs(109);
    assert_eq!(sweep(&fx), []);
    fx.clock.advance_secs(1);
    // s2 goes back ahead of s3 (its sequence is older); 10 is excluded from
    // s2, 11 is at capacity: s3 goes to 10.
    assert_eq!(sweep(&fx), [at(s2, 10), asg(s3, 10)]);
    waits(&fx, s2, 1);
    taken(&fx, s3, 10, 1);
    taken(&fx, s1, 11, 1);
    fx.clock.advance_secs(3600);
    assert_eq!(sweep(&fx), [at(s3, 10)], "s1 was answered");
}

pub fn exclusion_survives_reset_and_ends_with_the_session<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = routed_topic(&fx, "t", 1, 60, 0);
    responder(&fx, t, 10);
    responder(&fx, t, 11);
    fx.present(10, true);
    fx.present(11, true);
    // T: s → 10 (load 0, never, lowest id).
    let (s, key) = fx.customer_session(t, "s");
    taken(&fx, s, 10, 1);
    // T+60: back to the queue, and to 11 in the same batch.
    fx.clock.advance_secs(60);
    assert_eq!(sweep(&fx), [at(s, 10), asg(s, 11)]);
    taken(&fx, s, 11, 1);
    // T+120: everyone is excluded: it waits.
    fx.clock.advance_secs(60);
    assert_eq!(sweep(&fx), [at(s, 11)]);
    waits(&fx, s, 1);
    let both = vec![
        (10, RoutingVerdict::Excluded),
        (11, RoutingVerdict::Excluded),
    ];
    assert_eq!(verdicts(&fx, s), both);
    // Not Present comes before Excluded; Excluded before AtCapacity.
    fx.present(11, false);
    let other = new_session(&fx, t);
    taken(&fx, other, 10, 1);
    assert_eq!(
        rec(&fx, other).initial_queue_pos,
        2,
        "its position when it joined: behind s"
    );
    assert_eq!(
        verdicts(&fx, s),
        vec![
            (10, RoutingVerdict::Excluded),
            (11, RoutingVerdict::NotPresent)
        ]
    );
    fx.desk.close_chat_session(&agent(10), other).unwrap();
    fx.present(11, true);
    waits(&fx, s, 1);
    // A manual pick-up ignores the exclusion set, and is not routed: no
    // answer timeout afterwards.
    pick(&fx, 11, s);
    fx.clock.advance_secs(600);
    assert_eq!(sweep(&fx), []);
    // A reset by the User: back in the queue, still excluded for both.
    let e = fx.desk.reset_chat_session(&agent(11), s).unwrap();
    assert_eq!(e.status, InQueue);
    assert_eq!(verdicts(&fx, s), both);
    max_chats(&fx, 10, Some(5));
    waits(&fx, s, 1);
    // A new agent takes it.
    fx.present(12, true);
    responder(&fx, t, 12);
    taken(&fx, s, 12, 1);
    // Ending empties the set: reopened, it goes to 10 again (load 0, the
    // earliest last assignment: T).
    fx.desk.close_chat_session(&agent(12), s).unwrap();
    assert_eq!(
        verdicts(&fx, s)[..2],
        [
            (
                10,
                RoutingVerdict::Eligible {
                    load: 0,
                    capacity: 5
                }
            ),
            (
                11,
                RoutingVerdict::Eligible {
                    load: 0,
                    capacity: 1
                }
            )
        ]
    );
    let e = fx.desk.reopen_chat_session(&cust(&key), s).unwrap();
    assert_eq!((e.status, e.user_id()), (UserLast, Some(UserId(10))));
}

pub fn answer_timeout_only_for_routed_sessions_of_auto_topics<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = routed_topic(&fx, "t", 5, 100, 0);
    for u in [10, 11, 12] {
        responder(&fx, t, u);
    }
    fx.present(10, true);
    // T: a, b, c, d → 10 (ranks 1–4).
    let a = new_session(&fx, t);
    let b = new_session(&fx, t);
    let c = new_session(&fx, t);
    let (d, kd) = fx.customer_session(t, "d");
    for (s, rank) in [(a, 1), (b, 2), (c, 3), (d, 4)] {
        taken(&fx, s, 10, rank);
    }
    // a: a pending transfer (no message). b: 10 answers. c: accepted by 12
    // (no longer routed; 12 never writes). d: only the customer writes.
    fx.clock.advance_secs(10);
    fx.desk
        .transfer_chat_session(&agent(10), a, UserId(11))
        .unwrap();
    fx.desk
        .add_chat_message(&agent(10), b, &text("hi"))
        .unwrap();
    fx.desk
        .transfer_chat_session(&agent(10), c, UserId(12))
        .unwrap();
    fx.desk.accept_chat_session_transfer(&agent(12), c).unwrap();
    fx.desk
        .add_chat_message(&cust(&kd), d, &text("hello?"))
        .unwrap();
    let a_msgs = msgs(&fx, a).len();
    // T+50: the topic turns Manual. T+150: no answer timeouts while Manual.
    fx.clock.advance_secs(40);
    set_routing(&fx, t, |r| r.mode = RoutingMode::Manual);
    fx.clock.advance_secs(100);
    assert_eq!(sweep(&fx), []);
    taken(&fx, a, 10, 1);
    // Auto again: the time still counts from T. a's transfer would be due
    // too (TransferTimeoutSeconds 60, asked at T+10) but the answer timeout
    // comes first and drops it: no TransferTimeout.
    set_routing(&fx, t, |r| {
        r.mode = RoutingMode::Auto;
        r.transfer_timeout_seconds = 60;
    });
    assert_eq!(sweep(&fx), [at(a, 10), at(d, 10)]);
    let e = fx.desk.get_chat_session_entity(&fx.sys(), a).unwrap();
    assert_eq!((e.status, e.user_id(), e.rank), (InQueue, None, 0));
    assert!(e.transfer_to.is_none(), "TransferTo cleared");
    assert_eq!(msgs(&fx, a).len(), a_msgs, "no message");
    waits(&fx, a, 1);
    waits(&fx, d, 2);
    assert_eq!(st(&fx, b), (UserLast, Some(10), 2));
    assert_eq!(st(&fx, c).1, Some(12));
    // AnswerTimeoutSeconds 0: off.
    set_routing(&fx, t, |r| r.answer_timeout_seconds = 0);
    fx.present(11, true);
    taken(&fx, a, 11, 1);
    taken(&fx, d, 11, 2);
    fx.clock.advance_secs(86_400);
    assert_eq!(sweep(&fx), []);
}

pub fn transfer_timeout_rejects_as_the_target<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let m = fx.topic("manual");
    set_routing(&fx, m, |r| r.transfer_timeout_seconds = 30);
    for u in [10, 11, 12] {
        responder(&fx, m, u);
    }
    fx.present(10, true);
    let s = new_session(&fx, m);
    pick(&fx, 10, s);
    fx.desk.set_change_feed(&sys, true).unwrap();
    let mut c = 0;
    let transfer = |to: i32| {
        fx.desk
            .transfer_chat_session(&agent(10), s, UserId(to))
            .unwrap();
    };
    let pending = |fx: &Fixture<S>| rec(fx, s).transfer_to.map(|u| u.0);
    // A Manual topic too: rejected 30 s after the request.
    transfer(11);
    fx.clock.advance_secs(29);
    assert_eq!(sweep(&fx), []);
    fx.clock.advance_secs(1);
    drain(&fx, &mut c);
    assert_eq!(sweep(&fx), [tt(s, 11)]);
    assert_eq!(pending(&fx), None);
    assert_special(&last_msg(&fx, s), ChatMessageSpecialType::TransferRejected);
    let events = drain(&fx, &mut c);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (e.kind, e.actor, e.session, e.transfer_to),
        (
            ChatEventKind::TransferRejected,
            EventActor::System,
            s,
            Some(UserId(11))
        )
    );
    assert_eq!(st(&fx, s), (UserLast, Some(10), 1));
    // A new request to the same user restarts the time.
    transfer(11);
    fx.clock.advance_secs(20);
    transfer(11);
    fx.clock.advance_secs(29);
    assert_eq!(sweep(&fx), []);
    fx.clock.advance_secs(1);
    assert_eq!(sweep(&fx), [tt(s, 11)]);
    // So does one to another user.
    transfer(11);
    fx.clock.advance_secs(20);
    transfer(12);
    fx.clock.advance_secs(29);
    assert_eq!(sweep(&fx), []);
    fx.clock.advance_secs(1);
    assert_eq!(sweep(&fx), [tt(s, 12)]);
    // Accepted in time: nothing pending.
    transfer(11);
    fx.desk.accept_chat_session_transfer(&agent(11), s).unwrap();
    fx.clock.advance_secs(3600);
    assert_eq!(sweep(&fx), []);
    // 0 = off.
    set_routing(&fx, m, |r| r.transfer_timeout_seconds = 0);
    fx.desk
        .transfer_chat_session(&agent(11), s, UserId(12))
        .unwrap();
    fx.clock.advance_secs(86_400 * 2);
    assert_eq!(sweep(&fx), []);
    assert_eq!(pending(&fx), Some(12));
    // On an Auto topic the rejection frees the target, and the batch's pass
    // gives them a waiting session.
    let a = routed_topic(&fx, "a", 1, 0, 30);
    responder(&fx, a, 20);
    responder(&fx, a, 21);
    fx.present(20, true);
    fx.present(21, true);
    let x = new_session(&fx, a);
    taken(&fx, x, 20, 1);
    fx.desk
        .transfer_chat_session(&agent(20), x, UserId(21))
        .unwrap();
    let w = new_session(&fx, a);
    waits(&fx, w, 1);
    fx.clock.advance_secs(30);
    assert_eq!(sweep(&fx), [tt(x, 21), asg(w, 21)]);
    taken(&fx, w, 21, 1);
    taken(&fx, x, 20, 1);
}

/// Per batch: every due answer timeout (sessions by id), then every due
/// transfer timeout, then one pass; returned and written in that order.
pub fn routing_sweep_order_and_rights<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let t = routed_topic(&fx, "t", 2, 60, 60);
    for u in [10, 11, 12] {
        responder(&fx, t, u);
    }
    fx.present(10, true);
    fx.present(11, true);
    // T: s1 → 10, s2 → 11, s3 → 10 (load 1 each, both T: lowest id), s4 → 11.
    let ids: Vec<SessionId> = (0..4).map(|_| new_session(&fx, t)).collect();
    let [s1, s2, s3, s4] = [ids[0], ids[1], ids[2], ids[3]];
    taken(&fx, s1, 10, 1);
    taken(&fx, s2, 11, 1);
    taken(&fx, s3, 10, 2);
    taken(&fx, s4, 11, 2);
    // T+5: w waits. T+10: 10 answers s1 and s3 and transfers both to 12.
    fx.clock.advance_secs(5);
    let (w, wkey) = fx.customer_session(t, "w");
    waits(&fx, w, 1);
    fx.clock.advance_secs(5);
    for s in [s1, s3] {
        fx.desk
            .add_chat_message(&agent(10), s, &text("hi"))
            .unwrap();
        fx.desk
            .transfer_chat_session(&agent(10), s, UserId(12))
            .unwrap();
    }
    // Only System sweeps.
    for c in [agent(10), agent(12), cust(&wkey), Caller::anonymous()] {
        assert_eq!(kind(&fx.desk.routing_sweep(&c)), Kind::Forbidden, "{c:?}");
    }
    fx.desk.set_change_feed(&sys, true).unwrap();
    let mut c = 0;
    // T+70: s2 and s4 time out (11 excluded from both), then the transfers
    // of s1 and s3, then the pass: s2 and s4 have nobody (10 is at capacity,
    // 12 not Present); w goes to 11.
    fx.clock.advance_secs(60);
    assert_eq!(
        sweep(&fx),
        [at(s2, 11), at(s4, 11), tt(s1, 12), tt(s3, 12), asg(w, 11)]
    );
    let events = drain(&fx, &mut c);
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.session, e.kind, e.actor, e.status))
        .collect();
    let changed = ChatEventKind::SessionChanged;
    let rejected = ChatEventKind::TransferRejected;
    let sys_actor = EventActor::System;
    assert_eq!(
        seen,
        [
            (s2, changed, sys_actor, InQueue),
            (s4, changed, sys_actor, InQueue),
            (s1, rejected, sys_actor, UserLast),
            (s3, rejected, sys_actor, UserLast),
            (w, changed, sys_actor, UserLast),
        ]
    );
    waits(&fx, s2, 1);
    waits(&fx, s4, 2);
    taken(&fx, w, 11, 1);
    assert_eq!(sweep(&fx), []);
}

pub fn routing_sweep_covers_more_than_one_batch<S: Storage>(store: S) {
    const N: usize = 300;
    let batch = crate::SWEEP_BATCH;
    assert_eq!(batch, 256);
    let fx = Fixture::new(store);
    let t = routed_topic(&fx, "t", 3, 60, 0);
    responder(&fx, t, 10);
    responder(&fx, t, 11);
    max_chats(&fx, 10, Some(1000));
    max_chats(&fx, 11, Some(1000));
    fx.present(10, true);
    let ids: Vec<SessionId> = (0..N).map(|_| new_session(&fx, t)).collect();
    assert_eq!(st(&fx, ids[N - 1]), (UserLast, Some(10), 300));
    fx.present(11, true);
    fx.clock.advance_secs(60);
    let changes = sweep(&fx);
    let mut expected = Vec::new();
    for chunk in ids.chunks(batch) {
        expected.extend(chunk.iter().map(|s| at(*s, 10)));
        expected.extend(chunk.iter().map(|s| asg(*s, 11)));
    }
    assert_eq!(changes.len(), 2 * N);
    assert!(
        changes == expected,
        "batches of 256: timeouts, then the pass"
    );
    assert_eq!(st(&fx, ids[N - 1]), (UserLast, Some(11), 300));
    assert_eq!(sweep(&fx), []);
}
