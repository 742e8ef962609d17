//! Several processes on one PostgreSQL store: agents in four separate
//! processes pick up from one queue while the parent keeps adding to it.
//! Every session is picked up exactly once, each agent's ranks are 1..k,
//! session ids are 1..n, and the change feed (switched on) is gap-free.
//! Then four processes open one brand-new schema at once: it is initialised
//! once and each of them works.
//!
//! The children are this test binary re-executed with env vars.

use chatdesk::backend::StorageExt;
use chatdesk::{Associate, Caller, ChatDesk, Error, SessionId, TopicId, UserId};
use chatdesk::{ChatPresence, ChatSessionEntity, ChatSessionStatus, ChatTopicAgent};
use chatdesk_postgres::testing;
use chatdesk_postgres::{PgOptions, PgStorage};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const URL_VAR: &str = "CHATDESK_MP_URL";
const SCHEMA_VAR: &str = "CHATDESK_MP_SCHEMA";
const USER_VAR: &str = "CHATDESK_MP_USER";
const GO_VAR: &str = "CHATDESK_MP_GO";
const DONE_VAR: &str = "CHATDESK_MP_DONE";

const AGENTS: [i32; 4] = [31, 32, 33, 34];

fn options(schema: &str) -> PgOptions {
    PgOptions {
        schema: schema.to_owned(),
        pool_size: 2,
        ..PgOptions::default()
    }
}

fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Retries `f` while it returns `Conflict`; returns its result and the retries.
fn retrying<T>(mut f: impl FnMut() -> chatdesk::Result<T>) -> (chatdesk::Result<T>, usize) {
    let mut retries = 0;
    loop {
        match f() {
            Err(Error::Conflict { .. }) if retries < 10_000 => retries += 1,
            other => return (other, retries),
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

fn child_env() -> Option<(String, String, i32, PathBuf)> {
    let (Ok(url), Ok(schema), Ok(user), Ok(go)) = (
        std::env::var(URL_VAR),
        std::env::var(SCHEMA_VAR),
        std::env::var(USER_VAR),
        std::env::var(GO_VAR),
    ) else {
        return None;
    };
    let user = user.parse().unwrap_or_else(|e| panic!("{e}"));
    Some((url, schema, user, PathBuf::from(go)))
}

/// The child: an agent picking up the first waiting session until the
/// parent has said it is done adding and the queue is empty. Prints
/// `picked <session> <user> <rank>`, `retry` per Conflict, then `done`.
#[test]
fn pick_up_child() {
    let Some((url, schema, user, go)) = child_env() else {
        return;
    };
    let Ok(done) = std::env::var(DONE_VAR) else {
        return;
    };
    say(format_args!("\nstarted"));
    let done = PathBuf::from(done);
    let store = PgStorage::open(&url, options(&schema)).unwrap_or_else(|e| panic!("{e}"));
    let desk = ChatDesk::new(store);
    let me = Caller::agent(UserId(user));
    wait_for(&go);
    let mut done_seen = false;
    loop {
        match desk.pick_up_first_chat_session(&me) {
            Ok(Some(e)) => say(format_args!(
                "picked {} {user} {}",
                e.chat_session_id, e.rank
            )),
            Ok(None) if done_seen => break,
            Ok(None) => {
                done_seen = done.exists();
                if !done_seen {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Err(Error::Conflict { .. }) => say(format_args!("retry")),
            Err(e) => {
                say(format_args!("FAILED {e:?}"));
                std::process::exit(3);
            }
        }
    }
    say(format_args!("done"));
}

fn spawn(test: &str, envs: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap_or_else(|e| panic!("{e}"))
}

struct ChildOutput {
    lines: Vec<String>,
    stderr: String,
    status: std::process::ExitStatus,
}

fn collect(mut child: Child) -> std::thread::JoinHandle<ChildOutput> {
    std::thread::spawn(move || {
        let out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut err = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut s);
            s
        });
        let lines = BufReader::new(out).lines().map_while(Result::ok).collect();
        let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
        ChildOutput {
            lines,
            stderr: err.join().unwrap_or_default(),
            status,
        }
    })
}

fn new_session(desk: &ChatDesk<PgStorage>, topic: TopicId, n: usize) -> i32 {
    let input = ChatSessionEntity {
        customer_alias: format!("customer {n}"),
        ..ChatSessionEntity::default()
    };
    let (r, _) =
        retrying(|| desk.create_chat_session_for_topic(&Caller::anonymous(), topic, &input));
    let e = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.status, ChatSessionStatus::InQueue);
    e.chat_session_id
}

#[test]
fn agents_in_four_processes_pick_up_each_session_once() {
    let Some(url) = testing::server_url() else {
        return;
    };
    let (before, during) = (40, 40);
    let schema = testing::fresh_schema();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (go, done) = (dir.path().join("go"), dir.path().join("done"));
    let store = PgStorage::open(&url, options(&schema)).unwrap_or_else(|e| panic!("{e}"));
    let desk = ChatDesk::new(store);
    let sys = Caller::system();
    desk.set_change_feed(&sys, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut t = desk.create_default_chat_topic_entity(&sys);
    t.name = "shared".into();
    let topic = TopicId(
        desk.save_chat_topic_entity(&sys, &t)
            .unwrap_or_else(|e| panic!("{e}"))
            .chat_topic_id,
    );
    for u in AGENTS {
        let a = ChatTopicAgent {
            topic_id: topic.0,
            user: Some(Associate::with_id(u)),
            can_respond: true,
            ..ChatTopicAgent::default()
        };
        desk.add_chat_topic_user_agent(&sys, &a)
            .unwrap_or_else(|e| panic!("{e}"));
        let p = ChatPresence {
            user_id: u,
            present: true,
            ..ChatPresence::default()
        };
        desk.save_chat_presence(&sys, &p)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut created = BTreeSet::new();
    for n in 0..before {
        created.insert(new_session(&desk, topic, n));
    }
    let start = Instant::now();
    let children: Vec<_> = AGENTS
        .iter()
        .map(|u| {
            collect(spawn(
                "pick_up_child",
                &[
                    (URL_VAR, url.clone()),
                    (SCHEMA_VAR, schema.clone()),
                    (USER_VAR, u.to_string()),
                    (GO_VAR, go.display().to_string()),
                    (DONE_VAR, done.display().to_string()),
                ],
            ))
        })
        .collect();
    std::fs::write(&go, "").unwrap_or_else(|e| panic!("{e}"));
    for n in before..before + during {
        created.insert(new_session(&desk, topic, n));
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::write(&done, "").unwrap_or_else(|e| panic!("{e}"));

    let mut picked: BTreeMap<i32, (i32, i32)> = BTreeMap::new();
    let mut ranks: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (u, c) in AGENTS.iter().zip(children) {
        let out = c.join().unwrap_or_else(|_| panic!("collector panicked"));
        assert!(
            out.status.success() && out.lines.iter().any(|l| l == "done"),
            "agent {u}: {} {:?}\n{}",
            out.status,
            out.lines
                .iter()
                .filter(|l| l.starts_with("FAILED"))
                .collect::<Vec<_>>(),
            out.stderr
        );
        for l in &out.lines {
            let w: Vec<&str> = l.split_whitespace().collect();
            if let ["picked", s, user, rank] = w.as_slice() {
                let parse = |x: &str| x.parse::<i32>().unwrap_or_else(|e| panic!("{e}"));
                let (s, user, rank) = (parse(s), parse(user), parse(rank));
                assert_eq!(user, *u);
                let before = picked.insert(s, (user, rank));
                assert!(before.is_none(), "session {s} picked twice");
                ranks.entry(user).or_default().push(rank);
            }
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(picked.keys().copied().collect::<BTreeSet<_>>(), created);
    let n = i32::try_from(before + during).unwrap_or(i32::MAX);
    assert_eq!(created, (1..=n).collect::<BTreeSet<_>>(), "ids 1..n");
    for (u, r) in &ranks {
        let want: Vec<i32> = (1..=i32::try_from(r.len()).unwrap_or(i32::MAX)).collect();
        assert_eq!(r, &want, "agent {u}: ranks");
    }
    desk.storage()
        .read(|tx| {
            assert_eq!(tx.queue_len(topic)?, 0);
            for (&s, &(user, rank)) in &picked {
                let rec = tx
                    .session(SessionId(s))?
                    .unwrap_or_else(|| panic!("session {s}"));
                assert_eq!((rec.user, rec.rank), (Some(UserId(user)), rank));
            }
            // The feed: gap-free from 1, one run for every process.
            let events = tx.events_after(0, 100_000)?;
            let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
            let want: Vec<i64> = (1..=i64::try_from(seqs.len()).unwrap_or(0)).collect();
            assert_eq!(seqs, want, "the feed has gaps");
            assert!(
                events.len() >= picked.len() * 2,
                "events of creates and pick-ups"
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let per_agent: Vec<usize> = AGENTS
        .iter()
        .map(|u| ranks.get(u).map_or(0, Vec::len))
        .collect();
    eprintln!(
        "{} sessions picked by 4 processes in {elapsed:.1?}: per agent {per_agent:?}",
        picked.len()
    );
}

/// The child of the first-open race: opens a schema that may not exist yet
/// and saves its own presence. Prints `opened`, or `OPEN-ERROR <error>`.
#[test]
fn first_open_child() {
    let Some((url, schema, user, go)) = child_env() else {
        return;
    };
    if std::env::var(DONE_VAR).is_ok() {
        return;
    }
    say(format_args!("\nstarted"));
    wait_for(&go);
    let (store, _) = retrying(|| PgStorage::open(&url, options(&schema)));
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            say(format_args!("OPEN-ERROR {e:?}"));
            return;
        }
    };
    let desk = ChatDesk::new(store);
    let p = ChatPresence {
        user_id: user,
        present: true,
        ..ChatPresence::default()
    };
    let (r, _) = retrying(|| desk.save_chat_presence(&Caller::system(), &p));
    r.unwrap_or_else(|e| panic!("{e}"));
    say(format_args!("opened"));
}

#[test]
fn four_processes_initialise_a_new_schema_together() {
    let Some(url) = testing::server_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for round in 0..3 {
        let schema = testing::fresh_schema();
        let go = dir.path().join(format!("go-{round}"));
        let children: Vec<_> = AGENTS
            .iter()
            .map(|u| {
                collect(spawn(
                    "first_open_child",
                    &[
                        (URL_VAR, url.clone()),
                        (SCHEMA_VAR, schema.clone()),
                        (USER_VAR, u.to_string()),
                        (GO_VAR, go.display().to_string()),
                    ],
                ))
            })
            .collect();
        std::fs::write(&go, "").unwrap_or_else(|e| panic!("{e}"));
        for (u, c) in AGENTS.iter().zip(children) {
            let out = c.join().unwrap_or_else(|_| panic!("collector panicked"));
            assert!(
                out.status.success() && out.lines.iter().any(|l| l == "opened"),
                "round {round}, process {u}: {} {:?}\n{}",
                out.status,
                out.lines,
                out.stderr
            );
        }
        let store = PgStorage::open(&url, options(&schema)).unwrap_or_else(|e| panic!("{e}"));
        let users: Vec<i32> = store
            .read(|tx| tx.presences())
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|p| p.user.0)
            .collect();
        assert_eq!(users, AGENTS.to_vec(), "round {round}");
    }
}
