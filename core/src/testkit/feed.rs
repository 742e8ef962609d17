//! The change feed's contents: exactly one event per session for each
//! committed operation of the lifecycle table, of the most specific kind,
//! with the right status, fields, message, transfer target and actor; none
//! for a failed operation; none while the stored switch is off.

use super::{Fixture, dump};
use crate::storage::{Storage, StorageExt};
use crate::wire::{ChatMessage, ChatMessageSpecialType, ChatMessageType, ChatSessionEntity};
use crate::{
    Caller, ChatDesk, ChatEvent, ChatEventKind, ChatSessionStatus, Error, EventActor, MessageId,
    SessionId, TopicId, UserId,
};
use ChatSessionStatus::*;
use std::sync::Arc;

/// Reads what the feed holds after `cursor` and moves the cursor past it.
pub fn drain<S: Storage>(fx: &Fixture<S>, cursor: &mut i64) -> Vec<ChatEvent> {
    let list = fx
        .desk
        .events_after(&Caller::system(), *cursor, 1000)
        .unwrap();
    for e in &list {
        assert_eq!(e.seq, *cursor + 1, "sequences grow by one: {list:?}");
        *cursor = e.seq;
    }
    list
}

/// The one event the last operation wrote.
pub fn one<S: Storage>(fx: &Fixture<S>, cursor: &mut i64) -> ChatEvent {
    let mut list = drain(fx, cursor);
    assert_eq!(list.len(), 1, "exactly one event: {list:?}");
    list.remove(0)
}

/// Asserts that the last operation wrote nothing.
pub fn none<S: Storage>(fx: &Fixture<S>, cursor: &mut i64) {
    let list = drain(fx, cursor);
    assert!(list.is_empty(), "no event expected: {list:?}");
}

fn msg(text: &str) -> ChatMessage {
    ChatMessage {
        message: text.to_string(),
        ..ChatMessage::default()
    }
}

fn has(e: &ChatEvent, fields: &[&str]) {
    for f in fields {
        assert!(
            e.changes.iter().any(|c| c == f),
            "{f} not in {:?}",
            e.changes
        );
    }
}

/// A fixture with the feed on, a staffed topic (user 10 present) and user 11
/// as a second responder.
fn desk_with_feed<S: Storage>(store: S) -> (Fixture<S>, TopicId) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("feed");
    fx.member(t, 11, (true, true, false, false));
    fx.desk.set_change_feed(&fx.sys(), true).unwrap();
    (fx, t)
}

pub fn feed_is_off_by_default_and_the_switch_is_in_the_store<S: Storage>(store: S) {
    let store = Arc::new(store);
    let fx = Fixture::new(Arc::clone(&store));
    let sys = fx.sys();
    assert!(!fx.desk.change_feed_enabled(&sys).unwrap());
    let t = fx.staffed_topic("off");
    let (a, _) = fx.customer_session(t, "a");
    let mut cursor = 0;
    none(&fx, &mut cursor);
    // Switched on through one service instance: another instance over the
    // same store sees the switch and writes events.
    fx.desk.set_change_feed(&sys, true).unwrap();
    let other = ChatDesk::new(Arc::clone(&store)).with_clock(fx.clock.clone());
    assert!(other.change_feed_enabled(&sys).unwrap());
    let input = ChatSessionEntity {
        customer_alias: "b".into(),
        ..ChatSessionEntity::default()
    };
    let b = other
        .create_chat_session_for_topic(&Caller::anonymous(), t, &input)
        .unwrap();
    let e = one(&fx, &mut cursor);
    assert_eq!(
        (e.kind, e.session),
        (ChatEventKind::SessionCreated, SessionId(b.chat_session_id))
    );
    // Only System manages the feed.
    for ctx in [Caller::agent(10), Caller::anonymous()] {
        assert!(matches!(
            fx.desk.set_change_feed(&ctx, false),
            Err(Error::Forbidden { .. })
        ));
        assert!(matches!(
            fx.desk.events_after(&ctx, 0, 10),
            Err(Error::Forbidden { .. })
        ));
    }
    // Off again: nothing more is written.
    other.set_change_feed(&sys, false).unwrap();
    assert!(!fx.desk.change_feed_enabled(&sys).unwrap());
    fx.desk.pick_up_chat_session(&Caller::agent(10), a).unwrap();
    none(&fx, &mut cursor);
}

