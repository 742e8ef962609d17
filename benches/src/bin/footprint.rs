//! What a store costs as its history grows (issue 14, item 9): for each
//! backend, a store of N ended sessions (each closed, with two messages and
//! its index entries, written straight through the storage seam in
//! transactions of 1 000 sessions), then, in fresh processes:
//!
//! - **memory per session**: the resident memory (RSS) a process gains by
//!   holding the store (memory backend: filling it; disk backends: opening
//!   it), then after reading 1 000 random sessions, then after reading every
//!   session once (a scan, as a report over the whole history does: what
//!   fills a page cache), divided by N;
//! - **disk per session**: the store's files (allocated blocks) over N;
//! - **open time**: opening the store in a new process, the first time
//!   after the bulk write and again (a second open); the files are in the
//!   OS page cache both times (dropping it would disturb the machine's other
//!   users), so this is the open's own work, not the disk's.
//!
//! sled is measured with its page cache bounded at the default
//! ([`chatdesk_sled::DEFAULT_CACHE_BYTES`]) and at smaller bounds
//! ([`SledOptions::cache_bytes`]), with the p50 of a read of a random ended
//! session, to show what a bound costs.
//!
//! ```sh
//! cargo run --release -p chatdesk-benches --bin footprint [-- --sessions N]
//! ```
//!
//! N defaults to 100 000; `CHATDESK_LONG=1` makes it 1 000 000. Prints a
//! Markdown table (and `footprint …` lines). The children are this binary
//! re-executed with `--child`.

use chatdesk::backend::{IdKind, StorageExt};
use chatdesk::backend::{MessageRecord, SessionRecord};
use chatdesk::testkit::rng::Rng;
use chatdesk::{
    Caller, ChatDesk, ChatMessageSpecialType, ChatMessageType, ChatSessionStatus, Durability,
    MemoryStorage, MessageId, SessionId, Storage, Timestamp, TopicId,
};
use chatdesk_benches::latency::{Percentiles, human};
use chatdesk_benches::{AGENT, queued_record, seed};
use chatdesk_sled::{SledOptions, SledStorage};
use chatdesk_sqlite::{SqliteOptions, SqliteStorage};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Sessions per fill transaction.
const BATCH: usize = 1000;

/// Random reads after opening.
const READS: usize = 1000;

/// The sled cache bounds measured (bytes; the first is the default).
const SLED_CACHES: [u64; 3] = [chatdesk_sled::DEFAULT_CACHE_BYTES, 64 << 20, 8 << 20];

/// Resident memory of this process in bytes (Linux), 0 elsewhere.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Bytes allocated on disk for everything under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).expect("reading the store directory") {
        let e = e.expect("a directory entry");
        let m = e.metadata().expect("a file's metadata");
        total += if m.is_dir() {
            disk_bytes(&e.path())
        } else {
            allocated(&m)
        };
    }
    total
}

#[cfg(unix)]
fn allocated(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::blocks(m) * 512
}

#[cfg(not(unix))]
fn allocated(m: &std::fs::Metadata) -> u64 {
    m.len()
}

