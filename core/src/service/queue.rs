//! The queue as a waiting customer and a desk see it: a session's position
//! and queue text, and a topic's human queue in order.

use super::sessions::{queue_position_of, visible_session};
use super::{ChatDesk, Who};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ids::{SessionId, TopicId};
use crate::storage::Storage;
use crate::wire::ChatSessionEntity;

/// # The queue
///
/// Where a waiting customer stands, the text they are shown, and a topic's
/// human queue in order. Picking sessions up is under the lifecycle
/// operations ([`ChatDesk::pick_up_chat_session`],
/// [`ChatDesk::pick_up_first_chat_session`]); the rules are in
/// [`crate::guide::queue`].
impl<S: Storage> ChatDesk<S> {
    /// The session's current position in its topic's human queue (1 = next);
    /// `None` when it is not in the human queue. Cheap enough to poll: it
    /// does not count the queue. A customer asking counts as seen
    /// (WhenFetched), so a patient customer is not closed as gone.
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (_first, _) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    /// # let (id, customer) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    /// assert_eq!(desk.get_queue_position(&customer, id)?, Some(2));
    /// desk.pick_up_first_chat_session(&Caller::agent(anna))?; // takes the first
    /// assert_eq!(desk.get_queue_position(&customer, id)?, Some(1));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) when there is no such session or
    /// the caller may not see it.
    pub fn get_queue_position(&self, caller: &Caller, id: SessionId) -> Result<Option<u32>> {
        let _op = super::trace::op("get_queue_position", caller).session(id);
        let (s, rel, position) = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let (s, rel, _) = visible_session(tx, who, id)?;
            let position = queue_position_of(tx, &s)?;
            Ok((s, rel, position))
        })?;
        self.customer_seen(&rel, s)?;
        Ok(position)
    }

    /// The topic's queue text for the session: CustomQueueText with
    /// `{cque}` (the current queue position, empty when not queued) and
    /// `{cavw}` (SecondsPrAccept / 60 as HH:MM); "" when the topic's
    /// CustomQueueTextEnabled is off.
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, _anna) = chatdesk::doc_support::desk_with_agent()?;
    /// let host = Caller::system();
    /// let mut settings = desk.get_chat_topic_entity(&host, topic)?;
    /// settings.custom_queue_text_enabled = true;
    /// settings.custom_queue_text = "You are number {cque} in the queue.".into();
    /// desk.save_chat_topic_entity(&host, &settings)?;
    /// # let (id, customer) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    ///
    /// let text = desk.get_queue_text(&customer, id)?;
    /// assert_eq!(text, "You are number 1 in the queue.");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) when there is no such session or
    /// the caller may not see it.
    pub fn get_queue_text(&self, caller: &Caller, id: SessionId) -> Result<String> {
        let _op = super::trace::op("get_queue_text", caller).session(id);
        let (s, rel, text) = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let (s, rel, _) = visible_session(tx, who, id)?;
            let Some(t) = tx.topic(s.topic)? else {
                return Ok((s, rel, String::new()));
            };
            let position = queue_position_of(tx, &s)?;
            let text = crate::queue::queue_text(
                t.settings.custom_queue_text_enabled,
                &t.settings.custom_queue_text,
                position,
                t.seconds_pr_accept,
            );
            Ok((s, rel, text))
        })?;
        self.customer_seen(&rel, s)?;
        Ok(text)
    }

    /// The sessions of a topic's human queue, in queue order (position 1
    /// first), as far as the caller may see them.
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (first, _) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    /// # let (second, _) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    /// let queue = desk.get_topic_queue(&Caller::agent(anna), topic)?;
    /// let ids: Vec<_> = queue.iter().map(|s| s.id()).collect();
    /// assert_eq!(ids, [first, second]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown topic or an agent
    /// who is not a member; [`Forbidden`](crate::Error::Forbidden) for
    /// customers.
    pub fn get_topic_queue(
        &self,
        caller: &Caller,
        topic: TopicId,
    ) -> Result<Vec<ChatSessionEntity>> {
        let _op = super::trace::op("get_topic_queue", caller).topic(topic);
        let list = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            if tx.topic(topic)?.is_none() {
                return Err(Error::not_found("topic", topic));
            }
            match who {
                Who::System => {}
                Who::Agent(u) => {
                    if tx.member(topic, u)?.is_none() {
                        return Err(Error::not_found("topic", topic));
                    }
                }
                _ => {
                    return Err(Error::forbidden(
                        "get_topic_queue",
                        "customers do not list queues",
                    ));
                }
            }
            let mut out = Vec::new();
            let mut after = 0;
            loop {
                let page = tx.queue(topic, after, 512)?;
                let Some(last) = page.last() else { break };
                after = last.0;
                for (_, id) in page {
                    // Sessions the caller may not see are left out; any
                    // other failure (a damaged record) is reported.
                    match visible_session(tx, who, id) {
                        Ok(v) => out.push(v),
                        Err(Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(out)
        })?;
        Ok(self.entities(caller, list))
    }
}
