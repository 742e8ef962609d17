//! The desk report: figures hand-computed on a small day at a desk, the
//! buckets, the rights and the CSV.

use super::Fixture;
use crate::storage::Storage;
use crate::wire::ChatMessage;
use crate::{
    Caller, ChatSessionStatus, DeskReport, DeskReportRequest, DurationFigures, Error, ReportBucket,
    ReportFigures, SessionId, TopicId, Tz, UserId,
};
use chrono::{DateTime, TimeZone, Utc};

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn say<S: Storage>(fx: &Fixture<S>, caller: &Caller, id: SessionId, text: &str) {
    let m = ChatMessage {
        message: text.into(),
        ..ChatMessage::default()
    };
    fx.desk.add_chat_message(caller, id, &m).unwrap();
}

fn durations(count: u32, p50: f64, p90: f64, max: f64) -> DurationFigures {
    DurationFigures {
        count,
        p50: Some(p50),
        p90: Some(p90),
        max: Some(max),
    }
}

/// The day: topic "desk" (agents 10 and 11 respond, 12 manages, rating
/// on) and topic "closed" (nobody present). From 09:00 UTC: s1 and s2
/// requested; 10 picks up s1 at +60 s, answers at +90, the customer writes
/// at +100; 10 picks up s2 at +120 and hands it to 11 (accepted at +160),
/// who answers at +200; 10 closes s1 at +400 and its customer rates it 4
/// at +410. At 10:00 s3 is requested and closed by its customer from the
/// queue a minute later; at 10:01:40 s4 on "closed" gets the offline form
/// and posts a request at 10:03:20. The next day s5 (outside the window).
struct Day {
    desk: TopicId,
    closed: TopicId,
}

fn day<S: Storage>(fx: &Fixture<S>) -> Day {
    let desk = fx.topic_with("desk", |t| {
        t.widget_enable_rating = true;
        t.welcome_message = String::new();
    });
    fx.member(desk, 10, (true, true, false, false));
    fx.member(desk, 11, (true, true, false, false));
    fx.member(desk, 12, (true, false, true, false));
    fx.present(10, true);
    fx.present(11, true);
    let closed = fx.topic("closed");
    fx.member(closed, 20, (true, true, false, false));
    fx.member(closed, 12, (true, false, true, false));
    let (a10, a11) = (Caller::agent(UserId(10)), Caller::agent(UserId(11)));

    let (s1, k1) = fx.customer_session(desk, "one");
    let (s2, _k2) = fx.customer_session(desk, "two");
    fx.clock.advance_secs(60);
    fx.desk.pick_up_chat_session(&a10, s1).unwrap();
    fx.clock.advance_secs(30);
    say(fx, &a10, s1, "hello");
    fx.clock.advance_secs(10);
    say(fx, &Caller::customer(k1.clone()), s1, "hi");
    fx.clock.advance_secs(20);
    fx.desk.pick_up_chat_session(&a10, s2).unwrap();
    fx.clock.advance_secs(30);
    fx.desk.transfer_chat_session(&a10, s2, UserId(11)).unwrap();
    fx.clock.advance_secs(10);
    fx.desk.accept_chat_session_transfer(&a11, s2).unwrap();
    fx.clock.advance_secs(40);
    say(fx, &a11, s2, "taking over");
    fx.clock.advance_secs(200);
    fx.desk.close_chat_session(&a10, s1).unwrap();
    fx.clock.advance_secs(10);
    fx.desk
        .finish_chat_session(&Caller::customer(k1), s1, 4)
        .unwrap();

    fx.clock.set(utc(2024, 1, 1, 10));
    let (s3, k3) = fx.customer_session(desk, "three");
    fx.clock.advance_secs(60);
    let closed_s3 = fx
        .desk
        .close_chat_session(&Caller::customer(k3), s3)
        .unwrap();
    assert_eq!(closed_s3.status, ChatSessionStatus::ClosedFromQueue);
    fx.clock.advance_secs(40);
    let (s4, k4) = fx.customer_session(closed, "four");
    fx.clock.advance_secs(100);
    fx.desk
        .post_offline_request(&Caller::customer(k4), s4, "call me")
        .unwrap();

    fx.clock.set(utc(2024, 1, 2, 10));
    let _ = fx.customer_session(desk, "five");
    Day { desk, closed }
}

fn levels(zero: u32) -> Vec<u32> {
    let mut v = vec![0; crate::REPORT_ALERT_LEVELS];
    v[0] = zero;
    v
}

fn whole_day() -> DeskReportRequest {
    DeskReportRequest::daily(utc(2024, 1, 1, 0), utc(2024, 1, 2, 0))
}

