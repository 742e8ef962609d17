//! Routing: the settings and capacity carriers, their rights,
//! ranges and JSON; and the helpers every routing test file shares. The
//! other files: `routing_explain` (the rules load, capacity, eligibility;
//! the rules), `routing_pass` (the rules which operations route), `routing_assign`
//! (what an assignment is), `routing_choice` (order and strategies),
//! `routing_sweep`. Every expected value is worked out by hand from
//! the rules as written.

use super::lifecycle::{Kind, agent, cust, invalid_field, kind};
use super::{Fixture, dump};
use crate::storage::{Storage, StorageExt};
use crate::{
    Caller, ChatAgentCapacity, ChatSessionStatus, ChatTopicRouting, RoutingMode, RoutingStrategy,
    RoutingVerdict, SessionId, TopicId, UserId,
};
use ChatSessionStatus::*;
use RoutingVerdict::*;

/// Saves the topic's routing as System with `edit` applied to what it has now.
pub fn set_routing<S: Storage>(
    fx: &Fixture<S>,
    t: TopicId,
    edit: impl FnOnce(&mut ChatTopicRouting),
) -> ChatTopicRouting {
    let mut r = fx.desk.get_chat_topic_routing(&fx.sys(), t).unwrap();
    edit(&mut r);
    fx.desk.save_chat_topic_routing(&fx.sys(), &r).unwrap()
}

/// Turns the topic Auto with this DefaultCapacity (the rest unchanged).
pub fn auto<S: Storage>(fx: &Fixture<S>, t: TopicId, capacity: i32) {
    set_routing(fx, t, |r| {
        r.mode = RoutingMode::Auto;
        r.default_capacity = capacity;
    });
}

/// Saves a user's MaxChats as System.
pub fn max_chats<S: Storage>(fx: &Fixture<S>, user: i32, max: Option<i32>) {
    let c = ChatAgentCapacity {
        user_id: user,
        max_chats: max,
    };
    fx.desk.save_chat_agent_capacity(&fx.sys(), &c).unwrap();
}

/// Adds `user` to `t` with CanRespond only.
pub fn responder<S: Storage>(fx: &Fixture<S>, t: TopicId, user: i32) {
    fx.member(t, user, (false, true, false, false));
}

/// (Status, User, Rank) of a session, read by System.
pub fn st<S: Storage>(fx: &Fixture<S>, id: SessionId) -> (ChatSessionStatus, Option<i32>, i32) {
    let e = fx.desk.get_chat_session_entity(&fx.sys(), id).unwrap();
    (e.status, e.user_id().map(|u| u.0), e.rank)
}

/// Asserts the rules' invariant from the outside: no session waiting in
/// the human queue of an Auto topic has an Eligible verdict.
pub fn assert_invariant<S: Storage>(fx: &Fixture<S>) {
    let sessions = fx
        .desk
        .storage()
        .read(|tx| tx.sessions(SessionId(0), usize::MAX))
        .unwrap();
    for s in sessions.iter().filter(|s| s.in_human_queue()) {
        let e = fx.desk.explain_routing(&fx.sys(), s.id).unwrap();
        if e.mode == RoutingMode::Auto {
            assert!(
                !e.agents
                    .iter()
                    .any(|a| matches!(a.verdict, Eligible { .. })),
                "{} waits with an eligible agent: {e:?}",
                s.id
            );
        }
    }
}

/// Asserts the session waits in the human queue at this position (and the
/// invariant).
pub fn waits<S: Storage>(fx: &Fixture<S>, id: SessionId, position: u32) {
    assert_invariant(fx);
    assert_eq!(st(fx, id), (InQueue, None, 0), "{id} waits");
    assert_eq!(
        fx.desk.get_queue_position(&fx.sys(), id).unwrap(),
        Some(position),
        "{id}'s position"
    );
}

