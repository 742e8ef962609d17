//! The sweeps the host calls: "now" comes from the clock; no
//! threads or timers of our own. Each commits in batches of at most 256
//! sessions, each batch atomic, so the single writer is never held for long.

use super::ChatDesk;
use super::events::ChatEventKind;
use super::feed::{Emit, record_event};
use super::lifecycle::{NewMessage, normalize, post_message};
use super::routing::routing_pass;
use super::scope::Scope;
use crate::alerts::level_reached;
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{SessionId, TopicId};
use crate::model::{EventActor, SessionRecord, TopicRecord};
use crate::storage::{ReadTx, Storage, WriteTx};
use crate::wire::{ChatMessageSpecialType, ChatSessionStatus};
use std::collections::{HashMap, VecDeque};

/// The most sessions one sweep batch (one transaction) examines.
pub const SWEEP_BATCH: usize = 256;

/// A session the idle sweep closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleClose {
    /// The session.
    pub session: SessionId,
    /// Its status before.
    pub from: ChatSessionStatus,
    /// Closed, or ClosedFromQueue from InQueue.
    pub to: ChatSessionStatus,
}

/// A session whose alert level the alert sweep raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertChange {
    /// The session.
    pub session: SessionId,
    /// Its topic (whose CanNotify members and managers to tell).
    pub topic: TopicId,
    /// The level before.
    pub old: i32,
    /// The level now (1: notify members, 2: managers).
    pub new: i32,
}

fn latest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn topic_cached<'a>(
    tx: &dyn ReadTx,
    cache: &'a mut HashMap<TopicId, Option<TopicRecord>>,
    id: TopicId,
) -> Result<Option<&'a TopicRecord>> {
    let topic = match cache.entry(id) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => e.insert(tx.topic(id)?),
    };
    Ok(topic.as_ref())
}

/// The next at most `limit` sessions after `after` whose status is one of
/// `statuses`, by id: a merge of each status's index read in small pages,
/// so a batch reads little more than it returns.
fn sessions_in(
    tx: &dyn ReadTx,
    statuses: &[ChatSessionStatus],
    after: SessionId,
    limit: usize,
) -> Result<Vec<SessionRecord>> {
    const PAGE: usize = 64;
    if let [one] = statuses {
        return tx.sessions_by_status(*one, after, limit);
    }
    // Per status: read but not yet taken, where to read on, whether done.
    let mut cursors: Vec<(VecDeque<SessionRecord>, SessionId, bool)> = statuses
        .iter()
        .map(|_| (VecDeque::new(), after, false))
        .collect();
    let mut out = Vec::new();
    while out.len() < limit {
        for ((buf, from, done), status) in cursors.iter_mut().zip(statuses) {
            if buf.is_empty() && !*done {
                let page = tx.sessions_by_status(*status, *from, PAGE)?;
                *done = page.len() < PAGE;
                if let Some(last) = page.last() {
                    *from = last.id;
                }
                buf.extend(page);
            }
        }
        let next = cursors
            .iter_mut()
            .filter(|(buf, _, _)| !buf.is_empty())
            .min_by_key(|(buf, _, _)| buf.front().map(|s| s.id));
        match next.and_then(|(buf, _, _)| buf.pop_front()) {
            Some(s) => out.push(s),
            None => break,
        }
    }
    Ok(out)
}

const OPEN: [ChatSessionStatus; 6] = [
    ChatSessionStatus::PreChatForm,
    ChatSessionStatus::Faq,
    ChatSessionStatus::OfflineForm,
    ChatSessionStatus::InQueue,
    ChatSessionStatus::CustomerLast,
    ChatSessionStatus::UserLast,
];

