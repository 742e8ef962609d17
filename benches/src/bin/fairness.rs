//! Writer fairness between processes on one SQLite file (issue 14, item 1).
//!
//! One creator process and four agent processes share one SQLite store, with
//! `--sessions` customers (default 2 000) to serve in one topic: `--backlog`
//! of them (default half) wait in the queue before the start, the creator
//! adds the rest as fast as it can. Each agent, as fast as it can, picks up
//! the first waiting session, adds a message and closes it, until the
//! creator is done and the queue is empty. (The backlog keeps the queue from
//! running dry while the creator still adds: with an empty queue, who gets
//! the next session depends on where each agent stands in the writers'
//! rotation when it arrives, not on the lock. With strictly fair turns and
//! no backlog, the rotation settles so that three agents share the new
//! sessions and the fourth always finds the queue empty.) Every write is timed from its first try to its success (Conflicts
//! retried and counted). The parent prints each process's share of the
//! pick-ups against its fair share (1 / agents) and the p50 / p99 / max wait
//! of a write, per process and over all of them, and checks that every
//! session was picked up exactly once.
//!
//! ```sh
//! cargo run --release -p chatdesk-benches --bin fairness -- [--sessions N] [--backlog B] [--agents K] [--relaxed] [--busy-ms MS]
//! ```
//!
//! Targets: every agent process gets at least half its fair share of the
//! pick-ups, and a write's p99 wait is at most 10 × its median. The lines
//! `fairness …` are machine-readable; the table after them is for people.
//!
//! The children are this binary re-executed with `--child`.

use chatdesk::{Associate, ChatPresence, ChatTopicAgent};
use chatdesk::{
    Caller, ChatDesk, ChatMessage, ChatSessionEntity, Durability, Error, TopicId, UserId,
};
use chatdesk_benches::latency::{Percentiles, human};
use chatdesk_sqlite::{SqliteOptions, SqliteStorage};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The agents' user ids start here (agent k is `FIRST_AGENT + k`).
const FIRST_AGENT: i32 = 7;

/// Conflicts one write may retry before the run gives up.
const MAX_RETRIES: usize = 100_000;

#[derive(Debug, Clone)]
struct Config {
    sessions: usize,
    backlog: Option<usize>,
    agents: usize,
    durability: Durability,
    busy: Duration,
}

impl Config {
    fn parse(args: &[String]) -> Config {
        let mut c = Config {
            sessions: 2000,
            backlog: None,
            agents: 4,
            durability: Durability::Durable,
            busy: SqliteOptions::default().busy_timeout,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut number = |what: &str| -> u64 {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{what} needs a number"))
            };
            match a.as_str() {
                "--sessions" => c.sessions = number("--sessions") as usize,
                "--backlog" => c.backlog = Some(number("--backlog") as usize),
                "--agents" => c.agents = number("--agents") as usize,
                "--busy-ms" => c.busy = Duration::from_millis(number("--busy-ms")),
                "--relaxed" => c.durability = Durability::Relaxed,
                other => panic!(
                    "unknown argument {other:?}; usage: fairness [--sessions N] [--agents K] [--relaxed] [--busy-ms MS]"
                ),
            }
        }
        assert!(c.agents > 0 && c.sessions > 0, "nothing to run");
        assert!(
            c.backlog() <= c.sessions,
            "a backlog larger than the sessions"
        );
        c
    }

    /// Sessions queued before the start.
    fn backlog(&self) -> usize {
        self.backlog.unwrap_or(self.sessions / 2)
    }

    fn options(&self) -> SqliteOptions {
        SqliteOptions {
            durability: self.durability,
            busy_timeout: self.busy,
            ..SqliteOptions::default()
        }
    }

    /// As arguments for a child.
    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--sessions".to_string(),
            self.sessions.to_string(),
            "--backlog".to_string(),
            self.backlog().to_string(),
            "--agents".to_string(),
            self.agents.to_string(),
            "--busy-ms".to_string(),
            self.busy.as_millis().to_string(),
        ];
        if self.durability == Durability::Relaxed {
            a.push("--relaxed".to_string());
        }
        a
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
    } else {
        parent(&Config::parse(&args));
    }
}

