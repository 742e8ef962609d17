//! Storage-level tests of the SQLite backend.

mod common;

use chatdesk::ChatSessionStatus;
use chatdesk::backend::{IdKind, StorageExt};
use chatdesk::{Error, MessageId, SessionId, Storage, TopicId, UserId};
use chatdesk_sqlite::testing::{TempSqlite, temp_store, temp_store_with};
use chatdesk_sqlite::{APPLICATION_ID, SCHEMA_VERSION, SqliteOptions, SqliteStorage};
use common::*;
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

fn durable() -> SqliteOptions {
    SqliteOptions::default()
}

#[test]
fn reads_see_own_writes_inside_write_tx() {
    let s = temp_store();
    s.write(|tx| {
        assert_eq!(tx.session(SessionId(1))?, None);
        tx.put_topic(&topic(1))?;
        tx.put_session(&queued(1, 1, 7))?;
        tx.put_message(&message(1, 1))?;
        assert_eq!(tx.topic(TopicId(1))?, Some(topic(1)));
        assert_eq!(tx.session(SessionId(1))?, Some(queued(1, 1, 7)));
        assert_eq!(tx.session_by_key(&key(1))?, Some(SessionId(1)));
        assert_eq!(tx.queue_len(TopicId(1))?, 1);
        assert_eq!(tx.messages(SessionId(1), MessageId(0), 10)?.len(), 1);
        Ok(())
    })
    .unwrap();
    let got = s.read(|tx| tx.session(SessionId(1))).unwrap();
    assert_eq!(got, Some(queued(1, 1, 7)));
}

#[test]
fn failed_closure_leaves_nothing_and_uses_no_id() {
    let s = temp_store();
    let err = s
        .write(|tx| -> chatdesk::Result<()> {
            assert_eq!(tx.next_id(IdKind::Session)?, 1);
            tx.put_topic(&topic(1))?;
            tx.put_session(&session(1, 1))?;
            tx.put_message(&message(1, 1))?;
            tx.put_member(&member(1, 2))?;
            tx.put_presence(&presence(2))?;
            Err(Error::validation("x", "the closure fails"))
        })
        .unwrap_err();
    // The closure's error comes back unchanged.
    assert!(matches!(err, Error::Validation { ref field, .. } if field == "x"));
    s.read(|tx| {
        assert!(tx.topics()?.is_empty());
        assert!(tx.sessions(SessionId(0), 100)?.is_empty());
        assert!(tx.messages(SessionId(1), MessageId(0), 100)?.is_empty());
        assert!(tx.all_members()?.is_empty());
        assert!(tx.presences()?.is_empty());
        Ok(())
    })
    .unwrap();
    let id = s.write(|tx| tx.next_id(IdKind::Session)).unwrap();
    assert_eq!(id, 1, "a failed transaction uses no id");
}

#[test]
fn ids_count_per_kind_and_are_never_reused() {
    let s = temp_store();
    for want in 1..=3 {
        for kind in IdKind::ALL {
            assert_eq!(s.write(|tx| tx.next_id(kind)).unwrap(), want);
        }
    }
    let two = s
        .write(|tx| Ok((tx.next_id(IdKind::Topic)?, tx.next_id(IdKind::Topic)?)))
        .unwrap();
    assert_eq!(two, (4, 5));
    let _ = s.write(|tx| -> chatdesk::Result<()> {
        tx.next_id(IdKind::Message)?;
        Err(Error::conflict("no"))
    });
    assert_eq!(s.write(|tx| tx.next_id(IdKind::Message)).unwrap(), 4);
    // Deleting the record does not free its id.
    s.write(|tx| {
        tx.put_session(&session(1, 1))?;
        tx.delete_session(SessionId(1))
    })
    .unwrap();
    assert_eq!(s.write(|tx| tx.next_id(IdKind::Session)).unwrap(), 4);
    // And they survive a reopen.
    let s = s.reopen(SqliteOptions::default()).unwrap();
    assert_eq!(s.write(|tx| tx.next_id(IdKind::Session)).unwrap(), 5);
    assert_eq!(s.write(|tx| tx.next_id(IdKind::QueueSeq)).unwrap(), 4);
}

#[test]
fn wire_ids_stop_at_i32_max() {
    let s = temp_store();
    // Put the counter just below the end with plain SQL.
    let conn = rusqlite::Connection::open(s.path()).unwrap();
    conn.execute(
        "INSERT INTO chatdesk_counter (kind, last) VALUES ('session', ?1)",
        [i64::from(i32::MAX) - 1],
    )
    .unwrap();
    drop(conn);
    assert_eq!(
        s.write(|tx| tx.next_id(IdKind::Session)).unwrap(),
        i64::from(i32::MAX)
    );
    let err = s.write(|tx| tx.next_id(IdKind::Session)).unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
}

fn ids(v: &[chatdesk::backend::SessionRecord]) -> Vec<i32> {
    v.iter().map(|s| s.id.get()).collect()
}

