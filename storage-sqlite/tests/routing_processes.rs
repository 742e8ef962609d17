//! Routing with several processes on one SQLite file: customer processes
//! arrive, write and leave while agent processes come and go, answer and
//! close, on two Auto topics (one per strategy). The parent reads snapshots
//! the whole time: in every one the routing invariant holds (no waiting
//! session of an Auto topic has an eligible agent, and the routing index is
//! exact), no agent holds more chats than their capacity, and no agent holds
//! a rank twice. Nobody picks up by hand, so every assignment is routing's.
//!
//! The children are this test binary re-executed with env vars.

use chatdesk::backend::StorageExt;
use chatdesk::testkit::rng::Rng;
use chatdesk::testkit::routing_live::RoutingSnapshot;
use chatdesk::{
    Caller, ChatAgentCapacity, ChatDesk, ChatMessage, ChatPresence, ChatSessionEntity,
    ChatTopicAgent, ChatTopicRouting, Error, RoutingMode, RoutingStrategy, SessionId, TopicId,
    UserId,
};
use chatdesk_sqlite::{SqliteOptions, SqliteStorage};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PATH_VAR: &str = "CHATDESK_RP_PATH";
const ROLE_VAR: &str = "CHATDESK_RP_ROLE";
const SEED_VAR: &str = "CHATDESK_RP_SEED";

/// Agents 1–6: 1–4 answer topic 1, 3–6 topic 2.
const AGENTS: i32 = 6;
const CAPACITY: i32 = 2;

fn ops() -> usize {
    if std::env::var("CHATDESK_LONG").is_ok_and(|v| v == "1") {
        600
    } else {
        120
    }
}

fn options() -> SqliteOptions {
    SqliteOptions {
        busy_timeout: Duration::from_secs(10),
        ..SqliteOptions::default()
    }
}

fn open(path: &str) -> ChatDesk<SqliteStorage> {
    let store = SqliteStorage::open(path, options()).unwrap_or_else(|e| panic!("open: {e}"));
    ChatDesk::new(store)
}

/// Retries `f` while it returns `Conflict` (a turn not had in time).
fn retrying<T>(mut f: impl FnMut() -> chatdesk::Result<T>) -> chatdesk::Result<T> {
    let mut tries = 0;
    loop {
        match f() {
            Err(Error::Conflict { .. }) if tries < 100 => tries += 1,
            other => return other,
        }
    }
}

fn present(desk: &ChatDesk<SqliteStorage>, u: i32, on: bool) {
    let p = ChatPresence::new(UserId(u), on, format!("Agent {u}"));
    retrying(|| desk.save_chat_presence(&Caller::agent(UserId(u)), &p))
        .unwrap_or_else(|e| panic!("presence of {u}: {e}"));
}

/// The child: a customer process (role `customer`) or an agent process
/// (role `agent`), doing [`ops`] random steps, then printing `done`.
#[test]
fn routing_child() {
    let (Ok(path), Ok(role), Ok(seed)) = (
        std::env::var(PATH_VAR),
        std::env::var(ROLE_VAR),
        std::env::var(SEED_VAR),
    ) else {
        return;
    };
    let desk = open(&path);
    let mut rng = Rng::seeded(seed.parse().unwrap());
    let topics = [TopicId(1), TopicId(2)];
    let mut mine: Vec<(SessionId, String)> = Vec::new();
    let hello = ChatMessage {
        message: "hello".into(),
        ..ChatMessage::default()
    };
    for _ in 0..ops() {
        if role == "customer" {
            let r = rng.below(10);
            if r < 5 || mine.is_empty() {
                let t = topics[rng.below(2)];
                let input = ChatSessionEntity {
                    customer_alias: "customer".into(),
                    ..ChatSessionEntity::default()
                };
                let s = retrying(|| {
                    desk.create_chat_session_for_topic(&Caller::anonymous(), t, &input)
                })
                .unwrap_or_else(|e| panic!("a create: {e}"));
                mine.push((s.id(), s.session_key.clone()));
            } else if r < 8 {
                let (id, key) = &mine[rng.below(mine.len())];
                let _ = desk.add_chat_message(&Caller::customer(key.clone()), *id, &hello);
            } else {
                let (id, key) = mine.swap_remove(rng.below(mine.len()));
                let _ = desk.close_chat_session(&Caller::customer(key), id);
            }
        } else {
            let u = 1 + rng.int(AGENTS);
            let me = Caller::agent(UserId(u));
            match rng.below(6) {
                0 => present(&desk, u, false),
                1 | 2 => present(&desk, u, true),
                3 | 4 => {
                    for s in retrying(|| desk.chat_sessions_for_user(&me)).unwrap_or_default() {
                        if s.user_id() == Some(UserId(u)) {
                            let _ = desk.add_chat_message(&me, s.id(), &hello);
                        }
                    }
                }
                _ => {
                    for s in retrying(|| desk.chat_sessions_for_user(&me)).unwrap_or_default() {
                        if s.user_id() == Some(UserId(u)) {
                            let _ = desk.close_chat_session(&me, s.id());
                            break;
                        }
                    }
                }
            }
        }
    }
    println!("\ndone");
}

