//! Routing: automatic assignment with capacity (chatdesk's own; SuperOffice's
//! agents pick every chat by hand). See [`crate::guide::routing`].
//!
//! # The invariant and how the pass keeps it cheap
//! After every committed transaction no session waiting in the human queue
//! of an Auto topic has an eligible agent. Every transaction that can break
//! it ends with one routing pass. Because the invariant held when the
//! transaction began, a session can only have gained an eligible agent
//! through something this transaction changed: the session entered a human
//! queue, an agent's load went down (or they became present, gained
//! CanRespond, got more capacity), or a topic's routing settings changed.
//! The service's [`Tx`] notes exactly those as the operation writes
//! ([`Dirty`]), so the pass looks at them only — never at every queue or
//! every agent — and a transaction that changed none of them costs the pass
//! nothing. A desk with no Auto topic pays one point read of the store's
//! list of Auto topics per such transaction.
//!
//! Inside the pass, assignments only raise loads, so nothing it does can
//! make a skipped session eligible: it repeats "the first candidate, in
//! queue-sequence order, that has an eligible agent" until none has.

use super::events::ChatEventKind;
use super::feed::{Emit, record_event};
use super::integrity::readable;
use super::lifecycle::{NewMessage, agent_name, normalize, pick_up, post_message};
use super::scope::Scope;
use super::sessions::{queue_position_of, visible_session};
use super::sweeps::SWEEP_BATCH;
use super::txn::{Dirty, Tx};
use super::{ChatDesk, Directory, Who};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{SessionId, TopicId, UserId};
use crate::model::{
    AgentRecord, EventActor, MemberRecord, SessionRecord, TopicRecord, TopicRouting,
};
use crate::storage::{FreeAgent, ReadTx, Storage, WriteTx};
use crate::wire::{
    ChatAgentCapacity, ChatMessageSpecialType, ChatSessionStatus, ChatTopicRouting, RoutingMode,
    RoutingStrategy,
};
use std::collections::{BTreeSet, HashMap};

/// The metadata key listing the Auto topics (comma-separated ids, ascending).
const AUTO_TOPICS_KEY: &str = "routing_auto_topics";

/// The highest capacity and the longest timeout a setting may hold.
const MAX_CAPACITY: i32 = 1000;
const MAX_TIMEOUT_SECS: i32 = 86_400;

/// One thing the routing sweep did, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum RoutingChange {
    /// A routed session whose agent did not answer in time went back to the
    /// queue (keeping its place); the agent is excluded from it.
    AnswerTimeout {
        /// The session.
        session: SessionId,
        /// The agent who did not answer.
        user: UserId,
    },
    /// A pending transfer was not answered in time and was rejected.
    TransferTimeout {
        /// The session.
        session: SessionId,
        /// The agent the transfer was addressed to.
        to: UserId,
    },
    /// Routing assigned a waiting session to an agent.
    Assigned {
        /// The session.
        session: SessionId,
        /// The agent it went to.
        user: UserId,
    },
}

/// Why routing can or cannot give a session to one agent: the first rule
/// that applies, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum RoutingVerdict {
    /// The agent is not Present.
    NotPresent,
    /// The agent let this session time out once; routing no longer offers it
    /// to them.
    Excluded,
    /// The agent's load has reached their capacity for the session's topic.
    AtCapacity {
        /// Active sessions plus pending transfers to them.
        load: i32,
        /// Their MaxChats, else the topic's DefaultCapacity.
        capacity: i32,
    },
    /// Routing may give the session to this agent.
    Eligible {
        /// Active sessions plus pending transfers to them.
        load: i32,
        /// Their MaxChats, else the topic's DefaultCapacity.
        capacity: i32,
    },
}

/// One member's verdict in a [`RoutingExplanation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct AgentVerdict {
    /// The member (with CanRespond in the session's topic).
    pub user: UserId,
    /// Whether routing may give them the session, and if not, why.
    pub verdict: RoutingVerdict,
}

