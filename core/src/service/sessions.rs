//! Sessions: create (the seed endpoint), read with rights, queue position.

use super::events::ChatEventKind;
use super::feed::{Emit, actor_of, record_event};
use super::scope::Scope;
use super::{ChatDesk, Who, keys, topic_rules};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{IdKind, SessionId, TopicId};
use crate::model::{CrmLinks, CustomerInfo, SessionRecord, TopicRecord};
use crate::rights::{SessionRelation, session_table_right};
use crate::storage::{ReadTx, Storage, WriteTx};
use crate::wire::{ChatSessionEntity, ChatSessionStatus};

/// Who the caller is to `s`.
pub(crate) fn relation(tx: &dyn ReadTx, who: Who, s: &SessionRecord) -> Result<SessionRelation> {
    Ok(match who {
        Who::System => SessionRelation {
            system: true,
            ..Default::default()
        },
        Who::Agent(u) => SessionRelation {
            member: tx.member(s.topic, u)?,
            is_user: s.user == Some(u),
            ..Default::default()
        },
        Who::Customer(Some(id)) if id == s.id => SessionRelation {
            is_customer: true,
            ..Default::default()
        },
        Who::Customer(_) | Who::Anonymous => SessionRelation::default(),
    })
}

/// The session and the caller's TableRight on it, or NotFound.
pub(crate) fn visible_session(
    tx: &dyn ReadTx,
    who: Who,
    id: SessionId,
) -> Result<(SessionRecord, SessionRelation, u32)> {
    let not_found = || Error::not_found("session", id);
    let s = tx.session(id)?.ok_or_else(not_found)?;
    let rel = relation(tx, who, &s)?;
    let bits = session_table_right(&rel, &s).ok_or_else(not_found)?;
    Ok((s, rel, bits))
}

/// The customer fields of a carrier, checked against their length limits.
pub(crate) fn customer_info(e: &ChatSessionEntity) -> Result<CustomerInfo> {
    let check = |field: &str, v: &str, max: usize| -> Result<String> {
        let n = v.chars().count();
        if n > max {
            return Err(Error::validation(
                field,
                format!("{n} characters; at most {max}"),
            ));
        }
        Ok(v.to_string())
    };
    Ok(CustomerInfo {
        alias: check("CustomerAlias", &e.customer_alias, 64)?,
        host: check("CustomerHost", &e.customer_host, 255)?,
        name: check("CustomerName", &e.customer_name, 255)?,
        email: check("CustomerEmail", &e.customer_email, 255)?,
        phone: check("CustomerPhone", &e.customer_phone, 32)?,
        consented: e.customer_consented,
        company: check("CustomerCompanyName", &e.customer_company_name, 255)?,
    })
}

/// The CRM links of a carrier (ids of its summaries).
pub(crate) fn crm_links(e: &ChatSessionEntity) -> CrmLinks {
    CrmLinks {
        person: e.person.as_ref().and_then(|p| p.id()),
        contact: e.contact.as_ref().and_then(|p| p.id()),
        project: e.project.as_ref().and_then(|p| p.id()),
        sale: e.sale.as_ref().and_then(|p| p.id()),
        ticket: e.ticket.as_ref().and_then(|p| p.id()),
    }
}

/// The topic's RequiredFields and consent rule, checked in carrier order.
pub(crate) fn check_required(topic: &TopicRecord, c: &CustomerInfo) -> Result<()> {
    let flags = topic.settings.widget.required_fields.bits();
    let missing = |v: &str| v.trim().is_empty();
    let checks: [(u32, &str, bool); 4] = [
        (2, "CustomerName", missing(&c.name)),
        (1, "CustomerEmail", missing(&c.email)),
        (8, "CustomerPhone", missing(&c.phone)),
        (4, "CustomerCompanyName", missing(&c.company)),
    ];
    for (bit, field, empty) in &checks[..3] {
        if flags & bit != 0 && *empty {
            return Err(Error::validation(*field, "required by the topic"));
        }
    }
    if topic.settings.collect_consent && !c.consented {
        return Err(Error::validation(
            "CustomerConsented",
            "the topic collects consent: must be true to enter the queue",
        ));
    }
    let (bit, field, empty) = checks[3];
    if flags & bit != 0 && empty {
        return Err(Error::validation(field, "required by the topic"));
    }
    Ok(())
}

/// Whether some member with CanRespond is present.
pub(crate) fn has_present_responder(tx: &dyn ReadTx, topic: TopicId) -> Result<bool> {
    tx.has_present_responder(topic)
}

/// Where routing sends a session: OfflineForm when the topic is closed or no
/// member with CanRespond is present, else InQueue.
pub(crate) fn route_target(
    tx: &dyn ReadTx,
    topic: &TopicRecord,
    now: Timestamp,
) -> Result<ChatSessionStatus> {
    if !topic_rules::is_open(&topic.settings, now) || !has_present_responder(tx, topic.id)? {
        Ok(ChatSessionStatus::OfflineForm)
    } else {
        Ok(ChatSessionStatus::InQueue)
    }
}