/// # Sweeps
///
/// The time-driven rules, run when the host calls them (no threads or timers
/// of our own): idle and dead-customer closes, alert levels. Purge is under
/// the lifecycle operations. See [`crate::guide::time_and_sweeps`].
impl<S: Storage> ChatDesk<S> {
    /// Walks the sessions of `statuses` in batches by id, letting `f` change
    /// each one; a changed session is stored in that batch's transaction,
    /// which ends with one routing pass.
    fn sweep_statuses<T>(
        &self,
        statuses: &[ChatSessionStatus],
        (emit, now): (Emit, Timestamp),
        mut f: impl FnMut(
            &dyn ReadTx,
            &mut HashMap<TopicId, Option<TopicRecord>>,
            &mut SessionRecord,
        ) -> Result<Option<T>>,
        mut post: impl FnMut(&mut dyn crate::storage::WriteTx, &mut SessionRecord) -> Result<()>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut after = SessionId(0);
        loop {
            let (changes, last) = self.write_routed(Scope::store(), |tx| {
                let page = sessions_in(tx, statuses, after, SWEEP_BATCH)?;
                let last = page.last().map(|s| s.id);
                let mut topics = HashMap::new();
                let mut changes = Vec::new();
                for mut s in page {
                    let before = s.clone();
                    if let Some(change) = f(tx, &mut topics, &mut s)? {
                        post(tx, &mut s)?;
                        tx.put_session(&s)?;
                        record_event(tx, emit, now, EventActor::System, Some(&before), &s)?;
                        changes.push(change);
                    }
                }
                // Each batch ends with one routing pass (a no-op unless the
                // batch freed an agent or queued a session).
                routing_pass(tx, &*self.directory, now)?;
                Ok((changes, last))
            })?;
            out.extend(changes);
            match last {
                Some(l) => after = l,
                None => return Ok(out),
            }
        }
    }

    /// Closes idle chats and chats whose customer is gone: an
    /// active session idle for the idle limit is Closed; an open session
    /// whose customer has not been seen for the dead limit is Closed, or
    /// ClosedFromQueue from InQueue. Each gets a ClosedByIdle message. The
    /// limits are [`Config::idle_limit`](crate::Config::idle_limit) and
    /// [`Config::dead_customer`](crate::Config::dead_customer). System only;
    /// call it every minute or so.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatDesk, ChatSessionStatus, ManualClock, MemoryStorage};
    /// # fn main() -> chatdesk::Result<()> {
    /// let clock = ManualClock::at_default();
    /// let desk = ChatDesk::new(MemoryStorage::new()).with_clock(clock.clone());
    /// # let (topic, anna) = chatdesk::doc_support::topic_with_agent(&desk)?;
    /// # let (id, _customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// clock.advance_secs(31 * 60); // half an hour without a word
    /// let closed = desk.idle_sweep(&Caller::system())?;
    /// assert_eq!(closed.len(), 1);
    /// assert_eq!((closed[0].session, closed[0].to), (id, ChatSessionStatus::Closed));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) for callers other than System;
    /// the backend's failure (batches already committed stay committed: call
    /// again).
    pub fn idle_sweep(&self, caller: &Caller) -> Result<Vec<IdleClose>> {
        let _op = super::trace::op("idle_sweep", caller);
        if !caller.is_system() {
            return Err(Error::forbidden("idle_sweep", "only System runs sweeps"));
        }
        let now = self.now();
        let idle_limit = super::whole_secs(self.config.idle_limit);
        let dead_limit = super::whole_secs(self.config.dead_customer);
        self.sweep_statuses(
            &OPEN,
            (Emit::changed(), now),
            |_, _, s| {
                let idle = s.is_active()
                    && latest(s.when_idle, s.when_started)
                        .is_some_and(|t| now.whole_seconds_since(t) >= idle_limit);
                let seen = latest(s.when_fetched, Some(s.when_requested));
                let dead = dead_limit > 0
                    && seen.is_some_and(|t| now.whole_seconds_since(t) >= dead_limit);
                if !(idle || dead) {
                    return Ok(None);
                }
                let from = s.status;
                s.status = if from == ChatSessionStatus::InQueue {
                    ChatSessionStatus::ClosedFromQueue
                } else {
                    ChatSessionStatus::Closed
                };
                Ok(Some(IdleClose {
                    session: s.id,
                    from,
                    to: s.status,
                }))
            },
            |tx, s| {
                let m = NewMessage::special(
                    ChatMessageSpecialType::ClosedByIdle,
                    "Closed because the chat was idle",
                );
                post_message(tx, &self.hook, s, m, now)?;
                normalize(s, now);
                Ok(())
            },
        )
        .inspect(|closed| super::trace::swept("idle_sweep", closed.len()))
    }

