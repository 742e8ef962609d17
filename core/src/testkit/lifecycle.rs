//! The rows of the lifecycle table one by one: their side effects, ranks and
//! the queue. Helpers shared by the lifecycle, message and sweep
//! tests live here too.

use super::{Fixture, dump};
use crate::model::{MessageRecord, SessionRecord};
use crate::storage::{Storage, StorageExt};
use crate::wire::{ChatMessage, ChatMessageSpecialType, ChatMessageType, ChatSessionEntity};
use crate::wire::{ChatTopicAgent, CustomerFieldFlags};
use crate::{
    Associate, Caller, ChatDesk, ChatSessionStatus, Config, Error, ManualClock, MemoryDirectory,
    MessageId, SessionId, UserId,
};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

/// The kind of an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ok,
    /// `pick_up_chat_session` gave `Ok(None)`.
    Nothing,
    NotFound,
    Forbidden,
    Invalid,
    Validation,
    Other,
}

pub fn kind<T>(r: &crate::Result<T>) -> Kind {
    match r {
        Ok(_) => Kind::Ok,
        Err(Error::NotFound { .. }) => Kind::NotFound,
        Err(Error::Forbidden { .. }) => Kind::Forbidden,
        Err(Error::InvalidTransition { .. }) => Kind::Invalid,
        Err(Error::Validation { .. }) => Kind::Validation,
        Err(_) => Kind::Other,
    }
}

/// The field a Validation names; panics on anything else.
pub fn invalid_field<T: std::fmt::Debug>(r: crate::Result<T>) -> String {
    match r {
        Err(Error::Validation { field, .. }) => field,
        other => panic!("expected Validation, got {other:?}"),
    }
}

/// The stored record of a session.
pub fn rec<S: Storage>(fx: &Fixture<S>, id: SessionId) -> SessionRecord {
    fx.desk
        .storage()
        .read(|tx| tx.session(id))
        .unwrap()
        .unwrap()
}

/// Stores a session record as it is.
pub fn put<S: Storage>(fx: &Fixture<S>, r: &SessionRecord) {
    fx.desk.storage().write(|tx| tx.put_session(r)).unwrap();
}

/// The stored messages of a session, by id.
pub fn msgs<S: Storage>(fx: &Fixture<S>, id: SessionId) -> Vec<MessageRecord> {
    fx.desk
        .storage()
        .read(|tx| tx.messages(id, MessageId(0), usize::MAX))
        .unwrap()
}

/// The last stored message of a session.
pub fn last_msg<S: Storage>(fx: &Fixture<S>, id: SessionId) -> MessageRecord {
    msgs(fx, id).pop().unwrap()
}

/// The session, its messages and every topic, as text (cheap "unchanged" checks).
pub fn session_dump<S: Storage>(fx: &Fixture<S>, id: SessionId) -> String {
    let topics = fx.desk.storage().read(|tx| tx.topics()).unwrap();
    format!(
        "{:?}\n{:?}\n{topics:?}",
        fx.desk.storage().read(|tx| tx.session(id)).unwrap(),
        msgs(fx, id)
    )
}

/// Asserts a system message: Type Special, the SpecialType, Author "".
pub fn assert_special(m: &MessageRecord, special: ChatMessageSpecialType) {
    assert_eq!(m.kind, ChatMessageType::Special, "{m:?}");
    assert_eq!(m.special, special, "{m:?}");
    assert_eq!(m.author, "", "{m:?}");
    assert!(!m.text.is_empty(), "a short human text: {m:?}");
}

pub fn agent(u: i32) -> Caller {
    Caller::agent(UserId(u))
}

pub fn cust(key: &str) -> Caller {
    Caller::customer(key.to_string())
}

pub fn text(t: &str) -> ChatMessage {
    ChatMessage {
        message: t.to_string(),
        ..ChatMessage::default()
    }
}

/// The fixture's clock as a chrono instant.
pub fn now<S: Storage>(fx: &Fixture<S>) -> DateTime<Utc> {
    fx.desk.now().to_datetime().unwrap()
}

/// A fixture with its own configuration and a directory the test can fill.
pub fn fixture_with<S: Storage>(store: S, config: Config) -> (Fixture<S>, Arc<MemoryDirectory>) {
    let clock = ManualClock::at_default();
    let dir = Arc::new(MemoryDirectory::new());
    let desk = ChatDesk::new(store)
        .with_clock(clock.clone())
        .with_config(config)
        .with_directory(dir.clone());
    (Fixture { desk, clock }, dir)
}

