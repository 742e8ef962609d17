//! Topic memberships (`ChatTopicAgent`).

use super::build::TopicView;
use super::routing::routing_pass;
use super::scope::Scope;
use super::topics::topic_view;
use super::{ChatDesk, Who};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ids::{TopicId, UserId};
use crate::model::MemberRecord;
use crate::storage::{ReadTx, Storage, WriteTx};
use crate::wire::ChatTopicAgent;

fn require_topic(tx: &dyn ReadTx, topic: TopicId) -> Result<()> {
    match tx.topic(topic)? {
        Some(_) => Ok(()),
        None => Err(Error::not_found("topic", topic)),
    }
}

/// NotFound → Forbidden for reading a topic's memberships.
fn check_read(tx: &dyn ReadTx, who: Who, topic: TopicId, op: &'static str) -> Result<()> {
    require_topic(tx, topic)?;
    if matches!(who, Who::Customer(_) | Who::Anonymous) {
        return Err(Error::forbidden(op, "customers do not read memberships"));
    }
    topic_view(tx, who, topic).map(|_| ())
}

/// NotFound → Forbidden for changing a topic's memberships.
fn check_manage(tx: &dyn ReadTx, who: Who, topic: TopicId, op: &'static str) -> Result<()> {
    require_topic(tx, topic)?;
    if matches!(who, Who::Customer(_) | Who::Anonymous) {
        return Err(Error::forbidden(op, "customers do not change memberships"));
    }
    match topic_view(tx, who, topic)? {
        TopicView::System | TopicView::Manager => Ok(()),
        _ => Err(Error::forbidden(op, "only System and the topic's managers")),
    }
}

/// The lock scope of a membership write: each entry's topic and user.
fn scope_of(caller: &Caller, agents: &[ChatTopicAgent]) -> Scope {
    let mut scope = Scope::of(caller);
    for a in agents {
        scope = scope.topic(TopicId(a.topic_id));
        if let Some(u) = a.user.as_ref().and_then(|u| u.id()) {
            scope = scope.user(UserId(u));
        }
    }
    scope
}

fn record_of(a: &ChatTopicAgent) -> Result<MemberRecord> {
    let user = a
        .user
        .as_ref()
        .and_then(|u| u.id())
        .ok_or_else(|| Error::validation("User", "a membership needs User.AssociateId"))?;
    Ok(MemberRecord {
        topic: TopicId(a.topic_id),
        user: UserId(user),
        can_listen: a.can_listen,
        can_respond: a.can_respond,
        can_manage: a.can_manage,
        can_notify: a.can_notify,
    })
}

/// Applies one membership change inside a transaction: add (must not exist),
/// or update (must exist; all rights off removes it).
fn apply(
    tx: &mut dyn WriteTx,
    who: Who,
    a: &ChatTopicAgent,
    add: bool,
    op: &'static str,
) -> Result<()> {
    let topic = TopicId(a.topic_id);
    check_manage(tx, who, topic, op)?;
    let rec = record_of(a)?;
    let existing = tx.member(topic, rec.user)?;
    if add {
        if existing.is_some() {
            return Err(Error::conflict(format!(
                "user {} is already a member of topic {topic}; use update_chat_topic_user_agent",
                rec.user
            )));
        }
        if rec.is_empty() {
            return Err(Error::validation(
                "CanListen",
                "a membership needs at least one of CanListen, CanRespond, CanManage, CanNotify",
            ));
        }
        tx.put_member(&rec)
    } else {
        if existing.is_none() {
            return Err(Error::not_found(
                "membership",
                format!("{topic}/{}", rec.user),
            ));
        }
        if rec.is_empty() {
            tx.delete_member(topic, rec.user)
        } else {
            tx.put_member(&rec)
        }
    }
}

