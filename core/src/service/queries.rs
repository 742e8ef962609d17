//! Listing sessions: the caller's open sessions, a topic's human queue in
//! order, and a paged query by topic, status and time.

use super::{ChatDesk, Who};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{SessionId, TopicId};
use crate::model::SessionRecord;
use crate::rights::{SessionRelation, session_table_right};
use crate::storage::{ReadTx, Storage};
use crate::wire::{ChatSessionEntity, ChatSessionStatus};

/// A page of a session query: every filter is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionQuery {
    /// Only sessions of this topic.
    pub topic: Option<TopicId>,
    /// Only sessions in this status.
    pub status: Option<ChatSessionStatus>,
    /// Only sessions requested at or after this instant.
    pub requested_from: Option<Timestamp>,
    /// Only sessions requested before this instant.
    pub requested_before: Option<Timestamp>,
    /// Only sessions with an id above this one (the cursor: the last id of
    /// the previous page).
    pub after: SessionId,
    /// At most this many (≤ 500; 0 means 100).
    pub limit: usize,
}

const OPEN: [ChatSessionStatus; 6] = [
    ChatSessionStatus::PreChatForm,
    ChatSessionStatus::Faq,
    ChatSessionStatus::OfflineForm,
    ChatSessionStatus::InQueue,
    ChatSessionStatus::CustomerLast,
    ChatSessionStatus::UserLast,
];

type Visible = (SessionRecord, SessionRelation, u32);

fn rights_of(tx: &dyn ReadTx, who: Who, s: SessionRecord) -> Result<Option<Visible>> {
    let rel = super::sessions::relation(tx, who, &s)?;
    Ok(session_table_right(&rel, &s).map(|bits| (s, rel, bits)))
}

/// # Sessions: lists and queries
///
/// The caller's open sessions and a paged query by topic, status and time.
impl<S: Storage> ChatDesk<S> {
    pub(super) fn entities(&self, caller: &Caller, list: Vec<Visible>) -> Vec<ChatSessionEntity> {
        list.into_iter()
            .map(|(s, rel, bits)| self.session_entity(caller, &s, bits, rel.is_customer, None))
            .collect()
    }

    /// The open sessions the caller may read, in their topics, by id
    /// (System: every open session; a customer: their own, if open).
    ///
    /// # Errors
    /// The backend's failure.
    pub fn chat_sessions_for_user(&self, caller: &Caller) -> Result<Vec<ChatSessionEntity>> {
        let _op = super::trace::op("chat_sessions_for_user", caller);
        let list = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let mut out = Vec::new();
            for status in OPEN {
                let mut after = SessionId(0);
                loop {
                    let page = tx.sessions_by_status(status, after, 512)?;
                    let Some(last) = page.last() else { break };
                    after = last.id;
                    for s in page {
                        if let Some(v) = rights_of(tx, who, s)? {
                            out.push(v);
                        }
                    }
                }
            }
            out.sort_by_key(|(s, _, _)| s.id);
            Ok(out)
        })?;
        Ok(self.entities(caller, list))
    }

    /// A page of the sessions the caller may see, by id, filtered by topic,
    /// status and request time. Pass the last id of a page as `after` to get
    /// the next.
    ///
    /// # Errors
    /// Validation naming `limit` above 500.
    pub fn find_chat_sessions(
        &self,
        caller: &Caller,
        q: &SessionQuery,
    ) -> Result<Vec<ChatSessionEntity>> {
        let _op = super::trace::op("find_chat_sessions", caller);
        if q.limit > 500 {
            return Err(Error::validation(
                "limit",
                format!("{}; at most 500", q.limit),
            ));
        }
        let limit = if q.limit == 0 { 100 } else { q.limit };
        let list = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let mut out = Vec::new();
            let mut after = q.after;
            while out.len() < limit {
                let page = match (q.status, q.topic) {
                    (Some(st), _) => tx.sessions_by_status(st, after, 512)?,
                    (None, Some(t)) => tx.topic_sessions(t, after, 512)?,
                    (None, None) => tx.sessions(after, 512)?,
                };
                let Some(last) = page.last() else { break };
                after = last.id;
                for s in page {
                    let keep = q.topic.is_none_or(|t| s.topic == t)
                        && q.requested_from.is_none_or(|f| s.when_requested >= f)
                        && q.requested_before.is_none_or(|b| s.when_requested < b);
                    if !keep {
                        continue;
                    }
                    if let Some(v) = rights_of(tx, who, s)? {
                        out.push(v);
                        if out.len() == limit {
                            break;
                        }
                    }
                }
            }
            Ok(out)
        })?;
        Ok(self.entities(caller, list))
    }
}
