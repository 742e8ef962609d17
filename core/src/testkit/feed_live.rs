//! The change feed in use: cursors and pruning, many writers, waking a
//! waiter, the webhook form, and the before-save message hook.

use super::feed::drain;
use super::{Fixture, dump};
use crate::wire::{ChatMessage, ChatMessageSpecialType, ChatMessageType};
use crate::{
    Caller, ChatDesk, ChatEventKind, Error, HookDecision, MessageDraft, MessageId, SessionId,
    Storage, TopicId,
};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier, OnceLock, Weak};
use std::time::{Duration, Instant};

const THREADS: usize = 8;
const PER_THREAD: usize = 6;

fn msg(text: &str) -> ChatMessage {
    ChatMessage {
        message: text.to_string(),
        ..ChatMessage::default()
    }
}

fn feed_on<S: Storage>(fx: &Fixture<S>) -> TopicId {
    let t = fx.staffed_topic("live");
    fx.desk.set_change_feed(&fx.sys(), true).unwrap();
    t
}

pub fn cursors_resume_and_pruning_keeps_the_rest<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = feed_on(&fx);
    let sys = fx.sys();
    for i in 0..10 {
        fx.customer_session(t, &format!("c{i}"));
    }
    // Reading in pages of 3 from a stored cursor: everything once, in order.
    let mut cursor = 0;
    let mut seen = Vec::new();
    loop {
        let page = fx.desk.events_after(&sys, cursor, 3).unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        seen.extend(page.iter().map(|e| e.seq));
    }
    assert_eq!(seen, (1..=10).collect::<Vec<i64>>());
    assert!(fx.desk.events_after(&sys, 10, 5).unwrap().is_empty());
    assert!(fx.desk.events_after(&sys, -5, 1).unwrap()[0].seq == 1);
    assert!(fx.desk.events_after(&sys, 0, 0).unwrap().is_empty());
    assert!(matches!(
        fx.desk.events_after(&sys, 0, 1001),
        Err(Error::Validation { .. })
    ));
    // Event ids are distinct UUIDs.
    let ids: BTreeSet<String> = fx
        .desk
        .events_after(&sys, 0, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), 10);
    // Pruning through a cursor removes exactly what is at or before it.
    assert_eq!(fx.desk.prune_events_before(&sys, 4).unwrap(), 4);
    assert_eq!(fx.desk.prune_events_before(&sys, 4).unwrap(), 0);
    assert_eq!(fx.desk.events_after(&sys, 0, 1).unwrap()[0].seq, 5);
    // By age: the events of two hours ago go, the fresh ones stay, and the
    // sequence goes on (never reused).
    fx.clock.advance_secs(2 * 3600);
    fx.customer_session(t, "late");
    assert_eq!(
        fx.desk
            .prune_events_older_than(&sys, Duration::from_secs(3600))
            .unwrap(),
        6
    );
    let rest = fx.desk.events_after(&sys, 0, 100).unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [11]);
    assert!(matches!(
        fx.desk.prune_events_before(&Caller::agent(10), 100),
        Err(Error::Forbidden { .. })
    ));
    // Nothing prunes behind the host's back: purge and sweeps leave them.
    fx.desk.purge(&sys).unwrap();
    fx.desk.idle_sweep(&sys).unwrap();
    assert_eq!(fx.desk.events_after(&sys, 0, 1).unwrap()[0].seq, 11);
}