    /// Raises alert levels and returns every change, so that the
    /// host can notify CanNotify members (level 1) and managers (level 2).
    /// Levels never drop inside a sweep; bot-owned sessions raise none. The
    /// limits are the topic's Warn*Minutes settings (see
    /// [`crate::guide::queue`]). System only.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatDesk, ManualClock, MemoryStorage};
    /// # fn main() -> chatdesk::Result<()> {
    /// let clock = ManualClock::at_default();
    /// let desk = ChatDesk::new(MemoryStorage::new()).with_clock(clock.clone());
    /// # let (topic, _anna) = chatdesk::doc_support::topic_with_agent(&desk)?;
    /// let host = Caller::system();
    /// let mut settings = desk.get_chat_topic_entity(&host, topic)?;
    /// settings.warn_new_chat_minutes = 2; // level 1 after 2 minutes in the queue
    /// settings.warn_manager_new_chat_minutes = 5; // level 2 after 5
    /// desk.save_chat_topic_entity(&host, &settings)?;
    /// # let (id, _customer) = chatdesk::doc_support::waiting_session(&desk, topic)?;
    ///
    /// clock.advance_secs(3 * 60);
    /// let changes = desk.alert_sweep(&host)?;
    /// assert_eq!(changes.len(), 1);
    /// assert_eq!((changes[0].session, changes[0].old, changes[0].new), (id, 0, 1));
    /// // Now tell the topic's CanNotify members (level 1) or managers (level 2).
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) for callers other than System;
    /// the backend's failure.
    pub fn alert_sweep(&self, caller: &Caller) -> Result<Vec<AlertChange>> {
        let _op = super::trace::op("alert_sweep", caller);
        if !caller.is_system() {
            return Err(Error::forbidden("alert_sweep", "only System runs sweeps"));
        }
        let now = self.now();
        let mut out = Vec::new();
        for status in [ChatSessionStatus::InQueue, ChatSessionStatus::CustomerLast] {
            out.extend(self.sweep_statuses(
                &[status],
                (Emit::kind(ChatEventKind::AlertRaised), now),
                |tx, topics, s| {
                    let Some(t) = topic_cached(tx, topics, s.topic)? else {
                        return Ok(None);
                    };
                    let t = &t.settings;
                    let reached = if s.in_human_queue() {
                        let waited = s.queue_entered.map_or(0, |e| now.whole_seconds_since(e));
                        level_reached(
                            waited,
                            t.warn_new_chat_minutes,
                            t.warn_manager_new_chat_minutes,
                        )
                    } else if s.status == ChatSessionStatus::CustomerLast
                        && s.user.is_some()
                        && !s.chatbot_is_active
                    {
                        let waited = s
                            .customer_last_since
                            .map_or(0, |e| now.whole_seconds_since(e));
                        level_reached(
                            waited,
                            t.warn_chat_message_minutes,
                            t.warn_manager_chat_message_minutes,
                        )
                    } else {
                        0
                    };
                    if reached <= s.alert_level {
                        return Ok(None);
                    }
                    let change = AlertChange {
                        session: s.id,
                        topic: s.topic,
                        old: s.alert_level,
                        new: reached,
                    };
                    s.alert_level = reached;
                    Ok(Some(change))
                },
                |_, _| Ok(()),
            )?);
        }
        super::trace::swept("alert_sweep", out.len());
        Ok(out)
    }
}
