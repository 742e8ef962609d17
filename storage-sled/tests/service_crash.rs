//! Crash safety of the sled backend under real service operations:
//! a child process runs a stream of creates, customer and agent messages,
//! pick-ups and closes on one directory, printing each acknowledged
//! operation; it is SIGKILLed at a random moment, the directory is reopened
//! and checked, and the next child carries on with the same directory.
//!
//! - Durable mode (20 kills by default, 100 with `CHATDESK_LONG=1`): nothing
//!   acknowledged is lost, the invariants hold, and the store always opens
//!   (a `Corrupt` on reopening is counted and fails the test).
//! - Relaxed mode (`CHATDESK_LONG=1` only): what survives a kill is a prefix of
//!   what the run acknowledged, never a hole; the invariants hold.
//!
//! `CHATDESK_SEED` repeats a run's random choices in the parent.

use chatdesk::backend::StorageExt;
use chatdesk::testkit::workload::{Backend, Rng, kill_loop, long, run_child, spawn_child};
use chatdesk::{ChatDesk, Durability};
use chatdesk_sled::{SledOptions, SledStorage};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Instant;

const PATH_VAR: &str = "CHATDESK_SLED_SERVICE_CRASH_PATH";
const MODE_VAR: &str = "CHATDESK_SLED_SERVICE_CRASH_MODE";
const SEED_VAR: &str = "CHATDESK_SLED_SERVICE_CRASH_SEED";

fn options(mode: &str) -> SledOptions {
    SledOptions {
        durability: if mode == "relaxed" {
            Durability::Relaxed
        } else {
            Durability::Durable
        },
        ..SledOptions::default()
    }
}

/// The child: runs the workload on the directory until it is killed. A no-op
/// when run as an ordinary test.
#[test]
fn service_crash_child() {
    let (Ok(path), Ok(mode), Ok(seed)) = (
        std::env::var(PATH_VAR),
        std::env::var(MODE_VAR),
        std::env::var(SEED_VAR),
    ) else {
        return;
    };
    let store = SledStorage::open(&path, options(&mode)).unwrap();
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

struct Sled {
    path: PathBuf,
    mode: &'static str,
}

impl Backend for Sled {
    type Store = SledStorage;

    fn open(&self) -> chatdesk::Result<SledStorage> {
        SledStorage::open(&self.path, options(self.mode))
    }

    fn close(&self, store: SledStorage) -> chatdesk::Result<()> {
        store.close()
    }

    fn spawn(&self, seed: u64, stderr_file: &Path) -> Child {
        spawn_child(
            "service_crash_child",
            &[
                (PATH_VAR, self.path.display().to_string()),
                (MODE_VAR, self.mode.to_string()),
                (SEED_VAR, seed.to_string()),
            ],
            stderr_file,
        )
    }
}

#[test]
fn killed_durable_processes_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Sled {
        path: dir.path().join("store"),
        mode: "durable",
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
        "sled durable: {} kills in {:.1?} ({} before the child opened the store), {} operations acknowledged, store at the end {:?}, errors {:?}",
        report.kills,
        start.elapsed(),
        report.unstarted_runs,
        report.acked_ops,
        report.last,
        report.errors
    );
    // Any Corrupt (or other typed error) on reopening fails the test: sled's
    // documented limit is about damaged files, and a kill damages nothing that
    // sled does not promise to recover.
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.kills, kills);
    assert!(report.acked_ops > 0, "the children acknowledged nothing");
}

/// Relaxed sled flushes every 500 ms in the background: a kill may lose a
/// suffix of a run's acknowledged operations, never a hole (session ids stay
/// exactly 1..k, message ids 1..m). Delays up to 1.5 s so that some runs keep
/// part of what they did. `CHATDESK_LONG=1` only.
#[test]
fn killed_relaxed_processes_leave_a_prefix() {
    if !long() {
        eprintln!("skipped: set CHATDESK_LONG=1");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let backend = Sled {
        path: dir.path().join("store"),
        mode: "relaxed",
    };
    let kills = 100;
    let start = Instant::now();
    let report = kill_loop(
        &backend,
        kills,
        (20, 1500),
        true,
        &dir.path().join("stderr"),
    );
    eprintln!(
        "sled relaxed: {} kills in {:.1?}, {} operations kept, {} lost ({} runs lost part, {} runs lost all), store at the end {:?}, errors {:?}",
        report.kills,
        start.elapsed(),
        report.acked_ops,
        report.lost_ops,
        report.partial_runs,
        report.lost_runs,
        report.last,
        report.errors
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.kills, kills);
}