pub fn eight_writers_give_a_gap_free_feed_with_every_acknowledged_event<S: Storage>(store: S) {
    let fx = Arc::new(Fixture::new(store));
    let t = feed_on(&fx);
    let start = Arc::new(Barrier::new(THREADS + 2));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A reader follows the feed while it is written: it must never see a
    // later event before an earlier one.
    let reader = {
        let (fx, start, done) = (Arc::clone(&fx), Arc::clone(&start), Arc::clone(&done));
        std::thread::spawn(move || {
            start.wait();
            let mut cursor = 0;
            let mut seen = 0usize;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                loop {
                    let page = fx.desk.events_after(&Caller::system(), cursor, 50).unwrap();
                    if page.is_empty() {
                        break;
                    }
                    for e in page {
                        assert_eq!(e.seq, cursor + 1, "a gap seen while writing");
                        cursor = e.seq;
                        seen += 1;
                    }
                }
                if finished {
                    return seen;
                }
                std::thread::yield_now();
            }
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (fx, start) = (Arc::clone(&fx), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let mut acked = Vec::new();
                for j in 0..PER_THREAD {
                    let (id, key) = fx.customer_session(t, &format!("t{i}-{j}"));
                    let m = fx
                        .desk
                        .add_chat_message(&Caller::customer(key), id, &msg("hello"))
                        .unwrap();
                    acked.push((id, MessageId(m.chat_message_id)));
                }
                acked
            })
        })
        .collect();
    start.wait();
    let acked: Vec<(SessionId, MessageId)> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let followed = reader.join().unwrap();
    let mut cursor = 0;
    let all = drain(&fx, &mut cursor);
    assert_eq!(all.len(), THREADS * PER_THREAD * 2);
    assert_eq!(followed, all.len());
    let mut created = BTreeSet::new();
    let mut messages = BTreeMap::new();
    for e in &all {
        match e.kind {
            ChatEventKind::SessionCreated => assert!(created.insert(e.session)),
            ChatEventKind::MessageAdded => {
                let m = e.message.unwrap();
                assert!(created.contains(&e.session), "message before its session");
                assert!(messages.insert(m.id, e.session).is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for (id, m) in acked {
        assert!(created.contains(&id));
        assert_eq!(messages.get(&m), Some(&id));
    }
}

pub fn wait_for_events_wakes_after_a_commit<S: Storage>(store: S) {
    let fx = Arc::new(Fixture::new(store));
    let t = feed_on(&fx);
    let sys = fx.sys();
    // Nothing there: the wait ends at its timeout, empty.
    let began = Instant::now();
    let none = fx
        .desk
        .wait_for_events(&sys, 0, 10, Duration::from_millis(50))
        .unwrap();
    assert!(none.is_empty() && began.elapsed() >= Duration::from_millis(50));
    // A waiter wakes when another thread's operation commits.
    let waiter = {
        let fx = Arc::clone(&fx);
        std::thread::spawn(move || {
            let began = Instant::now();
            let got = fx
                .desk
                .wait_for_events(&Caller::system(), 0, 10, Duration::from_secs(30))
                .unwrap();
            (got, began.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let (id, _) = fx.customer_session(t, "w");
    let (got, took) = waiter.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].kind, got[0].session),
        (ChatEventKind::SessionCreated, id)
    );
    assert!(took < Duration::from_secs(20), "woke after {took:?}");
    // Something already after the cursor: no waiting at all.
    let began = Instant::now();
    let got = fx
        .desk
        .wait_for_events(&sys, 0, 10, Duration::from_secs(30))
        .unwrap();
    assert_eq!(got.len(), 1);
    assert!(began.elapsed() < Duration::from_secs(20));
}

pub fn webhook_json_has_superoffice_envelope<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = feed_on(&fx);
    let (id, key) = fx.customer_session(t, "Ann");
    fx.desk
        .pick_up_chat_session(&Caller::agent(10), id)
        .unwrap();
    fx.desk
        .add_chat_message(&Caller::agent(10), id, &msg("hi"))
        .unwrap();
    fx.desk
        .add_chat_message(&Caller::customer(key), id, &msg("yo"))
        .unwrap();
    let mut c = 0;
    let events = drain(&fx, &mut c);
    let hooks: Vec<serde_json::Value> = events.iter().map(|e| e.to_webhook_json()).collect();
    for h in &hooks {
        let keys: Vec<&str> = h.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "EventId",
                "Timestamp",
                "Event",
                "Entity",
                "PrimaryKey",
                "Changes",
                "FieldValues",
                "ChangedByAssociateId"
            ]
        );
        let uuid = h["EventId"].as_str().unwrap();
        assert_eq!(
            crate::model::format_uuid(&crate::model::parse_uuid(uuid).unwrap()),
            uuid
        );
        assert_eq!(&uuid[14..15], "4", "UUID v4: {uuid}");
        assert!("89ab".contains(&uuid[19..20]), "RFC 4122 variant: {uuid}");
        assert_eq!(h["Timestamp"], "2024-01-01T09:00:00.0000000+00:00");
        assert_eq!(h["Entity"], "chatsession");
        assert_eq!(h["PrimaryKey"], id.0);
        assert_eq!(h["FieldValues"]["ChatSessionId"], id.0);
        assert_eq!(h["FieldValues"]["TopicId"], t.0);
    }
    let events_names: Vec<&str> = hooks.iter().map(|h| h["Event"].as_str().unwrap()).collect();
    assert_eq!(
        events_names,
        [
            "chatsession.created",
            "chatsession.changed",
            "chatsession.message",
            "chatsession.message"
        ]
    );
    let by: Vec<i64> = hooks
        .iter()
        .map(|h| h["ChangedByAssociateId"].as_i64().unwrap())
        .collect();
    assert_eq!(by, [0, 10, 10, 0]);
    assert_eq!(hooks[1]["FieldValues"]["Status"], "UserLast");
    assert_eq!(hooks[1]["FieldValues"]["PreviousStatus"], "InQueue");
    assert!(
        hooks[1]["Changes"]
            .as_array()
            .unwrap()
            .contains(&"User".into())
    );
    assert_eq!(hooks[3]["FieldValues"]["Type"], "ToUser");
    assert_eq!(hooks[3]["FieldValues"]["SpecialType"], "None");
    assert_eq!(hooks[3]["FieldValues"]["Status"], "CustomerLast");
    assert!(hooks[3]["FieldValues"]["ChatMessageId"].as_i64().unwrap() > 0);
}

pub fn message_hook_rewrites_and_rejects<S: Storage>(store: S) {
    let seen: Arc<Mutex<Vec<(ChatMessageType, ChatMessageSpecialType, String)>>> = Arc::default();
    let log = Arc::clone(&seen);
    let clock = crate::ManualClock::at_default();
    let desk = ChatDesk::new(store)
        .with_clock(clock.clone())
        .with_message_hook(move |d: &mut MessageDraft| {
            log.lock()
                .push((d.message_type(), d.special_type(), d.text().to_string()));
            if d.text().contains("spam") {
                return HookDecision::Reject(format!("spam in session {}", d.session()));
            }
            if d.text().contains("darn") {
                let clean = d.text().replace("darn", "****");
                d.set_text(clean);
            }
            if d.text() == "pick" {
                d.set_special_type(ChatMessageSpecialType::ClickedOption);
            }
            if d.text() == "long" {
                d.set_text("y".repeat(4001));
            }
            HookDecision::Accept
        });
    let fx = Fixture { desk, clock };
    let t = feed_on(&fx);
    let (id, key) = fx.customer_session(t, "h");
    let cust = Caller::customer(key);
    let m = fx
        .desk
        .add_chat_message(&cust, id, &msg("oh darn"))
        .unwrap();
    assert_eq!(m.message, "oh ****");
    let stored = fx.desk.get_chat_messages(&fx.sys(), id, None, 10).unwrap();
    assert_eq!(stored[0].message, "oh ****");
    let rec = super::lifecycle::rec(&fx, id);
    assert_eq!(rec.first_message, "oh ****");
    let m = fx.desk.add_chat_message(&cust, id, &msg("pick")).unwrap();
    assert_eq!(m.special_type, ChatMessageSpecialType::ClickedOption);
    // A refusal: Rejected with the reason, nothing written, no event.
    let mut c = 0;
    drain(&fx, &mut c);
    let before = dump(fx.desk.storage());
    match fx.desk.add_chat_message(&cust, id, &msg("buy spam")) {
        Err(Error::Rejected { reason }) => assert_eq!(reason, format!("spam in session {id}")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        fx.desk.add_chat_message(&cust, id, &msg("long")),
        Err(Error::Validation { field, .. }) if field == "Message"
    ));
    assert_eq!(dump(fx.desk.storage()), before);
    assert!(drain(&fx, &mut c).is_empty());
    // It sees the lifecycle's own messages too (a close by the agent).
    fx.desk
        .pick_up_chat_session(&Caller::agent(10), id)
        .unwrap();
    fx.desk.close_chat_session(&Caller::agent(10), id).unwrap();
    let last = seen.lock().last().cloned().unwrap();
    assert_eq!(
        (last.0, last.1),
        (
            ChatMessageType::Special,
            ChatMessageSpecialType::ClosedByUser
        )
    );
    let kinds: Vec<_> = drain(&fx, &mut c).iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ChatEventKind::SessionChanged, ChatEventKind::SessionChanged]
    );
}