#[test]
fn put_session_keeps_every_index_in_step() {
    let s = temp_store();
    s.write(|tx| {
        tx.put_session(&queued(1, 10, 5))?;
        tx.put_session(&queued(2, 10, 3))?;
        tx.put_session(&queued(3, 10, 9))?;
        tx.put_session(&queued(4, 20, 1))?;
        tx.put_session(&active(5, 10, 7))?;
        tx.put_session(&active(6, 20, 7))?;
        // A bot-owned queued session is not in the human queue.
        let mut bot = queued(7, 10, 4);
        bot.chatbot_is_active = true;
        tx.put_session(&bot)
    })
    .unwrap();
    s.read(|tx| {
        let t10 = TopicId(10);
        assert_eq!(tx.queue_len(t10)?, 3);
        assert_eq!(
            tx.queue(t10, 0, 10)?,
            vec![(3, SessionId(2)), (5, SessionId(1)), (9, SessionId(3))]
        );
        assert_eq!(tx.queue(t10, 3, 1)?, vec![(5, SessionId(1))]);
        assert_eq!(tx.queue(t10, u64::MAX, 10)?, vec![]);
        assert_eq!(tx.queue_count_before(t10, 0)?, 0);
        assert_eq!(tx.queue_count_before(t10, 3)?, 0);
        assert_eq!(tx.queue_count_before(t10, 4)?, 1);
        assert_eq!(tx.queue_count_before(t10, 9)?, 2);
        assert_eq!(tx.queue_count_before(t10, u64::MAX)?, 3);
        assert_eq!(tx.queue_len(TopicId(20))?, 1);
        assert_eq!(ids(&tx.active_sessions(UserId(7))?), vec![5, 6]);
        assert_eq!(
            ids(&tx.sessions_by_status(ChatSessionStatus::InQueue, SessionId(0), 10)?),
            vec![1, 2, 3, 4, 7]
        );
        assert_eq!(
            ids(&tx.sessions_by_status(ChatSessionStatus::InQueue, SessionId(2), 2)?),
            vec![3, 4]
        );
        assert_eq!(
            ids(&tx.topic_sessions(t10, SessionId(0), 10)?),
            vec![1, 2, 3, 5, 7]
        );
        assert_eq!(ids(&tx.topic_sessions(t10, SessionId(3), 1)?), vec![5]);
        assert_eq!(ids(&tx.sessions(SessionId(4), 2)?), vec![5, 6]);
        assert_eq!(ids(&tx.sessions(SessionId(0), 0)?), Vec::<i32>::new());
        Ok(())
    })
    .unwrap();

    // Session 2 is picked up by user 8; session 5 moves to topic 20 and user 9;
    // session 6 is finished; session 4 changes its key.
    s.write(|tx| {
        tx.put_session(&chatdesk::backend::SessionRecord {
            queue_seq: Some(3),
            ..active(2, 10, 8)
        })?;
        tx.put_session(&active(5, 20, 9))?;
        tx.put_session(&chatdesk::backend::SessionRecord {
            status: ChatSessionStatus::Finished,
            user: Some(UserId(7)),
            ..session(6, 20)
        })?;
        tx.put_session(&chatdesk::backend::SessionRecord {
            key_hash: key(400),
            ..queued(4, 20, 1)
        })
    })
    .unwrap();
    s.read(|tx| {
        let t10 = TopicId(10);
        assert_eq!(tx.queue_len(t10)?, 2);
        assert_eq!(
            tx.queue(t10, 0, 10)?,
            vec![(5, SessionId(1)), (9, SessionId(3))]
        );
        assert_eq!(tx.queue_count_before(t10, 9)?, 1);
        assert_eq!(ids(&tx.active_sessions(UserId(7))?), Vec::<i32>::new());
        assert_eq!(ids(&tx.active_sessions(UserId(8))?), vec![2]);
        assert_eq!(ids(&tx.active_sessions(UserId(9))?), vec![5]);
        assert_eq!(
            ids(&tx.sessions_by_status(ChatSessionStatus::CustomerLast, SessionId(0), 10)?),
            vec![2, 5]
        );
        assert_eq!(
            ids(&tx.sessions_by_status(ChatSessionStatus::Finished, SessionId(0), 10)?),
            vec![6]
        );
        assert_eq!(
            ids(&tx.topic_sessions(t10, SessionId(0), 10)?),
            vec![1, 2, 3, 7]
        );
        assert_eq!(
            ids(&tx.topic_sessions(TopicId(20), SessionId(0), 10)?),
            vec![4, 5, 6]
        );
        assert_eq!(tx.session_by_key(&key(4))?, None);
        assert_eq!(tx.session_by_key(&key(400))?, Some(SessionId(4)));
        // The queue sequence is kept after leaving the queue.
        assert_eq!(tx.session(SessionId(2))?.and_then(|s| s.queue_seq), Some(3));
        Ok(())
    })
    .unwrap();
}

