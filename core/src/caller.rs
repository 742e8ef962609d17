//! Who is calling, and in which time zone.

use crate::ids::UserId;
use chrono_tz::Tz;
use std::fmt;

/// A customer's session key (43 characters of base64url). Its `Debug` output is
/// redacted so that keys do not end up in logs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(String);

impl SessionKey {
    /// Wraps a key as the customer presents it.
    pub fn new(key: impl Into<String>) -> Self {
        SessionKey(key.into())
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(…)")
    }
}

/// The caller of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerKind {
    /// The host program itself (and its bots): every right.
    System,
    /// An agent (associate); rights come from topic membership.
    Agent(UserId),
    /// A customer, known by the key of their one session.
    Customer(SessionKey),
    /// A customer without a session yet: may create one and read topics.
    Anonymous,
}

/// The caller and their time zone: every call takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who is calling.
    pub kind: CallerKind,
    /// The caller's IANA zone; carriers carry its offset. None means UTC.
    pub tz: Option<Tz>,
}

impl Caller {
    /// The host itself, in UTC.
    pub fn system() -> Self {
        Caller {
            kind: CallerKind::System,
            tz: None,
        }
    }

    /// An agent, in UTC.
    pub fn agent(user: impl Into<UserId>) -> Self {
        Caller {
            kind: CallerKind::Agent(user.into()),
            tz: None,
        }
    }

    /// A customer holding `key`, in UTC.
    pub fn customer(key: impl Into<String>) -> Self {
        Caller {
            kind: CallerKind::Customer(SessionKey::new(key)),
            tz: None,
        }
    }

    /// An anonymous customer, in UTC.
    pub fn anonymous() -> Self {
        Caller {
            kind: CallerKind::Anonymous,
            tz: None,
        }
    }

    /// The same caller in zone `tz`.
    pub fn with_tz(mut self, tz: Tz) -> Self {
        self.tz = Some(tz);
        self
    }

    /// The same caller in the zone named `iana` (e.g. `Europe/Oslo`).
    ///
    /// # Errors
    /// [`crate::Error::Validation`] naming `tz` when the name is not an IANA zone.
    pub fn with_zone(self, iana: &str) -> crate::Result<Self> {
        let tz: Tz = iana.parse().map_err(|_| {
            crate::Error::validation("tz", format!("unknown IANA time zone {iana:?}"))
        })?;
        Ok(self.with_tz(tz))
    }

    /// The agent's id, if the caller is an agent.
    pub fn agent_id(&self) -> Option<UserId> {
        match self.kind {
            CallerKind::Agent(u) => Some(u),
            _ => None,
        }
    }

    /// Whether the caller is the host.
    pub fn is_system(&self) -> bool {
        matches!(self.kind, CallerKind::System)
    }
}
