//! The sweeps: alert levels and the idle / dead-customer
//! sweep, including more sessions than one batch holds.

use super::Fixture;
use super::lifecycle::{
    Kind, agent, assert_special, cust, fixture_with, kind, last_msg, msgs, rec, text,
};
use crate::backend::IdKind;
use crate::storage::{Storage, StorageExt};
use crate::wire::ChatMessageSpecialType;
use crate::wire::{ChatMessage, ChatTopicRouting, RoutingMode};
use crate::{
    AlertChange, Caller, ChatSessionStatus, Config, IdleClose, MessageId, SessionId, TopicId,
    UserId,
};
use ChatSessionStatus::*;

fn alerts<S: Storage>(fx: &Fixture<S>) -> Vec<(SessionId, i32, i32)> {
    let mut v: Vec<_> = fx
        .desk
        .alert_sweep(&fx.sys())
        .unwrap()
        .into_iter()
        .map(|c: AlertChange| (c.session, c.old, c.new))
        .collect();
    v.sort_unstable();
    v
}

fn idle<S: Storage>(fx: &Fixture<S>) -> Vec<(SessionId, ChatSessionStatus, ChatSessionStatus)> {
    let mut v: Vec<_> = fx
        .desk
        .idle_sweep(&fx.sys())
        .unwrap()
        .into_iter()
        .map(|c: IdleClose| (c.session, c.from, c.to))
        .collect();
    v.sort_unstable_by_key(|c| c.0);
    v
}

fn warn_topic<S: Storage>(fx: &Fixture<S>, name: &str, limits: [i32; 4], bot: bool) -> TopicId {
    let t = fx.topic_with(name, |t| {
        t.warn_new_chat_minutes = limits[0];
        t.warn_manager_new_chat_minutes = limits[1];
        t.warn_chat_message_minutes = limits[2];
        t.warn_manager_chat_message_minutes = limits[3];
        t.bot_enabled = bot;
    });
    fx.member(t, 10, (false, true, false, false));
    t
}

/// Sets the clock to `start` + `secs`.
fn at<S: Storage>(fx: &Fixture<S>, start: chrono::DateTime<chrono::Utc>, secs: i64) {
    fx.clock.set(start + chrono::Duration::seconds(secs));
}

pub fn alert_levels_in_the_human_queue<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    fx.present(10, true);
    let t = warn_topic(&fx, "t", [2, 5, 0, 0], false);
    let off = warn_topic(&fx, "off", [0, 0, 0, 0], false);
    let mgr = warn_topic(&fx, "manager only", [0, 3, 0, 0], false);
    let bot = warn_topic(&fx, "bot", [1, 2, 1, 2], true);
    let start = super::lifecycle::now(&fx);
    let (s1, _) = fx.customer_session(t, "s1");
    let (o, _) = fx.customer_session(off, "o");
    let (m, _) = fx.customer_session(mgr, "m");
    let (b, _) = fx.customer_session(bot, "b");
    at(&fx, start, 119);
    assert!(alerts(&fx).is_empty());
    at(&fx, start, 120);
    let changes = fx.desk.alert_sweep(&fx.sys()).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (
            changes[0].session,
            changes[0].topic,
            changes[0].old,
            changes[0].new
        ),
        (s1, t, 0, 1)
    );
    assert_eq!(rec(&fx, s1).alert_level, 1);
    assert!(alerts(&fx).is_empty(), "no change, nothing returned");
    at(&fx, start, 300);
    let (s2, _) = fx.customer_session(t, "s2");
    // Manager-only (level 1 off): straight from 0 to 2.
    assert_eq!(alerts(&fx), vec![(s1, 1, 2), (m, 0, 2)]);
    // Both limits passed at once: one change 0 → 2.
    at(&fx, start, 20 * 60);
    assert_eq!(alerts(&fx), vec![(s2, 0, 2)]);
    assert_eq!(
        (rec(&fx, o).alert_level, rec(&fx, b).alert_level),
        (0, 0),
        "off; bot-owned"
    );
    // Never drops inside a sweep, even when the clock jumps back.
    at(&fx, start, 60);
    assert!(alerts(&fx).is_empty());
    assert_eq!(rec(&fx, s1).alert_level, 2);
    // Pick-up drops it to 0 and a (re-)entry starts from 0.
    at(&fx, start, 21 * 60);
    let e = fx
        .desk
        .pick_up_chat_session(&agent(10), s1)
        .unwrap()
        .unwrap();
    assert_eq!(e.alert_level, 0);
    fx.desk.reset_chat_session(&fx.sys(), b).unwrap();
    assert_eq!(rec(&fx, b).alert_level, 0);
    assert!(alerts(&fx).is_empty(), "b entered the human queue just now");
    at(&fx, start, 22 * 60);
    assert_eq!(alerts(&fx), vec![(b, 0, 1)]);
    // Only System sweeps.
    assert_eq!(kind(&fx.desk.alert_sweep(&agent(10))), Kind::Forbidden);
}

