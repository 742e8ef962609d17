//! The reference backend (memory) and sled run the same random transactions;
//! every read inside and after them must agree.

mod common;

use chatdesk::ChatSessionStatus;
use chatdesk::backend::{AgentRecord, TopicRouting};
use chatdesk::backend::{IdKind, ReadTx, StorageExt, WriteTx};
use chatdesk::testkit::rng::Rng;
use chatdesk::{Error, MemoryStorage, MessageId, Storage, Timestamp, TopicId, UserId};
use chatdesk::{Result, SessionId};
use chatdesk::{RoutingMode, RoutingStrategy};
use chatdesk_sled::testing::temp_store;
use common::*;
use std::fmt::Write as _;

#[derive(Debug, Clone)]
enum Op {
    Id(IdKind),
    PutTopic(Box<chatdesk::backend::TopicRecord>),
    DeleteTopic(i32),
    PutMember(i32, i32),
    DeleteMember(i32, i32),
    PutPresence(i32),
    PutAgent(AgentRecord),
    PutSession(Box<chatdesk::backend::SessionRecord>),
    DeleteSession(i32),
    PutMessage(i32, i32),
    Probe(u64),
}

fn random_op(r: &mut Rng) -> Op {
    match r.int(20) {
        0 => Op::Id(IdKind::ALL[usize::try_from(r.int(4)).unwrap_or(0)]),
        1 => {
            let mut t = topic(r.int(4));
            if r.chance(50) {
                t.routing = TopicRouting {
                    mode: RoutingMode::Auto,
                    strategy: RoutingStrategy::LongestIdle,
                    default_capacity: 1 + r.int(1000),
                    answer_timeout_secs: r.int(100),
                    transfer_timeout_secs: r.int(100),
                };
            }
            Op::PutTopic(Box::new(t))
        }
        2 => Op::DeleteTopic(r.int(4)),
        3 => Op::PutMember(r.int(4), r.int(4)),
        4 => Op::DeleteMember(r.int(4), r.int(4)),
        5 if r.chance(50) => Op::PutPresence(r.int(4)),
        5 => Op::PutAgent(AgentRecord {
            user: UserId(r.int(4)),
            max_chats: r.chance(50).then(|| 1 + r.int(9)),
            last_assigned: r.chance(50).then(|| Timestamp(i64::from(r.int(50)))),
        }),
        6 | 7 => Op::DeleteSession(r.int(12)),
        8..=10 => Op::PutMessage(r.int(12), r.int(6)),
        11..=13 => Op::Probe(r.next_u64()),
        _ => {
            let mut s = session(r.int(12), r.int(3));
            s.status = ChatSessionStatus::from_code(r.int(12)).unwrap_or_default();
            s.user = r.chance(70).then(|| UserId(r.int(3)));
            s.chatbot_is_active = r.chance(20);
            s.queue_seq = r.chance(80).then(|| u64::try_from(r.int(10)).unwrap_or(0));
            s.key_hash = key_hash(r.int(14));
            s.rank = r.int(5);
            s.transfer_to = r.chance(50).then(|| UserId(r.int(3)));
            // Few distinct times: many sessions share one.
            s.when_requested = Timestamp(i64::from(r.int(5)) - 2);
            s.routing.routed_at = r.chance(50).then(|| Timestamp(i64::from(r.int(9))));
            s.routing.answered = r.chance(50);
            s.routing.excluded = (0..r.int(3)).map(|_| UserId(r.int(5))).collect();
            s.routing.transfer_requested_at = r.chance(50).then_some(Timestamp(-1));
            s.stats.max_alert_level = r.int(4);
            s.stats.answer_timeouts = r.int(3);
            s.stats.first_answer_at = r.chance(50).then_some(Timestamp(3));
            Op::PutSession(Box::new(s))
        }
    }
}

