//! A stream of real service operations for the kill tests (durability):
//! a child process runs it until it is killed and prints one line per
//! ACKNOWLEDGED operation; the parent reopens the store and checks that every
//! acknowledged operation is there and that the invariants hold.
//!
//! Shared by the disk backends' kill tests (`storage-*/tests/service_crash.rs`).
#![allow(dead_code, unreachable_pub, missing_docs)]

use crate::backend::{ReadTx, StorageExt};
use crate::model::SessionRecord;
use crate::wire::{
    ChatMessage, ChatMessageSpecialType, ChatSessionEntity, ChatSessionStatus, ChatTopicAgent,
};
use crate::{Associate, Caller, ChatDesk, Error, MessageId, SessionId, Storage, TopicId, UserId};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The agents of the workload: members of both topics with CanRespond, present.
pub const AGENTS: [i32; 3] = [21, 22, 23];

/// Whether the long run (`CHATDESK_LONG=1`) was asked for.
pub fn long() -> bool {
    std::env::var("CHATDESK_LONG").is_ok_and(|v| v == "1")
}

pub use super::rng::Rng;

/// Two topics, the first with a welcome message (so that a pick-up writes a
/// message too, which the checks use to see a pick-up whole or not at all);
/// every agent a responding member of both, and present.
pub fn setup<S: Storage>(desk: &ChatDesk<S>) -> Vec<TopicId> {
    let sys = Caller::system();
    let mut topics = Vec::new();
    for (name, welcome) in [("crash a", "Hi!"), ("crash b", "")] {
        let mut t = desk.create_default_chat_topic_entity(&sys);
        t.name = name.into();
        t.welcome_message = welcome.into();
        let t = desk.save_chat_topic_entity(&sys, &t).unwrap();
        topics.push(TopicId(t.chat_topic_id));
    }
    for t in &topics {
        for u in AGENTS {
            let a = ChatTopicAgent {
                topic_id: t.0,
                user: Some(Associate::with_id(u)),
                can_listen: true,
                can_respond: true,
                can_manage: false,
                can_notify: false,
            };
            desk.add_chat_topic_user_agent(&sys, &a).unwrap();
        }
    }
    for u in AGENTS {
        let p = crate::wire::ChatPresence {
            user_id: u,
            present: true,
            display_name: format!("Agent {u}"),
            ..Default::default()
        };
        desk.save_chat_presence(&sys, &p).unwrap();
    }
    topics
}

fn text(t: &str) -> ChatMessage {
    ChatMessage {
        message: t.to_string(),
        ..ChatMessage::default()
    }
}

/// One line to stdout, flushed (written in one `write`, so a kill never cuts
/// it in the middle); the child stops when the parent is gone.
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// An operation failed in a way the workload does not allow: say so and stop
/// (the parent sees the line and the early exit and fails the test).
fn fail(op: &str, e: &Error) -> ! {
    say(format_args!("FAILED {op}: {e:?}"));
    std::process::exit(3);
}

