//! A simulated day at a desk, then its report: customers arrive all day
//! (more around noon), three agents pick them up (two chats at a time each,
//! one away at lunch), answer, chat and close; customers who wait too long
//! leave the queue; half of the served rate their chat. The day runs on the
//! in-memory backend with a manual clock, in one-minute steps, and the
//! desk report is printed by hour of Oslo time, then per agent.
//!
//! Run it with `cargo run --example desk_report`.

use chatdesk::{
    Associate, Caller, ChatDesk, ChatMessage, ChatPresence, ChatSessionEntity, ChatSessionStatus,
    ChatTopicAgent, DeskReportRequest, DurationFigures, ManualClock, MemoryStorage, ReportBucket,
    ReportFigures, SessionId, TopicId, Tz, UserId,
};
use chrono::{TimeZone, Utc};

/// A small deterministic random source (the example prints the same day
/// every time).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A whole number in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap_or(1);
        lo + i64::try_from(self.next() % span).unwrap_or(0)
    }
}

/// A chat an agent has: when it ends, and the customer's key.
struct Chat {
    id: SessionId,
    key: String,
    agent: UserId,
    answer_at: i64,
    ends_at: i64,
}

const AGENTS: [i32; 3] = [10, 11, 12];
const CAPACITY: usize = 2;
/// A customer gives up after waiting this long (minutes).
const PATIENCE: i64 = 12;