// ------------------------------------------------------------------ child --

/// Times writes and counts Conflicts.
#[derive(Default)]
struct Timer {
    /// Per kind of write, the wait of each (µs).
    waits: BTreeMap<&'static str, Vec<u64>>,
    conflicts: usize,
}

impl Timer {
    fn write<T>(&mut self, kind: &'static str, mut f: impl FnMut() -> chatdesk::Result<T>) -> T {
        let start = Instant::now();
        let mut retries = 0;
        loop {
            match f() {
                Ok(v) => {
                    let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.waits.entry(kind).or_default().push(us);
                    return v;
                }
                Err(Error::Conflict { .. }) if retries < MAX_RETRIES => {
                    retries += 1;
                    self.conflicts += 1;
                }
                Err(e) => panic!("{kind}: {e}"),
            }
        }
    }

    /// Prints `conflicts N` and one `waits <kind> <µs>…` line per kind.
    fn print(&self, out: &mut impl Write) {
        writeln!(out, "conflicts {}", self.conflicts).expect("stdout");
        for (kind, w) in &self.waits {
            let list: Vec<String> = w.iter().map(u64::to_string).collect();
            writeln!(out, "waits {kind} {}", list.join(" ")).expect("stdout");
        }
    }
}

fn wait_for(file: &Path) {
    let start = Instant::now();
    while !file.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "no go signal");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `--child creator|agent <db> <dir> <user> <config…>`.
fn child(args: &[String]) {
    let [role, db, dir, user, rest @ ..] = args else {
        panic!("child arguments: {args:?}");
    };
    let config = Config::parse(rest);
    let dir = PathBuf::from(dir);
    let store = SqliteStorage::open(db, config.options()).expect("opening the store");
    let desk = ChatDesk::new(store);
    let mut timer = Timer::default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    wait_for(&dir.join("go"));
    let started = Instant::now();
    match role.as_str() {
        "creator" => {
            let topic = TopicId(1);
            let input = ChatSessionEntity {
                customer_alias: "customer".into(),
                ..ChatSessionEntity::default()
            };
            for _ in config.backlog()..config.sessions {
                timer.write("create", || {
                    desk.create_chat_session_for_topic(&Caller::anonymous(), topic, &input)
                });
            }
            std::fs::write(dir.join("done"), "").expect("writing the done file");
        }
        "agent" => {
            let me = Caller::agent(UserId(user.parse().expect("a user id")));
            let done = dir.join("done");
            let mut picked = Vec::new();
            let mut done_seen = false;
            loop {
                let got = timer.write("pick_up", || desk.pick_up_first_chat_session(&me));
                let Some(e) = got else {
                    if done_seen {
                        break;
                    }
                    // Seen before one last try: nothing is added after it.
                    done_seen = done.exists();
                    continue;
                };
                let id = chatdesk::SessionId(e.chat_session_id);
                picked.push(id.0);
                let msg = ChatMessage {
                    message: "Hello, how can I help?".into(),
                    ..ChatMessage::default()
                };
                timer.write("add_message", || desk.add_chat_message(&me, id, &msg));
                timer.write("close", || desk.close_chat_session(&me, id));
            }
            let list: Vec<String> = picked.iter().map(i32::to_string).collect();
            writeln!(out, "picked {}", list.join(" ")).expect("stdout");
        }
        other => panic!("unknown role {other:?}"),
    }
    writeln!(out, "wall_ms {}", started.elapsed().as_millis()).expect("stdout");
    timer.print(&mut out);
    writeln!(out, "end").expect("stdout");
    out.flush().expect("stdout");
}

// ----------------------------------------------------------------- parent --

