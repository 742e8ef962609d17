//! How long a waiting customer will wait: from their place in the queue and
//! the topic's recent service, not from the topic's average alone.
//!
//! The model: agents free chat slots one after another, and a customer at
//! position `n` is served once `n` slots have freed for them, less the
//! slots free right now (a present responder below capacity takes the next
//! waiting customer). The rate at which slots free up is, in order:
//! - the present responders' chats turning over: the chats going on over
//!   their mean age (an exponential chat's age is, on average, its
//!   length), when at least three are going on;
//! - the topic's pick-ups and routed assignments of the last 30 minutes,
//!   found through the request-time index (the sessions requested in the
//!   last hour), when there are at least three;
//! - else the topic's average wait per pick-up (SuperOffice's `{cavw}`)
//!   times the position, or nothing.
//!
//! The range is the wider of two: the 10th and 90th percentiles of the
//! time the needed slots take if they free up at random at that rate
//! (wide for a short queue), and 0.8 to 1.75 times the point estimate for
//! the rate moving while the customer waits (wide for a long queue; the
//! factors measured in the desk simulation, see the README).

use super::sessions::{queue_position_of, visible_session};
use super::{ChatDesk, Who, trace};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::ids::{SessionId, TopicId};
use crate::model::{SessionRecord, TopicRecord};
use crate::storage::{ReadTx, Storage};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The window of recent service the rate is measured over (seconds).
const SERVICE_WINDOW: i64 = 30 * 60;

/// Fewer pick-ups than this in the window: no rate from them.
const MIN_SERVED: usize = 3;

/// Fewer chats going on than this: their turnover says too little.
const MIN_BUSY: usize = 3;

/// The shortest mean chat length the turnover assumes (seconds): chats all
/// just begun say little about how long chats last.
const MIN_CHAT_SECONDS: f64 = 60.0;

/// What an estimate rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitBasis {
    /// A present agent has room now: the customer is next for them.
    FreeAgent,
    /// The pick-ups and assignments of the last 30 minutes.
    RecentService,
    /// The present agents' chats turning over: chats going on over their
    /// mean age.
    Turnover,
    /// The topic's average wait per pick-up times the position.
    TopicAverage,
    /// Nothing to go on (no agent present, no history).
    Unknown,
}

/// An estimate of a waiting customer's wait (chatdesk's own carrier).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WaitEstimate {
    /// The customer's position in the topic's human queue (1 = next).
    pub position: u32,
    /// The expected wait from now, in seconds.
    pub seconds: f64,
    /// The short end of the range (8 waits in 10 fall in it), in seconds.
    pub low_seconds: f64,
    /// The long end of the range, in seconds.
    pub high_seconds: f64,
    /// What the estimate rests on.
    pub basis: WaitBasis,
}

/// How far the service rate may move while a customer waits, as factors on
/// the point estimate: measured in the desk simulation (`benches`, bin
/// `estimates`), where waits ran longer than the turnover said more often
/// than shorter (agents leaving before the queue reaches the customer),
/// half of them by more than 30 %.
const RATE_LOW: f64 = 0.8;
const RATE_HIGH: f64 = 1.75;

/// The standard normal's 90th percentile.
const Z90: f64 = 1.281_551_565_545;

/// The `p`-quantile (through `z`, the normal's) of the time `m` events of a
/// Poisson process with rate 1 take: Gamma(m, 1), by Wilson and Hilferty's
/// cube-root approximation (within a few percent from m = 1 up).
fn gamma_quantile(m: f64, z: f64) -> f64 {
    let c = 1.0 - 1.0 / (9.0 * m) + z / (3.0 * m.sqrt());
    (m * c * c * c).max(0.0)
}

/// How long a topic's measured recent service is reused (seconds of the
/// desk's clock): customers poll their estimate, and the measure reads an
/// hour of requests.
const SERVICE_REUSE: i64 = 10;

