//! Stress with real threads (issue #5, part 2): 8 threads of mixed
//! operations on one service while a reader samples consistent snapshots;
//! invariants checked during and after: one owner per active session (no
//! session picked up twice), each user's active ranks distinct and ≥ 1,
//! queue positions of each topic exactly 1..n, ids unique, message counts
//! equal to what was acknowledged.

use super::Fixture;
use super::rng::Rng;
use crate::storage::{ReadTx, Storage, StorageExt};
use crate::wire::{ChatMessage, ChatMessageSpecialType, ChatMessageType};
use crate::{Caller, ChatSessionStatus, MessageId, SessionId, TopicId, UserId};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const THREADS: u64 = 8;
/// Operations per thread (8 × 60 = 480 per backend).
const OPS_PER_THREAD: usize = 60;
const AGENTS: i32 = 4;

/// What the threads were told succeeded.
#[derive(Default)]
struct Acked {
    sessions: Vec<(SessionId, String)>,
    picked: BTreeSet<SessionId>,
    messages: HashMap<SessionId, usize>,
    message_ids: BTreeSet<i32>,
}

/// Checks the invariants on one consistent snapshot.
fn check_snapshot(tx: &dyn ReadTx, topics: &[TopicId]) -> crate::Result<()> {
    let all = tx.sessions(SessionId(0), usize::MAX)?;
    let mut ranks: BTreeMap<UserId, BTreeSet<i32>> = BTreeMap::new();
    for s in &all {
        if s.is_active() {
            if let Some(u) = s.user {
                assert!(s.rank >= 1, "active session {} has rank {}", s.id, s.rank);
                assert!(
                    ranks.entry(u).or_default().insert(s.rank),
                    "user {u} holds rank {} twice",
                    s.rank
                );
            }
        } else {
            assert_eq!(s.rank, 0, "session {} not active but ranked", s.id);
        }
    }
    for &t in topics {
        let mut queued: Vec<(u64, SessionId)> = all
            .iter()
            .filter(|s| s.topic == t)
            .filter_map(|s| s.human_queue_seq().map(|q| (q, s.id)))
            .collect();
        queued.sort_unstable();
        let indexed = tx.queue(t, 0, usize::MAX)?;
        assert_eq!(indexed, queued, "queue index of topic {t}");
        for (n, (seq, id)) in queued.iter().enumerate() {
            let pos = tx.queue_count_before(t, *seq)? + 1;
            assert_eq!(
                usize::try_from(pos).unwrap_or(0),
                n + 1,
                "queue position of {id} in topic {t}"
            );
        }
    }
    Ok(())
}