/// # Members
///
/// Who belongs to a topic and with which rights (listen, respond, manage,
/// notify).
impl<S: Storage> ChatDesk<S> {
    /// A new membership carrier for `topic` with every right off.
    pub fn create_default_chat_topic_agent(
        &self,
        caller: &Caller,
        topic: TopicId,
    ) -> ChatTopicAgent {
        let _op = super::trace::op("create_default_chat_topic_agent", caller).topic(topic);
        let _ = caller; // every caller gets the same defaults
        ChatTopicAgent {
            topic_id: topic.0,
            ..ChatTopicAgent::default()
        }
    }

    /// The memberships of a topic, by user id (System and the topic's members).
    ///
    /// # Errors
    /// NotFound (unknown topic, or an agent who is not a member), Forbidden (customers).
    pub fn get_chat_topic_user_agent_list(
        &self,
        caller: &Caller,
        topic: TopicId,
    ) -> Result<Vec<ChatTopicAgent>> {
        let _op = super::trace::op("get_chat_topic_user_agent_list", caller).topic(topic);
        let list = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            check_read(tx, who, topic, "get_chat_topic_user_agent_list")?;
            tx.topic_members(topic)
        })?;
        Ok(list.iter().map(|m| self.agent_carrier(m)).collect())
    }

    /// One membership.
    ///
    /// # Errors
    /// As [`Self::get_chat_topic_user_agent_list`], and NotFound when `user` is
    /// not a member.
    pub fn get_chat_topic_user_agent(
        &self,
        caller: &Caller,
        topic: TopicId,
        user: UserId,
    ) -> Result<ChatTopicAgent> {
        let _op = super::trace::op("get_chat_topic_user_agent", caller)
            .topic(topic)
            .user(user);
        let m = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            check_read(tx, who, topic, "get_chat_topic_user_agent")?;
            tx.member(topic, user)?
                .ok_or_else(|| Error::not_found("membership", format!("{topic}/{user}")))
        })?;
        Ok(self.agent_carrier(&m))
    }

    /// Every membership of every topic to System; to an agent, those of the
    /// topics they manage; to customers, none. By (topic, user).
    ///
    /// # Errors
    /// The backend's failure.
    pub fn get_user_agent_list(&self, caller: &Caller) -> Result<Vec<ChatTopicAgent>> {
        let _op = super::trace::op("get_user_agent_list", caller);
        let list = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            Ok(match who {
                Who::System => tx.all_members()?,
                Who::Agent(u) => {
                    let mut out = Vec::new();
                    for m in tx.user_memberships(u)? {
                        if m.can_manage {
                            out.extend(tx.topic_members(m.topic)?);
                        }
                    }
                    out
                }
                Who::Customer(_) | Who::Anonymous => Vec::new(),
            })
        })?;
        Ok(list.iter().map(|m| self.agent_carrier(m)).collect())
    }

    /// Adds a membership (System and the topic's managers): CanListen reads
    /// the topic's sessions, CanRespond also picks them up, CanManage manages
    /// the topic, CanNotify is told of alerts (see [`crate::guide::rights`]).
    ///
    /// ```
    /// use chatdesk::{Caller, ChatTopicAgent, UserId};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, _anna) = chatdesk::doc_support::desk_with_agent()?;
    /// let carl = UserId(9);
    /// desk.add_chat_topic_user_agent(&Caller::system(), &ChatTopicAgent {
    ///     can_respond: true,
    ///     can_notify: true,
    ///     ..ChatTopicAgent::new(topic, carl)
    /// })?;
    /// let members = desk.get_chat_topic_user_agent_list(&Caller::system(), topic)?;
    /// assert!(members.iter().any(|m| m.user_id() == Some(carl) && m.can_respond));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - [`NotFound`](crate::Error::NotFound): no such topic (or an agent
    ///   who is not a member of it).
    /// - [`Forbidden`](crate::Error::Forbidden): not System or a manager.
    /// - [`Validation`](crate::Error::Validation): all four rights off, or no
    ///   user.
    /// - [`Conflict`](crate::Error::Conflict): already a member (use
    ///   [`Self::update_chat_topic_user_agent`]).
    pub fn add_chat_topic_user_agent(
        &self,
        caller: &Caller,
        agent: &ChatTopicAgent,
    ) -> Result<ChatTopicAgent> {
        let _op = super::trace::op("add_chat_topic_user_agent", caller)
            .topic(TopicId(agent.topic_id))
            .user(agent.user_id());
        let now = self.now();
        self.write_routed(scope_of(caller, std::slice::from_ref(agent)), |tx| {
            let who = Who::resolve(tx, caller)?;
            apply(tx, who, agent, true, "add_chat_topic_user_agent")?;
            routing_pass(tx, &*self.directory, now).map(|_| ())
        })?;
        Ok(self.agent_carrier(&record_of(agent)?))
    }

    /// Updates a membership; all four rights off removes it.
    ///
    /// # Errors
    /// NotFound (topic or membership), Forbidden, Validation.
    pub fn update_chat_topic_user_agent(
        &self,
        caller: &Caller,
        agent: &ChatTopicAgent,
    ) -> Result<ChatTopicAgent> {
        let _op = super::trace::op("update_chat_topic_user_agent", caller)
            .topic(TopicId(agent.topic_id))
            .user(agent.user_id());
        let now = self.now();
        self.write_routed(scope_of(caller, std::slice::from_ref(agent)), |tx| {
            let who = Who::resolve(tx, caller)?;
            apply(tx, who, agent, false, "update_chat_topic_user_agent")?;
            routing_pass(tx, &*self.directory, now).map(|_| ())
        })?;
        Ok(self.agent_carrier(&record_of(agent)?))
    }

    /// Adds or updates several memberships in one transaction: all or none.
    /// Each entry updates an existing membership (all rights off removes it)
    /// or adds a new one.
    ///
    /// # Errors
    /// The first failing entry's error; nothing is written then.
    pub fn update_chat_topic_user_agents(
        &self,
        caller: &Caller,
        agents: &[ChatTopicAgent],
    ) -> Result<Vec<ChatTopicAgent>> {
        let _op = super::trace::op("update_chat_topic_user_agents", caller);
        let now = self.now();
        self.write_routed(scope_of(caller, agents), |tx| {
            let who = Who::resolve(tx, caller)?;
            for a in agents {
                let rec = record_of(a)?;
                let add = tx.member(rec.topic, rec.user)?.is_none() && !rec.is_empty();
                if !add && tx.member(rec.topic, rec.user)?.is_none() {
                    // Removing a membership that does not exist: nothing to do,
                    // but the caller must still be allowed to manage the topic.
                    check_manage(tx, who, rec.topic, "update_chat_topic_user_agents")?;
                    continue;
                }
                apply(tx, who, a, add, "update_chat_topic_user_agents")?;
            }
            routing_pass(tx, &*self.directory, now).map(|_| ())
        })?;
        agents
            .iter()
            .map(|a| record_of(a).map(|m| self.agent_carrier(&m)))
            .collect()
    }

    /// Removes a membership. The user keeps the sessions they own; they only
    /// stop getting new ones.
    ///
    /// # Errors
    /// NotFound (topic or membership), Forbidden.
    pub fn delete_chat_topic_user_agent(
        &self,
        caller: &Caller,
        topic: TopicId,
        user: UserId,
    ) -> Result<()> {
        let _op = super::trace::op("delete_chat_topic_user_agent", caller)
            .topic(topic)
            .user(user);
        let now = self.now();
        let scope = Scope::of(caller).topic(topic).user(user);
        self.write_routed(scope, |tx| {
            let who = Who::resolve(tx, caller)?;
            check_manage(tx, who, topic, "delete_chat_topic_user_agent")?;
            if tx.member(topic, user)?.is_none() {
                return Err(Error::not_found("membership", format!("{topic}/{user}")));
            }
            tx.delete_member(topic, user)?;
            routing_pass(tx, &*self.directory, now).map(|_| ())
        })
    }
}