/// Asserts the session is UserLast with this User and Rank (and the
/// invariant).
pub fn taken<S: Storage>(fx: &Fixture<S>, id: SessionId, user: i32, rank: i32) {
    assert_invariant(fx);
    assert_eq!(st(fx, id), (UserLast, Some(user), rank), "{id} taken");
}

/// The verdicts of an explanation as (user, verdict), asked by System.
pub fn verdicts<S: Storage>(fx: &Fixture<S>, id: SessionId) -> Vec<(i32, RoutingVerdict)> {
    fx.desk
        .explain_routing(&fx.sys(), id)
        .unwrap()
        .agents
        .into_iter()
        .map(|a| (a.user.0, a.verdict))
        .collect()
}

/// A manual pick-up that must succeed.
pub fn pick<S: Storage>(fx: &Fixture<S>, user: i32, id: SessionId) {
    let e = fx
        .desk
        .pick_up_chat_session(&agent(user), id)
        .unwrap()
        .expect("the session was waiting");
    assert_eq!(e.user_id(), Some(UserId(user)));
}

/// Creates a session and returns its id.
pub fn new_session<S: Storage>(fx: &Fixture<S>, t: TopicId) -> SessionId {
    fx.customer_session(t, "c").0
}

fn routing_of<S: Storage>(fx: &Fixture<S>, caller: &Caller, t: TopicId) -> Kind {
    kind(&fx.desk.get_chat_topic_routing(caller, t))
}

