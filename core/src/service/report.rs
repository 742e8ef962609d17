//! Desk statistics: what happened to the sessions requested in a window, per
//! topic and per agent, bucketed by hour or day in a named time zone.
//!
//! A report reads only the sessions requested in its window (the time index
//! every backend keeps, [`ReadTx::sessions_requested`]) and their messages,
//! 256 sessions per read transaction, so a report over a long window never
//! holds a read open for long (and, on a busy desk, sees its sessions at
//! slightly different moments).

use super::{ChatDesk, trace};
use crate::caller::{Caller, CallerKind};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{MessageId, SessionId, TopicId, UserId};
use crate::model::SessionRecord;
use crate::storage::{ReadTx, Storage};
use crate::wire::{ChatMessageSpecialType, ChatMessageType, ChatSessionStatus};
use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// How many sessions a report reads per read transaction.
const REPORT_BATCH: usize = 256;

/// How many messages a report reads at a time.
const MESSAGE_PAGE: usize = 512;

/// The longest window one report covers (a year and a day).
const MAX_WINDOW_DAYS: i64 = 367;

/// The alert levels a report counts separately; higher levels are counted
/// with the last.
pub const REPORT_ALERT_LEVELS: usize = 6;

/// How a report cuts its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportBucket {
    /// One bucket per hour of local time.
    Hour,
    /// One bucket per local calendar day.
    Day,
}

/// What a desk report covers: the sessions requested from `from`
/// (inclusive) to `to` (exclusive), each counted in the bucket of its
/// request time, in `time_zone`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskReportRequest {
    /// Start of the window (inclusive).
    pub from: DateTime<Utc>,
    /// End of the window (exclusive).
    pub to: DateTime<Utc>,
    /// Hourly or daily buckets.
    pub bucket: ReportBucket,
    /// The zone whose hours and days cut the buckets.
    pub time_zone: Tz,
    /// Only these topics (empty: every topic the caller may report on).
    pub topics: Vec<TopicId>,
    /// Only these agents in the per-agent rows (empty: every agent); the
    /// per-topic rows count every session of their topics.
    pub agents: Vec<UserId>,
}

impl DeskReportRequest {
    /// Daily buckets in UTC over `from..to`, every topic and agent.
    pub fn daily(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        DeskReportRequest {
            from,
            to,
            bucket: ReportBucket::Day,
            time_zone: Tz::UTC,
            topics: Vec::new(),
            agents: Vec::new(),
        }
    }
}

/// Percentiles of a set of durations, in seconds (`None` when the set is
/// empty). A percentile is the nearest-rank one: the smallest value with
/// at least that share of the values at or below it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DurationFigures {
    /// How many durations.
    pub count: u32,
    /// The median.
    pub p50: Option<f64>,
    /// The 90th percentile.
    pub p90: Option<f64>,
    /// The longest.
    pub max: Option<f64>,
}

/// What happened to one bucket's sessions (of one topic, or of one agent).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReportFigures {
    /// Sessions requested.
    pub requested: u32,
    /// Served: picked up by an agent or assigned by routing.
    pub served: u32,
    /// Lost in the queue: ended while waiting (closed by the customer, the
    /// idle sweep or anyone else), never served.
    pub lost_in_queue: u32,
    /// Offline: the offline form, or an offline request posted, never
    /// served. Served, lost and offline are disjoint; the rest of the
    /// requested are still open (or ended in the pre-chat form, the FAQ or
    /// with the bot).
    pub offline: u32,
    /// Served sessions: from the request to the first pick-up or assignment
    /// (the pre-chat form's time included).
    pub queue_wait: DurationFigures,
    /// Served sessions an agent answered: from the pick-up or assignment to
    /// the agent's first message.
    pub first_response: DurationFigures,
    /// Served sessions that ended: from the pick-up or assignment to the end.
    pub handle_time: DurationFigures,
    /// Messages the customers wrote.
    pub messages_from_customers: u32,
    /// Messages to the customers (agents' and the bot's).
    pub messages_to_customers: u32,
    /// Transfers accepted.
    pub transfers: u32,
    /// Times routing took a session back from an agent who did not answer.
    pub answer_timeouts: u32,
    /// Sessions by the highest alert level they reached: index `i` counts
    /// level `i`, the last index also every level above.
    pub alert_levels: Vec<u32>,
    /// Sessions the customer rated.
    pub ratings: u32,
    /// Their mean rating.
    pub rating_mean: Option<f64>,
}

