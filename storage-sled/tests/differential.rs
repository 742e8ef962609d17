//! The reference backend (memory) and sled run the same random transactions;
//! every read inside and after them must agree.

mod common;

use chatdesk::wire::ChatSessionStatus;
use chatdesk::{
    Error, IdKind, MemoryStorage, MessageId, ReadTx, Storage, StorageExt, TopicId, UserId, WriteTx,
};
use chatdesk::{Result, SessionId};
use chatdesk_sled::testing::temp_store;
use common::*;
use std::fmt::Write as _;

/// xorshift: deterministic, no extra dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> i32 {
        i32::try_from(self.next() % n).unwrap_or(0)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Debug, Clone)]
enum Op {
    Id(IdKind),
    PutTopic(i32),
    DeleteTopic(i32),
    PutMember(i32, i32),
    DeleteMember(i32, i32),
    PutPresence(i32),
    PutSession(Box<chatdesk::model::SessionRecord>),
    DeleteSession(i32),
    PutMessage(i32, i32),
    Probe(u64),
}

fn random_op(r: &mut Rng) -> Op {
    match r.below(20) {
        0 => Op::Id(IdKind::ALL[usize::try_from(r.below(4)).unwrap_or(0)]),
        1 => Op::PutTopic(r.below(4)),
        2 => Op::DeleteTopic(r.below(4)),
        3 => Op::PutMember(r.below(4), r.below(4)),
        4 => Op::DeleteMember(r.below(4), r.below(4)),
        5 => Op::PutPresence(r.below(4)),
        6 | 7 => Op::DeleteSession(r.below(12)),
        8..=10 => Op::PutMessage(r.below(12), r.below(6)),
        11..=13 => Op::Probe(r.next()),
        _ => {
            let mut s = session(r.below(12), r.below(3));
            s.status = ChatSessionStatus::from_code(r.below(12)).unwrap_or_default();
            s.user = r.chance(70).then(|| UserId(r.below(3)));
            s.chatbot_is_active = r.chance(20);
            s.queue_seq = r
                .chance(80)
                .then(|| u64::try_from(r.below(10)).unwrap_or(0));
            s.key_hash = key_hash(r.below(14));
            s.rank = r.below(5);
            Op::PutSession(Box::new(s))
        }
    }
}

/// Everything a reader can ask, with arguments drawn from `seed`.
fn probe(tx: &dyn ReadTx, seed: u64) -> Result<String> {
    let mut r = Rng(seed | 1);
    let mut out = String::new();
    let w = &mut out;
    let lim = |r: &mut Rng| usize::try_from(r.below(5)).unwrap_or(0);
    let _ = writeln!(w, "topics {:?}", tx.topics()?);
    let _ = writeln!(w, "members {:?}", tx.all_members()?);
    let _ = writeln!(w, "presences {:?}", tx.presences()?);
    let _ = writeln!(w, "sessions {:?}", tx.sessions(SessionId(-1), usize::MAX)?);
    for i in 0..4 {
        let _ = writeln!(w, "topic {i} {:?}", tx.topic(TopicId(i))?);
        let _ = writeln!(w, "tm {i} {:?}", tx.topic_members(TopicId(i))?);
        let _ = writeln!(w, "um {i} {:?}", tx.user_memberships(UserId(i))?);
        let _ = writeln!(w, "m {i} {:?}", tx.member(TopicId(i), UserId(r.below(4)))?);
        let _ = writeln!(w, "p {i} {:?}", tx.presence(UserId(i))?);
        let _ = writeln!(w, "active {i} {:?}", tx.active_sessions(UserId(i))?);
        let t = TopicId(i);
        let _ = writeln!(w, "qlen {i} {:?}", tx.queue_len(t)?);
        let seq = u64::try_from(r.below(11)).unwrap_or(0);
        let _ = writeln!(w, "qcb {i} {seq} {:?}", tx.queue_count_before(t, seq)?);
        let (after, l) = (u64::try_from(r.below(10)).unwrap_or(0), lim(&mut r));
        let _ = writeln!(w, "q {i} {:?}", tx.queue(t, after, l)?);
        let (after, l) = (SessionId(r.below(12) - 1), lim(&mut r));
        let _ = writeln!(w, "ts {i} {:?}", tx.topic_sessions(t, after, l)?);
    }
    for code in 0..12 {
        let status = ChatSessionStatus::from_code(code).unwrap_or_default();
        let (after, l) = (SessionId(r.below(12) - 1), lim(&mut r));
        let _ = writeln!(
            w,
            "bs {code} {:?}",
            tx.sessions_by_status(status, after, l)?
        );
    }
    for id in 0..12 {
        let _ = writeln!(w, "s {id} {:?}", tx.session(SessionId(id))?);
        let (after, l) = (MessageId(r.below(6) - 1), lim(&mut r));
        let _ = writeln!(w, "msgs {id} {:?}", tx.messages(SessionId(id), after, l)?);
    }
    for k in 0..14 {
        let _ = writeln!(w, "key {k} {:?}", tx.session_by_key(&key_hash(k))?);
    }
    Ok(out)
}

fn apply(tx: &mut dyn WriteTx, op: &Op, log: &mut Vec<String>) -> Result<()> {
    match op {
        Op::Id(kind) => log.push(format!("{:?}", tx.next_id(*kind)?)),
        Op::PutTopic(t) => tx.put_topic(&topic(*t))?,
        Op::DeleteTopic(t) => tx.delete_topic(TopicId(*t))?,
        Op::PutMember(t, u) => tx.put_member(&member(*t, *u))?,
        Op::DeleteMember(t, u) => tx.delete_member(TopicId(*t), UserId(*u))?,
        Op::PutPresence(u) => tx.put_presence(&presence(*u))?,
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
            let n = 1 + r.below(8);
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
            let seed2 = r.next();
            let want = memory.read(|tx| probe(tx, seed2)).unwrap();
            let got = sled.read(|tx| probe(tx, seed2)).unwrap();
            assert_eq!(want, got, "seed {seed} step {step} after commit");
        }
    }
}