pub fn routing_settings_defaults_rights_and_ranges<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic("t");
    let other = fx.topic("other");
    fx.member(t, 20, (false, false, true, false)); // manager
    fx.member(t, 21, (false, true, false, false)); // responder
    fx.member(t, 22, (true, false, false, false)); // listener
    fx.member(t, 23, (false, false, false, true)); // notified only
    fx.member(other, 24, (false, false, true, false)); // manager elsewhere
    fx.present(21, true);
    let (_, key) = fx.customer_session(t, "c");
    let sys = fx.sys();

    // A topic that never saved one reads the defaults.
    let d = fx.desk.get_chat_topic_routing(&sys, t).unwrap();
    assert_eq!(d, ChatTopicRouting::defaults_for(t));
    assert_eq!(
        (
            d.chat_topic_id,
            d.mode,
            d.strategy,
            d.default_capacity,
            d.answer_timeout_seconds,
            d.transfer_timeout_seconds
        ),
        (
            t.0,
            RoutingMode::Manual,
            RoutingStrategy::LeastBusy,
            3,
            0,
            0
        )
    );
    // Read: System and every member, whatever their rights.
    for u in [20, 21, 22, 23] {
        assert_eq!(fx.desk.get_chat_topic_routing(&agent(u), t).unwrap(), d);
    }
    // A non-member agent, a customer (even of this topic), anonymous: NotFound.
    for c in [agent(24), agent(99), cust(&key), Caller::anonymous()] {
        assert_eq!(routing_of(&fx, &c, t), Kind::NotFound, "{c:?}");
    }
    // An unknown topic: NotFound for everyone, System included.
    for c in [sys.clone(), agent(20)] {
        assert_eq!(routing_of(&fx, &c, TopicId(999)), Kind::NotFound);
        let unknown = ChatTopicRouting::defaults_for(TopicId(999));
        assert_eq!(
            kind(&fx.desk.save_chat_topic_routing(&c, &unknown)),
            Kind::NotFound
        );
        let zero = ChatTopicRouting::defaults_for(TopicId(0));
        assert_eq!(
            kind(&fx.desk.save_chat_topic_routing(&c, &zero)),
            Kind::NotFound
        );
    }

    // Save: the check order is NotFound → Forbidden → Validation, so a bad
    // value does not change the error of a caller who may not save.
    let before = dump(fx.desk.storage());
    let bad_all = ChatTopicRouting {
        mode: RoutingMode::Auto,
        default_capacity: 0,
        answer_timeout_seconds: -1,
        transfer_timeout_seconds: 86_401,
        ..d.clone()
    };
    let good = ChatTopicRouting {
        mode: RoutingMode::Auto,
        ..d.clone()
    };
    for r in [&good, &bad_all] {
        for c in [agent(24), agent(99), cust(&key), Caller::anonymous()] {
            let k = kind(&fx.desk.save_chat_topic_routing(&c, r));
            assert_eq!(k, Kind::NotFound, "{c:?}");
        }
        for u in [21, 22, 23] {
            let k = kind(&fx.desk.save_chat_topic_routing(&agent(u), r));
            assert_eq!(k, Kind::Forbidden, "member {u} without CanManage");
        }
    }
    // Out of range: Validation naming the first bad field in carrier order.
    let field = |edit: &dyn Fn(&mut ChatTopicRouting)| {
        let mut r = good.clone();
        edit(&mut r);
        invalid_field(fx.desk.save_chat_topic_routing(&agent(20), &r))
    };
    assert_eq!(field(&|r| *r = bad_all.clone()), "DefaultCapacity");
    for cap in [0, -1, 1001, i32::MIN, i32::MAX] {
        assert_eq!(field(&|r| r.default_capacity = cap), "DefaultCapacity");
    }
    for secs in [-1, 86_401, i32::MAX] {
        assert_eq!(
            field(&|r| r.answer_timeout_seconds = secs),
            "AnswerTimeoutSeconds"
        );
        assert_eq!(
            field(&|r| r.transfer_timeout_seconds = secs),
            "TransferTimeoutSeconds"
        );
    }
    assert_eq!(
        field(&|r| {
            r.answer_timeout_seconds = 86_401;
            r.transfer_timeout_seconds = -1;
        }),
        "AnswerTimeoutSeconds"
    );
    assert_eq!(
        dump(fx.desk.storage()),
        before,
        "failed saves write nothing"
    );
    assert_eq!(fx.desk.get_chat_topic_routing(&sys, t).unwrap(), d);

    // The boundaries are allowed, by a manager and by System.
    let low = ChatTopicRouting {
        chat_topic_id: t.0,
        mode: RoutingMode::Manual,
        strategy: RoutingStrategy::LongestIdle,
        default_capacity: 1,
        answer_timeout_seconds: 0,
        transfer_timeout_seconds: 0,
    };
    assert_eq!(
        fx.desk.save_chat_topic_routing(&agent(20), &low).unwrap(),
        low
    );
    assert_eq!(fx.desk.get_chat_topic_routing(&agent(22), t).unwrap(), low);
    let high = ChatTopicRouting {
        chat_topic_id: t.0,
        mode: RoutingMode::Manual,
        strategy: RoutingStrategy::LeastBusy,
        default_capacity: 1000,
        answer_timeout_seconds: 86_400,
        transfer_timeout_seconds: 86_400,
    };
    assert_eq!(fx.desk.save_chat_topic_routing(&sys, &high).unwrap(), high);
    assert_eq!(fx.desk.get_chat_topic_routing(&agent(21), t).unwrap(), high);
    // Another topic is untouched.
    assert_eq!(
        fx.desk.get_chat_topic_routing(&sys, other).unwrap(),
        ChatTopicRouting::defaults_for(other)
    );
}