/// Writes `n` ended sessions (two messages each) into `store`'s topic.
fn fill<S: Storage>(store: &S, topic: TopicId, n: usize) {
    let now = Timestamp(638_000_000_000_000_000);
    let mut done = 0;
    while done < n {
        let k = BATCH.min(n - done);
        store
            .write(|tx| {
                for _ in 0..k {
                    let id = SessionId(i32::try_from(tx.next_id(IdKind::Session)?).expect("id"));
                    let mut key = [0xA5u8; 32];
                    key[..4].copy_from_slice(&id.0.to_be_bytes());
                    let mut s: SessionRecord = queued_record(id, topic, key, now, 0, 1);
                    s.status = ChatSessionStatus::Closed;
                    s.user = Some(AGENT);
                    s.queue_seq = None;
                    s.queue_entered = None;
                    s.when_started = Some(now);
                    s.when_ended = Some(now);
                    s.first_message = "Hello, I need help with my order".into();
                    s.last_message = "Glad to help, goodbye!".into();
                    tx.put_session(&s)?;
                    for (text, kind, author) in [
                        (
                            "Hello, I need help with my order",
                            ChatMessageType::ToUser,
                            "Ann",
                        ),
                        (
                            "Glad to help, goodbye!",
                            ChatMessageType::ToCustomer,
                            "Agent Seven",
                        ),
                    ] {
                        let id =
                            MessageId(i32::try_from(tx.next_id(IdKind::Message)?).expect("id"));
                        tx.put_message(&MessageRecord {
                            id,
                            session: s.id,
                            kind,
                            text: text.into(),
                            author: author.into(),
                            read_by_customer: true,
                            special: ChatMessageSpecialType::None,
                            special_param: String::new(),
                            when_posted: now,
                        })?;
                    }
                }
                Ok(())
            })
            .expect("filling the store");
        done += k;
    }
}

/// p50 of reading `READS` random sessions out of `1..=n` through the service.
fn read_p50<S: Storage>(desk: &ChatDesk<S>, n: usize) -> Duration {
    let mut rng = Rng::seeded(0x5EED);
    let sys = Caller::system();
    let mut times: Vec<Duration> = (0..READS)
        .map(|_| {
            let id = SessionId(1 + i32::try_from(rng.below(n)).expect("id"));
            let t = Instant::now();
            let e = desk
                .get_chat_session_entity(&sys, id)
                .expect("reading a session");
            let took = t.elapsed();
            assert_eq!(e.status, ChatSessionStatus::Closed);
            took
        })
        .collect();
    Percentiles::of(&mut times).p50
}

/// Reads every session once (a scan in pages of 1 000), as a report over the
/// whole history would: this is what fills a page cache.
fn scan_all<S: Storage>(store: &S) {
    let mut after = SessionId(0);
    loop {
        let page = store
            .read(|tx| tx.sessions(after, 1000))
            .expect("scanning the sessions");
        match page.last() {
            Some(last) => after = last.id,
            None => break,
        }
    }
}

fn sqlite_options() -> SqliteOptions {
    SqliteOptions {
        durability: Durability::Relaxed,
        ..SqliteOptions::default()
    }
}

fn sled_options(cache: u64) -> SledOptions {
    SledOptions {
        durability: Durability::Relaxed,
        cache_bytes: cache,
        ..SledOptions::default()
    }
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout");
}