#[test]
fn topics_members_and_presences_round_trip_in_order() {
    let s = temp_store();
    s.write(|tx| {
        for id in [3, 1, 2] {
            tx.put_topic(&topic(id))?;
        }
        for (t, u) in [(2, 5), (1, 7), (1, 5), (2, 1)] {
            tx.put_member(&member(t, u))?;
        }
        for u in [9, 4, 6] {
            tx.put_presence(&presence(u))?;
        }
        let mut t = topic(2);
        t.last_accept = None;
        t.seconds_pr_accept = -3;
        tx.put_topic(&t)?;
        let mut m = member(1, 5);
        m.can_manage = true;
        tx.put_member(&m)?;
        let mut p = presence(4);
        p.present = true;
        p.display_name = "Renamed".into();
        tx.put_presence(&p)
    })
    .unwrap();
    s.read(|tx| {
        let ts: Vec<_> = tx.topics()?.iter().map(|t| t.id.get()).collect();
        assert_eq!(ts, vec![1, 2, 3]);
        let t2 = tx.topic(TopicId(2))?.unwrap();
        assert_eq!((t2.last_accept, t2.seconds_pr_accept), (None, -3));
        assert_eq!(tx.topic(TopicId(3))?, Some(topic(3)));
        assert_eq!(tx.topic(TopicId(4))?, None);
        let pairs = |v: Vec<chatdesk::backend::MemberRecord>| {
            v.iter()
                .map(|m| (m.topic.get(), m.user.get()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pairs(tx.all_members()?),
            vec![(1, 5), (1, 7), (2, 1), (2, 5)]
        );
        assert_eq!(pairs(tx.topic_members(TopicId(1))?), vec![(1, 5), (1, 7)]);
        assert_eq!(pairs(tx.user_memberships(UserId(5))?), vec![(1, 5), (2, 5)]);
        assert!(tx.member(TopicId(1), UserId(5))?.unwrap().can_manage);
        assert_eq!(tx.member(TopicId(3), UserId(5))?, None);
        let ps: Vec<_> = tx.presences()?.iter().map(|p| p.user.get()).collect();
        assert_eq!(ps, vec![4, 6, 9]);
        assert_eq!(tx.presence(UserId(4))?.unwrap().display_name, "Renamed");
        Ok(())
    })
    .unwrap();
    s.write(|tx| {
        tx.delete_member(TopicId(1), UserId(5))?;
        tx.delete_topic(TopicId(1))
    })
    .unwrap();
    s.read(|tx| {
        assert_eq!(tx.topics()?.len(), 2);
        assert_eq!(tx.user_memberships(UserId(5))?.len(), 1);
        Ok(())
    })
    .unwrap();
}

#[test]
fn delete_session_removes_its_messages_and_index_entries() {
    let s = temp_store();
    s.write(|tx| {
        tx.put_session(&queued(1, 1, 1))?;
        tx.put_session(&active(2, 1, 3))?;
        for id in 1..=5 {
            tx.put_message(&message(id, 1 + id % 2))?;
        }
        Ok(())
    })
    .unwrap();
    let msgs = s
        .read(|tx| tx.messages(SessionId(2), MessageId(0), 10))
        .unwrap();
    assert_eq!(
        msgs.iter().map(|m| m.id.get()).collect::<Vec<_>>(),
        vec![1, 3, 5]
    );
    assert_eq!(msgs[0], message(1, 2));
    let page = s
        .read(|tx| tx.messages(SessionId(2), MessageId(1), 1))
        .unwrap();
    assert_eq!(page, vec![message(3, 2)]);
    s.write(|tx| tx.delete_session(SessionId(2))).unwrap();
    s.write(|tx| tx.delete_session(SessionId(99))).unwrap();
    s.read(|tx| {
        assert_eq!(tx.session(SessionId(2))?, None);
        assert!(tx.messages(SessionId(2), MessageId(0), 10)?.is_empty());
        assert_eq!(tx.messages(SessionId(1), MessageId(0), 10)?.len(), 2);
        assert!(tx.active_sessions(UserId(3))?.is_empty());
        assert_eq!(tx.session_by_key(&key(2))?, None);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_message_needs_its_session() {
    let s = temp_store();
    let err = s.write(|tx| tx.put_message(&message(1, 42))).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "session",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn two_sessions_cannot_share_a_key() {
    let s = temp_store();
    let err = s
        .write(|tx| {
            tx.put_session(&session(1, 1))?;
            tx.put_session(&chatdesk::backend::SessionRecord {
                key_hash: key(1),
                ..session(2, 1)
            })
        })
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(s.read(|tx| tx.sessions(SessionId(0), 10)).unwrap(), vec![]);
}

#[test]
fn reopen_finds_everything() {
    let s = temp_store_with(durable());
    s.write(|tx| {
        tx.next_id(IdKind::Topic)?;
        tx.put_topic(&topic(1))?;
        tx.put_member(&member(1, 2))?;
        tx.put_presence(&presence(2))?;
        tx.put_session(&queued(1, 1, 1))?;
        tx.put_session(&active(2, 1, 2))?;
        tx.put_message(&message(1, 2))
    })
    .unwrap();
    s.flush().unwrap();
    let s = s.reopen(durable()).unwrap();
    s.read(|tx| {
        assert_eq!(tx.topics()?, vec![topic(1)]);
        assert_eq!(tx.all_members()?, vec![member(1, 2)]);
        assert_eq!(tx.presences()?, vec![presence(2)]);
        assert_eq!(
            tx.sessions(SessionId(0), 10)?,
            vec![queued(1, 1, 1), active(2, 1, 2)]
        );
        assert_eq!(tx.queue(TopicId(1), 0, 10)?, vec![(1, SessionId(1))]);
        assert_eq!(tx.active_sessions(UserId(2))?, vec![active(2, 1, 2)]);
        assert_eq!(
            tx.messages(SessionId(2), MessageId(0), 10)?,
            vec![message(1, 2)]
        );
        Ok(())
    })
    .unwrap();
    assert_eq!(s.write(|tx| tx.next_id(IdKind::Topic)).unwrap(), 2);
    // A second store on the same file (another process, say) sees it all too.
    let other = SqliteStorage::open(s.path(), durable()).unwrap();
    assert_eq!(other.read(|tx| tx.topics()).unwrap(), vec![topic(1)]);
    other.close().unwrap();
}

#[test]
fn the_file_is_marked_as_ours() {
    let s = temp_store();
    let conn = rusqlite::Connection::open(s.path()).unwrap();
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    let ver: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!((app, ver, mode.as_str()), (0x4348_4453, 4, "wal"));
    assert_eq!((APPLICATION_ID, SCHEMA_VERSION), (0x4348_4453, 4));
}

fn open_err(path: &std::path::Path, options: SqliteOptions) -> Error {
    match SqliteStorage::open(path, options) {
        Ok(_) => panic!("opening {} should fail", path.display()),
        Err(e) => e,
    }
}

#[test]
fn a_foreign_sqlite_file_is_incompatible_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // Another application's id.
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA application_id = 1234; CREATE TABLE t (x);")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = open_err(&path, durable());
    assert!(matches!(err, Error::IncompatibleStore { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "never rewritten");

    // No application id, but tables: someone else's database.
    let path = dir.path().join("plain.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE chat_session (x);")
            .unwrap();
    }
    let err = open_err(
        &path,
        SqliteOptions {
            migrate: true,
            ..durable()
        },
    );
    assert!(matches!(err, Error::IncompatibleStore { .. }), "{err:?}");
}

#[test]
fn a_newer_store_is_incompatible_and_an_older_one_needs_migrate() {
    let s = temp_store();
    s.write(|tx| tx.put_topic(&topic(1))).unwrap();
    let dir = s.dir().to_path_buf();
    let path = s.path();
    let keep = s; // keep the directory alive
    keep.store().flush().unwrap();

    let set_version = |v: i32| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", v).unwrap();
    };
    set_version(SCHEMA_VERSION + 1);
    let err = open_err(
        &path,
        SqliteOptions {
            migrate: true,
            ..durable()
        },
    );
    match err {
        Error::IncompatibleStore { found, supported } => {
            assert!(found.contains(&(SCHEMA_VERSION + 1).to_string()), "{found}");
            assert!(
                supported.contains(&SCHEMA_VERSION.to_string()),
                "{supported}"
            );
        }
        other => panic!("{other:?}"),
    }

    set_version(0);
    let err = open_err(&path, durable());
    assert!(matches!(err, Error::IncompatibleStore { .. }), "{err:?}");
    // With migrate, the steps run and the data is kept.
    let up = SqliteStorage::open(
        &path,
        SqliteOptions {
            migrate: true,
            ..durable()
        },
    )
    .unwrap();
    assert_eq!(up.read(|tx| tx.topics()).unwrap(), vec![topic(1)]);
    up.close().unwrap();
    let again = SqliteStorage::open(&path, durable()).unwrap();
    again.close().unwrap();
    drop(keep);
    assert!(!dir.exists());
}

#[test]
fn garbage_is_a_typed_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x1234_5678_u32;
    let mut bytes = Vec::new();
    for _ in 0..8192 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push((seed >> 16) as u8);
    }
    for (name, content) in [
        ("random.db", bytes.clone()),
        ("text.db", b"this is not a database at all\n".repeat(100)),
        ("short.db", b"SQLite".to_vec()),
        ("header.db", {
            let mut b = b"SQLite format 3\0".to_vec();
            b.extend_from_slice(&bytes);
            b
        }),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &content).unwrap();
        let err = open_err(&path, durable());
        assert!(
            matches!(err, Error::IncompatibleStore { .. } | Error::Corrupt { .. }),
            "{name}: {err:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), content, "{name} untouched");
    }
}

#[test]
fn undecodable_values_are_corrupt() {
    let s = temp_store();
    s.write(|tx| {
        tx.put_topic(&topic(1))?;
        tx.put_session(&session(1, 1))?;
        tx.put_session(&session(2, 1))?;
        tx.put_session(&session(3, 1))?;
        tx.put_session(&session(4, 1))?;
        tx.put_topic(&topic(2))?;
        tx.put_message(&message(1, 1))
    })
    .unwrap();
    let conn = rusqlite::Connection::open(s.path()).unwrap();
    conn.execute_batch(
        "UPDATE chat_session SET status = 99 WHERE id = 1;
         UPDATE chat_session SET key_hash = x'0102' WHERE id = 2;
         UPDATE chat_session SET queue_seq = -4 WHERE id = 3;
         UPDATE chat_session SET excluded_users = '[1,' WHERE id = 4;
         UPDATE chat_topic SET settings_json = '{not json' WHERE id = 1;
         UPDATE chat_topic SET routing_mode = 7 WHERE id = 2;
         UPDATE chat_message SET special_type = 4 WHERE id = 1;",
    )
    .unwrap();
    drop(conn);
    let corrupt = |r: chatdesk::Result<()>, needle: &str| match r {
        Err(Error::Corrupt { what }) => assert!(what.contains(needle), "{what}"),
        other => panic!("{other:?}"),
    };
    corrupt(
        s.read(|tx| tx.session(SessionId(1)).map(drop)),
        "chat_session.status",
    );
    corrupt(
        s.read(|tx| tx.session(SessionId(2)).map(drop)),
        "chat_session.key_hash",
    );
    corrupt(
        s.read(|tx| tx.session(SessionId(3)).map(drop)),
        "chat_session.queue_seq",
    );
    corrupt(
        s.read(|tx| tx.session(SessionId(4)).map(drop)),
        "chat_session.excluded_users",
    );
    corrupt(
        s.read(|tx| tx.topics().map(drop)),
        "chat_topic.settings_json",
    );
    corrupt(
        s.read(|tx| tx.topic(TopicId(2)).map(drop)),
        "chat_topic.routing_mode",
    );
    corrupt(
        s.read(|tx| tx.messages(SessionId(1), MessageId(0), 9).map(drop)),
        "chat_message.special_type",
    );
    // The store still works after that.
    s.write(|tx| {
        tx.put_topic(&topic(1))?;
        tx.put_topic(&topic(2))
    })
    .unwrap();
    assert_eq!(s.read(|tx| tx.topics()).unwrap(), vec![topic(1), topic(2)]);
}

#[test]
fn sequences_past_i64_are_refused_on_write() {
    let s = temp_store();
    let err = s
        .write(|tx| tx.put_session(&queued(1, 1, u64::MAX)))
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation { .. } | Error::Corrupt { .. }),
        "{err:?}"
    );
    // The counted queue index covers sequences up to 2^40.
    let top = chatdesk::backend::queue_index::SPACE;
    s.write(|tx| tx.put_session(&queued(1, 1, top))).unwrap();
    assert_eq!(
        s.read(|tx| tx.queue(TopicId(1), 0, 5)).unwrap(),
        vec![(top, SessionId(1))]
    );
    assert_eq!(
        s.read(|tx| tx.queue_count_before(TopicId(1), u64::MAX))
            .unwrap(),
        1
    );
}

#[test]
fn concurrent_writers_get_distinct_ids() {
    const THREADS: usize = 8;
    const N: usize = 25;
    let s = Arc::new(temp_store());
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let s = Arc::clone(&s);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let mut got = Vec::new();
                for _ in 0..N {
                    let id = s
                        .write(|tx| {
                            let id = i32::try_from(tx.next_id(IdKind::Session)?).unwrap();
                            tx.put_session(&session(id, 1))?;
                            Ok(id)
                        })
                        .unwrap();
                    got.push(id);
                }
                got
            })
        })
        .collect();
    let mut all: Vec<i32> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    let want: Vec<i32> = (1..=i32::try_from(THREADS * N).unwrap()).collect();
    assert_eq!(all, want);
    let stored = s.read(|tx| tx.sessions(SessionId(0), usize::MAX)).unwrap();
    assert_eq!(ids(&stored), want);
}

