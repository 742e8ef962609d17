//! What the PostgreSQL backend adds to the common contract: the lock scope of
//! `WriteTx::lock`, Conflict (never a hang) for a writer that cannot get its
//! turn, the change feed gap-free in commit order under concurrent writers,
//! the schema guard, and the pool's recovery from lost connections. Two
//! `PgStorage`s on one schema stand for two processes (they share nothing
//! but the server).

use chatdesk::backend::{EventRecord, IdKind, LockSet, RoutingLock, StorageExt};
use chatdesk::{Error, EventActor, SessionId, Storage, Timestamp, TopicId, UserId};
use chatdesk_postgres::testing::{self, TempPg};
use chatdesk_postgres::{PgOptions, PgStorage};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn store() -> Option<TempPg> {
    testing::temp_store_or_skip()
}

fn options(busy: Duration) -> PgOptions {
    PgOptions {
        busy_timeout: busy,
        pool_size: 2,
        ..PgOptions::default()
    }
}

fn shared(topics: &[i32], users: &[i32]) -> LockSet {
    LockSet {
        routing: RoutingLock::Shared,
        topics: topics.iter().copied().map(TopicId).collect(),
        users: users.iter().copied().map(UserId).collect(),
    }
}

/// Runs a write that takes `set` (or no lock call at all) and writes one
/// meta key.
fn write_with(store: &PgStorage, set: Option<&LockSet>, key: &str) -> chatdesk::Result<()> {
    store.write(|tx| {
        if let Some(set) = set {
            tx.lock(set)?;
        }
        tx.put_meta(key, "x")
    })
}

/// Holds a write open on another thread (with `set`, or the default lock)
/// until the returned sender is dropped.
fn hold(
    store: &TempPg,
    set: Option<LockSet>,
) -> (
    mpsc::Sender<()>,
    std::thread::JoinHandle<chatdesk::Result<()>>,
) {
    let holder = match store.open_again(options(Duration::from_secs(5))) {
        Ok(s) => s,
        Err(e) => panic!("second store: {e}"),
    };
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        holder.write(|tx| {
            if let Some(set) = &set {
                tx.lock(set)?;
            }
            tx.put_meta("holder", "1")?;
            let _ = held_tx.send(());
            let _ = release_rx.recv();
            Ok(())
        })
    });
    if held_rx.recv_timeout(Duration::from_secs(30)).is_err() {
        panic!("the holding write never started");
    }
    (release_tx, handle)
}

