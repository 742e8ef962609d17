//! The chat message carrier.

use super::datetime::WireDateTime;
use super::enums::{ChatMessageSpecialType, ChatMessageType};

carrier! {
    /// `ChatMessage`: one message of a session.
    ChatMessage {
        /// The message's id.
        "ChatMessageId" => chat_message_id: i32,
        /// The session the message belongs to.
        "ChatSessionId" => chat_session_id: i32,
        /// Who the message goes to.
        "Type" => message_type: ChatMessageType,
        /// The text (at most 4000 characters).
        "Message" => message: String,
        /// The author's name as shown.
        "Author" => author: String,
        /// 1 once a customer fetch returned the message, else 0.
        "ReadByCustomer" => read_by_customer: i32,
        /// What kind of special message this is.
        "SpecialType" => special_type: ChatMessageSpecialType,
        /// The special type's parameter (at most 255 characters).
        "SpecialParam" => special_param: String,
        /// When the message was posted.
        "WhenPosted" => when_posted: WireDateTime,
    }
}
