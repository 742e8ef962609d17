//! chatdesk: an embedded chat-session engine with SuperOffice CRM's chat
//! domain and wire format (`ChatSessionEntity`, `ChatTopicEntity`, …), run
//! in-process over a pluggable [`Storage`]: [`MemoryStorage`] here,
//! SQLite in `chatdesk-sqlite`, sled in `chatdesk-sled`.
//!
//! ```
//! use chatdesk::{
//!     Associate, Caller, ChatDesk, ChatPresence, ChatSessionEntity, ChatSessionStatus,
//!     ChatTopicAgent, MemoryStorage, UserId,
//! };
//!
//! # fn main() -> chatdesk::Result<()> {
//! let desk = ChatDesk::new(MemoryStorage::new());
//! let host = Caller::system();
//!
//! // A topic (channel) with one agent who can answer and is present.
//! let mut topic = desk.create_default_chat_topic_entity(&host);
//! topic.name = "Support".into();
//! let topic = desk.save_chat_topic_entity(&host, &topic)?;
//! let anna = UserId(7);
//! desk.add_chat_topic_user_agent(&host, &ChatTopicAgent {
//!     can_respond: true,
//!     ..ChatTopicAgent::new(topic.id(), anna)
//! })?;
//! desk.save_chat_presence(&Caller::agent(anna), &ChatPresence::new(anna, true, "Anna"))?;
//!
//! // A customer asks for a chat: the seed endpoint.
//! let request = ChatSessionEntity { customer_alias: "Ann".into(), ..Default::default() };
//! let session = desk.create_chat_session_for_topic(&Caller::anonymous(), topic.id(), &request)?;
//! assert_eq!(session.status, ChatSessionStatus::InQueue);
//! assert_eq!(session.session_key.len(), 43); // shown only here, once
//!
//! // The customer acts with their key and sees their place in the queue.
//! let customer = Caller::customer(session.session_key.clone());
//! assert_eq!(desk.get_queue_position(&customer, session.id())?, Some(1));
//!
//! // Anna picks it up: the chat is hers, with rank 1.
//! let picked = desk.pick_up_chat_session(&Caller::agent(anna), session.id())?;
//! let picked = picked.expect("the session was waiting");
//! assert_eq!(picked.user_id(), Some(anna));
//! assert_eq!(picked.rank, 1);
//! # let _ = Associate::new(anna, "Anna");
//! # Ok(())
//! # }
//! ```
//!
//! Every operation is one atomic storage transaction; see
//! [`crate::guide::storage`] for what each backend guarantees and [`backend`]
//! for writing one; the `conformance_suite!` macro (feature `testkit`) holds
//! the tests they share.
//!
//! A host that must react to changes at once switches on the change feed
//! ([`ChatDesk::set_change_feed`], stored in the store): each operation then
//! writes its [`ChatEvent`] in its own transaction, read with
//! [`ChatDesk::events_after`] or [`ChatDesk::wait_for_events`] and forwarded
//! with [`ChatEvent::to_webhook_json`]. [`ChatDesk::with_message_hook`] lets
//! the host rewrite or refuse every new message before it is stored.

mod alerts;
mod caller;
mod clock;
mod error;
mod hours;
mod ids;
mod model;
mod queue;
mod rank;
mod rights;
mod service;
mod status;
mod storage;
mod wire;

pub mod backend;
pub mod guide;
pub mod schema;

// Not part of the API: setup the doctests hide (public only because doctests
// are separate crates).
#[doc(hidden)]
pub mod doc_support;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

// The README's Rust samples run as doctests, so they keep up with the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub use caller::{Caller, CallerKind, SessionKey};
pub use chrono_tz::Tz;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{Error, Result, StorageError};
pub use ids::{MessageId, SessionId, TopicId, UserId};
pub use model::EventActor;
pub use service::{
    AgentReportRow, AgentVerdict, AlertChange, ChatDesk, ChatEvent, ChatEventKind, Config,
    DeskReport, DeskReportRequest, Directory, DurationFigures, EventMessage, HookDecision,
    IdleClose, IntegrityReport, MAX_EVENTS_PER_READ, MAX_MESSAGES_PER_FETCH, MemoryDirectory,
    MessageDraft, MessageHook, REPORT_ALERT_LEVELS, ReportBucket, ReportFigures, RoutingChange,
    RoutingExplanation, RoutingVerdict, SWEEP_BATCH, SessionQuery, TopicReportRow,
    TranscriptFormat, Typing, WaitBasis, WaitEstimate,
};
pub use storage::memory::MemoryStorage;
pub use storage::{Capabilities, Durability, Storage};
pub use wire::{
    Associate, AssociateKind, ChatAgentCapacity, ChatBotSettings, ChatMessage,
    ChatMessageSpecialType, ChatMessageType, ChatOpeningHours, ChatPresence, ChatSessionEntity,
    ChatSessionFlags, ChatSessionStatus, ChatTopicAgent, ChatTopicEntity, ChatTopicRouting,
    ChatWidgetSettings, Contact, ContactKind, CustomerFieldFlags, CustomerLanguage,
    CustomerLanguageKind, FieldProperties, FieldProperty, FieldRight, FieldRightMask,
    FlagParseError, KbCategory, KbCategoryKind, Person, PersonKind, Project, ProjectKind,
    RawObject, ReplyTemplate, ReplyTemplateKind, RoutingMode, RoutingStrategy, Sale, SaleKind,
    SummaryKind, TableRight, TableRightMask, Ticket, TicketCategory, TicketCategoryKind,
    TicketKind, TicketPriority, TicketPriorityKind, TimeZoneData, TimeZoneDataKind, UNSET_WIRE,
    UnknownEnumName, WidgetSize, WidgetTheme, WireDateTime, WireDateTimeError,
};
