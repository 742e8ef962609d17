//! The chat widget settings carrier.

use super::enums::{WidgetSize, WidgetTheme};
use super::flags::CustomerFieldFlags;
use super::raw::KbCategory;

carrier! {
    /// `ChatWidgetSettings`: how the customer's widget looks and behaves.
    ChatWidgetSettings {
        /// Whether new sessions start in the automatic FAQ.
        "AutoFaqEnabled" => auto_faq_enabled: bool,
        /// The FAQ's knowledge-base category, kept as received.
        "AutoFaqCategory" => auto_faq_category: Option<KbCategory>,
        /// Whether new sessions start with the pre-chat form.
        "PreFormEnabled" => pre_form_enabled: bool,
        /// The pre-chat form's message.
        "PreFormMessage" => pre_form_message: String,
        /// Customer fields that must be filled in (Country is ignored).
        "RequiredFields" => required_fields: CustomerFieldFlags,
        /// Whether the post-chat form is shown.
        "PostFormEnabled" => post_form_enabled: bool,
        /// The post-chat form's header.
        "PostFormHeader" => post_form_header: String,
        /// The post-chat form's message.
        "PostFormMessage" => post_form_message: String,
        /// Whether the customer may get a transcript.
        "PostTranscriptEnabled" => post_transcript_enabled: bool,
        /// The widget's language.
        "LanguageIsoCode" => language_iso_code: String,
        /// The widget's size.
        "Size" => size: WidgetSize,
        /// The widget's theme.
        "Theme" => theme: WidgetTheme,
        /// Main colour.
        "Color" => color: String,
        /// Badge colour.
        "BadgeColor" => badge_color: String,
        /// Badge text colour.
        "BadgeTextColor" => badge_text_color: String,
        /// Customer message colour.
        "CustMsgColor" => cust_msg_color: String,
        /// Customer message text colour.
        "CustMsgTextColor" => cust_msg_text_color: String,
        /// Agent message colour.
        "AgentMsgColor" => agent_msg_color: String,
        /// Agent message text colour.
        "AgentMsgTextColor" => agent_msg_text_color: String,
        /// Button colour.
        "ButtonColor" => button_color: String,
        /// Button text colour.
        "ButtonTextColor" => button_text_color: String,
        /// Font.
        "Font" => font: String,
        /// Font size.
        "FontSize" => font_size: String,
        /// Whether the logo is shown.
        "LogoEnabled" => logo_enabled: bool,
        /// The logo's blob id.
        "LogoBlobId" => logo_blob_id: i32,
        /// The logo's name.
        "LogoName" => logo_name: String,
        /// Whether the agent's photo is shown.
        "ShowAgentPhoto" => show_agent_photo: bool,
        /// The welcome title.
        "WelcomeTitle" => welcome_title: String,
        /// The welcome message.
        "WelcomeMessage" => welcome_message: String,
        /// The offline form's header.
        "OfflineHeader" => offline_header: String,
        /// The offline form's message.
        "OfflineMessage" => offline_message: String,
        /// Customer fields the offline form asks for.
        "OfflineFields" => offline_fields: CustomerFieldFlags,
        /// Whether agents are shown by first name only.
        "UseAgentFirstname" => use_agent_firstname: bool,
    }
}
