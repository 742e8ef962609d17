//! Several processes on one SQLite file (isolation across processes sharing
//! one file): agents in separate processes pick up from
//! one queue while the parent keeps adding to it; every session is picked up
//! exactly once, each agent's ranks are 1..k, and a `Conflict` (the busy
//! timeout, kept short here so that it happens) is retried and counted.
//!
//! The children are this test binary re-executed with env vars.

use chatdesk::backend::StorageExt;
use chatdesk::{Associate, Caller, ChatDesk, Error, SessionId, Storage, TopicId, UserId};
use chatdesk::{ChatPresence, ChatSessionEntity, ChatSessionStatus, ChatTopicAgent};
use chatdesk_sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStorage};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PATH_VAR: &str = "CHATDESK_MP_PATH";
const USER_VAR: &str = "CHATDESK_MP_USER";
const GO_VAR: &str = "CHATDESK_MP_GO";
const DONE_VAR: &str = "CHATDESK_MP_DONE";

/// Short, so that processes do run into it (a commit is an fsync).
const BUSY: Duration = Duration::from_millis(20);

const AGENTS: [i32; 3] = [31, 32, 33];

fn long() -> bool {
    std::env::var("CHATDESK_LONG").is_ok_and(|v| v == "1")
}

fn options() -> SqliteOptions {
    SqliteOptions {
        busy_timeout: BUSY,
        ..SqliteOptions::default()
    }
}

fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
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
        assert!(start.elapsed() < Duration::from_secs(30), "no go signal");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The child: an agent picking up the first waiting session until the parent
/// has said it is done adding and the queue is empty. Prints
/// `picked <session> <user> <rank>`, `retry` per Conflict, then `done`.
#[test]
fn pick_up_child() {
    let (Ok(path), Ok(user), Ok(go), Ok(done)) = (
        std::env::var(PATH_VAR),
        std::env::var(USER_VAR),
        std::env::var(GO_VAR),
        std::env::var(DONE_VAR),
    ) else {
        return;
    };
    // The leading newline ends the harness's "test … " line.
    say(format_args!("\nstarted"));
    let user: i32 = user.parse().unwrap();
    let (done, go) = (PathBuf::from(done), PathBuf::from(go));
    let (store, retries) = retrying(|| SqliteStorage::open(&path, options()));
    for _ in 0..retries {
        say(format_args!("retry"));
    }
    let desk = ChatDesk::new(store.unwrap());
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
                // Seen before a last try: the parent adds nothing after it.
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
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// What a child printed, and how it ended.
struct ChildOutput {
    lines: Vec<String>,
    stderr: String,
    status: std::process::ExitStatus,
}

fn collect(mut child: Child) -> std::thread::JoinHandle<ChildOutput> {
    std::thread::spawn(move || {
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut s);
            s
        });
        let lines = BufReader::new(out).lines().map_while(Result::ok).collect();
        let status = child.wait().unwrap();
        ChildOutput {
            lines,
            stderr: err.join().unwrap(),
            status,
        }
    })
}

fn new_session(desk: &ChatDesk<SqliteStorage>, topic: TopicId, n: usize) -> (i32, usize) {
    let input = ChatSessionEntity {
        customer_alias: format!("customer {n}"),
        ..ChatSessionEntity::default()
    };
    let (r, retries) =
        retrying(|| desk.create_chat_session_for_topic(&Caller::anonymous(), topic, &input));
    let e = r.unwrap();
    assert_eq!(e.status, ChatSessionStatus::InQueue);
    (e.chat_session_id, retries)
}