/// Everything a reader can ask, with arguments drawn from `seed`.
fn probe(tx: &dyn ReadTx, seed: u64) -> Result<String> {
    let mut r = Rng(seed | 1);
    let mut out = String::new();
    let w = &mut out;
    let lim = |r: &mut Rng| usize::try_from(r.int(5)).unwrap_or(0);
    let _ = writeln!(w, "topics {:?}", tx.topics()?);
    let _ = writeln!(w, "members {:?}", tx.all_members()?);
    let _ = writeln!(w, "presences {:?}", tx.presences()?);
    let _ = writeln!(w, "sessions {:?}", tx.sessions(SessionId(-1), usize::MAX)?);
    for i in 0..4 {
        let _ = writeln!(w, "topic {i} {:?}", tx.topic(TopicId(i))?);
        let _ = writeln!(w, "tm {i} {:?}", tx.topic_members(TopicId(i))?);
        let _ = writeln!(w, "um {i} {:?}", tx.user_memberships(UserId(i))?);
        let _ = writeln!(w, "m {i} {:?}", tx.member(TopicId(i), UserId(r.int(4)))?);
        let _ = writeln!(w, "p {i} {:?}", tx.presence(UserId(i))?);
        let _ = writeln!(w, "active {i} {:?}", tx.active_sessions(UserId(i))?);
        let _ = writeln!(w, "transfers {i} {:?}", tx.transfers_to(UserId(i))?);
        let _ = writeln!(w, "agent {i} {:?}", tx.agent(UserId(i))?);
        let t = TopicId(i);
        let _ = writeln!(w, "qlen {i} {:?}", tx.queue_len(t)?);
        let seq = u64::try_from(r.int(11)).unwrap_or(0);
        let _ = writeln!(w, "qcb {i} {seq} {:?}", tx.queue_count_before(t, seq)?);
        let (after, l) = (u64::try_from(r.int(10)).unwrap_or(0), lim(&mut r));
        let _ = writeln!(w, "q {i} {:?}", tx.queue(t, after, l)?);
        let (after, l) = (SessionId(r.int(12) - 1), lim(&mut r));
        let _ = writeln!(w, "ts {i} {:?}", tx.topic_sessions(t, after, l)?);
    }
    for code in 0..12 {
        let status = ChatSessionStatus::from_code(code).unwrap_or_default();
        let (after, l) = (SessionId(r.int(12) - 1), lim(&mut r));
        let _ = writeln!(
            w,
            "bs {code} {:?}",
            tx.sessions_by_status(status, after, l)?
        );
    }
    for id in 0..12 {
        let _ = writeln!(w, "s {id} {:?}", tx.session(SessionId(id))?);
        let (after, l) = (MessageId(r.int(6) - 1), lim(&mut r));
        let _ = writeln!(w, "msgs {id} {:?}", tx.messages(SessionId(id), after, l)?);
    }
    let low = (Timestamp(i64::MIN), SessionId(i32::MIN));
    let _ = writeln!(
        w,
        "requested {:?}",
        tx.sessions_requested(low, Timestamp(i64::MAX), usize::MAX)?
    );
    for _ in 0..3 {
        let after = (Timestamp(i64::from(r.int(6)) - 3), SessionId(r.int(13) - 1));
        let (before, l) = (Timestamp(i64::from(r.int(6)) - 2), lim(&mut r));
        let _ = writeln!(
            w,
            "requested {after:?} {before:?} {:?}",
            tx.sessions_requested(after, before, l)?
        );
    }
    for k in 0..14 {
        let _ = writeln!(w, "key {k} {:?}", tx.session_by_key(&key_hash(k))?);
    }
    Ok(out)
}

fn apply(tx: &mut dyn WriteTx, op: &Op, log: &mut Vec<String>) -> Result<()> {
    match op {
        Op::Id(kind) => log.push(format!("{:?}", tx.next_id(*kind)?)),
        Op::PutTopic(t) => tx.put_topic(t)?,
        Op::DeleteTopic(t) => tx.delete_topic(TopicId(*t))?,
        Op::PutMember(t, u) => tx.put_member(&member(*t, *u))?,
        Op::DeleteMember(t, u) => tx.delete_member(TopicId(*t), UserId(*u))?,
        Op::PutPresence(u) => tx.put_presence(&presence(*u))?,
        Op::PutAgent(a) => tx.put_agent(a)?,
        Op::PutSession(s) => tx.put_session(s)?,
        Op::DeleteSession(id) => tx.delete_session(SessionId(*id))?,
        Op::PutMessage(s, m) => tx.put_message(&message(*s, *m))?,
        Op::Probe(seed) => log.push(probe(&*tx, *seed)?),
    }
    Ok(())
}

fn run(store: &dyn Storage, ops: &[Op], fail: bool) -> (Vec<String>, Result<()>) {
    let mut log = Vec::new();
    let res = store.write(|tx| {
        for op in ops {
            apply(tx, op, &mut log)?;
        }
        if fail {
            return Err(Error::conflict("planned failure"));
        }
        Ok(())
    });
    (log, res)
}

#[test]
fn sled_agrees_with_the_memory_backend() {
    for seed in 1..=6u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let memory = MemoryStorage::new();
        let sled = temp_store();
        for step in 0..150 {
            let n = 1 + r.int(8);
            let ops: Vec<Op> = (0..n).map(|_| random_op(&mut r)).collect();
            let fail = r.chance(15);
            let (want_log, want) = run(&memory, &ops, fail);
            let (got_log, got) = run(&sled, &ops, fail);
            assert_eq!(
                format!("{want:?}"),
                format!("{got:?}"),
                "seed {seed} step {step}"
            );
            assert_eq!(want_log, got_log, "seed {seed} step {step}: {ops:?}");
            let seed2 = r.next_u64();
            let want = memory.read(|tx| probe(tx, seed2)).unwrap();
            let got = sled.read(|tx| probe(tx, seed2)).unwrap();
            assert_eq!(want, got, "seed {seed} step {step} after commit");
        }
    }
}