/// A hook that calls back into its own service, and what the calls gave.
type Calls = Arc<Mutex<Vec<String>>>;

pub fn reentrant_call_from_the_hook_is_conflict<S: Storage>(store: S) {
    let slot: Arc<OnceLock<Weak<ChatDesk<S>>>> = Arc::new(OnceLock::new());
    let calls: Calls = Arc::default();
    let (hook_slot, hook_calls) = (Arc::clone(&slot), Arc::clone(&calls));
    let clock = crate::ManualClock::at_default();
    let desk = ChatDesk::new(store)
        .with_clock(clock.clone())
        .with_message_hook(move |d: &mut MessageDraft| {
            let Some(desk) = hook_slot.get().and_then(Weak::upgrade) else {
                return HookDecision::Accept;
            };
            let sys = Caller::system();
            let read = desk.get_chat_session_entity(&sys, d.session());
            let write = desk.close_chat_session(&sys, d.session());
            let feed = desk.events_after(&sys, 0, 1);
            let mut log = hook_calls.lock();
            for r in [read.map(|_| ()), write.map(|_| ()), feed.map(|_| ())] {
                log.push(match r {
                    Err(Error::Conflict { .. }) => "conflict".to_string(),
                    other => format!("{other:?}"),
                });
            }
            HookDecision::Accept
        });
    let desk = Arc::new(desk);
    slot.set(Arc::downgrade(&desk)).ok();
    let fx_t = {
        let t = {
            let mut e = desk.create_default_chat_topic_entity(&Caller::system());
            e.name = "re".into();
            desk.save_chat_topic_entity(&Caller::system(), &e).unwrap()
        };
        TopicId(t.chat_topic_id)
    };
    let input = crate::ChatSessionEntity {
        customer_alias: "r".into(),
        ..Default::default()
    };
    let s = desk
        .create_chat_session_for_topic(&Caller::anonymous(), fx_t, &input)
        .unwrap();
    let cust = Caller::customer(s.session_key.clone());
    let id = SessionId(s.chat_session_id);
    // The topic has nobody present: OfflineForm; the request is a message.
    desk.post_offline_request(&cust, id, "call me").unwrap();
    assert_eq!(*calls.lock(), ["conflict", "conflict", "conflict"]);
    // The service still works afterwards, from any thread.
    let again = desk.get_chat_session_entity(&Caller::system(), id).unwrap();
    assert_eq!(again.status, crate::ChatSessionStatus::RequestPosted);
    let _ = clock;
}