/// Why a session is (or is not) routed: what [`ChatDesk::explain_routing`]
/// returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RoutingExplanation {
    /// The session.
    pub session: SessionId,
    /// Its status now.
    pub status: ChatSessionStatus,
    /// Its position in its topic's human queue; `None` when it is not in it
    /// (a bot-owned InQueue session is not).
    pub queue_position: Option<u32>,
    /// The topic's routing mode.
    pub mode: RoutingMode,
    /// One verdict per member of the topic with CanRespond, by user id.
    pub agents: Vec<AgentVerdict>,
}

/// The Auto topics, from the store's list.
pub(crate) fn read_auto_topics(tx: &dyn ReadTx) -> Result<BTreeSet<TopicId>> {
    parse_auto_topics(&auto_topics_text(tx)?)
}

/// The stored list of Auto topics as text (empty when none was stored).
pub(crate) fn auto_topics_text(tx: &dyn ReadTx) -> Result<String> {
    Ok(tx.meta(AUTO_TOPICS_KEY)?.unwrap_or_default())
}

/// The topics of a stored list (`"1,5,9"`).
pub(crate) fn parse_auto_topics(list: &str) -> Result<BTreeSet<TopicId>> {
    list.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<i32>()
                .map(TopicId)
                .map_err(|_| Error::corrupt(format!("the list of Auto topics holds {x:?}")))
        })
        .collect()
}

/// Stores the list of Auto topics with `topic` in it or not.
pub(crate) fn set_auto(tx: &mut dyn WriteTx, topic: TopicId, auto: bool) -> Result<()> {
    let mut set = read_auto_topics(tx)?;
    let changed = if auto {
        set.insert(topic)
    } else {
        set.remove(&topic)
    };
    if changed {
        let list: Vec<String> = set.iter().map(|t| t.0.to_string()).collect();
        tx.put_meta(AUTO_TOPICS_KEY, &list.join(","))?;
    }
    Ok(())
}

/// What routing knows of one agent.
#[derive(Debug, Clone, Copy)]
struct AgentState {
    present: bool,
    load: i32,
    record: AgentRecord,
}

impl AgentState {
    fn capacity(&self, topic: &TopicRouting) -> i32 {
        self.record.max_chats.unwrap_or(topic.default_capacity)
    }
}

fn read_agent(tx: &dyn ReadTx, user: UserId) -> Result<AgentState> {
    Ok(AgentState {
        present: tx.presence(user)?.is_some_and(|p| p.present),
        load: tx.agent_load(user)?,
        record: tx.agent(user)?.unwrap_or(AgentRecord {
            user,
            ..AgentRecord::default()
        }),
    })
}

/// The verdict for one member with CanRespond (the rules in order).
fn verdict(a: &AgentState, user: UserId, t: &TopicRouting, s: &SessionRecord) -> RoutingVerdict {
    let capacity = a.capacity(t);
    if !a.present {
        RoutingVerdict::NotPresent
    } else if s.routing.excluded.contains(&user) {
        RoutingVerdict::Excluded
    } else if a.load >= capacity {
        RoutingVerdict::AtCapacity {
            load: a.load,
            capacity,
        }
    } else {
        RoutingVerdict::Eligible {
            load: a.load,
            capacity,
        }
    }
}

/// Brings the routing index up to date with what the transaction changed
/// (what [`Tx`] noted): `(topic, user)` is marked free exactly when the topic
/// is Auto and the user is a member of it with CanRespond, Present, and
/// below their capacity for it (exclusions are per session and checked by
/// the pass). Only Auto topics have entries, so a store with none pays one
/// read of the Auto list per transaction that touched a load, a presence, a
/// capacity or a membership.
pub(crate) fn refresh_free(tx: &mut Tx<'_>) -> Result<()> {
    let touched = tx.take_touched();
    if touched.is_empty() {
        return Ok(());
    }
    let auto = tx.auto_topics()?;
    let mut known = Known::default();
    for topic in &touched.topics {
        let mut should = BTreeSet::new();
        if auto.contains(topic) {
            for m in tx.topic_members(*topic)? {
                if m.can_respond && known.free_now(tx, m.user, *topic)? {
                    should.insert(m.user);
                }
            }
        }
        for u in tx.routing_free(*topic)? {
            if !should.remove(&u) {
                tx.set_routing_free(*topic, u, false)?;
            }
        }
        for u in should {
            tx.set_routing_free(*topic, u, true)?;
        }
    }
    if auto.is_empty() {
        return Ok(());
    }
    // Each (topic, user) to look at, with the membership when it is known.
    let mut pairs: Vec<(TopicId, UserId, Option<MemberRecord>)> = touched
        .members
        .into_iter()
        .map(|(t, u)| (t, u, None))
        .collect();
    for u in &touched.users {
        for m in tx.user_memberships(*u)? {
            if !pairs.iter().any(|(t, v, _)| (*t, *v) == (m.topic, *u)) {
                pairs.push((m.topic, *u, Some(m)));
            }
        }
    }
    for (topic, user, member) in pairs {
        if !auto.contains(&topic) || touched.topics.contains(&topic) {
            continue;
        }
        let member = match member {
            Some(m) => Some(m),
            None => tx.member(topic, user)?,
        };
        let should = member.is_some_and(|m| m.can_respond) && known.free_now(tx, user, topic)?;
        if tx.routing_is_free(topic, user)? != should {
            tx.set_routing_free(topic, user, should)?;
        }
    }
    Ok(())
}