pub fn routing_settings_leave_the_topic_carrier_alone<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let t = fx.staffed_topic("t");
    let json = |fx: &Fixture<S>| {
        serde_json::to_value(fx.desk.get_chat_topic_entity(&fx.sys(), t).unwrap()).unwrap()
    };
    let before = json(&fx);
    let keys: Vec<String> = before.as_object().unwrap().keys().cloned().collect();
    let saved = set_routing(&fx, t, |r| {
        r.mode = RoutingMode::Auto;
        r.strategy = RoutingStrategy::LongestIdle;
        r.default_capacity = 7;
        r.answer_timeout_seconds = 30;
        r.transfer_timeout_seconds = 40;
    });
    // ChatTopicEntity is SuperOffice's: the same JSON, no new keys.
    assert_eq!(json(&fx), before);
    for k in [
        "Mode",
        "Strategy",
        "DefaultCapacity",
        "AnswerTimeoutSeconds",
        "TransferTimeoutSeconds",
        "Routing",
    ] {
        assert!(!keys.iter().any(|x| x == k), "{k} in {keys:?}");
    }
    // Saving the topic carrier keeps its routing.
    let mut te = fx.desk.get_chat_topic_entity(&sys, t).unwrap();
    te.name = "renamed".into();
    fx.desk.save_chat_topic_entity(&sys, &te).unwrap();
    assert_eq!(fx.desk.get_chat_topic_routing(&sys, t).unwrap(), saved);

    // Deleting the topic deletes its routing.
    let gone = fx.staffed_topic("gone");
    auto(&fx, gone, 2);
    fx.desk.delete_chat_topic_entity(&sys, gone).unwrap();
    assert_eq!(routing_of(&fx, &sys, gone), Kind::NotFound);
    let r = ChatTopicRouting::defaults_for(gone);
    assert_eq!(
        kind(&fx.desk.save_chat_topic_routing(&sys, &r)),
        Kind::NotFound
    );
    // … and the deleted Auto topic leaves nothing behind that routing trips on.
    let (s, _) = fx.customer_session(t, "after");
    assert_eq!(st(&fx, s), (UserLast, Some(10), 1));
}

pub fn agent_capacity_rights_and_range<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let t = fx.staffed_topic("t");
    let other = fx.topic("other");
    fx.member(t, 20, (false, false, true, false)); // manager of t
    fx.member(t, 21, (false, true, false, false)); // the agent whose capacity we set
    fx.member(t, 22, (true, false, false, false)); // listener of t
    fx.member(other, 24, (false, false, true, false)); // manager of other only
    fx.member(other, 25, (false, true, false, false));
    let (_, key) = fx.customer_session(t, "c");
    let get = |c: &Caller, u: i32| fx.desk.get_chat_agent_capacity(c, UserId(u));
    let save = |c: &Caller, u: i32, m: Option<i32>| {
        fx.desk.save_chat_agent_capacity(
            c,
            &ChatAgentCapacity {
                user_id: u,
                max_chats: m,
            },
        )
    };
    // Never saved: MaxChats null.
    let none = ChatAgentCapacity {
        user_id: 21,
        max_chats: None,
    };
    assert_eq!(get(&sys, 21).unwrap(), none);
    assert_eq!(get(&sys, 999).unwrap().max_chats, None);
    // Save: System, or a manager of a topic where the user is a member.
    let two = ChatAgentCapacity {
        user_id: 21,
        max_chats: Some(2),
    };
    assert_eq!(save(&sys, 21, Some(2)).unwrap(), two);
    // Read: System, the user, those managers.
    for c in [sys.clone(), agent(21), agent(20)] {
        assert_eq!(get(&c, 21).unwrap(), two, "{c:?}");
    }
    // Anyone else, customers included: Forbidden.
    let others = [
        agent(22),
        agent(24),
        agent(25),
        agent(99),
        cust(&key),
        Caller::anonymous(),
    ];
    for c in &others {
        assert_eq!(kind(&get(c, 21)), Kind::Forbidden, "read {c:?}");
    }
    let before = dump(fx.desk.storage());
    // The user themself may not save it (they are not a manager) …
    for c in others.iter().chain([&agent(21)]) {
        assert_eq!(kind(&save(c, 21, Some(5))), Kind::Forbidden, "save {c:?}");
        assert_eq!(
            kind(&save(c, 21, Some(0))),
            Kind::Forbidden,
            "rights before range"
        );
    }
    // Out of range: Validation naming MaxChats.
    for c in [&sys, &agent(20)] {
        for bad in [0, -1, 1001, i32::MIN, i32::MAX] {
            assert_eq!(invalid_field(save(c, 21, Some(bad))), "MaxChats");
        }
    }
    assert_eq!(dump(fx.desk.storage()), before);
    assert_eq!(get(&sys, 21).unwrap(), two);
    // The bounds and null are allowed.
    assert_eq!(save(&agent(20), 21, Some(1)).unwrap().max_chats, Some(1));
    assert_eq!(
        save(&agent(20), 21, Some(1000)).unwrap().max_chats,
        Some(1000)
    );
    assert_eq!(get(&agent(21), 21).unwrap().max_chats, Some(1000));
    assert_eq!(save(&agent(20), 21, None).unwrap(), none);
    assert_eq!(get(&sys, 21).unwrap(), none);
    // A manager is a member of the topic they manage: their own too.
    assert_eq!(save(&agent(20), 20, Some(4)).unwrap().max_chats, Some(4));
    // A manager of a topic where the user is not a member: Forbidden.
    assert_eq!(kind(&save(&agent(24), 21, Some(4))), Kind::Forbidden);
    assert_eq!(save(&agent(24), 25, Some(4)).unwrap().max_chats, Some(4));
    // The user leaves the manager's topic: the manager loses the right.
    fx.desk
        .delete_chat_topic_user_agent(&sys, t, UserId(21))
        .unwrap();
    assert_eq!(kind(&get(&agent(20), 21)), Kind::Forbidden);
    assert_eq!(kind(&save(&agent(20), 21, Some(2))), Kind::Forbidden);
    assert_eq!(
        get(&agent(21), 21).unwrap(),
        none,
        "the user still reads it"
    );
}

