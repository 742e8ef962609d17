//! Routing, the pass: which transactions end with one (every
//! operation the rules list, each shown to assign a waiting session), and
//! what is never routed (Manual topics, bot-owned sessions, the forms).
//! Expected values are worked out by hand from the rules as written; times are the
//! fixture's clock, T = the start.

use super::Fixture;
use super::feed::drain;
use super::lifecycle::{agent, cust, fixture_with, last_msg, now, rec, text};
use super::routing::{
    auto, max_chats, new_session, responder, set_routing, st, taken, verdicts, waits,
};
use crate::storage::Storage;
use crate::wire::{ChatMessageSpecialType, ChatSessionEntity};
use crate::{
    ChatEvent, ChatEventKind, ChatPresence, ChatSessionStatus, ChatTopicAgent, Config, EventActor,
    RoutingMode, RoutingVerdict, SessionId, TopicId, UserId,
};
use ChatSessionStatus::*;
use std::time::Duration;

/// Asserts `e` is a routed assignment's event: changed, actor System,
/// InQueue → UserLast, with this User.
pub fn assert_assignment(e: &ChatEvent, session: SessionId, user: i32) {
    assert_eq!(e.kind, ChatEventKind::SessionChanged, "{e:?}");
    assert_eq!(e.actor, EventActor::System, "{e:?}");
    assert_eq!(e.session, session, "{e:?}");
    assert_eq!(
        (e.status_before, e.status),
        (Some(InQueue), UserLast),
        "{e:?}"
    );
    assert_eq!(e.user, Some(UserId(user)), "{e:?}");
}

/// Asserts the feed's next events are exactly these assignments, in order.
pub fn assignments<S: Storage>(fx: &Fixture<S>, cursor: &mut i64, expected: &[(SessionId, i32)]) {
    let events = drain(fx, cursor);
    assert_eq!(events.len(), expected.len(), "{events:?}");
    for (e, (s, u)) in events.iter().zip(expected) {
        assert_assignment(e, *s, *u);
    }
}

fn member_with(t: TopicId, user: i32, listen: bool, respond: bool) -> ChatTopicAgent {
    ChatTopicAgent {
        can_listen: listen,
        can_respond: respond,
        ..ChatTopicAgent::new(t, UserId(user))
    }
}

pub fn pass_runs_after_queue_entries<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let pre = fx.topic_with("pre", |t| t.widget.pre_form_enabled = true);
    let faq = fx.topic_with("faq", |t| t.widget.auto_faq_enabled = true);
    let bot = fx.topic_with("bot", |t| t.bot_enabled = true);
    let plain = fx.topic("plain");
    for t in [pre, faq, bot, plain] {
        responder(&fx, t, 10);
        auto(&fx, t, 10);
    }
    fx.present(10, true);
    // Submit pre-chat form.
    let (p, kp) = fx.customer_session(pre, "p");
    assert_eq!(st(&fx, p), (PreChatForm, None, 0), "not in the queue");
    let form = ChatSessionEntity {
        customer_alias: "p".into(),
        ..ChatSessionEntity::default()
    };
    let e = fx.desk.submit_pre_chat_form(&cust(&kp), p, &form).unwrap();
    assert_eq!(
        (e.status, e.user_id(), e.rank, e.initial_queue_pos),
        (UserLast, Some(UserId(10)), 1, 1)
    );
    // FAQ did not help.
    let (f, kf) = fx.customer_session(faq, "f");
    assert_eq!(st(&fx, f), (Faq, None, 0));
    let e = fx.desk.faq_not_helped(&cust(&kf), f).unwrap();
    assert_eq!(
        (e.status, e.user_id(), e.rank, e.initial_queue_pos),
        (UserLast, Some(UserId(10)), 2, 1)
    );
    // Bot hand-off: a bot-owned session is never routed; handed off, it is.
    let (b, _) = fx.customer_session(bot, "b");
    let e = fx.desk.get_chat_session_entity(&sys, b).unwrap();
    assert_eq!(
        (e.status, e.chatbot_is_active, e.user_id()),
        (InQueue, true, None)
    );
    let e = fx.desk.reset_chat_session(&sys, b).unwrap();
    assert_eq!(
        (e.status, e.user_id(), e.rank, e.initial_queue_pos),
        (UserLast, Some(UserId(10)), 3, 1)
    );
    assert!(!e.chatbot_is_active);
    // A bot-run chat (active, no User) handed off.
    let (b2, _) = fx.customer_session(bot, "b2");
    let bot_says = crate::ChatMessage {
        special_type: ChatMessageSpecialType::BotMessage,
        ..text("bot")
    };
    fx.desk.add_chat_message(&sys, b2, &bot_says).unwrap();
    assert_eq!(st(&fx, b2), (UserLast, None, 0));
    let e = fx.desk.reset_chat_session(&sys, b2).unwrap();
    assert_eq!(
        (e.status, e.user_id(), e.rank, e.initial_queue_pos),
        (UserLast, Some(UserId(10)), 4, 1)
    );
    // A reset by the User: back in the queue with a new sequence, and, with
    // nobody else eligible, straight back to them (the reset adds nobody to
    // the exclusion set).
    let before = rec(&fx, b2);
    fx.clock.advance_secs(5);
    let e = fx.desk.reset_chat_session(&agent(10), b2).unwrap();
    assert_eq!(
        (e.status, e.user_id(), e.rank, e.initial_queue_pos),
        (UserLast, Some(UserId(10)), 4, 1)
    );
    let after = rec(&fx, b2);
    assert!(after.queue_seq > before.queue_seq, "a new queue entry");
    assert_eq!(after.queue_entered, Some(fx.desk.now()));
    fx.desk.close_chat_session(&agent(10), b2).unwrap();
    // Reopen.
    let (r, kr) = fx.customer_session(plain, "r");
    taken(&fx, r, 10, 4);
    fx.desk.close_chat_session(&cust(&kr), r).unwrap();
    fx.clock.advance_secs(60);
    let e = fx.desk.reopen_chat_session(&cust(&kr), r).unwrap();
    assert_eq!(
        (e.status, e.user_id(), e.rank, e.initial_queue_pos),
        (UserLast, Some(UserId(10)), 4, 1)
    );
    assert_eq!(e.when_started.to_utc(), Some(now(&fx)));
    assert_eq!(
        last_msg(&fx, r).special,
        ChatMessageSpecialType::ReopenedByCustomer,
        "no welcome: the topic has none"
    );
}