/// 8 writer threads and a sampling reader on one store.
pub fn eight_threads_keep_invariants<S: Storage>(store: S) {
    let fx = Arc::new(Fixture::new(store));
    let topics: Vec<TopicId> = (0..2)
        .map(|i| {
            let t = fx.topic_with(&format!("stress {i}"), |t| {
                t.welcome_message = if i == 0 { "Hi".into() } else { String::new() };
            });
            for u in 1..=AGENTS {
                fx.member(t, u, (true, true, u == 1, false));
            }
            t
        })
        .collect();
    for u in 1..=AGENTS {
        fx.present(u, true);
    }
    let acked = Arc::new(Mutex::new(Acked::default()));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (fx, done, topics) = (Arc::clone(&fx), Arc::clone(&done), topics.clone());
        std::thread::spawn(move || {
            let mut samples = 0;
            while !done.load(Ordering::Relaxed) || samples == 0 {
                fx.desk
                    .storage()
                    .read(|tx| check_snapshot(tx, &topics))
                    .unwrap();
                samples += 1;
                std::thread::yield_now();
            }
            samples
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|k| {
            let (fx, acked, topics) = (Arc::clone(&fx), Arc::clone(&acked), topics.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (k + 1).wrapping_mul(0x2545_F491));
                let desk = &fx.desk;
                let sys = Caller::system();
                for _ in 0..OPS_PER_THREAD {
                    let known: Vec<(SessionId, String)> = acked.lock().sessions.clone();
                    let pick = (!known.is_empty()).then(|| known[rng.below(known.len())].clone());
                    let agent = Caller::agent(UserId(1 + i32::try_from(rng.below(4)).unwrap_or(0)));
                    match rng.below(10) {
                        0..=2 => {
                            let (id, key) = fx.customer_session(topics[rng.below(2)], "stress");
                            let mut a = acked.lock();
                            assert!(a.sessions.iter().all(|(s, _)| *s != id), "id {id} twice");
                            a.sessions.push((id, key));
                        }
                        3 | 4 => {
                            if let Some(e) = desk.pick_up_first_chat_session(&agent).unwrap() {
                                let id = SessionId(e.chat_session_id);
                                assert!(acked.lock().picked.insert(id), "{id} picked up twice");
                            }
                        }
                        5 | 6 => {
                            let Some((id, key)) = pick else { continue };
                            let m = ChatMessage {
                                message: "from customer".into(),
                                ..ChatMessage::default()
                            };
                            if let Ok(m) = desk.add_chat_message(&Caller::customer(key), id, &m) {
                                let mut a = acked.lock();
                                *a.messages.entry(id).or_default() += 1;
                                assert!(a.message_ids.insert(m.chat_message_id));
                            }
                        }
                        7 => {
                            let Some((id, _)) = pick else { continue };
                            let Ok(e) = desk.get_chat_session_entity(&sys, id) else {
                                continue;
                            };
                            let Some(u) = e.user.as_ref().and_then(crate::Associate::id) else {
                                continue;
                            };
                            let m = ChatMessage {
                                message: "from agent".into(),
                                ..ChatMessage::default()
                            };
                            if let Ok(m) = desk.add_chat_message(&Caller::agent(UserId(u)), id, &m)
                            {
                                let mut a = acked.lock();
                                *a.messages.entry(id).or_default() += 1;
                                assert!(a.message_ids.insert(m.chat_message_id));
                            }
                        }
                        8 => {
                            let Some((id, _)) = pick else { continue };
                            let Ok(e) = desk.get_chat_session_entity(&sys, id) else {
                                continue;
                            };
                            let Some(u) = e.user.as_ref().and_then(crate::Associate::id) else {
                                continue;
                            };
                            let to = UserId(1 + (u % AGENTS));
                            if desk
                                .transfer_chat_session(&Caller::agent(UserId(u)), id, to)
                                .is_ok()
                            {
                                let _ = desk.accept_chat_session_transfer(&Caller::agent(to), id);
                            }
                        }
                        _ => {
                            let Some((id, key)) = pick else { continue };
                            let _ = desk.close_chat_session(&Caller::customer(key), id);
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let samples = reader.join().unwrap();
    assert!(samples > 0);
    fx.desk
        .storage()
        .read(|tx| check_snapshot(tx, &topics))
        .unwrap();
    let a = acked.lock();
    let ids: BTreeSet<SessionId> = a.sessions.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), a.sessions.len(), "session ids unique");
    for (id, _) in &a.sessions {
        let list = fx
            .desk
            .get_chat_messages(&Caller::system(), *id, None, 500)
            .unwrap();
        let chat = list
            .iter()
            .filter(|m| {
                matches!(
                    m.message_type,
                    ChatMessageType::ToUser | ChatMessageType::ToCustomer
                ) && m.special_type == ChatMessageSpecialType::None
            })
            .count();
        assert_eq!(
            chat,
            a.messages.get(id).copied().unwrap_or(0),
            "messages of {id}"
        );
        let e = fx
            .desk
            .get_chat_session_entity(&Caller::system(), *id)
            .unwrap();
        if a.picked.contains(id) {
            assert!(e.user.is_some(), "{id} was picked up but has no User");
        } else {
            assert!(
                matches!(
                    e.status,
                    ChatSessionStatus::InQueue | ChatSessionStatus::ClosedFromQueue
                ),
                "{id} never picked up but is {:?}",
                e.status
            );
        }
    }
    let all_ids: Vec<i32> = fx
        .desk
        .storage()
        .read(|tx| {
            let mut v = Vec::new();
            for id in &ids {
                v.extend(
                    tx.messages(*id, MessageId(0), usize::MAX)?
                        .iter()
                        .map(|m| m.id.0),
                );
            }
            Ok(v)
        })
        .unwrap();
    let unique: BTreeSet<i32> = all_ids.iter().copied().collect();
    assert_eq!(unique.len(), all_ids.len(), "message ids unique");
}
