//! A damaged record read through the service (a versioned store, no panic on
//! any input): every operation that reads it fails with `Corrupt`, writes
//! nothing (no silent rewrite, no id used), and the rest of the store keeps
//! working. Storage-level decoding, foreign, newer and garbage stores are in
//! `format.rs`.

mod common;

use chatdesk::testkit::Fixture;
use chatdesk::{Caller, Error, TranscriptFormat, UserId};
use chatdesk::{ChatMessage, ChatSessionStatus};
use chatdesk_sled::{SledOptions, SledStorage};
use common::{TreeDump, dump_trees};
use std::path::Path;
use std::sync::Arc;

fn corrupt<T>(what: &str, r: chatdesk::Result<T>, needle: &str) {
    match r {
        Err(Error::Corrupt { what: w }) => assert!(w.contains(needle), "{what}: {w}"),
        Ok(_) => panic!("{what}: expected Corrupt naming {needle}, got Ok"),
        Err(e) => panic!("{what}: expected Corrupt naming {needle}, got {e:?}"),
    }
}

/// A sled key: one prefix byte, then i32s that sort like their values (the
/// layout in `storage-sled/src/keys.rs`).
fn key(prefix: u8, ints: &[i32]) -> Vec<u8> {
    let mut k = vec![prefix];
    for i in ints {
        k.extend_from_slice(&(i.cast_unsigned() ^ 0x8000_0000).to_be_bytes());
    }
    k
}

const SESSION: u8 = 0x06;
const MESSAGE: u8 = 0x0C;

/// Every tree's keys and values (the store must be closed).
fn raw_dump(path: &Path) -> Vec<TreeDump> {
    let db = chatdesk_sled::testing::open_raw(path).unwrap();
    let all = dump_trees(&db);
    db.flush().unwrap();
    all
}

fn with_desk<R>(path: &Path, f: impl FnOnce(&Fixture<Arc<SledStorage>>) -> R) -> R {
    let store = Arc::new(SledStorage::open(path, SledOptions::default()).unwrap());
    let fx = Fixture::new(Arc::clone(&store));
    let r = f(&fx);
    drop(fx);
    Arc::into_inner(store).unwrap().close().unwrap();
    r
}

#[test]
fn a_damaged_session_row_is_corrupt_through_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let agent = Caller::agent(UserId(10));
    let sys = Caller::system();
    let m = ChatMessage {
        message: "hello".into(),
        ..ChatMessage::default()
    };
    let (bad, chat, chat_key, fine, last_msg) = with_desk(path, |fx| {
        let topic = fx.staffed_topic("t");
        let (bad, _) = fx.customer_session(topic, "bad");
        let (chat, chat_key) = fx.customer_session(topic, "chat");
        let (fine, _) = fx.customer_session(topic, "fine");
        fx.desk.pick_up_chat_session(&agent, chat).unwrap().unwrap();
        fx.desk
            .add_chat_message(&Caller::customer(chat_key.clone()), chat, &m)
            .unwrap();
        let last = fx.desk.add_chat_message(&agent, chat, &m).unwrap();
        (bad, chat, chat_key, fine, last.chat_message_id)
    });

    // Damage: the row of `bad` (still in the queue index) and the last message
    // of `chat` no longer decode (right version byte, garbage after it).
    {
        let db = chatdesk_sled::testing::open_raw(path).unwrap();
        db.insert(key(SESSION, &[bad.0]), vec![1, 0xFF, 0xFF, 0xFF])
            .unwrap();
        db.insert(key(MESSAGE, &[chat.0, last_msg]), vec![1, 0xFF, 0xFF])
            .unwrap();
        db.flush().unwrap();
    }
    let before = raw_dump(path);

    with_desk(path, |fx| {
        let d = &fx.desk;
        let what = format!("session {bad}");
        corrupt("get", d.get_chat_session_entity(&sys, bad), &what);
        corrupt(
            "get as agent",
            d.get_chat_session_entity(&agent, bad),
            &what,
        );
        corrupt("queue position", d.get_queue_position(&sys, bad), &what);
        corrupt("pick up", d.pick_up_chat_session(&agent, bad), &what);
        // (`bad` heads the queue: picking up the first one passes over it,
        // see `a_damaged_session_does_not_stop_the_desk` below.)
        corrupt("close", d.close_chat_session(&sys, bad), &what);
        corrupt("delete", d.delete_chat_session_entity(&sys, bad), &what);
        // Scans by status read every row of the status index: the damaged
        // row is among them (its index entry still names its old status).
        corrupt("sessions for system", d.chat_sessions_for_user(&sys), &what);
        corrupt(
            "messages",
            d.get_chat_messages(&agent, chat, None, 500),
            "message",
        );
        corrupt(
            "messages as customer",
            d.get_chat_messages(&Caller::customer(chat_key.clone()), chat, None, 500),
            "message",
        );
        corrupt(
            "transcript",
            d.get_chat_transcript(&sys, chat, TranscriptFormat::Text),
            "message",
        );
        // The other session still answers.
        assert_eq!(
            d.get_chat_session_entity(&sys, fine).unwrap().status,
            ChatSessionStatus::InQueue
        );
    });
    // Nothing was written by the failed operations: no silent rewrite.
    assert_eq!(raw_dump(path), before);

    // The rest of the store works, and the damage is still reported.
    with_desk(path, |fx| {
        let d = &fx.desk;
        d.pick_up_chat_session(&agent, fine).unwrap().unwrap();
        let m2 = d.add_chat_message(&agent, chat, &m).unwrap();
        assert!(m2.chat_message_id > last_msg);
        corrupt(
            "after reopening",
            d.get_chat_session_entity(&sys, bad),
            &format!("session {bad}"),
        );
    });
}

/// The damaged session at the head of a queue is passed over by
/// pick-up-first and routing, still Corrupt when read, and listed by the
/// integrity check (the shared test).
#[test]
fn a_damaged_session_does_not_stop_the_desk() {
    chatdesk::testkit::damaged::a_damaged_session_does_not_stop_the_desk(
        chatdesk_sled::testing::temp_store(),
        |s, id| s.damage_session(id).unwrap(),
    );
}

/// `get_topic_queue` should report the damaged queued session as `Corrupt`;
/// it drops it from the list instead (`core/src/service/queries.rs` keeps
/// only `Ok` results of `visible_session`). A library bug, reported; run with
/// `--ignored` to see it.
#[test]
fn the_topic_queue_reports_a_damaged_session() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let (topic, bad) = with_desk(path, |fx| {
        let topic = fx.staffed_topic("t");
        let (bad, _) = fx.customer_session(topic, "bad");
        fx.customer_session(topic, "fine");
        (topic, bad)
    });
    {
        let db = chatdesk_sled::testing::open_raw(path).unwrap();
        db.insert(key(SESSION, &[bad.0]), vec![1, 0xFF, 0xFF, 0xFF])
            .unwrap();
        db.flush().unwrap();
    }
    with_desk(path, |fx| {
        corrupt(
            "topic queue",
            fx.desk.get_topic_queue(&Caller::system(), topic),
            &format!("session {bad}"),
        );
    });
}