pub fn associate(id: i32, full_name: &str) -> Associate {
    let v = serde_json::json!({"AssociateId": id, "FullName": full_name});
    Associate::from_map(v.as_object().unwrap().clone()).unwrap()
}

fn user_id(a: Option<&Associate>) -> Option<i32> {
    a.and_then(Associate::id)
}

fn pick<S: Storage>(fx: &Fixture<S>, user: i32, id: SessionId) -> ChatSessionEntity {
    fx.desk
        .pick_up_chat_session(&agent(user), id)
        .unwrap()
        .unwrap()
}

fn sys_get<S: Storage>(fx: &Fixture<S>, id: SessionId) -> ChatSessionEntity {
    fx.desk.get_chat_session_entity(&fx.sys(), id).unwrap()
}

fn pos<S: Storage>(fx: &Fixture<S>, id: SessionId) -> Option<u32> {
    fx.desk.get_queue_position(&fx.sys(), id).unwrap()
}

pub fn pick_up_side_effects_and_welcome<S: Storage>(store: S) {
    let (fx, dir) = fixture_with(store, Config::default());
    let t = fx.topic_with("welcome", |t| {
        t.welcome_message = "Hi, how can I help?".into()
    });
    fx.member(t, 10, (false, true, false, false));
    fx.member(t, 11, (false, true, false, false));
    fx.present(10, true);
    dir.register_associate(associate(11, "Anna Berg"));
    let (a, _) = fx.customer_session(t, "a");
    let (b, _) = fx.customer_session(t, "b");
    fx.clock.advance_secs(40);
    let e = pick(&fx, 10, a);
    assert_eq!(e.status, ChatSessionStatus::UserLast);
    assert_eq!(user_id(e.user.as_ref()), Some(10));
    assert_eq!(e.rank, 1);
    assert_eq!(e.alert_level, 0);
    assert_eq!(e.when_started.to_utc(), Some(now(&fx)));
    let w = last_msg(&fx, a);
    assert_eq!(w.kind, ChatMessageType::ToCustomer);
    assert_eq!(w.special, ChatMessageSpecialType::Welcome);
    assert_eq!(w.text, "Hi, how can I help?");
    assert_eq!(
        w.author, "Agent 10",
        "presence DisplayName without a directory name"
    );
    let r = rec(&fx, a);
    assert_eq!(r.last_message, "Hi, how can I help?");
    assert_eq!(r.when_idle, Some(fx.desk.now()));
    assert_eq!(r.first_message, "", "a Welcome is not SpecialType None");
    // The directory's FullName wins over the presence name.
    let e = pick(&fx, 11, b);
    assert_eq!(e.rank, 1, "ranks are per user");
    assert_eq!(last_msg(&fx, b).author, "Anna Berg");
    // A topic without a WelcomeMessage posts none.
    let plain = fx.staffed_topic("plain");
    let (c, _) = fx.customer_session(plain, "c");
    pick(&fx, 10, c);
    assert!(msgs(&fx, c).is_empty());
    assert_eq!(rec(&fx, c).rank, 2, "ranks count across topics");
}

pub fn seconds_pr_accept_ewma<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("avg");
    let topic = |fx: &Fixture<S>| fx.desk.get_chat_topic_entity(&fx.sys(), t).unwrap();
    assert!(topic(&fx).last_accept.is_unset());
    // The wait average written out: first = wait; then old + round_half_away((wait − old) / 10).
    let mut model: Option<i64> = None;
    let mut step = |wait: i64| {
        let new = match model {
            None => wait,
            Some(old) => old + ((wait - old) as f64 / 10.0).round() as i64,
        };
        model = Some(new);
        new
    };
    let start = now(&fx);
    // (wait in ms from queue entry to pick-up; a negative one is a clock jumping back)
    let waits_ms: [i64; 6] = [65_900, 120_000, 26_000, -30_000, 3_000, 595_000];
    let mut at = start;
    for (i, w) in waits_ms.into_iter().enumerate() {
        fx.clock.set(at);
        let (id, _) = fx.customer_session(t, &format!("s{i}"));
        fx.clock.set(at + Duration::milliseconds(w));
        pick(&fx, 10, id);
        let want = step((w / 1000).max(0));
        let e = topic(&fx);
        assert_eq!(
            i64::from(e.seconds_pr_accept),
            want,
            "pick-up #{i}, wait {w} ms"
        );
        assert_eq!(e.last_accept.to_utc(), Some(now(&fx)));
        at += Duration::hours(1);
    }
    assert_eq!(model, Some(107), "65, 71, 66, 59, 53, 107");
    // Saving the topic does not touch the statistics.
    let mut e = topic(&fx);
    e.seconds_pr_accept = 1;
    fx.desk.save_chat_topic_entity(&fx.sys(), &e).unwrap();
    assert_eq!(topic(&fx).seconds_pr_accept, 107);
}