pub fn alert_levels_for_unanswered_customers<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    fx.present(10, true);
    let t = warn_topic(&fx, "t", [0, 0, 1, 3], false);
    let bot = warn_topic(&fx, "bot", [0, 0, 1, 3], true);
    let start = super::lifecycle::now(&fx);
    let (s, k) = fx.customer_session(t, "c");
    fx.desk
        .pick_up_chat_session(&agent(10), s)
        .unwrap()
        .unwrap();
    let (b, bk) = fx.customer_session(bot, "b");
    fx.desk
        .add_chat_message(&fx.sys(), b, &text("bot"))
        .unwrap();
    fx.desk
        .add_chat_message(&cust(&bk), b, &text("hi bot"))
        .unwrap();
    at(&fx, start, 600);
    assert!(alerts(&fx).is_empty(), "UserLast raises none");
    fx.desk
        .add_chat_message(&cust(&k), s, &text("hello?"))
        .unwrap();
    at(&fx, start, 630);
    fx.desk
        .add_chat_message(&cust(&k), s, &text("anyone?"))
        .unwrap();
    at(&fx, start, 659);
    assert!(alerts(&fx).is_empty());
    at(&fx, start, 660);
    assert_eq!(
        alerts(&fx),
        vec![(s, 0, 1)],
        "from the oldest unanswered message"
    );
    at(&fx, start, 780);
    assert_eq!(alerts(&fx), vec![(s, 1, 2)]);
    fx.desk
        .add_chat_message(&agent(10), s, &text("here"))
        .unwrap();
    assert_eq!(rec(&fx, s).alert_level, 0, "an agent's answer");
    at(&fx, start, 840);
    fx.desk
        .add_chat_message(&cust(&k), s, &text("thanks"))
        .unwrap();
    at(&fx, start, 899);
    assert!(alerts(&fx).is_empty());
    at(&fx, start, 900);
    assert_eq!(alerts(&fx), vec![(s, 0, 1)]);
    // A CustomerLast chat the bot runs (no User) raises none.
    at(&fx, start, 7200);
    assert_eq!(alerts(&fx), vec![(s, 1, 2)]);
    let r = rec(&fx, b);
    assert_eq!((r.status, r.alert_level), (CustomerLast, 0));
    // Re-entering the queue (reset) starts again from 0.
    let e = fx.desk.reset_chat_session(&fx.sys(), s).unwrap();
    assert_eq!((e.status, e.alert_level), (InQueue, 0));
    at(&fx, start, 3 * 3600);
    assert!(
        alerts(&fx).is_empty(),
        "new-chat warnings are off in this topic"
    );
}

pub fn idle_sweep_closes_idle_chats<S: Storage>(store: S) {
    let config = Config {
        dead_customer: std::time::Duration::ZERO,
        ..Config::default()
    };
    let (fx, _) = fixture_with(store, config);
    let t = fx.staffed_topic("t");
    let start = super::lifecycle::now(&fx);
    let (a, ka) = fx.customer_session(t, "a");
    let (d, kd) = fx.customer_session(t, "d");
    let (q, _) = fx.customer_session(t, "q");
    fx.desk
        .pick_up_chat_session(&agent(10), a)
        .unwrap()
        .unwrap();
    fx.desk
        .add_chat_message(&cust(&kd), d, &text("waiting"))
        .unwrap();
    at(&fx, start, 300);
    fx.desk
        .add_chat_message(&cust(&ka), a, &text("hm"))
        .unwrap();
    at(&fx, start, 20 * 60);
    // d's WhenIdle (0) is older than its WhenStarted (20 min): the latest counts.
    fx.desk
        .pick_up_chat_session(&agent(10), d)
        .unwrap()
        .unwrap();
    at(&fx, start, 35 * 60 - 1);
    assert!(idle(&fx).is_empty());
    at(&fx, start, 35 * 60);
    assert_eq!(idle(&fx), vec![(a, CustomerLast, Closed)]);
    let r = rec(&fx, a);
    assert_eq!(
        (r.status, r.rank, r.when_ended),
        (Closed, 0, Some(fx.desk.now()))
    );
    assert_special(&last_msg(&fx, a), ChatMessageSpecialType::ClosedByIdle);
    at(&fx, start, 50 * 60);
    assert_eq!(idle(&fx), vec![(d, UserLast, Closed)]);
    // Not active, and the dead-customer limit is off: the queued one stays.
    at(&fx, start, 5 * 3600);
    assert!(idle(&fx).is_empty());
    assert_eq!(rec(&fx, q).status, InQueue);
    assert_eq!(kind(&fx.desk.idle_sweep(&agent(10))), Kind::Forbidden);
}

