//! The latency report's machinery on every backend in a tiny mode (2 threads
//! × 10 operations; memory read throughput in 50 ms rounds): every operation
//! is counted and timed, the figures are ordered, and the store holds what
//! the workload was told (every session it created, nothing picked up
//! twice, closed chats Closed, message counts as acknowledged).

use chatdesk::{ChatSessionStatus, SessionId};
use chatdesk_benches::latency::{OpKind, Report, TABLE_HEADER, read_throughput, run};
use chatdesk_benches::ops::Backend;
use std::collections::BTreeSet;
use std::time::Duration;

const THREADS: usize = 2;
const OPS: usize = 10;

fn check(r: &Report) {
    let name = r.backend.name();
    for run in [&r.single, &r.multi] {
        let want = run.threads * OPS;
        assert_eq!(run.ops(), want, "{name}: operations timed");
        let per_kind: usize = run.per_kind.iter().map(|(_, p)| p.count).sum();
        assert_eq!(per_kind, want, "{name}: operations per kind");
        assert_eq!(
            run.thread_walls.len(),
            run.threads,
            "{name}: a wall per thread"
        );
        assert!(
            run.thread_walls
                .iter()
                .all(|w| !w.is_zero() && *w <= run.wall),
            "{name}: thread walls {:?} within the run's {:?}",
            run.thread_walls,
            run.wall
        );
        let l = run.latency;
        assert!(!l.p50.is_zero(), "{name}: p50 > 0");
        assert!(l.p50 <= l.p99 && l.p99 <= l.max, "{name}: {l:?} ordered");
        for (kind, p) in &run.per_kind {
            assert!(
                p.count > 0 && p.p50 <= p.p99 && p.p99 <= p.max,
                "{name} {kind:?}: {p:?}"
            );
            assert!(
                p.max <= l.max,
                "{name} {kind:?}: max within the overall max"
            );
        }
        assert!(
            run.per_kind.iter().any(|(k, _)| *k == OpKind::Create),
            "{name}: the workload creates sessions"
        );

        let a = &run.audit;
        assert!(!a.created.is_empty(), "{name}: sessions created");
        let problems = a.problems();
        assert!(problems.is_empty(), "{name}: {problems:#?}");
        // The same facts, checked here directly.
        let created: BTreeSet<SessionId> = a.created.iter().copied().collect();
        assert_eq!(created.len(), a.created.len(), "{name}: ids unique");
        for id in &created {
            assert!(
                matches!(a.stored.get(id), Some(Some(_))),
                "{name}: created session {id} is in the store"
            );
        }
        let picked: BTreeSet<SessionId> = a.picked.iter().map(|(id, _)| *id).collect();
        assert_eq!(picked.len(), a.picked.len(), "{name}: nobody picked twice");
        for (id, agent) in &a.picked {
            let s = a.stored[id].expect("stored");
            assert_eq!(s.user, Some(*agent), "{name}: {id}'s User");
        }
        for id in &a.closed {
            assert!(picked.contains(id), "{name}: {id} closed after a pick-up");
            let s = a.stored[id].expect("stored");
            assert_eq!(s.status, ChatSessionStatus::Closed, "{name}: {id} closed");
        }
        for id in created.difference(&picked) {
            let s = a.stored[id].expect("stored");
            assert_eq!(s.status, ChatSessionStatus::InQueue, "{name}: {id} queued");
        }
        let sent: usize = a.messages.values().sum();
        let held: usize = a.stored.values().flatten().map(|s| s.messages).sum();
        assert_eq!(held, sent, "{name}: chat messages stored as acknowledged");
    }
    assert_eq!(r.multi.threads, THREADS);
    assert_eq!(r.single.threads, 1);
    assert!(r.cores >= 1);
    assert!(r.multi.slowest_over_fastest() >= 1.0);
    assert_eq!(
        r.p99_bound(),
        r.single_median()
            .mul_f64(10.0 * THREADS as f64 / r.cores as f64)
    );
    let line = r.line();
    assert!(
        line.starts_with(&format!(
            "latency {} threads={THREADS} ops={} ",
            r.backend.name(),
            THREADS * OPS
        )),
        "{line}"
    );
    for key in [
        "p50_us=",
        "p99_us=",
        "max_us=",
        "single_median_us=",
        "p99_bound_us=",
        "slowest_over_fastest=",
        "conflicts=",
    ] {
        assert!(line.contains(key), "{line}: {key}");
    }
    let row = r.table_row();
    assert_eq!(
        row.matches('|').count(),
        TABLE_HEADER
            .lines()
            .next()
            .map_or(0, |h| h.matches('|').count()),
        "{row}"
    );
    assert_eq!(!r.durable(), row.contains("reported only"), "{row}");
}

#[test]
fn every_backend_in_a_tiny_run() {
    for backend in Backend::ALL {
        let r = run(backend, THREADS, OPS);
        check(&r);
    }
}

#[test]
fn memory_read_throughput_is_measured() {
    let t = read_throughput(Duration::from_millis(50), 1);
    assert!(t.threads1 > 0.0 && t.threads2 > 0.0, "{t:?}");
    assert!(t.ratio() > 0.0);
    assert!(
        t.line().starts_with("throughput memory_reads threads1="),
        "{}",
        t.line()
    );
}
