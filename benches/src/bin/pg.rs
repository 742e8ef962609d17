//! chatdesk on PostgreSQL against a raw baseline written by hand.
//!
//! 1. **Operations**: create a session, pick it up, add a message, each timed
//!    in one process, chatdesk and the raw baseline alternating in chunks of
//!    20 so that drift hits both alike; reports the medians and their ratio
//!    (target ≤ 1.5).
//! 2. **Scaling on disjoint Manual topics and agents, feed off**: 1 and then 4
//!    OS processes, each on its own topic with its own agent, each running
//!    create → pick up → add message → close for `--secs` seconds; the same
//!    with 1 and 4 raw clients. Target: chatdesk's 4/1 throughput ratio ≥
//!    0.8 × the raw one. Then chatdesk with the change feed on, and with
//!    every topic Auto (reported only).
//! 3. **4 processes on one topic**: one Manual topic with 4 present agents,
//!    one per process; each process in a loop creates a session there (as a
//!    customer), picks up the first waiting one (whoever created it), adds a
//!    message and closes it. Reports each process's pick-ups against its
//!    fair share (target ≥ 0.5), and the p50 / p99 / max wait of a write
//!    against the median of the same loop in 1 process (target p99 ≤ 10×).
//! 4. **Queue position at 100 000 queued against at 100**: two topics'
//!    queues filled through the storage seam (Relaxed, 50 sessions per
//!    transaction, the counted queue index kept as the service keeps it),
//!    the last of each created by the service; `get_queue_position` asked by
//!    each one's customer, alternating in chunks of 20, after checking both
//!    answers (target: median ratio ≤ 2).
//! 5. **Beside SQLite and sled**: the cycle in one process for `--secs` on
//!    PostgreSQL (durable), SQLite and sled (durable and relaxed), one after
//!    the other: cycles per second and p50 / p99 of each operation.
//!
//! The raw baseline lives in its own schema: the same rows (a session with
//! its queue sequence and initial position, the agent's rank, the welcome
//! and the customer's messages, the topic's last pick-up, the close), the
//! fewest statements that do it, one transaction per operation, no locks
//! beyond PostgreSQL's row locks, no change feed, no routing index.
//!
//! ```sh
//! cargo run --release -p chatdesk-benches --bin pg -- [--ops N] [--secs S] [--part P]...
//! ```
//!
//! `--part` (repeatable) runs only the named parts: `ops`, `scaling`,
//! `one_topic`, `queue`, `beside`; all of them by default.
//!
//! The server is the one the PostgreSQL tests use (`CHATDESK_PG_URL`, else one
//! started in a temporary directory: note that it runs with `fsync=off`, so
//! "durable" commits cost no disk flush there). Lines starting `pg ` are
//! machine-readable. The children are this binary re-executed with `--child`.

use chatdesk::Storage;
use chatdesk::backend::{IdKind, StorageExt, WriteTx};
use chatdesk::{Caller, ChatDesk, ChatMessage, ChatSessionEntity};
use chatdesk::{ChatTopicRouting, Durability, Error, RoutingMode};
use chatdesk::{SessionId, Timestamp, TopicId, UserId};
use chatdesk_benches::latency::{Percentiles, human};
use chatdesk_benches::{AGENT, open_sled, open_sqlite, seed, sqlite_file, temp_dir};
use chatdesk_benches::{queued_record, random_key};
use chatdesk_postgres::{PgOptions, PgStorage};
use postgres::{Client, NoTls};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FIRST_AGENT: i32 = 101;

fn options(schema: &str) -> PgOptions {
    PgOptions {
        schema: schema.to_owned(),
        pool_size: 2,
        durability: Durability::Durable,
        busy_timeout: Duration::from_secs(30),
        ..PgOptions::default()
    }
}

fn ticks() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            / 100,
    )
    .unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------- raw side

