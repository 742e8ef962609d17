//! Every operation of [`chatdesk_benches::ops`] next to its raw baseline, per
//! backend and mode (group `<op>_<backend>`: `operation` then `baseline`),
//! then the scaling and history pairs (group `<op>_<size>_vs_100_<backend>`
//! or `<op>_history_<backend>`: `large` then `small`). Read ratios, not
//! absolute times; `cargo run --release -p chatdesk-benches --bin ratios`
//! prints them.
//!
//! `cargo test -p chatdesk-benches --benches` runs each once in test mode,
//! with fixture sizes divided by 1 000.

use chatdesk_benches::ops::{Side, pairs};
use criterion::Criterion;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for p in pairs() {
        let scaling = p.name.contains("_vs_") || p.name.contains("_history_");
        let (a, b) = if scaling {
            ("large", "small")
        } else {
            ("operation", "baseline")
        };
        let mut g = c.benchmark_group(&p.name);
        for (id, make) in [(a, &p.a), (b, &p.b)] {
            let mut side: Option<Box<dyn Side>> = None;
            g.bench_function(id, |bench| {
                let s = side.get_or_insert_with(|| make());
                bench.iter_custom(|iters| s.run(iters));
            });
        }
        g.finish();
    }
    c.final_summary();
}
