//! Randomized proof against a reference model (issue #5, part 1; routing, issue #12): random sequences of every public operation — several topics,
//! agents and customers, a manual clock that jumps both ways, sweeps,
//! routing settings, capacities, presences, routing sweeps and explanations
//! (half the cases start with a routed topic) — run on the reference model
//! of [`reference`](mod@reference) and on a service over any [`Storage`]; every answer is
//! compared, the routing invariant and every routed assignment after every
//! step, and the whole observable state every [`driver::FULL_CHECK_EVERY`]
//! steps and at the end of each case.
//!
//! The state machine is our own (a `proptest` strategy of whole cases:
//! setup plus a list of steps that name sessions by creation order), so
//! proptest shrinks failing cases to a short sequence.
//!
//! Case counts: [`run_model`] takes the CI count; `CHATDESK_LONG=1` runs
//! batches of cases of up to 200 steps until at least 10⁶ steps have run;
//! `CHATDESK_MODEL_CASES=n` overrides the CI count.

pub mod driver;
pub mod ops;
pub mod reference;

use crate::storage::Storage;
use parking_lot::Mutex;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Steps a case has at most.
pub const MAX_STEPS: usize = 200;
/// Steps the long mode runs at least, per backend.
pub const LONG_STEPS: usize = 1_000_000;

/// Whether `CHATDESK_LONG=1` is set.
pub fn long_mode() -> bool {
    std::env::var("CHATDESK_LONG").is_ok_and(|v| v == "1")
}

type Stats = Option<Arc<Mutex<BTreeMap<String, usize>>>>;

fn run_cases<S: Storage>(
    open: &dyn Fn() -> S,
    cases: u32,
    steps: &AtomicUsize,
    stats: &Stats,
    counts: &Mutex<driver::RoutingCounts>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    });
    let result = runner.run(&ops::case(MAX_STEPS), |case| {
        let mut d = driver::Driver::new(open(), &case).map_err(TestCaseError::fail)?;
        d.stats.clone_from(stats);
        d.run(&case).map_err(TestCaseError::fail)?;
        steps.fetch_add(case.ops.len(), Ordering::Relaxed);
        counts.lock().add(&d.counts);
        Ok(())
    });
    if let Err(e) = result {
        panic!("model and service disagree: {e}");
    }
}

/// Runs the model test on stores from `open`: `ci_cases` cases, or the long
/// mode when `CHATDESK_LONG=1`. Prints the steps run and the time taken.
pub fn run_model<S: Storage>(open: impl Fn() -> S, ci_cases: u32) {
    let steps = AtomicUsize::new(0);
    let counts = Mutex::new(driver::RoutingCounts::default());
    let stats: Stats = std::env::var("CHATDESK_MODEL_STATS")
        .is_ok_and(|v| v == "1")
        .then(Default::default);
    let start = Instant::now();
    let mut cases = 0u64;
    if long_mode() {
        while steps.load(Ordering::Relaxed) < LONG_STEPS {
            run_cases(&open, 500, &steps, &stats, &counts);
            cases += 500;
            eprintln!(
                "model (long): {} steps, {cases} cases, {:.0?}",
                steps.load(Ordering::Relaxed),
                start.elapsed()
            );
        }
    } else {
        let n = std::env::var("CHATDESK_MODEL_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(ci_cases);
        run_cases(&open, n, &steps, &stats, &counts);
        cases = u64::from(n);
    }
    if let Some(stats) = stats {
        for (k, v) in stats.lock().iter() {
            eprintln!("{v:>8} {k}");
        }
    }
    let c = *counts.lock();
    eprintln!(
        "model: {} steps in {cases} cases in {:.2?}; routing: {} assignments ({} by sweeps, \
         {} chosen among several agents, {} of them LongestIdle), {} answer timeouts, \
         {} transfer timeouts",
        steps.load(Ordering::Relaxed),
        start.elapsed(),
        c.assigned,
        c.assigned_in_sweeps,
        c.contested,
        c.contested_longest_idle,
        c.answer_timeouts,
        c.transfer_timeouts
    );
}
