//! Runs one case against the reference model and a service over a real
//! storage, step by step, comparing every answer; compares the whole
//! observable state every [`FULL_CHECK_EVERY`] steps and at the end.
//!
//! Routing is checked after every step from one consistent
//! snapshot of the store ([`RoutingSnapshot`]): the invariant of the rules;
//! every routed assignment the step made, against the model's choice among
//! the eligible agents; and every session's and agent's routing state.

use super::ops::{AGENTS, CallerSel, Case, Op};
use super::reference::{
    Assignment, Customer, Explanation, Fail, Model, RChange, Rights, RoutingCfg, Seen, TopicCfg,
    Verdict, Who,
};
use crate::clock::Timestamp;
use crate::model::{AgentRecord, SessionRecord};
use crate::storage::{Storage, StorageExt};
use crate::testkit::routing_live::RoutingSnapshot;
use crate::testkit::{Fixture, dump};
use crate::wire::{
    ChatMessage, ChatMessageSpecialType, ChatPresence, ChatSessionEntity, ChatTopicAgent,
    ChatTopicRouting, CustomerFieldFlags, RoutingMode, RoutingStrategy, WireDateTime,
};
use crate::{
    Associate, Caller, ChatAgentCapacity, Error, RoutingChange, RoutingExplanation, RoutingVerdict,
    SessionId, TopicId, UserId,
};
use std::collections::{BTreeMap, HashMap};

/// The whole observable state is compared this often (and at the end).
pub const FULL_CHECK_EVERY: usize = 100;

/// A mismatch, as text.
pub type Mismatch = String;

macro_rules! same {
    ($real:expr, $model:expr, $($ctx:tt)+) => {{
        let (r, m) = (&$real, &$model);
        if r != m {
            return Err(format!(
                "{}: service {:?} != model {:?}",
                format!($($ctx)+),
                r,
                m
            ));
        }
    }};
}

/// The kind of a service error, as the model names it.
pub fn fail_of(e: &Error) -> Fail {
    match e {
        Error::NotFound { .. } => Fail::NotFound,
        Error::Forbidden { .. } => Fail::Forbidden,
        Error::InvalidTransition { .. } => Fail::InvalidTransition,
        Error::Validation { field, .. } => Fail::Validation(field.clone()),
        Error::FieldRightDenied { field, .. } => Fail::FieldRightDenied(field.clone()),
        Error::Conflict { .. } => Fail::Conflict,
        other => Fail::Validation(format!("UNEXPECTED {other}")),
    }
}

fn kind<T>(r: &crate::Result<T>) -> Result<(), Fail> {
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(fail_of(e)),
    }
}

fn secs(t: &WireDateTime) -> Option<i64> {
    t.to_utc().map(|d| d.timestamp())
}

/// The status and User of a session a lifecycle operation returned.
fn returned_of(
    r: &crate::Result<ChatSessionEntity>,
) -> Option<(crate::ChatSessionStatus, Option<i32>)> {
    r.as_ref()
        .ok()
        .map(|e| (e.status, e.user.as_ref().and_then(Associate::id)))
}

fn ts_secs(t: Timestamp) -> i64 {
    t.to_datetime().map_or(i64::MIN, |d| d.timestamp())
}

/// What routing did over a run, for the printed stats.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoutingCounts {
    /// Routed assignments.
    pub assigned: usize,
    /// Of those, the ones made by a routing sweep.
    pub assigned_in_sweeps: usize,
    /// Assignments with two or more eligible agents (the strategy chose).
    pub contested: usize,
    /// Of those, on LongestIdle topics.
    pub contested_longest_idle: usize,
    pub answer_timeouts: usize,
    pub transfer_timeouts: usize,
}

impl RoutingCounts {
    pub fn add(&mut self, o: &RoutingCounts) {
        self.assigned += o.assigned;
        self.assigned_in_sweeps += o.assigned_in_sweeps;
        self.contested += o.contested;
        self.contested_longest_idle += o.contested_longest_idle;
        self.answer_timeouts += o.answer_timeouts;
        self.transfer_timeouts += o.transfer_timeouts;
    }
}

fn carrier_of(topic: TopicId, r: &RoutingCfg) -> ChatTopicRouting {
    ChatTopicRouting {
        chat_topic_id: topic.0,
        mode: if r.auto {
            RoutingMode::Auto
        } else {
            RoutingMode::Manual
        },
        strategy: if r.longest_idle {
            RoutingStrategy::LongestIdle
        } else {
            RoutingStrategy::LeastBusy
        },
        default_capacity: r.default_capacity,
        answer_timeout_seconds: r.answer_timeout,
        transfer_timeout_seconds: r.transfer_timeout,
    }
}

fn cfg_of(c: &ChatTopicRouting) -> RoutingCfg {
    RoutingCfg {
        auto: c.mode == RoutingMode::Auto,
        longest_idle: c.strategy == RoutingStrategy::LongestIdle,
        default_capacity: c.default_capacity,
        answer_timeout: c.answer_timeout_seconds,
        transfer_timeout: c.transfer_timeout_seconds,
    }
}

fn verdict_of(v: RoutingVerdict) -> Verdict {
    match v {
        RoutingVerdict::NotPresent => Verdict::NotPresent,
        RoutingVerdict::Excluded => Verdict::Excluded,
        RoutingVerdict::AtCapacity { load, capacity } => Verdict::AtCapacity(load, capacity),
        RoutingVerdict::Eligible { load, capacity } => Verdict::Eligible(load, capacity),
    }
}

/// A session's state as routing sees it: status, user, pending transfer's
/// target, queue sequence and entry time, routed-at, answered (while
/// routed), exclusion set, pending transfer's request time.
type RouteState = (
    crate::ChatSessionStatus,
    Option<i32>,
    Option<i32>,
    Option<u64>,
    Option<i64>,
    Option<i64>,
    bool,
    Vec<i32>,
    Option<i64>,
);