pub fn idle_sweep_closes_when_the_customer_is_gone<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let pre = fx.topic_with("pre", |t| t.widget.pre_form_enabled = true);
    let offline = fx.topic("offline");
    let start = super::lifecycle::now(&fx);
    let (q1, _) = fx.customer_session(t, "q1");
    let (q2, k2) = fx.customer_session(t, "q2");
    let (p, _) = fx.customer_session(pre, "p");
    let (o, _) = fx.customer_session(offline, "o");
    let (a, ka) = fx.customer_session(t, "a");
    let (c, kc) = fx.customer_session(t, "c");
    fx.desk.close_chat_session(&cust(&kc), c).unwrap();
    fx.desk
        .pick_up_chat_session(&agent(10), a)
        .unwrap()
        .unwrap();
    at(&fx, start, 120);
    fx.desk.get_chat_messages(&cust(&k2), q2, None, 10).unwrap();
    fx.desk.get_chat_messages(&cust(&ka), a, None, 10).unwrap();
    // A clock jumping back: negative durations count as 0.
    at(&fx, start, -3600);
    assert!(idle(&fx).is_empty());
    at(&fx, start, 179);
    assert!(idle(&fx).is_empty());
    at(&fx, start, 180);
    assert_eq!(
        idle(&fx),
        vec![
            (q1, InQueue, ClosedFromQueue),
            (p, PreChatForm, Closed),
            (o, OfflineForm, Closed)
        ]
    );
    for id in [q1, p, o] {
        assert_special(&last_msg(&fx, id), ChatMessageSpecialType::ClosedByIdle);
        assert_eq!(rec(&fx, id).when_ended, Some(fx.desk.now()));
    }
    at(&fx, start, 300);
    assert_eq!(
        idle(&fx),
        vec![(q2, InQueue, ClosedFromQueue), (a, UserLast, Closed)]
    );
    assert_eq!(msgs(&fx, c).len(), 1, "ended sessions are left alone");
    assert!(idle(&fx).is_empty());
}

/// More sessions than one batch (256) holds, written in bulk.
pub fn sweeps_cover_more_than_one_batch<S: Storage>(store: S) {
    const N: usize = 300;
    let fx = Fixture::new(store);
    let t = fx.topic_with("busy", |t| {
        t.warn_new_chat_minutes = 1;
        t.warn_manager_new_chat_minutes = 2;
    });
    let now = fx.desk.now();
    let ids: Vec<SessionId> = fx
        .desk
        .storage()
        .write(|tx| {
            let mut ids = Vec::new();
            for _ in 0..N {
                let id = i32::try_from(tx.next_id(IdKind::Session)?).unwrap();
                let mut r = super::storage::record(id, t.0, InQueue);
                r.queue_seq = Some(u64::try_from(tx.next_id(IdKind::QueueSeq)?).unwrap());
                r.queue_entered = Some(now);
                r.when_requested = now;
                tx.put_session(&r)?;
                ids.push(r.id);
            }
            Ok(ids)
        })
        .unwrap();
    fx.clock.advance_secs(3600);
    let changes = alerts(&fx);
    assert_eq!(changes.len(), N);
    assert!(changes.iter().zip(&ids).all(|(c, id)| *c == (*id, 0, 2)));
    assert!(alerts(&fx).is_empty());
    let closed = idle(&fx);
    assert_eq!(closed.len(), N);
    assert!(
        closed
            .iter()
            .zip(&ids)
            .all(|(c, id)| *c == (*id, InQueue, ClosedFromQueue))
    );
    let last = *ids.last().unwrap();
    assert_eq!(fx.desk.get_queue_position(&fx.sys(), last).unwrap(), None);
    let specials = fx
        .desk
        .storage()
        .read(|tx| {
            let mut n = 0;
            for id in &ids {
                let m = tx.messages(*id, MessageId(0), 10)?;
                assert_eq!(m.len(), 1);
                assert_eq!(m[0].special, ChatMessageSpecialType::ClosedByIdle);
                n += 1;
            }
            Ok(n)
        })
        .unwrap();
    assert_eq!(specials, N);
    assert!(idle(&fx).is_empty());
}