/// One topic's figures in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicReportRow {
    /// The bucket: local `YYYY-MM-DD` (days) or `YYYY-MM-DDTHH:00±hh:mm`
    /// (hours).
    pub bucket: String,
    /// The topic.
    pub topic_id: i32,
    /// What happened.
    #[serde(flatten)]
    pub figures: ReportFigures,
}

/// One agent's figures in one bucket: the sessions they had at the end
/// (after any transfer), so each session counts for one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReportRow {
    /// The bucket, as in [`TopicReportRow::bucket`].
    pub bucket: String,
    /// The agent.
    pub user_id: i32,
    /// What happened.
    #[serde(flatten)]
    pub figures: ReportFigures,
}

/// A desk report (chatdesk's own carrier, not SuperOffice's): rows by
/// bucket, then topic or agent id; buckets and topics without sessions
/// have no row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeskReport {
    /// Start of the window (RFC 3339, UTC).
    pub from: String,
    /// End of the window (RFC 3339, UTC, exclusive).
    pub to: String,
    /// How the window is cut.
    pub bucket: ReportBucket,
    /// The zone of the buckets (IANA name).
    pub time_zone: String,
    /// Per topic.
    pub topics: Vec<TopicReportRow>,
    /// Per agent.
    pub agents: Vec<AgentReportRow>,
}

const CSV_HEADER: &str = "scope,id,bucket,requested,served,lost_in_queue,offline,\
queue_wait_p50,queue_wait_p90,queue_wait_max,first_response_p50,first_response_p90,\
handle_time_p50,handle_time_p90,messages_from_customers,messages_to_customers,transfers,\
answer_timeouts,alert_levels,ratings,rating_mean";

impl DeskReport {
    /// The report as CSV: a header line, then one line per row (`scope`
    /// `topic` or `agent`), durations in seconds, empty where there is no
    /// value, alert levels as `n0/n1/…`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(CSV_HEADER);
        out.push('\n');
        for r in &self.topics {
            csv_line(&mut out, "topic", r.topic_id, &r.bucket, &r.figures);
        }
        for r in &self.agents {
            csv_line(&mut out, "agent", r.user_id, &r.bucket, &r.figures);
        }
        out
    }
}

fn csv_line(out: &mut String, scope: &str, id: i32, bucket: &str, f: &ReportFigures) {
    fn num(out: &mut String, v: Option<f64>) {
        out.push(',');
        if let Some(v) = v {
            let _ = write!(out, "{v}");
        }
    }
    let _ = write!(
        out,
        "{scope},{id},{bucket},{},{},{},{}",
        f.requested, f.served, f.lost_in_queue, f.offline
    );
    num(out, f.queue_wait.p50);
    num(out, f.queue_wait.p90);
    num(out, f.queue_wait.max);
    num(out, f.first_response.p50);
    num(out, f.first_response.p90);
    num(out, f.handle_time.p50);
    num(out, f.handle_time.p90);
    let levels: Vec<String> = f.alert_levels.iter().map(u32::to_string).collect();
    let _ = write!(
        out,
        ",{},{},{},{},{},{}",
        f.messages_from_customers,
        f.messages_to_customers,
        f.transfers,
        f.answer_timeouts,
        levels.join("/"),
        f.ratings
    );
    num(out, f.rating_mean);
    out.push('\n');
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted `v`.
fn percentile(v: &[f64], p: usize) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = (p * v.len()).div_ceil(100).max(1);
    v.get(rank - 1).copied()
}

fn figures_of(mut v: Vec<f64>) -> DurationFigures {
    v.sort_by(f64::total_cmp);
    DurationFigures {
        count: u32::try_from(v.len()).unwrap_or(u32::MAX),
        p50: percentile(&v, 50),
        p90: percentile(&v, 90),
        max: v.last().copied(),
    }
}

fn seconds_between(later: Timestamp, earlier: Timestamp) -> f64 {
    // 100 ns ticks; a negative span (a clock set back) counts as none.
    #[allow(clippy::cast_precision_loss)]
    let s = later.ticks_since(earlier).max(0) as f64 / 10_000_000.0;
    s
}