fn route_state_of(r: &SessionRecord) -> RouteState {
    let pending = r.pending_transfer_to();
    (
        r.status,
        r.user.map(|u| u.0),
        pending.map(|u| u.0),
        r.queue_seq,
        r.queue_entered.map(ts_secs),
        r.routing.routed_at.map(ts_secs),
        r.routing.routed_at.is_some() && r.routing.answered,
        r.routing.excluded.iter().map(|u| u.0).collect(),
        pending.and(r.routing.transfer_requested_at.map(ts_secs)),
    )
}

fn model_route_state(m: &super::reference::MSession) -> RouteState {
    (
        m.status,
        m.user,
        m.transfer_to,
        m.seq,
        m.queue_entered,
        m.routed_at,
        m.routed_at.is_some() && m.answered,
        m.excluded.iter().copied().collect(),
        m.transfer_to.and(m.transfer_at),
    )
}

/// Which callers a step draws most often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefer {
    Customer,
    Agent,
    TransferTo,
    Manager,
}

/// The model, the service, and the map from creation order to ids and keys.
#[derive(Debug)]
pub struct Driver<S: Storage> {
    pub fx: Fixture<S>,
    pub model: Model,
    sessions: Vec<(SessionId, String)>,
    index: HashMap<SessionId, usize>,
    topics: Vec<TopicId>,
    /// Compare `dump` before and after every failed step.
    pub check_unchanged: bool,
    /// Outcomes per operation, when asked for (`CHATDESK_MODEL_STATS=1`).
    pub stats:
        Option<std::sync::Arc<parking_lot::Mutex<std::collections::BTreeMap<String, usize>>>>,
    /// What routing did in this case.
    pub counts: RoutingCounts,
    /// The agent records of the last snapshot (a failed step must leave
    /// them as they were).
    agents_before: BTreeMap<UserId, AgentRecord>,
    /// With the change feed on: the last event seen.
    feed_cursor: Option<i64>,
}

fn topic_entity(fx_name: &str, cfg: &TopicCfg, t: &mut crate::ChatTopicEntity) {
    t.name = fx_name.to_string();
    t.widget.pre_form_enabled = cfg.pre_form;
    t.widget.auto_faq_enabled = cfg.auto_faq;
    t.bot_enabled = cfg.bot;
    t.bot_settings.bot_name = "Bot".into();
    t.collect_consent = cfg.consent;
    let bits = if cfg.req_name { 2 } else { 0 } | if cfg.req_email { 1 } else { 0 };
    t.widget.required_fields = CustomerFieldFlags::from_bits(bits).unwrap_or_default();
    t.welcome_message = if cfg.welcome {
        "Welcome!".into()
    } else {
        String::new()
    };
    t.warn_new_chat_minutes = cfg.warn[0];
    t.warn_manager_new_chat_minutes = cfg.warn[1];
    t.warn_chat_message_minutes = cfg.warn[2];
    t.warn_manager_chat_message_minutes = cfg.warn[3];
    t.use_queue_offline_form = cfg.queue_offline;
    t.offline_form_time_limit = cfg.offline_minutes;
    t.offline_form_queue_length = cfg.offline_length;
    t.widget_enable_rating = cfg.rating;
    if cfg.hours {
        t.opening_hours_enabled = true;
        let h = &mut t.opening_hours;
        for (en, start, stop) in [
            (&mut h.mon_enabled, &mut h.mon_start, &mut h.mon_stop),
            (&mut h.tue_enabled, &mut h.tue_start, &mut h.tue_stop),
            (&mut h.wed_enabled, &mut h.wed_start, &mut h.wed_stop),
            (&mut h.thu_enabled, &mut h.thu_start, &mut h.thu_stop),
            (&mut h.fri_enabled, &mut h.fri_start, &mut h.fri_stop),
        ] {
            *en = true;
            *start = "08:00".into();
            *stop = "17:00".into();
        }
    }
}

fn entity_of(c: &Customer) -> ChatSessionEntity {
    ChatSessionEntity {
        customer_alias: if c.alias_too_long {
            "a".repeat(65)
        } else {
            "alias".into()
        },
        customer_name: c.name.clone(),
        customer_email: c.email.clone(),
        customer_consented: c.consented,
        ..ChatSessionEntity::default()
    }
}

impl<S: Storage> Driver<S> {
    /// Sets up the case's topics, memberships and presences on both sides.
    ///
    /// # Errors
    /// A setup call failed.
    pub fn new(store: S, case: &Case) -> Result<Self, Mismatch> {
        let fx = Fixture::new(store);
        let start = fx
            .desk
            .now()
            .to_datetime()
            .ok_or("clock out of range")?
            .timestamp();
        let mut model = Model::new(start, &case.topics);
        let topics: Vec<TopicId> = case
            .topics
            .iter()
            .enumerate()
            .map(|(i, cfg)| {
                fx.topic_with(&format!("topic {i}"), |t| {
                    topic_entity(&format!("topic {i}"), cfg, t)
                })
            })
            .collect();
        let mut d = Driver {
            fx,
            model: Model::new(start, &[]),
            sessions: Vec::new(),
            index: HashMap::new(),
            topics,
            check_unchanged: true,
            stats: None,
            counts: RoutingCounts::default(),
            agents_before: BTreeMap::new(),
            feed_cursor: None,
        };
        if case.feed {
            d.fx.desk
                .set_change_feed(&Caller::system(), true)
                .map_err(|e| format!("setup feed: {e}"))?;
            d.feed_cursor = Some(0);
        }
        for (k, &bits) in case.members.iter().enumerate() {
            let t = k / AGENTS as usize;
            let u = i32::try_from(k % AGENTS as usize).unwrap_or(0) + 1;
            let r = Rights::from_bits(bits);
            if r.none() {
                continue;
            }
            d.real_member(&Caller::system(), t, u, r)
                .map_err(|e| format!("setup member: {e}"))?;
            model.members.insert((t, u), r);
        }
        for (k, &p) in case.present.iter().enumerate() {
            let u = i32::try_from(k).unwrap_or(0) + 1;
            d.real_presence(u, p)
                .map_err(|e| format!("setup presence: {e}"))?;
            model.set_presence(u, p);
        }
        let sys = Caller::system();
        for (t, r) in case.routing.iter().enumerate() {
            if let Some(r) = r {
                d.fx.desk
                    .save_chat_topic_routing(&sys, &carrier_of(d.topics[t], r))
                    .map_err(|e| format!("setup routing: {e}"))?;
                model
                    .save_routing(Who::System, Some(t), *r)
                    .map_err(|e| format!("setup routing (model): {e:?}"))?;
            }
        }
        for (k, &max) in case.capacities.iter().enumerate() {
            if max.is_none() {
                continue;
            }
            let u = i32::try_from(k).unwrap_or(0) + 1;
            d.fx.desk
                .save_chat_agent_capacity(
                    &sys,
                    &ChatAgentCapacity {
                        user_id: u,
                        max_chats: max,
                    },
                )
                .map_err(|e| format!("setup capacity: {e}"))?;
            model
                .save_capacity(Who::System, u, max)
                .map_err(|e| format!("setup capacity (model): {e:?}"))?;
        }
        d.model = model;
        d.check_routing("setup", false)?;
        Ok(d)
    }

