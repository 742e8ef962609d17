//! SIGKILL of a client process mid-operation: a child process runs a stream
//! of creates, messages, pick-ups and closes on one PostgreSQL store,
//! printing each acknowledged operation; it is killed at a random moment,
//! and the parent checks that everything acknowledged is there, nothing is
//! half written (the invariants hold), and the next child carries on.

use chatdesk::backend::StorageExt;
use chatdesk::testkit::workload::{Backend, Rng, kill_loop, run_child, spawn_child};
use chatdesk::{ChatDesk, Durability};
use chatdesk_postgres::testing;
use chatdesk_postgres::{PgOptions, PgStorage};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

const URL_VAR: &str = "CHATDESK_PG_CRASH_URL";
const SCHEMA_VAR: &str = "CHATDESK_PG_CRASH_SCHEMA";
const MODE_VAR: &str = "CHATDESK_PG_CRASH_MODE";
const SEED_VAR: &str = "CHATDESK_PG_CRASH_SEED";

fn options(schema: &str, mode: &str) -> PgOptions {
    PgOptions {
        schema: schema.to_owned(),
        durability: if mode == "relaxed" {
            Durability::Relaxed
        } else {
            Durability::Durable
        },
        pool_size: 2,
        ..PgOptions::default()
    }
}

/// The child: runs the workload until it is killed. A no-op when run as an
/// ordinary test.
#[test]
fn crash_child() {
    let (Ok(url), Ok(schema), Ok(mode), Ok(seed)) = (
        std::env::var(URL_VAR),
        std::env::var(SCHEMA_VAR),
        std::env::var(MODE_VAR),
        std::env::var(SEED_VAR),
    ) else {
        return;
    };
    let store = PgStorage::open(&url, options(&schema, &mode)).unwrap_or_else(|e| panic!("{e}"));
    let desk = ChatDesk::new(store);
    let topics = desk
        .storage()
        .read(|tx| tx.topics())
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|t| t.id)
        .collect::<Vec<_>>();
    assert_eq!(topics.len(), 2, "the parent sets the store up");
    let seed = seed.parse().unwrap_or_else(|e| panic!("{e}"));
    run_child(&desk, &topics, &mut Rng(seed));
}

struct Pg {
    url: String,
    schema: String,
    mode: &'static str,
}

impl Pg {
    /// The children's `application_name`.
    fn child_name(&self) -> String {
        format!("crash_{}", self.schema)
    }
}

impl Backend for Pg {
    type Store = PgStorage;

    fn settle(&self) {
        // The server may still be running what the child sent last (its
        // commit among it): the check must see that, not race it.
        testing::wait_for_no_backends(&self.url, &self.child_name(), Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn open(&self) -> chatdesk::Result<PgStorage> {
        PgStorage::open(&self.url, options(&self.schema, self.mode))
    }

    fn close(&self, store: PgStorage) -> chatdesk::Result<()> {
        store.close();
        Ok(())
    }

    fn spawn(&self, seed: u64, stderr_file: &Path) -> Child {
        spawn_child(
            "crash_child",
            &[
                (
                    URL_VAR,
                    testing::with_application_name(&self.url, &self.child_name()),
                ),
                (SCHEMA_VAR, self.schema.clone()),
                (MODE_VAR, self.mode.to_string()),
                (SEED_VAR, seed.to_string()),
            ],
            stderr_file,
        )
    }
}

fn kill_and_check(mode: &'static str) {
    let Some(url) = testing::server_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = Pg {
        url,
        schema: testing::fresh_schema(),
        mode,
    };
    let kills = 15;
    let start = Instant::now();
    let report = kill_loop(
        &backend,
        kills,
        (20, 300),
        false,
        &dir.path().join("stderr"),
    );
    eprintln!(
        "postgres {mode}: {} kills in {:.1?} ({} before the child opened the store), {} operations acknowledged, errors {:?}",
        report.kills,
        start.elapsed(),
        report.unstarted_runs,
        report.acked_ops,
        report.errors
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.kills, kills);
    assert!(report.acked_ops > 0, "the children acknowledged nothing");
}

#[test]
fn killed_durable_clients_lose_nothing_acknowledged() {
    kill_and_check("durable");
}

#[test]
fn killed_relaxed_clients_lose_nothing_acknowledged() {
    kill_and_check("relaxed");
}