fn expect_conflict(r: chatdesk::Result<()>, what: &str) {
    match r {
        Err(Error::Conflict { .. }) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

#[test]
fn lock_scope_lets_disjoint_writes_through_and_holds_overlapping_ones() {
    let Some(store) = store() else { return };
    let b = match store.open_again(options(Duration::from_millis(300))) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let (release, handle) = hold(&store, Some(shared(&[1], &[10])));
    // Another topic and other agents: runs beside the holder.
    let t = Instant::now();
    if let Err(e) = write_with(&b, Some(&shared(&[2], &[20])), "b") {
        panic!("a write on another topic waited for the holder: {e}");
    }
    assert!(t.elapsed() < Duration::from_millis(300));
    // The same topic, the same agent, the exclusive routing lock, or no
    // lock call at all (which takes the exclusive routing lock): each waits
    // and gets Conflict when the busy timeout runs out.
    for (set, what) in [
        (Some(shared(&[1], &[])), "same topic"),
        (Some(shared(&[3], &[10])), "same agent"),
        (
            Some(LockSet {
                routing: RoutingLock::Exclusive,
                topics: vec![],
                users: vec![],
            }),
            "exclusive routing lock",
        ),
        (None, "default lock"),
    ] {
        let t = Instant::now();
        expect_conflict(write_with(&b, set.as_ref(), "c"), what);
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
            "{what}: waited {waited:?}"
        );
    }
    drop(release);
    match handle.join() {
        Ok(r) => r.unwrap_or_else(|e| panic!("holder: {e}")),
        Err(_) => panic!("holder panicked"),
    }
    // Once the holder committed, the same topic goes through.
    write_with(&b, Some(&shared(&[1], &[10])), "d").unwrap_or_else(|e| panic!("{e}"));
    let seen = store
        .read(|tx| {
            Ok((
                tx.meta("holder")?,
                tx.meta("b")?,
                tx.meta("c")?,
                tx.meta("d")?,
            ))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        seen,
        (Some("1".into()), Some("x".into()), None, Some("x".into()))
    );
}

#[test]
fn an_unlocked_write_runs_alone() {
    let Some(store) = store() else { return };
    let b = match store.open_again(options(Duration::from_millis(300))) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let (release, handle) = hold(&store, None);
    expect_conflict(
        write_with(&b, Some(&shared(&[7], &[70])), "x"),
        "shared write beside an unlocked one",
    );
    // Reads never wait for writers.
    let t = Instant::now();
    let _ = b
        .read(|tx| tx.meta("holder"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(t.elapsed() < Duration::from_millis(250));
    drop(release);
    let _ = handle.join();
}

fn event(seq: i64, topic: i32) -> EventRecord {
    EventRecord {
        seq,
        id: [7; 16],
        at: Timestamp(seq),
        session: SessionId(1),
        topic: TopicId(topic),
        actor: EventActor::System,
        kind: "test.event".into(),
        data: "{}".into(),
    }
}

#[test]
fn the_feed_is_gap_free_in_commit_order_under_concurrent_writers() {
    let Some(store) = store() else { return };
    const WRITERS: i32 = 4;
    const EACH: usize = 25;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let r = match store.open_again(options(Duration::from_secs(5))) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let stop = stop.clone();
        std::thread::spawn(move || -> Vec<i64> {
            let mut seen = Vec::new();
            let mut last = 0;
            loop {
                let done = stop.load(std::sync::atomic::Ordering::SeqCst);
                let batch = r
                    .read(|tx| tx.events_after(last, 1000))
                    .unwrap_or_else(|e| panic!("{e}"));
                for e in batch {
                    // Commit order: a reader never sees a later event before
                    // an earlier one.
                    assert_eq!(e.seq, last + 1, "the feed skipped");
                    last = e.seq;
                    seen.push(e.seq);
                }
                if done {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (1..=WRITERS)
        .map(|w| {
            let s = match store.open_again(options(Duration::from_secs(10))) {
                Ok(s) => s,
                Err(e) => panic!("{e}"),
            };
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    s.write(|tx| {
                        tx.lock(&shared(&[w], &[w * 10]))?;
                        let seq = tx.next_id(IdKind::Event)?;
                        tx.put_event(&event(seq, w))
                    })
                    .unwrap_or_else(|e| panic!("writer {w}: {e}"));
                }
            })
        })
        .collect();
    for w in writers {
        if w.join().is_err() {
            panic!("a writer panicked");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = match reader.join() {
        Ok(s) => s,
        Err(_) => panic!("the reader panicked"),
    };
    let total = i64::from(WRITERS) * EACH as i64;
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
}

/// Ids come from sequences: unique and increasing, a failed write may leave
/// a gap (and the backend says so), and a writer holding an id in an open
/// transaction makes no writer on another topic wait for its own.
#[test]
fn ids_are_unique_and_increasing_and_never_wait_for_another_writer() {
    let Some(store) = store() else { return };
    assert!(!store.capabilities().gap_free_ids);
    assert!(store.capabilities().shared_between_processes);
    let first = store
        .write(|tx| tx.next_id(IdKind::Session))
        .unwrap_or_else(|e| panic!("{e}"));
    let r: chatdesk::Result<()> = store.write(|tx| {
        tx.next_id(IdKind::Session)?;
        Err(Error::conflict("closure fails"))
    });
    assert!(r.is_err());
    let second = store
        .write(|tx| tx.next_id(IdKind::Session))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, 1);
    assert!(second > first, "{first} then {second}");
    // A writer on topic 1 takes one id of each kind and stays open.
    let holder = store
        .open_again(options(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = mpsc::channel::<Vec<i64>>();
    let handle = std::thread::spawn(move || {
        holder.write(|tx| {
            tx.lock(&shared(&[1], &[10]))?;
            let ids = [IdKind::Session, IdKind::Message, IdKind::QueueSeq]
                .into_iter()
                .map(|k| tx.next_id(k))
                .collect::<chatdesk::Result<Vec<_>>>()?;
            let _ = held_tx.send(ids);
            let _ = release_rx.recv();
            Ok(())
        })
    });
    let held = held_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the holder never started: {e}"));
    // Writers on topic 2 take ids of the same kinds at once, many times.
    let b = store
        .open_again(options(Duration::from_millis(500)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut seen = held.clone();
    for _ in 0..20 {
        let t = Instant::now();
        let ids = b
            .write(|tx| {
                tx.lock(&shared(&[2], &[20]))?;
                [IdKind::Session, IdKind::Message, IdKind::QueueSeq]
                    .into_iter()
                    .map(|k| tx.next_id(k))
                    .collect::<chatdesk::Result<Vec<_>>>()
            })
            .unwrap_or_else(|e| panic!("a writer on another topic waited: {e}"));
        assert!(t.elapsed() < Duration::from_millis(500));
        for (i, id) in ids.iter().enumerate() {
            assert!(*id > seen[i], "kind {i}: {id} after {}", seen[i]);
        }
        seen = ids;
    }
    drop(release_tx);
    handle
        .join()
        .unwrap_or_else(|_| panic!("holder panicked"))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A version 1 store (ids in counter rows) opened with `migrate` continues
/// every kind after its counter.
#[test]
fn migrating_from_counter_rows_continues_every_id_kind() {
    let Some(store) = store() else { return };
    store
        .write(|tx| {
            for _ in 0..3 {
                tx.next_id(IdKind::Session)?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Turn it back into what version 1 looked like.
    sql(
        &store,
        "SET search_path TO \"$SCHEMA\"; \
         DROP SEQUENCE chatdesk_seq_topic, chatdesk_seq_session, chatdesk_seq_message, \
         chatdesk_seq_queue_seq; \
         INSERT INTO chatdesk_counter (kind, last) VALUES ('topic', 7), ('session', 40), \
         ('message', 500), ('queue_seq', 9000); \
         UPDATE chatdesk_schema SET version = 1",
    );
    expect_incompatible(store.open_again(PgOptions::default()), "version 1");
    let migrated = store
        .open_again(PgOptions {
            migrate: true,
            ..PgOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let ids = migrated
        .write(|tx| {
            IdKind::ALL
                .into_iter()
                .map(|k| tx.next_id(k))
                .collect::<chatdesk::Result<Vec<_>>>()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // topic, session, message, queue_seq, event (its counter row is kept).
    assert_eq!(ids, vec![8, 41, 501, 9001, 1]);
}

fn sql(store: &TempPg, statement: &str) {
    let config: postgres::Config = store.url().parse().unwrap_or_else(|e| panic!("{e}"));
    let mut client = config
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("{e}"));
    let statement = statement.replace("$SCHEMA", store.schema());
    client
        .batch_execute(&statement)
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

fn expect_incompatible(r: chatdesk::Result<PgStorage>, what: &str) {
    match r {
        Err(Error::IncompatibleStore { .. }) => {}
        other => panic!("{what}: expected IncompatibleStore, got {other:?}"),
    }
}

#[test]
fn the_schema_guard_refuses_foreign_newer_and_unmigrated_older_schemas() {
    let Some(store) = store() else { return };
    let opts = PgOptions::default();
    sql(
        &store,
        "UPDATE \"$SCHEMA\".chatdesk_schema SET version = 99",
    );
    expect_incompatible(store.open_again(opts.clone()), "newer version");
    sql(&store, "UPDATE \"$SCHEMA\".chatdesk_schema SET version = 0");
    expect_incompatible(store.open_again(opts.clone()), "older version");
    sql(
        &store,
        "UPDATE \"$SCHEMA\".chatdesk_schema SET version = 1, application = 'other'",
    );
    expect_incompatible(store.open_again(opts.clone()), "another application");
    sql(&store, "DROP TABLE \"$SCHEMA\".chatdesk_schema");
    expect_incompatible(store.open_again(opts.clone()), "tables without a version");
    // A bad schema name never reaches SQL.
    match PgStorage::open(
        store.url(),
        PgOptions {
            schema: "x\"; DROP TABLE y; --".into(),
            ..PgOptions::default()
        },
    ) {
        Err(Error::Validation { .. }) => {}
        other => panic!("bad schema name: {other:?}"),
    }
}

#[test]
fn the_pool_recovers_after_its_connections_are_cut() {
    let Some(temp) = store() else { return };
    // A store whose connections carry a name of their own, so that only
    // they are cut.
    let url = format!("{} application_name=cut_{}", temp.url(), temp.schema());
    let store = PgStorage::open(
        &url,
        PgOptions {
            schema: temp.schema().to_owned(),
            ..options(Duration::from_secs(5))
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    store
        .write(|tx| tx.put_meta("k", "1"))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = store.read(|tx| tx.meta("k"));
    sql(
        &temp,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'cut_$SCHEMA'",
    );
    // Each broken connection fails at most one operation, then is replaced.
    let mut ok = false;
    for _ in 0..4 {
        if store
            .read(|tx| tx.meta("k"))
            .is_ok_and(|v| v.as_deref() == Some("1"))
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "the pool did not recover");
    store
        .write(|tx| tx.put_meta("k", "2"))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn wait_for_events_is_woken_by_another_processs_commit() {
    use chatdesk::{Caller, ChatDesk, ChatSessionEntity};
    let Some(temp) = store() else { return };
    let open = || match temp.open_again(options(Duration::from_secs(5))) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    // Two services on two stores: they share nothing but the server.
    let (waiter, writer) = (ChatDesk::new(open()), ChatDesk::new(open()));
    let sys = Caller::system();
    writer
        .set_change_feed(&sys, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut t = writer.create_default_chat_topic_entity(&sys);
    t.name = "feed".into();
    let topic = writer
        .save_chat_topic_entity(&sys, &t)
        .unwrap_or_else(|e| panic!("{e}"))
        .chat_topic_id;
    let cursor = waiter
        .events_after(&sys, 0, 1000)
        .unwrap_or_else(|e| panic!("{e}"))
        .last()
        .map_or(0, |e| e.seq);
    let handle = std::thread::spawn(move || {
        let start = Instant::now();
        let got = waiter
            .wait_for_events(&Caller::system(), cursor, 100, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}"));
        (got.len(), start.elapsed())
    });
    // Let the waiter start waiting (and its listener connect).
    std::thread::sleep(Duration::from_millis(700));
    let input = ChatSessionEntity {
        customer_alias: "c".into(),
        ..ChatSessionEntity::default()
    };
    writer
        .create_chat_session_for_topic(&Caller::anonymous(), TopicId(topic), &input)
        .unwrap_or_else(|e| panic!("{e}"));
    let (n, waited) = handle
        .join()
        .unwrap_or_else(|_| panic!("the waiter panicked"));
    assert!(n > 0, "woken with nothing");
    assert!(
        waited < Duration::from_secs(5),
        "woken after {waited:?}, not by the commit"
    );
}

/// Round trips per operation (statements cached, change feed off), pinned
/// to a budget (measured: create 5, pick up 8, add message 5, BEGIN with its
/// locks and COMMIT included; 12, 16 and 9 before writes went with the
/// commit and metadata and ids with BEGIN): on a network they, not the
/// server's work, bound latency.
#[test]
fn operations_stay_within_their_round_trip_budget() {
    use chatdesk::{Caller, ChatDesk, ChatMessage, ChatSessionEntity};
    let Some(temp) = store() else { return };
    let store = temp
        .open_again(options(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    let desk = ChatDesk::new(store);
    let topic = testing::new_topic(&desk, "budget").unwrap_or_else(|e| panic!("{e}"));
    let agent = 5;
    testing::staff(&desk, topic, agent).unwrap_or_else(|e| panic!("{e}"));
    let me = Caller::agent(UserId(agent));
    let input = ChatSessionEntity {
        customer_alias: "c".into(),
        ..ChatSessionEntity::default()
    };
    let message = ChatMessage {
        message: "hello".into(),
        ..ChatMessage::default()
    };
    let mut costs = Vec::new();
    for round in 0..3 {
        let trips = || desk.storage().round_trips();
        let t0 = trips();
        let s = desk
            .create_chat_session_for_topic(&Caller::anonymous(), topic, &input)
            .unwrap_or_else(|e| panic!("{e}"));
        let t1 = trips();
        desk.pick_up_chat_session(&me, SessionId(s.chat_session_id))
            .unwrap_or_else(|e| panic!("{e}"));
        let t2 = trips();
        desk.add_chat_message(&me, SessionId(s.chat_session_id), &message)
            .unwrap_or_else(|e| panic!("{e}"));
        let t3 = trips();
        if round > 0 {
            costs.push((t1 - t0, t2 - t1, t3 - t2));
        }
    }
    eprintln!("round trips (create, pick up, add message): {costs:?}");
    for &(create, pick_up, add) in &costs {
        assert!(create <= CREATE_BUDGET, "create: {create} round trips");
        assert!(pick_up <= PICK_UP_BUDGET, "pick up: {pick_up} round trips");
        assert!(add <= ADD_MESSAGE_BUDGET, "add message: {add} round trips");
    }
}

const CREATE_BUDGET: u64 = 5;
const PICK_UP_BUDGET: u64 = 8;
const ADD_MESSAGE_BUDGET: u64 = 5;

/// A write's values travel as SQL literals with its COMMIT: every character
/// a customer or agent may type comes back as typed (quotes, backslashes,
/// statement and comment markers, placeholders, non-ASCII), and a text the
/// protocol cannot carry (NUL) is refused with nothing written.
#[test]
fn written_text_comes_back_character_for_character() {
    use chatdesk::{Caller, ChatDesk, ChatMessage, ChatSessionEntity};
    let Some(temp) = store() else { return };
    let store = temp
        .open_again(options(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    let desk = ChatDesk::new(store);
    let topic = testing::new_topic(&desk, "it's \\ a 'topic'").unwrap_or_else(|e| panic!("{e}"));
    let agent = 7;
    testing::staff(&desk, topic, agent).unwrap_or_else(|e| panic!("{e}"));
    let nasty = [
        "O'Brien",
        "back\\slash \\' and E'\\x00'",
        "'); DROP TABLE chat_session; --",
        "$1 $2 $44 ::int4[] /* open",
        "tab\tnew\nline \r end",
        "日本語 😀 Ünïcödé",
    ];
    let me = Caller::agent(UserId(agent));
    for text in nasty {
        let s = desk
            .create_chat_session_for_topic(
                &Caller::anonymous(),
                topic,
                &ChatSessionEntity {
                    customer_alias: text.chars().take(50).collect(),
                    ..ChatSessionEntity::default()
                },
            )
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let id = SessionId(s.chat_session_id);
        desk.pick_up_chat_session(&me, id)
            .unwrap_or_else(|e| panic!("{e}"));
        desk.add_chat_message(
            &me,
            id,
            &ChatMessage {
                message: text.into(),
                ..ChatMessage::default()
            },
        )
        .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let back = desk
            .get_chat_session_entity(&Caller::system(), id)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            back.customer_alias,
            text.chars().take(50).collect::<String>()
        );
        let messages = desk
            .get_chat_messages(&Caller::system(), id, None, 100)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            messages.iter().any(|m| m.message == text),
            "{text:?} not among {messages:?}"
        );
    }
    // NUL: refused, and nothing of the operation is written.
    let s = desk
        .create_chat_session_for_topic(&Caller::anonymous(), topic, &ChatSessionEntity::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let id = SessionId(s.chat_session_id);
    desk.pick_up_chat_session(&me, id)
        .unwrap_or_else(|e| panic!("{e}"));
    let before = desk
        .get_chat_messages(&Caller::system(), id, None, 100)
        .unwrap_or_else(|e| panic!("{e}"));
    let out = desk.add_chat_message(
        &me,
        id,
        &ChatMessage {
            message: "a\0b".into(),
            ..ChatMessage::default()
        },
    );
    assert!(out.is_err(), "a NUL was accepted: {out:?}");
    let after = desk
        .get_chat_messages(&Caller::system(), id, None, 100)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.len(), after.len());
}

/// A session write kept for the commit carries the old queue key the
/// transaction read; when the row moved in between (here a raw client,
/// which takes none of chatdesk's locks, requeues it), the commit fails and
/// the counted queue index is left as it was, rather than drifting.
#[test]
fn a_kept_session_write_whose_queue_key_moved_fails_its_commit() {
    use chatdesk::ChatSessionStatus;
    use chatdesk::testkit::storage::record;
    let Some(temp) = store() else { return };
    let store = temp
        .open_again(options(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = record(1, 1, ChatSessionStatus::InQueue);
    s.queue_seq = Some(5);
    store
        .write(|tx| tx.put_session(&s))
        .unwrap_or_else(|e| panic!("{e}"));
    let before = store
        .read(|tx| Ok((tx.queue_len(TopicId(1))?, tx.queue(TopicId(1), 0, 10)?)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.1, vec![(5, SessionId(1))]);
    let mut raw =
        postgres::Client::connect(temp.url(), postgres::NoTls).unwrap_or_else(|e| panic!("{e}"));
    let out = store.write(|tx| {
        let mut read = tx
            .session(SessionId(1))?
            .ok_or_else(|| Error::corrupt("gone"))?;
        // Moved behind the transaction's back after it read the row.
        raw.batch_execute(&format!(
            "UPDATE \"{}\".chat_session SET queue_seq = 9, human_queue_seq = 9 WHERE id = 1",
            temp.schema()
        ))
        .map_err(|e| Error::corrupt(e.to_string()))?;
        read.status = ChatSessionStatus::UserLast;
        read.user = Some(UserId(3));
        read.rank = 1;
        tx.put_session(&read)
    });
    assert!(
        matches!(out, Err(Error::Storage { .. })),
        "the commit went through: {out:?}"
    );
    let after = store
        .read(|tx| Ok((tx.queue_len(TopicId(1))?, tx.session(SessionId(1))?)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.0, before.0, "the counted index is unchanged");
    assert_eq!(
        after.1.map(|s| s.status),
        Some(ChatSessionStatus::InQueue),
        "nothing of the write landed"
    );
}