pub fn desk_report_counts_a_day_by_hand<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let d = day(&fx);
    let r = fx.desk.desk_report(&fx.sys(), &whole_day()).unwrap();
    assert_eq!(r.bucket, ReportBucket::Day);
    assert_eq!(r.time_zone, "UTC");
    let rows: Vec<(&str, i32)> = r.topics.iter().map(|t| (&*t.bucket, t.topic_id)).collect();
    assert_eq!(
        rows,
        vec![("2024-01-01", d.desk.0), ("2024-01-01", d.closed.0)]
    );
    assert_eq!(
        r.topics[0].figures,
        ReportFigures {
            requested: 3,
            served: 2,
            lost_in_queue: 1,
            offline: 0,
            queue_wait: durations(2, 60.0, 120.0, 120.0),
            first_response: durations(2, 30.0, 80.0, 80.0),
            handle_time: durations(1, 340.0, 340.0, 340.0),
            messages_from_customers: 1,
            messages_to_customers: 2,
            transfers: 1,
            answer_timeouts: 0,
            alert_levels: levels(3),
            ratings: 1,
            rating_mean: Some(4.0),
        }
    );
    assert_eq!(
        r.topics[1].figures,
        ReportFigures {
            requested: 1,
            offline: 1,
            messages_from_customers: 1,
            alert_levels: levels(1),
            ..ReportFigures::default()
        }
    );
    let agents: Vec<(&str, i32)> = r.agents.iter().map(|a| (&*a.bucket, a.user_id)).collect();
    assert_eq!(agents, vec![("2024-01-01", 10), ("2024-01-01", 11)]);
    assert_eq!(
        r.agents[0].figures,
        ReportFigures {
            requested: 1,
            served: 1,
            queue_wait: durations(1, 60.0, 60.0, 60.0),
            first_response: durations(1, 30.0, 30.0, 30.0),
            handle_time: durations(1, 340.0, 340.0, 340.0),
            messages_from_customers: 1,
            messages_to_customers: 1,
            alert_levels: levels(1),
            ratings: 1,
            rating_mean: Some(4.0),
            ..ReportFigures::default()
        }
    );
    assert_eq!(
        r.agents[1].figures,
        ReportFigures {
            requested: 1,
            served: 1,
            queue_wait: durations(1, 120.0, 120.0, 120.0),
            first_response: durations(1, 80.0, 80.0, 80.0),
            messages_to_customers: 1,
            transfers: 1,
            alert_levels: levels(1),
            ..ReportFigures::default()
        }
    );
    // Filters: one topic, one agent.
    let mut only = whole_day();
    only.topics = vec![d.closed];
    only.agents = vec![UserId(11)];
    let r = fx.desk.desk_report(&fx.sys(), &only).unwrap();
    assert_eq!(r.topics.len(), 1);
    assert_eq!(r.topics[0].topic_id, d.closed.0);
    assert!(r.agents.is_empty(), "agent 11 had nothing on that topic");
    let mut only = whole_day();
    only.agents = vec![UserId(11)];
    let r = fx.desk.desk_report(&fx.sys(), &only).unwrap();
    assert_eq!(r.topics.len(), 2);
    assert_eq!(r.agents.len(), 1);
    assert_eq!(r.agents[0].user_id, 11);
    // The next day holds only s5, still waiting.
    let next = DeskReportRequest::daily(utc(2024, 1, 2, 0), utc(2024, 1, 3, 0));
    let r = fx.desk.desk_report(&fx.sys(), &next).unwrap();
    assert_eq!(r.topics.len(), 1);
    assert_eq!(
        r.topics[0].figures,
        ReportFigures {
            requested: 1,
            alert_levels: levels(1),
            ..ReportFigures::default()
        }
    );
}

pub fn desk_report_buckets_by_local_hour<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let d = day(&fx);
    let mut req = whole_day();
    req.bucket = ReportBucket::Hour;
    req.time_zone = "Europe/Oslo".parse::<Tz>().unwrap();
    let r = fx.desk.desk_report(&fx.sys(), &req).unwrap();
    assert_eq!(r.time_zone, "Europe/Oslo");
    let rows: Vec<(&str, i32, u32)> = r
        .topics
        .iter()
        .map(|t| (&*t.bucket, t.topic_id, t.figures.requested))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2024-01-01T10:00+01:00", d.desk.0, 2),
            ("2024-01-01T11:00+01:00", d.desk.0, 1),
            ("2024-01-01T11:00+01:00", d.closed.0, 1),
        ]
    );
    // A local day is not a UTC day: from Tokyo (UTC+9), 09:00 and 10:00
    // UTC are the evening of the 1st, and the window's start (midnight UTC)
    // is 09:00 there.
    let mut req = whole_day();
    req.time_zone = "Asia/Tokyo".parse::<Tz>().unwrap();
    let r = fx.desk.desk_report(&fx.sys(), &req).unwrap();
    let buckets: Vec<&str> = r.topics.iter().map(|t| &*t.bucket).collect();
    assert_eq!(buckets, vec!["2024-01-01", "2024-01-01"]);
}