    fn real_member(&self, ctx: &Caller, t: usize, u: i32, r: Rights) -> crate::Result<()> {
        let topic = self.topics.get(t).copied().unwrap_or(TopicId(9999));
        let a = ChatTopicAgent {
            topic_id: topic.0,
            user: Some(Associate::with_id(u)),
            can_listen: r.listen,
            can_respond: r.respond,
            can_manage: r.manage,
            can_notify: r.notify,
        };
        self.fx
            .desk
            .update_chat_topic_user_agents(ctx, &[a])
            .map(|_| ())
    }

    fn real_presence(&self, u: i32, present: bool) -> crate::Result<()> {
        let p = ChatPresence {
            user_id: u,
            present,
            display_name: format!("Agent {u}"),
            ..ChatPresence::default()
        };
        self.fx
            .desk
            .save_chat_presence(&Caller::system(), &p)
            .map(|_| ())
    }

    /// The session a step acts on: mostly one of those in the states the
    /// operation runs from (so that it succeeds often), else any.
    fn target_in(&self, s: u8, pool: &[crate::ChatSessionStatus]) -> Option<usize> {
        let n = self.sessions.len();
        if n == 0 {
            return None;
        }
        if !s.is_multiple_of(4) {
            let fit: Vec<usize> = (0..n)
                .filter(|&i| {
                    let m = &self.model.sessions[i];
                    !m.purged && pool.contains(&m.status)
                })
                .collect();
            if !fit.is_empty() {
                return Some(fit[usize::from(s / 4) % fit.len()]);
            }
        }
        Some(usize::from(s) % n)
    }

    fn target(&self, s: u8) -> Option<usize> {
        use crate::ChatSessionStatus as St;
        self.target_in(
            s,
            &[
                St::PreChatForm,
                St::Faq,
                St::OfflineForm,
                St::InQueue,
                St::CustomerLast,
                St::UserLast,
            ],
        )
    }

    fn target_active(&self, s: u8) -> Option<usize> {
        use crate::ChatSessionStatus as St;
        self.target_in(s, &[St::CustomerLast, St::UserLast])
    }

    fn target_pending(&self, s: u8) -> Option<usize> {
        let n = self.sessions.len();
        let fit: Vec<usize> = (0..n)
            .filter(|&i| {
                !self.model.sessions[i].purged && self.model.sessions[i].transfer_to.is_some()
            })
            .collect();
        if !s.is_multiple_of(4) && !fit.is_empty() {
            return Some(fit[usize::from(s / 4) % fit.len()]);
        }
        self.target_active(s)
    }

    fn target_closed(&self, s: u8) -> Option<usize> {
        self.target_in(s, &[crate::ChatSessionStatus::Closed])
    }

    fn id(&self, i: Option<usize>) -> SessionId {
        i.map_or(SessionId(9999), |i| self.sessions[i].0)
    }

    fn who(&self, c: CallerSel, target: Option<usize>, prefer: Prefer) -> Who {
        let CallerSel(a, b) = c;
        let k = a % 10;
        let agent = Who::Agent(1 + i32::from(b % AGENTS));
        let other = if self.sessions.is_empty() {
            Who::Stranger
        } else {
            Who::Customer(usize::from(b) % self.sessions.len())
        };
        let own = target.map_or(Who::Stranger, Who::Customer);
        let s = target.map(|i| &self.model.sessions[i]);
        let user = s.and_then(|s| s.user).map_or(agent, Who::Agent);
        let to = s.and_then(|s| s.transfer_to).map_or(agent, Who::Agent);
        match prefer {
            Prefer::Customer => match k {
                0 => Who::System,
                1 => agent,
                2 => Who::Anonymous,
                3 => other,
                _ => own,
            },
            Prefer::Agent => match k {
                0 => Who::System,
                1 => own,
                2 => other,
                3..=5 => user,
                _ => agent,
            },
            Prefer::TransferTo => match k {
                0 => Who::System,
                1 => own,
                2 => user,
                3..=6 => to,
                _ => agent,
            },
            Prefer::Manager => match k {
                0..=3 => Who::System,
                4 => own,
                _ => agent,
            },
        }
    }

    fn ctx(&self, who: Who) -> Caller {
        match who {
            Who::System => Caller::system(),
            Who::Agent(u) => Caller::agent(UserId(u)),
            Who::Customer(i) => Caller::customer(self.sessions[i].1.clone()),
            Who::Stranger => Caller::customer("A".repeat(43)),
            Who::Anonymous => Caller::anonymous(),
        }
    }