#[test]
fn a_read_sees_one_snapshot_and_no_uncommitted_state() {
    let s = Arc::new(temp_store());
    s.write(|tx| tx.put_session(&session(1, 1))).unwrap();
    let (to_reader, reader_rx) = mpsc::channel::<()>();
    let (to_writer, writer_rx) = mpsc::channel::<()>();
    // A writer that has written but not committed.
    let w = {
        let s = Arc::clone(&s);
        std::thread::spawn(move || {
            s.write(|tx| {
                tx.put_session(&session(2, 1))?;
                to_reader.send(()).unwrap();
                writer_rx.recv().unwrap();
                Ok(())
            })
            .unwrap();
        })
    };
    reader_rx.recv().unwrap();
    let n = s.read(|tx| tx.sessions(SessionId(0), 10)).unwrap().len();
    assert_eq!(n, 1, "no dirty read");
    // A read that spans the commit keeps its snapshot.
    s.read(|tx| {
        assert_eq!(tx.sessions(SessionId(0), 10)?.len(), 1);
        to_writer.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(tx.sessions(SessionId(0), 10)?.len(), 1, "no phantom");
        assert_eq!(tx.session(SessionId(2))?, None);
        Ok(())
    })
    .unwrap();
    w.join().unwrap();
    assert_eq!(s.read(|tx| tx.sessions(SessionId(0), 10)).unwrap().len(), 2);
}

