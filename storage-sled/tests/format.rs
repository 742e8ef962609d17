//! What is on disk: reopening, the version key, and damaged directories.

mod common;

use chatdesk::backend::{IdKind, StorageExt};
use chatdesk::{Durability, Error, MessageId, SessionId, TopicId, UserId};
use chatdesk_sled::testing::{temp_store, temp_store_with};
use chatdesk_sled::{SledOptions, SledStorage};
use common::*;
use std::path::Path;

const SCHEMA_KEY: &[u8] = b"\xFFmeta/schema";

fn fill(store: &impl chatdesk::Storage) {
    store
        .write(|tx| {
            let t = tx.next_id(IdKind::Topic)?;
            assert_eq!(t, 1);
            tx.put_topic(&topic(1))?;
            tx.put_member(&member(1, 7))?;
            tx.put_presence(&presence(7))?;
            for _ in 0..3 {
                let id = i32::try_from(tx.next_id(IdKind::Session)?).unwrap_or(0);
                let seq = u64::try_from(tx.next_id(IdKind::QueueSeq)?).unwrap_or(0);
                tx.put_session(&queued(id, 1, seq))?;
                let m = i32::try_from(tx.next_id(IdKind::Message)?).unwrap_or(0);
                tx.put_message(&message(id, m))?;
            }
            tx.put_session(&active(3, 1, 7))?;
            Ok(())
        })
        .unwrap();
}

fn check_filled(store: &impl chatdesk::Storage) {
    store
        .read(|tx| {
            assert_eq!(tx.topic(TopicId(1))?, Some(topic(1)));
            assert_eq!(tx.member(TopicId(1), UserId(7))?, Some(member(1, 7)));
            assert_eq!(tx.presence(UserId(7))?, Some(presence(7)));
            assert_eq!(ids(&tx.sessions(SessionId(0), 10)?), [1, 2, 3]);
            assert_eq!(tx.session(SessionId(3))?, Some(active(3, 1, 7)));
            assert_eq!(
                tx.queue(TopicId(1), 0, 10)?,
                vec![(1, SessionId(1)), (2, SessionId(2))]
            );
            assert_eq!(ids(&tx.active_sessions(UserId(7))?), [3]);
            assert_eq!(tx.session_by_key(&key_hash(2))?, Some(SessionId(2)));
            assert_eq!(
                tx.messages(SessionId(2), MessageId(0), 9)?,
                vec![message(2, 2)]
            );
            Ok(())
        })
        .unwrap();
    // Counters carry on where they were.
    let next = store
        .write(|tx| {
            IdKind::ALL
                .iter()
                .map(|k| tx.next_id(*k))
                .collect::<chatdesk::Result<Vec<_>>>()
        })
        .unwrap();
    assert_eq!(next, [2, 4, 4, 4, 1]);
}

#[test]
fn reopening_finds_everything_including_counters() {
    for durability in [Durability::Durable, Durability::Relaxed] {
        let store = temp_store_with(SledOptions {
            durability,
            ..SledOptions::default()
        });
        fill(&store);
        let store = store.reopen().unwrap();
        check_filled(&store);
    }
}

#[test]
fn reopening_after_a_plain_drop_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    fill(&store);
    drop(store);
    let store = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    check_filled(&store);
}

#[test]
fn a_second_handle_on_an_open_directory_is_refused_not_a_panic() {
    let store = temp_store();
    let err = SledStorage::open(store.path(), SledOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err:?}");
}

fn raw(path: &Path, f: impl FnOnce(&sled::Db)) {
    let db = chatdesk_sled::testing::open_raw(path).unwrap();
    f(&db);
    db.flush().unwrap();
}

fn open_err(path: &Path, migrate: bool) -> Error {
    SledStorage::open(
        path,
        SledOptions {
            migrate,
            ..SledOptions::default()
        },
    )
    .unwrap_err()
}

#[test]
fn a_foreign_sled_store_is_incompatible_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    raw(dir.path(), |db| {
        db.insert(b"someone else's", b"data").unwrap();
    });
    let err = open_err(dir.path(), true);
    assert!(matches!(err, Error::IncompatibleStore { .. }), "{err:?}");
    raw(dir.path(), |db| {
        assert_eq!(db.len(), 1);
        assert!(db.get(SCHEMA_KEY).unwrap().is_none());
    });

    // Data only in another tree is foreign too.
    let dir = tempfile::tempdir().unwrap();
    raw(dir.path(), |db| {
        db.open_tree("other").unwrap().insert(b"k", b"v").unwrap();
    });
    let err = open_err(dir.path(), false);
    assert!(matches!(err, Error::IncompatibleStore { .. }), "{err:?}");

    // Another magic under our key.
    let dir = tempfile::tempdir().unwrap();
    raw(dir.path(), |db| {
        db.insert(SCHEMA_KEY, b"notchat!\0\0\0\x01".to_vec())
            .unwrap();
    });
    let err = open_err(dir.path(), false);
    assert!(matches!(err, Error::IncompatibleStore { .. }), "{err:?}");
}

fn with_version(version: u32) -> tempfile::TempDir {
    let dir = closed_store(|_| {});
    raw(dir.path(), |db| set_version(db, version));
    dir
}

