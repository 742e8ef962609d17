//! Routing: load, capacity and eligibility as the
//! verdicts of `explain_routing` show them; the manual paths that ignore
//! them; who may ask for an explanation and what it holds.

use super::Fixture;
use super::lifecycle::{Kind, agent, cust, kind, text};
use super::routing::{
    auto, max_chats, new_session, pick, responder, set_routing, st, taken, verdicts, waits,
};
use crate::storage::Storage;
use crate::{Caller, ChatSessionStatus, RoutingMode, RoutingVerdict, SessionId, UserId};
use ChatSessionStatus::*;
use RoutingVerdict::*;

/// the rules: load, capacity and the verdicts built from them, on Manual topics
/// (verdicts are computed the same whatever the mode).
pub fn load_capacity_and_eligibility<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let t = fx.topic("t");
    let u = fx.topic("u");
    set_routing(&fx, t, |r| r.default_capacity = 2);
    set_routing(&fx, u, |r| r.default_capacity = 4);
    let bot = fx.topic_with("bot", |x| x.bot_enabled = true);
    // Membership order is not id order: verdicts come by user id.
    for user in [13, 11, 12, 10] {
        responder(&fx, t, user);
        responder(&fx, u, user);
        responder(&fx, bot, user);
    }
    fx.member(t, 14, (true, false, false, false)); // no CanRespond: no verdict
    fx.member(t, 15, (false, false, true, true));
    for user in [10, 11, 12] {
        fx.present(user, true);
    }
    max_chats(&fx, 12, Some(1));
    // 10: x1 (t, UserLast), x2 (u, CustomerLast) and a pending transfer of
    // x3 to them → load 3. 11: the User of x3 → load 1. 12: one ended chat
    // and a bot-run chat (no User) → load 0. 13: not Present, one chat.
    let x1 = new_session(&fx, t);
    let (x2, k2) = fx.customer_session(u, "x2");
    let x3 = new_session(&fx, t);
    let x4 = new_session(&fx, u);
    let y = new_session(&fx, t);
    let b = new_session(&fx, bot);
    pick(&fx, 10, x1);
    pick(&fx, 10, x2);
    fx.desk
        .add_chat_message(&cust(&k2), x2, &text("hello"))
        .unwrap();
    assert_eq!(st(&fx, x2).0, CustomerLast);
    pick(&fx, 11, x3);
    fx.desk
        .transfer_chat_session(&agent(11), x3, UserId(10))
        .unwrap();
    pick(&fx, 13, x4);
    pick(&fx, 12, y);
    fx.desk.close_chat_session(&agent(12), y).unwrap();
    fx.desk
        .add_chat_message(
            &sys,
            b,
            &crate::ChatMessage {
                special_type: crate::ChatMessageSpecialType::BotMessage,
                ..text("bot here")
            },
        )
        .unwrap();
    assert_eq!(st(&fx, b), (UserLast, None, 0));
    // Two waiting sessions, one per topic.
    let q = new_session(&fx, t);
    let r = new_session(&fx, u);
    let in_t = vec![
        (
            10,
            AtCapacity {
                load: 3,
                capacity: 2,
            },
        ),
        (
            11,
            Eligible {
                load: 1,
                capacity: 2,
            },
        ),
        (
            12,
            Eligible {
                load: 0,
                capacity: 1,
            },
        ),
        (13, NotPresent),
    ];
    let in_u = vec![
        (
            10,
            Eligible {
                load: 3,
                capacity: 4,
            },
        ),
        (
            11,
            Eligible {
                load: 1,
                capacity: 4,
            },
        ),
        (
            12,
            Eligible {
                load: 0,
                capacity: 1,
            },
        ),
        (13, NotPresent),
    ];
    assert_eq!(verdicts(&fx, q), in_t);
    assert_eq!(verdicts(&fx, r), in_u, "capacity is per topic");
    // The same whatever the session's status: active, pending transfer, ended.
    for s in [x1, x3, y] {
        assert_eq!(verdicts(&fx, s), in_t, "{s}");
    }
    assert_eq!(verdicts(&fx, x2), in_u);
    // MaxChats wins over every topic's DefaultCapacity; null gives it back.
    max_chats(&fx, 10, Some(3));
    let full = AtCapacity {
        load: 3,
        capacity: 3,
    };
    assert_eq!(verdicts(&fx, q)[0], (10, full));
    assert_eq!(verdicts(&fx, r)[0], (10, full));
    max_chats(&fx, 10, None);
    assert_eq!(verdicts(&fx, q), in_t);
    // The pending transfer ends (rejected): 10's load falls to 2.
    fx.desk
        .reject_chat_session_transfer(&agent(10), x3)
        .unwrap();
    assert_eq!(
        verdicts(&fx, q)[0],
        (
            10,
            AtCapacity {
                load: 2,
                capacity: 2
            }
        )
    );
    // Not Present comes first, whatever the load.
    fx.present(10, false);
    assert_eq!(verdicts(&fx, r)[0], (10, NotPresent));
    fx.present(10, true);
    // Losing CanRespond removes the verdict; the chats stay theirs.
    let listen_respond = crate::ChatTopicAgent {
        can_listen: true,
        can_respond: true,
        ..crate::ChatTopicAgent::new(t, UserId(14))
    };
    fx.desk
        .update_chat_topic_user_agent(&sys, &listen_respond)
        .unwrap();
    let with_14 = verdicts(&fx, q);
    assert_eq!(
        with_14.iter().map(|v| v.0).collect::<Vec<_>>(),
        [10, 11, 12, 13, 14]
    );
    assert_eq!(
        with_14[4],
        (14, NotPresent),
        "never saved a presence: not Present"
    );
    let listen = crate::ChatTopicAgent {
        can_listen: true,
        ..crate::ChatTopicAgent::new(t, UserId(11))
    };
    fx.desk.update_chat_topic_user_agent(&sys, &listen).unwrap();
    assert_eq!(
        verdicts(&fx, q).iter().map(|v| v.0).collect::<Vec<_>>(),
        [10, 12, 13, 14]
    );
    assert_eq!(st(&fx, x3), (UserLast, Some(11), 1));
    // Turning t Auto routes q at once: to 12, the only eligible agent.
    auto(&fx, t, 2);
    assert_eq!(st(&fx, q), (UserLast, Some(12), 1));
    assert_eq!(
        verdicts(&fx, q)[1],
        (
            12,
            AtCapacity {
                load: 1,
                capacity: 1
            }
        )
    );
    assert_eq!(
        fx.desk.explain_routing(&sys, q).unwrap().mode,
        RoutingMode::Auto
    );
}