/// One session as a report counts it.
struct Seen {
    topic: TopicId,
    agent: Option<UserId>,
    bucket: (i64, String),
    served: bool,
    lost: bool,
    offline: bool,
    queue_wait: Option<f64>,
    first_response: Option<f64>,
    handle_time: Option<f64>,
    from_customers: u32,
    to_customers: u32,
    transfers: u32,
    answer_timeouts: u32,
    alert_level: usize,
    rating: Option<i32>,
}

/// The figures being gathered for one row.
#[derive(Default)]
struct Acc {
    requested: u32,
    served: u32,
    lost: u32,
    offline: u32,
    queue_wait: Vec<f64>,
    first_response: Vec<f64>,
    handle_time: Vec<f64>,
    from_customers: u32,
    to_customers: u32,
    transfers: u32,
    answer_timeouts: u32,
    alert_levels: Vec<u32>,
    ratings: Vec<i32>,
}

impl Acc {
    fn add(&mut self, s: &Seen) {
        self.requested += 1;
        self.served += u32::from(s.served);
        self.lost += u32::from(s.lost);
        self.offline += u32::from(s.offline);
        self.queue_wait.extend(s.queue_wait);
        self.first_response.extend(s.first_response);
        self.handle_time.extend(s.handle_time);
        self.from_customers += s.from_customers;
        self.to_customers += s.to_customers;
        self.transfers += s.transfers;
        self.answer_timeouts += s.answer_timeouts;
        if self.alert_levels.is_empty() {
            self.alert_levels = vec![0; REPORT_ALERT_LEVELS];
        }
        if let Some(n) = self.alert_levels.get_mut(s.alert_level) {
            *n += 1;
        }
        self.ratings.extend(s.rating);
    }

    fn finish(self) -> ReportFigures {
        let first = figures_of(self.first_response);
        let handle = figures_of(self.handle_time);
        #[allow(clippy::cast_precision_loss)]
        let rating_mean = (!self.ratings.is_empty()).then(|| {
            self.ratings.iter().map(|&r| f64::from(r)).sum::<f64>() / self.ratings.len() as f64
        });
        ReportFigures {
            requested: self.requested,
            served: self.served,
            lost_in_queue: self.lost,
            offline: self.offline,
            queue_wait: figures_of(self.queue_wait),
            first_response: first,
            handle_time: handle,
            messages_from_customers: self.from_customers,
            messages_to_customers: self.to_customers,
            transfers: self.transfers,
            answer_timeouts: self.answer_timeouts,
            alert_levels: self.alert_levels,
            ratings: u32::try_from(self.ratings.len()).unwrap_or(u32::MAX),
            rating_mean,
        }
    }
}

/// The bucket of instant `at`: its start (for ordering) and its label.
fn bucket_of(at: DateTime<Utc>, bucket: ReportBucket, tz: Tz) -> (i64, String) {
    let local = at.with_timezone(&tz);
    match bucket {
        ReportBucket::Hour => {
            let into = i64::from(local.minute()) * 60 + i64::from(local.second());
            let start = local
                - ChronoDuration::seconds(into)
                - ChronoDuration::nanoseconds(i64::from(local.nanosecond()));
            (
                start.timestamp(),
                start.format("%Y-%m-%dT%H:%M%:z").to_string(),
            )
        }
        ReportBucket::Day => {
            let date = local.date_naive();
            // Local midnight, or the first instant of the day where
            // midnight does not exist (a clock change at midnight).
            let start = tz
                .from_local_datetime(&date.and_time(NaiveTime::MIN))
                .earliest()
                .map_or_else(
                    || at.timestamp() - i64::from(local.num_seconds_from_midnight()),
                    |s| s.timestamp(),
                );
            (
                start,
                format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day()),
            )
        }
    }
}

fn is_offline(status: ChatSessionStatus) -> bool {
    matches!(
        status,
        ChatSessionStatus::OfflineForm | ChatSessionStatus::RequestPosted
    )
}

