//! chatdesk: an embedded chat-session engine.

pub mod caller;
pub mod clock;
pub mod error;
pub mod ids;
pub mod model;
pub mod storage;
pub mod wire;

pub use caller::{Caller, Context, SessionKey};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{Error, Result, StorageError};
pub use ids::{IdKind, MessageId, SessionId, TopicId, UserId};
pub use storage::memory::MemoryStorage;
pub use storage::{Durability, ReadTx, Storage, StorageExt, WriteTx};
pub mod hours;
pub mod rank;
pub mod rights;
pub mod service;

pub use service::{ChatDesk, Config, Directory, MemoryDirectory};
pub use wire::{
    Associate, ChatMessage, ChatMessageSpecialType, ChatMessageType, ChatPresence,
    ChatSessionEntity, ChatSessionStatus, ChatTopicAgent, ChatTopicEntity, FieldProperty,
    FieldRight, TableRight,
};
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