/// Puts `s` in the queue: next sequence, entry time, AlertLevel 0,
/// and InitialQueuePos the first time it joins the human queue.
pub(crate) fn enter_queue(
    tx: &mut dyn WriteTx,
    s: &mut SessionRecord,
    now: Timestamp,
) -> Result<()> {
    let seq = u64::try_from(tx.next_id(IdKind::QueueSeq)?)
        .map_err(|_| Error::corrupt("queue sequence counter is negative"))?;
    s.status = ChatSessionStatus::InQueue;
    s.queue_seq = Some(seq);
    s.queue_entered = Some(now);
    s.alert_level = 0;
    freeze_initial_queue_pos(tx, s)
}

/// Sets InitialQueuePos once, when the session first is in the human queue.
pub(crate) fn freeze_initial_queue_pos(tx: &dyn ReadTx, s: &mut SessionRecord) -> Result<()> {
    if let (0, Some(seq)) = (s.initial_queue_pos, s.human_queue_seq()) {
        let before = tx.queue_count_before(s.topic, seq)?;
        s.initial_queue_pos = i32::try_from(before).unwrap_or(i32::MAX - 1) + 1;
    }
    Ok(())
}

/// The position of `s` in its topic's human queue, if it is in it.
pub(crate) fn queue_position_of(tx: &dyn ReadTx, s: &SessionRecord) -> Result<Option<u32>> {
    match s.human_queue_seq() {
        Some(seq) => Ok(Some(tx.queue_count_before(s.topic, seq)? + 1)),
        None => Ok(None),
    }
}

/// # Sessions
///
/// Creating a session (the customer's request for a chat) and reading one.
/// What happens to it next is under the lifecycle operations; the states and
/// who may do what are in [`crate::guide::lifecycle`].
impl<S: Storage> ChatDesk<S> {
    /// A new session carrier with defaults, for the caller to fill in.
    pub fn create_default_chat_session_entity(&self, caller: &Caller) -> ChatSessionEntity {
        let _op = super::trace::op("create_default_chat_session_entity", caller);
        let _ = caller; // every caller gets the same defaults
        ChatSessionEntity::default()
    }