/// The child: runs service operations until it is killed, printing one line per
/// acknowledged operation:
/// `created <session> <topic>`, `message <session> <message>`,
/// `picked <session> <user> <rank>`, `closed <session>`.
pub fn run_child<S: Storage>(desk: &ChatDesk<S>, topics: &[TopicId], rng: &mut Rng) -> ! {
    let sys = Caller::system();
    // Sessions created by this run whose customer may still write (their key
    // is known only to this process).
    let mut customers: Vec<(SessionId, String)> = Vec::new();
    // The leading newline ends the harness's "test … " line.
    say(format_args!("\nstarted"));
    loop {
        match rng.below(10) {
            0 | 1 => {
                let t = topics[rng.below(topics.len())];
                let input = ChatSessionEntity {
                    customer_alias: format!("c{}", rng.below(1000)),
                    ..ChatSessionEntity::default()
                };
                match desk.create_chat_session_for_topic(&Caller::anonymous(), t, &input) {
                    Ok(e) => {
                        say(format_args!("created {} {}", e.chat_session_id, t.0));
                        customers.push((SessionId(e.chat_session_id), e.session_key));
                    }
                    Err(e) => fail("create", &e),
                }
            }
            3 | 4 if !customers.is_empty() => {
                let (id, key) = customers[rng.below(customers.len())].clone();
                match desk.add_chat_message(&Caller::customer(key), id, &text("customer")) {
                    Ok(m) => say(format_args!("message {} {}", id.0, m.chat_message_id)),
                    Err(e) => fail("customer message", &e),
                }
            }
            2 | 5 => {
                let u = AGENTS[rng.below(AGENTS.len())];
                match desk.pick_up_first_chat_session(&Caller::agent(UserId(u))) {
                    Ok(Some(e)) => {
                        say(format_args!("picked {} {u} {}", e.chat_session_id, e.rank));
                    }
                    Ok(None) => {}
                    Err(e) => fail("pick up first", &e),
                }
            }
            6..=8 => {
                let u = AGENTS[rng.below(AGENTS.len())];
                let active = desk
                    .storage()
                    .read(|tx| tx.active_sessions(UserId(u)))
                    .unwrap_or_else(|e| fail("active sessions", &e));
                if active.is_empty() {
                    continue;
                }
                let id = active[rng.below(active.len())].id;
                let me = Caller::agent(UserId(u));
                // Close about as often as sessions are picked up, so that
                // ranks are freed and reused and the active set stays small.
                if rng.below(3) != 0 {
                    match desk.close_chat_session(&me, id) {
                        Ok(_) => {
                            say(format_args!("closed {}", id.0));
                            customers.retain(|(s, _)| *s != id);
                        }
                        Err(e) => fail("agent close", &e),
                    }
                } else {
                    match desk.add_chat_message(&me, id, &text("agent")) {
                        Ok(m) => say(format_args!("message {} {}", id.0, m.chat_message_id)),
                        Err(e) => fail("agent message", &e),
                    }
                }
            }
            9 if !customers.is_empty() && rng.below(3) == 0 => {
                // The customer leaves (from the queue or from a chat).
                let i = rng.below(customers.len());
                let (id, key) = customers.swap_remove(i);
                match desk.close_chat_session(&Caller::customer(key), id) {
                    Ok(_) => say(format_args!("closed {}", id.0)),
                    Err(e) => fail("customer close", &e),
                }
            }
            _ => {
                // A read, as a client polling would.
                if let Some((id, key)) = customers.last()
                    && let Err(e) =
                        desk.get_chat_messages(&Caller::customer(key.clone()), *id, None, 500)
                {
                    fail("fetch", &e);
                }
                if let Err(e) = desk.chat_sessions_for_user(&sys) {
                    fail("sessions for system", &e);
                }
            }
        }
    }
}

/// One acknowledged operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Created { session: i32, topic: i32 },
    Message { session: i32, message: i32 },
    Picked { session: i32, user: i32, rank: i32 },
    Closed { session: i32 },
}

impl Op {
    pub fn parse(line: &str) -> Option<Op> {
        let mut w = line.split_whitespace();
        let what = w.next()?;
        let mut n = || w.next().and_then(|x| x.parse::<i32>().ok());
        Some(match what {
            "created" => Op::Created {
                session: n()?,
                topic: n()?,
            },
            "message" => Op::Message {
                session: n()?,
                message: n()?,
            },
            "picked" => Op::Picked {
                session: n()?,
                user: n()?,
                rank: n()?,
            },
            "closed" => Op::Closed { session: n()? },
            _ => return None,
        })
    }

    /// Whether the store shows this operation (right after the kill, before
    /// anything else ran).
    pub fn present(&self, tx: &dyn ReadTx) -> crate::Result<bool> {
        Ok(match *self {
            Op::Created { session, topic } => tx
                .session(SessionId(session))?
                .is_some_and(|s| s.topic == TopicId(topic)),
            Op::Message { session, message } => tx
                .messages(SessionId(session), MessageId(message - 1), 1)?
                .first()
                .is_some_and(|m| m.id == MessageId(message)),
            Op::Picked { session, user, .. } => tx
                .session(SessionId(session))?
                .is_some_and(|s| s.user == Some(UserId(user))),
            Op::Closed { session } => tx
                .session(SessionId(session))?
                .is_some_and(|s| is_closed(s.status)),
        })
    }
}

