//! Typing state: ephemeral, per service instance (SPEC §2).

use super::messages::Typing;
use crate::clock::Timestamp;
use crate::ids::SessionId;
use parking_lot::Mutex;
use std::collections::HashMap;

/// Until when (customer, agent) of a session are typing.
type Until = (Option<Timestamp>, Option<Timestamp>);

/// Until when each side of a session is typing.
#[derive(Debug, Default)]
pub(crate) struct TypingBoard {
    until: Mutex<HashMap<SessionId, Until>>,
}

impl TypingBoard {
    /// Sets (or clears, with `typing` false) one side's typing state.
    pub(crate) fn set(
        &self,
        id: SessionId,
        customer: bool,
        typing: bool,
        now: Timestamp,
        expiry_secs: i64,
    ) {
        let mut map = self.until.lock();
        // Drop what has expired so the map does not grow with old sessions.
        map.retain(|_, (c, a)| c.is_some_and(|t| t > now) || a.is_some_and(|t| t > now));
        let entry = map.entry(id).or_default();
        let value = typing.then(|| now.plus_seconds(expiry_secs));
        if customer {
            entry.0 = value;
        } else {
            entry.1 = value;
        }
    }

    /// The state at `now`.
    pub(crate) fn get(&self, id: SessionId, now: Timestamp) -> Typing {
        let map = self.until.lock();
        let (c, a) = map.get(&id).copied().unwrap_or_default();
        Typing {
            customer: c.is_some_and(|t| t > now),
            agent: a.is_some_and(|t| t > now),
        }
    }
}