pub fn feed_events_for_a_chat<S: Storage>(store: S) {
    let (fx, t) = desk_with_feed(store);
    let mut c = 0;
    let agent = Caller::agent(10);
    let (id, key) = fx.customer_session(t, "Ann");
    let cust = Caller::customer(key.clone());

    let e = one(&fx, &mut c);
    assert_eq!(e.kind, ChatEventKind::SessionCreated);
    assert_eq!((e.session, e.topic), (id, t));
    assert_eq!(e.actor, EventActor::Customer);
    assert_eq!((e.status_before, e.status), (None, InQueue));
    assert!(e.changes.is_empty() && e.message.is_none());
    assert_eq!(
        e.at,
        crate::wire::WireDateTime::parse("2024-01-01T09:00:00Z").unwrap()
    );
    assert_eq!(e.id.len(), 36);

    fx.clock.advance_secs(5);
    let m = fx.desk.add_chat_message(&cust, id, &msg("hello")).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(e.kind, ChatEventKind::MessageAdded);
    assert_eq!(e.actor, EventActor::Customer);
    let em = e.message.unwrap();
    assert_eq!(em.id, MessageId(m.chat_message_id));
    assert_eq!(
        (em.message_type, em.special_type),
        (ChatMessageType::ToUser, ChatMessageSpecialType::None)
    );
    assert_eq!((e.status_before, e.status), (Some(InQueue), InQueue));
    has(&e, &["FirstMessage", "LastMessage", "WhenIdle"]);

    fx.desk.pick_up_chat_session(&agent, id).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(e.kind, ChatEventKind::SessionChanged);
    assert_eq!(e.actor, EventActor::Agent(UserId(10)));
    assert_eq!(
        (e.status_before, e.status, e.user),
        (Some(InQueue), UserLast, Some(UserId(10)))
    );
    has(&e, &["User", "Status", "WhenStarted", "Rank"]);

    fx.desk.add_chat_message(&agent, id, &msg("hi")).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(
        (e.kind, e.actor),
        (ChatEventKind::MessageAdded, EventActor::Agent(UserId(10)))
    );
    assert_eq!(e.message.unwrap().message_type, ChatMessageType::ToCustomer);
    assert_eq!(e.status, UserLast);

    // A customer message that also changes the status is one message event
    // carrying the new status.
    fx.desk.add_chat_message(&cust, id, &msg("thanks")).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(e.kind, ChatEventKind::MessageAdded);
    assert_eq!((e.status_before, e.status), (Some(UserLast), CustomerLast));
    has(&e, &["Status", "LastMessage"]);

    fx.desk
        .transfer_chat_session(&agent, id, UserId(11))
        .unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(e.kind, ChatEventKind::TransferRequested);
    assert_eq!(e.transfer_to, Some(UserId(11)));
    assert_eq!(e.changes, vec!["TransferTo".to_string()]);

    fx.desk
        .reject_chat_session_transfer(&Caller::agent(11), id)
        .unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(e.kind, ChatEventKind::TransferRejected);
    assert_eq!(
        (e.actor, e.transfer_to),
        (EventActor::Agent(UserId(11)), Some(UserId(11)))
    );

    fx.desk
        .transfer_chat_session(&agent, id, UserId(11))
        .unwrap();
    assert_eq!(one(&fx, &mut c).kind, ChatEventKind::TransferRequested);
    fx.desk
        .accept_chat_session_transfer(&Caller::agent(11), id)
        .unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(e.kind, ChatEventKind::TransferAccepted);
    assert_eq!(
        (e.user, e.transfer_to),
        (Some(UserId(11)), Some(UserId(11)))
    );
    has(&e, &["User", "TransferTo"]);

    // A customer's fetch writes no event.
    fx.clock.advance_secs(60);
    fx.desk.get_chat_messages(&cust, id, None, 100).unwrap();
    none(&fx, &mut c);

    fx.desk.close_chat_session(&Caller::agent(11), id).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(
        (e.kind, e.status_before, e.status),
        (ChatEventKind::SessionChanged, Some(CustomerLast), Closed)
    );
    has(&e, &["Status", "WhenEnded", "Rank"]);

    fx.desk.reopen_chat_session(&cust, id).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(
        (e.kind, e.actor, e.status),
        (ChatEventKind::SessionChanged, EventActor::Customer, InQueue)
    );

    fx.desk.close_chat_session(&cust, id).unwrap();
    assert_eq!(one(&fx, &mut c).status, ClosedFromQueue);
    let (id2, key2) = fx.customer_session(t, "Bo");
    let cust2 = Caller::customer(key2);
    assert_eq!(one(&fx, &mut c).kind, ChatEventKind::SessionCreated);
    fx.desk.pick_up_first_chat_session(&agent).unwrap();
    assert_eq!(one(&fx, &mut c).status, UserLast);
    // Saving: a change is an event naming the fields; no change, no event.
    let mut carrier = fx.desk.get_chat_session_entity(&fx.sys(), id2).unwrap();
    carrier.customer_name = "Bo Berg".into();
    fx.desk
        .save_chat_session_entity(&fx.sys(), &carrier)
        .unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(
        (e.kind, e.actor),
        (ChatEventKind::SessionChanged, EventActor::System)
    );
    assert_eq!(e.changes, vec!["CustomerName".to_string()]);
    let carrier = fx.desk.get_chat_session_entity(&fx.sys(), id2).unwrap();
    fx.desk
        .save_chat_session_entity(&fx.sys(), &carrier)
        .unwrap();
    none(&fx, &mut c);

    fx.desk.close_chat_session(&cust2, id2).unwrap();
    assert_eq!(one(&fx, &mut c).status, Closed);
    fx.desk.finish_chat_session(&cust2, id2, 0).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(
        (e.kind, e.status_before, e.status),
        (ChatEventKind::SessionChanged, Some(Closed), Finished)
    );

    fx.desk.delete_chat_session_entity(&fx.sys(), id2).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!((e.kind, e.status), (ChatEventKind::SessionDeleted, Deleted));
    fx.clock.advance_secs(25 * 3600);
    assert_eq!(fx.desk.purge(&fx.sys()).unwrap(), 1);
    let e = one(&fx, &mut c);
    assert_eq!(
        (e.kind, e.session, e.actor),
        (ChatEventKind::SessionPurged, id2, EventActor::System)
    );
    assert!(e.changes.is_empty());
}