/// Counts one session's messages: (from customers, to customers,
/// transfers).
fn count_messages(tx: &dyn ReadTx, id: SessionId) -> Result<(u32, u32, u32)> {
    let (mut from, mut to, mut transfers) = (0u32, 0u32, 0u32);
    let mut after = MessageId(0);
    loop {
        let page = tx.messages(id, after, MESSAGE_PAGE)?;
        for m in &page {
            match m.kind {
                ChatMessageType::ToUser => from += 1,
                ChatMessageType::ToCustomer => to += 1,
                _ => {}
            }
            if m.special == ChatMessageSpecialType::TransferedSession {
                transfers += 1;
            }
        }
        match page.last() {
            Some(m) if page.len() == MESSAGE_PAGE => after = m.id,
            _ => return Ok((from, to, transfers)),
        }
    }
}

fn seen(tx: &dyn ReadTx, s: &SessionRecord, req: &DeskReportRequest) -> Result<Seen> {
    let requested = s.when_requested.to_datetime().unwrap_or(req.from);
    let served = s.when_started.is_some();
    let (from_customers, to_customers, transfers) = count_messages(tx, s.id)?;
    Ok(Seen {
        topic: s.topic,
        agent: s.user.filter(|_| served),
        bucket: bucket_of(requested, req.bucket, req.time_zone),
        served,
        lost: !served && s.status == ChatSessionStatus::ClosedFromQueue,
        offline: !served && is_offline(s.status),
        queue_wait: s.when_started.map(|t| seconds_between(t, s.when_requested)),
        first_response: s
            .when_started
            .zip(s.stats.first_answer_at)
            .map(|(start, first)| seconds_between(first, start)),
        handle_time: s
            .when_started
            .zip(s.when_ended)
            .map(|(start, end)| seconds_between(end, start)),
        from_customers,
        to_customers,
        transfers,
        answer_timeouts: u32::try_from(s.stats.answer_timeouts.max(0)).unwrap_or(0),
        alert_level: usize::try_from(s.stats.max_alert_level.max(s.alert_level).max(0))
            .unwrap_or(0)
            .min(REPORT_ALERT_LEVELS - 1),
        rating: (s.rating > 0).then_some(s.rating),
    })
}

