//! Typing state: ephemeral, per service instance (never stored).

use super::messages::Typing;
use crate::clock::Timestamp;
use crate::ids::SessionId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Until when (customer, agent) of a session are typing.
type Until = (Option<Timestamp>, Option<Timestamp>);

/// Until when each side of a session is typing.
#[derive(Debug, Default)]
pub(crate) struct TypingBoard {
    until: Mutex<HashMap<SessionId, Until>>,
    /// How many sessions the map holds, read without the lock: building a
    /// session's carrier while nobody types (the usual case) takes neither
    /// the lock nor the clock.
    held: AtomicUsize,
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
        if *entry == (None, None) {
            map.remove(&id);
        }
        self.held.store(map.len(), Ordering::Release);
    }

    /// The state at `now()` (called only if the session has an entry).
    pub(crate) fn get(&self, id: SessionId, now: impl FnOnce() -> Timestamp) -> Typing {
        if self.held.load(Ordering::Acquire) == 0 {
            return Typing::default();
        }
        let Some((c, a)) = self.until.lock().get(&id).copied() else {
            return Typing::default();
        };
        let now = now();
        Typing {
            customer: c.is_some_and(|t| t > now),
            agent: a.is_some_and(|t| t > now),
        }
    }
}
