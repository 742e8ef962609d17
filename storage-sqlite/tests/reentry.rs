//! Re-entry on the SQLite backend: a write transaction opened from inside
//! a write transaction of the same store on the same thread (for instance a
//! message hook calling a second service instance on the same store) fails
//! with `Conflict` instead of deadlocking.

use chatdesk::backend::{IdKind, StorageExt};
use chatdesk::{Caller, ChatDesk, Error, HookDecision, MessageDraft, SessionId, Storage, TopicId};
use chatdesk::{ChatSessionEntity, ChatSessionStatus};
use chatdesk_sqlite::testing::temp_store;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `f` on a thread of its own and fails the test if it has not
/// finished within 20 s (a deadlock, as before re-entry was detected),
/// instead of hanging.
fn within_time(f: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(20)) {
        Ok(()) => worker.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // `f` panicked: hand its panic on.
            if let Err(p) = worker.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlocked: still waiting after 20 s")
        }
    }
}

/// A write transaction started from inside a write transaction of the same
/// store on the same thread fails at once with `Conflict` (it used to wait
/// for itself forever), and the store works afterwards.
#[test]
fn a_write_inside_a_write_on_the_same_thread_is_conflict() {
    within_time(write_inside_write);
}

fn write_inside_write() {
    let t = temp_store();
    let store = t.store();
    let (inner, flushed) = store
        .write(|tx| {
            tx.next_id(IdKind::Topic)?;
            let inner = store.write(|tx| tx.next_id(IdKind::Topic));
            let flushed = store.flush();
            Ok((inner, flushed))
        })
        .unwrap();
    match inner {
        Err(Error::Conflict { reason }) => assert!(reason.contains("same thread"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // `flush` takes the writer connection as well.
    assert!(
        matches!(flushed, Err(Error::Conflict { .. })),
        "{flushed:?}"
    );
    // The outer transaction committed; the inner one used no id.
    assert_eq!(store.write(|tx| tx.next_id(IdKind::Topic)).unwrap(), 2);
    // Reads inside a write still work.
    let read = store
        .write(|_| store.read(|tx| tx.topics()).map(|t| t.len()))
        .unwrap();
    assert_eq!(read, 0);
}

/// Another thread's write inside a write is not re-entry: it waits its turn.
#[test]
fn another_threads_write_waits_for_the_outer_write() {
    let t = Arc::new(temp_store());
    let other = Arc::clone(&t);
    let (go, ready) = std::sync::mpsc::channel();
    let handle = t
        .store()
        .write(|tx| {
            tx.next_id(IdKind::Topic)?;
            let h = std::thread::spawn(move || {
                go.send(()).unwrap();
                other.store().write(|tx| tx.next_id(IdKind::Topic))
            });
            ready.recv().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            Ok(h)
        })
        .unwrap();
    assert_eq!(handle.join().unwrap().unwrap(), 2);
}

/// A message hook of one service that calls a second service on the same
/// store: the second service's write fails with `Conflict` instead of
/// deadlocking, and the first one's operation goes through.
#[test]
fn a_hook_calling_a_second_service_on_the_same_store_gets_conflict() {
    within_time(hook_calls_second_service);
}

fn hook_calls_second_service() {
    let store = Arc::new(temp_store());
    let second = Arc::new(ChatDesk::new(Arc::clone(&store)));
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (hook_desk, hook_seen) = (Arc::clone(&second), Arc::clone(&seen));
    let first = ChatDesk::new(Arc::clone(&store)).with_message_hook(move |d: &mut MessageDraft| {
        let sys = Caller::system();
        let r = hook_desk.close_chat_session(&sys, d.session());
        hook_seen.lock().unwrap().push(match r {
            Err(Error::Conflict { .. }) => "conflict".to_string(),
            other => format!("{other:?}"),
        });
        HookDecision::Accept
    });
    let sys = Caller::system();
    let mut topic = first.create_default_chat_topic_entity(&sys);
    topic.name = "hooked".into();
    let topic = TopicId(
        first
            .save_chat_topic_entity(&sys, &topic)
            .unwrap()
            .chat_topic_id,
    );
    let created = first
        .create_chat_session_for_topic(
            &Caller::anonymous(),
            topic,
            &ChatSessionEntity {
                customer_alias: "c".into(),
                ..ChatSessionEntity::default()
            },
        )
        .unwrap();
    let id = SessionId(created.chat_session_id);
    let customer = Caller::customer(created.session_key.clone());
    // Nobody is present: the request goes in as a message, through the hook.
    first
        .post_offline_request(&customer, id, "call me")
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["conflict"]);
    // Both services work afterwards.
    let e = second.get_chat_session_entity(&sys, id).unwrap();
    assert_eq!(e.status, ChatSessionStatus::RequestPosted);
    let mut again = second.create_default_chat_topic_entity(&sys);
    again.name = "second".into();
    second.save_chat_topic_entity(&sys, &again).unwrap();
}