    /// The service's view of session `i` (None when it is gone).
    fn real_seen(&self, i: usize) -> Result<Option<Seen>, Mismatch> {
        let sys = Caller::system();
        let id = self.sessions[i].0;
        let e = match self.fx.desk.get_chat_session_entity(&sys, id) {
            Ok(e) => e,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(format!("get session #{i}: {e}")),
        };
        let queue_pos = self
            .fx
            .desk
            .get_queue_position(&sys, id)
            .map_err(|e| format!("queue position #{i}: {e}"))?;
        let messages = self
            .fx
            .desk
            .get_chat_messages(&sys, id, None, 500)
            .map_err(|e| format!("messages #{i}: {e}"))?
            .len();
        Ok(Some(Seen {
            status: e.status,
            user: e.user.as_ref().and_then(Associate::id),
            transfer_to: e.transfer_to.as_ref().and_then(Associate::id),
            rank: e.rank,
            alert: e.alert_level,
            initial_queue_pos: e.initial_queue_pos,
            bot: e.chatbot_is_active,
            rating: e.rating,
            started: secs(&e.when_started),
            ended: secs(&e.when_ended),
            queue_pos,
            messages: u32::try_from(messages).unwrap_or(u32::MAX),
            customer_name: e.customer_name,
        }))
    }

    fn compare_session(&self, i: usize, step: &str) -> Result<(), Mismatch> {
        same!(
            self.real_seen(i)?,
            self.model.seen(i),
            "{step}: session #{i}"
        );
        Ok(())
    }

    /// Compares everything observable.
    ///
    /// # Errors
    /// The first difference.
    pub fn compare_all(&self, step: &str) -> Result<(), Mismatch> {
        for i in 0..self.sessions.len() {
            self.compare_session(i, step)?;
        }
        let sys = Caller::system();
        for (t, &id) in self.topics.iter().enumerate() {
            let e = self
                .fx
                .desk
                .get_chat_topic_entity(&sys, id)
                .map_err(|e| format!("topic {t}: {e}"))?;
            let mt = &self.model.topics[t];
            same!(
                (e.seconds_pr_accept, secs(&e.last_accept)),
                (mt.seconds_pr_accept, mt.last_accept),
                "{step}: topic {t} SecondsPrAccept, LastAccept"
            );
            let q: Vec<usize> = self
                .fx
                .desk
                .get_topic_queue(&sys, id)
                .map_err(|e| format!("queue of topic {t}: {e}"))?
                .iter()
                .map(|e| {
                    self.index
                        .get(&SessionId(e.chat_session_id))
                        .copied()
                        .unwrap_or(usize::MAX)
                })
                .collect();
            same!(
                q,
                self.model.topic_queue(t),
                "{step}: human queue of topic {t}"
            );
        }
        for u in 1..=i32::from(AGENTS) {
            let p = self
                .fx
                .desk
                .get_chat_presence(&sys, UserId(u))
                .map_err(|e| format!("presence {u}: {e}"))?;
            same!(
                usize::try_from(p.ongoing_chats).unwrap_or(usize::MAX),
                self.model.ongoing(u),
                "{step}: OngoingChats of user {u}"
            );
        }
        for (t, &id) in self.topics.iter().enumerate() {
            let r = self
                .fx
                .desk
                .get_chat_topic_routing(&sys, id)
                .map_err(|e| format!("routing of topic {t}: {e}"))?;
            same!(
                cfg_of(&r),
                self.model.topics[t].routing,
                "{step}: routing of topic {t}"
            );
        }
        for u in 1..=i32::from(AGENTS) + 1 {
            let c = self
                .fx
                .desk
                .get_chat_agent_capacity(&sys, UserId(u))
                .map_err(|e| format!("capacity of {u}: {e}"))?;
            same!(
                c.max_chats,
                self.model.max_chats.get(&u).copied(),
                "{step}: MaxChats of user {u}"
            );
        }
        for i in 0..self.sessions.len() {
            let r = self.fx.desk.explain_routing(&sys, self.sessions[i].0);
            let m = self.model.explain(Who::System, i);
            self.same_explanation(&r, &m, &format!("{step}: explanation of #{i}"))?;
        }
        Ok(())
    }

    fn same_explanation(
        &self,
        r: &crate::Result<RoutingExplanation>,
        m: &Result<Explanation, Fail>,
        what: &str,
    ) -> Result<(), Mismatch> {
        same!(
            kind(r),
            m.as_ref().map(|_| ()).map_err(Clone::clone),
            "{what}"
        );
        if let (Ok(r), Ok(m)) = (r, m) {
            let got = Explanation {
                status: r.status,
                queue_pos: r.queue_position,
                auto: r.mode == RoutingMode::Auto,
                agents: r
                    .agents
                    .iter()
                    .map(|a| (a.user.0, verdict_of(a.verdict)))
                    .collect(),
            };
            same!(got, *m, "{what}");
        }
        Ok(())
    }