impl<S: Storage> ChatDesk<S> {
    /// What happened to the sessions requested in a window, per topic and
    /// per agent, by hour or day in a time zone ([`DeskReport`]; CSV with
    /// [`DeskReport::to_csv`]). Each session counts in the bucket of its
    /// request time, for its topic and for the agent who had it at the end.
    ///
    /// Rights: System reports on every topic; an agent on the topics they
    /// manage (with no topics named: all of them).
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) for customers and anonymous
    /// callers, for an agent who manages none of the topics, or who names a
    /// topic they do not manage; [`Validation`](crate::Error::Validation)
    /// (`to`) when the window is empty or longer than 367 days;
    /// [`NotFound`](crate::Error::NotFound) for a named topic that does not
    /// exist; the backend's failure.
    pub fn desk_report(&self, caller: &Caller, req: &DeskReportRequest) -> Result<DeskReport> {
        const OP: &str = "desk_report";
        let _op = trace::op(OP, caller);
        let manager = match &caller.kind {
            CallerKind::System => None,
            CallerKind::Agent(u) => Some(*u),
            CallerKind::Customer(_) | CallerKind::Anonymous => {
                return Err(Error::forbidden(
                    OP,
                    "only System and topic managers report",
                ));
            }
        };
        if req.to <= req.from {
            return Err(Error::validation("to", "the window ends before it starts"));
        }
        if req.to - req.from > ChronoDuration::days(MAX_WINDOW_DAYS) {
            return Err(Error::validation(
                "to",
                format!("a report covers at most {MAX_WINDOW_DAYS} days"),
            ));
        }
        let topics: BTreeSet<TopicId> = self.read(|tx| {
            let mut topics = BTreeSet::new();
            for &t in &req.topics {
                if tx.topic(t)?.is_none() {
                    return Err(Error::not_found("topic", t));
                }
                topics.insert(t);
            }
            if let Some(me) = manager {
                let managed: BTreeSet<TopicId> = tx
                    .user_memberships(me)?
                    .into_iter()
                    .filter(|m| m.can_manage)
                    .map(|m| m.topic)
                    .collect();
                if let Some(t) = topics.iter().find(|t| !managed.contains(t)) {
                    return Err(Error::forbidden(OP, format!("not a manager of topic {t}")));
                }
                if topics.is_empty() {
                    if managed.is_empty() {
                        return Err(Error::forbidden(OP, "a manager of no topic"));
                    }
                    topics = managed;
                }
            }
            Ok(topics)
        })?;
        let agents: BTreeSet<UserId> = req.agents.iter().copied().collect();
        let wanted_topic = |t: TopicId| topics.is_empty() || topics.contains(&t);
        let wanted_agent = |u: UserId| agents.is_empty() || agents.contains(&u);

        let mut per_topic: BTreeMap<((i64, String), TopicId), Acc> = BTreeMap::new();
        let mut per_agent: BTreeMap<((i64, String), UserId), Acc> = BTreeMap::new();
        let before = Timestamp::from_datetime(req.to);
        let mut cursor = (Timestamp::from_datetime(req.from), SessionId(i32::MIN));
        loop {
            let last = self.read(|tx| {
                let batch = tx.sessions_requested(cursor, before, REPORT_BATCH)?;
                for s in &batch {
                    if !wanted_topic(s.topic) {
                        continue;
                    }
                    let seen = seen(tx, s, req)?;
                    per_topic
                        .entry((seen.bucket.clone(), seen.topic))
                        .or_default()
                        .add(&seen);
                    if let Some(u) = seen.agent.filter(|u| wanted_agent(*u)) {
                        per_agent
                            .entry((seen.bucket.clone(), u))
                            .or_default()
                            .add(&seen);
                    }
                }
                Ok(batch.last().map(|s| (s.when_requested, s.id)))
            })?;
            match last {
                Some(c) => cursor = c,
                None => break,
            }
        }
        Ok(DeskReport {
            from: req.from.to_rfc3339(),
            to: req.to.to_rfc3339(),
            bucket: req.bucket,
            time_zone: req.time_zone.name().to_string(),
            topics: per_topic
                .into_iter()
                .map(|(((_, bucket), t), acc)| TopicReportRow {
                    bucket,
                    topic_id: t.0,
                    figures: acc.finish(),
                })
                .collect(),
            agents: per_agent
                .into_iter()
                .map(|(((_, bucket), u), acc)| AgentReportRow {
                    bucket,
                    user_id: u.0,
                    figures: acc.finish(),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50), Some(5.0));
        assert_eq!(percentile(&v, 90), Some(9.0));
        assert_eq!(percentile(&v, 100), Some(10.0));
        assert_eq!(percentile(&[7.0], 50), Some(7.0));
        assert_eq!(percentile(&[7.0], 90), Some(7.0));
        assert_eq!(percentile(&[], 50), None);
        let f = figures_of(vec![3.0, 1.0, 2.0]);
        assert_eq!(
            (f.count, f.p50, f.p90, f.max),
            (3, Some(2.0), Some(3.0), Some(3.0))
        );
    }

    #[test]
    fn buckets_follow_the_zone_across_a_clock_change() {
        let oslo: Tz = "Europe/Oslo".parse().unwrap_or(Tz::UTC);
        // 2024-03-31 01:30 UTC is 03:30 summer time (+02:00), just after
        // the clocks went from 02:00 to 03:00.
        let at = Utc.with_ymd_and_hms(2024, 3, 31, 1, 30, 0).single();
        let at = at.unwrap_or_default();
        assert_eq!(
            bucket_of(at, ReportBucket::Hour, oslo).1,
            "2024-03-31T03:00+02:00"
        );
        // The day still starts at local midnight (+01:00 then).
        let (start, label) = bucket_of(at, ReportBucket::Day, oslo);
        assert_eq!(label, "2024-03-31");
        assert_eq!(
            start,
            Utc.with_ymd_and_hms(2024, 3, 30, 23, 0, 0)
                .single()
                .map_or(0, |d| d.timestamp())
        );
        // Kolkata is +05:30: hours start at :30 UTC.
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap_or(Tz::UTC);
        let at = Utc
            .with_ymd_and_hms(2024, 1, 1, 9, 10, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(
            bucket_of(at, ReportBucket::Hour, kolkata).1,
            "2024-01-01T14:00+05:30"
        );
    }
}
