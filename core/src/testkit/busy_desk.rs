//! Real threads on the lifecycle (concurrent callers never see half of an
//! operation, a user's ranks stay distinct, the store is isolated): agents pick
//! up (given and first), transfer, accept, reject, answer and close while
//! customers write.

use super::Fixture;
use super::lifecycle::{Kind, agent, cust, kind, text};
use super::rng::Rng;
use crate::storage::{ReadTx, Storage, StorageExt};
use crate::wire::{ChatMessageSpecialType as Sp, ChatMessageType};
use crate::{ChatSessionStatus, SessionId, TopicId, UserId};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

const AGENTS: [i32; 4] = [21, 22, 23, 24];
const CUSTOMER_THREADS: usize = 4;
const SESSIONS: usize = 48;
const ITERATIONS: usize = 40;

/// What the threads were told succeeded, per session.
#[derive(Debug, Default, Clone, Copy)]
struct Acked {
    picks: usize,
    customer: usize,
    agent: usize,
    accepts: usize,
    rejects: usize,
    closes: usize,
}

fn allowed<T>(r: &crate::Result<T>) -> bool {
    matches!(
        kind(r),
        Kind::Ok | Kind::Invalid | Kind::Forbidden | Kind::Validation
    )
}

/// The invariants on one snapshot: distinct ranks ≥ 1 per user, and each
/// topic's queue positions exactly 1..n.
fn check_snapshot(tx: &dyn ReadTx, topics: &[TopicId]) -> crate::Result<()> {
    for u in AGENTS {
        let ranks: Vec<i32> = tx
            .active_sessions(UserId(u))?
            .iter()
            .map(|s| s.rank)
            .collect();
        let distinct: BTreeSet<i32> = ranks.iter().copied().collect();
        assert_eq!(distinct.len(), ranks.len(), "user {u}: ranks {ranks:?}");
        assert!(ranks.iter().all(|r| *r >= 1), "user {u}: ranks {ranks:?}");
    }
    for t in topics {
        for (i, (seq, id)) in tx.queue(*t, 0, usize::MAX)?.into_iter().enumerate() {
            assert_eq!(tx.queue_count_before(*t, seq)? as usize, i);
            let s = tx.session(id)?.unwrap();
            assert_eq!(s.status, ChatSessionStatus::InQueue);
            assert!(s.user.is_none() && s.rank == 0);
        }
    }
    Ok(())
}

