//! For backend authors: the transaction traits a [`Storage`](crate::Storage)
//! hands the service, the records it stores, and the counted queue index.
//!
//! A host never needs this module: it picks a backend
//! ([`MemoryStorage`](crate::MemoryStorage), `chatdesk_sqlite::SqliteStorage`,
//! `chatdesk_sled::SledStorage`) and calls [`ChatDesk`](crate::ChatDesk). A
//! new backend implements [`Storage`](crate::Storage) over [`ReadTx`] and
//! [`WriteTx`], stores the records below as they are, and proves itself with
//! the shared conformance suite (`chatdesk::conformance_suite!`, feature
//! `testkit`). The guide page [`crate::guide::storage`] lists the guarantees
//! every backend keeps.

pub use crate::ids::{IdKind, next_after};
pub use crate::model::{
    AgentRecord, CrmLinks, CustomerInfo, EventRecord, MemberRecord, MessageRecord, PresenceRecord,
    SessionRecord, SessionRouting, SessionStats, TopicRecord, TopicRouting, format_uuid,
    parse_uuid, status_is_active, status_is_open,
};
pub use crate::storage::{
    ForeignCommitWaker, FreeAgent, LockSet, ReadTx, RoutingLock, StorageExt, WriteTx,
};

pub mod queue_index;