const RAW_SCHEMA_SQL: &str = "
CREATE TABLE raw_topic (id INTEGER PRIMARY KEY, last_accept BIGINT, seconds_pr_accept INTEGER NOT NULL DEFAULT 0);
CREATE TABLE raw_session (
    id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL, user_id INTEGER, active_user INTEGER,
    status INTEGER NOT NULL, rank INTEGER NOT NULL DEFAULT 0, queue_seq BIGINT,
    human_queue_seq BIGINT, customer_alias TEXT NOT NULL, key_hash BYTEA NOT NULL,
    when_requested BIGINT NOT NULL, when_started BIGINT, when_ended BIGINT,
    last_message BIGINT, initial_queue_pos INTEGER NOT NULL);
CREATE INDEX raw_session_queue ON raw_session (topic_id, human_queue_seq) WHERE human_queue_seq IS NOT NULL;
CREATE INDEX raw_session_active ON raw_session (active_user) WHERE active_user IS NOT NULL;
CREATE TABLE raw_message (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, kind INTEGER NOT NULL,
    author TEXT NOT NULL, body TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX raw_message_session ON raw_message (session_id, id);
CREATE SEQUENCE raw_session_id; CREATE SEQUENCE raw_message_id; CREATE SEQUENCE raw_queue_seq;
";

struct Raw {
    client: Client,
}

impl Raw {
    fn connect(url: &str, schema: &str) -> Raw {
        let mut client = Client::connect(url, NoTls).unwrap_or_else(|e| panic!("raw: {e}"));
        client
            .batch_execute(&format!(
                "SET search_path TO \"{schema}\"; SET synchronous_commit = on"
            ))
            .unwrap_or_else(|e| panic!("raw: {e}"));
        Raw { client }
    }

    fn setup(url: &str, schema: &str, topics: i32) {
        let mut c = Client::connect(url, NoTls).unwrap_or_else(|e| panic!("raw: {e}"));
        c.batch_execute(&format!(
            "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\"; {RAW_SCHEMA_SQL}"
        ))
        .unwrap_or_else(|e| panic!("raw setup: {e}"));
        for t in 1..=topics {
            c.execute("INSERT INTO raw_topic (id) VALUES ($1)", &[&t])
                .unwrap_or_else(|e| panic!("raw setup: {e}"));
        }
    }

    /// A session in the queue: its queue sequence and its position.
    fn create(&mut self, topic: i32) -> i32 {
        let key = [7u8; 32].to_vec();
        let mut tx = self.client.transaction().unwrap_or_else(|e| panic!("{e}"));
        let row = tx
            .query_one(
                "INSERT INTO raw_session (id, topic_id, status, queue_seq, human_queue_seq, \
                 customer_alias, key_hash, when_requested, initial_queue_pos) \
                 SELECT nextval('raw_session_id'), $1, 1, q, q, 'c', $2, $3, \
                 (SELECT count(*) + 1 FROM raw_session WHERE topic_id = $1 AND human_queue_seq IS NOT NULL) \
                 FROM nextval('raw_queue_seq') AS q RETURNING id",
                &[&topic, &key, &ticks()],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        tx.commit().unwrap_or_else(|e| panic!("{e}"));
        row.get(0)
    }

    /// Status UserLast, the agent's lowest free rank, the welcome message,
    /// the topic's last pick-up.
    fn pick_up(&mut self, session: i32, agent: i32) {
        let now = ticks();
        let mut tx = self.client.transaction().unwrap_or_else(|e| panic!("{e}"));
        let row = tx
            .query_one(
                "UPDATE raw_session SET status = 3, user_id = $2, active_user = $2, \
                 human_queue_seq = NULL, when_started = $3, last_message = $3, \
                 rank = (SELECT COALESCE(min(r), 1) FROM generate_series(1, \
                   (SELECT count(*)::int + 1 FROM raw_session WHERE active_user = $2)) AS r \
                   WHERE r NOT IN (SELECT rank FROM raw_session WHERE active_user = $2)) \
                 WHERE id = $1 AND human_queue_seq IS NOT NULL RETURNING topic_id",
                &[&session, &agent, &now],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let topic: i32 = row.get(0);
        tx.execute(
            "INSERT INTO raw_message (id, session_id, kind, author, body, at) \
             VALUES (nextval('raw_message_id'), $1, 2, 'agent', 'Hello, how can I help?', $2)",
            &[&session, &now],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        tx.execute(
            "UPDATE raw_topic SET last_accept = $2 WHERE id = $1",
            &[&topic, &now],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        tx.commit().unwrap_or_else(|e| panic!("{e}"));
    }

    fn add_message(&mut self, session: i32, text: &str) {
        let now = ticks();
        let mut tx = self.client.transaction().unwrap_or_else(|e| panic!("{e}"));
        tx.execute(
            "INSERT INTO raw_message (id, session_id, kind, author, body, at) \
             VALUES (nextval('raw_message_id'), $1, 2, 'agent', $2, $3)",
            &[&session, &text, &now],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        tx.execute(
            "UPDATE raw_session SET last_message = $2, status = 3 WHERE id = $1",
            &[&session, &now],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        tx.commit().unwrap_or_else(|e| panic!("{e}"));
    }

    fn close(&mut self, session: i32) {
        let now = ticks();
        let mut tx = self.client.transaction().unwrap_or_else(|e| panic!("{e}"));
        tx.execute(
            "UPDATE raw_session SET status = 5, active_user = NULL, when_ended = $2 WHERE id = $1",
            &[&session, &now],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        tx.execute(
            "INSERT INTO raw_message (id, session_id, kind, author, body, at) \
             VALUES (nextval('raw_message_id'), $1, 5, 'agent', 'closed', $2)",
            &[&session, &now],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        tx.commit().unwrap_or_else(|e| panic!("{e}"));
    }
}

// ----------------------------------------------------------- chatdesk side

fn chatdesk_setup(url: &str, schema: &str, topics: i32) -> ChatDesk<PgStorage> {
    let store = PgStorage::open(url, options(schema)).unwrap_or_else(|e| panic!("{e}"));
    let desk = ChatDesk::new(store);
    let sys = Caller::system();
    for k in 0..topics {
        let mut t = desk.create_default_chat_topic_entity(&sys);
        t.name = format!("t{k}");
        let topic = desk
            .save_chat_topic_entity(&sys, &t)
            .unwrap_or_else(|e| panic!("{e}"))
            .chat_topic_id;
        staff(&desk, topic, FIRST_AGENT + k);
    }
    desk
}

/// Starts `procs` children (this binary with `--child <part>`), each
/// with its index, on `schema` for `secs` seconds; their stdout is piped.
fn spawn_children(
    part: &str,
    url: &str,
    schema: &str,
    procs: i32,
    secs: f64,
) -> Vec<std::process::Child> {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    (0..procs)
        .map(|k| {
            Command::new(&exe)
                .args([
                    "--child",
                    part,
                    url,
                    schema,
                    &k.to_string(),
                    &secs.to_string(),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// Makes `agent` a present member of `topic` with CanRespond.
fn staff(desk: &ChatDesk<PgStorage>, topic: i32, agent: i32) {
    chatdesk_postgres::testing::staff(desk, TopicId(topic), agent)
        .unwrap_or_else(|e| panic!("{e}"));
}

fn retry<T>(mut f: impl FnMut() -> chatdesk::Result<T>) -> T {
    for _ in 0..100_000 {
        match f() {
            Ok(v) => return v,
            Err(Error::Conflict { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("too many conflicts")
}

fn cd_create(desk: &ChatDesk<PgStorage>, topic: i32) -> SessionId {
    let input = ChatSessionEntity {
        customer_alias: "c".into(),
        ..ChatSessionEntity::default()
    };
    SessionId(
        retry(|| desk.create_chat_session_for_topic(&Caller::anonymous(), TopicId(topic), &input))
            .chat_session_id,
    )
}

fn cd_message(text: &str) -> ChatMessage {
    ChatMessage {
        message: text.into(),
        ..ChatMessage::default()
    }
}

// --------------------------------------------------------------- part 1

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn operations(url: &str, n: usize) {
    let schema = chatdesk_postgres::testing::fresh_schema();
    let raw_schema = format!("{schema}_raw");
    let desk = chatdesk_setup(url, &schema, 1);
    Raw::setup(url, &raw_schema, 1);
    let mut raw = Raw::connect(url, &raw_schema);
    let agent = Caller::agent(UserId(FIRST_AGENT));
    let msg = cd_message("hello");
    let mut cd = [Vec::new(), Vec::new(), Vec::new()];
    let mut rw = [Vec::new(), Vec::new(), Vec::new()];
    let chunk = 20;
    let mut done = 0;
    while done < n {
        for _ in 0..chunk {
            let t = Instant::now();
            let s = cd_create(&desk, 1);
            let t1 = Instant::now();
            retry(|| desk.pick_up_chat_session(&agent, s));
            let t2 = Instant::now();
            retry(|| desk.add_chat_message(&agent, s, &msg));
            let t3 = Instant::now();
            retry(|| desk.close_chat_session(&agent, s));
            cd[0].push(t1 - t);
            cd[1].push(t2 - t1);
            cd[2].push(t3 - t2);
        }
        for _ in 0..chunk {
            let t = Instant::now();
            let s = raw.create(1);
            let t1 = Instant::now();
            raw.pick_up(s, FIRST_AGENT);
            let t2 = Instant::now();
            raw.add_message(s, "hello");
            let t3 = Instant::now();
            raw.close(s);
            rw[0].push(t1 - t);
            rw[1].push(t2 - t1);
            rw[2].push(t3 - t2);
        }
        done += chunk;
    }
    println!("operation        chatdesk     raw          ratio (target ≤ 1.5)");
    for (i, name) in ["create", "pick_up", "add_message"].iter().enumerate() {
        let a = median(&mut cd[i]);
        let b = median(&mut rw[i]);
        let ratio = a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        println!("pg op {name} {} {} {ratio:.2}", a.as_nanos(), b.as_nanos());
        println!("{name:<16} {:<12} {:<12} {ratio:.2}", human(a), human(b));
    }
}

// --------------------------------------------------------------- part 2

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Chatdesk,
    Raw,
}

/// One child: cycles (create, pick up, add message, close) on its topic for
/// `secs`; prints `cycles N`.
fn child(kind: &str, url: &str, schema: &str, k: i32, secs: f64) {
    let topic = k + 1;
    let agent = FIRST_AGENT + k;
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut cycles = 0u64;
    if kind == "one_topic" {
        return one_topic_child(url, schema, agent, until);
    }
    if kind == "raw" {
        let mut raw = Raw::connect(url, schema);
        while Instant::now() < until {
            let s = raw.create(topic);
            raw.pick_up(s, agent);
            raw.add_message(s, "hello");
            raw.close(s);
            cycles += 1;
        }
    } else {
        let store = PgStorage::open(url, options(schema)).unwrap_or_else(|e| panic!("{e}"));
        let desk = ChatDesk::new(store);
        let me = Caller::agent(UserId(agent));
        let msg = cd_message("hello");
        while Instant::now() < until {
            let s = cd_create(&desk, topic);
            // On an Auto topic the create may already have assigned it.
            retry(|| desk.pick_up_chat_session(&me, s));
            retry(|| desk.add_chat_message(&me, s, &msg));
            retry(|| desk.close_chat_session(&me, s));
            cycles += 1;
        }
    }
    println!("cycles {cycles}");
}

/// Runs `procs` children of `kind` at once on fresh stores; cycles per
/// second over all of them.
fn scaling_run(url: &str, kind: Kind, procs: i32, secs: f64, feed: bool, auto: bool) -> f64 {
    let schema = chatdesk_postgres::testing::fresh_schema();
    match kind {
        Kind::Raw => Raw::setup(url, &schema, procs),
        Kind::Chatdesk => {
            let desk = chatdesk_setup(url, &schema, procs);
            let sys = Caller::system();
            desk.set_change_feed(&sys, feed)
                .unwrap_or_else(|e| panic!("{e}"));
            if auto {
                for t in 1..=procs {
                    let mut r = ChatTopicRouting::defaults_for(TopicId(t));
                    r.mode = RoutingMode::Auto;
                    desk.save_chat_topic_routing(&sys, &r)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
    }
    let kind_arg = if kind == Kind::Raw { "raw" } else { "chatdesk" };
    let children = spawn_children(kind_arg, url, &schema, procs, secs);
    let mut total = 0u64;
    for c in children {
        let out = c.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "a child failed");
        let text = String::from_utf8_lossy(&out.stdout);
        total += text
            .lines()
            .find_map(|l| l.strip_prefix("cycles "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("child said {text:?}"));
    }
    total as f64 / secs
}

fn scaling(url: &str, secs: f64) {
    let cd1 = scaling_run(url, Kind::Chatdesk, 1, secs, false, false);
    let cd4 = scaling_run(url, Kind::Chatdesk, 4, secs, false, false);
    let raw1 = scaling_run(url, Kind::Raw, 1, secs, false, false);
    let raw4 = scaling_run(url, Kind::Raw, 4, secs, false, false);
    let feed1 = scaling_run(url, Kind::Chatdesk, 1, secs, true, false);
    let feed4 = scaling_run(url, Kind::Chatdesk, 4, secs, true, false);
    let auto1 = scaling_run(url, Kind::Chatdesk, 1, secs, false, true);
    let auto4 = scaling_run(url, Kind::Chatdesk, 4, secs, false, true);
    let rel = (cd4 / cd1) / (raw4 / raw1);
    println!();
    println!("cycles/s (create, pick up, add message, close), disjoint topics and agents");
    println!("setup                 1 proc    4 procs   4/1");
    for (name, one, four) in [
        ("chatdesk Manual", cd1, cd4),
        ("raw", raw1, raw4),
        ("chatdesk feed on", feed1, feed4),
        ("chatdesk Auto", auto1, auto4),
    ] {
        println!(
            "pg scale {} {one:.1} {four:.1} {:.2}",
            name.replace(' ', "_"),
            four / one
        );
        println!("{name:<20} {one:>8.1} {four:>9.1}   {:.2}", four / one);
    }
    println!("pg scale_relative {rel:.2}");
    println!("chatdesk 4/1 ÷ raw 4/1 = {rel:.2} (target ≥ 0.8)");
}

// --------------------------------------------------------------- part 3

/// One process of the one-topic run: agent `agent` of topic 1, which in a
/// loop creates a session there (as a customer), picks up the first waiting
/// session of the topic (whoever created it), adds a message to it and
/// closes it. Prints `cycles N`, `picked N` and `lat` with every write's
/// latency in nanoseconds (create, pick up, add message, close; a conflict's
/// retries count in the one write).
fn one_topic_child(url: &str, schema: &str, agent: i32, until: Instant) {
    let store = PgStorage::open(url, options(schema)).unwrap_or_else(|e| panic!("{e}"));
    let desk = ChatDesk::new(store);
    let me = Caller::agent(UserId(agent));
    let msg = cd_message("hello");
    let (mut cycles, mut picked) = (0u64, 0u64);
    let mut lat: Vec<u128> = Vec::new();
    let mut timed = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        lat.push(t.elapsed().as_nanos());
    };
    while Instant::now() < until {
        timed(&mut || {
            cd_create(&desk, 1);
        });
        let mut got = None;
        timed(&mut || got = retry(|| desk.pick_up_first_chat_session(&me)));
        if let Some(chat) = got {
            let s = chat.id();
            picked += 1;
            timed(&mut || {
                retry(|| desk.add_chat_message(&me, s, &msg));
            });
            timed(&mut || {
                retry(|| desk.close_chat_session(&me, s));
            });
        }
        cycles += 1;
    }
    println!("cycles {cycles}");
    println!("picked {picked}");
    let lat: Vec<String> = lat.iter().map(u128::to_string).collect();
    println!("lat {}", lat.join(" "));
}

/// What one process of a one-topic run reported.
struct OneTopic {
    picked: u64,
    lat: Vec<Duration>,
}

/// Runs `procs` one-topic children at once on a fresh store with one
/// Manual topic and `procs` present agents.
fn one_topic_run(url: &str, procs: i32, secs: f64) -> Vec<OneTopic> {
    let schema = chatdesk_postgres::testing::fresh_schema();
    let desk = chatdesk_setup(url, &schema, 1);
    for k in 1..procs {
        staff(&desk, 1, FIRST_AGENT + k);
    }
    drop(desk);
    let children = spawn_children("one_topic", url, &schema, procs, secs);
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
            assert!(out.status.success(), "a child failed");
            let text = String::from_utf8_lossy(&out.stdout);
            let line = |key: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .unwrap_or_else(|| panic!("child said {text:?}"))
                    .to_owned()
            };
            OneTopic {
                picked: line("picked ").trim().parse().unwrap_or(0),
                lat: line("lat ")
                    .split_whitespace()
                    .filter_map(|n| n.parse::<u64>().ok())
                    .map(Duration::from_nanos)
                    .collect(),
            }
        })
        .collect()
}

fn one_topic(url: &str, secs: f64) {
    let mut single: Vec<Duration> = one_topic_run(url, 1, secs)
        .into_iter()
        .flat_map(|r| r.lat)
        .collect();
    let base = Percentiles::of(&mut single);
    let four = one_topic_run(url, 4, secs);
    let total: u64 = four.iter().map(|r| r.picked).sum();
    let fair = total as f64 / four.len() as f64;
    println!();
    println!(
        "4 processes, each an agent of one Manual topic (creating, picking up the first, messaging, closing)"
    );
    let mut least = f64::INFINITY;
    for (k, r) in four.iter().enumerate() {
        let share = r.picked as f64 / fair.max(1.0);
        least = least.min(share);
        println!("pg one_topic_share {k} {} {share:.2}", r.picked);
        println!(
            "process {k}: {} pick-ups, {share:.2} × its fair share (target ≥ 0.5)",
            r.picked
        );
    }
    let mut all: Vec<Duration> = four.into_iter().flat_map(|r| r.lat).collect();
    let p = Percentiles::of(&mut all);
    let ratio = p.p99.as_secs_f64() / base.p50.as_secs_f64().max(1e-9);
    println!(
        "pg one_topic_wait {} {} {} {} {ratio:.2} {least:.2}",
        base.p50.as_nanos(),
        p.p50.as_nanos(),
        p.p99.as_nanos(),
        p.max.as_nanos()
    );
    println!(
        "write wait, 1 process: p50 {}; 4 processes: p50 {} p99 {} max {} ({} writes)",
        human(base.p50),
        human(p.p50),
        human(p.p99),
        human(p.max),
        p.count
    );
    println!(
        "4-process p99 ÷ 1-process median = {ratio:.2} (target ≤ 10); least share {least:.2} (target ≥ 0.5)"
    );
}

// --------------------------------------------------------------- part 4

/// Puts `n` sessions into `topic`'s human queue behind those there, as the
/// service's create would leave them (a queue sequence, the counted queue
/// index, the initial position), through the storage seam in batches of
/// 50 per transaction (each updates the index's top nodes, and PostgreSQL
/// walks a row's versions written in one transaction: larger batches are
/// slower); the store is meant to be Relaxed.
fn fill_queue(store: &PgStorage, topic: TopicId, n: usize, already: usize) {
    const BATCH: usize = 50;
    let now = Timestamp(ticks());
    let mut done = 0;
    while done < n {
        let batch = BATCH.min(n - done);
        store
            .write(|tx: &mut dyn WriteTx| {
                for i in 0..batch {
                    let id = i32::try_from(tx.next_id(IdKind::Session)?)
                        .unwrap_or_else(|e| panic!("{e}"));
                    let seq = u64::try_from(tx.next_id(IdKind::QueueSeq)?)
                        .unwrap_or_else(|e| panic!("{e}"));
                    let pos = i32::try_from(already + done + i + 1).unwrap_or(i32::MAX);
                    let r = queued_record(SessionId(id), topic, random_key(), now, seq, pos);
                    tx.put_session(&r)?;
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("filling the queue: {e}"));
        done += batch;
    }
}

/// `get_queue_position` of the last of `long` (100 000) queued sessions
/// against the last of 100 (another topic of the same store), each asked by its
/// customer, alternating in chunks of 20; medians and their ratio.
fn queue_position(url: &str, n: usize, long: usize) {
    const SHORT: usize = 100;
    let schema = chatdesk_postgres::testing::fresh_schema();
    let desk = chatdesk_setup(url, &schema, 2);
    let relaxed = PgStorage::open(
        url,
        PgOptions {
            durability: Durability::Relaxed,
            ..options(&schema)
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    fill_queue(&relaxed, TopicId(1), SHORT - 1, 0);
    fill_queue(&relaxed, TopicId(2), long - 1, 0);
    drop(relaxed);
    let filled = started.elapsed();
    // The last of each queue is created by the service, as a customer would.
    let input = ChatSessionEntity {
        customer_alias: "c".into(),
        ..ChatSessionEntity::default()
    };
    let last = |topic: i32| {
        let e = retry(|| {
            desk.create_chat_session_for_topic(&Caller::anonymous(), TopicId(topic), &input)
        });
        (e.id(), Caller::customer(e.session_key.clone()))
    };
    let (short_id, short_who) = last(1);
    let (long_id, long_who) = last(2);
    let ask = |id: SessionId, who: &Caller| {
        let t = Instant::now();
        let p = retry(|| desk.get_queue_position(who, id));
        (t.elapsed(), p)
    };
    // Both answers are checked: the index built by the fill must count.
    let (_, p) = ask(short_id, &short_who);
    assert_eq!(p, Some(SHORT as u32), "position at {SHORT}");
    let (_, p) = ask(long_id, &long_who);
    assert_eq!(p, Some(long as u32), "position at {long}");
    let (mut at_short, mut at_long) = (Vec::new(), Vec::new());
    let chunk = 20;
    let mut done = 0;
    while done < n {
        for _ in 0..chunk {
            at_short.push(ask(short_id, &short_who).0);
        }
        for _ in 0..chunk {
            at_long.push(ask(long_id, &long_who).0);
        }
        done += chunk;
    }
    let (a, b) = (median(&mut at_long), median(&mut at_short));
    let ratio = a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!();
    println!(
        "queue position (filled {long} + {SHORT} queued in {:.1} s, relaxed, in batches)",
        filled.as_secs_f64()
    );
    println!(
        "pg queue_position {} {} {ratio:.2}",
        a.as_nanos(),
        b.as_nanos()
    );
    println!(
        "at {long}: {}; at {SHORT}: {}; ratio {ratio:.2} (target ≤ 2)",
        human(a),
        human(b)
    );
}

// --------------------------------------------------------------- part 5

/// The cycle (create, pick up, add message, close) in one process for
/// `secs` on `desk`'s fixture topic: cycles per second and the p50 / p99
/// of create, pick up and add message.
fn cycles_on<S: Storage>(desk: &ChatDesk<S>, secs: f64) -> (f64, [Percentiles; 3]) {
    let topic = seed(desk);
    let me = Caller::agent(AGENT);
    let msg = cd_message("hello");
    let input = ChatSessionEntity {
        customer_alias: "c".into(),
        ..ChatSessionEntity::default()
    };
    let mut lat = [Vec::new(), Vec::new(), Vec::new()];
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(secs);
    let mut cycles = 0u64;
    while Instant::now() < until {
        let t = Instant::now();
        let s =
            retry(|| desk.create_chat_session_for_topic(&Caller::anonymous(), topic, &input)).id();
        let t1 = Instant::now();
        retry(|| desk.pick_up_chat_session(&me, s));
        let t2 = Instant::now();
        retry(|| desk.add_chat_message(&me, s, &msg));
        let t3 = Instant::now();
        retry(|| desk.close_chat_session(&me, s));
        lat[0].push(t1 - t);
        lat[1].push(t2 - t1);
        lat[2].push(t3 - t2);
        cycles += 1;
    }
    let rate = cycles as f64 / started.elapsed().as_secs_f64();
    let [a, b, c] = &mut lat;
    (
        rate,
        [Percentiles::of(a), Percentiles::of(b), Percentiles::of(c)],
    )
}

/// The same cycle, one process, on PostgreSQL, SQLite and sled (durable, and
/// the embedded ones also relaxed), one after the other in this run.
fn beside(url: &str, secs: f64) {
    let mut rows = Vec::new();
    let pg = PgStorage::open(url, options(&chatdesk_postgres::testing::fresh_schema()))
        .unwrap_or_else(|e| panic!("{e}"));
    rows.push(("PostgreSQL durable", cycles_on(&ChatDesk::new(pg), secs)));
    for (name, durability) in [
        ("SQLite durable", Durability::Durable),
        ("SQLite relaxed", Durability::Relaxed),
    ] {
        let dir = temp_dir();
        let store = open_sqlite(&sqlite_file(dir.path()), durability);
        rows.push((name, cycles_on(&ChatDesk::new(store), secs)));
    }
    for (name, durability) in [
        ("sled durable", Durability::Durable),
        ("sled relaxed", Durability::Relaxed),
    ] {
        let dir = temp_dir();
        let store = open_sled(dir.path(), durability);
        rows.push((name, cycles_on(&ChatDesk::new(store), secs)));
    }
    println!();
    println!("one process, cycles/s (create, pick up, add message, close) and p50 / p99");
    println!(
        "backend              cycles/s  create p50/p99        pick up p50/p99       add message p50/p99"
    );
    for (name, (rate, p)) in rows {
        println!(
            "pg beside {} {rate:.1} {}",
            name.replace(' ', "_"),
            p.iter()
                .map(|p| format!("{} {}", p.p50.as_nanos(), p.p99.as_nanos()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let cell = |p: &Percentiles| format!("{} / {}", human(p.p50), human(p.p99));
        println!(
            "{name:<20} {rate:>8.1}  {:<21} {:<21} {}",
            cell(&p[0]),
            cell(&p[1]),
            cell(&p[2])
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let [_, kind, url, schema, k, secs] = args.as_slice() else {
            panic!("--child kind url schema k secs");
        };
        child(
            kind,
            url,
            schema,
            k.parse().unwrap_or_else(|e| panic!("{e}")),
            secs.parse().unwrap_or_else(|e| panic!("{e}")),
        );
        return;
    }
    let mut ops = 300;
    let mut secs = 5.0;
    let mut queued = 100_000;
    let mut parts: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--ops" => ops = it.next().and_then(|v| v.parse().ok()).unwrap_or(ops),
            "--secs" => secs = it.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            "--part" => parts.extend(it.next().cloned()),
            "--queued" => queued = it.next().and_then(|v| v.parse().ok()).unwrap_or(queued),
            other => panic!(
                "unknown argument {other:?}; usage: pg [--ops N] [--secs S] \
                 [--part ops|scaling|one_topic|queue|beside]..."
            ),
        }
    }
    let run = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    let url = chatdesk_postgres::testing::server_url()
        .unwrap_or_else(|| panic!("no PostgreSQL server (CHATDESK_PG_SKIP is set)"));
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if run("ops") {
        operations(&url, ops);
    }
    if run("scaling") {
        scaling(&url, secs);
    }
    if run("one_topic") {
        one_topic(&url, secs);
    }
    if run("queue") {
        queue_position(&url, ops, queued);
    }
    if run("beside") {
        beside(&url, secs);
    }
}