pub fn agents_and_customers_in_parallel<S: Storage>(store: S) {
    let fx = Arc::new(Fixture::new(store));
    let a = fx.topic_with("a", |t| t.welcome_message = "Hi!".into());
    let b = fx.topic("b");
    let topics = vec![a, b];
    for t in &topics {
        for u in AGENTS {
            fx.member(*t, u, (false, true, false, false));
        }
    }
    for u in AGENTS {
        fx.present(u, true);
    }
    let sessions: Arc<Vec<(SessionId, String, TopicId)>> = Arc::new(
        (0..SESSIONS)
            .map(|i| {
                let t = topics[i % 2];
                let (id, key) = fx.customer_session(t, &format!("c{i}"));
                (id, key, t)
            })
            .collect(),
    );
    let acked: Arc<Mutex<HashMap<SessionId, Acked>>> = Arc::default();
    let note = |acked: &Mutex<HashMap<SessionId, Acked>>, id: SessionId, f: fn(&mut Acked)| {
        f(acked.lock().entry(id).or_default());
    };
    let start = Arc::new(std::sync::Barrier::new(AGENTS.len() + CUSTOMER_THREADS));
    let mut handles = Vec::new();
    for (i, user) in AGENTS.into_iter().enumerate() {
        let (fx, sessions, acked, topics, start) = (
            Arc::clone(&fx),
            Arc::clone(&sessions),
            Arc::clone(&acked),
            topics.clone(),
            Arc::clone(&start),
        );
        handles.push(std::thread::spawn(move || {
            start.wait();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
            let me = agent(user);
            let d = &fx.desk;
            let mut mine: Vec<SessionId> = Vec::new();
            for iter in 0..ITERATIONS {
                let any = sessions[rng.below(SESSIONS)].0;
                match rng.below(7) {
                    0 => {
                        let r = d.pick_up_first_chat_session(&me);
                        assert!(allowed(&r), "{r:?}");
                        if let Ok(Some(e)) = r {
                            let id = SessionId(e.chat_session_id);
                            note(&acked, id, |a| a.picks += 1);
                            mine.push(id);
                        }
                    }
                    2 => {
                        let r = d.pick_up_chat_session(&me, any);
                        assert!(allowed(&r), "{r:?}");
                        if let Ok(Some(_)) = r {
                            note(&acked, any, |a| a.picks += 1);
                            mine.push(any);
                        }
                    }
                    3 if !mine.is_empty() => {
                        let id = mine[rng.below(mine.len())];
                        let to = AGENTS[rng.below(AGENTS.len())];
                        let r = d.transfer_chat_session(&me, id, UserId(to));
                        assert!(allowed(&r), "{r:?}");
                    }
                    4 => {
                        // Mostly a session whose transfer targets me (as a
                        // client polling its notifications would find it).
                        let pending: Vec<SessionId> = d
                            .storage()
                            .read(|tx| tx.sessions(SessionId(0), usize::MAX))
                            .unwrap()
                            .into_iter()
                            .filter(|s| s.transfer_to == Some(UserId(user)))
                            .map(|s| s.id)
                            .collect();
                        let any = if pending.is_empty() || rng.below(4) == 0 {
                            any
                        } else {
                            pending[rng.below(pending.len())]
                        };
                        if rng.below(3) == 0 {
                            let r = d.reject_chat_session_transfer(&me, any);
                            assert!(allowed(&r), "{r:?}");
                            if r.is_ok() {
                                note(&acked, any, |a| a.rejects += 1);
                            }
                        } else {
                            let r = d.accept_chat_session_transfer(&me, any);
                            assert!(allowed(&r), "{r:?}");
                            if r.is_ok() {
                                note(&acked, any, |a| a.accepts += 1);
                                mine.push(any);
                            }
                        }
                    }
                    5 if !mine.is_empty() => {
                        let id = mine[rng.below(mine.len())];
                        let r = d.add_chat_message(&me, id, &text("agent"));
                        assert!(allowed(&r), "{r:?}");
                        if r.is_ok() {
                            note(&acked, id, |a| a.agent += 1);
                        }
                    }
                    6 if !mine.is_empty() && rng.below(2) == 0 => {
                        let id = mine[rng.below(mine.len())];
                        let r = d.close_chat_session(&me, id);
                        assert!(allowed(&r), "{r:?}");
                        if r.is_ok() {
                            note(&acked, id, |a| a.closes += 1);
                        }
                    }
                    _ => {
                        let r = d.get_chat_messages(&me, any, None, 500);
                        assert!(r.is_ok(), "{r:?}");
                    }
                }
                if iter % 10 == 9 {
                    d.storage().read(|tx| check_snapshot(tx, &topics)).unwrap();
                }
            }
        }));
    }
    for j in 0..CUSTOMER_THREADS {
        let (fx, sessions, acked, start) = (
            Arc::clone(&fx),
            Arc::clone(&sessions),
            Arc::clone(&acked),
            Arc::clone(&start),
        );
        handles.push(std::thread::spawn(move || {
            start.wait();
            let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (j as u64 + 1));
            let own: Vec<_> = sessions.iter().skip(j).step_by(CUSTOMER_THREADS).collect();
            for _ in 0..ITERATIONS {
                let (id, key, _) = own[rng.below(own.len())];
                let r = fx.desk.add_chat_message(&cust(key), *id, &text("customer"));
                assert!(allowed(&r), "{r:?}");
                if r.is_ok() {
                    note(&acked, *id, |a| a.customer += 1);
                }
                if rng.below(4) == 0 {
                    let r = fx.desk.get_chat_messages(&cust(key), *id, None, 500);
                    assert!(r.is_ok(), "{r:?}");
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    // Afterwards.
    fx.desk
        .storage()
        .read(|tx| check_snapshot(tx, &topics))
        .unwrap();
    let acked = acked.lock().clone();
    let mut queued: HashMap<TopicId, Vec<u32>> = HashMap::new();
    for (id, _, topic) in sessions.iter() {
        let got = acked.get(id).copied().unwrap_or_default();
        assert!(got.picks <= 1, "session {id} picked up {} times", got.picks);
        let s = super::lifecycle::rec(&fx, *id);
        if got.picks == 0 {
            assert_eq!(s.status, ChatSessionStatus::InQueue, "{s:?}");
            queued
                .entry(*topic)
                .or_default()
                .push(fx.desk.get_queue_position(&fx.sys(), *id).unwrap().unwrap());
        } else {
            assert_ne!(s.status, ChatSessionStatus::InQueue, "{s:?}");
            assert!(s.user.is_some());
        }
        let m = super::lifecycle::msgs(&fx, *id);
        let count =
            |f: &dyn Fn(&crate::model::MessageRecord) -> bool| m.iter().filter(|x| f(x)).count();
        assert_eq!(
            count(&|x| x.kind == ChatMessageType::ToUser),
            got.customer,
            "{id}"
        );
        assert_eq!(
            count(&|x| x.kind == ChatMessageType::ToCustomer && x.special == Sp::None),
            got.agent,
            "{id}"
        );
        let welcomes = if *topic == a { got.picks } else { 0 };
        assert_eq!(count(&|x| x.special == Sp::Welcome), welcomes, "{id}");
        assert_eq!(
            count(&|x| x.special == Sp::TransferedSession),
            got.accepts,
            "{id}"
        );
        assert_eq!(
            count(&|x| x.special == Sp::TransferRejected),
            got.rejects,
            "{id}"
        );
        assert_eq!(
            count(&|x| x.special == Sp::ClosedByUser),
            got.closes,
            "{id}"
        );
        assert_eq!(
            m.len(),
            got.customer + got.agent + welcomes + got.accepts + got.rejects + got.closes,
            "{id}: nothing else"
        );
    }
    for (t, mut p) in queued {
        p.sort_unstable();
        let want: Vec<u32> = (1..=u32::try_from(p.len()).unwrap()).collect();
        assert_eq!(p, want, "topic {t}");
    }
    let picked: usize = acked.values().map(|a| a.picks).sum();
    assert!(picked > 0, "the threads picked nothing up");
    eprintln!(
        "TOTALS {:?}",
        acked.values().fold((0, 0, 0, 0, 0, 0), |t, a| (
            t.0 + a.picks,
            t.1 + a.customer,
            t.2 + a.agent,
            t.3 + a.accepts,
            t.4 + a.rejects,
            t.5 + a.closes
        ))
    );
}