    /// After every step: the routing invariant on one consistent snapshot
    /// of the store (and on the model), every routed assignment the step
    /// made against the model's choice, every session's and agent's routing
    /// state; after a failed step, agent records unchanged.
    ///
    /// # Errors
    /// The first difference.
    fn check_routing(&mut self, label: &str, failed: bool) -> Result<(), Mismatch> {
        let snap = self
            .fx
            .desk
            .storage()
            .read(RoutingSnapshot::read)
            .map_err(|e| format!("{label}: routing snapshot: {e}"))?;
        snap.check_invariant()
            .map_err(|e| format!("{label}: the service breaks the routing invariant: {e}"))?;
        if let Some((i, c)) = self.model.invariant_broken() {
            return Err(format!(
                "{label}: the model breaks the routing invariant: #{i} waits while \
                 (user, load, last-assignment) {c:?} are eligible"
            ));
        }
        let by_id: HashMap<SessionId, &SessionRecord> =
            snap.sessions.iter().map(|s| (s.id, s)).collect();
        let assigned = self.model.take_assigned();
        for a in &assigned {
            let rec = by_id.get(&self.sessions[a.session].0);
            let got = rec.and_then(|r| r.active_user()).map(|u| u.0);
            let routed = rec.and_then(|r| r.routing.routed_at).map(ts_secs);
            if got != Some(a.user) || routed != Some(self.model.now) {
                return Err(format!(
                    "{label}: session #{} is with {got:?} (routed at {routed:?}); the model \
                     routes it to {} now ({}) among the eligible (user, load, last-assignment) \
                     {:?}",
                    a.session,
                    a.user,
                    if a.longest_idle {
                        "LongestIdle"
                    } else {
                        "LeastBusy"
                    },
                    a.candidates
                ));
            }
        }
        self.check_feed(label, &assigned)?;
        self.count_assigned(&assigned);
        let mut live = 0;
        // A backend without gap-free ids may skip queue sequence values
        // (one taken by a refused or retried write): its sequences must
        // then be in the model's order, not equal to the model's.
        let exact_seq = self.fx.desk.storage().capabilities().gap_free_ids;
        let mut seqs = Vec::new();
        for (i, m) in self.model.sessions.iter().enumerate() {
            if m.purged {
                continue;
            }
            live += 1;
            let Some(r) = by_id.get(&self.sessions[i].0) else {
                return Err(format!("{label}: session #{i} is missing from the store"));
            };
            let (mut real, mut model) = (route_state_of(r), model_route_state(m));
            if !exact_seq {
                if let (Some(a), Some(b)) = (model.3, real.3) {
                    seqs.push((a, b, i));
                }
                real.3 = real.3.map(|_| 0);
                model.3 = model.3.map(|_| 0);
            }
            same!(
                real,
                model,
                "{label}: session #{i} (status, user, transfer to, queue seq, queue entry, \
                 routed at, answered, excluded, transfer requested)"
            );
        }
        seqs.sort_unstable();
        for w in seqs.windows(2) {
            if w[0].1 >= w[1].1 {
                return Err(format!(
                    "{label}: queue sequences out of the model's order: session #{} has {} and \
                     #{} has {} (the model: {} and {})",
                    w[0].2, w[0].1, w[1].2, w[1].1, w[0].0, w[1].0
                ));
            }
        }
        same!(snap.sessions.len(), live, "{label}: sessions in the store");
        for u in 1..=i32::from(AGENTS) {
            let a = snap.agents.get(&UserId(u));
            same!(
                (
                    a.and_then(|a| a.last_assigned).map(ts_secs),
                    a.and_then(|a| a.max_chats)
                ),
                (
                    self.model.last_assigned.get(&u).copied(),
                    self.model.max_chats.get(&u).copied()
                ),
                "{label}: user {u}'s (last assignment, MaxChats)"
            );
        }
        for (t, id) in self.topics.iter().enumerate() {
            let r = snap.topics.get(id).map(|t| t.routing);
            let m = self.model.topics[t].routing;
            same!(
                r.map(|r| (
                    r.mode == RoutingMode::Auto,
                    r.strategy == RoutingStrategy::LongestIdle,
                    r.default_capacity,
                    r.answer_timeout_secs,
                    r.transfer_timeout_secs
                )),
                Some((
                    m.auto,
                    m.longest_idle,
                    m.default_capacity,
                    m.answer_timeout,
                    m.transfer_timeout
                )),
                "{label}: routing of topic {t} in the store"
            );
        }
        if failed && snap.agents != self.agents_before {
            return Err(format!("{label}: failed but changed agent records"));
        }
        self.agents_before = snap.agents;
        for a in &assigned {
            self.compare_session(a.session, label)?;
            self.check_routed_welcome(a, label)?;
        }
        Ok(())
    }

    /// A routed assignment writes the welcome a pick-up by that agent would
    /// write: its Author is the agent's name (here their DisplayName).
    fn check_routed_welcome(&self, a: &Assignment, label: &str) -> Result<(), Mismatch> {
        let topic = self.model.sessions[a.session].topic;
        if !self.model.topics[topic].cfg.welcome {
            return Ok(());
        }
        let messages = self
            .fx
            .desk
            .get_chat_messages(&Caller::system(), self.sessions[a.session].0, None, 500)
            .map_err(|e| format!("{label}: messages of #{}: {e}", a.session))?;
        let welcome = messages
            .iter()
            .rev()
            .find(|m| m.special_type == ChatMessageSpecialType::Welcome)
            .map(|m| (m.message.as_str(), m.author.as_str()));
        let author = format!("Agent {}", a.user);
        same!(
            welcome,
            Some(("Welcome!", author.as_str())),
            "{label}: the routed welcome of #{}",
            a.session
        );
        Ok(())
    }

    /// With the change feed on: the step's events end with one per routed
    /// assignment, in the model's order (the rules: changed, actor System,
    /// after the operation's own events).
    fn check_feed(&mut self, label: &str, assigned: &[Assignment]) -> Result<(), Mismatch> {
        let Some(cursor) = self.feed_cursor else {
            return Ok(());
        };
        let events = self
            .fx
            .desk
            .events_after(&Caller::system(), cursor, crate::MAX_EVENTS_PER_READ)
            .map_err(|e| format!("{label}: events: {e}"))?;
        if let Some(last) = events.last() {
            self.feed_cursor = Some(last.seq);
        }
        let got: Vec<_> = events[events.len().saturating_sub(assigned.len())..]
            .iter()
            .map(|e| {
                (
                    e.kind,
                    e.actor,
                    self.index.get(&e.session).copied(),
                    e.status,
                    e.user.map(|u| u.0),
                )
            })
            .collect();
        let want: Vec<_> = assigned
            .iter()
            .map(|a| {
                (
                    crate::ChatEventKind::SessionChanged,
                    crate::EventActor::System,
                    Some(a.session),
                    crate::ChatSessionStatus::UserLast,
                    Some(a.user),
                )
            })
            .collect();
        same!(
            got,
            want,
            "{label}: the last events (one per routed assignment)"
        );
        Ok(())
    }

    fn count_assigned(&mut self, assigned: &[Assignment]) {
        self.counts.assigned += assigned.len();
        for a in assigned {
            if a.candidates.len() > 1 {
                self.counts.contested += 1;
                if a.longest_idle {
                    self.counts.contested_longest_idle += 1;
                }
            }
        }
    }