/// What one index refresh has read: agents (None: not present, nothing
/// more read) and topics.
#[derive(Default)]
struct Known {
    agents: HashMap<UserId, Option<AgentState>>,
    topics: HashMap<TopicId, Option<TopicRecord>>,
}

impl Known {
    /// Whether `user` is Present and below their capacity for `topic`. An
    /// absent agent's load is not read, nor the topic of an agent with a
    /// capacity of their own.
    fn free_now(&mut self, tx: &dyn ReadTx, user: UserId, topic: TopicId) -> Result<bool> {
        let a = match self.agents.get(&user) {
            Some(a) => *a,
            None => {
                let a = if tx.presence(user)?.is_some_and(|p| p.present) {
                    Some(AgentState {
                        present: true,
                        load: tx.agent_load(user)?,
                        record: tx.agent(user)?.unwrap_or(AgentRecord {
                            user,
                            ..AgentRecord::default()
                        }),
                    })
                } else {
                    None
                };
                self.agents.insert(user, a);
                a
            }
        };
        let Some(a) = a else { return Ok(false) };
        let capacity = match a.record.max_chats {
            Some(c) => c,
            None => match cached_topic(tx, &mut self.topics, topic)? {
                Some(t) => t.routing.default_capacity,
                None => return Ok(false),
            },
        };
        Ok(a.present && a.load < capacity)
    }
}

/// One routing pass's caches.
struct Pass<'a> {
    now: Timestamp,
    directory: &'a dyn Directory,
    /// Each topic's free agents with their loads, read once per assignment
    /// (an assignment changes loads and the index: it clears this).
    candidates: HashMap<TopicId, Vec<FreeAgent>>,
    topics: HashMap<TopicId, Option<TopicRecord>>,
}

impl Pass<'_> {
    fn topic(&mut self, tx: &dyn ReadTx, id: TopicId) -> Result<Option<TopicRecord>> {
        if let Some(t) = self.topics.get(&id) {
            return Ok(t.clone());
        }
        let t = tx.topic(id)?;
        self.topics.insert(id, t.clone());
        Ok(t)
    }

    /// The agent routing chooses for `s` in topic `t`, if any is eligible.
    fn choose(
        &mut self,
        tx: &dyn ReadTx,
        t: &TopicRecord,
        s: &SessionRecord,
    ) -> Result<Option<UserId>> {
        // The index holds the members who are present with room; only the
        // session's exclusions are left to check.
        let list = match self.candidates.entry(t.id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(tx.routing_candidates(t.id)?),
        };
        let mut best: Option<((i64, i64, UserId), UserId)> = None;
        for a in list.iter() {
            if s.routing.excluded.contains(&a.user) {
                continue;
            }
            // Never assigned counts as earlier than any time.
            let last = a.last_assigned.map_or(i64::MIN, |at| at.0);
            let load = i64::from(a.load);
            let key = match t.routing.strategy {
                RoutingStrategy::LeastBusy => (load, last, a.user),
                RoutingStrategy::LongestIdle => (last, load, a.user),
            };
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, a.user));
            }
        }
        Ok(best.map(|(_, u)| u))
    }

    /// Whether any responder of `t` is present with room.
    fn anyone_free(&mut self, tx: &dyn ReadTx, t: &TopicRecord) -> Result<bool> {
        Ok(!tx.routing_free(t.id)?.is_empty())
    }
}

