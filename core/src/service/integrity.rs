//! Damaged rows: the queue walks past a session whose stored record no
//! longer decodes (so one bad row cannot stop every agent), and the host's
//! integrity check lists every such row.

use super::{ChatDesk, trace};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ids::{MessageId, SessionId, TopicId};
use crate::model::SessionRecord;
use crate::storage::{ReadTx, Storage};

/// How many sessions the integrity check reads per read transaction.
const CHECK_BATCH: usize = 256;

/// How many messages the integrity check reads at a time.
const MESSAGE_PAGE: usize = 512;

/// Session `id`, or `None` when there is none or its record does not
/// decode: the damage is reported (a `tracing` warning naming the session
/// id) and the caller goes on as if the session were not there. Other
/// failures stay failures.
pub(crate) fn readable(
    tx: &dyn ReadTx,
    id: SessionId,
    during: &'static str,
) -> Result<Option<SessionRecord>> {
    match tx.session(id) {
        Err(Error::Corrupt { .. }) => {
            trace::skipped_damaged(id, during);
            Ok(None)
        }
        other => other,
    }
}

/// The session that has waited longest in the human queues of `topics`
/// (lowest queue sequence first), passing over sessions whose records do
/// not decode; `None` when none is left.
pub(crate) fn first_waiting(
    tx: &dyn ReadTx,
    topics: &[TopicId],
    during: &'static str,
) -> Result<Option<SessionRecord>> {
    // Each topic's current head; a damaged head is replaced by the next
    // session of its queue.
    let mut heads: Vec<(u64, SessionId, TopicId)> = Vec::with_capacity(topics.len());
    for &topic in topics {
        if let Some(&(seq, id)) = tx.queue(topic, 0, 1)?.first() {
            heads.push((seq, id, topic));
        }
    }
    loop {
        let Some(i) = (0..heads.len()).min_by_key(|&i| heads[i].0) else {
            return Ok(None);
        };
        let (seq, id, topic) = heads[i];
        match tx.session(id) {
            Ok(Some(s)) => return Ok(Some(s)),
            Ok(None) => return Err(Error::corrupt(format!("queue names missing session {id}"))),
            Err(Error::Corrupt { .. }) => {
                trace::skipped_damaged(id, during);
                match tx.queue(topic, seq, 1)?.first() {
                    Some(&(next, next_id)) => heads[i] = (next, next_id, topic),
                    None => {
                        heads.swap_remove(i);
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// What [`ChatDesk::check_integrity`] found: every stored row that no
/// longer decodes, by kind, each list in ascending id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntegrityReport {
    /// How many session rows were read.
    pub sessions_checked: usize,
    /// Sessions whose own record does not decode. Reads of them fail with
    /// [`Error::Corrupt`]; pick-up-first and routing pass over them.
    pub damaged_sessions: Vec<SessionId>,
    /// Sessions (whose own record is fine) with at least one message that
    /// does not decode: their message lists and transcripts fail.
    pub sessions_with_damaged_messages: Vec<SessionId>,
    /// Topics whose record does not decode.
    pub damaged_topics: Vec<TopicId>,
}

impl IntegrityReport {
    /// Whether nothing damaged was found.
    pub fn is_clean(&self) -> bool {
        self.damaged_sessions.is_empty()
            && self.sessions_with_damaged_messages.is_empty()
            && self.damaged_topics.is_empty()
    }
}

/// Whether `r` failed because a row does not decode (`Ok(true)`), or
/// worked (`Ok(false)`); any other failure is returned.
fn is_damaged<T>(r: Result<T>) -> Result<bool> {
    match r {
        Ok(_) => Ok(false),
        Err(Error::Corrupt { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Whether every message of session `id` decodes.
fn messages_decode(tx: &dyn ReadTx, id: SessionId) -> Result<bool> {
    let mut after = MessageId(0);
    loop {
        match tx.messages(id, after, MESSAGE_PAGE) {
            Ok(page) => match page.last() {
                Some(last) => after = last.id,
                None => return Ok(true),
            },
            Err(Error::Corrupt { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// # Integrity
///
/// Finding stored rows that no longer decode (damage from outside: a disk
/// fault, a hand edit). The desk keeps working around a damaged session —
/// reads of it fail with [`Error::Corrupt`], pick-up-first and routing pass
/// over it — and this check tells the host which rows to repair or delete.
/// See [`crate::guide::errors`].
impl<S: Storage> ChatDesk<S> {
    /// Reads every topic, session and message row and lists those that do
    /// not decode (System only). It walks the sessions by id, in read
    /// transactions of 256 sessions each, so it never holds one snapshot for
    /// long; its cost is a read of the whole store, for a maintenance
    /// window or an alert, not for every request. Nothing is written.
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, _anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let _ = chatdesk::doc_support::waiting_session(&desk, topic)?;
    /// let report = desk.check_integrity(&Caller::system())?;
    /// assert!(report.is_clean());
    /// assert_eq!(report.sessions_checked, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) for callers other than System;
    /// the backend's failure, or [`Corrupt`](crate::Error::Corrupt) when the
    /// damage is in the list of ids itself, so that the walk cannot go on.
    pub fn check_integrity(&self, caller: &Caller) -> Result<IntegrityReport> {
        let _op = trace::op("check_integrity", caller);
        if !caller.is_system() {
            return Err(Error::forbidden(
                "check_integrity",
                "only System checks the store",
            ));
        }
        let mut report = IntegrityReport::default();
        self.read(|tx| {
            for id in tx.topic_ids()? {
                if is_damaged(tx.topic(id))? {
                    report.damaged_topics.push(id);
                }
            }
            Ok(())
        })?;
        let mut after = SessionId(0);
        loop {
            let last = self.read(|tx| {
                let ids = tx.session_ids(after, CHECK_BATCH)?;
                for &id in &ids {
                    report.sessions_checked += 1;
                    match tx.session(id) {
                        Ok(_) => {
                            if !messages_decode(tx, id)? {
                                report.sessions_with_damaged_messages.push(id);
                            }
                        }
                        Err(Error::Corrupt { .. }) => report.damaged_sessions.push(id),
                        Err(e) => return Err(e),
                    }
                }
                Ok(ids.last().copied())
            })?;
            match last {
                Some(l) => after = l,
                None => break,
            }
        }
        trace::swept(
            "check_integrity",
            report.damaged_sessions.len()
                + report.sessions_with_damaged_messages.len()
                + report.damaged_topics.len(),
        );
        Ok(report)
    }
}