/// A message hook that writes through a second service instance on the
/// same store would wait for its own transaction forever: the write gets
/// Conflict instead (reads from a second instance still work where the
/// backend allows reads beside an open write, or get Conflict; never a hang).
pub fn hook_calling_a_second_instance_is_conflict_not_deadlock<S: Storage>(store: S) {
    let store = Arc::new(store);
    let second = Arc::new(ChatDesk::new(Arc::clone(&store)));
    let calls: Calls = Arc::default();
    let (hook_second, hook_calls) = (Arc::clone(&second), Arc::clone(&calls));
    let desk = ChatDesk::new(Arc::clone(&store)).with_message_hook(move |d: &mut MessageDraft| {
        let sys = Caller::system();
        let write = hook_second.close_chat_session(&sys, d.session());
        let read = hook_second.get_chat_session_entity(&sys, d.session());
        let mut log = hook_calls.lock();
        log.push(match write {
            Err(Error::Conflict { .. }) => "conflict".to_string(),
            other => format!("{other:?}"),
        });
        log.push(match read {
            Ok(_) | Err(Error::Conflict { .. }) => "read ok or conflict".to_string(),
            other => format!("{other:?}"),
        });
        HookDecision::Accept
    });
    let t = {
        let mut e = desk.create_default_chat_topic_entity(&Caller::system());
        e.name = "two".into();
        desk.save_chat_topic_entity(&Caller::system(), &e)
            .unwrap()
            .id()
    };
    let input = crate::ChatSessionEntity {
        customer_alias: "r".into(),
        ..Default::default()
    };
    let s = desk
        .create_chat_session_for_topic(&Caller::anonymous(), t, &input)
        .unwrap();
    let cust = Caller::customer(s.session_key.clone());
    desk.post_offline_request(&cust, s.id(), "call me").unwrap();
    assert_eq!(*calls.lock(), ["conflict", "read ok or conflict"]);
    // Both instances work afterwards.
    let again = second
        .get_chat_session_entity(&Caller::system(), s.id())
        .unwrap();
    assert_eq!(again.status, crate::ChatSessionStatus::RequestPosted);
}