pub fn ranks_lowest_free_across_topics<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let a = fx.staffed_topic("a");
    let b = fx.staffed_topic("b");
    fx.member(a, 11, (false, true, false, false));
    let s = |t, n: &str| fx.customer_session(t, n).0;
    let (a1, b1, a2, b2, a3, a4) = (
        s(a, "a1"),
        s(b, "b1"),
        s(a, "a2"),
        s(b, "b2"),
        s(a, "a3"),
        s(a, "a4"),
    );
    assert_eq!(pick(&fx, 10, a1).rank, 1);
    assert_eq!(pick(&fx, 10, b1).rank, 2);
    assert_eq!(pick(&fx, 10, a2).rank, 3);
    fx.desk.close_chat_session(&agent(10), b1).unwrap();
    let closed = rec(&fx, b1);
    assert_eq!(
        (closed.rank, closed.user),
        (0, Some(UserId(10))),
        "User stays, Rank 0"
    );
    assert_eq!(pick(&fx, 10, b2).rank, 2, "the freed rank is reused");
    assert_eq!(pick(&fx, 11, a3).rank, 1);
    // Accepting a transfer: a new rank for the new User, the old one freed.
    fx.desk
        .transfer_chat_session(&agent(10), a1, UserId(11))
        .unwrap();
    let e = fx
        .desk
        .accept_chat_session_transfer(&agent(11), a1)
        .unwrap();
    assert_eq!((user_id(e.user.as_ref()), e.rank), (Some(11), 2));
    assert_eq!(pick(&fx, 10, a4).rank, 1);
    let ranks = |u: i32| {
        let mut r: Vec<i32> = fx
            .desk
            .storage()
            .read(|tx| tx.active_sessions(UserId(u)))
            .unwrap()
            .iter()
            .map(|s| s.rank)
            .collect();
        r.sort_unstable();
        r
    };
    assert_eq!(ranks(10), vec![1, 2, 3]);
    assert_eq!(ranks(11), vec![1, 2]);
}

pub fn queue_positions_and_initial_pos<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("q");
    let other = fx.staffed_topic("other");
    let s: Vec<(SessionId, String)> = (1..=4)
        .map(|i| fx.customer_session(t, &format!("c{i}")))
        .collect();
    let (o1, _) = fx.customer_session(other, "o1");
    for (i, (id, key)) in s.iter().enumerate() {
        let want = u32::try_from(i + 1).unwrap();
        assert_eq!(
            sys_get(&fx, *id).initial_queue_pos,
            i32::try_from(want).unwrap()
        );
        assert_eq!(
            fx.desk.get_queue_position(&cust(key), *id).unwrap(),
            Some(want)
        );
    }
    assert_eq!(pos(&fx, o1), Some(1), "queues are per topic");
    pick(&fx, 10, s[1].0);
    assert_eq!(pos(&fx, s[1].0), None, "not queued: None, not an error");
    let positions = |fx: &Fixture<S>| s.iter().map(|(id, _)| pos(fx, *id)).collect::<Vec<_>>();
    assert_eq!(positions(&fx), vec![Some(1), None, Some(2), Some(3)]);
    fx.desk.close_chat_session(&cust(&s[0].1), s[0].0).unwrap();
    assert_eq!(positions(&fx), vec![None, None, Some(1), Some(2)]);
    // A customer message keeps the session where it is in the queue.
    fx.desk
        .add_chat_message(&cust(&s[3].1), s[3].0, &text("still there?"))
        .unwrap();
    assert_eq!(rec(&fx, s[3].0).status, ChatSessionStatus::InQueue);
    assert_eq!(positions(&fx), vec![None, None, Some(1), Some(2)]);
    let (s5, _) = fx.customer_session(t, "c5");
    assert_eq!(
        sys_get(&fx, s5).initial_queue_pos,
        3,
        "its position when it joined"
    );
    let initial: Vec<i32> = s
        .iter()
        .map(|(id, _)| sys_get(&fx, *id).initial_queue_pos)
        .collect();
    assert_eq!(initial, vec![1, 2, 3, 4], "InitialQueuePos is frozen");
}

