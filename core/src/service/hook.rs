//! The before-save message hook (SuperOffice's `ChatBeforeSaveNewMessage`):
//! the host sees every new message inside the transaction and may rewrite or
//! refuse it.

use crate::ids::{SessionId, TopicId};
use crate::wire::{ChatMessageSpecialType, ChatMessageType};
use std::fmt;
use std::sync::Arc;

/// A message about to be stored, as the hook sees it. The text and the
/// special type may be rewritten; everything else is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDraft {
    pub(crate) session: SessionId,
    pub(crate) topic: TopicId,
    pub(crate) message_type: ChatMessageType,
    pub(crate) special_type: ChatMessageSpecialType,
    pub(crate) text: String,
    pub(crate) special_param: String,
    pub(crate) author: String,
}

impl MessageDraft {
    /// The session the message belongs to.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The session's topic.
    pub fn topic(&self) -> TopicId {
        self.topic
    }

    /// `Type`: ToUser (from the customer), ToCustomer (an agent, the bot, a
    /// welcome), Special (system messages such as ClosedByUser).
    pub fn message_type(&self) -> ChatMessageType {
        self.message_type
    }

    /// `SpecialType`, as it will be stored.
    pub fn special_type(&self) -> ChatMessageSpecialType {
        self.special_type
    }

    /// `Message`, as it will be stored.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `SpecialParam`.
    pub fn special_param(&self) -> &str {
        &self.special_param
    }

    /// `Author`.
    pub fn author(&self) -> &str {
        &self.author
    }

    /// Rewrites the text (still at most 4000 characters, else the operation
    /// fails with Validation naming `Message`).
    pub fn set_text(&mut self, text: impl Into<String>) {
        self.text = text.into();
    }

    /// Rewrites the special type.
    pub fn set_special_type(&mut self, special: ChatMessageSpecialType) {
        self.special_type = special;
    }
}

/// What a [`MessageHook`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookDecision {
    /// Store the message (with whatever the hook rewrote).
    Accept,
    /// Refuse it: the operation fails with
    /// [`Error::Rejected`](crate::Error::Rejected) carrying this reason, and
    /// nothing of it is written.
    Reject(String),
}

/// A host hook that sees every new message before it is stored: customer,
/// agent and bot messages, welcomes and the system messages of the lifecycle
/// (closes, transfers, …).
///
/// It runs inside the storage's write transaction, under the store's write
/// lock: every other writer of the store waits while it runs, so it must be
/// quick (no network calls, no waiting on other threads). It must not call
/// back into the service: such a re-entrant call fails at once with
/// [`Error::Conflict`](crate::Error::Conflict) instead of deadlocking.
/// A panic in the hook unwinds through the operation like any panic.
pub trait MessageHook: Send + Sync + 'static {
    /// Looks at (and may rewrite) `draft`; refuses it with
    /// [`HookDecision::Reject`].
    fn before_save(&self, draft: &mut MessageDraft) -> HookDecision;
}

impl<F> MessageHook for F
where
    F: Fn(&mut MessageDraft) -> HookDecision + Send + Sync + 'static,
{
    fn before_save(&self, draft: &mut MessageDraft) -> HookDecision {
        self(draft)
    }
}

/// The service's hook, if any.
#[derive(Clone, Default)]
pub(crate) struct HookSlot(pub(crate) Option<Arc<dyn MessageHook>>);

impl fmt::Debug for HookSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "HookSlot(Some(..))"
        } else {
            "HookSlot(None)"
        })
    }
}