fn main() -> chatdesk::Result<()> {
    let start = Utc
        .with_ymd_and_hms(2024, 1, 15, 7, 0, 0)
        .single()
        .ok_or_else(|| chatdesk::Error::validation("start", "no such time"))?;
    let clock = ManualClock::new(start);
    let desk = ChatDesk::new(MemoryStorage::new()).with_clock(clock.clone());
    let sys = Caller::system();
    let mut t = desk.create_default_chat_topic_entity(&sys);
    t.name = "Support".into();
    t.widget_enable_rating = true;
    let topic = TopicId(desk.save_chat_topic_entity(&sys, &t)?.chat_topic_id);
    for u in AGENTS {
        desk.add_chat_topic_user_agent(
            &sys,
            &ChatTopicAgent {
                topic_id: topic.0,
                user: Some(Associate::with_id(u)),
                can_listen: true,
                can_respond: true,
                ..ChatTopicAgent::default()
            },
        )?;
    }
    let presence = |u: i32, present: bool| {
        desk.save_chat_presence(
            &sys,
            &ChatPresence {
                user_id: u,
                present,
                display_name: format!("Agent {u}"),
                ..ChatPresence::default()
            },
        )
    };
    for u in AGENTS {
        presence(u, true)?;
    }

    let mut rng = Lcg(2024);
    let mut waiting: Vec<(SessionId, String, i64)> = Vec::new();
    let mut chats: Vec<Chat> = Vec::new();
    let (mut arrived, mut gave_up) = (0, 0);
    // 08:00 to 17:00 Oslo time is 07:00 to 16:00 UTC; arrivals stop at
    // 15:30 UTC and the desk runs until the last chat ends.
    for minute in 0..(10 * 60) {
        let hour = minute / 60;
        // Lunch: agent 12 is away from 11:00 to 11:45 Oslo time.
        if minute == 4 * 60 {
            presence(12, false)?;
        }
        if minute == 4 * 60 + 45 {
            presence(12, true)?;
        }
        // Arrivals: about 1 every 3 minutes, 1 a minute around noon.
        let per_ten = match hour {
            0 | 7 => 3,
            1 | 2 | 6 => 5,
            3..=5 => 9,
            _ => 0,
        };
        if minute < 8 * 60 + 30 && rng.range(1, 10) <= per_ten {
            let s = desk.create_chat_session_for_topic(
                &Caller::anonymous(),
                topic,
                &ChatSessionEntity {
                    customer_name: format!("Customer {arrived}"),
                    ..ChatSessionEntity::default()
                },
            )?;
            arrived += 1;
            if s.status == ChatSessionStatus::InQueue {
                waiting.push((s.id(), s.session_key, minute));
            }
        }
        // Customers out of patience leave the queue.
        let mut still = Vec::new();
        for (id, key, since) in waiting.drain(..) {
            let e = desk.get_chat_session_entity(&sys, id)?;
            if e.status != ChatSessionStatus::InQueue {
                continue;
            }
            if minute - since >= PATIENCE {
                desk.close_chat_session(&Caller::customer(key), id)?;
                gave_up += 1;
            } else {
                still.push((id, key, since));
            }
        }
        waiting = still;
        // Agents with room pick up the longest-waiting customer.
        for u in AGENTS {
            let me = Caller::agent(UserId(u));
            let away = u == 12 && (4 * 60..4 * 60 + 45).contains(&minute);
            let busy = chats.iter().filter(|c| c.agent == UserId(u)).count();
            if away || busy >= CAPACITY {
                continue;
            }
            if let Some(s) = desk.pick_up_first_chat_session(&me)? {
                let key = waiting
                    .iter()
                    .find(|(id, _, _)| *id == s.id())
                    .map(|(_, k, _)| k.clone())
                    .unwrap_or_default();
                waiting.retain(|(id, _, _)| *id != s.id());
                chats.push(Chat {
                    id: s.id(),
                    key,
                    agent: UserId(u),
                    answer_at: minute + rng.range(0, 2),
                    ends_at: minute + rng.range(3, 15),
                });
            }
        }
        // Chats: the agent answers, the customer writes back, the agent
        // closes at the end, and every other customer rates the chat.
        let mut open = Vec::new();
        for c in chats.drain(..) {
            let me = Caller::agent(c.agent);
            let text = |s: &str| ChatMessage {
                message: s.into(),
                ..ChatMessage::default()
            };
            if minute == c.answer_at {
                desk.add_chat_message(&me, c.id, &text("Hello, how can I help?"))?;
                desk.add_chat_message(&Caller::customer(c.key.clone()), c.id, &text("Hi!"))?;
            }
            if minute >= c.ends_at && minute > c.answer_at {
                desk.close_chat_session(&me, c.id)?;
                let rating = if c.id.0 % 2 == 0 { rng.range(3, 5) } else { 0 };
                let rating = i32::try_from(rating).unwrap_or(0);
                desk.finish_chat_session(&Caller::customer(c.key.clone()), c.id, rating)?;
            } else {
                open.push(c);
            }
        }
        chats = open;
        clock.advance_secs(60);
    }
    println!(
        "A day at the desk: {arrived} customers arrived, {gave_up} gave up waiting after {PATIENCE} minutes.\n"
    );

    let oslo: Tz = "Europe/Oslo"
        .parse()
        .map_err(|_| chatdesk::Error::validation("time_zone", "unknown zone"))?;
    let day_end = start + chrono::Duration::hours(12);
    let mut request = DeskReportRequest::daily(start, day_end);
    request.bucket = ReportBucket::Hour;
    request.time_zone = oslo;
    let report = desk.desk_report(&sys, &request)?;
    println!("Per hour (Europe/Oslo), topic Support; waits and times in minutes:");
    header("hour");
    for row in &report.topics {
        line(&row.bucket[11..16], &row.figures);
    }
    request.bucket = ReportBucket::Day;
    let report = desk.desk_report(&sys, &request)?;
    println!("\nPer agent, the whole day:");
    header("agent");
    for row in &report.agents {
        line(&format!("{}", row.user_id), &row.figures);
    }
    println!("\nThe same report as CSV (first lines):");
    for l in report.to_csv().lines().take(3) {
        println!("{l}");
    }
    Ok(())
}

fn header(first: &str) {
    println!(
        "{first:<6} {:>5} {:>6} {:>5} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6}",
        "asked", "served", "lost", "wait p50", "wait p90", "1st p50", "hold p50", "msgs", "rating"
    );
}

fn minutes(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |s| format!("{:.1}", s / 60.0))
}

fn line(first: &str, f: &ReportFigures) {
    let DurationFigures { p50, p90, .. } = f.queue_wait;
    println!(
        "{first:<6} {:>5} {:>6} {:>5} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6}",
        f.requested,
        f.served,
        f.lost_in_queue,
        minutes(p50),
        minutes(p90),
        minutes(f.first_response.p50),
        minutes(f.handle_time.p50),
        f.messages_from_customers + f.messages_to_customers,
        f.rating_mean
            .map_or_else(|| "-".to_string(), |m| format!("{m:.2}"))
    );
}
