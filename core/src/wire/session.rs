//! The chat session carrier.

use super::datetime::WireDateTime;
use super::enums::{ChatSessionFlags, ChatSessionStatus};
use super::raw::{Associate, Contact, Person, Project, Sale, Ticket};
use super::rights::{FieldProperties, TableRight};

carrier! {
    /// `ChatSessionEntity`: one customer chat, as a caller sees it.
    ///
    /// Summaries are `None` (null) when absent. `Rating` sits between
    /// `ChatbotIsActive` and `TableRight` (the seed predates it).
    ChatSessionEntity {
        /// The session's id (0: none yet).
        "ChatSessionId" => chat_session_id: i32,
        /// The chat topic the session belongs to.
        "TopicId" => topic_id: i32,
        /// The agent handling the session.
        "User" => user: Option<Associate>,
        /// The CRM person linked to the customer.
        "Person" => person: Option<Person>,
        /// The customer's alias.
        "CustomerAlias" => customer_alias: String,
        /// The customer's host.
        "CustomerHost" => customer_host: String,
        /// The customer's name.
        "CustomerName" => customer_name: String,
        /// The customer's e-mail address.
        "CustomerEmail" => customer_email: String,
        /// The customer's phone number.
        "CustomerPhone" => customer_phone: String,
        /// Whether the customer consented to storage of their data.
        "CustomerConsented" => customer_consented: bool,
        /// The customer's company name.
        "CustomerCompanyName" => customer_company_name: String,
        /// The session's state.
        "Status" => status: ChatSessionStatus,
        /// The first ordinary message.
        "FirstMessage" => first_message: String,
        /// The latest message.
        "LastMessage" => last_message: String,
        /// When the customer asked for the chat.
        "WhenRequested" => when_requested: WireDateTime,
        /// When an agent picked the session up.
        "WhenStarted" => when_started: WireDateTime,
        /// When the session ended.
        "WhenEnded" => when_ended: WireDateTime,
        /// When the latest message was posted.
        "WhenIdle" => when_idle: WireDateTime,
        /// When the customer last fetched messages.
        "WhenFetched" => when_fetched: WireDateTime,
        /// The customer's key; only the carrier that creates the session holds it.
        "SessionKey" => session_key: String as secret,
        /// The queue position when the session first joined the human queue.
        "InitialQueuePos" => initial_queue_pos: i32,
        /// The alert level (0, 1 or 2; see [`crate::guide::queue`]).
        "AlertLevel" => alert_level: i32,
        /// The session's rank among its User's active sessions.
        "Rank" => rank: i32,
        /// Typing state (output only).
        "Flags" => flags: ChatSessionFlags,
        /// The CRM company linked to the customer.
        "Contact" => contact: Option<Contact>,
        /// The CRM project linked to the session.
        "Project" => project: Option<Project>,
        /// The CRM sale linked to the session.
        "Sale" => sale: Option<Sale>,
        /// The CRM ticket linked to the session.
        "Ticket" => ticket: Option<Ticket>,
        /// The agent a pending transfer goes to.
        "TransferTo" => transfer_to: Option<Associate>,
        /// Whether the bot runs the session.
        "ChatbotIsActive" => chatbot_is_active: bool,
        /// The customer's rating: 0 none, else 1–5.
        "Rating" => rating: i32,
        /// What the caller may do with the session.
        "TableRight" => table_right: TableRight,
        /// What the caller may do with each field.
        "FieldProperties" => field_properties: FieldProperties,
    }
}