    /// Creates a session on a topic (REST `POST /api/v1/ChatTopic/{id}/Sessions`):
    /// a customer asks for a chat. The caller is an anonymous customer (the
    /// chat widget) or System. The customer fields and (for System) the CRM
    /// links are taken from `input`; the service sets the rest: the next id,
    /// WhenRequested, a new SessionKey and the first status that applies —
    /// PreChatForm when the topic has a pre-chat form, else Faq when it has
    /// the automatic FAQ, else OfflineForm when the topic is closed or no
    /// member with CanRespond is present, else InQueue (see
    /// [`crate::guide::lifecycle`]).
    ///
    /// The returned carrier is the only one that ever holds the SessionKey:
    /// hand it to the customer, who calls as [`Caller::customer`] from then
    /// on.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatSessionEntity, ChatSessionStatus};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, _anna) = chatdesk::doc_support::desk_with_agent()?;
    /// let request = ChatSessionEntity {
    ///     customer_alias: "Ann".into(),
    ///     customer_email: "ann@example.com".into(),
    ///     ..Default::default()
    /// };
    /// let session = desk.create_chat_session_for_topic(&Caller::anonymous(), topic, &request)?;
    /// assert_eq!(session.status, ChatSessionStatus::InQueue); // an agent is present
    /// assert_eq!(session.session_key.len(), 43);
    /// let customer = Caller::customer(session.session_key.clone());
    /// # let _ = customer;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - [`NotFound`](crate::Error::NotFound): no such topic.
    /// - [`Forbidden`](crate::Error::Forbidden): the caller is an agent, or a
    ///   customer who already has a session.
    /// - [`Validation`](crate::Error::Validation) naming the field: a customer
    ///   field over its length; one of the topic's RequiredFields empty, or
    ///   consent missing, when the session would enter the queue.
    pub fn create_chat_session_for_topic(
        &self,
        caller: &Caller,
        topic: TopicId,
        input: &ChatSessionEntity,
    ) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("create_chat_session_for_topic", caller).topic(topic);
        const OP: &str = "create_chat_session_for_topic";
        let now = self.now();
        let (key, hash) = keys::new_session_key()?;
        let scope = Scope::of(caller)
            .topic(topic)
            .takes(IdKind::Session)
            .takes(IdKind::QueueSeq);
        let (rec, who) = self.write_routed(scope, |tx| {
            let who = Who::resolve(tx, caller)?;
            let t = tx
                .topic(topic)?
                .ok_or_else(|| Error::not_found("topic", topic))?;
            match who {
                Who::System | Who::Anonymous => {}
                Who::Agent(_) => return Err(Error::forbidden(OP, "agents do not create sessions")),
                Who::Customer(_) => {
                    return Err(Error::forbidden(
                        OP,
                        "a customer with a session key creates no other",
                    ));
                }
            }
            let customer = customer_info(input)?;
            let w = &t.settings.widget;
            let status = if w.pre_form_enabled {
                ChatSessionStatus::PreChatForm
            } else if w.auto_faq_enabled {
                ChatSessionStatus::Faq
            } else {
                route_target(tx, &t, now)?
            };
            if status == ChatSessionStatus::InQueue {
                check_required(&t, &customer)?;
            }
            let id = i32::try_from(tx.next_id(IdKind::Session)?)
                .map_err(|_| Error::validation("ChatSessionId", "past i32::MAX"))?;
            let mut s = SessionRecord {
                id: SessionId(id),
                topic,
                user: None,
                links: if who == Who::System {
                    crm_links(input)
                } else {
                    CrmLinks::default()
                },
                customer,
                status,
                first_message: String::new(),
                last_message: String::new(),
                when_requested: now,
                when_started: None,
                when_ended: None,
                when_idle: None,
                when_fetched: None,
                key_hash: hash,
                initial_queue_pos: 0,
                alert_level: 0,
                rank: 0,
                transfer_to: None,
                chatbot_is_active: t.settings.bot_enabled,
                rating: 0,
                queue_seq: None,
                queue_entered: None,
                customer_last_since: None,
                deleted_at: None,
                routing: Default::default(),
                stats: Default::default(),
            };
            if status == ChatSessionStatus::InQueue {
                enter_queue(tx, &mut s, now)?;
            }
            tx.put_session(&s)?;
            let created = Emit::kind(ChatEventKind::SessionCreated);
            record_event(tx, created, now, actor_of(caller), None, &s)?;
            let routed = super::routing::routing_pass(tx, &*self.directory, now)?;
            if !routed.is_empty() {
                // Returned as committed: assigned at once on an Auto topic.
                s = tx
                    .session(s.id)?
                    .ok_or_else(|| Error::not_found("session", s.id))?;
            }
            Ok((s, who))
        })?;
        let customer = who != Who::System;
        let rel = SessionRelation {
            system: !customer,
            is_customer: customer,
            ..Default::default()
        };
        let bits = session_table_right(&rel, &rec).unwrap_or(0);
        Ok(self.session_entity(caller, &rec, bits, customer, Some(key)))
    }

    /// A session as the caller may see it, with TableRight and FieldProperties
    /// (what the caller may do with it and with each field; see
    /// [`crate::guide::rights`]). Times carry the caller's time zone. A
    /// customer reading their own session counts as seen (WhenFetched).
    ///
    /// ```
    /// use chatdesk::{Caller, ChatSessionStatus, TableRightMask};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, _customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// let session = desk.get_chat_session_entity(&Caller::agent(anna), id)?;
    /// assert_eq!(session.status, ChatSessionStatus::UserLast);
    /// assert_eq!(session.user_id(), Some(anna));
    /// assert!(session.table_right.mask.contains(TableRightMask::UPDATE)); // she may save it
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) when there is no such session or
    /// the caller may not see it (on purpose the same error).
    pub fn get_chat_session_entity(
        &self,
        caller: &Caller,
        id: SessionId,
    ) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("get_chat_session_entity", caller).session(id);
        let (s, rel, bits) = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            visible_session(tx, who, id)
        })?;
        let s = self.customer_seen(&rel, s)?;
        Ok(self.session_entity(caller, &s, bits, rel.is_customer, None))
    }

    /// A customer who polls is still there: their reads of their own session
    /// set WhenFetched like a message fetch does (written only when the
    /// stored value is older than the fetch interval, so polling is not a
    /// durable write per poll), so the dead-customer sweep does not close the
    /// chat of someone watching their queue position.
    pub(crate) fn customer_seen(
        &self,
        rel: &SessionRelation,
        s: SessionRecord,
    ) -> Result<SessionRecord> {
        if !rel.is_customer {
            return Ok(s);
        }
        let now = self.now();
        let interval = super::whole_secs(self.config.fetch_write_interval)
            .saturating_mul(crate::clock::ticks_per_second());
        let stale = s
            .when_fetched
            .is_none_or(|f| now.ticks_since(f) > interval || f > now);
        if !stale {
            return Ok(s);
        }
        let id = s.id;
        self.write(Scope::default().session(id), |tx| {
            let mut s = tx
                .session(id)?
                .ok_or_else(|| Error::not_found("session", id))?;
            s.when_fetched = Some(now);
            tx.put_session(&s)?;
            Ok(s)
        })
    }
}
