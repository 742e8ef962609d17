//! Ids as newtypes, so that a topic id is never passed where a session id belongs.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i32);

        impl $name {
            /// The raw id as SuperOffice writes it.
            pub fn get(self) -> i32 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i32> for $name {
            fn from(v: i32) -> Self {
                $name(v)
            }
        }
    };
}

id_type!(
    /// A chat session (`ChatSessionId`).
    SessionId
);
id_type!(
    /// A chat topic (`ChatTopicId`).
    TopicId
);
id_type!(
    /// An associate / agent (`AssociateId`, `UserId`).
    UserId
);
id_type!(
    /// A chat message (`ChatMessageId`).
    MessageId
);

/// The kinds of id the store hands out: 1 + the highest ever given for the
/// kind, taken in the operation's own transaction, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    /// Chat topics.
    Topic,
    /// Chat sessions.
    Session,
    /// Chat messages.
    Message,
    /// Queue sequence numbers (queue order), one counter per store.
    QueueSeq,
    /// Change-feed sequence numbers: one counter per store, taken inside the
    /// writing transaction, so (writers being serialized) they grow in commit
    /// order with no gaps.
    Event,
}

impl IdKind {
    /// Every kind, in a fixed order (backends store one counter each).
    pub const ALL: [IdKind; 5] = [
        IdKind::Topic,
        IdKind::Session,
        IdKind::Message,
        IdKind::QueueSeq,
        IdKind::Event,
    ];

    /// A stable name for storage keys and messages.
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Topic => "topic",
            IdKind::Session => "session",
            IdKind::Message => "message",
            IdKind::QueueSeq => "queue_seq",
            IdKind::Event => "event",
        }
    }

    /// Whether ids of this kind are i32 on the wire (so past `i32::MAX` is
    /// Validation); queue and event sequences are internal and 64-bit.
    pub fn is_wire_id(self) -> bool {
        !matches!(self, IdKind::QueueSeq | IdKind::Event)
    }
}

/// Computes the id after `last` (the highest ever given), refusing past i32::MAX
/// for wire ids. Every backend uses this so ids agree across backends.
pub fn next_after(kind: IdKind, last: i64) -> crate::Result<i64> {
    let next = last
        .checked_add(1)
        .ok_or_else(|| crate::Error::validation(kind.name(), "the id counter is exhausted"))?;
    if kind.is_wire_id() && next > i64::from(i32::MAX) {
        return Err(crate::Error::validation(
            format!("{} id", kind.name()),
            "no id left: past i32::MAX",
        ));
    }
    Ok(next)
}