#[test]
fn another_process_holding_the_lock_gives_conflict() {
    let s = Arc::new(temp_store());
    let other = SqliteStorage::open(
        s.path(),
        SqliteOptions {
            busy_timeout: Duration::from_millis(100),
            ..durable()
        },
    )
    .unwrap();
    let (locked_tx, locked_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let holder = {
        let s = Arc::clone(&s);
        std::thread::spawn(move || {
            s.write(|tx| {
                tx.put_session(&session(1, 1))?;
                locked_tx.send(()).unwrap();
                done_rx.recv().unwrap();
                Ok(())
            })
            .unwrap();
        })
    };
    locked_rx.recv().unwrap();
    let mut ran = false;
    let err = other
        .write(|tx| {
            ran = true;
            tx.put_session(&session(2, 1))
        })
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert!(!ran, "the closure does not run without the lock");
    // Reads are not blocked by the other writer.
    assert!(other.read(|tx| tx.session(SessionId(1))).unwrap().is_none());
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    other.write(|tx| tx.put_session(&session(2, 1))).unwrap();
    assert_eq!(s.read(|tx| tx.sessions(SessionId(0), 9)).unwrap().len(), 2);
    other.close().unwrap();
}

#[test]
fn flush_and_close_work_in_both_modes() {
    for durability in [chatdesk::Durability::Durable, chatdesk::Durability::Relaxed] {
        let s: TempSqlite = temp_store_with(SqliteOptions {
            durability,
            ..durable()
        });
        assert_eq!(s.backend_name(), "sqlite");
        s.write(|tx| tx.put_topic(&topic(1))).unwrap();
        s.flush().unwrap();
        let s = s.reopen(SqliteOptions::default()).unwrap();
        assert_eq!(s.read(|tx| tx.topics()).unwrap().len(), 1);
    }
}

#[test]
fn topic_settings_round_trip_as_json_with_a_readable_name() {
    let s = temp_store();
    let settings: chatdesk::ChatTopicEntity = serde_json::from_str(
        r#"{"Name": "Sales", "Description": "Ålesund", "Widget": {"RequiredFields": "name, EMAIL"}}"#,
    )
    .unwrap();
    let t = chatdesk::backend::TopicRecord {
        settings,
        ..topic(1)
    };
    s.write(|tx| tx.put_topic(&t)).unwrap();
    assert_eq!(s.read(|tx| tx.topic(TopicId(1))).unwrap(), Some(t.clone()));
    let conn = rusqlite::Connection::open(s.path()).unwrap();
    let (name, json): (String, String) = conn
        .query_row("SELECT name, settings_json FROM chat_topic", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(name, "Sales");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v, serde_json::to_value(&t.settings).unwrap());
}

#[test]
fn a_version_1_store_migrates_and_gets_its_queue_index() {
    // A version-1 file is today's file without the counted queue index.
    let s = temp_store();
    s.write(|tx| {
        for (id, topic, seq) in [(1, 1, 5), (2, 1, 9), (3, 2, 10), (4, 1, 12)] {
            tx.put_session(&queued(id, topic, seq))?;
        }
        Ok(())
    })
    .unwrap();
    let path = s.path();
    s.store().flush().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE chat_queue_index; PRAGMA user_version = 1;")
            .unwrap();
    }
    let err = open_err(&path, durable());
    assert!(matches!(err, Error::IncompatibleStore { .. }), "{err:?}");
    let up = SqliteStorage::open(
        &path,
        SqliteOptions {
            migrate: true,
            ..durable()
        },
    )
    .unwrap();
    let got = up
        .read(|tx| {
            Ok((
                tx.queue_len(TopicId(1))?,
                tx.queue_count_before(TopicId(1), 9)?,
                tx.queue_count_before(TopicId(1), 12)?,
                tx.queue_len(TopicId(2))?,
            ))
        })
        .unwrap();
    assert_eq!(got, (3, 1, 2, 1));
    up.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let ver: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ver, SCHEMA_VERSION);
}