pub fn pick_up_first_order<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let a = fx.staffed_topic("a");
    let b = fx.staffed_topic("b");
    let c = fx.staffed_topic("listen only");
    let bot = fx.topic_with("bot", |t| t.bot_enabled = true);
    fx.member(bot, 10, (false, true, false, false));
    for t in [a, b, bot] {
        fx.member(t, 20, (false, true, false, false));
    }
    fx.member(c, 20, (true, false, false, false));
    let (c1, _) = fx.customer_session(c, "c1");
    let (d1, _) = fx.customer_session(bot, "d1");
    let (b1, _) = fx.customer_session(b, "b1");
    // The clock jumps back: queue order is the sequence, not the time.
    fx.clock.advance_secs(-3600);
    let (a1, _) = fx.customer_session(a, "a1");
    let (b2, _) = fx.customer_session(b, "b2");
    let first = || {
        fx.desk
            .pick_up_first_chat_session(&agent(20))
            .unwrap()
            .map(|e| SessionId(e.chat_session_id))
    };
    assert_eq!(first(), Some(b1));
    assert_eq!(first(), Some(a1));
    assert_eq!(first(), Some(b2));
    assert_eq!(first(), None, "only listens in c; the bot owns d1");
    assert_eq!(rec(&fx, c1).status, ChatSessionStatus::InQueue);
    assert_eq!(rec(&fx, d1).status, ChatSessionStatus::InQueue);
    let e = sys_get(&fx, a1);
    assert_eq!(
        (user_id(e.user.as_ref()), e.rank, e.status),
        (Some(20), 2, ChatSessionStatus::UserLast)
    );
    for ctx in [fx.sys(), Caller::anonymous()] {
        assert_eq!(
            kind(&fx.desk.pick_up_first_chat_session(&ctx)),
            Kind::Forbidden
        );
    }
    // An agent with no CanRespond anywhere gets nothing.
    assert!(
        fx.desk
            .pick_up_first_chat_session(&agent(99))
            .unwrap()
            .is_none()
    );
}

pub fn reset_and_bot_hand_off<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic_with("bot", |t| t.bot_enabled = true);
    fx.member(t, 10, (false, true, false, false));
    fx.member(t, 11, (false, true, false, false));
    fx.member(t, 14, (false, false, true, false));
    fx.present(10, true);
    let (b1, _) = fx.customer_session(t, "b1");
    let (b2, _) = fx.customer_session(t, "b2");
    let (b3, _) = fx.customer_session(t, "b3");
    for id in [b1, b2, b3] {
        let e = sys_get(&fx, id);
        assert!(e.chatbot_is_active);
        assert_eq!(
            (e.status, e.initial_queue_pos),
            (ChatSessionStatus::InQueue, 0)
        );
        assert_eq!(pos(&fx, id), None, "bot-owned: not in the human queue");
    }
    let e = fx.desk.reset_chat_session(&fx.sys(), b2).unwrap();
    assert!(!e.chatbot_is_active);
    assert_eq!(
        (e.status, e.initial_queue_pos),
        (ChatSessionStatus::InQueue, 1)
    );
    let e = fx.desk.reset_chat_session(&agent(14), b1).unwrap();
    assert_eq!(
        e.initial_queue_pos, 2,
        "a new sequence: behind b2 despite the lower id"
    );
    assert_eq!((pos(&fx, b2), pos(&fx, b1)), (Some(1), Some(2)));
    // A session already in the human queue is left as it is.
    let before = rec(&fx, b2);
    fx.clock.advance_secs(5);
    fx.desk.reset_chat_session(&fx.sys(), b2).unwrap();
    assert_eq!(rec(&fx, b2), before);
    // A bot-run chat (active, no User) is handed over into the queue.
    fx.desk
        .add_chat_message(
            &fx.sys(),
            b3,
            &ChatMessage {
                special_type: ChatMessageSpecialType::BotMessage,
                ..text("I am the bot")
            },
        )
        .unwrap();
    assert_eq!(rec(&fx, b3).status, ChatSessionStatus::UserLast);
    assert_eq!(pick_none(&fx, b3), None);
    let e = fx.desk.reset_chat_session(&fx.sys(), b3).unwrap();
    assert_eq!(
        (e.status, e.initial_queue_pos),
        (ChatSessionStatus::InQueue, 3)
    );
    // The User resets a picked-up chat: cleared and back at the end of the queue.
    pick(&fx, 10, b2);
    fx.desk
        .transfer_chat_session(&agent(10), b2, UserId(11))
        .unwrap();
    let e = fx.desk.reset_chat_session(&agent(10), b2).unwrap();
    assert!(e.user.is_none() && e.transfer_to.is_none());
    assert_eq!(
        (e.rank, e.status, e.initial_queue_pos),
        (0, ChatSessionStatus::InQueue, 1)
    );
    assert_eq!(
        (pos(&fx, b1), pos(&fx, b3), pos(&fx, b2)),
        (Some(1), Some(2), Some(3))
    );
    // Nobody present: routing gives the offline form.
    pick(&fx, 10, b1);
    fx.present(10, false);
    let e = fx.desk.reset_chat_session(&fx.sys(), b1).unwrap();
    assert_eq!(e.status, ChatSessionStatus::OfflineForm);
    assert!(e.user.is_none());
    assert_eq!(pos(&fx, b1), None);
}

