//! Topics: save, get, delete, list, opening hours.

use super::build::{TopicView, topic_entity};
use super::events::ChatEventKind;
use super::feed::{Emit, actor_of, record_event};
use super::scope::Scope;
use super::{ChatDesk, Who, topic_rules};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ids::{IdKind, SessionId, TopicId};
use crate::model::{TopicRecord, status_is_open};
use crate::storage::{ReadTx, Storage, WriteTx};
use crate::wire::{ChatSessionStatus, ChatTopicEntity, WireDateTime};

/// How the caller sees a topic, or NotFound / Forbidden.
pub(crate) fn topic_view(tx: &dyn ReadTx, who: Who, topic: TopicId) -> Result<TopicView> {
    Ok(match who {
        Who::System => TopicView::System,
        Who::Customer(_) | Who::Anonymous => TopicView::Customer,
        Who::Agent(u) => match tx.member(topic, u)? {
            Some(m) if m.can_manage => TopicView::Manager,
            Some(_) => TopicView::Member,
            None => return Err(Error::not_found("topic", topic)),
        },
    })
}

/// # Topics
///
/// Chat topics (channels): their settings, opening hours and the topics a
/// caller belongs to.
impl<S: Storage> ChatDesk<S> {
    /// A new topic carrier with defaults, for the caller to fill in and save
    /// (ChatTopicId 0 creates).
    pub fn create_default_chat_topic_entity(&self, caller: &Caller) -> ChatTopicEntity {
        let _op = super::trace::op("create_default_chat_topic_entity", caller);
        let rec = TopicRecord {
            id: TopicId(0),
            settings: ChatTopicEntity::default(),
            last_accept: None,
            seconds_pr_accept: 0,
            routing: Default::default(),
        };
        let view = if caller.is_system() {
            TopicView::System
        } else {
            TopicView::Member
        };
        topic_entity(caller, &rec, view, &self.props)
    }

    /// Creates (ChatTopicId 0, System only) or updates (System or the topic's
    /// managers) a topic, and returns it as the caller now sees it.
    /// LastAccept and SecondsPrAccept are kept by pick-ups and ignored here.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatDesk, MemoryStorage};
    /// # fn main() -> chatdesk::Result<()> {
    /// let desk = ChatDesk::new(MemoryStorage::new());
    /// let host = Caller::system();
    /// let mut topic = desk.create_default_chat_topic_entity(&host);
    /// topic.name = "Support".into();
    /// topic.welcome_message = "Hello! How can we help?".into();
    /// let topic = desk.save_chat_topic_entity(&host, &topic)?;
    /// assert_ne!(topic.id().get(), 0); // created: it has its id now
    ///
    /// let mut changed = topic.clone();
    /// changed.description = "Orders and deliveries".into();
    /// desk.save_chat_topic_entity(&host, &changed)?; // same id: an update
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - [`NotFound`](crate::Error::NotFound): an unknown non-zero id, or an
    ///   agent who is not a member.
    /// - [`Forbidden`](crate::Error::Forbidden): customers, members who are
    ///   not managers, agents creating a topic.
    /// - [`Validation`](crate::Error::Validation) naming the field: a text
    ///   over its length, opening-hour times that do not parse.
    pub fn save_chat_topic_entity(
        &self,
        caller: &Caller,
        topic: &ChatTopicEntity,
    ) -> Result<ChatTopicEntity> {
        const OP: &str = "save_chat_topic_entity";
        let _op = super::trace::op(OP, caller).topic(TopicId(topic.chat_topic_id));
        let scope = if topic.chat_topic_id == 0 {
            // A new topic takes a new id: nothing to lock it by yet.
            Scope::store()
        } else {
            Scope::of(caller).topic(TopicId(topic.chat_topic_id))
        };
        let rec = self.write(scope, |tx| {
            let who = Who::resolve(tx, caller)?;
            let existing = if topic.chat_topic_id == 0 {
                if who != Who::System {
                    return Err(Error::forbidden(OP, "only System creates topics"));
                }
                None
            } else {
                let id = TopicId(topic.chat_topic_id);
                let Some(old) = tx.topic(id)? else {
                    return Err(Error::not_found("topic", id));
                };
                match topic_view(tx, who, id)? {
                    TopicView::System | TopicView::Manager => {}
                    _ => return Err(Error::forbidden(OP, "only System and managers save topics")),
                }
                Some(old)
            };
            topic_rules::check_topic(topic)?;
            let mut settings = topic.clone();
            settings.table_right = Default::default();
            settings.field_properties = Default::default();
            settings.last_accept = WireDateTime::Unset;
            settings.seconds_pr_accept = 0;
            let rec = match existing {
                Some(old) => TopicRecord { settings, ..old },
                None => {
                    let id = i32::try_from(tx.next_id(IdKind::Topic)?)
                        .map_err(|_| Error::validation("ChatTopicId", "past i32::MAX"))?;
                    settings.chat_topic_id = id;
                    TopicRecord {
                        id: TopicId(id),
                        settings,
                        last_accept: None,
                        seconds_pr_accept: 0,
                        routing: Default::default(),
                    }
                }
            };
            let mut stored = rec.clone();
            stored.settings.chat_topic_id = rec.id.0;
            tx.put_topic(&stored)?;
            let view = topic_view(tx, who, rec.id)?;
            Ok((stored, view))
        })?;
        Ok(topic_entity(caller, &rec.0, rec.1, &self.props))
    }