#[test]
fn a_version_2_store_migrates_and_gets_a_change_feed_that_starts_off() {
    // A version-2 file is today's file without the change feed and the
    // metadata map.
    let s = temp_store();
    s.write(|tx| {
        for (id, topic, seq) in [(1, 1, 5), (2, 1, 9)] {
            tx.put_session(&queued(id, topic, seq))?;
        }
        tx.next_id(IdKind::Session).map(|_| ())
    })
    .unwrap();
    let path = s.path();
    s.store().flush().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE chat_event; DROP TABLE chatdesk_meta; PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let err = open_err(&path, durable());
    assert!(matches!(err, Error::IncompatibleStore { .. }), "{err:?}");
    let up = SqliteStorage::open(
        &path,
        SqliteOptions {
            migrate: true,
            ..durable()
        },
    )
    .unwrap();
    let (sessions, events, switch, queued_len) = up
        .read(|tx| {
            Ok((
                tx.sessions(SessionId(0), 10)?.len(),
                tx.events_after(0, 10)?,
                tx.meta("change_feed")?,
                tx.queue_len(TopicId(1))?,
            ))
        })
        .unwrap();
    assert_eq!((sessions, events, switch, queued_len), (2, vec![], None, 2));
    // The migrated store takes events and settings, and its counters go on.
    let desk = chatdesk::ChatDesk::new(up);
    let sys = chatdesk::Caller::system();
    assert!(!desk.change_feed_enabled(&sys).unwrap());
    desk.set_change_feed(&sys, true).unwrap();
    assert!(desk.change_feed_enabled(&sys).unwrap());
    assert_eq!(
        desk.storage()
            .write(|tx| tx.next_id(IdKind::Session))
            .unwrap(),
        2
    );
    let up = desk.into_storage();
    up.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let ver: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ver, SCHEMA_VERSION);
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('chat_event', 'chatdesk_meta')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 2);
}

