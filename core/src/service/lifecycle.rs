//! The lifecycle (the table: [`crate::guide::lifecycle`]): every row of it,
//! each one atomic storage transaction, checked in a fixed order (NotFound →
//! Forbidden → InvalidTransition → Validation) before anything changes.

use super::events::ChatEventKind;
use super::feed::{Emit, actor_of, record_event};
use super::hook::{HookDecision, HookSlot, MessageDraft};
use super::integrity::first_waiting;
use super::routing::routing_pass;
use super::scope::Scope;
use super::sessions::{
    check_required, customer_info, enter_queue, relation, route_target, visible_session,
};
use super::txn::Tx;
use super::{ChatDesk, Who};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{IdKind, MessageId, SessionId, UserId};
use crate::model::{AgentRecord, EventActor, MessageRecord, SessionRecord, TopicRecord};
use crate::queue::{next_seconds_pr_accept, offline_form_available, wait_seconds};
use crate::rank::lowest_free_rank;
use crate::rights::{SessionRelation, session_table_right};
use crate::status::{Op, Role};
use crate::storage::{ReadTx, Storage, WriteTx};
use crate::wire::{ChatMessageSpecialType, ChatMessageType, ChatSessionEntity, ChatSessionStatus};

/// Messages and FirstMessage/LastMessage are cut to this many characters.
const SUMMARY_CHARS: usize = 1024;

fn role_passes(role: Role, who: Who, rel: &SessionRelation, s: &SessionRecord) -> bool {
    match role {
        Role::System => who == Who::System,
        Role::Customer => rel.is_customer,
        Role::Manager => rel.member.is_some_and(|m| m.can_manage),
        Role::Responder => rel.member.is_some_and(|m| m.can_respond),
        Role::TheUser => matches!(who, Who::Agent(u) if s.user == Some(u)),
        Role::TheTransferTo => matches!(who, Who::Agent(u) if s.transfer_to == Some(u)),
    }
}

/// NotFound → Forbidden for `op` on session `id`.
pub(crate) fn authorize_role(
    tx: &dyn ReadTx,
    who: Who,
    id: SessionId,
    op: Op,
) -> Result<(SessionRecord, SessionRelation)> {
    let (s, rel, _) = visible_session(tx, who, id)?;
    let row = op.row();
    if row.who.iter().any(|r| role_passes(*r, who, &rel, &s)) {
        return Ok((s, rel));
    }
    // "The User" / "the TransferTo user" refuse only when the session has
    // one; without one, an agent meets a state condition instead.
    let agent = matches!(who, Who::Agent(_));
    let no_user = row.who.contains(&Role::TheUser) && s.user.is_none();
    let no_target = row.who.contains(&Role::TheTransferTo) && s.transfer_to.is_none();
    if agent && (no_user || no_target) {
        let detail = if no_target {
            "; no transfer is pending"
        } else {
            "; it has no User"
        };
        return Err(Error::InvalidTransition {
            op: row.name,
            from: s.status,
            detail: detail.into(),
        });
    }
    Err(Error::forbidden(row.name, forbidden_reason(row.who)))
}

fn forbidden_reason(who: &[Role]) -> String {
    let names: Vec<&str> = who
        .iter()
        .map(|r| match r {
            Role::System => "System",
            Role::Customer => "the session's customer",
            Role::Manager => "a manager of the topic",
            Role::TheUser => "the session's User",
            Role::TheTransferTo => "the TransferTo user",
            Role::Responder => "a member with CanRespond",
        })
        .collect();
    format!("only {} may do this", names.join(", "))
}

/// NotFound → Forbidden → InvalidTransition (status) for `op`.
pub(crate) fn authorize(
    tx: &dyn ReadTx,
    who: Who,
    id: SessionId,
    op: Op,
) -> Result<(SessionRecord, SessionRelation)> {
    let (s, rel) = authorize_role(tx, who, id, op)?;
    if !op.row().from.contains(&s.status) {
        return Err(Error::invalid_transition(op.row().name, s.status));
    }
    Ok((s, rel))
}

/// A state condition beyond the status failed.
fn state_error(op: Op, s: &SessionRecord, detail: &str) -> Error {
    Error::InvalidTransition {
        op: op.row().name,
        from: s.status,
        detail: format!("; {detail}"),
    }
}

