//! The reference model: the domain rules (lifecycle, queue, rank, alerts,
//! rights and routing; see `crate::guide`) written out again as plain data and
//! plain functions, with no storage and no code shared with the service's
//! rules (no `status`, `rights`, `rank`, `queue`, `alerts` or
//! `service::routing` calls). Time is in whole seconds since the Unix epoch
//! (every clock move of the driver is a whole number of seconds).

use crate::wire::ChatSessionStatus as St;
use std::collections::{BTreeMap, BTreeSet};

/// Default limits of the service's `Config`, in seconds.
pub const IDLE_LIMIT: i64 = 30 * 60;
/// The dead-customer limit.
pub const DEAD_LIMIT: i64 = 3 * 60;
/// The reopen window.
pub const REOPEN_WINDOW: i64 = 15 * 60;
/// The purge age.
pub const PURGE_AFTER: i64 = 24 * 3600;
/// A customer fetch writes WhenFetched only when the stored one is this old.
pub const FETCH_INTERVAL: i64 = 5;
/// Sessions per sweep batch.
pub const BATCH: usize = 256;

/// The kind of an error, with the field where it is part of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    NotFound,
    Forbidden,
    InvalidTransition,
    Validation(String),
    FieldRightDenied(String),
    Conflict,
}

/// What a model operation answers.
pub type Res<T> = Result<T, Fail>;

/// A caller, with customers named by the index of their session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    System,
    Agent(i32),
    /// The customer holding the key of session `i` (creation order).
    Customer(usize),
    /// A customer whose key matches no session.
    Stranger,
    Anonymous,
}

/// The settings a topic is created with (fixed for a case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopicCfg {
    pub pre_form: bool,
    pub auto_faq: bool,
    pub bot: bool,
    pub consent: bool,
    pub req_name: bool,
    pub req_email: bool,
    pub welcome: bool,
    /// WarnNewChatMinutes, WarnManagerNewChatMinutes, WarnChatMessageMinutes,
    /// WarnManagerChatMessageMinutes.
    pub warn: [i32; 4],
    pub queue_offline: bool,
    pub offline_minutes: i32,
    pub offline_length: i32,
    pub rating: bool,
    /// Opening hours on: Monday–Friday 08:00–17:00 UTC, weekends closed.
    pub hours: bool,
}

/// A topic's routing settings, as saved (any numbers: the
/// model checks them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingCfg {
    /// Mode Auto (else Manual).
    pub auto: bool,
    /// Strategy LongestIdle (else LeastBusy).
    pub longest_idle: bool,
    pub default_capacity: i32,
    pub answer_timeout: i32,
    pub transfer_timeout: i32,
}

impl Default for RoutingCfg {
    /// What a topic that never saved its routing reads.
    fn default() -> Self {
        RoutingCfg {
            auto: false,
            longest_idle: false,
            default_capacity: 3,
            answer_timeout: 0,
            transfer_timeout: 0,
        }
    }
}

/// A topic's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MTopic {
    pub cfg: TopicCfg,
    pub last_accept: Option<i64>,
    pub seconds_pr_accept: i32,
    pub routing: RoutingCfg,
}

/// Why routing can or cannot give a session to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    NotPresent,
    Excluded,
    /// (load, capacity)
    AtCapacity(i32, i32),
    /// (load, capacity)
    Eligible(i32, i32),
}

/// explain_routing's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub status: St,
    pub queue_pos: Option<u32>,
    pub auto: bool,
    /// One per member with CanRespond, by user id.
    pub agents: Vec<(i32, Verdict)>,
}

/// What the routing sweep did, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RChange {
    /// (session, the agent who did not answer)
    AnswerTimeout(usize, i32),
    /// (session, the transfer's target)
    TransferTimeout(usize, i32),
    /// (session, the agent it went to)
    Assigned(usize, i32),
}

/// An eligible agent as routing weighs them: (user, load, last-assignment).
pub type Candidate = (i32, i32, Option<i64>);

/// One routed assignment, with every eligible agent it was chosen from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub session: usize,
    pub user: i32,
    pub longest_idle: bool,
    pub candidates: Vec<Candidate>,
}

/// Rights of a membership: listen, respond, manage, notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rights {
    pub listen: bool,
    pub respond: bool,
    pub manage: bool,
    pub notify: bool,
}

impl Rights {
    pub fn from_bits(b: u8) -> Rights {
        Rights {
            listen: b & 1 != 0,
            respond: b & 2 != 0,
            manage: b & 4 != 0,
            notify: b & 8 != 0,
        }
    }
    pub fn none(self) -> bool {
        !(self.listen || self.respond || self.manage || self.notify)
    }
}

/// The customer fields the model follows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Customer {
    pub name: String,
    pub email: String,
    pub consented: bool,
    /// Longer than CustomerAlias allows (64): refused.
    pub alias_too_long: bool,
}

/// A session as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MSession {
    pub topic: usize,
    pub status: St,
    pub user: Option<i32>,
    pub transfer_to: Option<i32>,
    pub rank: i32,
    pub alert: i32,
    pub iqp: i32,
    pub bot: bool,
    pub rating: i32,
    pub seq: Option<u64>,
    pub queue_entered: Option<i64>,
    pub customer_last_since: Option<i64>,
    pub requested: i64,
    pub started: Option<i64>,
    pub ended: Option<i64>,
    pub idle: Option<i64>,
    pub fetched: Option<i64>,
    pub deleted_at: Option<i64>,
    pub purged: bool,
    pub customer: Customer,
    pub messages: u32,
    /// When routing assigned it to its User (None: not assigned by routing).
    pub routed_at: Option<i64>,
    /// Whether the User added a message since the routed assignment.
    pub answered: bool,
    /// Agents routing no longer offers it to.
    pub excluded: BTreeSet<i32>,
    /// When the pending transfer was (last) requested.
    pub transfer_at: Option<i64>,
}