/// Every operation that lowers an agent's load ends with a pass. One agent
/// (10) with capacity 1; each step frees them and the oldest waiting session
/// comes to them.
pub fn pass_runs_when_a_load_falls<S: Storage>(store: S) {
    let config = Config {
        dead_customer: Duration::ZERO,
        ..Config::default()
    };
    let (fx, _) = fixture_with(store, config);
    let sys = fx.sys();
    let t = fx.topic("t");
    for u in [10, 11, 12, 13] {
        responder(&fx, t, u);
    }
    fx.member(t, 14, (false, false, true, false)); // a manager
    fx.present(10, true);
    auto(&fx, t, 1);
    let s0 = new_session(&fx, t);
    taken(&fx, s0, 10, 1);
    let (w1, k1) = fx.customer_session(t, "w1");
    waits(&fx, w1, 1);
    // Close by agent; it returns its own session.
    let e = fx.desk.close_chat_session(&agent(10), s0).unwrap();
    assert_eq!((e.status, e.user_id()), (Closed, Some(UserId(10))));
    taken(&fx, w1, 10, 1);
    // Close by customer, from an active state.
    let w2 = new_session(&fx, t);
    waits(&fx, w2, 1);
    fx.desk.close_chat_session(&cust(&k1), w1).unwrap();
    taken(&fx, w2, 10, 1);
    // Close by System (a close by agent).
    let w3 = new_session(&fx, t);
    fx.desk.close_chat_session(&sys, w2).unwrap();
    taken(&fx, w3, 10, 1);
    // Delete, by a manager.
    let w4 = new_session(&fx, t);
    fx.desk.delete_chat_session_entity(&agent(14), w3).unwrap();
    taken(&fx, w4, 10, 1);
    // Reset by the User: w4 takes a new sequence behind w5, which is routed.
    let w5 = new_session(&fx, t);
    let e = fx.desk.reset_chat_session(&agent(10), w4).unwrap();
    assert_eq!(
        (e.status, e.user_id(), e.initial_queue_pos),
        (InQueue, None, 1)
    );
    taken(&fx, w5, 10, 1);
    waits(&fx, w4, 1);
    // Accept: the old User's load falls (11 is not Present: manual path).
    fx.clock.advance_secs(1);
    fx.desk
        .transfer_chat_session(&agent(10), w5, UserId(11))
        .unwrap();
    waits(&fx, w4, 1);
    let e = fx
        .desk
        .accept_chat_session_transfer(&agent(11), w5)
        .unwrap();
    assert_eq!(e.user_id(), Some(UserId(11)));
    taken(&fx, w4, 10, 1); // 10's last assignment: T+1
    // Reject: the target's load falls.
    fx.clock.advance_secs(1);
    fx.desk
        .transfer_chat_session(&agent(10), w4, UserId(12))
        .unwrap();
    fx.present(12, true); // load 1 (the pending transfer) = capacity
    let w6 = new_session(&fx, t);
    waits(&fx, w6, 1);
    fx.desk
        .reject_chat_session_transfer(&agent(12), w4)
        .unwrap();
    taken(&fx, w6, 12, 1); // 12's last assignment: T+2
    // A replaced transfer frees its old target.
    fx.clock.advance_secs(1);
    fx.desk
        .transfer_chat_session(&agent(10), w4, UserId(13))
        .unwrap();
    fx.present(13, true);
    let w7 = new_session(&fx, t);
    waits(&fx, w7, 1);
    fx.desk
        .transfer_chat_session(&agent(10), w4, UserId(11))
        .unwrap();
    taken(&fx, w7, 13, 1); // 13's last assignment: T+3
    // A close from the queue and a delete of a queued session free nobody.
    let (w8, k8) = fx.customer_session(t, "w8");
    let w9 = new_session(&fx, t);
    let e = fx.desk.close_chat_session(&cust(&k8), w8).unwrap();
    assert_eq!(e.status, ClosedFromQueue);
    waits(&fx, w9, 1);
    fx.desk.delete_chat_session_entity(&sys, w9).unwrap();
    // An idle-sweep batch: it closes the four active chats (w4 10, w5 11,
    // w6 12, w7 13), then routes w10 and w11. 11 is not Present; 10, 12, 13
    // have load 0 → the earliest last assignment first: 10, then 12.
    let w10 = new_session(&fx, t);
    let w11 = new_session(&fx, t);
    waits(&fx, w11, 2);
    fx.clock.advance_secs(30 * 60);
    let closed: Vec<_> = fx
        .desk
        .idle_sweep(&sys)
        .unwrap()
        .into_iter()
        .map(|c| (c.session, c.to))
        .collect();
    assert_eq!(
        closed,
        vec![(w4, Closed), (w5, Closed), (w6, Closed), (w7, Closed)]
    );
    taken(&fx, w10, 10, 1);
    taken(&fx, w11, 12, 1);
}