/// A candidate for the next assignment: (queue sequence, session, agent).
type Candidate = (u64, SessionId, UserId);

fn better(best: Option<Candidate>, c: Candidate) -> Option<Candidate> {
    match best {
        Some(b) if b.0 <= c.0 => Some(b),
        _ => Some(c),
    }
}

/// Ends a transaction that may have broken the routing invariant: assigns
/// waiting sessions of Auto topics until none has an eligible agent. Returns
/// the assignments in the order they were made.
pub(crate) fn routing_pass(
    tx: &mut Tx<'_>,
    directory: &dyn Directory,
    now: Timestamp,
) -> Result<Vec<(SessionId, UserId)>> {
    let dirty: Dirty = tx.take_dirty();
    if dirty.is_empty() {
        return Ok(Vec::new());
    }
    let auto = tx.auto_topics()?;
    if auto.is_empty() {
        return Ok(Vec::new());
    }
    refresh_free(tx)?;
    let mut pass = Pass {
        now,
        directory,
        candidates: HashMap::new(),
        topics: HashMap::new(),
    };
    // Where each dirty topic's queue scan goes on from: sessions before it
    // had no eligible agent, and assignments only take eligibility away.
    let mut topic_cursor: HashMap<TopicId, u64> = HashMap::new();
    let mut done = Vec::new();
    loop {
        let mut best: Option<Candidate> = None;
        for id in &dirty.sessions {
            let Some(s) = readable(tx, *id, "routing pass")? else {
                continue;
            };
            let Some(seq) = s.human_queue_seq() else {
                continue;
            };
            if !auto.contains(&s.topic) {
                continue;
            }
            let Some(t) = pass.topic(tx, s.topic)? else {
                continue;
            };
            if let Some(u) = pass.choose(tx, &t, &s)? {
                best = better(best, (seq, s.id, u));
            }
        }
        for user in &dirty.agents {
            for m in tx.user_memberships(*user)? {
                if !m.can_respond
                    || !auto.contains(&m.topic)
                    || !tx.routing_is_free(m.topic, *user)?
                {
                    continue;
                }
                let Some(t) = pass.topic(tx, m.topic)? else {
                    continue;
                };
                if let Some(c) = first_for(tx, &mut pass, &t, *user, best)? {
                    best = better(best, c);
                }
            }
        }
        for topic in &dirty.topics {
            if !auto.contains(topic) {
                continue;
            }
            let Some(t) = pass.topic(tx, *topic)? else {
                continue;
            };
            if !pass.anyone_free(tx, &t)? {
                continue;
            }
            let mut after = topic_cursor.get(topic).copied().unwrap_or(0);
            'scan: loop {
                let page = tx.queue(*topic, after, 64)?;
                let Some(last) = page.last() else { break };
                for (seq, id) in &page {
                    if best.is_some_and(|b| b.0 <= *seq) {
                        break 'scan;
                    }
                    let Some(s) = readable(tx, *id, "routing pass")? else {
                        continue;
                    };
                    if let Some(u) = pass.choose(tx, &t, &s)? {
                        best = better(best, (*seq, s.id, u));
                        break 'scan;
                    }
                    topic_cursor.insert(*topic, *seq);
                }
                after = last.0;
            }
        }
        let Some((_, id, user)) = best else {
            return Ok(done);
        };
        assign(tx, &mut pass, id, user)?;
        // The agent's load went up: the index follows before the next choice.
        refresh_free(tx)?;
        done.push((id, user));
    }
}

/// The first session of `t`'s human queue that does not exclude `user`, as
/// a candidate with the agent routing would choose for it; `None` when there
/// is none before `best`.
fn first_for(
    tx: &mut Tx<'_>,
    pass: &mut Pass<'_>,
    t: &TopicRecord,
    user: UserId,
    best: Option<Candidate>,
) -> Result<Option<Candidate>> {
    let mut after = 0;
    loop {
        let page = tx.queue(t.id, after, 16)?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        for (seq, id) in &page {
            if best.is_some_and(|b| b.0 <= *seq) {
                return Ok(None);
            }
            let Some(s) = readable(tx, *id, "routing pass")? else {
                continue;
            };
            if s.routing.excluded.contains(&user) {
                continue;
            }
            return Ok(pass.choose(tx, t, &s)?.map(|u| (*seq, s.id, u)));
        }
        after = last.0;
    }
}

