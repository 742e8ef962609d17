//! Latency under contention (issue 6): for every backend and mode, the
//! mixed workload of [`chatdesk_benches::latency`] on one thread, then on
//! eight; p50 / p99 / max, the single-thread median, the durable p99 bound
//! (10 × threads / cores × that median), the slowest thread's wall time over
//! the fastest one's (starvation: ≤ 2), conflicts retried. Then the memory
//! backend's read throughput with one and two readers.
//!
//! `cargo run --release -p chatdesk-benches --bin latency [FILTER…]` prints
//! `latency <backend> …` and `throughput memory_reads …` lines, then the
//! tables. A FILTER keeps the backends whose name contains it (`memory`,
//! `sqlite_durable`, `sled`, …) and the throughput part when
//! `throughput_memory_reads` contains it (`throughput`, `memory`).
//! Environment: `CHATDESK_LATENCY_OPS` (operations per thread on every
//! backend; by default 1 000 in the durable modes, 5 000 in the relaxed ones,
//! 20 000 on memory: see [`chatdesk_benches::latency::ops_per_thread`]),
//! `CHATDESK_BENCH_QUICK=1` (20 operations per thread, one 0.1 s throughput
//! round each: a smoke run, figures meaningless). The throughput part runs
//! three alternating rounds of 1 s with one reader and with two.
//!
//! Every store the workload used is audited afterwards; a disagreement
//! (a session lost, picked up twice, …) panics.

use chatdesk_benches::latency::{
    Report, TABLE_HEADER, THREADS, cores, human, ops_per_thread, quick, read_throughput, run,
};
use chatdesk_benches::ops::Backend;
use std::time::{Duration, Instant};

/// The throughput part's name for filters.
const THROUGHPUT: &str = "throughput_memory_reads";

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).collect();
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let cores = cores();
    let started = Instant::now();
    eprintln!("{THREADS} threads, {cores} cores");
    let mut reports: Vec<Report> = Vec::new();
    for backend in Backend::ALL {
        if !wanted(backend.name()) {
            continue;
        }
        let t = Instant::now();
        let r = run(backend, THREADS, ops_per_thread(backend));
        for (what, run) in [("single", &r.single), ("multi", &r.multi)] {
            let problems = run.audit.problems();
            assert!(
                problems.is_empty(),
                "{} ({what}-thread run): the store disagrees with the workload:\n{}",
                backend.name(),
                problems.join("\n")
            );
        }
        println!("{}", r.line());
        eprintln!(
            "  ({}: 1 thread {:.1} s, {THREADS} threads {:.1} s; threads {}; {} created, {} picked up, {} closed)",
            backend.name(),
            r.single.wall.as_secs_f64(),
            r.multi.wall.as_secs_f64(),
            r.multi
                .thread_walls
                .iter()
                .map(|w| format!("{:.2}", w.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" "),
            r.multi.audit.created.len(),
            r.multi.audit.picked.len(),
            r.multi.audit.closed.len(),
        );
        for (kind, p) in &r.multi.per_kind {
            let single = r
                .single
                .per_kind
                .iter()
                .find(|(k, _)| k == kind)
                .map_or_else(
                    || "-".to_string(),
                    |(_, s)| format!("p50 {} p99 {}", human(s.p50), human(s.p99)),
                );
            eprintln!(
                "    {:<16} n={:<6} p50 {:>10}  p99 {:>10}  max {:>10}  (1 thread: {single})",
                kind.name(),
                p.count,
                human(p.p50),
                human(p.p99),
                human(p.max),
            );
        }
        eprintln!(
            "  ({} done in {:.1} s)",
            backend.name(),
            t.elapsed().as_secs_f64()
        );
        reports.push(r);
    }
    let throughput = wanted(THROUGHPUT).then(|| {
        let (round, rounds) = if quick() {
            (Duration::from_millis(100), 1)
        } else {
            (Duration::from_secs(1), 3)
        };
        let t = read_throughput(round, rounds);
        println!("{}", t.line());
        t
    });
    println!();
    if !reports.is_empty() {
        println!("{TABLE_HEADER}");
        for r in &reports {
            println!("{}", r.table_row());
        }
        println!();
    }
    if let Some(t) = throughput {
        println!("{}", t.table());
        println!();
    }
    eprintln!("(whole run {:.1} s)", started.elapsed().as_secs_f64());
}