/// the rules: an idle sweep commits in batches of at most 256
/// sessions, and each batch ends with one routing pass. A sweep that closes
/// fewer than 256 sessions is one batch, so its one pass sees every agent
/// the sweep freed, whatever the statuses of the chats it closed: the first
/// waiting session goes to the freed agent LeastBusy chooses (equal loads:
/// the earlier last assignment), the next one to the other.
pub fn idle_sweep_routes_once_per_batch<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let t = fx.topic("routed");
    for u in [1, 2] {
        fx.member(t, u, (true, true, false, false));
        fx.present(u, true);
    }
    let routing = ChatTopicRouting {
        mode: RoutingMode::Auto,
        default_capacity: 1,
        ..ChatTopicRouting::defaults_for(t)
    };
    fx.desk.save_chat_topic_routing(&sys, &routing).unwrap();
    // B goes to agent 1 (nobody assigned yet: the lowest id), A a second
    // later to agent 2; A's customer writes (CustomerLast), B stays UserLast.
    let (b, _) = fx.customer_session(t, "b");
    fx.clock.advance_secs(1);
    let (a, a_key) = fx.customer_session(t, "a");
    let hello = ChatMessage {
        message: "hello".into(),
        ..ChatMessage::default()
    };
    fx.desk
        .add_chat_message(&Caller::customer(a_key), a, &hello)
        .unwrap();
    let user = |id| fx.desk.get_chat_session_entity(&sys, id).unwrap().user_id();
    assert_eq!((user(b), user(a)), (Some(UserId(1)), Some(UserId(2))));
    // C and D wait (both agents are at capacity); then A's and B's
    // customers are gone (190 s, 191 s unseen), C's and D's are not (20 s).
    fx.clock.advance_secs(170);
    let (c, _) = fx.customer_session(t, "c");
    let (d, _) = fx.customer_session(t, "d");
    assert_eq!((user(c), user(d)), (None, None));
    fx.clock.advance_secs(20);
    assert_eq!(
        idle(&fx),
        vec![(b, UserLast, Closed), (a, CustomerLast, Closed)]
    );
    assert_eq!((user(c), user(d)), (Some(UserId(1)), Some(UserId(2))));
}

/// The idle sweep's batches hold open sessions of every status, by id: more
/// than one batch of mixed statuses comes back whole and in id order.
pub fn idle_sweep_batches_mix_statuses<S: Storage>(store: S) {
    const N: usize = 600;
    let fx = Fixture::new(store);
    let t = fx.topic("mixed");
    let now = fx.desk.now();
    let open = [
        PreChatForm,
        Faq,
        OfflineForm,
        InQueue,
        CustomerLast,
        UserLast,
    ];
    let made: Vec<(SessionId, ChatSessionStatus)> = fx
        .desk
        .storage()
        .write(|tx| {
            let mut made = Vec::new();
            for k in 0..N {
                let id = i32::try_from(tx.next_id(IdKind::Session)?).unwrap();
                // Runs of one status, of uneven lengths, so that each
                // status's pages end at different places.
                let status = open[(k / (k % 7 + 1)) % open.len()];
                let mut r = super::storage::record(id, t.0, status);
                r.when_requested = now;
                if status == InQueue {
                    r.queue_seq = Some(u64::try_from(tx.next_id(IdKind::QueueSeq)?).unwrap());
                    r.queue_entered = Some(now);
                }
                if matches!(status, CustomerLast | UserLast) {
                    r.user = Some(UserId(10));
                    r.rank = id;
                    r.when_started = Some(now);
                }
                tx.put_session(&r)?;
                made.push((r.id, status));
            }
            Ok(made)
        })
        .unwrap();
    fx.clock.advance_secs(3600);
    let closed: Vec<(SessionId, ChatSessionStatus)> = fx
        .desk
        .idle_sweep(&fx.sys())
        .unwrap()
        .into_iter()
        .map(|c| (c.session, c.from))
        .collect();
    assert_eq!(closed, made);
    assert!(idle(&fx).is_empty());
}