/// The observable projection of a session that the driver compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub status: St,
    pub user: Option<i32>,
    pub transfer_to: Option<i32>,
    pub rank: i32,
    pub alert: i32,
    pub initial_queue_pos: i32,
    pub bot: bool,
    pub rating: i32,
    pub started: Option<i64>,
    pub ended: Option<i64>,
    pub queue_pos: Option<u32>,
    pub messages: u32,
    pub customer_name: String,
}

/// The whole model.
#[derive(Debug, Clone)]
pub struct Model {
    pub now: i64,
    pub topics: Vec<MTopic>,
    pub members: BTreeMap<(usize, i32), Rights>,
    pub present: BTreeMap<i32, bool>,
    pub sessions: Vec<MSession>,
    pub next_seq: u64,
    /// MaxChats per user (absent: null).
    pub max_chats: BTreeMap<i32, i32>,
    /// Last-assignment time per user (absent: never).
    pub last_assigned: BTreeMap<i32, i64>,
    /// Routed assignments not yet taken by the driver, in order.
    pub assigned: Vec<Assignment>,
}

fn open(s: St) -> bool {
    matches!(
        s,
        St::PreChatForm | St::Faq | St::OfflineForm | St::InQueue | St::CustomerLast | St::UserLast
    )
}

fn active(s: St) -> bool {
    matches!(s, St::CustomerLast | St::UserLast)
}

/// Select, Update, Delete bits of ETableRight.
const SELECT: u32 = 1;
const UPDATE: u32 = 2;
const DELETE: u32 = 8;
const FULL: u32 = 15;

/// Roles of the "who" column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    System,
    Customer,
    Manager,
    TheUser,
    TheTransferTo,
    Responder,
}

impl MSession {
    fn in_human_queue(&self) -> bool {
        self.status == St::InQueue && !self.bot
    }
}

impl Model {
    /// A model at `now` with these topics and nothing else.
    pub fn new(now: i64, topics: &[TopicCfg]) -> Model {
        Model {
            now,
            topics: topics
                .iter()
                .map(|&cfg| MTopic {
                    cfg,
                    last_accept: None,
                    seconds_pr_accept: 0,
                    routing: RoutingCfg::default(),
                })
                .collect(),
            members: BTreeMap::new(),
            present: BTreeMap::new(),
            sessions: Vec::new(),
            next_seq: 1,
            max_chats: BTreeMap::new(),
            last_assigned: BTreeMap::new(),
            assigned: Vec::new(),
        }
    }

    fn rights(&self, topic: usize, user: i32) -> Option<Rights> {
        self.members.get(&(topic, user)).copied()
    }

    /// The session rights table: the TableRight bits, or None (NotFound).
    pub fn table_bits(&self, who: Who, i: usize) -> Option<u32> {
        let s = self.sessions.get(i)?;
        if s.purged {
            return None;
        }
        let is_open = open(s.status);
        let deleted = s.status == St::Deleted;
        let member = match who {
            Who::Agent(u) => self.rights(s.topic, u),
            _ => None,
        };
        let mut bits: Option<u32> = None;
        let mut add = |b: u32| bits = Some(bits.unwrap_or(0) | b);
        if who == Who::System || member.is_some_and(|m| m.manage) {
            add(if is_open {
                FULL
            } else if deleted {
                SELECT
            } else {
                SELECT | DELETE
            });
        }
        if deleted {
            return bits;
        }
        if matches!(who, Who::Agent(u) if s.user == Some(u)) {
            if active(s.status) {
                add(SELECT | UPDATE);
            } else if !is_open {
                add(SELECT);
            }
        }
        if member
            .is_some_and(|m| m.respond || m.listen || (m.notify && is_open && s.in_human_queue()))
        {
            add(SELECT);
        }
        if who == Who::Customer(i) {
            add(if is_open { SELECT | UPDATE } else { SELECT });
        }
        bits
    }

    fn role_passes(&self, role: Role, who: Who, i: usize) -> bool {
        let s = &self.sessions[i];
        match (role, who) {
            (Role::System, Who::System) => true,
            (Role::Customer, Who::Customer(c)) => c == i,
            (Role::Manager, Who::Agent(u)) => self.rights(s.topic, u).is_some_and(|m| m.manage),
            (Role::Responder, Who::Agent(u)) => self.rights(s.topic, u).is_some_and(|m| m.respond),
            (Role::TheUser, Who::Agent(u)) => s.user == Some(u),
            (Role::TheTransferTo, Who::Agent(u)) => s.transfer_to == Some(u),
            _ => false,
        }
    }

    /// NotFound → Forbidden (with the "no User / no TransferTo" rule) →
    /// InvalidTransition on the status.
    fn check(&self, who: Who, i: usize, roles: &[Role], from: &[St]) -> Res<u32> {
        let bits = self.table_bits(who, i).ok_or(Fail::NotFound)?;
        let s = &self.sessions[i];
        if !roles.iter().any(|&r| self.role_passes(r, who, i)) {
            let agent = matches!(who, Who::Agent(_));
            let no_user = roles.contains(&Role::TheUser) && s.user.is_none();
            let no_target = roles.contains(&Role::TheTransferTo) && s.transfer_to.is_none();
            if agent && (no_user || no_target) {
                return Err(Fail::InvalidTransition);
            }
            return Err(Fail::Forbidden);
        }
        if !from.contains(&s.status) {
            return Err(Fail::InvalidTransition);
        }
        Ok(bits)
    }

    /// Opening hours for the one schedule the model uses.
    fn topic_open(&self, t: usize) -> bool {
        if !self.topics[t].cfg.hours {
            return true;
        }
        let days = self.now.div_euclid(86_400);
        let second_of_day = self.now.rem_euclid(86_400);
        let weekday = (days + 4).rem_euclid(7); // 0 = Sunday; 1970-01-01 was a Thursday
        (1..=5).contains(&weekday) && (8 * 3600..17 * 3600).contains(&second_of_day)
    }

    fn someone_present(&self, t: usize) -> bool {
        self.members.iter().any(|(&(topic, user), r)| {
            topic == t && r.respond && self.present.get(&user).copied().unwrap_or(false)
        })
    }

