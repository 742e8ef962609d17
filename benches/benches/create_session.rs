//! `create_chat_session_for_topic` next to its raw baseline, per backend and
//! durability mode: an anonymous customer asks for a chat on a staffed topic
//! (one present member with CanRespond), so every session goes InQueue.
//!
//! Each group (`memory`, `sqlite_durable`, `sqlite_relaxed`, `sled_durable`,
//! `sled_relaxed`) measures `operation` (the service over the backend) and
//! `baseline` (the same reads and writes with the engine alone; see
//! `chatdesk_benches::raw_*`) in the same run; read the ratio
//! operation / baseline, not the absolute times.
//!
//! Both sides are drained of their sessions every
//! [`chatdesk_benches::DRAIN_EVERY`] operations outside the timed region, so
//! the queue they count stays equally short on both sides.
//!
//! `cargo bench -p chatdesk-benches` measures; `cargo test -p
//! chatdesk-benches --benches` runs each benchmark once, as a smoke test.

use chatdesk::Durability;
use chatdesk_benches::raw_memory::RawMemory;
use chatdesk_benches::raw_sled::RawSled;
use chatdesk_benches::raw_sqlite::RawSqlite;
use chatdesk_benches::{Drained, Service, Subject};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

/// Benchmarks one side under `id`. The fixture is built when the benchmark
/// first runs (so a filtered-out one costs nothing) and dropped when it is
/// done (so no sled flusher of it keeps running during the next one).
fn measure<S: Subject>(g: &mut BenchmarkGroup<'_, WallTime>, id: &str, make: impl FnOnce() -> S) {
    let mut make = Some(make);
    let mut fixture: Option<Drained<S>> = None;
    g.bench_function(id, |b| {
        let f = fixture.get_or_insert_with(|| {
            let make = make.take().expect("built once");
            Drained::new(make())
        });
        b.iter_custom(|iters| f.run(iters));
    });
}

/// One group: the operation, then its baseline.
fn compare<A: Subject, B: Subject>(
    c: &mut Criterion,
    group: &str,
    operation: impl FnOnce() -> A,
    baseline: impl FnOnce() -> B,
) {
    let mut g = c.benchmark_group(group);
    measure(&mut g, "operation", operation);
    measure(&mut g, "baseline", baseline);
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    compare(&mut c, "memory", Service::memory, RawMemory::new);
    compare(
        &mut c,
        "sqlite_durable",
        || Service::sqlite(Durability::Durable),
        || RawSqlite::new(Durability::Durable),
    );
    compare(
        &mut c,
        "sqlite_relaxed",
        || Service::sqlite(Durability::Relaxed),
        || RawSqlite::new(Durability::Relaxed),
    );
    compare(
        &mut c,
        "sled_durable",
        || Service::sled(Durability::Durable),
        || RawSled::new(Durability::Durable),
    );
    compare(
        &mut c,
        "sled_relaxed",
        || Service::sled(Durability::Relaxed),
        || RawSled::new(Durability::Relaxed),
    );
    c.final_summary();
}