/// What one child reported.
#[derive(Debug, Default)]
struct Report {
    name: String,
    picked: Vec<i32>,
    conflicts: usize,
    wall: Duration,
    waits: BTreeMap<String, Vec<Duration>>,
}

impl Report {
    fn all_waits(&self) -> Vec<Duration> {
        self.waits.values().flatten().copied().collect()
    }
}

fn parse_report(name: String, lines: &[String]) -> Report {
    let mut r = Report {
        name,
        ..Report::default()
    };
    for l in lines {
        let mut w = l.split_whitespace();
        match w.next() {
            Some("picked") => r.picked = w.map(|v| v.parse().expect("a session id")).collect(),
            Some("conflicts") => r.conflicts = w.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            Some("wall_ms") => {
                r.wall = Duration::from_millis(w.next().and_then(|v| v.parse().ok()).unwrap_or(0));
            }
            Some("waits") => {
                let kind = w.next().unwrap_or("?").to_string();
                let v = w
                    .map(|v| Duration::from_micros(v.parse().expect("µs")))
                    .collect();
                r.waits.insert(kind, v);
            }
            _ => {}
        }
    }
    r
}

fn seed(db: &Path, config: &Config) {
    let desk = ChatDesk::new(SqliteStorage::open(db, config.options()).expect("opening the store"));
    let sys = Caller::system();
    let mut t = desk.create_default_chat_topic_entity(&sys);
    t.name = "Support".into();
    let topic = desk
        .save_chat_topic_entity(&sys, &t)
        .expect("saving the topic");
    assert_eq!(topic.chat_topic_id, 1);
    for k in 0..config.agents {
        let user = FIRST_AGENT + i32::try_from(k).expect("few agents");
        desk.add_chat_topic_user_agent(
            &sys,
            &ChatTopicAgent {
                topic_id: topic.chat_topic_id,
                user: Some(Associate::with_id(user)),
                can_respond: true,
                ..ChatTopicAgent::default()
            },
        )
        .expect("adding an agent");
        desk.save_chat_presence(
            &Caller::agent(UserId(user)),
            &ChatPresence {
                user_id: user,
                present: true,
                display_name: format!("Agent {user}"),
                ..ChatPresence::default()
            },
        )
        .expect("saving a presence");
    }
    let input = ChatSessionEntity {
        customer_alias: "waiting".into(),
        ..ChatSessionEntity::default()
    };
    for _ in 0..config.backlog() {
        desk.create_chat_session_for_topic(
            &Caller::anonymous(),
            TopicId(topic.chat_topic_id),
            &input,
        )
        .expect("queueing a session");
    }
    desk.into_storage().close().expect("closing the store");
}