pub fn feed_events_for_forms_bot_reset_and_sweeps<S: Storage>(store: S) {
    let (fx, staffed) = desk_with_feed(store);
    let mut c = 0;
    // Pre-chat form, then FAQ, then the queue.
    let forms = fx.topic_with("forms", |t| {
        t.widget.pre_form_enabled = true;
        t.widget.auto_faq_enabled = true;
    });
    fx.member(forms, 10, (true, true, false, false));
    let (id, key) = fx.customer_session(forms, "F");
    let cust = Caller::customer(key);
    assert_eq!(one(&fx, &mut c).status, PreChatForm);
    let form = ChatSessionEntity {
        customer_alias: "F".into(),
        customer_name: "Fay".into(),
        ..ChatSessionEntity::default()
    };
    fx.desk.submit_pre_chat_form(&cust, id, &form).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(
        (e.kind, e.status_before, e.status),
        (ChatEventKind::SessionChanged, Some(PreChatForm), Faq)
    );
    has(&e, &["CustomerName", "Status"]);
    fx.desk.faq_not_helped(&cust, id).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!((e.status_before, e.status), (Some(Faq), InQueue));
    has(&e, &["InitialQueuePos"]);
    let (id2, key2) = fx.customer_session(forms, "G");
    one(&fx, &mut c);
    let cust2 = Caller::customer(key2);
    fx.desk.submit_pre_chat_form(&cust2, id2, &form).unwrap();
    one(&fx, &mut c);
    fx.desk.faq_answered(&cust2, id2).unwrap();
    assert_eq!(one(&fx, &mut c).status, Closed);

    // The offline form: the request is a customer message event carrying
    // RequestPosted.
    let empty = fx.topic("nobody");
    let (off, key3) = fx.customer_session(empty, "O");
    assert_eq!(one(&fx, &mut c).status, OfflineForm);
    fx.desk
        .post_offline_request(&Caller::customer(key3), off, "call me")
        .unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(e.kind, ChatEventKind::MessageAdded);
    assert_eq!(
        (e.status_before, e.status),
        (Some(OfflineForm), RequestPosted)
    );
    assert_eq!(e.message.unwrap().message_type, ChatMessageType::ToUser);

    // A bot message, then the hand-off to a human (reset).
    let bot = fx.topic_with("bot", |t| t.bot_enabled = true);
    fx.member(bot, 10, (true, true, false, false));
    let (b, _) = fx.customer_session(bot, "B");
    one(&fx, &mut c);
    fx.desk
        .add_chat_message(&fx.sys(), b, &msg("I am a bot"))
        .unwrap();
    let e = one(&fx, &mut c);
    assert_eq!(
        (e.kind, e.actor),
        (ChatEventKind::MessageAdded, EventActor::System)
    );
    assert_eq!(
        e.message.unwrap().special_type,
        ChatMessageSpecialType::BotMessage
    );
    assert_eq!(e.status, UserLast);
    fx.desk.reset_chat_session(&fx.sys(), b).unwrap();
    let e = one(&fx, &mut c);
    assert_eq!((e.kind, e.status), (ChatEventKind::SessionChanged, InQueue));
    has(&e, &["ChatbotIsActive", "Status"]);

    // The alert sweep: one AlertRaised per session, with both levels.
    let alerting = fx.topic_with("alerts", |t| t.warn_new_chat_minutes = 1);
    fx.member(alerting, 10, (true, true, false, false));
    let (a, _) = fx.customer_session(alerting, "A");
    one(&fx, &mut c);
    fx.clock.advance_secs(61);
    let changes = fx.desk.alert_sweep(&fx.sys()).unwrap();
    assert_eq!(changes.len(), 1);
    let e = one(&fx, &mut c);
    assert_eq!(
        (e.kind, e.session, e.actor),
        (ChatEventKind::AlertRaised, a, EventActor::System)
    );
    assert_eq!(e.alert_level, Some((0, 1)));
    assert_eq!(e.changes, vec!["AlertLevel".to_string()]);

    // The idle sweep: every customer is gone by now; one event per session.
    fx.clock.advance_secs(3600);
    let closed = fx.desk.idle_sweep(&fx.sys()).unwrap();
    let events = drain(&fx, &mut c);
    assert_eq!(events.len(), closed.len());
    for (e, closed) in events.iter().zip(&closed) {
        assert_eq!(
            (e.kind, e.session, e.status),
            (ChatEventKind::SessionChanged, closed.session, closed.to)
        );
    }
    let _ = staffed;
}

