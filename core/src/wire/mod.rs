//! Wire carriers (SPEC §6): the SuperOffice JSON shapes, built at the edge.
//! TEMPORARY STUB: replaced by the wire branch.
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ChatSessionStatus {
    #[default]
    Invalid,
    PreChatForm,
    Faq,
    OfflineForm,
    InQueue,
    CustomerLast,
    UserLast,
    Finished,
    Deleted,
    Closed,
    RequestPosted,
    ClosedFromQueue,
}
impl ChatSessionStatus {
    pub fn code(self) -> i32 {
        self as i32
    }
    pub fn from_code(c: i32) -> Option<Self> {
        use ChatSessionStatus::*;
        [
            Invalid,
            PreChatForm,
            Faq,
            OfflineForm,
            InQueue,
            CustomerLast,
            UserLast,
            Finished,
            Deleted,
            Closed,
            RequestPosted,
            ClosedFromQueue,
        ]
        .get(usize::try_from(c).ok()?)
        .copied()
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ChatMessageType {
    #[default]
    Invalid,
    ToCustomer,
    ToUser,
    Special,
}
impl ChatMessageType {
    pub fn code(self) -> i32 {
        self as i32
    }
    pub fn from_code(c: i32) -> Option<Self> {
        use ChatMessageType::*;
        [Invalid, ToCustomer, ToUser, Special]
            .get(usize::try_from(c).ok()?)
            .copied()
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ChatMessageSpecialType {
    #[default]
    None,
    Welcome,
    Url,
    Block,
    NewSession,
    TransferedSession,
    Error,
    SessionDeleted,
    FaqSuccessQuestion,
    ClosedByUser,
    ClosedByCustomer,
    ClosedByIdle,
    TransferRejected,
    ReopenedByCustomer,
    ClickedOption,
    BotMessage,
    Options,
    IllegalFileType,
}
impl ChatMessageSpecialType {
    pub fn code(self) -> i32 {
        use ChatMessageSpecialType::*;
        match self {
            None => 0,
            Welcome => 1,
            Url => 2,
            Block => 3,
            NewSession => 5,
            TransferedSession => 6,
            Error => 7,
            SessionDeleted => 8,
            FaqSuccessQuestion => 9,
            ClosedByUser => 10,
            ClosedByCustomer => 11,
            ClosedByIdle => 12,
            TransferRejected => 13,
            ReopenedByCustomer => 14,
            ClickedOption => 15,
            BotMessage => 16,
            Options => 17,
            IllegalFileType => 18,
        }
    }
    pub fn from_code(c: i32) -> Option<Self> {
        use ChatMessageSpecialType::*;
        [
            None,
            Welcome,
            Url,
            Block,
            NewSession,
            TransferedSession,
            Error,
            SessionDeleted,
            FaqSuccessQuestion,
            ClosedByUser,
            ClosedByCustomer,
            ClosedByIdle,
            TransferRejected,
            ReopenedByCustomer,
            ClickedOption,
            BotMessage,
            Options,
            IllegalFileType,
        ]
        .into_iter()
        .find(|v| v.code() == c)
    }
}
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatTopicEntity {
    #[serde(rename = "ChatTopicId")]
    pub chat_topic_id: i32,
    #[serde(rename = "Name")]
    pub name: String,
}