fn spawn(path: &Path, role: &str, seed: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "routing_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PATH_VAR, path)
        .env(ROLE_VAR, role)
        .env(SEED_VAR, seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Builds the desk: two Auto topics, six agents with capacity 2, all present.
fn set_up(path: &Path) {
    let desk = open(path.to_str().unwrap());
    let sys = Caller::system();
    for i in 1..=2 {
        let mut t = desk.create_default_chat_topic_entity(&sys);
        t.name = format!("routed {i}");
        t.welcome_message = "Welcome!".into();
        let t = desk.save_chat_topic_entity(&sys, &t).unwrap().id();
        assert_eq!(t, TopicId(i));
        for u in 1..=AGENTS {
            let responds = if i == 1 { u <= 4 } else { u >= 3 };
            desk.add_chat_topic_user_agent(
                &sys,
                &ChatTopicAgent {
                    can_listen: true,
                    can_respond: responds,
                    ..ChatTopicAgent::new(t, UserId(u))
                },
            )
            .unwrap();
        }
        desk.save_chat_topic_routing(
            &sys,
            &ChatTopicRouting {
                mode: RoutingMode::Auto,
                strategy: if i == 1 {
                    RoutingStrategy::LeastBusy
                } else {
                    RoutingStrategy::LongestIdle
                },
                default_capacity: CAPACITY + 1,
                ..ChatTopicRouting::defaults_for(t)
            },
        )
        .unwrap();
    }
    for u in 1..=AGENTS {
        desk.save_chat_agent_capacity(
            &sys,
            &ChatAgentCapacity {
                user_id: u,
                max_chats: Some(CAPACITY),
            },
        )
        .unwrap();
        present(&desk, u, true);
    }
}

/// Every check one snapshot must pass.
fn check(snap: &RoutingSnapshot) {
    if let Err(e) = snap.check_invariant() {
        panic!("routing invariant broken in a snapshot: {e}");
    }
    let mut ranks: BTreeSet<(UserId, i32)> = BTreeSet::new();
    for u in 1..=AGENTS {
        let load = snap.load(UserId(u));
        assert!(
            load <= CAPACITY,
            "agent {u} holds {load} chats, capacity {CAPACITY}"
        );
    }
    for s in &snap.sessions {
        if let Some(u) = s.active_user() {
            assert!(ranks.insert((u, s.rank)), "rank {} of {u} twice", s.rank);
        }
    }
}

#[test]
fn customers_and_agents_in_four_processes_keep_the_routing_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.sqlite");
    set_up(&path);
    let children: Vec<Child> = [("customer", 1), ("customer", 2), ("agent", 3), ("agent", 4)]
        .into_iter()
        .map(|(role, seed)| spawn(&path, role, 0x0e0e_0000 + seed))
        .collect();
    // The parent reads snapshots while the children run.
    let reader = open(path.to_str().unwrap());
    let start = Instant::now();
    let mut checked = 0u32;
    let mut children = children;
    let mut outputs = Vec::new();
    while !children.is_empty() {
        let snap = retrying(|| reader.storage().read(RoutingSnapshot::read))
            .unwrap_or_else(|e| panic!("a snapshot: {e}"));
        check(&snap);
        checked += 1;
        let mut running = Vec::new();
        for mut c in children {
            if c.try_wait().unwrap().is_some() {
                outputs.push(c);
            } else {
                running.push(c);
            }
        }
        children = running;
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the children did not finish"
        );
    }
    for c in outputs {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.lines().any(|l| l == "done"),
            "a child failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let snap = reader.storage().read(RoutingSnapshot::read).unwrap();
    check(&snap);
    assert!(checked > 1, "only {checked} snapshots were read");
    // Routing did the serving: sessions got an agent with nobody picking up.
    let served = snap.sessions.iter().filter(|s| s.user.is_some()).count();
    assert!(served >= 20, "only {served} sessions were ever assigned");
}