pub fn topic_delete_writes_a_deleted_event_per_session<S: Storage>(store: S) {
    let (fx, _) = desk_with_feed(store);
    let t = fx.staffed_topic("gone");
    let (a, ka) = fx.customer_session(t, "a");
    let (b, kb) = fx.customer_session(t, "b");
    fx.desk
        .close_chat_session(&Caller::customer(ka), a)
        .unwrap();
    fx.desk
        .close_chat_session(&Caller::customer(kb), b)
        .unwrap();
    let mut c = 0;
    drain(&fx, &mut c);
    fx.desk.delete_chat_topic_entity(&fx.sys(), t).unwrap();
    let events = drain(&fx, &mut c);
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.session, e.status))
        .collect();
    assert_eq!(
        got,
        vec![
            (ChatEventKind::SessionDeleted, a, Deleted),
            (ChatEventKind::SessionDeleted, b, Deleted)
        ]
    );
}

pub fn failed_operations_add_no_events<S: Storage>(store: S) {
    let (fx, t) = desk_with_feed(store);
    let (id, key) = fx.customer_session(t, "x");
    let cust = Caller::customer(key);
    let mut c = 0;
    drain(&fx, &mut c);
    let before = (dump(fx.desk.storage()), c);
    // NotFound, Forbidden, InvalidTransition, Validation: nothing written.
    assert!(
        fx.desk
            .pick_up_chat_session(&Caller::agent(99), id)
            .is_err()
    );
    assert!(
        fx.desk
            .add_chat_message(&Caller::agent(10), id, &msg("no"))
            .is_err()
    );
    assert!(fx.desk.finish_chat_session(&cust, id, 0).is_err());
    assert!(
        fx.desk
            .add_chat_message(&cust, id, &msg(&"x".repeat(4001)))
            .is_err()
    );
    assert!(
        fx.desk
            .get_chat_session_entity(&fx.sys(), SessionId(77))
            .is_err()
    );
    assert_eq!((dump(fx.desk.storage()), c), before);
    none(&fx, &mut c);
    fx.desk
        .pick_up_chat_session(&Caller::agent(10), id)
        .unwrap();
    one(&fx, &mut c);
    assert!(matches!(
        fx.desk
            .transfer_chat_session(&Caller::agent(10), id, UserId(55)),
        Err(Error::Validation { .. })
    ));
    none(&fx, &mut c);
    // The feed's counter was not moved by the failures either: the next
    // event follows the last one.
    fx.desk.close_chat_session(&cust, id).unwrap();
    assert_eq!(one(&fx, &mut c).seq, before.1 + 2);
    // A failing storage closure takes its events with it.
    let r = fx.desk.storage().write(|tx| -> crate::Result<()> {
        tx.next_id(crate::backend::IdKind::Event)?;
        Err(Error::conflict("no"))
    });
    assert!(r.is_err());
    fx.desk.reopen_chat_session(&cust, id).unwrap();
    assert_eq!(one(&fx, &mut c).seq, before.1 + 3);
}