#[test]
fn the_wal_is_checkpointed_in_the_background() {
    let s = temp_store();
    s.write(|tx| tx.put_topic(&topic(1))).unwrap();
    let main_file = |s: &TempSqlite| std::fs::metadata(s.path()).map_or(0, |m| m.len());
    let before = main_file(&s);
    // Enough commits for several checkpoint batches; each one writes a
    // session and a message, so the WAL passes SQLite's automatic threshold.
    for i in 1..=600 {
        s.write(|tx| {
            tx.put_session(&queued(i, 1, u64::try_from(i).unwrap()))?;
            tx.put_message(&message(i, i))
        })
        .unwrap();
    }
    // The checkpoint thread copies the WAL back into the main file.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while main_file(&s) <= before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        main_file(&s) > before,
        "the main file grew from {before} bytes: checkpoints ran"
    );
    // Everything is there, through another connection and the store.
    let conn = rusqlite::Connection::open(s.path()).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM chat_session", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 600);
    drop(conn);
    assert_eq!(
        s.read(|tx| tx.messages(SessionId(600), MessageId(0), 10))
            .unwrap()
            .len(),
        1
    );
}

/// Sessions of [`a_version_3_store_migrates_with_routing_defaults_and_indexes`]:
/// two with a pending transfer (2 to user 9, 5 to user 10), two with a
/// TransferTo that is not pending (3 is queued, 4 is closed), one ended
/// and one open without any, requested out of id order.
fn v3_sessions() -> Vec<chatdesk::backend::SessionRecord> {
    use chatdesk::Timestamp;
    let with = |mut s: chatdesk::backend::SessionRecord, to: Option<i32>, at: i64| {
        s.transfer_to = to.map(UserId);
        s.when_requested = Timestamp(at);
        s
    };
    let closed = chatdesk::backend::SessionRecord {
        status: ChatSessionStatus::Closed,
        ..active(4, 1, 8)
    };
    let finished = chatdesk::backend::SessionRecord {
        status: ChatSessionStatus::Finished,
        ..session(6, 2)
    };
    vec![
        with(queued(1, 1, 1), None, 300),
        with(active(2, 1, 8), Some(9), 100),
        with(queued(3, 1, 2), Some(9), 100),
        with(closed, Some(9), 50),
        with(active(5, 2, 7), Some(10), 400),
        with(finished, None, 200),
    ]
}

/// What every read path says about the store of
/// [`a_version_3_store_migrates_with_routing_defaults_and_indexes`].
fn v3_reads(tx: &dyn chatdesk::backend::ReadTx) -> chatdesk::Result<String> {
    let mut out = String::new();
    out += &format!("{:?}\n", tx.topics()?);
    out += &format!("{:?}\n", tx.sessions(SessionId(0), 100)?);
    for id in 1..=6 {
        out += &format!("{:?}\n", tx.session(SessionId(id))?);
        out += &format!("{:?}\n", tx.session_by_key(&key(id))?);
        out += &format!("{:?}\n", tx.messages(SessionId(id), MessageId(0), 9)?);
    }
    for t in 1..=2 {
        out += &format!("{:?}\n", tx.topic(TopicId(t))?);
        out += &format!("{:?}\n", tx.topic_sessions(TopicId(t), SessionId(0), 9)?);
        out += &format!("{:?}\n", tx.queue(TopicId(t), 0, 9)?);
        out += &format!("{}\n", tx.queue_len(TopicId(t))?);
    }
    for u in [7, 8] {
        out += &format!("{:?}\n", tx.active_sessions(UserId(u))?);
    }
    for st in [ChatSessionStatus::InQueue, ChatSessionStatus::Closed] {
        out += &format!("{:?}\n", tx.sessions_by_status(st, SessionId(0), 9)?);
    }
    Ok(out)
}