    /// Runs one step on both sides and compares the answers.
    ///
    /// # Errors
    /// The first difference.
    #[allow(clippy::too_many_lines)]
    pub fn step(&mut self, n: usize, op: &Op) -> Result<(), Mismatch> {
        let before = self.check_unchanged.then(|| dump(self.fx.desk.storage()));
        let desk = &self.fx.desk;
        let label = format!("step {n} {op:?}");
        // The session a lifecycle operation returned (as committed, after
        // the routing pass: the rules).
        let mut returned = None;
        // (answer kind of service, of model, session to compare afterwards)
        let (real, model, touched): (Result<(), Fail>, Result<(), Fail>, Option<usize>) = match op {
            Op::Create {
                topic,
                caller,
                fields,
            } => {
                let who = match self.who(*caller, None, Prefer::Customer) {
                    Who::Stranger => Who::Anonymous,
                    Who::Agent(u) if caller.0 % 10 == 1 => Who::Agent(u),
                    w @ Who::System => w,
                    w if caller.1 % 7 == 0 => w,
                    _ => Who::Anonymous,
                };
                let t = usize::from(*topic);
                let tid = self.topics.get(t).copied().unwrap_or(TopicId(9999));
                let r = desk.create_chat_session_for_topic(&self.ctx(who), tid, &entity_of(fields));
                returned = returned_of(&r);
                let m = self
                    .model
                    .create(who, (t < self.topics.len()).then_some(t), fields);
                let mut touched = None;
                if let (Ok(e), Ok(i)) = (&r, &m) {
                    same!(self.sessions.len(), *i, "{label}: creation order");
                    let id = SessionId(e.chat_session_id);
                    self.sessions.push((id, e.session_key.clone()));
                    self.index.insert(id, *i);
                    touched = Some(*i);
                }
                (kind(&r), m.map(|_| ()), touched)
            }
            Op::Submit { s, caller, fields } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Customer);
                let r = desk.submit_pre_chat_form(&self.ctx(who), self.id(i), &entity_of(fields));
                returned = returned_of(&r);
                let m = self
                    .model
                    .submit_pre_chat_form(who, i.unwrap_or(usize::MAX), fields);
                (kind(&r), m, i)
            }
            Op::FaqAnswered { s, caller } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Customer);
                let r = desk.faq_answered(&self.ctx(who), self.id(i));
                returned = returned_of(&r);
                (
                    kind(&r),
                    self.model.faq_answered(who, i.unwrap_or(usize::MAX)),
                    i,
                )
            }
            Op::FaqNotHelped { s, caller } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Customer);
                let r = desk.faq_not_helped(&self.ctx(who), self.id(i));
                returned = returned_of(&r);
                (
                    kind(&r),
                    self.model.faq_not_helped(who, i.unwrap_or(usize::MAX)),
                    i,
                )
            }
            Op::Offline {
                s,
                caller,
                too_long,
            } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Customer);
                let text = if *too_long {
                    "x".repeat(4001)
                } else {
                    "call me".into()
                };
                let r = desk.post_offline_request(&self.ctx(who), self.id(i), &text);
                returned = returned_of(&r);
                let m = self
                    .model
                    .post_offline_request(who, i.unwrap_or(usize::MAX), *too_long);
                (kind(&r), m, i)
            }
            Op::PickUp { s, caller } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Agent);
                let r = desk.pick_up_chat_session(&self.ctx(who), self.id(i));
                let m = self.model.pick_up(who, i.unwrap_or(usize::MAX));
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    same!(r.is_some(), *m, "{label}: picked up");
                }
                (kind(&r), m.map(|_| ()), i)
            }
            Op::PickUpFirst { caller } => {
                let who = self.who(*caller, None, Prefer::Agent);
                let who = if matches!(who, Who::Stranger) {
                    Who::Agent(1)
                } else {
                    who
                };
                let r = desk.pick_up_first_chat_session(&self.ctx(who));
                let m = self.model.pick_up_first(who);
                let mut touched = None;
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    let got = r
                        .as_ref()
                        .map(|e| self.index.get(&SessionId(e.chat_session_id)).copied());
                    same!(got, m.map(Some), "{label}: session picked up");
                    touched = *m;
                }
                (kind(&r), m.map(|_| ()), touched)
            }
            Op::Message {
                s,
                caller,
                special,
                too_long,
            } => {
                let i = self.target_active(*s);
                let pref = if caller.1 % 2 == 0 {
                    Prefer::Customer
                } else {
                    Prefer::Agent
                };
                let who = self.who(*caller, i, pref);
                let (st, param) = match special {
                    0 => (ChatMessageSpecialType::None, ""),
                    1 => (ChatMessageSpecialType::ClickedOption, "yes"),
                    2 => (ChatMessageSpecialType::BotMessage, ""),
                    3 => (ChatMessageSpecialType::Options, "[\"a\",\"b\"]"),
                    4 => (ChatMessageSpecialType::Options, "not json"),
                    _ => (ChatMessageSpecialType::Welcome, ""),
                };
                let m = ChatMessage {
                    message: if *too_long {
                        "y".repeat(4001)
                    } else {
                        "hello".into()
                    },
                    special_type: st,
                    special_param: param.into(),
                    ..ChatMessage::default()
                };
                let r = desk.add_chat_message(&self.ctx(who), self.id(i), &m);
                let mm = self
                    .model
                    .add_message(who, i.unwrap_or(usize::MAX), *special, *too_long);
                (kind(&r), mm, i)
            }
            Op::Reset { s, caller } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Agent);
                let r = desk.reset_chat_session(&self.ctx(who), self.id(i));
                returned = returned_of(&r);
                (kind(&r), self.model.reset(who, i.unwrap_or(usize::MAX)), i)
            }
            Op::Transfer { s, caller, to } => {
                let i = self.target_active(*s);
                let who = self.who(*caller, i, Prefer::Agent);
                let to = i32::from(*to);
                let r = desk.transfer_chat_session(&self.ctx(who), self.id(i), UserId(to));
                returned = returned_of(&r);
                (
                    kind(&r),
                    self.model.transfer(who, i.unwrap_or(usize::MAX), to),
                    i,
                )
            }
            Op::Accept { s, caller } => {
                let i = self.target_pending(*s);
                let who = self.who(*caller, i, Prefer::TransferTo);
                let r = desk.accept_chat_session_transfer(&self.ctx(who), self.id(i));
                returned = returned_of(&r);
                (kind(&r), self.model.accept(who, i.unwrap_or(usize::MAX)), i)
            }
            Op::Reject { s, caller } => {
                let i = self.target_pending(*s);
                let who = self.who(*caller, i, Prefer::TransferTo);
                let r = desk.reject_chat_session_transfer(&self.ctx(who), self.id(i));
                returned = returned_of(&r);
                (kind(&r), self.model.reject(who, i.unwrap_or(usize::MAX)), i)
            }
            Op::Close { s, caller } => {
                let i = self.target_active(*s);
                let pref = if caller.1 % 2 == 0 {
                    Prefer::Customer
                } else {
                    Prefer::Agent
                };
                let who = self.who(*caller, i, pref);
                let r = desk.close_chat_session(&self.ctx(who), self.id(i));
                returned = returned_of(&r);
                (kind(&r), self.model.close(who, i.unwrap_or(usize::MAX)), i)
            }
            Op::Reopen { s, caller } => {
                let i = self.target_closed(*s);
                let who = self.who(*caller, i, Prefer::Customer);
                let r = desk.reopen_chat_session(&self.ctx(who), self.id(i));
                returned = returned_of(&r);
                (kind(&r), self.model.reopen(who, i.unwrap_or(usize::MAX)), i)
            }
            Op::Finish { s, caller, rating } => {
                let i = self.target_closed(*s);
                let who = self.who(*caller, i, Prefer::Customer);
                let r = desk.finish_chat_session(&self.ctx(who), self.id(i), *rating);
                returned = returned_of(&r);
                (
                    kind(&r),
                    self.model.finish(who, i.unwrap_or(usize::MAX), *rating),
                    i,
                )
            }
            Op::Delete { s, caller } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Manager);
                let r = desk.delete_chat_session_entity(&self.ctx(who), self.id(i));
                (kind(&r), self.model.delete(who, i.unwrap_or(usize::MAX)), i)
            }
            Op::Save {
                s,
                caller,
                stale,
                alias_too_long,
            } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Customer);
                let id = self.id(i);
                let mut e = desk
                    .get_chat_session_entity(&Caller::system(), id)
                    .unwrap_or_else(|_| ChatSessionEntity {
                        chat_session_id: id.0,
                        ..ChatSessionEntity::default()
                    });
                let name = if e.customer_name.is_empty() {
                    "Bob"
                } else {
                    ""
                };
                e.customer_name = name.into();
                if *stale {
                    e.status = if e.status == crate::ChatSessionStatus::Finished {
                        crate::ChatSessionStatus::Closed
                    } else {
                        crate::ChatSessionStatus::Finished
                    };
                }
                if *alias_too_long {
                    e.customer_alias = "b".repeat(65);
                }
                let r = desk.save_chat_session_entity(&self.ctx(who), &e);
                let m =
                    self.model
                        .save(who, i.unwrap_or(usize::MAX), *stale, *alias_too_long, name);
                (kind(&r), m, i)
            }
            Op::Get { s, caller } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Agent);
                let r = desk.get_chat_session_entity(&self.ctx(who), self.id(i));
                let m = self.model.get(who, i.unwrap_or(usize::MAX));
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    same!(r.table_right.mask.bits(), *m, "{label}: TableRight");
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::Position { s, caller } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Customer);
                let r = desk.get_queue_position(&self.ctx(who), self.id(i));
                let m = self.model.position(who, i.unwrap_or(usize::MAX));
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    same!(*r, *m, "{label}: queue position");
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::Fetch { s, caller } => {
                let i = self.target(*s);
                let who = self.who(*caller, i, Prefer::Customer);
                let r = desk.get_chat_messages(&self.ctx(who), self.id(i), None, 500);
                let m = self.model.fetch(who, i.unwrap_or(usize::MAX));
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    same!(
                        u32::try_from(r.len()).unwrap_or(u32::MAX),
                        *m,
                        "{label}: messages"
                    );
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::Member {
                topic,
                user,
                rights,
                caller,
            } => {
                let who = match self.who(*caller, None, Prefer::Manager) {
                    w @ (Who::System | Who::Agent(_)) => w,
                    _ => Who::Anonymous,
                };
                let t = usize::from(*topic);
                let u = i32::from(*user);
                let r = Rights::from_bits(*rights);
                let real = self.real_member(&self.ctx(who), t, u, r);
                let m = self
                    .model
                    .set_member(who, (t < self.topics.len()).then_some(t), u, r);
                (kind(&real), m, None)
            }
            Op::Presence { user, present } => {
                let u = i32::from(*user);
                let r = self.real_presence(u, *present);
                self.model.set_presence(u, *present);
                (kind(&r), Ok(()), None)
            }
            Op::Clock { secs } => {
                self.fx.clock.advance_secs(*secs);
                self.model.now += secs;
                (Ok(()), Ok(()), None)
            }
            Op::IdleSweep => {
                let r = desk.idle_sweep(&Caller::system());
                let m = self.model.idle_sweep(Who::System);
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    let mut got: Vec<_> = r
                        .iter()
                        .map(|c| {
                            (
                                self.index.get(&c.session).copied().unwrap_or(usize::MAX),
                                c.from,
                                c.to,
                            )
                        })
                        .collect();
                    got.sort_unstable_by_key(|c| c.0);
                    same!(got, *m, "{label}: closed");
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::AlertSweep => {
                let r = desk.alert_sweep(&Caller::system());
                let m = self.model.alert_sweep(Who::System);
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    let mut got: Vec<_> = r
                        .iter()
                        .map(|c| {
                            (
                                self.index.get(&c.session).copied().unwrap_or(usize::MAX),
                                c.old,
                                c.new,
                            )
                        })
                        .collect();
                    got.sort_unstable_by_key(|c| c.0);
                    same!(got, *m, "{label}: alerts");
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::Purge { caller } => {
                let who = self.who(*caller, None, Prefer::Manager);
                let who = if who == Who::Stranger {
                    Who::Anonymous
                } else {
                    who
                };
                let r = desk.purge(&self.ctx(who));
                let m = self.model.purge(who);
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    same!(*r, *m, "{label}: purged");
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::SaveRouting {
                topic,
                caller,
                routing,
            } => {
                let who = self.who(*caller, None, Prefer::Manager);
                let t = usize::from(*topic);
                let tid = self.topics.get(t).copied().unwrap_or(TopicId(9999));
                let r = desk.save_chat_topic_routing(&self.ctx(who), &carrier_of(tid, routing));
                let m =
                    self.model
                        .save_routing(who, (t < self.topics.len()).then_some(t), *routing);
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    same!((r.chat_topic_id, cfg_of(r)), (tid.0, *m), "{label}: saved");
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::GetRouting { topic, caller } => {
                let who = self.who(*caller, None, Prefer::Manager);
                let t = usize::from(*topic);
                let tid = self.topics.get(t).copied().unwrap_or(TopicId(9999));
                let r = desk.get_chat_topic_routing(&self.ctx(who), tid);
                let m = self
                    .model
                    .get_routing(who, (t < self.topics.len()).then_some(t));
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    same!((r.chat_topic_id, cfg_of(r)), (tid.0, *m), "{label}: read");
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::SaveCapacity { user, caller, max } => {
                let who = self.who(*caller, None, Prefer::Manager);
                let u = i32::from(*user);
                let c = ChatAgentCapacity {
                    user_id: u,
                    max_chats: *max,
                };
                let r = desk.save_chat_agent_capacity(&self.ctx(who), &c);
                let m = self.model.save_capacity(who, u, *max);
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    same!((r.user_id, r.max_chats), (u, *m), "{label}: saved");
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::GetCapacity { user, caller } => {
                let who = self.who(*caller, None, Prefer::Agent);
                let u = i32::from(*user);
                let r = desk.get_chat_agent_capacity(&self.ctx(who), UserId(u));
                let m = self.model.get_capacity(who, u);
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    same!((r.user_id, r.max_chats), (u, *m), "{label}: read");
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::RoutingSweep { caller } => {
                let who = if caller.0 % 8 == 0 {
                    self.who(*caller, None, Prefer::Agent)
                } else {
                    Who::System
                };
                let r = desk.routing_sweep(&self.ctx(who));
                let m = self.model.routing_sweep(who);
                if let (Ok(r), Ok(m)) = (&r, &m) {
                    let idx = |s: &SessionId| self.index.get(s).copied().unwrap_or(usize::MAX);
                    let got: Vec<RChange> = r
                        .iter()
                        .map(|c| match c {
                            RoutingChange::AnswerTimeout { session, user } => {
                                RChange::AnswerTimeout(idx(session), user.0)
                            }
                            RoutingChange::TransferTimeout { session, to } => {
                                RChange::TransferTimeout(idx(session), to.0)
                            }
                            RoutingChange::Assigned { session, user } => {
                                RChange::Assigned(idx(session), user.0)
                            }
                        })
                        .collect();
                    same!(got, *m, "{label}: what the sweep did");
                    for c in m {
                        match c {
                            RChange::AnswerTimeout(i, _) => {
                                self.counts.answer_timeouts += 1;
                                self.compare_session(*i, &label)?;
                            }
                            RChange::TransferTimeout(i, _) => {
                                self.counts.transfer_timeouts += 1;
                                self.compare_session(*i, &label)?;
                            }
                            RChange::Assigned(..) => self.counts.assigned_in_sweeps += 1,
                        }
                    }
                }
                (kind(&r), m.map(|_| ()), None)
            }
            Op::Explain { s, caller } => {
                let i = if s % 2 == 0 {
                    self.target_in(*s / 2, &[crate::ChatSessionStatus::InQueue])
                } else {
                    self.target(*s)
                };
                let who = self.who(*caller, i, Prefer::Agent);
                let r = desk.explain_routing(&self.ctx(who), self.id(i));
                let m = self.model.explain(who, i.unwrap_or(usize::MAX));
                self.same_explanation(&r, &m, &format!("{label}: explanation"))?;
                if let Ok(r) = &r {
                    same!(r.session, self.id(i), "{label}: explained session");
                }
                (kind(&r), m.map(|_| ()), None)
            }
        };
        same!(real, model, "{label}: answer");
        if let Some(stats) = &self.stats {
            let name = format!("{op:?}");
            let name = name.split([' ', '{']).next().unwrap_or("").to_string();
            *stats
                .lock()
                .entry(format!("{name:<12} {real:?}"))
                .or_default() += 1;
        }
        if let (Err(_), Some(before)) = (&real, before) {
            let after = dump(self.fx.desk.storage());
            if before != after {
                return Err(format!(
                    "{label}: failed with {real:?} but changed the store"
                ));
            }
        }
        if let (Some(got), Some(i)) = (returned, touched) {
            let m = &self.model.sessions[i];
            same!(got, (m.status, m.user), "{label}: (status, user) returned");
        }
        self.check_routing(&label, real.is_err())?;
        if let Some(i) = touched {
            self.compare_session(i, &label)?;
        }
        if n % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1 {
            self.compare_all(&label)?;
        }
        Ok(())
    }

    /// Runs a whole case: every step, then the full comparison.
    ///
    /// # Errors
    /// The first difference.
    pub fn run(&mut self, case: &Case) -> Result<(), Mismatch> {
        for (n, op) in case.ops.iter().enumerate() {
            self.step(n, op)?;
        }
        self.compare_all("end of case")
    }
}