    /// A topic as the caller sees it (customers see the widget fields only).
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, _anna) = chatdesk::doc_support::desk_with_agent()?;
    /// let seen = desk.get_chat_topic_entity(&Caller::anonymous(), topic)?;
    /// assert_eq!(seen.name, "Support");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown topic or an agent
    /// who is not a member.
    pub fn get_chat_topic_entity(&self, caller: &Caller, id: TopicId) -> Result<ChatTopicEntity> {
        let _op = super::trace::op("get_chat_topic_entity", caller).topic(id);
        let (rec, view) = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let rec = tx.topic(id)?.ok_or_else(|| Error::not_found("topic", id))?;
            Ok((rec, topic_view(tx, who, id)?))
        })?;
        Ok(topic_entity(caller, &rec, view, &self.props))
    }

    /// Deletes a topic (System or its managers): its memberships go, its ended
    /// sessions are soft-deleted (status Deleted, removed by purge later).
    ///
    /// # Errors
    /// NotFound, Forbidden (customers, non-manager members), Conflict while the
    /// topic has open sessions.
    pub fn delete_chat_topic_entity(&self, caller: &Caller, id: TopicId) -> Result<()> {
        let _op = super::trace::op("delete_chat_topic_entity", caller).topic(id);
        const OP: &str = "delete_chat_topic_entity";
        let now = self.now();
        self.write_routed(Scope::store(), |tx| {
            let who = Who::resolve(tx, caller)?;
            if tx.topic(id)?.is_none() {
                return Err(Error::not_found("topic", id));
            }
            match topic_view(tx, who, id)? {
                TopicView::System | TopicView::Manager => {}
                _ => {
                    return Err(Error::forbidden(
                        OP,
                        "only System and managers delete topics",
                    ));
                }
            }
            let mut after = SessionId(0);
            let mut ended = Vec::new();
            loop {
                let page = tx.topic_sessions(id, after, 256)?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for s in page {
                    if status_is_open(s.status) {
                        return Err(Error::conflict(format!(
                            "topic {id} has open session {}; close it first",
                            s.id
                        )));
                    }
                    if s.status != ChatSessionStatus::Deleted {
                        ended.push(s);
                    }
                }
            }
            for mut s in ended {
                let before = s.clone();
                s.status = ChatSessionStatus::Deleted;
                s.rank = 0;
                s.transfer_to = None;
                s.deleted_at = Some(now);
                tx.put_session(&s)?;
                let deleted = Emit::kind(ChatEventKind::SessionDeleted);
                record_event(tx, deleted, now, actor_of(caller), Some(&before), &s)?;
            }
            for m in tx.topic_members(id)? {
                tx.delete_member(id, m.user)?;
            }
            // Its routing settings go with it, and its routing index.
            super::routing::set_auto(tx, id, false)?;
            tx.topic_dirty(id);
            tx.delete_topic(id)
        })
    }

    /// The topics where the caller is a member (System: every topic), by id.
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, _topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// let mine = desk.chat_topics_for_user(&Caller::agent(anna))?;
    /// assert_eq!(mine.len(), 1);
    /// assert_eq!(mine[0].name, "Support");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// Only the backend's failure ([`Storage`](crate::Error::Storage)).
    pub fn chat_topics_for_user(&self, caller: &Caller) -> Result<Vec<ChatTopicEntity>> {
        let _op = super::trace::op("chat_topics_for_user", caller);
        let list = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let mut out = Vec::new();
            match who {
                Who::System => {
                    for t in tx.topics()? {
                        out.push((t, TopicView::System));
                    }
                }
                Who::Agent(u) => {
                    for m in tx.user_memberships(u)? {
                        if let Some(t) = tx.topic(m.topic)? {
                            let view = if m.can_manage {
                                TopicView::Manager
                            } else {
                                TopicView::Member
                            };
                            out.push((t, view));
                        }
                    }
                }
                Who::Customer(_) | Who::Anonymous => {}
            }
            Ok(out)
        })?;
        Ok(list
            .iter()
            .map(|(t, v)| topic_entity(caller, t, *v, &self.props))
            .collect())
    }

    /// Whether the topic is open now, by its opening hours in their own time
    /// zone (see [`crate::guide::time_and_sweeps`]).
    ///
    /// # Errors
    /// NotFound for an unknown topic (or an agent who is not a member).
    pub fn is_within_opening_hours(&self, caller: &Caller, id: TopicId) -> Result<bool> {
        let _op = super::trace::op("is_within_opening_hours", caller).topic(id);
        let now = self.now();
        self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let rec = tx.topic(id)?.ok_or_else(|| Error::not_found("topic", id))?;
            topic_view(tx, who, id)?;
            Ok(topic_rules::is_open(&rec.settings, now))
        })
    }
}
