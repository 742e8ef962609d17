//! The lock scope between processes: while process A holds a write on topic
//! 1 open (its message hook waits inside the transaction), this process's
//! writes on topic 2 with other agents complete, and its write on topic 1
//! (another session, another agent) waits until A has committed.
//!
//! The child is this test binary re-executed with env vars.

use chatdesk::{Caller, ChatDesk, HookDecision, MessageDraft, SessionId, UserId};
use chatdesk::{ChatMessage, ChatSessionEntity, TopicId};
use chatdesk_postgres::testing;
use chatdesk_postgres::{PgOptions, PgStorage};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const URL_VAR: &str = "CHATDESK_LS_URL";
const SCHEMA_VAR: &str = "CHATDESK_LS_SCHEMA";
const DIR_VAR: &str = "CHATDESK_LS_DIR";
const SESSION_VAR: &str = "CHATDESK_LS_SESSION";

/// Agents: 10 and 11 answer topic 1, 20 answers topic 2.
const A1: i32 = 10;
const A1B: i32 = 11;
const A2: i32 = 20;

fn options(schema: &str) -> PgOptions {
    PgOptions {
        schema: schema.to_owned(),
        pool_size: 2,
        busy_timeout: Duration::from_secs(60),
        ..PgOptions::default()
    }
}

fn wait_for(file: &Path, what: &str) {
    let start = Instant::now();
    while !file.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "never {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn message(text: &str) -> ChatMessage {
    ChatMessage {
        message: text.into(),
        ..ChatMessage::default()
    }
}

/// Process A: adds one message to the session it is given, with a hook that
/// says it is inside the transaction (file `held`) and waits for the file
/// `release` before letting the message through. A no-op as a plain test.
#[test]
fn holding_child() {
    let (Ok(url), Ok(schema), Ok(dir), Ok(session)) = (
        std::env::var(URL_VAR),
        std::env::var(SCHEMA_VAR),
        std::env::var(DIR_VAR),
        std::env::var(SESSION_VAR),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let session = SessionId(session.parse().unwrap_or_else(|e| panic!("{e}")));
    let store = PgStorage::open(&url, options(&schema)).unwrap_or_else(|e| panic!("{e}"));
    let hook_dir = dir.clone();
    let desk = ChatDesk::new(store).with_message_hook(move |_: &mut MessageDraft| {
        std::fs::write(hook_dir.join("held"), b"").unwrap_or_else(|e| panic!("{e}"));
        wait_for(&hook_dir.join("release"), "released");
        HookDecision::Accept
    });
    desk.add_chat_message(&Caller::agent(UserId(A1)), session, &message("slow"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("committed"), b"").unwrap_or_else(|e| panic!("{e}"));
}

/// A session on `topic`, picked up by `agent`.
fn session_with(desk: &ChatDesk<PgStorage>, topic: TopicId, agent: i32) -> SessionId {
    let s = desk
        .create_chat_session_for_topic(
            &Caller::anonymous(),
            topic,
            &ChatSessionEntity {
                customer_alias: "c".into(),
                ..ChatSessionEntity::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let id = SessionId(s.chat_session_id);
    desk.pick_up_chat_session(&Caller::agent(UserId(agent)), id)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("session {id} was not waiting"));
    id
}

#[test]
fn a_write_on_one_topic_holds_up_only_writes_on_that_topic() {
    let Some(url) = testing::server_url() else {
        return;
    };
    let schema = testing::fresh_schema();
    let store = PgStorage::open(&url, options(&schema)).unwrap_or_else(|e| panic!("{e}"));
    let desk = ChatDesk::new(store);
    let mut topics = Vec::new();
    for name in ["one", "two"] {
        topics.push(testing::new_topic(&desk, name).unwrap_or_else(|e| panic!("{e}")));
    }
    for (topic, agent) in [(topics[0], A1), (topics[0], A1B), (topics[1], A2)] {
        testing::staff(&desk, topic, agent).unwrap_or_else(|e| panic!("{e}"));
    }
    let held_session = session_with(&desk, topics[0], A1);
    let other_on_one = session_with(&desk, topics[0], A1B);
    let on_two = session_with(&desk, topics[1], A2);

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut a = Command::new(exe)
        .args([
            "--exact",
            "holding_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(URL_VAR, &url)
        .env(SCHEMA_VAR, &schema)
        .env(DIR_VAR, dir.path())
        .env(SESSION_VAR, held_session.0.to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(&dir.path().join("held"), "held by process A");

    // Topic 2, agent 20: a message, a new session and its pick-up all
    // complete while A holds topic 1.
    let t = Instant::now();
    desk.add_chat_message(&Caller::agent(UserId(A2)), on_two, &message("beside"))
        .unwrap_or_else(|e| panic!("{e}"));
    let fresh = session_with(&desk, topics[1], A2);
    let beside = t.elapsed();
    assert!(
        !dir.path().join("committed").exists(),
        "A committed before the writes on topic 2 ran"
    );
    assert!(
        beside < Duration::from_secs(5),
        "writes on topic 2 took {beside:?}"
    );

    // Topic 1, another session and agent: waits for A.
    let (done_tx, done_rx) = mpsc::channel();
    let finished = std::thread::scope(|scope| {
        scope.spawn(|| {
            let r =
                desk.add_chat_message(&Caller::agent(UserId(A1B)), other_on_one, &message("after"));
            let _ = done_tx.send(r.map(|_| Instant::now()));
        });
        let early = done_rx.recv_timeout(Duration::from_secs(2));
        assert!(
            early.is_err(),
            "a write on topic 1 completed while A held it: {early:?}"
        );
        let released = Instant::now();
        std::fs::write(dir.path().join("release"), b"").unwrap_or_else(|e| panic!("{e}"));
        let finished = done_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("the write on topic 1 never completed: {e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(finished >= released);
        finished
    });
    let status = a.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "process A failed: {status}");
    assert!(dir.path().join("committed").exists());
    eprintln!(
        "topic 2 beside A: {beside:?}; topic 1 finished {:?} ago; session {fresh} made on topic 2",
        finished.elapsed()
    );
    // Both messages on topic 1 are there, A's first.
    let texts = |id: SessionId| {
        desk.get_chat_messages(&Caller::system(), id, None, 100)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|m| m.message)
            .collect::<Vec<_>>()
    };
    assert!(texts(held_session).contains(&"slow".to_string()));
    assert!(texts(other_on_one).contains(&"after".to_string()));
}