fn parent(config: &Config) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    let db = dir.join("chat.db");
    seed(&db, config);
    let exe = std::env::current_exe().expect("this program's path");
    let mut names = vec![("creator".to_string(), "creator", 0)];
    for k in 0..config.agents {
        let user = FIRST_AGENT + i32::try_from(k).expect("few agents");
        names.push((format!("agent {user}"), "agent", user));
    }
    let mut children = Vec::new();
    for (name, role, user) in &names {
        let mut child = Command::new(&exe)
            .arg("--child")
            .arg(role)
            .arg(&db)
            .arg(dir)
            .arg(user.to_string())
            .args(config.args())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning a child");
        let out = child.stdout.take().expect("the child's stdout");
        let mut lines = BufReader::new(out).lines().map_while(Result::ok);
        assert_eq!(
            lines.next().as_deref(),
            Some("ready"),
            "{name} did not start"
        );
        children.push((name.clone(), child, lines));
    }
    eprintln!(
        "{} agent processes and 1 creator, {} sessions ({} queued before the start), {:?}, busy timeout {:?}",
        config.agents,
        config.sessions,
        config.backlog(),
        config.durability,
        config.busy
    );
    let started = Instant::now();
    std::fs::write(dir.join("go"), "").expect("writing the go file");
    let mut reports = Vec::new();
    for (name, mut child, lines) in children {
        let lines: Vec<String> = lines.collect();
        let status = child.wait().expect("waiting for a child");
        assert!(
            status.success() && lines.iter().any(|l| l == "end"),
            "{name} failed: {status}"
        );
        reports.push(parse_report(name, &lines));
    }
    let wall = started.elapsed();

    // Every session picked up exactly once.
    let mut all: Vec<i32> = reports.iter().flat_map(|r| r.picked.clone()).collect();
    all.sort_unstable();
    let want: Vec<i32> = (1..=i32::try_from(config.sessions).expect("sessions")).collect();
    assert_eq!(all, want, "every session picked up exactly once");

    let fair = 1.0 / config.agents as f64;
    let mut worst_share: f64 = f64::INFINITY;
    let mut everything = Vec::new();
    println!();
    println!(
        "| process | pick-ups | share | of fair share | writes | p50 wait | p99 wait | max wait | conflicts | wall |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &reports {
        let mut waits = r.all_waits();
        everything.extend_from_slice(&waits);
        let p = Percentiles::of(&mut waits);
        let (picks, share) = if r.name == "creator" {
            ("-".to_string(), "-".to_string())
        } else {
            let share = r.picked.len() as f64 / config.sessions as f64;
            worst_share = worst_share.min(share / fair);
            (
                r.picked.len().to_string(),
                format!("{:.1} %", share * 100.0),
            )
        };
        let of_fair = if r.name == "creator" {
            "-".to_string()
        } else {
            format!(
                "{:.2}",
                r.picked.len() as f64 / config.sessions as f64 / fair
            )
        };
        println!(
            "| {} | {picks} | {share} | {of_fair} | {} | {} | {} | {} | {} | {:.1} s |",
            r.name,
            p.count,
            human(p.p50),
            human(p.p99),
            human(p.max),
            r.conflicts,
            r.wall.as_secs_f64()
        );
        println!(
            "fairness process={:?} picked={} writes={} p50_us={} p99_us={} max_us={} conflicts={}",
            r.name,
            r.picked.len(),
            p.count,
            p.p50.as_micros(),
            p.p99.as_micros(),
            p.max.as_micros(),
            r.conflicts
        );
    }
    let p = Percentiles::of(&mut everything);
    let ratio = p.p99.as_secs_f64() / p.p50.as_secs_f64().max(1e-9);
    println!(
        "| all | {} | | | {} | {} | {} | {} | {} | {:.1} s |",
        config.sessions,
        p.count,
        human(p.p50),
        human(p.p99),
        human(p.max),
        reports.iter().map(|r| r.conflicts).sum::<usize>(),
        wall.as_secs_f64()
    );
    println!();
    let by_kind = {
        let mut m: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        for r in &reports {
            for (k, w) in &r.waits {
                m.entry(k.as_str()).or_default().extend_from_slice(w);
            }
        }
        m
    };
    for (k, mut w) in by_kind {
        let p = Percentiles::of(&mut w);
        println!(
            "  {k:<12} n={:<6} p50 {:>10}  p99 {:>10}  max {:>10}",
            p.count,
            human(p.p50),
            human(p.p99),
            human(p.max)
        );
    }
    println!();
    println!(
        "fairness summary sessions={} agents={} worst_share_of_fair={worst_share:.2} p50_us={} p99_us={} max_us={} p99_over_p50={ratio:.1} wall_s={:.1}",
        config.sessions,
        config.agents,
        p.p50.as_micros(),
        p.p99.as_micros(),
        p.max.as_micros(),
        wall.as_secs_f64()
    );
    let shares_hold = worst_share >= 0.5;
    let tail_holds = ratio <= 10.0;
    println!(
        "targets: every agent ≥ half its fair share: {} (worst {worst_share:.2}); p99 ≤ 10 × p50: {} ({ratio:.1} ×)",
        if shares_hold { "holds" } else { "MISSED" },
        if tail_holds { "holds" } else { "MISSED" },
    );
}