pub fn is_closed(s: ChatSessionStatus) -> bool {
    matches!(
        s,
        ChatSessionStatus::Closed | ChatSessionStatus::ClosedFromQueue
    )
}

/// Everything acknowledged so far, over all runs.
#[derive(Debug, Default, Clone)]
pub struct Acked {
    pub created: BTreeMap<i32, i32>,
    pub messages: BTreeMap<i32, i32>,
    pub picked: BTreeMap<i32, (i32, i32)>,
    pub closed: BTreeSet<i32>,
    pub ops: usize,
}

impl Acked {
    pub fn add(&mut self, op: Op) {
        self.ops += 1;
        match op {
            Op::Created { session, topic } => {
                let before = self.created.insert(session, topic);
                assert!(before.is_none(), "session id {session} acknowledged twice");
            }
            Op::Message { session, message } => {
                let before = self.messages.insert(message, session);
                assert!(before.is_none(), "message id {message} acknowledged twice");
            }
            Op::Picked {
                session,
                user,
                rank,
            } => {
                let before = self.picked.insert(session, (user, rank));
                assert!(before.is_none(), "session {session} picked up twice");
            }
            Op::Closed { session } => {
                self.closed.insert(session);
            }
        }
    }
}

/// What one child run said.
#[derive(Debug, Default)]
pub struct RunOutput {
    pub ops: Vec<Op>,
    /// Lines that are neither ops nor the harness's own chatter.
    pub failures: Vec<String>,
    pub started: bool,
}

/// Reads the child's stdout until EOF; only complete lines count.
pub fn read_output(out: impl Read) -> RunOutput {
    let mut r = BufReader::new(out);
    let mut got = RunOutput::default();
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if !line.ends_with('\n') => break,
            Ok(_) => {}
        }
        let l = line.trim_end();
        if l == "started" {
            got.started = true;
        } else if let Some(op) = Op::parse(l) {
            got.ops.push(op);
        } else if l.starts_with("FAILED") {
            got.failures.push(l.to_string());
        }
    }
    got
}

/// Spawns this test binary again, running only the test `child_test` with
/// `envs`; stdout piped, stderr into `stderr_file`.
pub fn spawn_child(
    child_test: &str,
    envs: &[(&str, String)],
    stderr_file: &std::path::Path,
) -> Child {
    let err = std::fs::File::create(stderr_file).unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", child_test, "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Lets the child run for `delay`, then SIGKILLs it; returns what it printed.
/// Panics when the child ended by itself (it runs until killed) or reported a
/// failed operation.
pub fn run_and_kill(mut child: Child, delay: Duration, stderr_file: &std::path::Path) -> RunOutput {
    use std::os::unix::process::ExitStatusExt;
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || read_output(out));
    std::thread::sleep(delay);
    // `Child::kill` sends SIGKILL on Unix (an error only if it already ended).
    let _ = child.kill();
    let status = child.wait().unwrap();
    let got = reader.join().unwrap();
    assert!(
        status.signal() == Some(9) && got.failures.is_empty(),
        "the child ended by itself ({status}) or failed: {:?}; stderr:\n{}",
        got.failures,
        std::fs::read_to_string(stderr_file).unwrap_or_default()
    );
    got
}

/// Per-check statistics, for the report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    pub sessions: usize,
    pub messages: usize,
    pub queued: usize,
    pub active: usize,
}