pub fn routing_carriers_json<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic("t");
    let saved = set_routing(&fx, t, |r| {
        r.mode = RoutingMode::Auto;
        r.strategy = RoutingStrategy::LongestIdle;
        r.default_capacity = 7;
        r.answer_timeout_seconds = 30;
        r.transfer_timeout_seconds = 40;
    });
    // The carrier's JSON: PascalCase keys in carrier order, enums by name.
    let v = serde_json::to_value(&saved).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "ChatTopicId",
            "Mode",
            "Strategy",
            "DefaultCapacity",
            "AnswerTimeoutSeconds",
            "TransferTimeoutSeconds"
        ]
    );
    assert_eq!(
        v,
        serde_json::json!({"ChatTopicId": t.0, "Mode": "Auto", "Strategy": "LongestIdle",
            "DefaultCapacity": 7, "AnswerTimeoutSeconds": 30, "TransferTimeoutSeconds": 40})
    );
    assert_eq!(
        serde_json::from_value::<ChatTopicRouting>(v).unwrap(),
        saved
    );
    // Plain enums parse by exact name only.
    let lower = serde_json::json!({"ChatTopicId": t.0, "Mode": "auto"});
    assert!(serde_json::from_value::<ChatTopicRouting>(lower).is_err());
    let cap = ChatAgentCapacity {
        user_id: 10,
        max_chats: None,
    };
    assert_eq!(
        serde_json::to_string(&cap).unwrap(),
        r#"{"UserId":10,"MaxChats":null}"#
    );
    let cap5: ChatAgentCapacity = serde_json::from_str(r#"{"UserId":10,"MaxChats":5}"#).unwrap();
    assert_eq!(cap5.max_chats, Some(5));

    // A field missing from the input takes its default, the rules
    // defaults: Manual, LeastBusy, 3, 0, 0.
    let partial = serde_json::json!({"ChatTopicId": t.0, "Mode": "Auto"});
    let r: ChatTopicRouting = serde_json::from_value(partial).unwrap();
    assert_eq!(
        r,
        ChatTopicRouting {
            mode: RoutingMode::Auto,
            ..ChatTopicRouting::defaults_for(t)
        }
    );
    assert_eq!(fx.desk.save_chat_topic_routing(&fx.sys(), &r).unwrap(), r);
    let empty: ChatTopicRouting = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, ChatTopicRouting::defaults_for(TopicId(0)));
    assert_eq!(ChatTopicRouting::default(), empty);
    let none: ChatAgentCapacity = serde_json::from_str(r#"{"UserId": 4}"#).unwrap();
    assert_eq!(none.max_chats, None);
}