pub fn desk_report_rights_and_refusals<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let d = day(&fx);
    let forbidden =
        |caller: &Caller, req: &DeskReportRequest| match fx.desk.desk_report(caller, req) {
            Err(Error::Forbidden { .. }) => {}
            other => panic!("expected Forbidden, got {other:?}"),
        };
    // A manager reports on the topics they manage; named topics must be
    // among them.
    let manager = Caller::agent(UserId(12));
    let r = fx.desk.desk_report(&manager, &whole_day()).unwrap();
    assert_eq!(r.topics.len(), 2);
    let mut named = whole_day();
    named.topics = vec![d.desk];
    assert_eq!(
        fx.desk.desk_report(&manager, &named).unwrap().topics.len(),
        1
    );
    // Agent 10 responds on "desk" but manages nothing.
    forbidden(&Caller::agent(UserId(10)), &whole_day());
    let promoted = crate::wire::ChatTopicAgent {
        topic_id: d.desk.0,
        user: Some(crate::Associate::with_id(10)),
        can_listen: true,
        can_respond: true,
        can_manage: true,
        can_notify: false,
    };
    fx.desk
        .update_chat_topic_user_agent(&fx.sys(), &promoted)
        .unwrap();
    let r = fx
        .desk
        .desk_report(&Caller::agent(UserId(10)), &whole_day())
        .unwrap();
    let topics: Vec<i32> = r.topics.iter().map(|t| t.topic_id).collect();
    assert_eq!(topics, vec![d.desk.0], "only the topic 10 manages");
    let mut other = whole_day();
    other.topics = vec![d.closed];
    forbidden(&Caller::agent(UserId(10)), &other);
    forbidden(&Caller::anonymous(), &whole_day());
    let (_, key) = fx.customer_session(d.desk, "nosy");
    forbidden(&Caller::customer(key), &whole_day());
    // Callers are checked before the window, the window before topics.
    let empty = DeskReportRequest::daily(utc(2024, 1, 2, 0), utc(2024, 1, 2, 0));
    forbidden(&Caller::anonymous(), &empty);
    let mut bad = empty.clone();
    bad.topics = vec![TopicId(999)];
    match fx.desk.desk_report(&fx.sys(), &bad) {
        Err(Error::Validation { field, .. }) => assert_eq!(field, "to"),
        other => panic!("expected Validation, got {other:?}"),
    }
    let long = DeskReportRequest::daily(utc(2024, 1, 1, 0), utc(2025, 1, 3, 0));
    assert!(matches!(
        fx.desk.desk_report(&fx.sys(), &long),
        Err(Error::Validation { .. })
    ));
    let mut missing = whole_day();
    missing.topics = vec![TopicId(999)];
    assert!(matches!(
        fx.desk.desk_report(&fx.sys(), &missing),
        Err(Error::NotFound { .. })
    ));
    // Reports write nothing.
    let before = super::dump(fx.desk.storage());
    let _ = fx.desk.desk_report(&fx.sys(), &whole_day()).unwrap();
    assert_eq!(super::dump(fx.desk.storage()), before);
}

pub fn desk_report_as_csv_and_json<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let d = day(&fx);
    let r = fx.desk.desk_report(&fx.sys(), &whole_day()).unwrap();
    let csv = r.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 2 + 2);
    assert!(lines[0].starts_with("scope,id,bucket,requested,served,lost_in_queue,offline,"));
    assert_eq!(
        lines[1],
        format!(
            "topic,{},2024-01-01,3,2,1,0,60,120,120,30,80,340,340,1,2,1,0,3/0/0/0/0/0,1,4",
            d.desk.0
        )
    );
    assert_eq!(
        lines[2],
        format!(
            "topic,{},2024-01-01,1,0,0,1,,,,,,,,1,0,0,0,1/0/0/0/0/0,0,",
            d.closed.0
        )
    );
    assert!(lines[3].starts_with("agent,10,2024-01-01,1,1,0,0,60,60,60,30,30,340,340,"));
    let json = serde_json::to_string(&r).unwrap();
    let back: DeskReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["topics"][0]["requested"], 3);
    assert_eq!(v["topics"][0]["queue_wait"]["p90"], 120.0);
}