/// The full check of a reopened store against everything acknowledged:
/// every acknowledged operation is there and the invariants hold. Typed
/// storage errors are returned (the caller counts them); a broken invariant
/// panics.
pub fn check<S: Storage>(
    desk: &ChatDesk<S>,
    topics: &[TopicId],
    acked: &Acked,
) -> crate::Result<Seen> {
    let mut seen = Seen::default();
    let sessions: Vec<SessionRecord> = desk.storage().read(|tx| {
        let sessions = tx.sessions(SessionId(0), usize::MAX)?;
        // Ids unique and, where the backend promises it, without a hole: a
        // failed (or killed) create uses none. Elsewhere unique and positive.
        let gap_free = desk.storage().capabilities().gap_free_ids;
        let ids: Vec<i32> = sessions.iter().map(|s| s.id.0).collect();
        let want: Vec<i32> = (1..=i32::try_from(ids.len()).unwrap()).collect();
        if gap_free {
            assert_eq!(ids, want, "session ids are 1..=n");
        } else {
            assert!(
                ids.first().is_none_or(|f| *f >= 1) && ids.windows(2).all(|w| w[0] < w[1]),
                "session ids are unique and positive: {ids:?}"
            );
        }
        seen.sessions = sessions.len();
        let by_id: BTreeMap<i32, &SessionRecord> = sessions.iter().map(|s| (s.id.0, s)).collect();

        // Every acknowledged create, in its topic.
        for (&id, &topic) in &acked.created {
            let s = by_id.get(&id).unwrap_or_else(|| {
                panic!(
                    "acknowledged session {id} is missing ({} stored)",
                    ids.len()
                )
            });
            assert_eq!(s.topic, TopicId(topic), "session {id}");
        }

        // Messages: ids unique over the store, 1..=m, each under its session;
        // one welcome per pick-up of the welcoming topic, one close message per
        // close (never half an operation).
        let mut all_msgs: BTreeMap<i32, i32> = BTreeMap::new();
        for s in &sessions {
            let msgs = tx.messages(s.id, MessageId(0), usize::MAX)?;
            let mut welcomes = 0;
            let mut closes = 0;
            for m in &msgs {
                assert_eq!(m.session, s.id, "{m:?}");
                let before = all_msgs.insert(m.id.0, s.id.0);
                assert!(before.is_none(), "message id {} twice", m.id.0);
                match m.special {
                    ChatMessageSpecialType::Welcome => welcomes += 1,
                    ChatMessageSpecialType::ClosedByUser
                    | ChatMessageSpecialType::ClosedByCustomer => closes += 1,
                    _ => {}
                }
            }
            let welcoming = s.topic == topics[0];
            let picked = s.user.is_some();
            assert_eq!(
                welcomes,
                usize::from(welcoming && picked),
                "session {}: {} welcome messages ({s:?})",
                s.id,
                welcomes
            );
            assert_eq!(
                closes,
                usize::from(is_closed(s.status)),
                "session {}: {closes} close messages ({s:?})",
                s.id
            );
            if picked {
                assert!(s.when_started.is_some(), "{s:?}");
            }
        }
        // Unique by construction (the map refused a repeat above).
        let mids: Vec<i32> = all_msgs.keys().copied().collect();
        let want: Vec<i32> = (1..=i32::try_from(mids.len()).unwrap()).collect();
        if gap_free {
            assert_eq!(mids, want, "message ids are 1..=m");
        } else {
            assert!(
                mids.first().is_none_or(|f| *f >= 1),
                "message ids: {mids:?}"
            );
        }
        seen.messages = mids.len();
        let mut per_session: BTreeMap<i32, usize> = BTreeMap::new();
        for (&mid, &sid) in &acked.messages {
            assert_eq!(
                all_msgs.get(&mid),
                Some(&sid),
                "acknowledged message {mid} of session {sid}"
            );
            *per_session.entry(sid).or_default() += 1;
        }
        let mut stored_per_session: BTreeMap<i32, usize> = BTreeMap::new();
        for sid in all_msgs.values() {
            *stored_per_session.entry(*sid).or_default() += 1;
        }
        for (sid, n) in per_session {
            let stored = stored_per_session.get(&sid).copied().unwrap_or(0);
            assert!(
                stored >= n,
                "session {sid}: {stored} messages, {n} acknowledged"
            );
        }

        // Acknowledged pick-ups and closes.
        for (&id, &(user, rank)) in &acked.picked {
            let s = by_id
                .get(&id)
                .unwrap_or_else(|| panic!("picked session {id} is missing"));
            assert_eq!(s.user, Some(UserId(user)), "picked session {id}: {s:?}");
            assert_ne!(s.status, ChatSessionStatus::InQueue, "{s:?}");
            if s.is_active() {
                assert_eq!(s.rank, rank, "picked session {id}: {s:?}");
            }
        }
        for id in &acked.closed {
            let s = by_id
                .get(id)
                .unwrap_or_else(|| panic!("closed session {id} is missing"));
            assert!(is_closed(s.status), "closed session {id}: {s:?}");
        }

        // Ranks: each user's active sessions have distinct ranks ≥ 1, and the
        // index agrees with the rows.
        for u in AGENTS {
            let active = tx.active_sessions(UserId(u))?;
            let from_rows: Vec<i32> = sessions
                .iter()
                .filter(|s| s.active_user() == Some(UserId(u)))
                .map(|s| s.id.0)
                .collect();
            let mut from_index: Vec<i32> = active.iter().map(|s| s.id.0).collect();
            from_index.sort_unstable();
            assert_eq!(from_index, from_rows, "user {u}: the active index");
            let ranks: Vec<i32> = active.iter().map(|s| s.rank).collect();
            let distinct: BTreeSet<i32> = ranks.iter().copied().collect();
            assert_eq!(distinct.len(), ranks.len(), "user {u}: ranks {ranks:?}");
            assert!(ranks.iter().all(|r| *r >= 1), "user {u}: ranks {ranks:?}");
            seen.active += ranks.len();
        }
        for s in &sessions {
            if !s.is_active() {
                assert_eq!(s.rank, 0, "{s:?}");
            }
        }

        // Queues: the index holds exactly the sessions in the human queue, in
        // sequence order, and positions are 1..n.
        for t in topics {
            let queue = tx.queue(*t, 0, usize::MAX)?;
            let mut from_rows: Vec<(u64, SessionId)> = sessions
                .iter()
                .filter(|s| s.topic == *t)
                .filter_map(|s| s.human_queue_seq().map(|q| (q, s.id)))
                .collect();
            from_rows.sort_unstable();
            assert_eq!(queue, from_rows, "topic {t}: the queue index");
            for (i, (seq, id)) in queue.iter().enumerate() {
                assert_eq!(tx.queue_count_before(*t, *seq)? as usize, i, "{id}");
                let s = by_id[&id.0];
                assert_eq!(s.status, ChatSessionStatus::InQueue, "{s:?}");
                assert!(s.user.is_none() && s.rank == 0, "{s:?}");
            }
            assert_eq!(tx.queue_len(*t)? as usize, queue.len());
            seen.queued += queue.len();
        }
        Ok(sessions)
    })?;

    // Through the service as well: queue positions 1..n per topic, and the
    // queued, active and newest sessions readable as carriers (not all of
    // them: the store grows with every kill).
    let sys = Caller::system();
    let mut positions: BTreeMap<TopicId, Vec<u32>> = BTreeMap::new();
    let newest = sessions.len().saturating_sub(300);
    for (i, s) in sessions.iter().enumerate() {
        if i >= newest || s.in_human_queue() || s.is_active() {
            let e = desk.get_chat_session_entity(&sys, s.id)?;
            assert_eq!((e.chat_session_id, e.status), (s.id.0, s.status));
        }
        if s.in_human_queue() {
            let p = desk
                .get_queue_position(&sys, s.id)?
                .unwrap_or_else(|| panic!("{} is queued but has no position", s.id));
            positions.entry(s.topic).or_default().push(p);
        }
    }
    for (t, mut p) in positions {
        p.sort_unstable();
        let want: Vec<u32> = (1..=u32::try_from(p.len()).unwrap()).collect();
        assert_eq!(p, want, "topic {t}: queue positions");
    }
    Ok(seen)
}

