//! The lifecycle table as data (the table in words: [`crate::guide::lifecycle`]):
//! for each operation, who may run it and from which states. The service
//! checks a call against its row in a fixed order (NotFound → Forbidden →
//! InvalidTransition) before it changes
//! anything; the state conditions beyond the status (a pending transfer, the
//! reopen window, …) are the operation's own.

use crate::wire::ChatSessionStatus::{self, *};

/// Who may run an operation ("the who column").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The host.
    System,
    /// The session's own customer.
    Customer,
    /// A member of the session's topic with CanManage.
    Manager,
    /// The session's User.
    TheUser,
    /// The session's TransferTo user.
    TheTransferTo,
    /// A member of the session's topic with CanRespond.
    Responder,
}

/// The operations of the lifecycle table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// Submit the pre-chat form.
    SubmitPreChatForm,
    /// The FAQ answered the question.
    FaqAnswered,
    /// The FAQ did not help.
    FaqNotHelped,
    /// Post the offline request.
    PostOfflineRequest,
    /// Pick up a given session.
    PickUp,
    /// A message from the customer.
    CustomerMessage,
    /// A message from the session's User.
    AgentMessage,
    /// A bot message (System).
    BotMessage,
    /// Reset / bot hand-off.
    Reset,
    /// Transfer to another member.
    Transfer,
    /// Accept a pending transfer.
    AcceptTransfer,
    /// Reject a pending transfer.
    RejectTransfer,
    /// Close by the User, a manager or System.
    CloseByAgent,
    /// Close by the customer.
    CloseByCustomer,
    /// Reopen within the window.
    Reopen,
    /// Finish (post-chat form) with a rating.
    Finish,
    /// Soft-delete.
    Delete,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    /// The operation's name in errors (the service method's name).
    pub name: &'static str,
    /// Who may run it.
    pub who: &'static [Role],
    /// The states it runs from.
    pub from: &'static [ChatSessionStatus],
}

const OPEN: &[ChatSessionStatus] = &[
    PreChatForm,
    Faq,
    OfflineForm,
    InQueue,
    CustomerLast,
    UserLast,
];
const ACTIVE: &[ChatSessionStatus] = &[CustomerLast, UserLast];
const NOT_DELETED: &[ChatSessionStatus] = &[
    Invalid,
    PreChatForm,
    Faq,
    OfflineForm,
    InQueue,
    CustomerLast,
    UserLast,
    Finished,
    Closed,
    RequestPosted,
    ClosedFromQueue,
];
const CUSTOMER_STEP: &[Role] = &[Role::Customer, Role::System];

impl Op {
    /// The operation's row of the lifecycle table.
    pub(crate) fn row(self) -> Row {
        let r = |name, who, from| Row { name, who, from };
        match self {
            Op::SubmitPreChatForm => r("submit_pre_chat_form", CUSTOMER_STEP, &[PreChatForm]),
            Op::FaqAnswered => r("faq_answered", CUSTOMER_STEP, &[Faq]),
            Op::FaqNotHelped => r("faq_not_helped", CUSTOMER_STEP, &[Faq]),
            Op::PostOfflineRequest => r(
                "post_offline_request",
                CUSTOMER_STEP,
                &[OfflineForm, InQueue],
            ),
            Op::PickUp => r("pick_up_chat_session", &[Role::Responder], &[InQueue]),
            Op::CustomerMessage => r(
                "add_chat_message",
                &[Role::Customer],
                &[InQueue, CustomerLast, UserLast],
            ),
            Op::AgentMessage => r("add_chat_message", &[Role::TheUser], ACTIVE),
            Op::BotMessage => r(
                "add_chat_message",
                &[Role::System],
                &[InQueue, CustomerLast, UserLast],
            ),
            Op::Reset => r(
                "reset_chat_session",
                &[Role::System, Role::TheUser, Role::Manager],
                OPEN,
            ),
            Op::Transfer => r(
                "transfer_chat_session",
                &[Role::TheUser, Role::Manager],
                ACTIVE,
            ),
            Op::AcceptTransfer => r(
                "accept_chat_session_transfer",
                &[Role::TheTransferTo],
                ACTIVE,
            ),
            Op::RejectTransfer => r(
                "reject_chat_session_transfer",
                &[Role::TheTransferTo],
                ACTIVE,
            ),
            Op::CloseByAgent => r(
                "close_chat_session",
                &[Role::TheUser, Role::Manager, Role::System],
                ACTIVE,
            ),
            Op::CloseByCustomer => r("close_chat_session", &[Role::Customer], OPEN),
            Op::Reopen => r("reopen_chat_session", CUSTOMER_STEP, &[Closed]),
            Op::Finish => r("finish_chat_session", CUSTOMER_STEP, &[Closed]),
            Op::Delete => r(
                "delete_chat_session_entity",
                &[Role::Manager, Role::System],
                NOT_DELETED,
            ),
        }
    }
}
