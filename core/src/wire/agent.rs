//! The topic membership carrier.

use super::raw::Associate;

carrier! {
    /// `ChatTopicAgent`: a user's membership of a topic.
    ChatTopicAgent {
        /// The topic.
        "TopicId" => topic_id: i32,
        /// The member.
        "User" => user: Option<Associate>,
        /// May read the topic's sessions.
        "CanListen" => can_listen: bool,
        /// May pick up and answer sessions.
        "CanRespond" => can_respond: bool,
        /// May manage the topic and its sessions.
        "CanManage" => can_manage: bool,
        /// Is notified of alerts.
        "CanNotify" => can_notify: bool,
    }
}