/// the rules last rule: the manual paths ignore capacity, presence and the
/// exclusion set (the last one is in `routing_sweep`).
pub fn manual_paths_ignore_capacity_and_presence<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic("t");
    for user in [10, 11, 12] {
        responder(&fx, t, user);
    }
    fx.present(10, true);
    auto(&fx, t, 1);
    let a = new_session(&fx, t);
    taken(&fx, a, 10, 1);
    // 10 is at capacity, 11 and 12 are not Present: b and c wait.
    let b = new_session(&fx, t);
    let c = new_session(&fx, t);
    let d = new_session(&fx, t);
    waits(&fx, b, 1);
    waits(&fx, d, 3);
    // Not Present: a pick-up of a given session still works.
    pick(&fx, 11, b);
    taken(&fx, b, 11, 1);
    // At capacity: pick up first still works, and takes the oldest.
    let e = fx
        .desk
        .pick_up_first_chat_session(&agent(10))
        .unwrap()
        .unwrap();
    assert_eq!(e.id(), c);
    taken(&fx, c, 10, 2);
    // A transfer to an agent who is not Present, accepted beyond capacity.
    fx.desk
        .transfer_chat_session(&agent(10), c, UserId(12))
        .unwrap();
    let e = fx.desk.accept_chat_session_transfer(&agent(12), c).unwrap();
    assert_eq!((e.user_id(), e.rank), (Some(UserId(12)), 1));
    fx.desk
        .transfer_chat_session(&agent(12), c, UserId(11))
        .unwrap();
    fx.desk.accept_chat_session_transfer(&agent(11), c).unwrap();
    taken(&fx, c, 11, 2);
    // None of that routed d (nobody is eligible) and 11 holds 2 > capacity 1.
    waits(&fx, d, 1);
    assert_eq!(
        verdicts(&fx, d),
        vec![
            (
                10,
                AtCapacity {
                    load: 1,
                    capacity: 1
                }
            ),
            (11, NotPresent),
            (12, NotPresent)
        ]
    );
}