/// Cuts `text` to at most `n` characters, on a char boundary.
pub(crate) fn cut_chars(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((i, _)) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// Keeps the lifecycle's invariants after a change: rank and pending
/// transfer only while active with a User; WhenEnded on entering an end state.
pub(crate) fn normalize(s: &mut SessionRecord, now: Timestamp) {
    if !s.is_active() || s.user.is_none() {
        s.rank = 0;
        s.transfer_to = None;
        // Assigned by routing only while it is going on with that User.
        s.routing.routed_at = None;
        s.routing.answered = false;
    }
    if s.transfer_to.is_none() {
        s.routing.transfer_requested_at = None;
    }
    if !s.is_open() {
        // The exclusion set survives a reset, never an end.
        s.routing.excluded.clear();
    }
    s.stats.max_alert_level = s.stats.max_alert_level.max(s.alert_level);
    if s.status != ChatSessionStatus::CustomerLast {
        s.customer_last_since = None;
    }
    if !s.is_open() && s.when_ended.is_none() {
        s.when_ended = Some(now);
    }
}

/// A message about to be added.
pub(crate) struct NewMessage {
    pub(crate) kind: ChatMessageType,
    pub(crate) special: ChatMessageSpecialType,
    pub(crate) text: String,
    pub(crate) author: String,
    pub(crate) param: String,
}

impl NewMessage {
    /// A system message (Type Special, Author "").
    pub(crate) fn special(special: ChatMessageSpecialType, text: impl Into<String>) -> Self {
        NewMessage {
            kind: ChatMessageType::Special,
            special,
            text: text.into(),
            author: String::new(),
            param: String::new(),
        }
    }
}

/// Stores a message and applies its FirstMessage / LastMessage / WhenIdle
/// rules, after the host's before-save hook saw (and may have rewritten or
/// refused) it.
pub(crate) fn post_message(
    tx: &mut dyn WriteTx,
    hook: &HookSlot,
    s: &mut SessionRecord,
    m: NewMessage,
    now: Timestamp,
) -> Result<MessageRecord> {
    let m = run_hook(hook, s, m)?;
    let id = i32::try_from(tx.next_id(IdKind::Message)?)
        .map_err(|_| Error::validation("ChatMessageId", "past i32::MAX"))?;
    if m.special == ChatMessageSpecialType::None && s.first_message.is_empty() {
        s.first_message = cut_chars(&m.text, SUMMARY_CHARS);
    }
    if matches!(
        m.kind,
        ChatMessageType::ToUser | ChatMessageType::ToCustomer
    ) {
        s.last_message = cut_chars(&m.text, SUMMARY_CHARS);
        s.when_idle = Some(now);
    }
    let rec = MessageRecord {
        id: MessageId(id),
        session: s.id,
        kind: m.kind,
        text: m.text,
        author: m.author,
        read_by_customer: false,
        special: m.special,
        special_param: m.param,
        when_posted: now,
    };
    tx.put_message(&rec)?;
    Ok(rec)
}

/// Lets the hook see `m`; applies its rewrite or turns its refusal into
/// Rejected.
fn run_hook(hook: &HookSlot, s: &SessionRecord, m: NewMessage) -> Result<NewMessage> {
    let Some(hook) = &hook.0 else {
        return Ok(m);
    };
    let mut draft = MessageDraft {
        session: s.id,
        topic: s.topic,
        message_type: m.kind,
        special_type: m.special,
        text: m.text,
        special_param: m.param,
        author: m.author,
    };
    match hook.before_save(&mut draft) {
        HookDecision::Accept => {}
        HookDecision::Reject(reason) => return Err(Error::Rejected { reason }),
    }
    check_message_text("Message", &draft.text)?;
    Ok(NewMessage {
        kind: draft.message_type,
        special: draft.special_type,
        text: draft.text,
        author: draft.author,
        param: draft.special_param,
    })
}

/// The customer's own operations set WhenFetched.
pub(crate) fn touch_customer(rel: &SessionRelation, s: &mut SessionRecord, now: Timestamp) {
    if rel.is_customer {
        s.when_fetched = Some(now);
    }
}

fn topic_of(tx: &dyn ReadTx, s: &SessionRecord) -> Result<TopicRecord> {
    tx.topic(s.topic)?
        .ok_or_else(|| Error::conflict(format!("topic {} of session {} is gone", s.topic, s.id)))
}

/// Rules 3–4: OfflineForm, or into the queue (with the entry checks when asked).
fn route(
    tx: &mut dyn WriteTx,
    t: &TopicRecord,
    s: &mut SessionRecord,
    now: Timestamp,
    check_entry: bool,
) -> Result<()> {
    match route_target(tx, t, now)? {
        ChatSessionStatus::InQueue => {
            if check_entry {
                check_required(t, &s.customer)?;
            }
            enter_queue(tx, s, now)
        }
        other => {
            s.status = other;
            Ok(())
        }
    }
}

/// The name an agent's messages carry: the directory's FullName, else their
/// presence DisplayName, else "".
pub(crate) fn agent_name(
    tx: &dyn ReadTx,
    user: UserId,
    from_directory: Option<String>,
) -> Result<String> {
    if let Some(n) = from_directory.filter(|n| !n.is_empty()) {
        return Ok(n);
    }
    Ok(tx
        .presence(user)?
        .map(|p| p.display_name)
        .unwrap_or_default())
}

/// Records that `agent` got a session now (routing's last-assignment time).
pub(crate) fn note_assigned(tx: &mut dyn WriteTx, agent: UserId, now: Timestamp) -> Result<()> {
    let mut a = tx.agent(agent)?.unwrap_or(AgentRecord {
        user: agent,
        ..AgentRecord::default()
    });
    a.last_assigned = Some(now);
    tx.put_agent(&a)
}

/// Picks up `s` for `agent`, by hand or by routing (`routed`): User, the
/// lowest free rank, the topic's LastAccept and SecondsPrAccept, the welcome
/// message. A routed pick-up's welcome is not shown to the message hook
/// (`hook` None).
pub(crate) fn pick_up(
    tx: &mut dyn WriteTx,
    hook: Option<&HookSlot>,
    s: &mut SessionRecord,
    agent: UserId,
    name: &str,
    now: Timestamp,
    routed: bool,
) -> Result<()> {
    note_assigned(tx, agent, now)?;
    s.routing.routed_at = routed.then_some(now);
    s.routing.answered = false;
    let mut t = topic_of(tx, s)?;
    let in_use = tx.active_ranks(agent)?.into_iter().map(|(_, rank)| rank);
    s.rank = lowest_free_rank(in_use);
    s.user = Some(agent);
    s.when_started = Some(now);
    s.alert_level = 0;
    s.status = ChatSessionStatus::UserLast;
    let wait = wait_seconds(now, s.queue_entered);
    let old = t.last_accept.map(|_| t.seconds_pr_accept);
    t.seconds_pr_accept = next_seconds_pr_accept(old, wait);
    t.last_accept = Some(now);
    tx.put_topic(&t)?;
    if !t.settings.welcome_message.is_empty() {
        let welcome = NewMessage {
            kind: ChatMessageType::ToCustomer,
            special: ChatMessageSpecialType::Welcome,
            text: t.settings.welcome_message.clone(),
            author: name.to_string(),
            param: String::new(),
        };
        match hook {
            Some(hook) => post_message(tx, hook, s, welcome, now)?,
            None => post_message(tx, &HookSlot::default(), s, welcome, now)?,
        };
    }
    Ok(())
}

/// # The lifecycle: pick-ups, the customer's steps, transfers, ends
///
/// Every operation that moves a session between states, each one atomic
/// transaction; the full table (who, from, to, side effects) and the order in
/// which errors are decided are in [`crate::guide::lifecycle`].
impl<S: Storage> ChatDesk<S> {
    /// Runs `f` on session `id` inside one write transaction, then stores the
    /// session (with the invariants kept) and returns it as the caller sees it.
    fn session_op(
        &self,
        caller: &Caller,
        f: impl FnOnce(&mut Tx<'_>, Who, &mut SessionRecord, Timestamp) -> Result<Emit>,
        id: SessionId,
        users: &[UserId],
    ) -> Result<ChatSessionEntity> {
        let now = self.now();
        let mut scope = Scope::of(caller).session(id);
        for u in users {
            scope = scope.user(*u);
        }
        let (s, bits, customer) = self.write_routed(scope, |tx| {
            let who = Who::resolve(tx, caller)?;
            let mut s = tx
                .session(id)?
                .ok_or_else(|| Error::not_found("session", id))?;
            let before = s.clone();
            let emit = f(tx, who, &mut s, now)?;
            normalize(&mut s, now);
            tx.put_session(&s)?;
            record_event(tx, emit, now, actor_of(caller), Some(&before), &s)?;
            let routed = routing_pass(tx, &*self.directory, now)?;
            if routed.iter().any(|(sid, _)| *sid == id) {
                s = tx
                    .session(id)?
                    .ok_or_else(|| Error::not_found("session", id))?;
            }
            let rel = relation(tx, who, &s)?;
            let bits = session_table_right(&rel, &s).unwrap_or(0);
            Ok((s, bits, rel.is_customer))
        })?;
        Ok(self.session_entity(caller, &s, bits, customer, None))
    }

    /// The customer submits the pre-chat form: the customer fields are taken
    /// from `form`, RequiredFields and consent are checked, and the session
    /// goes to the FAQ when the topic has one, else it is routed: OfflineForm
    /// when the topic is closed or no member with CanRespond is present, else
    /// into the queue.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound),
    /// [`Forbidden`](crate::Error::Forbidden) (not the session's customer or
    /// System), [`InvalidTransition`](crate::Error::InvalidTransition) (not
    /// PreChatForm), [`Validation`](crate::Error::Validation) naming the
    /// first required field that is empty, or consent.
    pub fn submit_pre_chat_form(
        &self,
        caller: &Caller,
        id: SessionId,
        form: &ChatSessionEntity,
    ) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("submit_pre_chat_form", caller).session(id);
        self.session_op(
            caller,
            |tx, who, s, now| {
                let (_, rel) = authorize(tx, who, id, Op::SubmitPreChatForm)?;
                let customer = customer_info(form)?;
                let t = topic_of(tx, s)?;
                check_required(&t, &customer)?;
                s.customer = customer;
                touch_customer(&rel, s, now);
                if t.settings.widget.auto_faq_enabled {
                    s.status = ChatSessionStatus::Faq;
                } else {
                    route(tx, &t, s, now, false)?;
                }
                Ok(Emit::changed())
            },
            id,
            &[],
        )
    }

    /// The FAQ answered the customer's question: the session is Closed.
    ///
    /// # Errors
    /// NotFound, Forbidden, InvalidTransition (not Faq).
    pub fn faq_answered(&self, caller: &Caller, id: SessionId) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("faq_answered", caller).session(id);
        self.session_op(
            caller,
            |tx, who, s, now| {
                let (_, rel) = authorize(tx, who, id, Op::FaqAnswered)?;
                touch_customer(&rel, s, now);
                s.status = ChatSessionStatus::Closed;
                let m = NewMessage::special(
                    ChatMessageSpecialType::FaqSuccessQuestion,
                    "The FAQ answered the question",
                );
                post_message(tx, &self.hook, s, m, now).map(|_| Emit::changed())
            },
            id,
            &[],
        )
    }

    /// The FAQ did not help: the session is routed: OfflineForm when the topic
    /// is closed or no member with CanRespond is present, else into the queue.
    ///
    /// # Errors
    /// NotFound, Forbidden, InvalidTransition (not Faq), Validation
    /// (RequiredFields or consent when it would enter the queue).
    pub fn faq_not_helped(&self, caller: &Caller, id: SessionId) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("faq_not_helped", caller).session(id);
        self.session_op(
            caller,
            |tx, who, s, now| {
                let (_, rel) = authorize(tx, who, id, Op::FaqNotHelped)?;
                touch_customer(&rel, s, now);
                let t = topic_of(tx, s)?;
                route(tx, &t, s, now, true)?;
                Ok(Emit::changed())
            },
            id,
            &[],
        )
    }

    /// The customer posts the offline request (from the offline form, or from
    /// the queue when the queue offline form is available): the session is
    /// RequestPosted and `text` is stored as a customer message.
    ///
    /// # Errors
    /// NotFound, Forbidden, InvalidTransition, Validation (text over 4000).
    pub fn post_offline_request(
        &self,
        caller: &Caller,
        id: SessionId,
        text: &str,
    ) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("post_offline_request", caller).session(id);
        self.session_op(
            caller,
            |tx, who, s, now| {
                let (_, rel) = authorize(tx, who, id, Op::PostOfflineRequest)?;
                if s.status == ChatSessionStatus::InQueue {
                    let t = topic_of(tx, s)?;
                    let minutes = wait_seconds(now, s.queue_entered) / 60;
                    let available = offline_form_available(
                        t.settings.use_queue_offline_form,
                        s.chatbot_is_active,
                        minutes,
                        t.settings.offline_form_time_limit,
                        tx.queue_len(s.topic)?,
                        t.settings.offline_form_queue_length,
                    );
                    if !available {
                        return Err(state_error(
                            Op::PostOfflineRequest,
                            s,
                            "the queue offline form is not available",
                        ));
                    }
                }
                check_message_text("text", text)?;
                touch_customer(&rel, s, now);
                s.status = ChatSessionStatus::RequestPosted;
                let m = NewMessage {
                    kind: ChatMessageType::ToUser,
                    special: ChatMessageSpecialType::None,
                    text: text.to_string(),
                    author: customer_author(s),
                    param: String::new(),
                };
                post_message(tx, &self.hook, s, m, now).map(|m| Emit::message(&m))
            },
            id,
            &[],
        )
    }

    /// An agent with CanRespond picks up a session from the human queue: they
    /// become its User with the lowest rank free among their active chats,
    /// the session is UserLast, and the topic's welcome message (if any) is
    /// posted in their name. Returns `None` (not an error) when the session
    /// is not in the human queue (another agent was quicker, the customer
    /// left), as SuperOffice's PickUpChatSession returns NULL.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatSessionStatus};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, _customer) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    /// let anna = Caller::agent(anna);
    /// match desk.pick_up_chat_session(&anna, id)? {
    ///     Some(chat) => {
    ///         assert_eq!(chat.status, ChatSessionStatus::UserLast);
    ///         assert_eq!(chat.rank, 1); // her first chat
    ///     }
    ///     None => println!("someone else took it"),
    /// }
    /// assert!(desk.pick_up_chat_session(&anna, id)?.is_none()); // no longer waiting
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - [`NotFound`](crate::Error::NotFound): no such session, or the agent
    ///   may not see it.
    /// - [`Forbidden`](crate::Error::Forbidden): not a member of the topic
    ///   with CanRespond.
    pub fn pick_up_chat_session(
        &self,
        caller: &Caller,
        id: SessionId,
    ) -> Result<Option<ChatSessionEntity>> {
        let _op = super::trace::op("pick_up_chat_session", caller).session(id);
        let now = self.now();
        let directory_name = caller
            .agent_id()
            .and_then(|u| self.directory.associate(u))
            .and_then(|a| a.full_name().map(str::to_string));
        let done = self.write(Scope::of(caller).session(id), |tx| {
            let who = Who::resolve(tx, caller)?;
            let (mut s, _) = authorize_role(tx, who, id, Op::PickUp)?;
            let Who::Agent(agent) = who else {
                return Err(Error::forbidden(
                    "pick_up_chat_session",
                    "only agents pick up",
                ));
            };
            if !s.in_human_queue() {
                return Ok(None);
            }
            let before = s.clone();
            let name = agent_name(tx, agent, directory_name)?;
            pick_up(tx, Some(&self.hook), &mut s, agent, &name, now, false)?;
            normalize(&mut s, now);
            tx.put_session(&s)?;
            record_event(
                tx,
                Emit::changed(),
                now,
                actor_of(caller),
                Some(&before),
                &s,
            )?;
            let rel = relation(tx, who, &s)?;
            Ok(Some((
                s.clone(),
                session_table_right(&rel, &s).unwrap_or(0),
            )))
        })?;
        Ok(done.map(|(s, bits)| self.session_entity(caller, &s, bits, false, None)))
    }

    /// Picks up the session that has waited longest (the lowest queue
    /// sequence) in the human queues of every topic where the calling agent
    /// has CanRespond, as [`Self::pick_up_chat_session`] does; `None` when
    /// nobody is waiting.
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (first, _) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    /// # let (_second, _) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    /// let anna = Caller::agent(anna);
    /// if let Some(chat) = desk.pick_up_first_chat_session(&anna)? {
    ///     assert_eq!(chat.id(), first); // first come, first served
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) for callers that are not agents.
    pub fn pick_up_first_chat_session(&self, caller: &Caller) -> Result<Option<ChatSessionEntity>> {
        let _op = super::trace::op("pick_up_first_chat_session", caller);
        let now = self.now();
        let Some(agent) = caller.agent_id() else {
            return Err(Error::forbidden(
                "pick_up_first_chat_session",
                "only agents pick up",
            ));
        };
        let directory_name = self
            .directory
            .associate(agent)
            .and_then(|a| a.full_name().map(str::to_string));
        let done = self.write(Scope::of(caller).responder_topics(agent), |tx| {
            let topics: Vec<_> = tx
                .user_memberships(agent)?
                .into_iter()
                .filter(|m| m.can_respond)
                .map(|m| m.topic)
                .collect();
            // A session whose record does not decode is passed over (and
            // reported), so one damaged row cannot stop every agent.
            let Some(mut s) = first_waiting(tx, &topics, "pick_up_first_chat_session")? else {
                return Ok(None);
            };
            let before = s.clone();
            let name = agent_name(tx, agent, directory_name)?;
            pick_up(tx, Some(&self.hook), &mut s, agent, &name, now, false)?;
            normalize(&mut s, now);
            tx.put_session(&s)?;
            record_event(
                tx,
                Emit::changed(),
                now,
                actor_of(caller),
                Some(&before),
                &s,
            )?;
            let rel = relation(tx, Who::Agent(agent), &s)?;
            Ok(Some((
                s.clone(),
                session_table_right(&rel, &s).unwrap_or(0),
            )))
        })?;
        Ok(done.map(|(s, bits)| self.session_entity(caller, &s, bits, false, None)))
    }

    /// Resets a session, or hands it from the bot to a human: User, Rank and
    /// TransferTo are cleared and ChatbotIsActive turned off; a session in the
    /// human queue stays as it is, any other is routed: OfflineForm when the
    /// topic is closed or no member with CanRespond is present, else into the
    /// queue. System, the session's User and the topic's managers may.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatSessionStatus};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, _customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// let back = desk.reset_chat_session(&Caller::agent(anna), id)?;
    /// assert_eq!(back.status, ChatSessionStatus::InQueue); // Anna is still present
    /// assert_eq!(back.user_id(), None);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound),
    /// [`Forbidden`](crate::Error::Forbidden),
    /// [`InvalidTransition`](crate::Error::InvalidTransition) (the session
    /// has ended).
    pub fn reset_chat_session(&self, caller: &Caller, id: SessionId) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("reset_chat_session", caller).session(id);
        self.session_op(
            caller,
            |tx, who, s, now| {
                authorize(tx, who, id, Op::Reset)?;
                let in_queue = s.in_human_queue();
                s.user = None;
                s.rank = 0;
                s.transfer_to = None;
                s.chatbot_is_active = false;
                if in_queue {
                    return Ok(Emit::changed());
                }
                let t = topic_of(tx, s)?;
                if s.status == ChatSessionStatus::InQueue {
                    // A bot-owned queued session joins the human queue in place
                    // only by entering it anew (a new queue sequence).
                    s.status = ChatSessionStatus::OfflineForm;
                }
                route(tx, &t, s, now, false)?;
                Ok(Emit::changed())
            },
            id,
            &[],
        )
    }

    /// Asks `to` (a member of the topic with CanRespond) to take over the
    /// session; it stays with its User until `to` accepts
    /// ([`Self::accept_chat_session_transfer`]) or rejects
    /// ([`Self::reject_chat_session_transfer`]). A second transfer replaces a
    /// pending one. The session's User and the topic's managers may.
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, _customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// # let bo = chatdesk::doc_support::BO;
    /// # chatdesk::doc_support::add_agent(&desk, topic, bo, "Bo")?;
    /// let asked = desk.transfer_chat_session(&Caller::agent(anna), id, bo)?;
    /// assert_eq!(asked.transfer_to_id(), Some(bo));
    /// let taken = desk.accept_chat_session_transfer(&Caller::agent(bo), id)?;
    /// assert_eq!(taken.user_id(), Some(bo));
    /// assert_eq!(taken.transfer_to_id(), None);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - [`NotFound`](crate::Error::NotFound),
    ///   [`Forbidden`](crate::Error::Forbidden) (not the User or a manager).
    /// - [`InvalidTransition`](crate::Error::InvalidTransition): the chat is
    ///   not going on, or has no User.
    /// - [`Validation`](crate::Error::Validation) naming TransferTo: `to` is
    ///   not a member with CanRespond, or is the User already.
    pub fn transfer_chat_session(
        &self,
        caller: &Caller,
        id: SessionId,
        to: UserId,
    ) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("transfer_chat_session", caller)
            .session(id)
            .user(to);
        self.session_op(
            caller,
            |tx, who, s, now| {
                authorize(tx, who, id, Op::Transfer)?;
                if s.user.is_none() {
                    return Err(state_error(Op::Transfer, s, "it has no User"));
                }
                let ok = tx.member(s.topic, to)?.is_some_and(|m| m.can_respond);
                if !ok {
                    return Err(Error::validation(
                        "TransferTo",
                        format!(
                            "user {to} is not a member of topic {} with CanRespond",
                            s.topic
                        ),
                    ));
                }
                if s.user == Some(to) {
                    return Err(Error::validation(
                        "TransferTo",
                        format!("user {to} already has the session"),
                    ));
                }
                s.transfer_to = Some(to);
                // A new request, even to the same user, restarts the timeout.
                s.routing.transfer_requested_at = Some(now);
                Ok(Emit::kind(ChatEventKind::TransferRequested))
            },
            id,
            &[to],
        )
    }

    /// The TransferTo user accepts: they become the User with a new Rank
    /// (the old User's rank is freed) and a TransferedSession message is
    /// posted.
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, _customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// # let bo = chatdesk::doc_support::BO;
    /// # chatdesk::doc_support::add_agent(&desk, topic, bo, "Bo")?;
    /// # desk.transfer_chat_session(&Caller::agent(anna), id, bo)?;
    /// // Anna asked Bo to take over; Bo says yes:
    /// let his = desk.accept_chat_session_transfer(&Caller::agent(bo), id)?;
    /// assert_eq!(his.user_id(), Some(bo));
    /// assert_eq!(his.rank, 1); // his first chat
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - [`NotFound`](crate::Error::NotFound),
    ///   [`Forbidden`](crate::Error::Forbidden) (not the TransferTo user).
    /// - [`InvalidTransition`](crate::Error::InvalidTransition): no transfer
    ///   is pending.
    /// - [`Validation`](crate::Error::Validation) naming TransferTo: they no
    ///   longer have CanRespond (the transfer stays pending).
    pub fn accept_chat_session_transfer(
        &self,
        caller: &Caller,
        id: SessionId,
    ) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("accept_chat_session_transfer", caller).session(id);
        let name = self.caller_name(caller);
        self.session_op(
            caller,
            |tx, who, s, now| {
                authorize(tx, who, id, Op::AcceptTransfer)?;
                let Some(to) = s.transfer_to.filter(|_| s.user.is_some()) else {
                    return Err(state_error(Op::AcceptTransfer, s, "no transfer is pending"));
                };
                if !tx.member(s.topic, to)?.is_some_and(|m| m.can_respond) {
                    return Err(Error::validation(
                        "TransferTo",
                        format!("user {to} no longer has CanRespond in topic {}", s.topic),
                    ));
                }
                let name = agent_name(tx, to, name)?;
                let in_use = tx
                    .active_ranks(to)?
                    .into_iter()
                    .filter(|(other, _)| *other != s.id)
                    .map(|(_, rank)| rank);
                s.rank = lowest_free_rank(in_use);
                s.user = Some(to);
                s.transfer_to = None;
                s.routing.routed_at = None;
                s.routing.answered = false;
                note_assigned(tx, to, now)?;
                let text = if name.is_empty() {
                    format!("Transferred to user {to}")
                } else {
                    format!("Transferred to {name}")
                };
                let m = NewMessage::special(ChatMessageSpecialType::TransferedSession, text);
                post_message(tx, &self.hook, s, m, now)?;
                Ok(Emit::kind(ChatEventKind::TransferAccepted))
            },
            id,
            &[],
        )
    }

    /// The TransferTo user rejects: the transfer is dropped, the session stays
    /// with its User, and a TransferRejected message is posted.
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, _customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// # let bo = chatdesk::doc_support::BO;
    /// # chatdesk::doc_support::add_agent(&desk, topic, bo, "Bo")?;
    /// desk.transfer_chat_session(&Caller::agent(anna), id, bo)?;
    /// let kept = desk.reject_chat_session_transfer(&Caller::agent(bo), id)?;
    /// assert_eq!(kept.user_id(), Some(anna));
    /// assert_eq!(kept.transfer_to_id(), None);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound),
    /// [`Forbidden`](crate::Error::Forbidden) (not the TransferTo user),
    /// [`InvalidTransition`](crate::Error::InvalidTransition) (no transfer is
    /// pending).
    pub fn reject_chat_session_transfer(
        &self,
        caller: &Caller,
        id: SessionId,
    ) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("reject_chat_session_transfer", caller).session(id);
        self.session_op(
            caller,
            |tx, who, s, now| {
                authorize(tx, who, id, Op::RejectTransfer)?;
                let Some(to) = s.transfer_to.filter(|_| s.user.is_some()) else {
                    return Err(state_error(Op::RejectTransfer, s, "no transfer is pending"));
                };
                s.transfer_to = None;
                let m = NewMessage::special(
                    ChatMessageSpecialType::TransferRejected,
                    format!("Transfer rejected by user {to}"),
                );
                post_message(tx, &self.hook, s, m, now)?;
                Ok(Emit::kind(ChatEventKind::TransferRejected))
            },
            id,
            &[],
        )
    }

    /// Closes a session. By the customer: from the queue it is
    /// ClosedFromQueue, from the other open states Closed (message
    /// ClosedByCustomer). By the User, a manager or System (a close by
    /// agent): a chat that is going on is Closed (message ClosedByUser).
    ///
    /// ```
    /// use chatdesk::{Caller, ChatSessionStatus};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, _customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// let closed = desk.close_chat_session(&Caller::agent(anna), id)?;
    /// assert_eq!(closed.status, ChatSessionStatus::Closed);
    ///
    /// # let (waiting, customer) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    /// // A customer who gives up while waiting:
    /// let left = desk.close_chat_session(&customer, waiting)?;
    /// assert_eq!(left.status, ChatSessionStatus::ClosedFromQueue);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound),
    /// [`Forbidden`](crate::Error::Forbidden),
    /// [`InvalidTransition`](crate::Error::InvalidTransition) (already ended;
    /// or an agent closing a session that is not going on).
    pub fn close_chat_session(&self, caller: &Caller, id: SessionId) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("close_chat_session", caller).session(id);
        self.session_op(
            caller,
            |tx, who, s, now| {
                let customer = matches!(who, Who::Customer(Some(own)) if own == id);
                let (special, text) = if customer {
                    let (_, rel) = authorize(tx, who, id, Op::CloseByCustomer)?;
                    touch_customer(&rel, s, now);
                    s.status = if s.status == ChatSessionStatus::InQueue {
                        ChatSessionStatus::ClosedFromQueue
                    } else {
                        ChatSessionStatus::Closed
                    };
                    (
                        ChatMessageSpecialType::ClosedByCustomer,
                        "Closed by the customer",
                    )
                } else {
                    authorize(tx, who, id, Op::CloseByAgent)?;
                    s.status = ChatSessionStatus::Closed;
                    (ChatMessageSpecialType::ClosedByUser, "Closed by the agent")
                };
                post_message(tx, &self.hook, s, NewMessage::special(special, text), now)
                    .map(|_| Emit::changed())
            },
            id,
            &[],
        )
    }

    /// The customer reopens a Closed session within the reopen window
    /// ([`Config::reopen_window`](crate::Config::reopen_window), 15 minutes by
    /// default): User, Rank, TransferTo, WhenStarted, WhenEnded, AlertLevel and
    /// ChatbotIsActive are cleared and the session is routed: OfflineForm when
    /// the topic is closed or no member with CanRespond is present, else into
    /// the queue.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatSessionStatus};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// desk.close_chat_session(&customer, id)?;
    /// let again = desk.reopen_chat_session(&customer, id)?; // "one more question"
    /// assert_eq!(again.status, ChatSessionStatus::InQueue);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - [`NotFound`](crate::Error::NotFound),
    ///   [`Forbidden`](crate::Error::Forbidden) (not the session's customer
    ///   or System).
    /// - [`InvalidTransition`](crate::Error::InvalidTransition): not Closed,
    ///   or past the window.
    /// - [`Validation`](crate::Error::Validation): a required field or
    ///   consent missing as it enters the queue.
    pub fn reopen_chat_session(&self, caller: &Caller, id: SessionId) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("reopen_chat_session", caller).session(id);
        let window = super::whole_secs(self.config.reopen_window);
        self.session_op(
            caller,
            |tx, who, s, now| {
                let (_, rel) = authorize(tx, who, id, Op::Reopen)?;
                let ended = s.when_ended.unwrap_or(now);
                if now.ticks_since(ended) > window.saturating_mul(crate::clock::ticks_per_second())
                {
                    return Err(state_error(Op::Reopen, s, "the reopen window has passed"));
                }
                let t = topic_of(tx, s)?;
                s.user = None;
                s.rank = 0;
                s.transfer_to = None;
                s.when_started = None;
                s.when_ended = None;
                s.alert_level = 0;
                s.chatbot_is_active = false;
                touch_customer(&rel, s, now);
                s.status = ChatSessionStatus::OfflineForm;
                route(tx, &t, s, now, true)?;
                let m = NewMessage::special(
                    ChatMessageSpecialType::ReopenedByCustomer,
                    "Reopened by the customer",
                );
                post_message(tx, &self.hook, s, m, now).map(|_| Emit::changed())
            },
            id,
            &[],
        )
    }

    /// The customer finishes (the post-chat form is done) with a Rating: 0
    /// (none) always, 1–5 only when the topic's WidgetEnableRating is on.
    /// The session is Finished and can no longer be reopened.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatSessionStatus};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// desk.close_chat_session(&customer, id)?;
    /// let done = desk.finish_chat_session(&customer, id, 0)?; // no rating given
    /// assert_eq!(done.status, ChatSessionStatus::Finished);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound),
    /// [`Forbidden`](crate::Error::Forbidden),
    /// [`InvalidTransition`](crate::Error::InvalidTransition) (not Closed),
    /// [`Validation`](crate::Error::Validation) naming Rating.
    pub fn finish_chat_session(
        &self,
        caller: &Caller,
        id: SessionId,
        rating: i32,
    ) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("finish_chat_session", caller).session(id);
        self.session_op(
            caller,
            |tx, who, s, now| {
                let (_, rel) = authorize(tx, who, id, Op::Finish)?;
                let t = topic_of(tx, s)?;
                let ok =
                    rating == 0 || (t.settings.widget_enable_rating && (1..=5).contains(&rating));
                if !ok {
                    return Err(Error::validation(
                        "Rating",
                        if t.settings.widget_enable_rating {
                            format!("{rating} is not 0 or 1–5")
                        } else {
                            format!("{rating}: the topic does not collect ratings (only 0)")
                        },
                    ));
                }
                touch_customer(&rel, s, now);
                s.rating = rating;
                s.status = ChatSessionStatus::Finished;
                Ok(Emit::changed())
            },
            id,
            &[],
        )
    }

    /// Soft-deletes a session (managers and System): it is Deleted, NotFound
    /// for everyone else, and removed with its messages by [`Self::purge`]
    /// once it has been deleted longer than
    /// [`Config::purge_after`](crate::Config::purge_after).
    ///
    /// ```
    /// use chatdesk::{Caller, ChatSessionStatus};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, _customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// let host = Caller::system();
    /// desk.delete_chat_session_entity(&host, id)?;
    /// assert_eq!(desk.get_chat_session_entity(&host, id)?.status, ChatSessionStatus::Deleted);
    /// assert!(desk.get_chat_session_entity(&Caller::agent(anna), id).is_err()); // NotFound
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound),
    /// [`Forbidden`](crate::Error::Forbidden) (not System or a manager of the
    /// topic), [`InvalidTransition`](crate::Error::InvalidTransition)
    /// (already Deleted).
    pub fn delete_chat_session_entity(&self, caller: &Caller, id: SessionId) -> Result<()> {
        let _op = super::trace::op("delete_chat_session_entity", caller).session(id);
        self.session_op(
            caller,
            |tx, who, s, now| {
                authorize(tx, who, id, Op::Delete)?;
                s.status = ChatSessionStatus::Deleted;
                s.deleted_at = Some(now);
                let m =
                    NewMessage::special(ChatMessageSpecialType::SessionDeleted, "Session deleted");
                post_message(tx, &self.hook, s, m, now)?;
                Ok(Emit::kind(ChatEventKind::SessionDeleted))
            },
            id,
            &[],
        )
        .map(|_| ())
    }

    /// Removes Deleted sessions (and their messages) deleted more than the
    /// purge age ago; System only. Commits in batches of at most 256
    /// sessions. Returns how many were removed.
    ///
    /// # Errors
    /// Forbidden for callers other than System.
    pub fn purge(&self, caller: &Caller) -> Result<usize> {
        let _op = super::trace::op("purge", caller);
        if !caller.is_system() {
            return Err(Error::forbidden("purge", "only System purges"));
        }
        let now = self.now();
        let limit = super::whole_secs(self.config.purge_after);
        let mut after = SessionId(0);
        let mut removed = 0;
        loop {
            let (n, last) = self.write(Scope::store(), |tx| {
                let page = tx.sessions_by_status(ChatSessionStatus::Deleted, after, 256)?;
                let last = page.last().map(|s| s.id);
                let mut n = 0;
                for s in page {
                    let at = s.deleted_at.or(s.when_ended).unwrap_or(s.when_requested);
                    if now.whole_seconds_since(at) > limit {
                        tx.delete_session(s.id)?;
                        let purged = Emit::kind(ChatEventKind::SessionPurged);
                        record_event(tx, purged, now, EventActor::System, Some(&s), &s)?;
                        n += 1;
                    }
                }
                Ok((n, last))
            })?;
            removed += n;
            match last {
                Some(l) => after = l,
                None => {
                    super::trace::swept("purge", removed);
                    return Ok(removed);
                }
            }
        }
    }

    /// The calling agent's FullName from the directory, if any.
    fn caller_name(&self, caller: &Caller) -> Option<String> {
        caller
            .agent_id()
            .and_then(|u| self.directory.associate(u))
            .and_then(|a| a.full_name().map(str::to_string))
    }
}

/// Author of a customer message: CustomerName, else CustomerAlias, else "".
pub(crate) fn customer_author(s: &SessionRecord) -> String {
    if !s.customer.name.is_empty() {
        s.customer.name.clone()
    } else {
        s.customer.alias.clone()
    }
}

/// A message text must fit in 4000 characters.
pub(crate) fn check_message_text(field: &str, text: &str) -> Result<()> {
    let n = text.chars().count();
    if n > 4000 {
        return Err(Error::validation(
            field,
            format!("{n} characters; at most 4000"),
        ));
    }
    Ok(())
}
