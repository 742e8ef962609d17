//! The agent presence carrier.

use super::rights::{FieldProperties, TableRight};

carrier! {
    /// `ChatPresence`: whether a user is available for chats.
    ChatPresence {
        /// The user (associate id).
        "UserId" => user_id: i32,
        /// The name shown to customers.
        "DisplayName" => display_name: String,
        /// The user's active sessions.
        "OngoingChats" => ongoing_chats: i32,
        /// Whether the user is available.
        "Present" => present: bool,
        /// The topics where the user has CanRespond.
        "ChatTopics" => chat_topics: Vec<i32>,
        /// What the caller may do with the presence.
        "TableRight" => table_right: TableRight,
        /// What the caller may do with each field.
        "FieldProperties" => field_properties: FieldProperties,
    }
}