#[test]
fn a_version_3_store_migrates_with_routing_defaults_and_indexes() {
    // A version-3 file is today's file without version 4's columns,
    // indexes and agent table (ALTER TABLE ... DROP COLUMN gives back the
    // version-3 table: version 4 appended its columns).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let store = SqliteStorage::open(&path, durable()).unwrap();
    store
        .write(|tx| {
            tx.put_topic(&topic(1))?;
            tx.put_topic(&topic(2))?;
            for s in v3_sessions() {
                tx.put_session(&s)?;
            }
            tx.put_message(&message(1, 2))?;
            tx.put_message(&message(2, 4))?;
            tx.next_id(IdKind::Session).map(|_| ())
        })
        .unwrap();
    let before = store.read(v3_reads).unwrap();
    store.close().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP INDEX chat_session_transfers;
             DROP INDEX chat_session_by_requested;
             DROP TABLE chat_agent;",
        )
        .unwrap();
        for column in [
            "routing_mode",
            "routing_strategy",
            "default_capacity",
            "answer_timeout_secs",
            "transfer_timeout_secs",
        ] {
            conn.execute_batch(&format!("ALTER TABLE chat_topic DROP COLUMN {column}"))
                .unwrap();
        }
        for column in [
            "routed_at",
            "routed_answered",
            "excluded_users",
            "transfer_requested_at",
            "max_alert_level",
            "answer_timeouts",
            "first_answer_at",
            "pending_transfer_to",
        ] {
            conn.execute_batch(&format!("ALTER TABLE chat_session DROP COLUMN {column}"))
                .unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 3; VACUUM;")
            .unwrap();
    }
    let untouched = std::fs::read(&path).unwrap();
    let err = open_err(&path, durable());
    match err {
        Error::IncompatibleStore { found, supported } => {
            assert!(found.contains("version 3"), "{found}");
            assert!(supported.contains('4'), "{supported}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        untouched,
        "a refused store is untouched"
    );

    let up = SqliteStorage::open(
        &path,
        SqliteOptions {
            migrate: true,
            ..durable()
        },
    )
    .unwrap();
    // Every read path says what it said before (the records had the
    // defaults, which the new columns give), and the new ones answer.
    assert_eq!(up.read(v3_reads).unwrap(), before);
    up.read(|tx| {
        for t in tx.topics()? {
            assert_eq!(t.routing, chatdesk::backend::TopicRouting::default());
        }
        for s in tx.sessions(SessionId(0), 100)? {
            assert_eq!(s.routing, chatdesk::backend::SessionRouting::default());
            assert_eq!(s.stats, chatdesk::backend::SessionStats::default());
        }
        assert_eq!(tx.transfers_to(UserId(9))?, vec![SessionId(2)]);
        assert_eq!(tx.transfers_to(UserId(10))?, vec![SessionId(5)]);
        assert_eq!(tx.transfers_to(UserId(8))?, vec![]);
        assert_eq!(tx.agent(UserId(8))?, None);
        let by_time: Vec<i32> = tx
            .sessions_requested(
                (chatdesk::Timestamp(i64::MIN), SessionId(0)),
                chatdesk::Timestamp(i64::MAX),
                100,
            )?
            .iter()
            .map(|s| s.id.get())
            .collect();
        assert_eq!(by_time, [4, 2, 3, 6, 1, 5]);
        Ok(())
    })
    .unwrap();
    // The migrated store takes the new data, and its counters go on.
    let agent = chatdesk::backend::AgentRecord {
        user: UserId(8),
        max_chats: Some(2),
        last_assigned: Some(chatdesk::Timestamp(5)),
    };
    let next = up
        .write(|tx| {
            tx.put_agent(&agent)?;
            tx.put_session(&chatdesk::backend::SessionRecord {
                transfer_to: Some(UserId(9)),
                ..active(1, 1, 7)
            })?;
            tx.next_id(IdKind::Session)
        })
        .unwrap();
    assert_eq!(next, 2);
    up.read(|tx| {
        assert_eq!(tx.agent(UserId(8))?, Some(agent));
        assert_eq!(
            tx.transfers_to(UserId(9))?,
            vec![SessionId(1), SessionId(2)]
        );
        Ok(())
    })
    .unwrap();
    up.close().unwrap();

    // On disk: version 4, the derived column filled by the record's rule,
    // the new indexes used by the reads that need them.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let ver: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ver, SCHEMA_VERSION);
    let mut stmt = conn
        .prepare("SELECT pending_transfer_to FROM chat_session ORDER BY id")
        .unwrap();
    let pending: Vec<Option<i32>> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(pending, [Some(9), Some(9), None, None, Some(10), None]);
    for (sql, index) in [
        (
            "SELECT id FROM chat_session WHERE pending_transfer_to = 9 ORDER BY id",
            "chat_session_transfers",
        ),
        (
            "SELECT id FROM chat_session WHERE when_requested >= 100 AND when_requested < 300 \
             AND (when_requested > 100 OR id > 2) ORDER BY when_requested, id LIMIT 10",
            "chat_session_by_requested",
        ),
    ] {
        let plan = query_plan(&conn, sql);
        assert!(plan.contains(index), "{sql}: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
    }
}

/// SQLite's query plan for `sql`, one line per step.
fn query_plan(conn: &rusqlite::Connection, sql: &str) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    stmt.query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect::<Vec<_>>()
        .join("\n")
}
