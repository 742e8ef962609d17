//! Routing's carriers: a topic's routing settings and an agent's capacity
//! (chatdesk's own; SuperOffice's `ChatTopicEntity` keeps its keys).

use super::enums::{RoutingMode, RoutingStrategy};

carrier! {
    /// `ChatTopicRouting`: how a topic's waiting sessions are assigned. A
    /// topic that never saved one reads the defaults (Manual, LeastBusy,
    /// capacity 3, no timeouts); so does `Default`, and a field missing from
    /// the JSON takes its default. See [`crate::guide::routing`].
    ChatTopicRouting {
        /// The topic.
        "ChatTopicId" => chat_topic_id: i32,
        /// Manual (agents pick up by hand, the default) or Auto.
        "Mode" => mode: RoutingMode,
        /// Which eligible agent gets a session.
        "Strategy" => strategy: RoutingStrategy,
        /// An agent's capacity in this topic when they have no MaxChats of
        /// their own (1–1000, default 3).
        "DefaultCapacity" => default_capacity: i32 =
            crate::model::TopicRouting::default().default_capacity,
        /// A routed session whose agent has not written within this many
        /// seconds goes back to the queue (0–86 400; 0 = off, the default).
        "AnswerTimeoutSeconds" => answer_timeout_seconds: i32,
        /// A pending transfer not accepted or rejected within this many
        /// seconds is rejected (0–86 400; 0 = off, the default; Manual topics
        /// too).
        "TransferTimeoutSeconds" => transfer_timeout_seconds: i32,
    }
}

carrier! {
    /// `ChatAgentCapacity`: how many chats routing gives an agent at once.
    ChatAgentCapacity {
        /// The agent (associate id).
        "UserId" => user_id: i32,
        /// At most this many chats (1–1000) in every topic; null: each
        /// topic's DefaultCapacity.
        "MaxChats" => max_chats: Option<i32>,
    }
}

impl ChatTopicRouting {
    /// The settings a topic has until it saves its own.
    pub fn defaults_for(topic: crate::TopicId) -> Self {
        let d = crate::model::TopicRouting::default();
        ChatTopicRouting {
            chat_topic_id: topic.0,
            mode: d.mode,
            strategy: d.strategy,
            default_capacity: d.default_capacity,
            answer_timeout_seconds: d.answer_timeout_secs,
            transfer_timeout_seconds: d.transfer_timeout_secs,
        }
    }

    /// The topic (`ChatTopicId`).
    pub fn topic_id(&self) -> crate::TopicId {
        crate::TopicId(self.chat_topic_id)
    }
}

impl ChatAgentCapacity {
    /// The agent (`UserId`).
    pub fn user_id(&self) -> crate::UserId {
        crate::UserId(self.user_id)
    }
}