fn pick_none<S: Storage>(fx: &Fixture<S>, id: SessionId) -> Option<i32> {
    fx.desk
        .pick_up_chat_session(&agent(10), id)
        .unwrap()
        .map(|e| e.chat_session_id)
}

pub fn queue_offline_form_conditions<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let form = |name: &str, on: bool, minutes: i32, length: i32, bot: bool| {
        let t = fx.topic_with(name, |t| {
            t.use_queue_offline_form = on;
            t.offline_form_time_limit = minutes;
            t.offline_form_queue_length = length;
            t.bot_enabled = bot;
        });
        fx.member(t, 10, (false, true, false, false));
        t
    };
    fx.present(10, true);
    let by_time = form("time", true, 5, 0, false);
    let by_len = form("length", true, 0, 3, false);
    let never = form("never", true, 0, 0, false);
    let off = form("off", false, 1, 1, false);
    let bot = form("bot", true, 1, 1, true);
    let (t1, k1) = fx.customer_session(by_time, "t1");
    let (l1, kl1) = fx.customer_session(by_len, "l1");
    let (l2, kl2) = fx.customer_session(by_len, "l2");
    let mut never_ids = Vec::new();
    for t in [never, off, bot] {
        for i in 0..3 {
            never_ids.push(fx.customer_session(t, &format!("n{i}")));
        }
    }
    let post = |id, key: &str, txt: &str| fx.desk.post_offline_request(&cust(key), id, txt);
    fx.clock.advance_secs(5 * 60 - 1);
    let before = dump(fx.desk.storage());
    assert_eq!(kind(&post(t1, &k1, "call me")), Kind::Invalid);
    assert_eq!(
        kind(&post(t1, &k1, &"x".repeat(4001))),
        Kind::Invalid,
        "state before arguments"
    );
    assert_eq!(
        kind(&post(l2, &kl2, "call me")),
        Kind::Invalid,
        "2 queued of 3"
    );
    assert_eq!(dump(fx.desk.storage()), before);
    fx.clock.advance_secs(1);
    let field = invalid_field(post(t1, &k1, &"é".repeat(4001)));
    assert!(field == "text" || field == "Message", "{field}");
    let e = post(t1, &k1, &"é".repeat(4000)).unwrap();
    assert_eq!(e.status, ChatSessionStatus::RequestPosted);
    assert_eq!(
        e.when_fetched.to_utc(),
        Some(now(&fx)),
        "a customer operation"
    );
    let m = last_msg(&fx, t1);
    assert_eq!(
        (m.kind, m.special, m.author.as_str()),
        (ChatMessageType::ToUser, ChatMessageSpecialType::None, "t1")
    );
    let (_, _) = fx.customer_session(by_len, "l3");
    assert_eq!(
        post(l1, &kl1, "now").unwrap().status,
        ChatSessionStatus::RequestPosted
    );
    fx.clock.advance_secs(3600);
    for (id, key) in &never_ids {
        assert_eq!(kind(&post(*id, key, "x")), Kind::Invalid, "{id}");
    }
    // From the plain offline form it always works.
    let closed = fx.topic("unstaffed");
    let (o, ko) = fx.customer_session(closed, "o");
    assert_eq!(rec(&fx, o).status, ChatSessionStatus::OfflineForm);
    assert_eq!(
        post(o, &ko, "mail me").unwrap().status,
        ChatSessionStatus::RequestPosted
    );
    assert_eq!(rec(&fx, o).first_message, "mail me");
}