/// Every operation that makes an agent eligible ends with a pass.
pub fn pass_runs_when_an_agent_becomes_eligible<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let t = fx.topic("t");
    responder(&fx, t, 10);
    for u in [11, 12, 13] {
        responder(&fx, t, u);
    }
    fx.present(10, true);
    auto(&fx, t, 1);
    let s0 = new_session(&fx, t);
    taken(&fx, s0, 10, 1);
    let w: Vec<SessionId> = (0..11).map(|_| new_session(&fx, t)).collect();
    waits(&fx, w[10], 11);
    // T+1: an agent saves their own presence.
    fx.clock.advance_secs(1);
    let p = fx
        .desk
        .save_chat_presence(&agent(11), &ChatPresence::new(UserId(11), true, "Eleven"))
        .unwrap();
    assert_eq!(p.ongoing_chats, 1, "returned as committed, after the pass");
    taken(&fx, w[0], 11, 1);
    waits(&fx, w[1], 1);
    // T+2: several presences at once: one pass, 12 then 13 (load 0, never
    // assigned, lowest id first).
    fx.clock.advance_secs(1);
    let saved = fx
        .desk
        .save_all_chat_presence(
            &sys,
            &[
                ChatPresence::new(UserId(13), true, "Thirteen"),
                ChatPresence::new(UserId(12), true, "Twelve"),
            ],
        )
        .unwrap();
    assert_eq!(
        saved.iter().map(|p| p.ongoing_chats).collect::<Vec<_>>(),
        [1, 1]
    );
    taken(&fx, w[1], 12, 1);
    taken(&fx, w[2], 13, 1);
    // T+3: a membership added.
    fx.present(14, true);
    waits(&fx, w[3], 1);
    fx.clock.advance_secs(1);
    responder(&fx, t, 14);
    taken(&fx, w[3], 14, 1);
    // T+4: a membership updated to CanRespond.
    fx.member(t, 15, (true, false, false, false));
    fx.present(15, true);
    waits(&fx, w[4], 1);
    fx.clock.advance_secs(1);
    fx.desk
        .update_chat_topic_user_agent(&sys, &member_with(t, 15, true, true))
        .unwrap();
    taken(&fx, w[4], 15, 1);
    // T+5: several memberships at once.
    for u in [16, 17] {
        fx.member(t, u, (true, false, false, false));
        fx.present(u, true);
    }
    waits(&fx, w[5], 1);
    fx.clock.advance_secs(1);
    fx.desk
        .update_chat_topic_user_agents(
            &sys,
            &[
                member_with(t, 17, true, true),
                member_with(t, 16, true, true),
            ],
        )
        .unwrap();
    taken(&fx, w[5], 16, 1);
    taken(&fx, w[6], 17, 1);
    // T+6: a capacity save.
    fx.clock.advance_secs(1);
    max_chats(&fx, 10, Some(2));
    taken(&fx, w[7], 10, 2);
    waits(&fx, w[8], 1);
    // T+7: the topic's routing saved with DefaultCapacity 2: 11–17 (load 1)
    // become eligible; 10 (MaxChats 2, load 2) is not. The earliest last
    // assignments: 11 (T+1), then 12 and 13 (T+2: lowest id).
    fx.clock.advance_secs(1);
    set_routing(&fx, t, |r| r.default_capacity = 2);
    taken(&fx, w[8], 11, 2);
    taken(&fx, w[9], 12, 2);
    taken(&fx, w[10], 13, 2);
    // Deleting a membership makes nobody eligible: nothing moves.
    let before: Vec<_> = w.iter().map(|s| st(&fx, *s)).collect();
    fx.desk
        .delete_chat_topic_user_agent(&sys, t, UserId(17))
        .unwrap();
    assert_eq!(w.iter().map(|s| st(&fx, *s)).collect::<Vec<_>>(), before);
    // A Manual topic turned Auto: its waiting sessions are routed at once.
    let n = fx.topic("n");
    responder(&fx, n, 20);
    fx.present(20, true);
    let n1 = new_session(&fx, n);
    let n2 = new_session(&fx, n);
    waits(&fx, n2, 2);
    set_routing(&fx, n, |r| r.mode = RoutingMode::Auto);
    taken(&fx, n1, 20, 1);
    taken(&fx, n2, 20, 2);
}

