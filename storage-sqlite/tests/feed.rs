//! The change feed across connections: a second handle on the same file (as
//! another process would open it) sees the stored switch and reads the same
//! feed by polling.

use chatdesk::{Caller, ChatDesk, ChatEventKind, ChatSessionEntity, TopicId};
use chatdesk_sqlite::testing::temp_store;
use chatdesk_sqlite::{SqliteOptions, SqliteStorage};
use std::time::Duration;

#[test]
fn a_second_handle_on_the_file_shares_the_switch_and_the_feed() {
    let tmp = temp_store();
    let writer = ChatDesk::new(SqliteStorage::open(tmp.path(), SqliteOptions::default()).unwrap());
    let reader = ChatDesk::new(SqliteStorage::open(tmp.path(), SqliteOptions::default()).unwrap());
    let sys = Caller::system();
    let mut topic = writer.create_default_chat_topic_entity(&sys);
    topic.name = "shared".into();
    let t = TopicId(
        writer
            .save_chat_topic_entity(&sys, &topic)
            .unwrap()
            .chat_topic_id,
    );
    // Switched on through the reader's handle: the writer's operations see it.
    reader.set_change_feed(&sys, true).unwrap();
    let input = ChatSessionEntity {
        customer_alias: "x".into(),
        ..ChatSessionEntity::default()
    };
    let mut created = Vec::new();
    for _ in 0..3 {
        let s = writer
            .create_chat_session_for_topic(&Caller::anonymous(), t, &input)
            .unwrap();
        created.push(s.chat_session_id);
    }
    // The reader polls: its own waiters are not woken by the other handle,
    // so a short timeout finds what is already committed.
    let got = reader
        .wait_for_events(&sys, 0, 10, Duration::from_millis(10))
        .unwrap();
    assert_eq!(
        got.iter()
            .map(|e| (e.seq, e.kind, e.session.0))
            .collect::<Vec<_>>(),
        created
            .iter()
            .zip(1..)
            .map(|(id, seq)| (seq, ChatEventKind::SessionCreated, *id))
            .collect::<Vec<_>>()
    );
    // The writer's pruning is seen by the reader.
    assert_eq!(writer.prune_events_before(&sys, 2).unwrap(), 2);
    let rest = reader.events_after(&sys, 0, 10).unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    writer.into_storage().close().unwrap();
    reader.into_storage().close().unwrap();
}