pub fn transfer_accept_reject_flow<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    for u in [11, 12] {
        fx.member(t, u, (false, true, false, false));
        fx.present(u, true);
    }
    fx.member(t, 13, (true, false, false, false));
    fx.member(t, 14, (false, false, true, false));
    let (s, _) = fx.customer_session(t, "c");
    pick(&fx, 10, s);
    let to = |fx: &Fixture<S>| rec(fx, s).transfer_to.map(|u| u.0);
    fx.desk
        .transfer_chat_session(&agent(10), s, UserId(11))
        .unwrap();
    assert_eq!(to(&fx), Some(11));
    assert_eq!(user_id(sys_get(&fx, s).transfer_to.as_ref()), Some(11));
    fx.desk
        .transfer_chat_session(&agent(14), s, UserId(12))
        .unwrap();
    assert_eq!(to(&fx), Some(12), "a second transfer replaces the first");
    let before = dump(fx.desk.storage());
    assert_eq!(
        kind(&fx.desk.accept_chat_session_transfer(&agent(11), s)),
        Kind::Forbidden
    );
    for bad in [13, 99, 10] {
        let r = fx.desk.transfer_chat_session(&agent(10), s, UserId(bad));
        assert_eq!(invalid_field(r), "TransferTo", "to {bad}");
    }
    assert_eq!(dump(fx.desk.storage()), before);
    fx.desk.reject_chat_session_transfer(&agent(12), s).unwrap();
    assert_eq!(to(&fx), None);
    assert_special(&last_msg(&fx, s), ChatMessageSpecialType::TransferRejected);
    assert_eq!(
        kind(&fx.desk.reject_chat_session_transfer(&agent(12), s)),
        Kind::Invalid
    );
    // The target loses CanRespond: accepting is Validation, the transfer stays.
    fx.desk
        .transfer_chat_session(&agent(10), s, UserId(11))
        .unwrap();
    let listen_only = ChatTopicAgent {
        topic_id: t.0,
        user: Some(Associate::with_id(11)),
        can_listen: true,
        ..ChatTopicAgent::default()
    };
    fx.desk
        .update_chat_topic_user_agent(&fx.sys(), &listen_only)
        .unwrap();
    let before = dump(fx.desk.storage());
    assert_eq!(
        invalid_field(fx.desk.accept_chat_session_transfer(&agent(11), s)),
        "TransferTo"
    );
    assert_eq!(dump(fx.desk.storage()), before);
    assert_eq!(to(&fx), Some(11));
    fx.desk.reject_chat_session_transfer(&agent(11), s).unwrap();
    // A real accept.
    fx.desk
        .transfer_chat_session(&agent(10), s, UserId(12))
        .unwrap();
    let e = fx.desk.accept_chat_session_transfer(&agent(12), s).unwrap();
    assert_eq!(
        (user_id(e.user.as_ref()), e.rank, e.status),
        (Some(12), 1, ChatSessionStatus::UserLast)
    );
    assert!(e.transfer_to.is_none());
    let m = last_msg(&fx, s);
    assert_special(&m, ChatMessageSpecialType::TransferedSession);
    assert!(
        fx.desk
            .storage()
            .read(|tx| tx.active_sessions(UserId(10)))
            .unwrap()
            .is_empty()
    );
    // Leaving the active states drops a pending transfer.
    fx.desk
        .transfer_chat_session(&agent(12), s, UserId(10))
        .unwrap();
    fx.desk.close_chat_session(&agent(12), s).unwrap();
    let r = rec(&fx, s);
    assert_eq!((r.transfer_to, r.rank, r.user), (None, 0, Some(UserId(12))));
    assert_eq!(
        kind(&fx.desk.accept_chat_session_transfer(&agent(10), s)),
        Kind::Invalid
    );
}

