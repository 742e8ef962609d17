//! Typed ids read from the carriers, so that a host never wraps an `i32` by
//! hand (the carriers keep SuperOffice's `i32` fields for the wire).

use super::{ChatMessage, ChatPresence, ChatSessionEntity, ChatTopicAgent, ChatTopicEntity};
use crate::ids::{MessageId, SessionId, TopicId, UserId};

impl ChatSessionEntity {
    /// The session's id (`ChatSessionId`).
    pub fn id(&self) -> SessionId {
        SessionId(self.chat_session_id)
    }

    /// The session's topic (`TopicId`).
    pub fn topic_id(&self) -> TopicId {
        TopicId(self.topic_id)
    }

    /// The agent who has (or last had) the session (`User`), if any.
    pub fn user_id(&self) -> Option<UserId> {
        self.user.as_ref().and_then(|a| a.user_id())
    }

    /// The agent a pending transfer is addressed to (`TransferTo`), if any.
    pub fn transfer_to_id(&self) -> Option<UserId> {
        self.transfer_to.as_ref().and_then(|a| a.user_id())
    }
}

impl ChatTopicEntity {
    /// The topic's id (`ChatTopicId`; 0 for a topic not saved yet).
    pub fn id(&self) -> TopicId {
        TopicId(self.chat_topic_id)
    }
}

impl ChatMessage {
    /// The message's id (`ChatMessageId`).
    pub fn id(&self) -> MessageId {
        MessageId(self.chat_message_id)
    }

    /// The session the message belongs to (`ChatSessionId`).
    pub fn session_id(&self) -> SessionId {
        SessionId(self.chat_session_id)
    }
}

impl ChatTopicAgent {
    /// A membership of `user` in `topic` with every right off; set the
    /// rights you want with the `can_*` fields.
    ///
    /// ```
    /// use chatdesk::{ChatTopicAgent, TopicId, UserId};
    /// let m = ChatTopicAgent { can_respond: true, ..ChatTopicAgent::new(TopicId(1), UserId(7)) };
    /// assert_eq!(m.user_id(), Some(UserId(7)));
    /// ```
    pub fn new(topic: TopicId, user: UserId) -> Self {
        ChatTopicAgent {
            topic_id: topic.0,
            user: Some(crate::Associate::with_id(user.0)),
            ..ChatTopicAgent::default()
        }
    }

    /// The membership's topic (`TopicId`).
    pub fn topic_id(&self) -> TopicId {
        TopicId(self.topic_id)
    }

    /// The member (`User`), if the carrier names one.
    pub fn user_id(&self) -> Option<UserId> {
        self.user.as_ref().and_then(|a| a.user_id())
    }
}

impl ChatPresence {
    /// The presence of `user`: present or not, under `display_name` (what
    /// agents' messages are signed with when the directory has no name).
    ///
    /// ```
    /// use chatdesk::{ChatPresence, UserId};
    /// let p = ChatPresence::new(UserId(7), true, "Anna");
    /// assert_eq!(p.user_id(), UserId(7));
    /// ```
    pub fn new(user: UserId, present: bool, display_name: impl Into<String>) -> Self {
        ChatPresence {
            user_id: user.0,
            present,
            display_name: display_name.into(),
            ..ChatPresence::default()
        }
    }

    /// The user this presence belongs to (`UserId`).
    pub fn user_id(&self) -> UserId {
        UserId(self.user_id)
    }
}