pub fn manual_topics_and_bot_sessions_are_not_routed<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let m = fx.topic("manual");
    let bot = fx.topic_with("bot", |t| t.bot_enabled = true);
    let pre = fx.topic_with("pre", |t| t.widget.pre_form_enabled = true);
    let faq = fx.topic_with("faq", |t| t.widget.auto_faq_enabled = true);
    let off = fx.topic("offline");
    for t in [m, bot, pre, faq] {
        responder(&fx, t, 10);
    }
    responder(&fx, off, 11);
    for t in [bot, pre, faq, off] {
        auto(&fx, t, 3);
    }
    fx.present(10, true);
    // A Manual topic with an eligible agent: its queue waits for a pick-up.
    let q = new_session(&fx, m);
    waits(&fx, q, 1);
    assert_eq!(
        verdicts(&fx, q),
        vec![(
            10,
            RoutingVerdict::Eligible {
                load: 0,
                capacity: 3
            }
        )]
    );
    max_chats(&fx, 10, Some(9));
    fx.member(m, 12, (false, true, false, false));
    fx.present(12, true);
    waits(&fx, q, 1);
    // Bot-owned sessions are never routed, InQueue or bot-run.
    let b1 = new_session(&fx, bot);
    let b2 = new_session(&fx, bot);
    fx.desk
        .add_chat_message(
            &sys,
            b2,
            &crate::ChatMessage {
                special_type: ChatMessageSpecialType::BotMessage,
                ..text("bot")
            },
        )
        .unwrap();
    assert_eq!(st(&fx, b1), (InQueue, None, 0));
    assert_eq!(st(&fx, b2), (UserLast, None, 0));
    assert_eq!(fx.desk.get_queue_position(&sys, b1).unwrap(), None);
    // Nor are the forms: PreChatForm, Faq, OfflineForm.
    let p = new_session(&fx, pre);
    let f = new_session(&fx, faq);
    let o = new_session(&fx, off);
    assert_eq!(st(&fx, o), (OfflineForm, None, 0), "11 is not Present");
    fx.present(11, true);
    assert_eq!(
        [st(&fx, p).0, st(&fx, f).0, st(&fx, o).0],
        [PreChatForm, Faq, OfflineForm]
    );
    // A topic switched back to Manual stops routing.
    let a = fx.topic("a");
    responder(&fx, a, 20);
    fx.present(20, true);
    auto(&fx, a, 1);
    let a1 = new_session(&fx, a);
    taken(&fx, a1, 20, 1);
    let a2 = new_session(&fx, a);
    set_routing(&fx, a, |r| r.mode = RoutingMode::Manual);
    fx.desk.close_chat_session(&agent(20), a1).unwrap();
    waits(&fx, a2, 1);
    assert_eq!(
        verdicts(&fx, a2),
        vec![(
            20,
            RoutingVerdict::Eligible {
                load: 0,
                capacity: 1
            }
        )]
    );
}
