//! The chat topic carrier and its bot settings.

use super::datetime::WireDateTime;
use super::hours::ChatOpeningHours;
use super::raw::{CustomerLanguage, ReplyTemplate, TicketCategory, TicketPriority};
use super::rights::{FieldProperties, TableRight};
use super::widget::ChatWidgetSettings;

carrier! {
    /// `ChatTopicEntity`: a chat channel and its settings.
    ///
    /// Language, AlertTemplate, TicketCategory and TicketPriority are kept as
    /// received, `None` (null) when absent; OpeningHours, Widget and
    /// BotSettings are built carriers, their defaults when absent.
    ChatTopicEntity {
        /// The topic's id (0: save creates it).
        "ChatTopicId" => chat_topic_id: i32,
        /// The topic's name.
        "Name" => name: String,
        /// A description.
        "Description" => description: String,
        /// The welcome message sent at pick-up ("" for none).
        "WelcomeMessage" => welcome_message: String,
        /// The customer language.
        "Language" => language: Option<CustomerLanguage>,
        /// When a session of the topic was last picked up.
        "LastAccept" => last_accept: WireDateTime,
        /// The average queue wait in seconds, kept by pick-ups (see
        /// [`crate::guide::queue`]); ignored when a topic is saved.
        "SecondsPrAccept" => seconds_pr_accept: i32,
        /// Who receives alerts.
        "AlertRecipient" => alert_recipient: String,
        /// The alert message template.
        "AlertTemplate" => alert_template: Option<ReplyTemplate>,
        /// Whether the customer must consent before entering the queue.
        "CollectConsent" => collect_consent: bool,
        /// The widget badge header.
        "BadgeHeader" => badge_header: String,
        /// Whether CustomQueueText is shown to queued customers.
        "CustomQueueTextEnabled" => custom_queue_text_enabled: bool,
        /// The queue text, with `{cque}` and `{cavw}` placeholders.
        "CustomQueueText" => custom_queue_text: String,
        /// Minutes in the queue before alert level 1 (0: off).
        "WarnNewChatMinutes" => warn_new_chat_minutes: i32,
        /// Minutes in the queue before alert level 2 (0: off).
        "WarnManagerNewChatMinutes" => warn_manager_new_chat_minutes: i32,
        /// Whether tickets are created from chats.
        "TicketEnabled" => ticket_enabled: bool,
        /// The category of tickets created.
        "TicketCategory" => ticket_category: Option<TicketCategory>,
        /// The priority of tickets created.
        "TicketPriority" => ticket_priority: Option<TicketPriority>,
        /// Whether OpeningHours apply.
        "OpeningHoursEnabled" => opening_hours_enabled: bool,
        /// The opening hours.
        "OpeningHours" => opening_hours: ChatOpeningHours,
        /// The widget settings.
        "Widget" => widget: ChatWidgetSettings,
        /// Whether new sessions start with the bot.
        "BotEnabled" => bot_enabled: bool,
        /// The bot settings.
        "BotSettings" => bot_settings: ChatBotSettings,
        /// Whether the offline form asks for consent.
        "OfflineCollectConsent" => offline_collect_consent: bool,
        /// Minutes an unanswered customer waits before alert level 1 (0: off).
        "WarnChatMessageMinutes" => warn_chat_message_minutes: i32,
        /// Minutes an unanswered customer waits before alert level 2 (0: off).
        "WarnManagerChatMessageMinutes" => warn_manager_chat_message_minutes: i32,
        /// Whether queued customers may switch to the offline form.
        "UseQueueOfflineForm" => use_queue_offline_form: bool,
        /// Minutes in the queue after which the offline form is offered (0: off).
        "OfflineFormTimeLimit" => offline_form_time_limit: i32,
        /// Queue length from which the offline form is offered (0: off).
        "OfflineFormQueueLength" => offline_form_queue_length: i32,
        /// Whether customers may rate a finished chat.
        "WidgetEnableRating" => widget_enable_rating: bool,
        /// The rating prompt.
        "WidgetRatingText" => widget_rating_text: String,
        /// What the caller may do with the topic.
        "TableRight" => table_right: TableRight,
        /// What the caller may do with each field.
        "FieldProperties" => field_properties: FieldProperties,
    }
}

carrier! {
    /// `ChatBotSettings`: the topic's bot.
    ChatBotSettings {
        /// The name bot messages are written by.
        "BotName" => bot_name: String,
        /// Script run when the bot registers.
        "BotRegisterScriptId" => bot_register_script_id: i32,
        /// Script run when a session is created.
        "BotSessionCreatedScriptId" => bot_session_created_script_id: i32,
        /// Script run when a session changes.
        "BotSessionChangedScriptId" => bot_session_changed_script_id: i32,
        /// Script run when a message arrives.
        "BotMessageReceivedScriptId" => bot_message_received_script_id: i32,
    }
}
