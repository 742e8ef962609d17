//! Differential test: the same random operations on the memory backend (the
//! reference) and on SQLite give the same answers to every read.

mod common;

use chatdesk::ChatSessionStatus;
use chatdesk::backend::{AgentRecord, SessionRecord, SessionRouting, SessionStats, TopicRouting};
use chatdesk::backend::{IdKind, ReadTx, StorageExt, WriteTx};
use chatdesk::{Error, MemoryStorage, MessageId, SessionId, Storage, Timestamp, TopicId, UserId};
use chatdesk::{RoutingMode, RoutingStrategy};
use chatdesk_sqlite::testing::temp_store;
use common::*;
use std::collections::BTreeSet;

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn i(&mut self, n: u64) -> i32 {
        i32::try_from(self.below(n)).unwrap()
    }
}

const STATUSES: [ChatSessionStatus; 6] = [
    ChatSessionStatus::PreChatForm,
    ChatSessionStatus::InQueue,
    ChatSessionStatus::InQueue,
    ChatSessionStatus::CustomerLast,
    ChatSessionStatus::UserLast,
    ChatSessionStatus::Closed,
];

/// One random transaction; `live` tracks the sessions that exist.
fn step(
    tx: &mut dyn WriteTx,
    rng: &mut Lcg,
    live: &mut BTreeSet<i32>,
    fail: bool,
) -> chatdesk::Result<()> {
    for _ in 0..1 + rng.below(4) {
        match rng.below(10) {
            0 => {
                let id = i32::try_from(tx.next_id(IdKind::Topic)?).unwrap();
                let mut t = topic(id);
                if rng.below(2) == 0 {
                    t.routing = TopicRouting {
                        mode: RoutingMode::Auto,
                        strategy: RoutingStrategy::LongestIdle,
                        default_capacity: 1 + rng.i(1000),
                        answer_timeout_secs: rng.i(100),
                        transfer_timeout_secs: rng.i(100),
                    };
                }
                tx.put_topic(&t)?;
            }
            1 => tx.delete_topic(TopicId(rng.i(5)))?,
            2 => {
                let m = member(rng.i(4), rng.i(6));
                if rng.below(4) == 0 {
                    tx.delete_member(m.topic, m.user)?;
                } else {
                    tx.put_member(&m)?;
                }
            }
            3 if rng.below(2) == 0 => tx.put_presence(&presence(rng.i(6)))?,
            3 => tx.put_agent(&AgentRecord {
                user: UserId(rng.i(6)),
                max_chats: (rng.below(2) == 0).then(|| 1 + rng.i(10)),
                last_assigned: (rng.below(2) == 0).then(|| Timestamp(i64::from(rng.i(50)))),
            })?,
            4..=6 => {
                let id = if live.is_empty() || rng.below(3) == 0 {
                    i32::try_from(tx.next_id(IdKind::Session)?).unwrap()
                } else {
                    let v: Vec<_> = live.iter().copied().collect();
                    v[usize::try_from(rng.below(v.len() as u64)).unwrap()]
                };
                let seq = u64::try_from(tx.next_id(IdKind::QueueSeq)?).unwrap();
                let user = (rng.below(3) != 0).then(|| UserId(rng.i(4)));
                let rec = SessionRecord {
                    status: STATUSES[usize::try_from(rng.below(6)).unwrap()],
                    user,
                    chatbot_is_active: rng.below(5) == 0,
                    queue_seq: (rng.below(4) != 0).then_some(seq),
                    rank: rng.i(5),
                    transfer_to: (rng.below(2) == 0).then(|| UserId(rng.i(6))),
                    // Few distinct times: many sessions share one.
                    when_requested: Timestamp(i64::from(rng.i(6)) - 2),
                    routing: SessionRouting {
                        routed_at: (rng.below(2) == 0).then(|| Timestamp(i64::from(rng.i(9)))),
                        answered: rng.below(2) == 0,
                        excluded: (0..rng.below(3)).map(|_| UserId(rng.i(6))).collect(),
                        transfer_requested_at: (rng.below(2) == 0).then_some(Timestamp(-1)),
                    },
                    stats: SessionStats {
                        max_alert_level: rng.i(4),
                        answer_timeouts: rng.i(3),
                        first_answer_at: (rng.below(2) == 0).then_some(Timestamp(3)),
                    },
                    ..session(id, 1 + rng.i(3))
                };
                tx.put_session(&rec)?;
                live.insert(id);
            }
            7 => {
                if let Some(&id) = live.iter().nth(usize::try_from(rng.below(4)).unwrap()) {
                    let mid = i32::try_from(tx.next_id(IdKind::Message)?).unwrap();
                    tx.put_message(&message(mid, id))?;
                }
            }
            8 => {
                let id = rng.i(40);
                tx.delete_session(SessionId(id))?;
                live.remove(&id);
            }
            _ => {
                // Reads inside the transaction agree too.
                let _ = dump(&*tx)?;
            }
        }
    }
    if fail {
        return Err(Error::conflict("planned failure"));
    }
    Ok(())
}

