//! The desk report's cost pair: a one-day report over the day's sessions
//! in a store that also holds a long history, against the same report in a
//! store holding only that day (target ≤ 2: the report reads only its
//! window, through the time index).

use crate::ops::{Backend, Pair, Side, bulk, bulk_record, history_size, size};
use crate::{AGENT, open_sled, open_sqlite, seed, sqlite_file, temp_dir};
use chatdesk::backend::{IdKind, MessageRecord, StorageExt};
use chatdesk::{
    Caller, ChatDesk, ChatMessageSpecialType, ChatMessageType, ChatSessionStatus,
    DeskReportRequest, Durability, MemoryStorage, MessageId, SessionId, Storage, Timestamp,
};
use chrono::{TimeZone, Utc};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The sessions of the reported day: 10 000 (10 in quick mode).
fn day_size() -> usize {
    size(10_000)
}

/// Midnight UTC of the reported day.
fn day_start() -> Timestamp {
    let d = Utc
        .with_ymd_and_hms(2024, 1, 10, 0, 0, 0)
        .single()
        .expect("a valid date");
    Timestamp::from_datetime(d)
}

const TICKS_PER_SECOND: i64 = 10_000_000;

/// Loads `history` sessions requested in the 100 days before the day, and
/// the day's sessions: two in three served (answered after 30 s, ended
/// after 5 min, two messages each), the rest lost in the queue.
fn load<S: Storage>(desk: &ChatDesk<S>, history: usize) {
    let topic = seed(desk);
    let start = day_start();
    // The i-th of n instants spread over span_secs (in 128 bits: a million
    // sessions over 100 days overflows 64).
    let spread = |i: usize, n: usize, span_secs: i64| -> i64 {
        let n = i128::try_from(n.max(1)).expect("size");
        let i = i128::try_from(i).expect("index");
        let at = i * i128::from(span_secs) * i128::from(TICKS_PER_SECOND) / n;
        i64::try_from(at).expect("within the span")
    };
    let h = history;
    bulk(desk, h, &|id, _, i| {
        let mut s = bulk_record(id, topic, ChatSessionStatus::Closed);
        s.when_requested =
            Timestamp(start.0 - 100 * 86_400 * TICKS_PER_SECOND + spread(i, h, 100 * 86_400));
        s.when_ended = Some(s.when_requested);
        s
    });
    let n = day_size();
    bulk(desk, n, &|id, _, i| {
        let at = Timestamp(start.0 + spread(i, n, 86_400));
        if i % 3 == 2 {
            let mut s = bulk_record(id, topic, ChatSessionStatus::ClosedFromQueue);
            s.when_requested = at;
            s.when_ended = Some(at.plus_seconds(120));
            s
        } else {
            let mut s = bulk_record(id, topic, ChatSessionStatus::Closed);
            s.when_requested = at;
            s.user = Some(AGENT);
            s.when_started = Some(at.plus_seconds(60));
            s.stats.first_answer_at = Some(at.plus_seconds(90));
            s.when_ended = Some(at.plus_seconds(360));
            s.rating = i32::try_from(i % 5).expect("rating");
            s
        }
    });
    // Two messages on each served session of the day.
    let day: Vec<SessionId> = desk
        .storage()
        .read(|tx| {
            let mut ids = Vec::new();
            let mut cursor = (start, SessionId(i32::MIN));
            loop {
                let page = tx.sessions_requested(cursor, Timestamp(i64::MAX), 10_000)?;
                let Some(last) = page.last() else { break };
                cursor = (last.when_requested, last.id);
                ids.extend(page.iter().filter(|s| s.user.is_some()).map(|s| s.id));
            }
            Ok(ids)
        })
        .expect("the day's sessions");
    for chunk in day.chunks(5_000) {
        desk.storage()
            .write(|tx| {
                for &session in chunk {
                    for to_user in [true, false] {
                        let id = i32::try_from(tx.next_id(IdKind::Message)?).expect("id");
                        tx.put_message(&MessageRecord {
                            id: MessageId(id),
                            session,
                            kind: if to_user {
                                ChatMessageType::ToUser
                            } else {
                                ChatMessageType::ToCustomer
                            },
                            text: "A typical line of a chat, neither short nor long.".into(),
                            author: if to_user { "Ann" } else { "Agent Seven" }.into(),
                            read_by_customer: true,
                            special: ChatMessageSpecialType::None,
                            special_param: String::new(),
                            when_posted: start,
                        })?;
                    }
                }
                Ok(())
            })
            .expect("the day's messages");
    }
}

struct ReportSide<S: Storage> {
    desk: ChatDesk<S>,
    _dir: Option<TempDir>,
}

impl<S: Storage> Side for ReportSide<S> {
    fn run(&mut self, iters: u64) -> Duration {
        let from = day_start().to_datetime().expect("a valid day");
        let req = DeskReportRequest::daily(from, from + chrono::Duration::days(1));
        let sys = Caller::system();
        let t0 = Instant::now();
        for _ in 0..iters {
            let r = self.desk.desk_report(&sys, &req).expect("the report");
            assert_eq!(
                r.topics.first().map(|t| t.figures.requested as usize),
                Some(day_size())
            );
        }
        t0.elapsed()
    }
}

fn side(backend: Backend, history: usize) -> Box<dyn Side> {
    match backend {
        Backend::Memory => {
            let desk = ChatDesk::new(MemoryStorage::new());
            load(&desk, history);
            Box::new(ReportSide { desk, _dir: None })
        }
        Backend::Sqlite(d) => {
            let dir = temp_dir();
            let path = sqlite_file(dir.path());
            let desk = ChatDesk::new(open_sqlite(&path, Durability::Relaxed));
            load(&desk, history);
            drop(desk);
            let desk = ChatDesk::new(open_sqlite(&path, d));
            Box::new(ReportSide {
                desk,
                _dir: Some(dir),
            })
        }
        Backend::Sled(d) => {
            let dir = temp_dir();
            let desk = ChatDesk::new(open_sled(dir.path(), Durability::Relaxed));
            load(&desk, history);
            desk.storage().flush().expect("flushing the loaded store");
            drop(desk);
            let desk = ChatDesk::new(open_sled(dir.path(), d));
            Box::new(ReportSide {
                desk,
                _dir: Some(dir),
            })
        }
    }
}

/// `desk_report_history_<backend>`: the day's report with 1 000 000
/// sessions of history (`CHATDESK_BENCH_HISTORY`) over the same with none.
pub fn report_pairs() -> Vec<Pair> {
    [
        Backend::Memory,
        Backend::Sqlite(Durability::Relaxed),
        Backend::Sled(Durability::Relaxed),
    ]
    .into_iter()
    .map(|backend| Pair {
        name: format!("desk_report_history_{}", backend.name()),
        a: Box::new(move || side(backend, size(history_size()))),
        b: Box::new(move || side(backend, 0)),
        target: 2.0,
    })
    .collect()
}
