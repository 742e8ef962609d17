//! A damaged record read through the service (a versioned store, no panic on
//! any input): every operation that reads it fails with `Corrupt`, writes
//! nothing (no silent rewrite, no id used), and the rest of the store keeps
//! working. The storage-level decoding of each column is in `storage.rs`
//! (`undecodable_values_are_corrupt`); foreign, newer and garbage files too.

use chatdesk::backend::StorageExt;
use chatdesk::testkit::Fixture;
use chatdesk::{Caller, Error, SessionId, UserId};
use chatdesk::{ChatMessage, ChatSessionStatus};
use chatdesk_sqlite::testing::temp_store;
use chatdesk_sqlite::{SqliteOptions, SqliteStorage};

fn corrupt<T>(what: &str, r: chatdesk::Result<T>, needle: &str) {
    match r {
        Err(Error::Corrupt { what: w }) => assert!(w.contains(needle), "{what}: {w}"),
        Ok(_) => panic!("{what}: expected Corrupt naming {needle}, got Ok"),
        Err(e) => panic!("{what}: expected Corrupt naming {needle}, got {e:?}"),
    }
}

/// Everything in the file, as text (to see that a failed operation wrote
/// nothing).
fn rows(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = String::new();
    for table in [
        "chat_topic",
        "chat_topic_agent",
        "chat_presence",
        "chat_session",
        "chat_message",
        "chatdesk_counter",
    ] {
        let mut st = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = st.column_count();
        let mut q = st.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let vals: Vec<String> = (0..n)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect();
            out.push_str(&format!("{table}: {}\n", vals.join(", ")));
        }
    }
    out
}