/// What a kill loop saw, for the report.
#[derive(Debug, Default)]
pub struct Report {
    pub kills: usize,
    /// Kills after which the store failed to open or to read (typed errors).
    pub errors: Vec<String>,
    pub acked_ops: usize,
    pub last: Seen,
    /// Relaxed mode: runs where some but not all acknowledged operations
    /// survived, and runs where none did.
    pub partial_runs: usize,
    pub lost_runs: usize,
    pub lost_ops: usize,
    /// Runs killed before the child had opened the store.
    pub unstarted_runs: usize,
}

/// How the kill loop reaches a backend.
pub trait Backend {
    type Store: Storage;
    /// Opens the store (after a kill: recovery happens here).
    fn open(&self) -> crate::Result<Self::Store>;
    /// Closes it before the next child opens it.
    fn close(&self, store: Self::Store) -> crate::Result<()>;
    /// Starts a child running [`run_child`] with `seed` (stderr to the file).
    fn spawn(&self, seed: u64, stderr_file: &std::path::Path) -> Child;
    /// A backend's own check of the closed store (e.g. SQLite's
    /// `PRAGMA integrity_check`); `Err` describes the damage.
    fn check_files(&self) -> Result<(), String> {
        Ok(())
    }
    /// Waits until what the killed child sent has finished everywhere: a
    /// database server may still be running the child's last message (a
    /// commit among it) after the child died, and the check must not read
    /// before that lands.
    fn settle(&self) {}
}