pub fn close_reopen_finish<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let pre = fx.topic_with("pre", |t| t.widget.pre_form_enabled = true);
    let (s1, k1) = fx.customer_session(t, "c1");
    let (s2, k2) = fx.customer_session(t, "c2");
    let (s3, k3) = fx.customer_session(pre, "c3");
    let (s4, k4) = fx.customer_session(t, "c4");
    pick(&fx, 10, s1);
    pick(&fx, 10, s4);
    let e = fx.desk.close_chat_session(&agent(10), s1).unwrap();
    assert_eq!(e.status, ChatSessionStatus::Closed);
    assert_eq!(e.when_ended.to_utc(), Some(now(&fx)));
    assert_eq!((user_id(e.user.as_ref()), e.rank), (Some(10), 0));
    assert_special(&last_msg(&fx, s1), ChatMessageSpecialType::ClosedByUser);
    let e = fx.desk.close_chat_session(&cust(&k2), s2).unwrap();
    assert_eq!(e.status, ChatSessionStatus::ClosedFromQueue);
    assert_special(&last_msg(&fx, s2), ChatMessageSpecialType::ClosedByCustomer);
    assert_eq!(
        fx.desk.close_chat_session(&cust(&k3), s3).unwrap().status,
        ChatSessionStatus::Closed
    );
    assert_special(&last_msg(&fx, s3), ChatMessageSpecialType::ClosedByCustomer);
    fx.desk.close_chat_session(&cust(&k4), s4).unwrap();
    assert_eq!(rec(&fx, s4).status, ChatSessionStatus::Closed);
    // The window: 15 minutes after WhenEnded, inclusive.
    fx.clock.advance_secs(15 * 60);
    let e = fx.desk.reopen_chat_session(&cust(&k1), s1).unwrap();
    assert_eq!(e.status, ChatSessionStatus::InQueue);
    assert!(e.user.is_none() && e.transfer_to.is_none() && !e.chatbot_is_active);
    assert_eq!((e.rank, e.alert_level, e.initial_queue_pos), (0, 0, 1));
    assert!(e.when_started.is_unset() && e.when_ended.is_unset());
    assert_special(
        &last_msg(&fx, s1),
        ChatMessageSpecialType::ReopenedByCustomer,
    );
    assert_eq!(pos(&fx, s1), Some(1));
    assert_eq!(
        kind(&fx.desk.reopen_chat_session(&cust(&k2), s2)),
        Kind::Invalid,
        "ClosedFromQueue"
    );
    fx.clock.advance_secs(1);
    let before = dump(fx.desk.storage());
    assert_eq!(
        kind(&fx.desk.reopen_chat_session(&cust(&k4), s4)),
        Kind::Invalid,
        "past the window"
    );
    assert_eq!(
        kind(&fx.desk.finish_chat_session(&cust(&k1), s1, 9)),
        Kind::Invalid,
        "state first"
    );
    assert_eq!(
        invalid_field(fx.desk.finish_chat_session(&cust(&k4), s4, 3)),
        "Rating",
        "ratings off"
    );
    assert_eq!(
        invalid_field(fx.desk.finish_chat_session(&cust(&k4), s4, -1)),
        "Rating"
    );
    assert_eq!(dump(fx.desk.storage()), before);
    let e = fx.desk.finish_chat_session(&cust(&k4), s4, 0).unwrap();
    assert_eq!((e.status, e.rating), (ChatSessionStatus::Finished, 0));
    // Ratings on: 1–5.
    let rated = fx.staffed_topic("rated");
    let mut te = fx.desk.get_chat_topic_entity(&fx.sys(), rated).unwrap();
    te.widget_enable_rating = true;
    te.widget.required_fields = "Name".parse::<CustomerFieldFlags>().unwrap();
    let (r1, kr1) = fx.customer_session(rated, "r1");
    pick(&fx, 10, r1);
    fx.desk.close_chat_session(&cust(&kr1), r1).unwrap();
    fx.desk.save_chat_topic_entity(&fx.sys(), &te).unwrap();
    // RequiredFields are checked when reopening into the queue.
    let before = dump(fx.desk.storage());
    assert_eq!(
        invalid_field(fx.desk.reopen_chat_session(&cust(&kr1), r1)),
        "CustomerName"
    );
    assert_eq!(dump(fx.desk.storage()), before);
    for bad in [6, -1, 100] {
        assert_eq!(
            invalid_field(fx.desk.finish_chat_session(&cust(&kr1), r1, bad)),
            "Rating"
        );
    }
    let e = fx.desk.finish_chat_session(&fx.sys(), r1, 5).unwrap();
    assert_eq!((e.status, e.rating), (ChatSessionStatus::Finished, 5));
    // Nobody present: reopen routes to the offline form.
    fx.present(10, false);
    let (s5, k5) = fx.customer_session(pre, "c5");
    fx.desk.close_chat_session(&cust(&k5), s5).unwrap();
    assert_eq!(
        fx.desk.reopen_chat_session(&cust(&k5), s5).unwrap().status,
        ChatSessionStatus::OfflineForm
    );
}

