//! The ratio report: every pair of [`chatdesk_benches::ops::pairs`] measured in
//! one process, operation and baseline alternating in chunks of about 20 ms so
//! that machine drift hits both alike; the ratio of a pair is the median of
//! its per-chunk ratios. History pairs (`*_history_*`) are measured in 3
//! rounds on the same fixtures and report the median round (`rounds <name>
//! r1 r2 r3` shows each).
//!
//! `cargo run --release -p chatdesk-benches --bin ratios [FILTER…]` (a
//! filter selects the pairs whose name contains it, `=name` one pair) prints
//! `ratio <name> <value>` per pair, then a table. Environment:
//! `CHATDESK_RATIO_SECS` (seconds per pair, default 2),
//! `CHATDESK_RATIOS_QUICK=1` (0.5 s per pair), `CHATDESK_BENCH_QUICK=1`
//! (fixtures divided by 1 000: a smoke run, ratios meaningless),
//! `CHATDESK_BENCH_HISTORY` (closed sessions of the history fixtures).

use chatdesk_benches::ops::{Pair, Side, pairs};
use std::time::{Duration, Instant};

const CHUNK: Duration = Duration::from_millis(20);

fn calibrate(side: &mut dyn Side) -> (u64, Duration) {
    let mut n = 1u64;
    loop {
        let t = side.run(n);
        if t >= CHUNK / 4 || n >= 1 << 20 {
            let per = t / u32::try_from(n).unwrap_or(u32::MAX);
            let k = (CHUNK.as_nanos() / per.as_nanos().max(1)).max(1);
            return (u64::try_from(k).unwrap_or(1), per);
        }
        n *= 4;
    }
}

fn per_op(t: Duration, n: u64) -> f64 {
    t.as_secs_f64() / n as f64
}

struct Row {
    name: String,
    a: f64,
    b: f64,
    ratio: f64,
    /// Each round's ratio (one unless the pair is a history pair).
    rounds: Vec<f64>,
    target: f64,
}

/// One round: operation and baseline alternating for `budget`; the medians
/// of their per-op times and of the per-chunk ratios.
fn round(
    a: &mut dyn Side,
    b: &mut dyn Side,
    ka: u64,
    kb: u64,
    budget: Duration,
) -> (f64, f64, f64) {
    let mut ratios = Vec::new();
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut flip = false;
    while start.elapsed() < budget || ratios.len() < 5 {
        let (x, y) = if flip {
            let y = b.run(kb);
            (a.run(ka), y)
        } else {
            let x = a.run(ka);
            (x, b.run(kb))
        };
        flip = !flip;
        let (x, y) = (per_op(x, ka), per_op(y, kb));
        ta.push(x);
        tb.push(y);
        ratios.push(x / y);
    }
    (median(&mut ta), median(&mut tb), median(&mut ratios))
}

/// Measures a pair in `rounds` rounds on the same two fixtures; the ratio
/// is the median of the rounds' ratios (each round's own median).
fn measure(p: &Pair, budget: Duration, rounds: usize) -> Row {
    let mut a = (p.a)();
    let mut b = (p.b)();
    let (ka, _) = calibrate(a.as_mut());
    let (kb, _) = calibrate(b.as_mut());
    let mut results: Vec<(f64, f64, f64)> = (0..rounds.max(1))
        .map(|_| round(a.as_mut(), b.as_mut(), ka, kb, budget))
        .collect();
    let each: Vec<f64> = results.iter().map(|r| r.2).collect();
    results.sort_by(|x, y| x.2.total_cmp(&y.2));
    let (ta, tb, ratio) = results[results.len() / 2];
    Row {
        name: p.name.clone(),
        a: ta,
        b: tb,
        ratio,
        rounds: each,
        target: p.target,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn human(secs: f64) -> String {
    if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.2} µs", secs * 1e6)
    }
}

fn main() {
    let secs: f64 = std::env::var("CHATDESK_RATIO_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(
            if std::env::var("CHATDESK_RATIOS_QUICK").is_ok_and(|v| v == "1") {
                0.5
            } else {
                2.0
            },
        );
    let budget = Duration::from_secs_f64(secs);
    let filters: Vec<String> = std::env::args().skip(1).collect();
    let mut rows = Vec::new();
    for p in pairs() {
        // A filter selects the pairs whose name contains it; `=name` only
        // the pair of that exact name.
        let selected = |f: &String| match f.strip_prefix('=') {
            Some(exact) => p.name == exact,
            None => p.name.contains(f.as_str()),
        };
        if !filters.is_empty() && !filters.iter().any(selected) {
            continue;
        }
        let t = Instant::now();
        // History pairs: the median of 3 rounds (issue 6), each printed.
        let rounds = if p.name.contains("_history_") { 3 } else { 1 };
        let row = measure(&p, budget, rounds);
        println!("ratio {} {:.3}", row.name, row.ratio);
        if row.rounds.len() > 1 {
            let each: Vec<String> = row.rounds.iter().map(|r| format!("{r:.3}")).collect();
            println!("rounds {} {}", row.name, each.join(" "));
        }
        eprintln!(
            "  ({} done in {:.1} s)",
            row.name,
            t.elapsed().as_secs_f64()
        );
        rows.push(row);
    }
    println!();
    println!("| pair | op | baseline | ratio | target | holds |\n|---|---:|---:|---:|---:|:---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | ≤ {} | {} |",
            r.name,
            human(r.a),
            human(r.b),
            r.ratio,
            r.target,
            if r.ratio <= r.target { "yes" } else { "NO" }
        );
    }
}