/// Sets the store up, then `kills` times: a child runs the workload on the
/// same store and is SIGKILLed after a random delay in `delay_ms`; the store
/// is reopened and checked against everything acknowledged so far (damage
/// accumulates). With `prefix_only` (relaxed sled), a run may lose a suffix of
/// what it acknowledged, never a hole: the lost operations are dropped from
/// the expectations. Stops at the first typed error (reported, not panicked).
pub fn kill_loop<B: Backend>(
    backend: &B,
    kills: usize,
    delay_ms: (u64, u64),
    prefix_only: bool,
    stderr_file: &std::path::Path,
) -> Report {
    let mut rng = Rng::from_env_or_time();
    eprintln!("kill loop seed {} (CHATDESK_SEED to repeat)", rng.0);
    let topics = {
        let store = std::sync::Arc::new(backend.open().unwrap());
        let desk = ChatDesk::new(std::sync::Arc::clone(&store));
        let topics = setup(&desk);
        drop(desk);
        let store = std::sync::Arc::into_inner(store).unwrap();
        backend.close(store).unwrap();
        topics
    };
    let mut acked = Acked::default();
    let mut report = Report::default();
    for round in 0..kills {
        let delay = Duration::from_millis(rng.range(delay_ms.0, delay_ms.1));
        let child = backend.spawn(rng.next_u64(), stderr_file);
        let out = run_and_kill(child, delay, stderr_file);
        backend.settle();
        report.kills += 1;
        let store = match backend.open() {
            Ok(s) => std::sync::Arc::new(s),
            Err(e) => {
                report
                    .errors
                    .push(format!("kill {round}: reopening failed: {e:?}"));
                break;
            }
        };
        let desk = ChatDesk::new(std::sync::Arc::clone(&store));
        let kept = if prefix_only {
            // The surviving operations of this run must be a prefix of what it
            // acknowledged.
            let present = desk.storage().read(|tx| {
                out.ops
                    .iter()
                    .map(|op| op.present(tx))
                    .collect::<crate::Result<Vec<bool>>>()
            });
            match present {
                Ok(present) => {
                    let k = present.iter().take_while(|p| **p).count();
                    assert!(
                        present[k..].iter().all(|p| !*p),
                        "kill {round}: a hole: {:?}",
                        out.ops
                            .iter()
                            .zip(&present)
                            .map(|(o, p)| format!("{o:?}={p}"))
                            .collect::<Vec<_>>()
                    );
                    if k == 0 && !out.ops.is_empty() {
                        report.lost_runs += 1;
                    } else if k < out.ops.len() {
                        report.partial_runs += 1;
                    }
                    report.lost_ops += out.ops.len() - k;
                    k
                }
                Err(e) => {
                    report
                        .errors
                        .push(format!("kill {round}: reading failed: {e:?}"));
                    break;
                }
            }
        } else {
            out.ops.len()
        };
        for op in &out.ops[..kept] {
            acked.add(*op);
        }
        match check(&desk, &topics, &acked) {
            Ok(seen) => report.last = seen,
            Err(e) => {
                report
                    .errors
                    .push(format!("kill {round}: checking failed: {e:?}"));
                break;
            }
        }
        drop(desk);
        let store = std::sync::Arc::into_inner(store).unwrap();
        if let Err(e) = backend.close(store) {
            report
                .errors
                .push(format!("kill {round}: closing failed: {e:?}"));
            break;
        }
        if let Err(e) = backend.check_files() {
            report.errors.push(format!("kill {round}: {e}"));
            break;
        }
        if !out.started {
            report.unstarted_runs += 1;
        }
    }
    report.acked_ops = acked.ops;
    report
}