pub fn delete_and_purge<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    fx.member(t, 14, (false, false, true, false));
    fx.member(t, 15, (true, false, false, false));
    let (s1, k1) = fx.customer_session(t, "c1");
    let (s2, _) = fx.customer_session(t, "c2");
    pick(&fx, 10, s1);
    fx.desk
        .add_chat_message(&cust(&k1), s1, &text("hi"))
        .unwrap();
    assert_eq!(
        kind(&fx.desk.delete_chat_session_entity(&agent(10), s2)),
        Kind::Forbidden
    );
    fx.desk.delete_chat_session_entity(&agent(14), s1).unwrap();
    assert_special(&last_msg(&fx, s1), ChatMessageSpecialType::SessionDeleted);
    for ctx in [agent(10), agent(15), cust(&k1), Caller::anonymous()] {
        assert_eq!(
            kind(&fx.desk.get_chat_session_entity(&ctx, s1)),
            Kind::NotFound,
            "{ctx:?}"
        );
        assert_eq!(
            kind(&fx.desk.get_chat_messages(&ctx, s1, None, 10)),
            Kind::NotFound
        );
    }
    for ctx in [agent(14), fx.sys()] {
        let e = fx.desk.get_chat_session_entity(&ctx, s1).unwrap();
        assert_eq!(e.status, ChatSessionStatus::Deleted);
    }
    assert_eq!(
        kind(&fx.desk.delete_chat_session_entity(&fx.sys(), s1)),
        Kind::Invalid
    );
    fx.desk.delete_chat_session_entity(&fx.sys(), s2).unwrap();
    assert_eq!(kind(&fx.desk.purge(&agent(14))), Kind::Forbidden);
    fx.clock.advance_secs(24 * 3600);
    assert_eq!(
        fx.desk.purge(&fx.sys()).unwrap(),
        0,
        "not more than 24 h ago yet"
    );
    fx.clock.advance_secs(1);
    assert_eq!(fx.desk.purge(&fx.sys()).unwrap(), 2);
    assert_eq!(
        kind(&fx.desk.get_chat_session_entity(&fx.sys(), s1)),
        Kind::NotFound
    );
    assert!(msgs(&fx, s1).is_empty());
    assert_eq!(fx.desk.purge(&fx.sys()).unwrap(), 0);
}

pub fn pre_chat_and_faq_steps<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic_with("pre+faq", |t| {
        t.widget.pre_form_enabled = true;
        t.widget.auto_faq_enabled = true;
        t.widget.required_fields = "Email".parse::<CustomerFieldFlags>().unwrap();
        t.collect_consent = true;
    });
    fx.member(t, 10, (false, true, false, false));
    fx.present(10, true);
    let (s, k) = fx.customer_session(t, "c");
    assert_eq!(rec(&fx, s).status, ChatSessionStatus::PreChatForm);
    let mut form = ChatSessionEntity {
        customer_alias: "c".into(),
        customer_name: "Ann".into(),
        ..ChatSessionEntity::default()
    };
    let before = dump(fx.desk.storage());
    assert_eq!(
        invalid_field(fx.desk.submit_pre_chat_form(&cust(&k), s, &form)),
        "CustomerEmail"
    );
    form.customer_email = "ann@example.com".into();
    assert_eq!(
        invalid_field(fx.desk.submit_pre_chat_form(&cust(&k), s, &form)),
        "CustomerConsented"
    );
    form.customer_consented = true;
    form.customer_phone = "x".repeat(33);
    assert_eq!(
        invalid_field(fx.desk.submit_pre_chat_form(&cust(&k), s, &form)),
        "CustomerPhone"
    );
    assert_eq!(dump(fx.desk.storage()), before);
    form.customer_phone = "555".into();
    fx.clock.advance_secs(7);
    let e = fx.desk.submit_pre_chat_form(&cust(&k), s, &form).unwrap();
    assert_eq!(e.status, ChatSessionStatus::Faq);
    assert_eq!(
        (e.customer_name.as_str(), e.customer_phone.as_str()),
        ("Ann", "555")
    );
    assert_eq!(e.when_fetched.to_utc(), Some(now(&fx)));
    let e = fx.desk.faq_not_helped(&cust(&k), s).unwrap();
    assert_eq!(
        (e.status, e.initial_queue_pos),
        (ChatSessionStatus::InQueue, 1)
    );
    // The FAQ answers another customer.
    let (s2, k2) = fx.customer_session(t, "d");
    fx.desk.submit_pre_chat_form(&fx.sys(), s2, &form).unwrap();
    assert_eq!(
        fx.desk.faq_answered(&cust(&k2), s2).unwrap().status,
        ChatSessionStatus::Closed
    );
    assert_special(
        &last_msg(&fx, s2),
        ChatMessageSpecialType::FaqSuccessQuestion,
    );
    // Without the FAQ and nobody present: the offline form.
    let plain = fx.topic_with("pre", |t| t.widget.pre_form_enabled = true);
    let (s3, k3) = fx.customer_session(plain, "e");
    let e = fx.desk.submit_pre_chat_form(&cust(&k3), s3, &form).unwrap();
    assert_eq!(e.status, ChatSessionStatus::OfflineForm);
    fx.member(plain, 10, (false, true, false, false));
    let (s4, k4) = fx.customer_session(plain, "f");
    assert_eq!(
        fx.desk
            .submit_pre_chat_form(&cust(&k4), s4, &form)
            .unwrap()
            .status,
        ChatSessionStatus::InQueue
    );
}