#[test]
fn a_damaged_session_row_is_corrupt_through_the_service() {
    let fx = Fixture::new(temp_store());
    let path = fx.desk.storage().path();
    let topic = fx.staffed_topic("t");
    let (bad, _) = fx.customer_session(topic, "bad");
    let (chat, chat_key) = fx.customer_session(topic, "chat");
    let (fine, _) = fx.customer_session(topic, "fine");
    let agent = Caller::agent(UserId(10));
    let sys = Caller::system();
    // `chat` is picked up and has messages; `bad` and `fine` wait.
    fx.desk.pick_up_chat_session(&agent, chat).unwrap().unwrap();
    let m = ChatMessage {
        message: "hello".into(),
        ..ChatMessage::default()
    };
    fx.desk
        .add_chat_message(&Caller::customer(chat_key.clone()), chat, &m)
        .unwrap();
    fx.desk.add_chat_message(&agent, chat, &m).unwrap();

    // Damage: an unknown status code on `bad` (it stays in the queue index),
    // an unknown special type on one message of `chat`.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "UPDATE chat_session SET status = 99 WHERE id = {bad};
             UPDATE chat_message SET special_type = 4
                 WHERE id = (SELECT max(id) FROM chat_message WHERE session_id = {chat});",
            bad = bad.0,
            chat = chat.0
        ))
        .unwrap();
    }
    let before = rows(&path);

    let d = &fx.desk;
    let col = "chat_session.status";
    corrupt("get", d.get_chat_session_entity(&sys, bad), col);
    corrupt("get as agent", d.get_chat_session_entity(&agent, bad), col);
    corrupt("queue position", d.get_queue_position(&sys, bad), col);
    corrupt("pick up", d.pick_up_chat_session(&agent, bad), col);
    // (`bad` heads the queue: picking up the first one passes over it, see
    // `a_damaged_session_does_not_stop_the_desk` below.)
    corrupt("close", d.close_chat_session(&sys, bad), col);
    corrupt("delete", d.delete_chat_session_entity(&sys, bad), col);
    // Lists by status go through the status index: the unknown status is in
    // no open state, so the damaged session is left out (no error).
    let open: Vec<i32> = d
        .chat_sessions_for_user(&sys)
        .unwrap()
        .iter()
        .map(|e| e.chat_session_id)
        .collect();
    assert_eq!(open, [chat.0, fine.0]);
    // The other waiting session's position counts the damaged one (the
    // index, not the row): it still answers.
    assert_eq!(d.get_queue_position(&sys, fine).unwrap(), Some(2));

    let col = "chat_message.special_type";
    corrupt(
        "messages",
        d.get_chat_messages(&agent, chat, None, 500),
        col,
    );
    corrupt(
        "messages as customer",
        d.get_chat_messages(&Caller::customer(chat_key), chat, None, 500),
        col,
    );
    corrupt(
        "transcript",
        d.get_chat_transcript(&sys, chat, chatdesk::TranscriptFormat::Text),
        col,
    );

    // Nothing was written by any of those (no silent rewrite, no id used).
    assert_eq!(rows(&path), before);

    // The rest of the store works: the undamaged session is readable and can
    // be picked up by id, and the session with the bad message takes a new one.
    let e = d.get_chat_session_entity(&sys, fine).unwrap();
    assert_eq!(e.status, ChatSessionStatus::InQueue);
    d.pick_up_chat_session(&agent, fine).unwrap().unwrap();
    let m2 = d.add_chat_message(&agent, chat, &m).unwrap();
    assert!(m2.chat_message_id > 0);

    // Reopening does not scan rows: the file opens, the damage is still
    // reported, and it is still there.
    let path2 = path.clone();
    let store = SqliteStorage::open(&path2, SqliteOptions::default()).unwrap();
    let d2 = chatdesk::ChatDesk::new(store);
    corrupt(
        "after reopening",
        d2.get_chat_session_entity(&sys, bad),
        "chat_session.status",
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let status: i64 = conn
        .query_row(
            "SELECT status FROM chat_session WHERE id = ?1",
            [bad.0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, 99, "never rewritten");
}

/// The damaged session at the head of a queue is passed over by
/// pick-up-first and routing, still Corrupt when read, and listed by the
/// integrity check (the shared test).
#[test]
fn a_damaged_session_does_not_stop_the_desk() {
    chatdesk::testkit::damaged::a_damaged_session_does_not_stop_the_desk(temp_store(), |s, id| {
        s.damage_session(id).unwrap();
        s
    });
}

#[test]
fn a_damaged_topic_row_is_corrupt_and_a_failed_create_uses_no_id() {
    let fx = Fixture::new(temp_store());
    let path = fx.desk.storage().path();
    let topic = fx.staffed_topic("t");
    let (first, _) = fx.customer_session(topic, "first");
    let sys = Caller::system();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let json: String = conn
        .query_row(
            "SELECT settings_json FROM chat_topic WHERE id = ?1",
            [topic.0],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        "UPDATE chat_topic SET settings_json = '{\"Name\": 7' WHERE id = ?1",
        [topic.0],
    )
    .unwrap();
    let before = rows(&path);
    let col = "chat_topic.settings_json";
    corrupt("get topic", fx.desk.get_chat_topic_entity(&sys, topic), col);
    corrupt("topics for system", fx.desk.chat_topics_for_user(&sys), col);
    corrupt(
        "create",
        fx.desk.create_chat_session_for_topic(
            &Caller::anonymous(),
            topic,
            &chatdesk::ChatSessionEntity::default(),
        ),
        col,
    );
    corrupt(
        "pick up",
        fx.desk
            .pick_up_chat_session(&Caller::agent(UserId(10)), first),
        col,
    );
    assert_eq!(rows(&path), before, "nothing written");
    // Repaired by hand, the store carries on: the failed create used no id.
    conn.execute(
        "UPDATE chat_topic SET settings_json = ?1 WHERE id = ?2",
        rusqlite::params![json, topic.0],
    )
    .unwrap();
    let (second, _) = fx.customer_session(topic, "second");
    assert_eq!(second.0, first.0 + 1);
}

/// `get_topic_queue` should report the damaged queued session as `Corrupt`
/// like every other read; it drops it from the list instead, because
/// `core/src/service/queries.rs` keeps only `Ok` results of
/// `visible_session` (`if let Ok(v) = …`), which swallows `Corrupt` and
/// `Storage` errors along with the intended "not visible to this caller".
/// A library bug, reported; run with `--ignored` to see it.
#[test]
fn the_topic_queue_reports_a_damaged_session() {
    let fx = Fixture::new(temp_store());
    let path = fx.desk.storage().path();
    let topic = fx.staffed_topic("t");
    let (bad, _) = fx.customer_session(topic, "bad");
    let (_fine, _) = fx.customer_session(topic, "fine");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE chat_session SET status = 99 WHERE id = ?1", [bad.0])
        .unwrap();
    corrupt(
        "topic queue",
        fx.desk.get_topic_queue(&Caller::system(), topic),
        "chat_session.status",
    );
}

/// Damage SQLite itself finds only when it reads the page (a b-tree page of
/// the file overwritten with garbage after the store was closed): the store
/// still opens, and every operation that meets the page fails with
/// `Corrupt`, not a generic storage error. Before, SQLite's
/// `SQLITE_CORRUPT` came back as `Error::Storage`.
#[test]
fn page_damage_met_after_opening_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.sqlite3");
    let options = SqliteOptions {
        durability: chatdesk::Durability::Relaxed,
        ..SqliteOptions::default()
    };
    let fx = Fixture::new(SqliteStorage::open(&path, options.clone()).unwrap());
    let topic = fx.staffed_topic("t");
    let agent = Caller::agent(UserId(10));
    let mut sessions = Vec::new();
    for n in 0..300 {
        let (id, key) = fx.customer_session(topic, &format!("customer {n}"));
        fx.desk.pick_up_chat_session(&agent, id).unwrap().unwrap();
        for k in 0..3 {
            let m = ChatMessage {
                message: format!(
                    "message {k} of chat {n}, from the customer: long enough to fill a few pages"
                ),
                ..ChatMessage::default()
            };
            fx.desk
                .add_chat_message(&Caller::customer(key.clone()), id, &m)
                .unwrap();
        }
        fx.desk.close_chat_session(&agent, id).unwrap();
        sessions.push(id);
    }
    fx.desk.into_storage().close().unwrap();

    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 3;
    for b in &mut bytes[at..at + 2000] {
        *b ^= 0x5A;
    }
    std::fs::write(&path, &bytes).unwrap();
    let desk = chatdesk::ChatDesk::new(SqliteStorage::open(&path, options).unwrap());
    let sys = Caller::system();
    let mut corrupt_seen = 0;
    let mut check = |what: String, r: chatdesk::Result<()>| match r {
        Ok(()) => {}
        Err(Error::Corrupt { .. }) => corrupt_seen += 1,
        Err(e) => panic!("{what}: expected Ok or Corrupt, got {e:?}"),
    };
    for &id in &sessions {
        check(
            format!("transcript of {id}"),
            desk.get_chat_transcript(&sys, id, chatdesk::TranscriptFormat::Text)
                .map(|_| ()),
        );
        check(
            format!("session {id}"),
            desk.get_chat_session_entity(&sys, id).map(|_| ()),
        );
    }
    // Every row of every table, through the storage's own scans.
    let store = desk.storage();
    check(
        "every session".into(),
        store.read(|tx| {
            let mut after = SessionId(0);
            while let Some(last) = tx.sessions(after, 50)?.last() {
                after = last.id;
            }
            Ok(())
        }),
    );
    check(
        "every topic, member and presence".into(),
        store.read(|tx| {
            tx.topics()?;
            tx.all_members()?;
            tx.presences().map(|_| ())
        }),
    );
    check(
        "closed sessions".into(),
        store.read(|tx| {
            tx.sessions_by_status(ChatSessionStatus::Closed, SessionId(0), 1000)
                .map(|_| ())
        }),
    );
    assert!(corrupt_seen > 0, "the damage was never met");
    // A write that meets the damage is Corrupt too (and nothing panics).
    for &id in &sessions {
        match desk.delete_chat_session_entity(&sys, id) {
            Ok(_) | Err(Error::Corrupt { .. }) => {}
            Err(e) => panic!("deleting session {id}: expected Ok or Corrupt, got {e:?}"),
        }
    }
}
