//! Crash safety of the SQLite backend under real service operations
//! (durability): a child process runs a stream of creates, customer and agent
//! messages, pick-ups and closes on one file, printing each acknowledged
//! operation; it is SIGKILLed at a random moment, the file is reopened and
//! checked (everything acknowledged is there, the invariants hold), and the
//! next child carries on with the same file.
//!
//! 20 kills per mode by default, 100 with `CHATDESK_LONG=1`; `CHATDESK_SEED`
//! repeats a run's random choices in the parent.

use chatdesk::backend::StorageExt;
use chatdesk::testkit::workload::{Backend, Rng, kill_loop, long, run_child, spawn_child};
use chatdesk::{ChatDesk, Durability};
use chatdesk_sqlite::{SqliteOptions, SqliteStorage};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Instant;

const PATH_VAR: &str = "CHATDESK_SQLITE_CRASH_PATH";
const MODE_VAR: &str = "CHATDESK_SQLITE_CRASH_MODE";
const SEED_VAR: &str = "CHATDESK_SQLITE_CRASH_SEED";

fn options(mode: &str) -> SqliteOptions {
    SqliteOptions {
        durability: if mode == "relaxed" {
            Durability::Relaxed
        } else {
            Durability::Durable
        },
        ..SqliteOptions::default()
    }
}

/// The child: runs the workload on the file until it is killed. A no-op when
/// run as an ordinary test.
#[test]
fn crash_child() {
    let (Ok(path), Ok(mode), Ok(seed)) = (
        std::env::var(PATH_VAR),
        std::env::var(MODE_VAR),
        std::env::var(SEED_VAR),
    ) else {
        return;
    };
    let store = SqliteStorage::open(&path, options(&mode)).unwrap();
    let desk = ChatDesk::new(store);
    let topics = desk
        .storage()
        .read(|tx| tx.topics())
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect::<Vec<_>>();
    assert_eq!(topics.len(), 2, "the parent sets the store up");
    run_child(&desk, &topics, &mut Rng(seed.parse().unwrap()));
}

struct Sqlite {
    path: PathBuf,
    mode: &'static str,
}

impl Backend for Sqlite {
    type Store = SqliteStorage;

    fn open(&self) -> chatdesk::Result<SqliteStorage> {
        SqliteStorage::open(&self.path, options(self.mode))
    }

    fn close(&self, store: SqliteStorage) -> chatdesk::Result<()> {
        store.close()
    }

    fn spawn(&self, seed: u64, stderr_file: &Path) -> Child {
        spawn_child(
            "crash_child",
            &[
                (PATH_VAR, self.path.display().to_string()),
                (MODE_VAR, self.mode.to_string()),
                (SEED_VAR, seed.to_string()),
            ],
            stderr_file,
        )
    }

    /// SQLite's own check of the file after the kill and the recovery.
    fn check_files(&self) -> Result<(), String> {
        let conn = rusqlite::Connection::open(&self.path).map_err(|e| e.to_string())?;
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        let fk: Option<i64> = conn
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(1))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e.to_string()),
            })?;
        if integrity != "ok" || fk.is_some() {
            return Err(format!(
                "integrity_check {integrity:?}, foreign_key_check {fk:?}"
            ));
        }
        Ok(())
    }
}

fn kill_and_check(mode: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let backend = Sqlite {
        path: dir.path().join("crash.sqlite3"),
        mode,
    };
    let kills = if long() { 100 } else { 20 };
    let start = Instant::now();
    let report = kill_loop(
        &backend,
        kills,
        (20, 300),
        false,
        &dir.path().join("stderr"),
    );
    eprintln!(
        "sqlite {mode}: {} kills in {:.1?} ({} before the child opened the store), {} operations acknowledged, store at the end {:?}, errors {:?}",
        report.kills,
        start.elapsed(),
        report.unstarted_runs,
        report.acked_ops,
        report.last,
        report.errors
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.kills, kills);
    assert!(report.acked_ops > 0, "the children acknowledged nothing");
}

#[test]
fn killed_durable_processes_lose_nothing_acknowledged() {
    kill_and_check("durable");
}

/// `synchronous=NORMAL` survives a process crash (only a power loss may take
/// the last commits back), so the same checks hold.
#[test]
fn killed_relaxed_processes_lose_nothing_acknowledged() {
    kill_and_check("relaxed");
}