#[test]
fn agents_in_three_processes_pick_up_each_session_once() {
    let (before, during) = if long() { (300, 200) } else { (60, 40) };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite3");
    let (go, done) = (dir.path().join("go"), dir.path().join("done"));
    let desk = ChatDesk::new(SqliteStorage::open(&path, options()).unwrap());
    let sys = Caller::system();
    let mut t = desk.create_default_chat_topic_entity(&sys);
    t.name = "shared".into();
    let topic = TopicId(desk.save_chat_topic_entity(&sys, &t).unwrap().chat_topic_id);
    for u in AGENTS {
        let a = ChatTopicAgent {
            topic_id: topic.0,
            user: Some(Associate::with_id(u)),
            can_respond: true,
            ..ChatTopicAgent::default()
        };
        desk.add_chat_topic_user_agent(&sys, &a).unwrap();
        let p = ChatPresence {
            user_id: u,
            present: true,
            ..ChatPresence::default()
        };
        desk.save_chat_presence(&sys, &p).unwrap();
    }
    let mut created = BTreeSet::new();
    for n in 0..before {
        created.insert(new_session(&desk, topic, n).0);
    }
    let start = Instant::now();
    let children: Vec<_> = AGENTS
        .iter()
        .map(|u| {
            collect(spawn(
                "pick_up_child",
                &[
                    (PATH_VAR, path.display().to_string()),
                    (USER_VAR, u.to_string()),
                    (GO_VAR, go.display().to_string()),
                    (DONE_VAR, done.display().to_string()),
                ],
            ))
        })
        .collect();
    std::fs::write(&go, "").unwrap();
    // More customers arrive while the agents work.
    let mut parent_retries = 0;
    for n in before..before + during {
        let (id, r) = new_session(&desk, topic, n);
        created.insert(id);
        parent_retries += r;
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::write(&done, "").unwrap();

    let mut picked: BTreeMap<i32, (i32, i32)> = BTreeMap::new();
    let mut ranks: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    let mut child_retries = BTreeMap::new();
    for (u, c) in AGENTS.iter().zip(children) {
        let out = c.join().unwrap();
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
        let mut retries = 0;
        for l in &out.lines {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                ["picked", s, user, rank] => {
                    let (s, user, rank) = (
                        s.parse::<i32>().unwrap(),
                        user.parse::<i32>().unwrap(),
                        rank.parse::<i32>().unwrap(),
                    );
                    assert_eq!(user, *u);
                    let before = picked.insert(s, (user, rank));
                    assert!(
                        before.is_none(),
                        "session {s} picked twice: {before:?} and agent {u}"
                    );
                    ranks.entry(user).or_default().push(rank);
                }
                ["retry"] => retries += 1,
                _ => {}
            }
        }
        child_retries.insert(*u, retries);
    }
    let elapsed = start.elapsed();

    // Every session picked exactly once, and by one process only.
    assert_eq!(
        picked.keys().copied().collect::<BTreeSet<_>>(),
        created,
        "every session picked up"
    );
    let want: BTreeSet<i32> = (1..=i32::try_from(before + during).unwrap()).collect();
    assert_eq!(
        created, want,
        "session ids 1..n: a retried create used no id"
    );
    // Each agent got ranks 1, 2, 3, … in the order it picked (nobody closes).
    for (u, r) in &ranks {
        let want: Vec<i32> = (1..=i32::try_from(r.len()).unwrap()).collect();
        assert_eq!(r, &want, "agent {u}: ranks");
    }
    // The store agrees.
    desk.storage()
        .read(|tx| {
            assert_eq!(tx.queue_len(topic)?, 0);
            for (&s, &(user, rank)) in &picked {
                let rec = tx.session(SessionId(s))?.unwrap();
                assert_eq!(rec.status, ChatSessionStatus::UserLast, "{rec:?}");
                assert_eq!((rec.user, rec.rank), (Some(UserId(user)), rank), "{rec:?}");
            }
            for u in AGENTS {
                let mut r: Vec<i32> = tx
                    .active_sessions(UserId(u))?
                    .iter()
                    .map(|s| s.rank)
                    .collect();
                r.sort_unstable();
                assert_eq!(r, ranks.get(&u).cloned().unwrap_or_default(), "agent {u}");
            }
            Ok(())
        })
        .unwrap();
    let per_agent: Vec<usize> = AGENTS
        .iter()
        .map(|u| ranks.get(u).map_or(0, Vec::len))
        .collect();
    eprintln!(
        "{} sessions picked by 3 processes in {elapsed:.1?}: per agent {per_agent:?}, Conflict retries per agent {child_retries:?}, in the parent {parent_retries}",
        picked.len()
    );
    desk.storage().flush().unwrap();
}