/// Everything the read paths say, as one comparable value.
fn dump(tx: &dyn ReadTx) -> chatdesk::Result<String> {
    let mut out = String::new();
    out += &format!("topics {:?}\n", tx.topics()?);
    out += &format!("members {:?}\n", tx.all_members()?);
    out += &format!("presences {:?}\n", tx.presences()?);
    out += &format!("sessions {:?}\n", tx.sessions(SessionId(0), usize::MAX)?);
    out += &format!("page {:?}\n", tx.sessions(SessionId(3), 2)?);
    for t in 0..5 {
        let t = TopicId(t);
        out += &format!("topic {t:?} {:?}\n", tx.topic(t)?);
        out += &format!("tm {:?}\n", tx.topic_members(t)?);
        out += &format!("ts {:?}\n", tx.topic_sessions(t, SessionId(0), usize::MAX)?);
        out += &format!("ts2 {:?}\n", tx.topic_sessions(t, SessionId(2), 3)?);
        out += &format!("ql {}\n", tx.queue_len(t)?);
        out += &format!("q {:?}\n", tx.queue(t, 0, usize::MAX)?);
        out += &format!("q2 {:?}\n", tx.queue(t, 50, 2)?);
        for seq in [0, 1, 5, 10, 20, 40, 95, 100, 101, 150, u64::MAX] {
            out += &format!("qb {seq} {}\n", tx.queue_count_before(t, seq)?);
        }
        for u in 0..6 {
            out += &format!("m {:?}\n", tx.member(t, UserId(u))?);
        }
    }
    for u in 0..6 {
        let u = UserId(u);
        out += &format!("um {:?}\n", tx.user_memberships(u)?);
        out += &format!("p {:?}\n", tx.presence(u)?);
        out += &format!("a {:?}\n", tx.active_sessions(u)?);
        out += &format!("tr {:?}\n", tx.transfers_to(u)?);
        out += &format!("ag {:?}\n", tx.agent(u)?);
    }
    let low = (Timestamp(i64::MIN), SessionId(i32::MIN));
    out += &format!(
        "rq {:?}\n",
        tx.sessions_requested(low, Timestamp(i64::MAX), usize::MAX)?
    );
    for (at, id, before, n) in [(-2, 3, 2, 4), (0, 0, 3, 2), (1, 9, 9, 3), (-3, 40, 0, 9)] {
        out += &format!(
            "rq2 {:?}\n",
            tx.sessions_requested((Timestamp(at), SessionId(id)), Timestamp(before), n)?
        );
    }
    for st in STATUSES {
        out += &format!(
            "st {:?}\n",
            tx.sessions_by_status(st, SessionId(0), usize::MAX)?
        );
        out += &format!("st2 {:?}\n", tx.sessions_by_status(st, SessionId(4), 2)?);
    }
    for id in 0..40 {
        let sid = SessionId(id);
        out += &format!("s {:?}\n", tx.session(sid)?);
        out += &format!("k {:?}\n", tx.session_by_key(&key(id))?);
        out += &format!("msg {:?}\n", tx.messages(sid, MessageId(0), usize::MAX)?);
        out += &format!("msg2 {:?}\n", tx.messages(sid, MessageId(3), 1)?);
    }
    Ok(out)
}

#[test]
fn random_operations_agree_with_the_memory_backend() {
    let memory = MemoryStorage::new();
    let sqlite = temp_store();
    let mut rng_m = Lcg(7);
    let mut rng_s = Lcg(7);
    let mut live_m = BTreeSet::new();
    let mut live_s = BTreeSet::new();
    for round in 0..150 {
        let fail = round % 7 == 3;
        let a = memory.write(|tx| step(tx, &mut rng_m, &mut live_m, fail));
        let b = sqlite.write(|tx| step(tx, &mut rng_s, &mut live_s, fail));
        assert_eq!(a.is_ok(), b.is_ok(), "round {round}: {a:?} vs {b:?}");
        if fail {
            // Both rolled back; the generators stay in step, the live sets
            // are rebuilt from the stores.
            live_m = memory
                .read(|tx| tx.sessions(SessionId(0), usize::MAX))
                .unwrap()
                .iter()
                .map(|s| s.id.get())
                .collect();
            live_s = live_m.clone();
        }
        if round % 10 == 0 || fail {
            let dm = memory.read(dump).unwrap();
            let ds = sqlite.read(dump).unwrap();
            assert_eq!(dm, ds, "round {round}");
        }
    }
    assert_eq!(memory.read(dump).unwrap(), sqlite.read(dump).unwrap());
    let next_m = memory.write(|tx| tx.next_id(IdKind::Session)).unwrap();
    let next_s = sqlite.write(|tx| tx.next_id(IdKind::Session)).unwrap();
    assert_eq!(next_m, next_s);
    assert_eq!(sqlite.backend_name(), "sqlite");
}