pub fn explain_routing_rights_and_fields<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let t = fx.topic("t");
    responder(&fx, t, 10);
    responder(&fx, t, 11); // not Present
    fx.member(t, 12, (true, false, false, false)); // listener
    fx.member(t, 13, (false, false, false, true)); // notified only
    fx.member(t, 14, (false, false, true, false)); // manager
    responder(&fx, t, 16);
    fx.present(10, true);
    let bot = fx.topic_with("bot", |x| x.bot_enabled = true);
    responder(&fx, bot, 10);
    let (q0, _) = fx.customer_session(t, "q0");
    let (q, kq) = fx.customer_session(t, "q");
    let a = new_session(&fx, t);
    pick(&fx, 10, a);
    let (former, _) = fx.customer_session(t, "former");
    pick(&fx, 16, former);
    fx.desk
        .delete_chat_topic_user_agent(&sys, t, UserId(16))
        .unwrap();
    let (b, _) = fx.customer_session(bot, "b");
    let closed = new_session(&fx, t);
    pick(&fx, 10, closed);
    fx.desk.close_chat_session(&agent(10), closed).unwrap();
    let deleted = new_session(&fx, t);
    fx.desk.delete_chat_session_entity(&sys, deleted).unwrap();
    let (other, _) = fx.customer_session(fx.staffed_topic("other"), "o");
    let x = |c: &Caller, id: SessionId| fx.desk.explain_routing(c, id);

    // The fields: status, position in the human queue, Mode, verdicts.
    let load1 = Eligible {
        load: 1,
        capacity: 3,
    };
    let e = x(&sys, q).unwrap();
    assert_eq!(e.session, q);
    assert_eq!(e.status, InQueue);
    assert_eq!(e.queue_position, Some(2), "behind q0");
    assert_eq!(e.mode, RoutingMode::Manual);
    assert_eq!(
        e.agents
            .iter()
            .map(|v| (v.user.0, v.verdict))
            .collect::<Vec<_>>(),
        vec![(10, load1), (11, NotPresent)],
        "CanRespond members only (16 left the topic)"
    );
    assert_eq!(x(&sys, q0).unwrap().queue_position, Some(1));
    // Who may ask: System, the topic's managers, its members with CanRespond
    // (Present or not).
    for c in [agent(14), agent(10), agent(11)] {
        assert_eq!(x(&c, q).unwrap(), e, "{c:?}");
    }
    // Who may read the session but not ask: Forbidden.
    for (c, id) in [
        (agent(12), q),      // a listener
        (agent(13), q),      // notified only, q is in the human queue
        (agent(16), former), // its User, no longer a member
        (cust(&kq), q),      // its customer
    ] {
        assert_eq!(kind(&x(&c, id)), Kind::Forbidden, "{c:?} on {id}");
    }
    // Who may not read it: NotFound, as the rules say.
    for (c, id) in [
        (agent(13), a), // notified only: not in the human queue
        (agent(99), q),
        (agent(11), other),
        (cust(&kq), a),
        (Caller::anonymous(), q),
        (agent(10), deleted),
        (agent(12), deleted),
        (sys.clone(), SessionId(9999)),
    ] {
        assert_eq!(kind(&x(&c, id)), Kind::NotFound, "{c:?} on {id}");
    }
    // No queue position unless in the human queue.
    for (id, status) in [
        (a, UserLast),
        (closed, Closed),
        (deleted, Deleted),
        (b, InQueue),
    ] {
        let e = x(&sys, id).unwrap();
        assert_eq!((e.status, e.queue_position), (status, None), "{id}");
    }
    assert_eq!(x(&agent(14), deleted).unwrap().status, Deleted);
    assert_eq!(x(&agent(10), closed).unwrap().status, Closed);
    assert_eq!(
        x(&sys, b).unwrap().agents,
        vec![crate::AgentVerdict {
            user: UserId(10),
            verdict: load1
        }]
    );
    // The Mode is the topic's.
    auto(&fx, bot, 3);
    assert_eq!(x(&sys, b).unwrap().mode, RoutingMode::Auto);
    assert_eq!(st(&fx, b), (InQueue, None, 0), "bot-owned: not routed");
    assert_eq!(x(&sys, q).unwrap().mode, RoutingMode::Manual);
}