/// The child of the first-open race: opens a path that may not exist yet and
/// saves its own presence. Prints `opened <retries>`, or `OPEN-ERROR <error>`.
#[test]
fn first_open_child() {
    let (Ok(path), Ok(user), Ok(go)) = (
        std::env::var(PATH_VAR),
        std::env::var(USER_VAR),
        std::env::var(GO_VAR),
    ) else {
        return;
    };
    say(format_args!("\nstarted"));
    wait_for(Path::new(&go));
    let (store, retries) = retrying(|| SqliteStorage::open(&path, options()));
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            say(format_args!("OPEN-ERROR {e:?}"));
            return;
        }
    };
    let desk = ChatDesk::new(store);
    let p = ChatPresence {
        user_id: user.parse().unwrap(),
        present: true,
        ..ChatPresence::default()
    };
    let (r, more) = retrying(|| desk.save_chat_presence(&Caller::system(), &p));
    r.unwrap();
    say(format_args!("opened {}", retries + more));
}

/// Three processes open the same brand-new file at once, 30 times over: it is
/// initialised once and every process gets a working store.
///
/// Ignored: it fails now and then because `SqliteStorage::open` reads the
/// header (`application_id`, `user_version`, the number of schema objects) in
/// three separate autocommit statements, outside any transaction. A process
/// that reads the first before another process commits the initialisation
/// and the rest after it sees e.g. "application_id 0, user_version 2, 14
/// schema objects" and refuses the file as another application's
/// (IncompatibleStore). Seen here in 2 of 30 rounds on a loaded machine, 2 of
/// 120 with four copies of this test at once, 0 of 180 on a quiet one. A
/// library bug, reported; run with `--ignored` to reproduce.
#[test]
fn three_processes_initialise_a_new_file_together() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let mut failures = Vec::new();
    let rounds = 30;
    for round in 0..rounds {
        let path = dir.path().join(format!("new-{round}.sqlite3"));
        let _ = std::fs::remove_file(&go);
        let children: Vec<_> = AGENTS
            .iter()
            .map(|u| {
                collect(spawn(
                    "first_open_child",
                    &[
                        (PATH_VAR, path.display().to_string()),
                        (USER_VAR, u.to_string()),
                        (GO_VAR, go.display().to_string()),
                    ],
                ))
            })
            .collect();
        std::fs::write(&go, "").unwrap();
        let mut opened = Vec::new();
        for (u, c) in AGENTS.iter().zip(children) {
            let out = c.join().unwrap();
            assert!(
                out.status.success(),
                "process {u}: {}\n{}",
                out.status,
                out.stderr
            );
            if let Some(e) = out.lines.iter().find(|l| l.starts_with("OPEN-ERROR")) {
                failures.push(format!("round {round}, process {u}: {e}"));
            } else {
                assert!(
                    out.lines.iter().any(|l| l.starts_with("opened")),
                    "process {u}: {:?}",
                    out.lines
                );
                opened.push(*u);
            }
        }
        let store = SqliteStorage::open(&path, SqliteOptions::default()).unwrap();
        let users: Vec<i32> = store
            .read(|tx| tx.presences())
            .unwrap()
            .iter()
            .map(|p| p.user.0)
            .collect();
        assert_eq!(users, opened, "round {round}");
        store.close().unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let v: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }
    assert!(
        failures.is_empty(),
        "{} of {rounds} rounds had a process refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