    fn required(&self, t: usize, c: &Customer) -> Res<()> {
        let cfg = &self.topics[t].cfg;
        if cfg.req_name && c.name.trim().is_empty() {
            return Err(Fail::Validation("CustomerName".into()));
        }
        if cfg.req_email && c.email.trim().is_empty() {
            return Err(Fail::Validation("CustomerEmail".into()));
        }
        if cfg.consent && !c.consented {
            return Err(Fail::Validation("CustomerConsented".into()));
        }
        Ok(())
    }

    fn human_queue(&self, t: usize) -> Vec<usize> {
        let mut q: Vec<(u64, usize)> = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.purged && s.topic == t && s.in_human_queue())
            .map(|(i, s)| (s.seq.unwrap_or(0), i))
            .collect();
        q.sort_unstable();
        q.into_iter().map(|(_, i)| i).collect()
    }

    /// Queue position: 1 + the human-queue sessions of the topic ahead of it.
    pub fn queue_pos(&self, i: usize) -> Option<u32> {
        let s = &self.sessions[i];
        if s.purged || !s.in_human_queue() {
            return None;
        }
        let q = self.human_queue(s.topic);
        q.iter()
            .position(|&j| j == i)
            .map(|p| u32::try_from(p + 1).unwrap_or(u32::MAX))
    }

    /// The topic's human queue in order (session indexes).
    pub fn topic_queue(&self, t: usize) -> Vec<usize> {
        self.human_queue(t)
    }

    /// Active sessions of a user.
    pub fn ongoing(&self, user: i32) -> usize {
        self.sessions
            .iter()
            .filter(|s| !s.purged && active(s.status) && s.user == Some(user))
            .count()
    }

    pub fn seen(&self, i: usize) -> Option<Seen> {
        let s = &self.sessions[i];
        if s.purged {
            return None;
        }
        Some(Seen {
            status: s.status,
            user: s.user,
            transfer_to: s.transfer_to,
            rank: s.rank,
            alert: s.alert,
            initial_queue_pos: s.iqp,
            bot: s.bot,
            rating: s.rating,
            started: s.started,
            ended: s.ended,
            queue_pos: self.queue_pos(i),
            messages: s.messages,
            customer_name: s.customer.name.clone(),
        })
    }

    /// Enter the queue with session `i` already holding `s`.
    fn enter_queue(&mut self, i: usize, s: &mut MSession) {
        s.status = St::InQueue;
        s.seq = Some(self.next_seq);
        self.next_seq += 1;
        s.queue_entered = Some(self.now);
        s.alert = 0;
        if s.iqp == 0 && !s.bot {
            let ahead = self
                .sessions
                .iter()
                .enumerate()
                .filter(|(j, o)| *j != i && !o.purged && o.topic == s.topic && o.in_human_queue())
                .count();
            s.iqp = i32::try_from(ahead + 1).unwrap_or(i32::MAX);
        }
    }

    /// Rules 3–4 (with the entry checks when asked).
    fn route(&mut self, i: usize, s: &mut MSession, check_entry: bool) -> Res<()> {
        if !self.topic_open(s.topic) || !self.someone_present(s.topic) {
            s.status = St::OfflineForm;
            return Ok(());
        }
        if check_entry {
            self.required(s.topic, &s.customer)?;
        }
        self.enter_queue(i, s);
        Ok(())
    }

    /// The lifecycle's invariants after every change, and routing's ends:
    /// an ended session is no longer assigned by routing and its exclusion
    /// set is emptied.
    fn settle(&self, s: &mut MSession) {
        if !active(s.status) || s.user.is_none() {
            s.rank = 0;
            s.transfer_to = None;
        }
        if !open(s.status) {
            s.routed_at = None;
            s.excluded.clear();
        }
        if s.status != St::CustomerLast {
            s.customer_last_since = None;
        }
        if !open(s.status) && s.ended.is_none() {
            s.ended = Some(self.now);
        }
    }

    /// Runs `f` on a copy of session `i` and keeps it only on success.
    fn with_session<T>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut Model, &mut MSession) -> Res<T>,
    ) -> Res<T> {
        if i >= self.sessions.len() {
            return Err(Fail::NotFound);
        }
        let saved_seq = self.next_seq;
        let mut s = self.sessions[i].clone();
        match f(self, &mut s) {
            Ok(v) => {
                self.settle(&mut s);
                self.sessions[i] = s;
                Ok(v)
            }
            Err(e) => {
                self.next_seq = saved_seq;
                Err(e)
            }
        }
    }

    fn touch(&self, who: Who, i: usize, s: &mut MSession) {
        if who == Who::Customer(i) {
            s.fetched = Some(self.now);
        }
    }

    fn lowest_free_rank(&self, user: i32, except: usize) -> i32 {
        let used: Vec<i32> = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(j, o)| *j != except && !o.purged && active(o.status) && o.user == Some(user))
            .map(|(_, o)| o.rank)
            .collect();
        (1..).find(|r| !used.contains(r)).unwrap_or(1)
    }

    // ----- operations -----

    /// create_chat_session_for_topic; `topic` None is an unknown topic.
    pub fn create(&mut self, who: Who, topic: Option<usize>, c: &Customer) -> Res<usize> {
        let t = topic.ok_or(Fail::NotFound)?;
        if !matches!(who, Who::System | Who::Anonymous) {
            return Err(Fail::Forbidden);
        }
        if c.alias_too_long {
            return Err(Fail::Validation("CustomerAlias".into()));
        }
        let cfg = self.topics[t].cfg;
        let i = self.sessions.len();
        let mut s = MSession {
            topic: t,
            status: St::Invalid,
            user: None,
            transfer_to: None,
            rank: 0,
            alert: 0,
            iqp: 0,
            bot: cfg.bot,
            rating: 0,
            seq: None,
            queue_entered: None,
            customer_last_since: None,
            requested: self.now,
            started: None,
            ended: None,
            idle: None,
            fetched: None,
            deleted_at: None,
            purged: false,
            customer: c.clone(),
            messages: 0,
            routed_at: None,
            answered: false,
            excluded: BTreeSet::new(),
            transfer_at: None,
        };
        if cfg.pre_form {
            s.status = St::PreChatForm;
        } else if cfg.auto_faq {
            s.status = St::Faq;
        } else {
            let saved = self.next_seq;
            if let Err(e) = self.route(i, &mut s, true) {
                self.next_seq = saved;
                return Err(e);
            }
        }
        self.sessions.push(s);
        self.routing_pass();
        Ok(i)
    }

    pub fn submit_pre_chat_form(&mut self, who: Who, i: usize, c: &Customer) -> Res<()> {
        let r = self.with_session(i, |m, s| {
            m.check(who, i, &[Role::Customer, Role::System], &[St::PreChatForm])?;
            if c.alias_too_long {
                return Err(Fail::Validation("CustomerAlias".into()));
            }
            m.required(s.topic, c)?;
            s.customer = c.clone();
            m.touch(who, i, s);
            if m.topics[s.topic].cfg.auto_faq {
                s.status = St::Faq;
                Ok(())
            } else {
                m.route(i, s, false)
            }
        });
        self.then_route(r)
    }

    pub fn faq_answered(&mut self, who: Who, i: usize) -> Res<()> {
        self.with_session(i, |m, s| {
            m.check(who, i, &[Role::Customer, Role::System], &[St::Faq])?;
            m.touch(who, i, s);
            s.status = St::Closed;
            s.messages += 1;
            Ok(())
        })
    }

    pub fn faq_not_helped(&mut self, who: Who, i: usize) -> Res<()> {
        let r = self.with_session(i, |m, s| {
            m.check(who, i, &[Role::Customer, Role::System], &[St::Faq])?;
            m.touch(who, i, s);
            m.route(i, s, true)
        });
        self.then_route(r)
    }

    pub fn post_offline_request(&mut self, who: Who, i: usize, text_too_long: bool) -> Res<()> {
        self.with_session(i, |m, s| {
            m.check(
                who,
                i,
                &[Role::Customer, Role::System],
                &[St::OfflineForm, St::InQueue],
            )?;
            if s.status == St::InQueue {
                let cfg = m.topics[s.topic].cfg;
                let waited = (m.now - s.queue_entered.unwrap_or(m.now)).max(0);
                let by_time =
                    cfg.offline_minutes > 0 && waited >= i64::from(cfg.offline_minutes) * 60;
                let len = m.human_queue(s.topic).len();
                let by_length = cfg.offline_length > 0
                    && i64::try_from(len).unwrap_or(i64::MAX) >= i64::from(cfg.offline_length);
                if !cfg.queue_offline || s.bot || !(by_time || by_length) {
                    return Err(Fail::InvalidTransition);
                }
            }
            if text_too_long {
                return Err(Fail::Validation("text".into()));
            }
            m.touch(who, i, s);
            s.status = St::RequestPosted;
            s.messages += 1;
            s.idle = Some(m.now);
            Ok(())
        })
    }

    /// A pick-up by `agent`, by hand or by routing (`routed`).
    fn pick_up_into(&mut self, s: &mut MSession, i: usize, agent: i32, routed: bool) {
        self.last_assigned.insert(agent, self.now);
        s.routed_at = routed.then_some(self.now);
        s.answered = false;
        s.rank = self.lowest_free_rank(agent, i);
        s.user = Some(agent);
        s.started = Some(self.now);
        s.alert = 0;
        s.status = St::UserLast;
        let wait = (self.now - s.queue_entered.unwrap_or(self.now)).max(0);
        let t = &mut self.topics[s.topic];
        t.seconds_pr_accept = match t.last_accept {
            None => i32::try_from(wait).unwrap_or(i32::MAX),
            Some(_) => {
                let old = i64::from(t.seconds_pr_accept);
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                let step = ((wait - old) as f64 / 10.0).round() as i64;
                i32::try_from(old + step).unwrap_or(i32::MAX)
            }
        };
        t.last_accept = Some(self.now);
        if t.cfg.welcome {
            s.messages += 1;
            s.idle = Some(self.now);
        }
    }

    /// pick_up_chat_session: Ok(false) is "nothing" (not in the human queue).
    pub fn pick_up(&mut self, who: Who, i: usize) -> Res<bool> {
        let saved_topics = self.topics.clone();
        let r = self.with_session(i, |m, s| {
            m.table_bits(who, i).ok_or(Fail::NotFound)?;
            if !m.role_passes(Role::Responder, who, i) {
                return Err(Fail::Forbidden);
            }
            let Who::Agent(agent) = who else {
                return Err(Fail::Forbidden);
            };
            if !s.in_human_queue() {
                return Ok(false);
            }
            m.pick_up_into(s, i, agent, false);
            Ok(true)
        });
        if r.is_err() {
            self.topics = saved_topics;
        }
        r
    }

    /// pick_up_first_chat_session: the session picked up, if any.
    pub fn pick_up_first(&mut self, who: Who) -> Res<Option<usize>> {
        let Who::Agent(agent) = who else {
            return Err(Fail::Forbidden);
        };
        let best = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                !s.purged
                    && s.in_human_queue()
                    && self.rights(s.topic, agent).is_some_and(|r| r.respond)
            })
            .min_by_key(|(_, s)| s.seq)
            .map(|(i, _)| i);
        let Some(i) = best else { return Ok(None) };
        self.with_session(i, |m, s| {
            m.pick_up_into(s, i, agent, false);
            Ok(())
        })?;
        Ok(Some(i))
    }

    /// add_chat_message. `special`: 0 None, 1 ClickedOption, 2 BotMessage,
    /// 3 Options with a valid list, 4 Options with a bad list, 5 Welcome.
    pub fn add_message(&mut self, who: Who, i: usize, special: u8, too_long: bool) -> Res<()> {
        self.with_session(i, |m, s| {
            let from = [St::InQueue, St::CustomerLast, St::UserLast];
            match who {
                Who::System => {
                    m.check(who, i, &[Role::System], &from)?;
                    if !s.bot {
                        return Err(Fail::InvalidTransition);
                    }
                }
                Who::Agent(_) => {
                    m.check(who, i, &[Role::TheUser], &[St::CustomerLast, St::UserLast])?;
                }
                _ => {
                    m.check(who, i, &[Role::Customer], &from)?;
                }
            }
            if too_long {
                return Err(Fail::Validation("Message".into()));
            }
            let special_ok = match who {
                Who::System => match special {
                    0 | 2 | 3 => true,
                    4 => return Err(Fail::Validation("SpecialParam".into())),
                    _ => false,
                },
                Who::Agent(_) => special == 0,
                _ => matches!(special, 0 | 1),
            };
            if !special_ok {
                return Err(Fail::Validation("SpecialType".into()));
            }
            s.messages += 1;
            s.idle = Some(m.now);
            match who {
                Who::System => s.status = St::UserLast,
                Who::Agent(_) => {
                    s.status = St::UserLast;
                    s.alert = 0;
                    s.answered = true;
                }
                _ => {
                    if !s.in_human_queue() && s.status != St::CustomerLast {
                        s.status = St::CustomerLast;
                        s.customer_last_since = Some(m.now);
                    }
                    m.touch(who, i, s);
                }
            }
            Ok(())
        })
    }

    pub fn reset(&mut self, who: Who, i: usize) -> Res<()> {
        let r = self.with_session(i, |m, s| {
            let all_open = [
                St::PreChatForm,
                St::Faq,
                St::OfflineForm,
                St::InQueue,
                St::CustomerLast,
                St::UserLast,
            ];
            m.check(
                who,
                i,
                &[Role::System, Role::TheUser, Role::Manager],
                &all_open,
            )?;
            let was_in_queue = s.in_human_queue();
            s.user = None;
            s.rank = 0;
            s.transfer_to = None;
            s.bot = false;
            s.routed_at = None;
            if was_in_queue {
                return Ok(());
            }
            m.route(i, s, false)
        });
        self.then_route(r)
    }

    pub fn transfer(&mut self, who: Who, i: usize, to: i32) -> Res<()> {
        let r = self.with_session(i, |m, s| {
            m.check(
                who,
                i,
                &[Role::TheUser, Role::Manager],
                &[St::CustomerLast, St::UserLast],
            )?;
            if s.user.is_none() {
                return Err(Fail::InvalidTransition);
            }
            if !m.rights(s.topic, to).is_some_and(|r| r.respond) || s.user == Some(to) {
                return Err(Fail::Validation("TransferTo".into()));
            }
            s.transfer_to = Some(to);
            s.transfer_at = Some(m.now);
            Ok(())
        });
        self.then_route(r)
    }

    pub fn accept(&mut self, who: Who, i: usize) -> Res<()> {
        let r = self.with_session(i, |m, s| {
            m.check(
                who,
                i,
                &[Role::TheTransferTo],
                &[St::CustomerLast, St::UserLast],
            )?;
            let to = s.transfer_to.ok_or(Fail::InvalidTransition)?;
            if !m.rights(s.topic, to).is_some_and(|r| r.respond) {
                return Err(Fail::Validation("TransferTo".into()));
            }
            s.rank = m.lowest_free_rank(to, i);
            s.user = Some(to);
            s.transfer_to = None;
            s.messages += 1;
            s.routed_at = None;
            m.last_assigned.insert(to, m.now);
            Ok(())
        });
        self.then_route(r)
    }

    pub fn reject(&mut self, who: Who, i: usize) -> Res<()> {
        let r = self.with_session(i, |m, s| {
            m.check(
                who,
                i,
                &[Role::TheTransferTo],
                &[St::CustomerLast, St::UserLast],
            )?;
            s.transfer_to.ok_or(Fail::InvalidTransition)?;
            s.transfer_to = None;
            s.messages += 1;
            Ok(())
        });
        self.then_route(r)
    }

    pub fn close(&mut self, who: Who, i: usize) -> Res<()> {
        let r = self.with_session(i, |m, s| {
            if who == Who::Customer(i) {
                let from = [
                    St::PreChatForm,
                    St::Faq,
                    St::OfflineForm,
                    St::InQueue,
                    St::CustomerLast,
                    St::UserLast,
                ];
                m.check(who, i, &[Role::Customer], &from)?;
                m.touch(who, i, s);
                s.status = if s.status == St::InQueue {
                    St::ClosedFromQueue
                } else {
                    St::Closed
                };
            } else {
                m.check(
                    who,
                    i,
                    &[Role::TheUser, Role::Manager, Role::System],
                    &[St::CustomerLast, St::UserLast],
                )?;
                s.status = St::Closed;
            }
            s.messages += 1;
            Ok(())
        });
        self.then_route(r)
    }

    pub fn reopen(&mut self, who: Who, i: usize) -> Res<()> {
        let r = self.with_session(i, |m, s| {
            m.check(who, i, &[Role::Customer, Role::System], &[St::Closed])?;
            let ended = s.ended.unwrap_or(m.now);
            if (m.now - ended).max(0) > REOPEN_WINDOW {
                return Err(Fail::InvalidTransition);
            }
            s.user = None;
            s.rank = 0;
            s.transfer_to = None;
            s.started = None;
            s.ended = None;
            s.alert = 0;
            s.bot = false;
            m.touch(who, i, s);
            m.route(i, s, true)?;
            s.messages += 1;
            Ok(())
        });
        self.then_route(r)
    }

    pub fn finish(&mut self, who: Who, i: usize, rating: i32) -> Res<()> {
        self.with_session(i, |m, s| {
            m.check(who, i, &[Role::Customer, Role::System], &[St::Closed])?;
            let ok = rating == 0 || (m.topics[s.topic].cfg.rating && (1..=5).contains(&rating));
            if !ok {
                return Err(Fail::Validation("Rating".into()));
            }
            m.touch(who, i, s);
            s.rating = rating;
            s.status = St::Finished;
            Ok(())
        })
    }

    pub fn delete(&mut self, who: Who, i: usize) -> Res<()> {
        let r = self.with_session(i, |m, s| {
            let not_deleted = [
                St::PreChatForm,
                St::Faq,
                St::OfflineForm,
                St::InQueue,
                St::CustomerLast,
                St::UserLast,
                St::Finished,
                St::Closed,
                St::RequestPosted,
                St::ClosedFromQueue,
            ];
            m.check(who, i, &[Role::Manager, Role::System], &not_deleted)?;
            s.status = St::Deleted;
            s.deleted_at = Some(m.now);
            s.messages += 1;
            Ok(())
        });
        self.then_route(r)
    }

    /// save_chat_session_entity of a carrier read by System just before,
    /// with `stale` (a wrong Status), `alias_too_long` and CustomerName set
    /// to `name`.
    pub fn save(
        &mut self,
        who: Who,
        i: usize,
        stale: bool,
        alias_too_long: bool,
        name: &str,
    ) -> Res<()> {
        self.with_session(i, |m, s| {
            let bits = m.table_bits(who, i).ok_or(Fail::NotFound)?;
            if stale {
                return Err(Fail::Conflict);
            }
            if alias_too_long {
                return Err(Fail::Validation("CustomerAlias".into()));
            }
            if s.customer.name == name {
                return Ok(());
            }
            if bits & UPDATE == 0 {
                return Err(Fail::FieldRightDenied("CustomerName".into()));
            }
            s.customer.name = name.to_string();
            m.touch(who, i, s);
            Ok(())
        })
    }

    /// get_chat_messages: the number of messages.
    pub fn fetch(&mut self, who: Who, i: usize) -> Res<u32> {
        self.with_session(i, |m, s| {
            m.table_bits(who, i).ok_or(Fail::NotFound)?;
            if who == Who::Customer(i) {
                let stale = s
                    .fetched
                    .is_none_or(|f| m.now - f > FETCH_INTERVAL || f > m.now);
                if stale {
                    s.fetched = Some(m.now);
                }
            }
            Ok(s.messages)
        })
    }

    /// get_chat_session_entity: the TableRight bits. The customer's own
    /// read counts as being seen (WhenFetched, throttled like a fetch).
    pub fn get(&mut self, who: Who, i: usize) -> Res<u32> {
        let bits = self.table_bits(who, i).ok_or(Fail::NotFound)?;
        self.customer_read(who, i);
        Ok(bits)
    }

    /// get_queue_position (the customer's own read counts as being seen).
    pub fn position(&mut self, who: Who, i: usize) -> Res<Option<u32>> {
        self.table_bits(who, i).ok_or(Fail::NotFound)?;
        self.customer_read(who, i);
        Ok(self.queue_pos(i))
    }

    /// A customer read of their own session: WhenFetched is written when the
    /// stored one is strictly older than the fetch interval (or in the future).
    fn customer_read(&mut self, who: Who, i: usize) {
        let now = self.now;
        if who != Who::Customer(i) {
            return;
        }
        if let Some(s) = self.sessions.get_mut(i) {
            let stale = s
                .fetched
                .is_none_or(|f| now - f > FETCH_INTERVAL || f > now);
            if stale {
                s.fetched = Some(now);
            }
        }
    }

    /// update_chat_topic_user_agents with one entry; `topic` None is unknown.
    pub fn set_member(&mut self, who: Who, topic: Option<usize>, user: i32, r: Rights) -> Res<()> {
        let t = topic.ok_or(Fail::NotFound)?;
        match who {
            Who::System => {}
            Who::Agent(u) => match self.rights(t, u) {
                None => return Err(Fail::NotFound),
                Some(m) if !m.manage => return Err(Fail::Forbidden),
                Some(_) => {}
            },
            _ => return Err(Fail::Forbidden),
        }
        if r.none() {
            self.members.remove(&(t, user));
        } else {
            self.members.insert((t, user), r);
        }
        self.routing_pass();
        Ok(())
    }

    /// save_chat_presence by System.
    pub fn set_presence(&mut self, user: i32, present: bool) {
        self.present.insert(user, present);
        self.routing_pass();
    }

    /// The next sweep batch: at most [`BATCH`] sessions in `pool`, by id
    /// (creation order), after index `from`.
    fn batch(&self, from: usize, pool: fn(St) -> bool) -> Vec<usize> {
        (from..self.sessions.len())
            .filter(|&i| !self.sessions[i].purged && pool(self.sessions[i].status))
            .take(BATCH)
            .collect()
    }

    /// idle_sweep: (session, from, to), by session. It works in batches of
    /// open sessions by id, each ending with a routing pass (the rules
    /// the rules).
    pub fn idle_sweep(&mut self, who: Who) -> Res<Vec<(usize, St, St)>> {
        if who != Who::System {
            return Err(Fail::Forbidden);
        }
        let mut out = Vec::new();
        let mut from = 0;
        loop {
            let page = self.batch(from, open);
            self.idle_batch(&page, &mut out);
            self.routing_pass();
            match page.last() {
                Some(&l) => from = l + 1,
                None => return Ok(out),
            }
        }
    }

    fn idle_batch(&mut self, page: &[usize], out: &mut Vec<(usize, St, St)>) {
        let now = self.now;
        for &i in page {
            let mut s = self.sessions[i].clone();
            let last_activity = match (s.idle, s.started) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let idle =
                active(s.status) && last_activity.is_some_and(|t| (now - t).max(0) >= IDLE_LIMIT);
            let seen = s.fetched.map_or(s.requested, |f| f.max(s.requested));
            let dead = (now - seen).max(0) >= DEAD_LIMIT;
            if !(idle || dead) {
                continue;
            }
            let from = s.status;
            s.status = if from == St::InQueue {
                St::ClosedFromQueue
            } else {
                St::Closed
            };
            s.messages += 1;
            self.settle(&mut s);
            out.push((i, from, s.status));
            self.sessions[i] = s;
        }
    }

    /// alert_sweep: (session, old, new), by session.
    pub fn alert_sweep(&mut self, who: Who) -> Res<Vec<(usize, i32, i32)>> {
        if who != Who::System {
            return Err(Fail::Forbidden);
        }
        let now = self.now;
        let level = |waited: i64, l1: i32, l2: i32| {
            if l2 > 0 && waited >= i64::from(l2) * 60 {
                2
            } else if l1 > 0 && waited >= i64::from(l1) * 60 {
                1
            } else {
                0
            }
        };
        let mut out = Vec::new();
        for i in 0..self.sessions.len() {
            let s = &self.sessions[i];
            if s.purged {
                continue;
            }
            let w = self.topics[s.topic].cfg.warn;
            let reached = if s.in_human_queue() {
                level((now - s.queue_entered.unwrap_or(now)).max(0), w[0], w[1])
            } else if s.status == St::CustomerLast && s.user.is_some() && !s.bot {
                let since = s.customer_last_since.unwrap_or(now);
                level((now - since).max(0), w[2], w[3])
            } else {
                0
            };
            if reached > s.alert {
                out.push((i, s.alert, reached));
                self.sessions[i].alert = reached;
            }
        }
        Ok(out)
    }

    /// purge: how many were removed.
    pub fn purge(&mut self, who: Who) -> Res<usize> {
        if who != Who::System {
            return Err(Fail::Forbidden);
        }
        let now = self.now;
        let mut n = 0;
        for s in &mut self.sessions {
            if !s.purged
                && s.status == St::Deleted
                && s.deleted_at.is_some_and(|d| now - d > PURGE_AFTER)
            {
                s.purged = true;
                n += 1;
            }
        }
        Ok(n)
    }

    // ----- routing -----

    /// Ends an operation that the rules list: on success, one routing pass.
    fn then_route<T>(&mut self, r: Res<T>) -> Res<T> {
        if r.is_ok() {
            self.routing_pass();
        }
        r
    }

    /// Every user's load: their active sessions plus the sessions
    /// with a pending transfer to them.
    pub fn loads(&self) -> BTreeMap<i32, i32> {
        let mut loads = BTreeMap::new();
        for s in self
            .sessions
            .iter()
            .filter(|s| !s.purged && active(s.status))
        {
            if let Some(u) = s.user {
                *loads.entry(u).or_insert(0) += 1;
                if let Some(to) = s.transfer_to {
                    *loads.entry(to).or_insert(0) += 1;
                }
            }
        }
        loads
    }

    /// A user's capacity for a session of topic `t`: MaxChats, else the
    /// topic's DefaultCapacity.
    pub fn capacity(&self, user: i32, t: usize) -> i32 {
        self.max_chats
            .get(&user)
            .copied()
            .unwrap_or(self.topics[t].routing.default_capacity)
    }

    /// The members of topic `t` with CanRespond, by user id.
    fn responders(&self, t: usize) -> Vec<i32> {
        self.members
            .iter()
            .filter(|((topic, _), r)| *topic == t && r.respond)
            .map(|(&(_, u), _)| u)
            .collect()
    }

    /// The first verdict that applies to `user` for session `i`.
    fn verdict(&self, loads: &BTreeMap<i32, i32>, i: usize, user: i32) -> Verdict {
        let s = &self.sessions[i];
        let load = loads.get(&user).copied().unwrap_or(0);
        let capacity = self.capacity(user, s.topic);
        if !self.present.get(&user).copied().unwrap_or(false) {
            Verdict::NotPresent
        } else if s.excluded.contains(&user) {
            Verdict::Excluded
        } else if load >= capacity {
            Verdict::AtCapacity(load, capacity)
        } else {
            Verdict::Eligible(load, capacity)
        }
    }

    /// The agents eligible for session `i`, by user id.
    pub fn candidates(&self, loads: &BTreeMap<i32, i32>, i: usize) -> Vec<Candidate> {
        self.responders(self.sessions[i].topic)
            .into_iter()
            .filter_map(|u| match self.verdict(loads, i, u) {
                Verdict::Eligible(load, _) => Some((u, load, self.last_assigned.get(&u).copied())),
                _ => None,
            })
            .collect()
    }

    /// The agent a strategy chooses among `candidates`. Never
    /// assigned (None) is earlier than any time.
    pub fn choose(longest_idle: bool, candidates: &[Candidate]) -> Option<i32> {
        candidates
            .iter()
            .min_by_key(|&&(u, load, last)| {
                let (load, last) = (i64::from(load), last.unwrap_or(i64::MIN));
                if longest_idle {
                    (last, load, u)
                } else {
                    (load, last, u)
                }
            })
            .map(|c| c.0)
    }

    /// The sessions waiting in the human queues of Auto topics, in queue
    /// sequence order.
    fn waiting_routed(&self) -> Vec<usize> {
        let mut q: Vec<(u64, usize)> = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.purged && s.in_human_queue() && self.topics[s.topic].routing.auto)
            .map(|(i, s)| (s.seq.unwrap_or(0), i))
            .collect();
        q.sort_unstable();
        q.into_iter().map(|(_, i)| i).collect()
    }

    /// The routing pass: repeat — the first waiting session, in
    /// queue-sequence order over the human queues of all Auto topics, that
    /// has an eligible agent goes to the agent its topic's strategy chooses
    /// — until none has one. Each assignment is a pick-up by that agent.
    pub fn routing_pass(&mut self) {
        loop {
            let loads = self.loads();
            let next = self.waiting_routed().into_iter().find_map(|i| {
                let candidates = self.candidates(&loads, i);
                let longest_idle = self.topics[self.sessions[i].topic].routing.longest_idle;
                Model::choose(longest_idle, &candidates).map(|u| Assignment {
                    session: i,
                    user: u,
                    longest_idle,
                    candidates,
                })
            });
            let Some(a) = next else { return };
            let mut s = self.sessions[a.session].clone();
            self.pick_up_into(&mut s, a.session, a.user, true);
            self.settle(&mut s);
            self.sessions[a.session] = s;
            self.assigned.push(a);
        }
    }

    /// The invariant of the rules on the model: the first waiting session of an
    /// Auto topic that has an eligible agent, if any.
    pub fn invariant_broken(&self) -> Option<(usize, Vec<Candidate>)> {
        let loads = self.loads();
        self.waiting_routed().into_iter().find_map(|i| {
            let c = self.candidates(&loads, i);
            (!c.is_empty()).then_some((i, c))
        })
    }

    /// Takes the routed assignments made since the last call.
    pub fn take_assigned(&mut self) -> Vec<Assignment> {
        std::mem::take(&mut self.assigned)
    }

    /// A routed session whose agent did not answer goes back to the queue
    /// in its old place: no new sequence, entry time or
    /// InitialQueuePos, no message; the agent is excluded from it.
    fn requeue(&mut self, i: usize, user: i32) {
        let mut s = self.sessions[i].clone();
        s.status = St::InQueue;
        s.user = None;
        s.rank = 0;
        s.started = None;
        s.transfer_to = None;
        s.alert = 0;
        s.routed_at = None;
        s.answered = false;
        s.excluded.insert(user);
        self.settle(&mut s);
        self.sessions[i] = s;
    }

    /// routing_sweep: per batch of active sessions by id, every due
    /// answer timeout, then every due transfer timeout, then one pass.
    pub fn routing_sweep(&mut self, who: Who) -> Res<Vec<RChange>> {
        if who != Who::System {
            return Err(Fail::Forbidden);
        }
        let now = self.now;
        let mut out = Vec::new();
        let mut from = 0;
        loop {
            let page = self.batch(from, active);
            for &i in &page {
                let s = &self.sessions[i];
                let r = self.topics[s.topic].routing;
                if let (Some(at), Some(u)) = (s.routed_at, s.user)
                    && r.auto
                    && r.answer_timeout > 0
                    && !s.answered
                    && now - at >= i64::from(r.answer_timeout)
                {
                    self.requeue(i, u);
                    out.push(RChange::AnswerTimeout(i, u));
                }
            }
            for &i in &page {
                let s = &self.sessions[i];
                let timeout = self.topics[s.topic].routing.transfer_timeout;
                if let (Some(to), Some(at), Some(_)) = (s.transfer_to, s.transfer_at, s.user)
                    && active(s.status)
                    && timeout > 0
                    && now - at >= i64::from(timeout)
                {
                    let s = &mut self.sessions[i];
                    s.transfer_to = None;
                    s.messages += 1;
                    out.push(RChange::TransferTimeout(i, to));
                }
            }
            let before = self.assigned.len();
            self.routing_pass();
            out.extend(
                self.assigned[before..]
                    .iter()
                    .map(|a| RChange::Assigned(a.session, a.user)),
            );
            match page.last() {
                Some(&l) => from = l + 1,
                None => return Ok(out),
            }
        }
    }

    /// explain_routing.
    pub fn explain(&self, who: Who, i: usize) -> Res<Explanation> {
        self.table_bits(who, i).ok_or(Fail::NotFound)?;
        let s = &self.sessions[i];
        let allowed = match who {
            Who::System => true,
            Who::Agent(u) => self
                .rights(s.topic, u)
                .is_some_and(|r| r.manage || r.respond),
            _ => false,
        };
        if !allowed {
            return Err(Fail::Forbidden);
        }
        let loads = self.loads();
        Ok(Explanation {
            status: s.status,
            queue_pos: self.queue_pos(i),
            auto: self.topics[s.topic].routing.auto,
            agents: self
                .responders(s.topic)
                .into_iter()
                .map(|u| (u, self.verdict(&loads, i, u)))
                .collect(),
        })
    }

    /// Who may read (and, as a manager, save) a topic's routing:
    /// Ok(true) for System and managers, Ok(false) for other members.
    fn routing_access(&self, who: Who, topic: Option<usize>) -> Res<(usize, bool)> {
        let t = topic.ok_or(Fail::NotFound)?;
        match who {
            Who::System => Ok((t, true)),
            Who::Agent(u) => match self.rights(t, u) {
                Some(r) => Ok((t, r.manage)),
                None => Err(Fail::NotFound),
            },
            _ => Err(Fail::NotFound),
        }
    }

    /// get_chat_topic_routing.
    pub fn get_routing(&self, who: Who, topic: Option<usize>) -> Res<RoutingCfg> {
        let (t, _) = self.routing_access(who, topic)?;
        Ok(self.topics[t].routing)
    }

    /// save_chat_topic_routing: the settings as stored.
    pub fn save_routing(
        &mut self,
        who: Who,
        topic: Option<usize>,
        r: RoutingCfg,
    ) -> Res<RoutingCfg> {
        let (t, manages) = self.routing_access(who, topic)?;
        if !manages {
            return Err(Fail::Forbidden);
        }
        if !(1..=1000).contains(&r.default_capacity) {
            return Err(Fail::Validation("DefaultCapacity".into()));
        }
        if !(0..=86_400).contains(&r.answer_timeout) {
            return Err(Fail::Validation("AnswerTimeoutSeconds".into()));
        }
        if !(0..=86_400).contains(&r.transfer_timeout) {
            return Err(Fail::Validation("TransferTimeoutSeconds".into()));
        }
        self.topics[t].routing = r;
        self.routing_pass();
        Ok(r)
    }

    /// Whether `who` may read (or save) `user`'s capacity.
    fn capacity_access(&self, who: Who, user: i32, reading: bool) -> bool {
        match who {
            Who::System => true,
            Who::Agent(me) => {
                (reading && me == user)
                    || self.members.iter().any(|(&(t, u), _)| {
                        u == user && self.rights(t, me).is_some_and(|r| r.manage)
                    })
            }
            _ => false,
        }
    }

    /// get_chat_agent_capacity: MaxChats.
    pub fn get_capacity(&self, who: Who, user: i32) -> Res<Option<i32>> {
        if !self.capacity_access(who, user, true) {
            return Err(Fail::Forbidden);
        }
        Ok(self.max_chats.get(&user).copied())
    }

    /// save_chat_agent_capacity: MaxChats as stored.
    pub fn save_capacity(&mut self, who: Who, user: i32, max: Option<i32>) -> Res<Option<i32>> {
        if !self.capacity_access(who, user, false) {
            return Err(Fail::Forbidden);
        }
        match max {
            Some(n) if !(1..=1000).contains(&n) => {
                return Err(Fail::Validation("MaxChats".into()));
            }
            Some(n) => {
                self.max_chats.insert(user, n);
            }
            None => {
                self.max_chats.remove(&user);
            }
        }
        self.routing_pass();
        Ok(max)
    }
}