/// A new store in a temporary directory, filled by `fill`, then closed.
fn closed_store(fill: impl FnOnce(&SledStorage)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    fill(&s);
    s.close().unwrap();
    dir
}

/// Writes schema version `version` under the version key.
fn set_version(db: &sled::Db, version: u32) {
    let mut v = b"chatdesk".to_vec();
    v.extend_from_slice(&version.to_be_bytes());
    db.insert(SCHEMA_KEY, v).unwrap();
}

/// Opens the store in `path` with `migrate` set.
fn open_migrating(path: &Path) -> SledStorage {
    SledStorage::open(
        path,
        SledOptions {
            migrate: true,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn a_newer_version_is_incompatible_even_with_migrate() {
    let dir = with_version(6);
    for migrate in [false, true] {
        match open_err(dir.path(), migrate) {
            Error::IncompatibleStore { found, supported } => {
                assert!(found.contains("v6"), "{found}");
                assert!(supported.contains("v5"), "{supported}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn an_older_version_is_refused_without_migrate_and_has_no_path_yet() {
    let dir = with_version(0);
    match open_err(dir.path(), false) {
        Error::IncompatibleStore { supported, .. } => {
            assert!(supported.contains("migrate"), "{supported}")
        }
        other => panic!("{other:?}"),
    }
    // v1 is the first format: there is nothing to upgrade from v0, and
    // nothing is written, not even the history tree v4 adds.
    raw(dir.path(), all_into_default_tree);
    let before = raw_dump_all(dir.path());
    let err = open_err(dir.path(), true);
    assert!(matches!(err, Error::IncompatibleStore { .. }), "{err:?}");
    assert_eq!(raw_dump_all(dir.path()), before);
}

#[test]
fn the_current_version_opens_with_or_without_migrate() {
    let dir = with_version(5);
    for migrate in [false, true] {
        SledStorage::open(
            dir.path(),
            SledOptions {
                migrate,
                ..Default::default()
            },
        )
        .unwrap()
        .close()
        .unwrap();
    }
}

#[test]
fn an_undecodable_value_is_corrupt_and_names_its_key() {
    let dir = closed_store(fill);
    raw(dir.path(), |db| {
        let mut key = vec![0x06];
        key.extend_from_slice(&(2u32 ^ 0x8000_0000).to_be_bytes());
        db.insert(key, vec![1, 0xFF, 0xFF, 0xFF]).unwrap();
        let mut key = vec![0x06];
        key.extend_from_slice(&(3u32 ^ 0x8000_0000).to_be_bytes());
        db.insert(key, vec![9, 1, 2]).unwrap();
    });
    let s = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    for id in [2, 3] {
        match s.read(|tx| tx.session(SessionId(id))).unwrap_err() {
            Error::Corrupt { what } => assert!(what.contains(&format!("session {id}")), "{what}"),
            other => panic!("{other:?}"),
        }
    }
    // Scans fail the same way; a write that reads the old row fails and
    // leaves nothing.
    let err = s.read(|tx| tx.sessions(SessionId(0), 10)).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let err = s.write(|tx| tx.put_session(&session(2, 1))).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert_eq!(
        ids(&s.read(|tx| tx.sessions(SessionId(0), 1)).unwrap()),
        [1]
    );
}

/// Every file of a store directory, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Garbage in any of sled's files gives a typed error (or, where sled does
/// not notice, a store that still answers), never a panic that escapes.
#[test]
fn garbage_files_give_a_typed_error_never_a_panic() {
    let template = tempfile::tempdir().unwrap();
    let s = SledStorage::open(template.path(), SledOptions::default()).unwrap();
    fill(&s);
    s.close().unwrap();
    let names: Vec<_> = files(template.path())
        .into_iter()
        .map(|p| p.strip_prefix(template.path()).unwrap().to_path_buf())
        .collect();
    assert!(!names.is_empty());

    type Damage = fn(Vec<u8>) -> Vec<u8>;
    let damages: [(&str, Damage); 4] = [
        ("emptied", |_| Vec::new()),
        ("random bytes", |b| {
            let mut x = 0x9E37_79B9_u32;
            (0..b.len().max(64))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x.to_le_bytes()[0]
                })
                .collect()
        }),
        ("truncated", |mut b| {
            b.truncate(b.len() / 2);
            b
        }),
        ("bit flips", |mut b| {
            for i in (0..b.len()).step_by(97) {
                b[i] ^= 0x5A;
            }
            b
        }),
    ];
    for name in &names {
        for (how, damage) in &damages {
            let dir = tempfile::tempdir().unwrap();
            for n in &names {
                let to = dir.path().join(n);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(template.path().join(n), &to).unwrap();
            }
            let target = dir.path().join(name);
            let bytes = std::fs::read(&target).unwrap();
            std::fs::write(&target, damage(bytes)).unwrap();
            let outcome = std::panic::catch_unwind(|| {
                match SledStorage::open(dir.path(), SledOptions::default()) {
                    Ok(s) => {
                        // Reads may fail, typed; they must not panic.
                        let read = s.read(|tx| {
                            Ok((
                                tx.sessions(SessionId(0), 10)?.len(),
                                tx.topics()?.len(),
                                tx.messages(SessionId(2), MessageId(0), 10)?.len(),
                            ))
                        });
                        // Never a silent "new, empty store" in place of the data
                        // (a truncated log legitimately reads as an older prefix).
                        assert!(
                            *how == "truncated" || !matches!(read, Ok((0, _, _))),
                            "{how} {name:?}: damage read as an empty store"
                        );
                        format!("opened, read {read:?}")
                    }
                    Err(
                        e @ (Error::Corrupt { .. }
                        | Error::IncompatibleStore { .. }
                        | Error::Storage(_)),
                    ) => format!("{e}"),
                    Err(other) => panic!("unexpected error kind {other:?}"),
                }
            });
            let outcome = outcome.unwrap_or_else(|_| panic!("{how} {name:?}: a panic escaped"));
            eprintln!("{how} {}: {outcome}", name.display());
        }
    }
    // A directory path that is a file.
    let f = tempfile::NamedTempFile::new().unwrap();
    let err = SledStorage::open(f.path(), SledOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::Storage(_) | Error::Corrupt { .. }),
        "{err:?}"
    );
}

#[test]
fn a_version_1_store_migrates_and_gets_its_queue_index() {
    use chatdesk::backend::StorageExt;
    use chatdesk::testkit::storage::record;
    use chatdesk::{ChatSessionStatus, TopicId};
    let dir = closed_store(|store| {
        store
            .write(|tx| {
                for (id, topic, seq) in [(1, 1, 5u64), (2, 1, 9), (3, 2, 10), (4, 1, 12)] {
                    let mut s = record(id, topic, ChatSessionStatus::InQueue);
                    s.queue_seq = Some(seq);
                    tx.put_session(&s)?;
                }
                Ok(())
            })
            .unwrap();
    });
    // A version-1 store is today's store without the counted queue index.
    raw(dir.path(), |db| {
        for k in db.scan_prefix([0x0Du8]).keys() {
            db.remove(k.unwrap()).unwrap();
        }
        set_version(db, 1);
    });
    assert!(matches!(
        open_err(dir.path(), false),
        Error::IncompatibleStore { .. }
    ));
    let up = open_migrating(dir.path());
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
    // Now at the current version: it opens without migrate.
    SledStorage::open(dir.path(), SledOptions::default())
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn a_version_2_store_migrates_and_gets_a_change_feed_that_starts_off() {
    use chatdesk::backend::StorageExt;
    use chatdesk::testkit::storage::record;
    use chatdesk::{Caller, ChatDesk, ChatSessionStatus};
    let dir = closed_store(|store| {
        store
            .write(|tx| {
                tx.put_session(&record(1, 1, ChatSessionStatus::Closed))?;
                tx.next_id(IdKind::Session).map(|_| ())
            })
            .unwrap();
    });
    // A version-2 store is today's store without events and settings (a
    // fresh store has none of either: the feed starts off), with every key
    // in the default tree (the history tree came with v4).
    raw(dir.path(), |db| {
        all_into_default_tree(db);
        assert_eq!(db.scan_prefix([0x0Eu8]).count(), 0);
        assert_eq!(db.scan_prefix([0x0Fu8]).count(), 0);
        set_version(db, 2);
    });
    assert!(matches!(
        open_err(dir.path(), false),
        Error::IncompatibleStore { .. }
    ));
    let up = open_migrating(dir.path());
    let (sessions, events, switch) = up
        .read(|tx| {
            Ok((
                tx.sessions(SessionId(0), 10)?.len(),
                tx.events_after(0, 10)?,
                tx.meta("change_feed")?,
            ))
        })
        .unwrap();
    assert_eq!((sessions, events, switch), (1, vec![], None));
    let desk = ChatDesk::new(up);
    let sys = Caller::system();
    assert!(!desk.change_feed_enabled(&sys).unwrap());
    desk.set_change_feed(&sys, true).unwrap();
    assert_eq!(
        desk.storage()
            .write(|tx| tx.next_id(IdKind::Session))
            .unwrap(),
        2
    );
    desk.into_storage().close().unwrap();
    // The closed session went on to the history tree (v3 -> v4).
    raw(dir.path(), |db| {
        let history = db.open_tree("history").unwrap();
        assert_eq!(keys_with(&history, 0x06), [session_key(1)]);
        assert!(keys_with(db, 0x06).is_empty());
    });
    // Now at the current version: it opens without migrate, switch kept.
    let again = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    let desk = ChatDesk::new(again);
    assert!(desk.change_feed_enabled(&sys).unwrap());
    desk.into_storage().close().unwrap();
}

/// The keys of one tree whose first byte is `prefix`.
fn keys_with(tree: &sled::Tree, prefix: u8) -> Vec<Vec<u8>> {
    tree.scan_prefix([prefix])
        .keys()
        .map(|k| k.unwrap().to_vec())
        .collect()
}

fn session_key(id: i32) -> Vec<u8> {
    let mut k = vec![0x06];
    k.extend_from_slice(&(id.cast_unsigned() ^ 0x8000_0000).to_be_bytes());
    k
}

/// A store with an open session (1, queued, one message) and two ended ones
/// (2 Closed and 3 Finished, a message each).
fn fill_open_and_ended(store: &impl chatdesk::Storage) {
    use chatdesk::ChatSessionStatus;
    store
        .write(|tx| {
            tx.put_topic(&topic(1))?;
            for id in 1..=3 {
                let seq = u64::try_from(tx.next_id(IdKind::QueueSeq)?).unwrap_or(0);
                tx.put_session(&queued(id, 1, seq))?;
                tx.put_message(&message(id, id))?;
            }
            let mut closed = session(2, 1);
            closed.status = ChatSessionStatus::Closed;
            tx.put_session(&closed)?;
            let mut finished = session(3, 1);
            finished.status = ChatSessionStatus::Finished;
            tx.put_session(&finished)
        })
        .unwrap();
}

/// Adds an ended session 4 and then an open session 5 (topic 2), both with
/// key hash 5 (a collision: the hash names 5, written last).
fn add_key_hash_collision(store: &impl chatdesk::Storage) {
    use chatdesk::ChatSessionStatus;
    store
        .write(|tx| {
            let mut ended = session(4, 2);
            ended.status = ChatSessionStatus::Closed;
            ended.key_hash = key_hash(5);
            tx.put_session(&ended)?;
            tx.put_session(&session(5, 2))
        })
        .unwrap();
}

/// Moves every key of the history tree into the default tree and drops the
/// history tree: the layout of v3 and older.
fn all_into_default_tree(db: &sled::Db) {
    let history = db.open_tree("history").unwrap();
    for entry in history.iter() {
        let (k, v) = entry.unwrap();
        db.insert(k, v).unwrap();
    }
    drop(history);
    assert!(db.drop_tree("history").unwrap());
}

/// Every read path finds the sessions of [`fill_open_and_ended`].
fn check_open_and_ended(store: &impl chatdesk::Storage) {
    use chatdesk::ChatSessionStatus;
    store
        .read(|tx| {
            assert_eq!(ids(&tx.sessions(SessionId(0), 3)?), [1, 2, 3]);
            assert_eq!(
                ids(&tx.topic_sessions(TopicId(1), SessionId(0), 10)?),
                [1, 2, 3]
            );
            assert_eq!(
                ids(&tx.sessions_by_status(ChatSessionStatus::Closed, SessionId(0), 1)?),
                [2]
            );
            for id in 1..=3 {
                assert_eq!(tx.session_by_key(&key_hash(id))?, Some(SessionId(id)));
                assert_eq!(
                    tx.messages(SessionId(id), MessageId(0), 9)?,
                    vec![message(id, id)]
                );
            }
            assert_eq!(tx.queue(TopicId(1), 0, 10)?, vec![(1, SessionId(1))]);
            Ok(())
        })
        .unwrap();
}

#[test]
fn ended_sessions_live_in_the_history_tree_and_move_back_when_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    fill_open_and_ended(&s);
    check_open_and_ended(&s);
    s.close().unwrap();
    raw(dir.path(), |db| {
        let history = db.open_tree("history").unwrap();
        // Rows, key/status/topic entries and messages of 2 and 3 there.
        assert_eq!(keys_with(&history, 0x06), [session_key(2), session_key(3)]);
        for prefix in [0x07, 0x08, 0x09, 0x0C] {
            assert_eq!(keys_with(&history, prefix).len(), 2, "prefix {prefix:#x}");
            assert_eq!(keys_with(db, prefix).len(), 1, "prefix {prefix:#x}");
        }
        assert_eq!(keys_with(db, 0x06), [session_key(1)]);
    });
    // Reopening session 2 brings it and its message back to the default
    // tree, in one commit over both trees.
    let s = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    s.write(|tx| {
        let seq = u64::try_from(tx.next_id(IdKind::QueueSeq)?).unwrap_or(0);
        tx.put_session(&queued(2, 1, seq))
    })
    .unwrap();
    let got = s
        .read(|tx| {
            Ok((
                tx.queue(TopicId(1), 0, 10)?,
                tx.messages(SessionId(2), MessageId(0), 9)?,
            ))
        })
        .unwrap();
    assert_eq!(
        got,
        (
            vec![(1, SessionId(1)), (4, SessionId(2))],
            vec![message(2, 2)]
        )
    );
    s.close().unwrap();
    raw(dir.path(), |db| {
        let history = db.open_tree("history").unwrap();
        assert_eq!(keys_with(&history, 0x06), [session_key(3)]);
        assert_eq!(keys_with(&history, 0x0C).len(), 1);
        assert_eq!(keys_with(db, 0x06), [session_key(1), session_key(2)]);
        assert_eq!(keys_with(db, 0x0C).len(), 2);
    });
}

#[test]
fn a_version_3_store_migrates_its_ended_sessions_to_the_history_tree() {
    let dir = closed_store(|s| {
        fill_open_and_ended(s);
        add_key_hash_collision(s);
    });
    // A version-3 store is today's store with everything in the default
    // tree.
    raw(dir.path(), |db| {
        all_into_default_tree(db);
        // Both sessions 4 (ended) and 5 (open, written last) hold key hash
        // 5: it names 5, and must still after the upgrade.
        let mut key = vec![0x07];
        key.extend_from_slice(&key_hash(5));
        assert_eq!(
            db.get(&key).unwrap().unwrap().as_ref(),
            &session_key(5)[1..]
        );
        set_version(db, 3);
    });
    let before = raw_dump_all(dir.path());
    assert!(matches!(
        open_err(dir.path(), false),
        Error::IncompatibleStore { .. }
    ));
    assert_eq!(
        raw_dump_all(dir.path()),
        before,
        "a refused store is untouched"
    );
    let up = open_migrating(dir.path());
    check_open_and_ended(&up);
    let named = up.read(|tx| tx.session_by_key(&key_hash(5))).unwrap();
    assert_eq!(
        named,
        Some(SessionId(5)),
        "the collision's hash still names 5"
    );
    up.close().unwrap();
    raw(dir.path(), |db| {
        let history = db.open_tree("history").unwrap();
        assert_eq!(
            keys_with(&history, 0x06),
            [session_key(2), session_key(3), session_key(4)]
        );
        assert_eq!(keys_with(db, 0x06), [session_key(1), session_key(5)]);
        // Key hashes: 2 and 3 moved, 5 stayed with the open session.
        assert_eq!(keys_with(&history, 0x07).len(), 2);
        assert_eq!(keys_with(db, 0x07).len(), 2);
        // Status and topic entries and messages went with their sessions.
        for prefix in [0x08, 0x09] {
            assert_eq!(keys_with(&history, prefix).len(), 3, "prefix {prefix:#x}");
            assert_eq!(keys_with(db, prefix).len(), 2, "prefix {prefix:#x}");
        }
        assert_eq!(keys_with(&history, 0x0C).len(), 2);
        assert_eq!(keys_with(db, 0x0C).len(), 1);
    });
    // Now at the current version: it opens without migrate.
    let again = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    check_open_and_ended(&again);
    again.close().unwrap();
}

/// Every tree's name and entries.
fn raw_dump_all(path: &Path) -> Vec<TreeDump> {
    let mut out = Vec::new();
    raw(path, |db| out = dump_trees(db));
    out
}

#[test]
fn a_damaged_row_stays_put_in_the_v4_upgrade_and_only_its_session_is_corrupt() {
    let dir = closed_store(fill_open_and_ended);
    raw(dir.path(), |db| {
        all_into_default_tree(db);
        db.insert(session_key(2), vec![1, 0xFF, 0xFF, 0xFF])
            .unwrap();
        set_version(db, 3);
    });
    let up = open_migrating(dir.path());
    match up.read(|tx| tx.session(SessionId(2))).unwrap_err() {
        Error::Corrupt { what } => assert!(what.contains("session 2"), "{what}"),
        other => panic!("{other:?}"),
    }
    let finished = up.read(|tx| tx.session(SessionId(3))).unwrap();
    assert_eq!(
        finished.map(|s| s.status),
        Some(chatdesk::ChatSessionStatus::Finished)
    );
    up.close().unwrap();
    raw(dir.path(), |db| {
        let history = db.open_tree("history").unwrap();
        assert_eq!(keys_with(&history, 0x06), [session_key(3)]);
        assert_eq!(keys_with(db, 0x06), [session_key(1), session_key(2)]);
    });
}

/// The session row of store v4 (row version 1) as it was published: the
/// v4 fixture is written in the old format by this copy, not by today's
/// encoder.
#[derive(serde::Serialize)]
struct V4SessionRow {
    id: i32,
    topic: i32,
    user: Option<i32>,
    person: Option<i32>,
    contact: Option<i32>,
    project: Option<i32>,
    sale: Option<i32>,
    ticket: Option<i32>,
    alias: String,
    host: String,
    name: String,
    email: String,
    phone: String,
    consented: bool,
    company: String,
    status: i32,
    first_message: String,
    last_message: String,
    when_requested: i64,
    when_started: Option<i64>,
    when_ended: Option<i64>,
    when_idle: Option<i64>,
    when_fetched: Option<i64>,
    key_hash: [u8; 32],
    initial_queue_pos: i32,
    alert_level: i32,
    rank: i32,
    transfer_to: Option<i32>,
    chatbot_is_active: bool,
    rating: i32,
    queue_seq: Option<u64>,
    queue_entered: Option<i64>,
    customer_last_since: Option<i64>,
    deleted_at: Option<i64>,
}

/// The topic row of store v4 (row version 1).
#[derive(serde::Serialize)]
struct V4TopicRow {
    id: i32,
    settings_json: Vec<u8>,
    last_accept: Option<i64>,
    seconds_pr_accept: i32,
}

/// A row as store v4 wrote it: version byte 1, then postcard.
fn v1_row(row: &impl serde::Serialize) -> Vec<u8> {
    let mut out = vec![1];
    out.extend(postcard::to_stdvec(row).unwrap());
    out
}

fn v4_session_row(s: &chatdesk::backend::SessionRecord) -> Vec<u8> {
    let ts = |t: Option<chatdesk::Timestamp>| t.map(|t| t.0);
    let c = &s.customer;
    v1_row(&V4SessionRow {
        id: s.id.0,
        topic: s.topic.0,
        user: s.user.map(|u| u.0),
        person: s.links.person,
        contact: s.links.contact,
        project: s.links.project,
        sale: s.links.sale,
        ticket: s.links.ticket,
        alias: c.alias.clone(),
        host: c.host.clone(),
        name: c.name.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        consented: c.consented,
        company: c.company.clone(),
        status: s.status.code(),
        first_message: s.first_message.clone(),
        last_message: s.last_message.clone(),
        when_requested: s.when_requested.0,
        when_started: ts(s.when_started),
        when_ended: ts(s.when_ended),
        when_idle: ts(s.when_idle),
        when_fetched: ts(s.when_fetched),
        key_hash: s.key_hash,
        initial_queue_pos: s.initial_queue_pos,
        alert_level: s.alert_level,
        rank: s.rank,
        transfer_to: s.transfer_to.map(|u| u.0),
        chatbot_is_active: s.chatbot_is_active,
        rating: s.rating,
        queue_seq: s.queue_seq,
        queue_entered: ts(s.queue_entered),
        customer_last_since: ts(s.customer_last_since),
        deleted_at: ts(s.deleted_at),
    })
}

fn v4_topic_row(t: &chatdesk::backend::TopicRecord) -> Vec<u8> {
    v1_row(&V4TopicRow {
        id: t.id.0,
        settings_json: serde_json::to_vec(&t.settings).unwrap(),
        last_accept: t.last_accept.map(|t| t.0),
        seconds_pr_accept: t.seconds_pr_accept,
    })
}

fn topic_key(id: i32) -> Vec<u8> {
    let mut k = vec![0x02];
    k.extend_from_slice(&(id.cast_unsigned() ^ 0x8000_0000).to_be_bytes());
    k
}

/// Sessions of the v4 upgrade test: two with a pending transfer (2 to
/// user 9, 5 to user 10), two with a TransferTo that is not pending (3 is
/// queued, 4 is closed), 4 and 6 ended (in the history tree), requested
/// out of id order.
fn v4_sessions() -> Vec<chatdesk::backend::SessionRecord> {
    use chatdesk::backend::SessionRecord;
    use chatdesk::{ChatSessionStatus, Timestamp};
    let with = |mut s: SessionRecord, to: Option<i32>, at: i64| {
        s.transfer_to = to.map(UserId);
        s.when_requested = Timestamp(at);
        s
    };
    let closed = SessionRecord {
        status: ChatSessionStatus::Closed,
        ..active(4, 1, 8)
    };
    let finished = SessionRecord {
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

/// What every read path of the v4 upgrade test's store says.
fn v4_reads(tx: &dyn chatdesk::backend::ReadTx) -> chatdesk::Result<String> {
    use chatdesk::ChatSessionStatus;
    let mut out = String::new();
    out += &format!("{:?}\n", tx.topics()?);
    out += &format!("{:?}\n", tx.sessions(SessionId(0), 100)?);
    for id in 1..=6 {
        out += &format!("{:?}\n", tx.session(SessionId(id))?);
        out += &format!("{:?}\n", tx.session_by_key(&key_hash(id))?);
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

/// Removes every key with one of `prefixes` from `tree`.
fn remove_prefixes(tree: &sled::Tree, prefixes: &[u8]) {
    for p in prefixes {
        for k in keys_with(tree, *p) {
            tree.remove(k).unwrap();
        }
    }
}

/// The first byte (the row version) of every value under `prefix`.
fn row_versions(tree: &sled::Tree, prefix: u8) -> Vec<u8> {
    tree.scan_prefix([prefix])
        .values()
        .map(|v| v.unwrap()[0])
        .collect()
}

#[test]
fn a_version_4_store_migrates_its_rows_and_builds_the_routing_indexes() {
    use chatdesk::backend::{AgentRecord, SessionRouting, SessionStats, TopicRouting};
    use chatdesk::{ChatSessionStatus, Timestamp};
    let sessions = v4_sessions();
    let mut before = String::new();
    let dir = closed_store(|s| {
        s.write(|tx| {
            tx.put_topic(&topic(1))?;
            tx.put_topic(&topic(2))?;
            for rec in &sessions {
                tx.put_session(rec)?;
            }
            tx.put_message(&message(2, 1))?;
            tx.put_message(&message(4, 2))?;
            tx.next_id(IdKind::Session).map(|_| ())
        })
        .unwrap();
        before = s.read(v4_reads).unwrap();
    });
    // Today's layout: request-time entries beside the rows (ended ones in
    // the history tree), pending transfers in the default tree.
    raw(dir.path(), |db| {
        let history = db.open_tree("history").unwrap();
        assert_eq!(keys_with(db, 0x11).len(), 4);
        assert_eq!(keys_with(&history, 0x11).len(), 2);
        assert_eq!(keys_with(db, 0x10).len(), 2);
        assert!(keys_with(&history, 0x10).is_empty());
        // A version-4 store: no keys of the v5 prefixes, session and topic
        // rows in row version 1.
        remove_prefixes(db, &[0x10, 0x11, 0x12]);
        remove_prefixes(&history, &[0x10, 0x11, 0x12]);
        for s in &sessions {
            let tree: &sled::Tree = if s.is_open() { db } else { &history };
            let old = tree.insert(session_key(s.id.0), v4_session_row(s)).unwrap();
            assert!(old.is_some(), "session {} on its shelf", s.id);
        }
        for t in [topic(1), topic(2)] {
            db.insert(topic_key(t.id.0), v4_topic_row(&t)).unwrap();
        }
        set_version(db, 4);
    });
    let untouched = raw_dump_all(dir.path());
    match open_err(dir.path(), false) {
        Error::IncompatibleStore { found, supported } => {
            assert!(found.contains("v4"), "{found}");
            assert!(supported.contains("migrate"), "{supported}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        raw_dump_all(dir.path()),
        untouched,
        "a refused store is untouched"
    );

    let up = open_migrating(dir.path());
    // Every read path says what it said before (the records had the
    // defaults the old rows now read with), and the new ones answer.
    assert_eq!(up.read(v4_reads).unwrap(), before);
    up.read(|tx| {
        for t in tx.topics()? {
            assert_eq!(t.routing, TopicRouting::default());
        }
        for s in tx.sessions(SessionId(0), 100)? {
            assert_eq!(s.routing, SessionRouting::default());
            assert_eq!(s.stats, SessionStats::default());
        }
        assert_eq!(tx.transfers_to(UserId(9))?, vec![SessionId(2)]);
        assert_eq!(tx.transfers_to(UserId(10))?, vec![SessionId(5)]);
        assert_eq!(tx.transfers_to(UserId(8))?, vec![]);
        assert_eq!(tx.agent(UserId(8))?, None);
        let by_time: Vec<i32> = tx
            .sessions_requested(
                (Timestamp(i64::MIN), SessionId(0)),
                Timestamp(i64::MAX),
                100,
            )?
            .iter()
            .map(|s| s.id.0)
            .collect();
        assert_eq!(by_time, [4, 2, 3, 6, 1, 5]);
        Ok(())
    })
    .unwrap();
    // The upgraded store takes the new data, and its counters go on.
    let agent = AgentRecord {
        user: UserId(8),
        max_chats: Some(2),
        last_assigned: Some(Timestamp(5)),
    };
    let next = up
        .write(|tx| {
            tx.put_agent(&agent)?;
            let mut one = active(1, 1, 7);
            one.transfer_to = Some(UserId(9));
            tx.put_session(&one)?;
            tx.next_id(IdKind::Session)
        })
        .unwrap();
    assert_eq!(next, 2);
    up.close().unwrap();
    raw(dir.path(), |db| {
        let history = db.open_tree("history").unwrap();
        // Every row rewritten in row version 2; the indexes beside them.
        assert_eq!(row_versions(db, 0x06), [2, 2, 2, 2]);
        assert_eq!(row_versions(&history, 0x06), [2, 2]);
        assert_eq!(row_versions(db, 0x02), [2, 2]);
        assert_eq!(keys_with(db, 0x11).len(), 4);
        assert_eq!(keys_with(&history, 0x11).len(), 2);
        assert_eq!(keys_with(db, 0x10).len(), 3);
        assert!(keys_with(&history, 0x10).is_empty());
        assert_eq!(keys_with(db, 0x12).len(), 1);
    });
    // Now at the current version: it opens without migrate.
    let again = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    again
        .read(|tx| {
            assert_eq!(tx.agent(UserId(8))?, Some(agent));
            assert_eq!(
                tx.transfers_to(UserId(9))?,
                vec![SessionId(1), SessionId(2)]
            );
            assert_eq!(
                tx.session(SessionId(4))?.map(|s| s.status),
                Some(ChatSessionStatus::Closed)
            );
            Ok(())
        })
        .unwrap();
    again.close().unwrap();
}

#[test]
fn a_damaged_row_stays_put_in_the_v5_upgrade_and_only_its_session_is_corrupt() {
    use chatdesk::Timestamp;
    let dir = closed_store(fill_open_and_ended);
    let damaged = vec![1, 0xFF, 0xFF, 0xFF];
    raw(dir.path(), |db| {
        let history = db.open_tree("history").unwrap();
        remove_prefixes(db, &[0x10, 0x11]);
        remove_prefixes(&history, &[0x10, 0x11]);
        history.insert(session_key(2), damaged.clone()).unwrap();
        set_version(db, 4);
    });
    let up = open_migrating(dir.path());
    match up.read(|tx| tx.session(SessionId(2))).unwrap_err() {
        Error::Corrupt { what } => assert!(what.contains("session 2"), "{what}"),
        other => panic!("{other:?}"),
    }
    let listed: Vec<i32> = up
        .read(|tx| {
            tx.sessions_requested((Timestamp(i64::MIN), SessionId(0)), Timestamp(i64::MAX), 10)
        })
        .unwrap()
        .iter()
        .map(|s| s.id.0)
        .collect();
    assert_eq!(listed, [1, 3], "the damaged row has no request-time entry");
    up.close().unwrap();
    raw(dir.path(), |db| {
        let history = db.open_tree("history").unwrap();
        assert_eq!(
            history.get(session_key(2)).unwrap().as_deref(),
            Some(damaged.as_slice())
        );
        assert_eq!(row_versions(&history, 0x06), [1, 2]);
    });
}

/// Every file under `dir` (recursively) with its bytes, and every directory.
fn bytes_of(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Option<Vec<u8>>> {
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut std::collections::BTreeMap<std::path::PathBuf, Option<Vec<u8>>>,
    ) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if p.is_dir() {
                out.insert(rel, None);
                walk(root, &p, out);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The marker file a chatdesk of schema version `version` leaves.
fn write_marker(dir: &Path, version: u32) {
    std::fs::write(
        dir.join("chatdesk-sled.marker"),
        format!("chatdesk sled store v{version}\n"),
    )
    .unwrap();
}

/// Opening a directory that is then refused leaves every file byte for byte
/// as it was (before, sled's open wrote to it: plain `sled::open` grows the
/// log and writes a snapshot even when chatdesk refuses the store).
#[test]
fn a_refused_directory_is_left_byte_for_byte() {
    type Make = fn(&Path);
    let cases: [(&str, Make, bool); 8] = [
        (
            "a foreign sled store",
            |p| raw(p, |db| drop(db.insert(b"someone else's", b"data").unwrap())),
            true,
        ),
        (
            "a foreign sled store with data in another tree",
            |p| {
                raw(p, |db| {
                    drop(db.open_tree("other").unwrap().insert(b"k", b"v").unwrap())
                })
            },
            true,
        ),
        (
            "another magic under our key",
            |p| {
                raw(p, |db| {
                    drop(
                        db.insert(SCHEMA_KEY, b"notchat!\0\0\0\x01".to_vec())
                            .unwrap(),
                    )
                })
            },
            true,
        ),
        (
            "a newer chatdesk's store",
            |p| {
                let dir = closed_store(fill);
                copy_dir(dir.path(), p);
                raw(p, |db| set_version(db, 6));
                write_marker(p, 6);
            },
            true,
        ),
        (
            "an older chatdesk's store, opened without migrate",
            |p| {
                let dir = closed_store(fill);
                copy_dir(dir.path(), p);
                raw(p, |db| {
                    all_into_default_tree(db);
                    set_version(db, 3);
                });
                write_marker(p, 3);
            },
            false,
        ),
        (
            "our store with its db file emptied",
            |p| {
                let dir = closed_store(fill);
                copy_dir(dir.path(), p);
                std::fs::write(p.join("db"), b"").unwrap();
            },
            true,
        ),
        (
            "our store with its db file deleted",
            |p| {
                let dir = closed_store(fill);
                copy_dir(dir.path(), p);
                std::fs::remove_file(p.join("db")).unwrap();
            },
            true,
        ),
        (
            "a store without its marker and with garbage in sled's settings file",
            |p| {
                let dir = closed_store(fill);
                copy_dir(dir.path(), p);
                std::fs::remove_file(p.join("chatdesk-sled.marker")).unwrap();
                let mut b = std::fs::read(p.join("conf")).unwrap();
                for x in &mut b {
                    *x ^= 0x5A;
                }
                std::fs::write(p.join("conf"), b).unwrap();
            },
            true,
        ),
    ];
    for (what, make, migrate) in cases {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path());
        let before = bytes_of(dir.path());
        let r = std::panic::catch_unwind(|| {
            SledStorage::open(
                dir.path(),
                SledOptions {
                    migrate,
                    ..SledOptions::default()
                },
            )
        });
        match r {
            Ok(Err(Error::IncompatibleStore { .. } | Error::Corrupt { .. })) => {}
            Ok(Err(e)) => panic!("{what}: refused with {e:?}"),
            Ok(Ok(_)) => panic!("{what}: opened"),
            Err(_) => panic!("{what}: a panic escaped"),
        }
        let after = bytes_of(dir.path());
        let changed: Vec<_> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        assert!(
            changed.is_empty(),
            "{what}: refused, but changed {changed:?}"
        );
    }
}

/// A store that passes the check on a copy opens for real: an older store
/// upgrades (its marker then names the current version, so the next open
/// needs no copy), a foreign-free empty sled directory is initialised.
#[test]
fn a_store_checked_on_a_copy_then_opens_itself() {
    let dir = closed_store(fill);
    raw(dir.path(), |db| {
        all_into_default_tree(db);
        set_version(db, 3);
    });
    write_marker(dir.path(), 3);
    let up = open_migrating(dir.path());
    check_filled(&up);
    up.close().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("chatdesk-sled.marker")).unwrap(),
        "chatdesk sled store v5\n"
    );
    let again = SledStorage::open(dir.path(), SledOptions::default()).unwrap();
    let sessions = again.read(|tx| tx.sessions(SessionId(0), 10)).unwrap();
    assert_eq!(sessions.len(), 3);
    again.close().unwrap();

    // An empty sled database nobody wrote to is a new store.
    let blank = tempfile::tempdir().unwrap();
    raw(blank.path(), |_| {});
    let s = SledStorage::open(blank.path(), SledOptions::default()).unwrap();
    assert_eq!(s.write(|tx| tx.next_id(IdKind::Session)).unwrap(), 1);
    s.close().unwrap();
}

/// Copies a store directory (closed) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}