/// Each topic's recent service as last measured, and when: reused for
/// [`SERVICE_REUSE`] seconds by this desk (another process's pick-ups show
/// after that).
#[derive(Debug, Default)]
pub(crate) struct ServiceCache(Mutex<HashMap<TopicId, (Timestamp, Service)>>);

/// Pick-ups in the window, and the mean length of the chats that ended in
/// it.
type Service = (usize, Option<f64>);

impl ServiceCache {
    fn get(&self, tx: &dyn ReadTx, topic: TopicId, now: Timestamp) -> Result<Service> {
        if let Some((at, s)) = self.0.lock().get(&topic)
            && now.0 >= at.0
            && now.whole_seconds_since(*at) < SERVICE_REUSE
        {
            return Ok(*s);
        }
        let s = recent_service(tx, topic, now)?;
        self.0.lock().insert(topic, (now, s));
        Ok(s)
    }
}

/// What the topic's recent service says: (pick-ups in the window, mean
/// length of the chats that ended in it).
fn recent_service(tx: &dyn ReadTx, topic: TopicId, now: Timestamp) -> Result<(usize, Option<f64>)> {
    let since = now.plus_seconds(-SERVICE_WINDOW);
    let mut cursor = (now.plus_seconds(-2 * SERVICE_WINDOW), SessionId(i32::MIN));
    let (mut served, mut lengths, mut total) = (0usize, 0usize, 0f64);
    loop {
        let page = tx.sessions_requested(cursor, Timestamp(now.0.saturating_add(1)), 512)?;
        let Some(last) = page.last() else { break };
        cursor = (last.when_requested, last.id);
        for s in page.iter().filter(|s| s.topic == topic) {
            let Some(started) = s.when_started else {
                continue;
            };
            if started.0 >= since.0 && started.0 <= now.0 {
                served += 1;
            }
            if let Some(ended) = s.when_ended
                && ended.0 >= since.0
            {
                lengths += 1;
                #[allow(clippy::cast_precision_loss)]
                let secs = ended.ticks_since(started).max(0) as f64 / 10_000_000.0;
                total += secs;
            }
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = (lengths > 0).then(|| total / lengths as f64);
    Ok((served, mean))
}

/// What the present responders of a topic have now.
#[derive(Debug, Default)]
struct Agents {
    /// Free chat slots (capacity less load, none below zero).
    free: i64,
    /// Chats going on.
    busy: usize,
    /// Their ages added up (seconds).
    ages: f64,
}

fn agents(tx: &dyn ReadTx, t: &TopicRecord, now: Timestamp) -> Result<Agents> {
    let mut a = Agents::default();
    for m in tx.topic_members(t.id)? {
        if !m.can_respond || !tx.presence(m.user)?.is_some_and(|p| p.present) {
            continue;
        }
        let cap = tx
            .agent(m.user)?
            .and_then(|r| r.max_chats)
            .unwrap_or(t.routing.default_capacity)
            .max(1);
        let chats = tx.active_sessions(m.user)?;
        let load = i32::try_from(chats.len()).unwrap_or(i32::MAX);
        a.free += i64::from((cap - load).max(0));
        for c in &chats {
            if let Some(started) = c.when_started {
                a.busy += 1;
                #[allow(clippy::cast_precision_loss)]
                let age = now.ticks_since(started).max(0) as f64 / 10_000_000.0;
                a.ages += age;
            }
        }
    }
    Ok(a)
}

fn estimate(
    tx: &dyn ReadTx,
    cache: &ServiceCache,
    s: &SessionRecord,
    position: u32,
    now: Timestamp,
) -> Result<WaitEstimate> {
    let at = |seconds: f64, low: f64, high: f64, basis| WaitEstimate {
        position,
        seconds,
        low_seconds: low,
        high_seconds: high,
        basis,
    };
    let Some(t) = tx.topic(s.topic)? else {
        return Ok(at(0.0, 0.0, 0.0, WaitBasis::Unknown));
    };
    let agents = agents(tx, &t, now)?;
    let free = agents.free;
    let n = i64::from(position);
    let next_for_free_agent = n <= free;
    #[allow(clippy::cast_precision_loss)]
    let window = SERVICE_WINDOW as f64;
    // Slots freed per second: the present agents' chats turn over (an
    // exponential chat's age is, on average, its length); with few chats
    // going on, the pick-ups of the last 30 minutes.
    #[allow(clippy::cast_precision_loss)]
    let (rate, basis) = if agents.busy >= MIN_BUSY {
        let mean_age = (agents.ages / agents.busy as f64).max(MIN_CHAT_SECONDS);
        (agents.busy as f64 / mean_age, WaitBasis::Turnover)
    } else {
        let (served, _) = cache.get(tx, s.topic, now)?;
        if served >= MIN_SERVED {
            (served as f64 / window, WaitBasis::RecentService)
        } else if next_for_free_agent {
            return Ok(at(0.0, 0.0, 0.0, WaitBasis::FreeAgent));
        } else if t.last_accept.is_some() && t.seconds_pr_accept > 0 {
            let each = f64::from(t.seconds_pr_accept);
            #[allow(clippy::cast_precision_loss)]
            let point = each * n as f64;
            return Ok(at(point, 0.0, 2.0 * point, WaitBasis::TopicAverage));
        } else {
            return Ok(at(0.0, 0.0, 0.0, WaitBasis::Unknown));
        }
    };
    if next_for_free_agent {
        // Next for an agent with room: about one slot's time at most.
        let slot = 1.0 / rate;
        return Ok(at(0.5 * slot, 0.0, slot, WaitBasis::FreeAgent));
    }
    #[allow(clippy::cast_precision_loss)]
    let m = (n - free) as f64;
    let point = m / rate;
    // The wider of two ranges: slots freeing at random at this rate (wide
    // for a short queue), and the rate itself moving while the customer
    // waits (agents leave, chats run long; wide for a long queue).
    let low = (gamma_quantile(m, -Z90) / rate).min(point * RATE_LOW);
    let high = (gamma_quantile(m, Z90) / rate).max(point * RATE_HIGH);
    Ok(at(point, low, high, basis))
}

impl<S: Storage> ChatDesk<S> {
    /// How long the session's customer will probably wait: a point estimate
    /// and a range (8 in 10), from their queue position, the topic's
    /// pick-ups and assignments of the last 30 minutes, and the present
    /// agents' free capacity (the model: [`WaitEstimate`] and the crate's
    /// README). `None` when the session is not in the human queue. Like
    /// [`ChatDesk::get_queue_position`], a customer asking counts as seen.
    /// The topic's `{cavw}` (its average alone) is unchanged.
    ///
    /// Cost: it reads the topic's members, and the sessions requested in the
    /// last hour on every topic (the request-time index); that measure of
    /// recent service is reused by this desk for 10 seconds.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) when there is no such session or
    /// the caller may not see it; the backend's failure.
    pub fn estimate_wait(&self, caller: &Caller, id: SessionId) -> Result<Option<WaitEstimate>> {
        let _op = trace::op("estimate_wait", caller).session(id);
        let now = self.now();
        let (s, rel, out) = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let (s, rel, _) = visible_session(tx, who, id)?;
            let out = match queue_position_of(tx, &s)? {
                Some(p) => Some(estimate(tx, &self.service_cache, &s, p, now)?),
                None => None,
            };
            Ok((s, rel, out))
        })?;
        self.customer_seen(&rel, s)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_quantiles_are_close() {
        // Exact 10th / 90th percentiles of Gamma(m, 1).
        for (m, q10, q90) in [
            (1.0, 0.105_36, std::f64::consts::LN_10),
            (4.0, 1.744_72, 6.680_52),
            (16.0, 11.229_6, 21.289_4),
        ] {
            let lo = gamma_quantile(m, -Z90);
            let hi = gamma_quantile(m, Z90);
            assert!((lo - q10).abs() / q10 < 0.15, "m {m}: {lo} vs {q10}");
            assert!((hi - q90).abs() / q90 < 0.03, "m {m}: {hi} vs {q90}");
        }
    }
}