/// Assigns waiting session `id` to `user`: a pick-up by that agent, with
/// the welcome the agent's pick-up would write (not shown to the message
/// hook: an unrelated operation must never fail because of an assignment),
/// and its own change-feed event.
fn assign(tx: &mut Tx<'_>, pass: &mut Pass<'_>, id: SessionId, user: UserId) -> Result<()> {
    let now = pass.now;
    let mut s = tx
        .session(id)?
        .ok_or_else(|| Error::corrupt(format!("queue names missing session {id}")))?;
    let before = s.clone();
    let from_directory = pass
        .directory
        .associate(user)
        .and_then(|a| a.full_name().map(str::to_string));
    let name = agent_name(tx, user, from_directory)?;
    pick_up(tx, None, &mut s, user, &name, now, true)?;
    normalize(&mut s, now);
    tx.put_session(&s)?;
    record_event(
        tx,
        Emit::changed(),
        now,
        EventActor::System,
        Some(&before),
        &s,
    )?;
    // Loads and the index change: the next choice reads them again.
    pass.candidates.clear();
    Ok(())
}

fn cached_topic(
    tx: &dyn ReadTx,
    cache: &mut HashMap<TopicId, Option<TopicRecord>>,
    id: TopicId,
) -> Result<Option<TopicRecord>> {
    if let Some(t) = cache.get(&id) {
        return Ok(t.clone());
    }
    let t = tx.topic(id)?;
    cache.insert(id, t.clone());
    Ok(t)
}

/// The User of `s` if its answer timeout is due: assigned by routing, not
/// answered, on a topic that is Auto now with a timeout set, and the time
/// since the assignment reached it.
fn answer_due(s: &SessionRecord, t: &TopicRouting, now: Timestamp) -> Option<UserId> {
    let at = s.routing.routed_at?;
    let user = s.active_user()?;
    let due = t.mode == RoutingMode::Auto
        && t.answer_timeout_secs > 0
        && !s.routing.answered
        && now.whole_seconds_since(at) >= i64::from(t.answer_timeout_secs);
    due.then_some(user)
}

/// The target of `s`'s pending transfer if its timeout is due (on Manual
/// topics too).
fn transfer_due(s: &SessionRecord, t: &TopicRouting, now: Timestamp) -> Option<UserId> {
    let to = s.pending_transfer_to()?;
    let at = s.routing.transfer_requested_at?;
    let due = t.transfer_timeout_secs > 0
        && now.whole_seconds_since(at) >= i64::from(t.transfer_timeout_secs);
    due.then_some(to)
}

/// Puts an unanswered routed session back in the queue: the one queue entry
/// that keeps the session's sequence, entry time and InitialQueuePos (it
/// waited all along). No message; the agent joins its exclusion set.
fn requeue(tx: &mut Tx<'_>, mut s: SessionRecord, user: UserId, now: Timestamp) -> Result<()> {
    let before = s.clone();
    s.status = ChatSessionStatus::InQueue;
    s.user = None;
    s.rank = 0;
    s.when_started = None;
    s.transfer_to = None;
    s.alert_level = 0;
    if !s.routing.excluded.contains(&user) {
        s.routing.excluded.push(user);
        s.routing.excluded.sort();
    }
    s.stats.answer_timeouts = s.stats.answer_timeouts.saturating_add(1);
    normalize(&mut s, now);
    tx.put_session(&s)?;
    record_event(
        tx,
        Emit::changed(),
        now,
        EventActor::System,
        Some(&before),
        &s,
    )
}

/// Checks a routing carrier's numbers, in carrier order.
fn check_routing(r: &ChatTopicRouting) -> Result<()> {
    if !(1..=MAX_CAPACITY).contains(&r.default_capacity) {
        return Err(Error::validation(
            "DefaultCapacity",
            format!("{} is not 1–{MAX_CAPACITY}", r.default_capacity),
        ));
    }
    for (field, v) in [
        ("AnswerTimeoutSeconds", r.answer_timeout_seconds),
        ("TransferTimeoutSeconds", r.transfer_timeout_seconds),
    ] {
        if !(0..=MAX_TIMEOUT_SECS).contains(&v) {
            return Err(Error::validation(
                field,
                format!("{v} is not 0–{MAX_TIMEOUT_SECS}"),
            ));
        }
    }
    Ok(())
}