/// `--child fill|open <backend> <path> <n> [cache]`.
fn child(args: &[String]) {
    let [what, backend, path, n, rest @ ..] = args else {
        panic!("child arguments: {args:?}");
    };
    let n: usize = n.parse().expect("a number of sessions");
    let path = PathBuf::from(path);
    let cache: u64 = rest
        .first()
        .map_or(chatdesk_sled::DEFAULT_CACHE_BYTES, |c| {
            c.parse().expect("a cache size")
        });
    match (what.as_str(), backend.as_str()) {
        ("fill", "memory") => {
            let base = rss();
            let t = Instant::now();
            let desk = ChatDesk::new(MemoryStorage::new());
            let topic = seed(&desk);
            fill(desk.storage(), topic, n);
            let took = t.elapsed();
            let held = rss();
            let p50 = read_p50(&desk, n);
            let reads = rss();
            scan_all(desk.storage());
            say(format!(
                "fill_ms={} base={base} open={held} reads={reads} scan={} read_p50_ns={}",
                took.as_millis(),
                rss(),
                p50.as_nanos()
            ));
        }
        ("fill", "sqlite") => {
            let t = Instant::now();
            let desk = ChatDesk::new(SqliteStorage::open(&path, sqlite_options()).expect("open"));
            let topic = seed(&desk);
            fill(desk.storage(), topic, n);
            desk.into_storage().close().expect("closing");
            say(format!("fill_ms={}", t.elapsed().as_millis()));
        }
        ("fill", "sled") => {
            let t = Instant::now();
            let desk = ChatDesk::new(SledStorage::open(&path, sled_options(cache)).expect("open"));
            let topic = seed(&desk);
            fill(desk.storage(), topic, n);
            desk.into_storage().close().expect("closing");
            say(format!("fill_ms={}", t.elapsed().as_millis()));
        }
        ("open", "sqlite") => {
            let base = rss();
            let t = Instant::now();
            let store = SqliteStorage::open(&path, sqlite_options()).expect("open");
            let took = t.elapsed();
            let open = rss();
            let desk = ChatDesk::new(store);
            let p50 = read_p50(&desk, n);
            let reads = rss();
            scan_all(desk.storage());
            say(format!(
                "open_us={} base={base} open={open} reads={reads} scan={} read_p50_ns={}",
                took.as_micros(),
                rss(),
                p50.as_nanos()
            ));
        }
        ("open", "sled") => {
            let base = rss();
            let t = Instant::now();
            let store = SledStorage::open(&path, sled_options(cache)).expect("open");
            let took = t.elapsed();
            let open = rss();
            let desk = ChatDesk::new(store);
            let p50 = read_p50(&desk, n);
            let reads = rss();
            scan_all(desk.storage());
            say(format!(
                "open_us={} base={base} open={open} reads={reads} scan={} read_p50_ns={}",
                took.as_micros(),
                rss(),
                p50.as_nanos()
            ));
        }
        other => panic!("unknown child {other:?}"),
    }
}