fn routing_carrier(topic: TopicId, r: &TopicRouting) -> ChatTopicRouting {
    ChatTopicRouting {
        chat_topic_id: topic.0,
        mode: r.mode,
        strategy: r.strategy,
        default_capacity: r.default_capacity,
        answer_timeout_seconds: r.answer_timeout_secs,
        transfer_timeout_seconds: r.transfer_timeout_secs,
    }
}

/// NotFound for an unknown topic, customers and agents who are not members;
/// the caller's membership otherwise (None for System).
fn routing_reader(
    tx: &dyn ReadTx,
    who: Who,
    topic: TopicId,
) -> Result<(TopicRecord, Option<MemberRecord>)> {
    let t = tx
        .topic(topic)?
        .ok_or_else(|| Error::not_found("topic", topic))?;
    match who {
        Who::System => Ok((t, None)),
        Who::Agent(u) => match tx.member(topic, u)? {
            Some(m) => Ok((t, Some(m))),
            None => Err(Error::not_found("topic", topic)),
        },
        Who::Customer(_) | Who::Anonymous => Err(Error::not_found("topic", topic)),
    }
}

/// Whether `who` may read or save `user`'s capacity: System; for reading
/// also the user; a manager of a topic where the user is a member.
fn capacity_allowed(tx: &dyn ReadTx, who: Who, user: UserId, reading: bool) -> Result<bool> {
    match who {
        Who::System => Ok(true),
        Who::Agent(me) => {
            if reading && me == user {
                return Ok(true);
            }
            for m in tx.user_memberships(user)? {
                if tx.member(m.topic, me)?.is_some_and(|mine| mine.can_manage) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Who::Customer(_) | Who::Anonymous => Ok(false),
    }
}

/// # Routing
///
/// Automatic assignment with capacity: a topic's settings, an agent's
/// capacity, the sweep that moves unanswered chats and stale transfers on,
/// and why a session is or is not routed. See [`crate::guide::routing`].
impl<S: Storage> ChatDesk<S> {
    /// A topic's routing settings (the defaults until it saves its own).
    /// System and the topic's members may read them.
    ///
    /// # Errors
    /// NotFound for an unknown topic, customers and agents who are not
    /// members of the topic.
    pub fn get_chat_topic_routing(
        &self,
        caller: &Caller,
        topic: TopicId,
    ) -> Result<ChatTopicRouting> {
        let _op = super::trace::op("get_chat_topic_routing", caller).topic(topic);
        self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let (t, _) = routing_reader(tx, who, topic)?;
            Ok(routing_carrier(topic, &t.routing))
        })
    }

    /// Saves a topic's routing settings (System and the topic's managers)
    /// and returns them as stored. Turning a topic Auto, or raising its
    /// capacity, assigns its waiting sessions at once where agents are
    /// eligible.
    ///
    /// # Errors
    /// NotFound (unknown topic; customers and non-members), Forbidden (a
    /// member without CanManage), Validation naming the first field out of
    /// range (DefaultCapacity 1–1000, AnswerTimeoutSeconds and
    /// TransferTimeoutSeconds 0–86 400).
    pub fn save_chat_topic_routing(
        &self,
        caller: &Caller,
        routing: &ChatTopicRouting,
    ) -> Result<ChatTopicRouting> {
        let _op = super::trace::op("save_chat_topic_routing", caller).topic(routing.topic_id());
        let now = self.now();
        let topic = routing.topic_id();
        self.write_routed(Scope::store(), |tx| {
            let who = Who::resolve(tx, caller)?;
            let (mut t, member) = routing_reader(tx, who, topic)?;
            if member.is_some_and(|m| !m.can_manage) {
                return Err(Error::forbidden(
                    "save_chat_topic_routing",
                    "only System and the topic's managers save its routing",
                ));
            }
            check_routing(routing)?;
            let new = TopicRouting {
                mode: routing.mode,
                strategy: routing.strategy,
                default_capacity: routing.default_capacity,
                answer_timeout_secs: routing.answer_timeout_seconds,
                transfer_timeout_secs: routing.transfer_timeout_seconds,
            };
            if new != t.routing {
                t.routing = new;
                tx.put_topic(&t)?;
                set_auto(tx, topic, new.mode == RoutingMode::Auto)?;
                tx.topic_dirty(topic);
            }
            routing_pass(tx, &*self.directory, now)?;
            Ok(routing_carrier(topic, &t.routing))
        })
    }

    /// An agent's capacity (MaxChats null: each topic's DefaultCapacity).
    /// System, the agent, and managers of a topic where the agent is a
    /// member may read it.
    ///
    /// # Errors
    /// Forbidden for anyone else (customers included).
    pub fn get_chat_agent_capacity(
        &self,
        caller: &Caller,
        user: UserId,
    ) -> Result<ChatAgentCapacity> {
        let _op = super::trace::op("get_chat_agent_capacity", caller).user(user);
        self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            if !capacity_allowed(tx, who, user, true)? {
                return Err(Error::forbidden(
                    "get_chat_agent_capacity",
                    "only System, the agent and their topics' managers read it",
                ));
            }
            Ok(ChatAgentCapacity {
                user_id: user.0,
                max_chats: tx.agent(user)?.and_then(|a| a.max_chats),
            })
        })
    }

    /// Saves an agent's capacity (System, or a manager of a topic where the
    /// agent is a member). More room assigns waiting sessions at once.
    ///
    /// # Errors
    /// Forbidden for anyone else; Validation naming MaxChats outside 1–1000.
    pub fn save_chat_agent_capacity(
        &self,
        caller: &Caller,
        capacity: &ChatAgentCapacity,
    ) -> Result<ChatAgentCapacity> {
        let _op = super::trace::op("save_chat_agent_capacity", caller).user(capacity.user_id());
        let now = self.now();
        let user = capacity.user_id();
        self.write_routed(Scope::of(caller).user(user), |tx| {
            let who = Who::resolve(tx, caller)?;
            if !capacity_allowed(tx, who, user, false)? {
                return Err(Error::forbidden(
                    "save_chat_agent_capacity",
                    "only System and the agent's topics' managers save it",
                ));
            }
            if let Some(n) = capacity.max_chats
                && !(1..=MAX_CAPACITY).contains(&n)
            {
                return Err(Error::validation(
                    "MaxChats",
                    format!("{n} is not 1–{MAX_CAPACITY} (or null)"),
                ));
            }
            let mut a = tx.agent(user)?.unwrap_or(AgentRecord {
                user,
                ..AgentRecord::default()
            });
            if a.max_chats != capacity.max_chats {
                a.max_chats = capacity.max_chats;
                tx.put_agent(&a)?;
            }
            routing_pass(tx, &*self.directory, now)?;
            Ok(ChatAgentCapacity {
                user_id: user.0,
                max_chats: a.max_chats,
            })
        })
    }

    /// The routing sweep (System only; the host calls it, e.g. every few
    /// seconds): a routed session whose agent has not written within the
    /// topic's AnswerTimeoutSeconds goes back to the queue in its old place
    /// and that agent is excluded from it; a transfer not answered within
    /// TransferTimeoutSeconds is rejected. It works in batches of at most
    /// [`SWEEP_BATCH`](crate::SWEEP_BATCH) active sessions by id, each one
    /// transaction: first every due answer timeout, then every due transfer
    /// timeout, then one routing pass. Returns what happened, in order.
    ///
    /// # Errors
    /// Forbidden for callers other than System; the backend's failure
    /// (batches already committed stay committed).
    pub fn routing_sweep(&self, caller: &Caller) -> Result<Vec<RoutingChange>> {
        let _op = super::trace::op("routing_sweep", caller);
        if !caller.is_system() {
            return Err(Error::forbidden("routing_sweep", "only System runs sweeps"));
        }
        let now = self.now();
        let mut out = Vec::new();
        let mut after = SessionId(0);
        loop {
            let (changes, last) = self.write_routed(Scope::store(), |tx| {
                let mut page =
                    tx.sessions_by_status(ChatSessionStatus::CustomerLast, after, SWEEP_BATCH)?;
                page.extend(tx.sessions_by_status(
                    ChatSessionStatus::UserLast,
                    after,
                    SWEEP_BATCH,
                )?);
                page.sort_by_key(|s| s.id);
                page.truncate(SWEEP_BATCH);
                let last = page.last().map(|s| s.id);
                let mut topics: HashMap<TopicId, Option<TopicRecord>> = HashMap::new();
                let mut changes = Vec::new();
                for s in &page {
                    let Some(t) = cached_topic(tx, &mut topics, s.topic)? else {
                        continue;
                    };
                    if let Some(user) = answer_due(s, &t.routing, now) {
                        requeue(tx, s.clone(), user, now)?;
                        changes.push(RoutingChange::AnswerTimeout {
                            session: s.id,
                            user,
                        });
                    }
                }
                for s in &page {
                    let Some(t) = cached_topic(tx, &mut topics, s.topic)? else {
                        continue;
                    };
                    // Re-read: an answer timeout above drops a pending transfer.
                    let Some(cur) = tx.session(s.id)? else {
                        continue;
                    };
                    if let Some(to) = transfer_due(&cur, &t.routing, now) {
                        self.transfer_timed_out(tx, cur, to, now)?;
                        changes.push(RoutingChange::TransferTimeout { session: s.id, to });
                    }
                }
                for (session, user) in routing_pass(tx, &*self.directory, now)? {
                    changes.push(RoutingChange::Assigned { session, user });
                }
                Ok((changes, last))
            })?;
            out.extend(changes);
            match last {
                Some(l) => after = l,
                None => {
                    super::trace::swept("routing_sweep", out.len());
                    return Ok(out);
                }
            }
        }
    }

    /// Rejects a pending transfer that waited past its topic's timeout, as if
    /// its target had rejected it.
    fn transfer_timed_out(
        &self,
        tx: &mut Tx<'_>,
        mut s: SessionRecord,
        to: UserId,
        now: Timestamp,
    ) -> Result<()> {
        let before = s.clone();
        s.transfer_to = None;
        let m = NewMessage::special(
            ChatMessageSpecialType::TransferRejected,
            format!("Transfer to user {to} not answered in time"),
        );
        post_message(tx, &self.hook, &mut s, m, now)?;
        normalize(&mut s, now);
        tx.put_session(&s)?;
        let rejected = Emit::kind(ChatEventKind::TransferRejected);
        record_event(tx, rejected, now, EventActor::System, Some(&before), &s)
    }

    /// Why a session is or is not routed: its status, queue position, the
    /// topic's mode and one verdict per member with CanRespond (NotPresent,
    /// Excluded, AtCapacity, Eligible — the first that applies), computed
    /// the same way whatever the status or mode. System, the topic's
    /// managers and its members with CanRespond may ask.
    ///
    /// # Errors
    /// NotFound when the caller may not see the session; Forbidden for
    /// anyone else who may (customers, listeners).
    pub fn explain_routing(&self, caller: &Caller, id: SessionId) -> Result<RoutingExplanation> {
        let _op = super::trace::op("explain_routing", caller).session(id);
        self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let (s, rel, _) = visible_session(tx, who, id)?;
            let allowed =
                who == Who::System || rel.member.is_some_and(|m| m.can_manage || m.can_respond);
            if !allowed {
                return Err(Error::forbidden(
                    "explain_routing",
                    "only System, the topic's managers and its responders ask",
                ));
            }
            let t = tx.topic(s.topic)?.ok_or_else(|| {
                Error::conflict(format!("topic {} of session {} is gone", s.topic, s.id))
            })?;
            let mut agents = Vec::new();
            for m in tx.topic_members(s.topic)? {
                if !m.can_respond {
                    continue;
                }
                let a = read_agent(tx, m.user)?;
                agents.push(AgentVerdict {
                    user: m.user,
                    verdict: verdict(&a, m.user, &t.routing, &s),
                });
            }
            Ok(RoutingExplanation {
                session: s.id,
                status: s.status,
                queue_position: queue_position_of(tx, &s)?,
                mode: t.routing.mode,
                agents,
            })
        })
    }
}