/// Runs a child and parses its `key=value` line.
fn run_child(args: &[String]) -> Vec<(String, u64)> {
    let exe = std::env::current_exe().expect("this program's path");
    let out = Command::new(exe)
        .arg("--child")
        .args(args)
        .output()
        .expect("running a child");
    assert!(
        out.status.success(),
        "child {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(0)))
        .collect()
}

fn get(kv: &[(String, u64)], key: &str) -> u64 {
    kv.iter().find(|(k, _)| k == key).map_or(0, |(_, v)| *v)
}

fn mib(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

fn per_session(b: u64, n: usize) -> String {
    format!("{:.0} B", b as f64 / n as f64)
}

struct Row {
    name: String,
    rss_open: u64,
    rss_reads: u64,
    rss_scan: u64,
    disk: Option<u64>,
    first_open: Option<Duration>,
    second_open: Option<Duration>,
    read_p50: Duration,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    let long = std::env::var("CHATDESK_LONG").is_ok_and(|v| v == "1");
    let mut n: usize = if long { 1_000_000 } else { 100_000 };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sessions" => {
                n = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--sessions needs a number");
            }
            other => panic!("unknown argument {other:?}; usage: footprint [--sessions N]"),
        }
    }
    eprintln!("{n} ended sessions per store");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let ns = n.to_string();
    let mut rows = Vec::new();

    // Memory: the store lives in the process.
    let m = run_child(&["fill".into(), "memory".into(), "-".into(), ns.clone()]);
    eprintln!("memory: filled in {} ms", get(&m, "fill_ms"));
    rows.push(Row {
        name: "memory".into(),
        rss_open: get(&m, "open").saturating_sub(get(&m, "base")),
        rss_reads: get(&m, "reads").saturating_sub(get(&m, "base")),
        rss_scan: get(&m, "scan").saturating_sub(get(&m, "base")),
        disk: None,
        first_open: None,
        second_open: None,
        read_p50: Duration::from_nanos(get(&m, "read_p50_ns")),
    });

    // SQLite.
    let db = tmp.path().join("sqlite");
    std::fs::create_dir_all(&db).expect("a directory");
    let file = db.join("chat.db").display().to_string();
    let f = run_child(&["fill".into(), "sqlite".into(), file.clone(), ns.clone()]);
    eprintln!("sqlite: filled in {} ms", get(&f, "fill_ms"));
    let disk = disk_bytes(&db);
    let first = run_child(&["open".into(), "sqlite".into(), file.clone(), ns.clone()]);
    let second = run_child(&["open".into(), "sqlite".into(), file, ns.clone()]);
    rows.push(Row {
        name: "SQLite".into(),
        rss_open: get(&second, "open").saturating_sub(get(&second, "base")),
        rss_reads: get(&second, "reads").saturating_sub(get(&second, "base")),
        rss_scan: get(&second, "scan").saturating_sub(get(&second, "base")),
        disk: Some(disk),
        first_open: Some(Duration::from_micros(get(&first, "open_us"))),
        second_open: Some(Duration::from_micros(get(&second, "open_us"))),
        read_p50: Duration::from_nanos(get(&second, "read_p50_ns")),
    });

    // sled, once filled, opened with each cache bound.
    let dir = tmp.path().join("sled").display().to_string();
    let f = run_child(&["fill".into(), "sled".into(), dir.clone(), ns.clone()]);
    eprintln!("sled: filled in {} ms", get(&f, "fill_ms"));
    let disk = disk_bytes(Path::new(&dir));
    let mut first_open = None;
    for cache in SLED_CACHES {
        let c = cache.to_string();
        let open = |dir: &str| {
            run_child(&[
                "open".into(),
                "sled".into(),
                dir.into(),
                ns.clone(),
                c.clone(),
            ])
        };
        let first = open(&dir);
        let second = open(&dir);
        // Only the very first open follows the bulk write.
        let first_us = *first_open.get_or_insert(get(&first, "open_us"));
        let bound = if cache >= 1 << 30 {
            format!("{} GiB", cache >> 30)
        } else {
            format!("{} MiB", cache >> 20)
        };
        let label = if cache == chatdesk_sled::DEFAULT_CACHE_BYTES {
            format!("sled, cache_bytes {bound} (default)")
        } else {
            format!("sled, cache_bytes {bound}")
        };
        rows.push(Row {
            name: label,
            rss_open: get(&second, "open").saturating_sub(get(&second, "base")),
            rss_reads: get(&second, "reads").saturating_sub(get(&second, "base")),
            rss_scan: get(&second, "scan").saturating_sub(get(&second, "base")),
            disk: Some(disk),
            first_open: (cache == SLED_CACHES[0]).then(|| Duration::from_micros(first_us)),
            second_open: Some(Duration::from_micros(get(&second, "open_us"))),
            read_p50: Duration::from_nanos(get(&second, "read_p50_ns")),
        });
    }

    println!();
    println!(
        "{n} ended sessions (two messages each); RSS is what the process gains by holding the store"
    );
    println!();
    println!(
        "| backend | RSS once open | per session | after {READS} reads | after reading every session | per session | disk | per session | first open after the bulk write | open | read p50 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let dash = || "-".to_string();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            mib(r.rss_open),
            per_session(r.rss_open, n),
            mib(r.rss_reads),
            mib(r.rss_scan),
            per_session(r.rss_scan, n),
            r.disk.map_or_else(dash, mib),
            r.disk.map_or_else(dash, |d| per_session(d, n)),
            r.first_open.map_or_else(dash, human),
            r.second_open.map_or_else(dash, human),
            human(r.read_p50),
        );
        println!(
            "footprint backend={:?} sessions={n} rss_open={} rss_reads={} rss_scan={} disk={} first_open_us={} open_us={} read_p50_ns={}",
            r.name,
            r.rss_open,
            r.rss_reads,
            r.rss_scan,
            r.disk.unwrap_or(0),
            r.first_open.map_or(0, |d| d.as_micros()),
            r.second_open.map_or(0, |d| d.as_micros()),
            r.read_p50.as_nanos()
        );
    }
}
