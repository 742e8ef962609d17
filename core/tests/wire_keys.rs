//! Every carrier's keys, in order, against SuperOffice's published field lists
//! (copied here once).

use chatdesk::{self as wire, schema};
use serde::Serialize;

const CHAT_SESSION_ENTITY: &[&str] = &[
    "ChatSessionId",
    "TopicId",
    "User",
    "Person",
    "CustomerAlias",
    "CustomerHost",
    "CustomerName",
    "CustomerEmail",
    "CustomerPhone",
    "CustomerConsented",
    "CustomerCompanyName",
    "Status",
    "FirstMessage",
    "LastMessage",
    "WhenRequested",
    "WhenStarted",
    "WhenEnded",
    "WhenIdle",
    "WhenFetched",
    "SessionKey",
    "InitialQueuePos",
    "AlertLevel",
    "Rank",
    "Flags",
    "Contact",
    "Project",
    "Sale",
    "Ticket",
    "TransferTo",
    "ChatbotIsActive",
    "Rating",
    "TableRight",
    "FieldProperties",
];
const CHAT_MESSAGE: &[&str] = &[
    "ChatMessageId",
    "ChatSessionId",
    "Type",
    "Message",
    "Author",
    "ReadByCustomer",
    "SpecialType",
    "SpecialParam",
    "WhenPosted",
];
const CHAT_TOPIC_ENTITY: &[&str] = &[
    "ChatTopicId",
    "Name",
    "Description",
    "WelcomeMessage",
    "Language",
    "LastAccept",
    "SecondsPrAccept",
    "AlertRecipient",
    "AlertTemplate",
    "CollectConsent",
    "BadgeHeader",
    "CustomQueueTextEnabled",
    "CustomQueueText",
    "WarnNewChatMinutes",
    "WarnManagerNewChatMinutes",
    "TicketEnabled",
    "TicketCategory",
    "TicketPriority",
    "OpeningHoursEnabled",
    "OpeningHours",
    "Widget",
    "BotEnabled",
    "BotSettings",
    "OfflineCollectConsent",
    "WarnChatMessageMinutes",
    "WarnManagerChatMessageMinutes",
    "UseQueueOfflineForm",
    "OfflineFormTimeLimit",
    "OfflineFormQueueLength",
    "WidgetEnableRating",
    "WidgetRatingText",
    "TableRight",
    "FieldProperties",
];
const CHAT_TOPIC_AGENT: &[&str] = &[
    "TopicId",
    "User",
    "CanListen",
    "CanRespond",
    "CanManage",
    "CanNotify",
];
const CHAT_PRESENCE: &[&str] = &[
    "UserId",
    "DisplayName",
    "OngoingChats",
    "Present",
    "ChatTopics",
    "TableRight",
    "FieldProperties",
];
const CHAT_OPENING_HOURS: &[&str] = &[
    "TzLocation",
    "MonEnabled",
    "MonStart",
    "MonStop",
    "TueEnabled",
    "TueStart",
    "TueStop",
    "WedEnabled",
    "WedStart",
    "WedStop",
    "ThuEnabled",
    "ThuStart",
    "ThuStop",
    "FriEnabled",
    "FriStart",
    "FriStop",
    "SatEnabled",
    "SatStart",
    "SatStop",
    "SunEnabled",
    "SunStart",
    "SunStop",
    "UseLunchHours",
    "LunchStart",
    "LunchStop",
];
const TIME_ZONE_DATA: &[&str] = &[
    "TZLocationID",
    "Name",
    "TZLocationCode",
    "TZLocationCities",
    "IsoNumber",
    "TimeZoneSTDRules",
    "TimeZoneDSTRules",
];
const TIME_ZONE_RULE: &[&str] = &[
    "StartDay",
    "StartMonth",
    "EndDay",
    "EndMonth",
    "TZOffset",
    "StartRulePattern",
    "EndRulePattern",
];
const CHAT_WIDGET_SETTINGS: &[&str] = &[
    "AutoFaqEnabled",
    "AutoFaqCategory",
    "PreFormEnabled",
    "PreFormMessage",
    "RequiredFields",
    "PostFormEnabled",
    "PostFormHeader",
    "PostFormMessage",
    "PostTranscriptEnabled",
    "LanguageIsoCode",
    "Size",
    "Theme",
    "Color",
    "BadgeColor",
    "BadgeTextColor",
    "CustMsgColor",
    "CustMsgTextColor",
    "AgentMsgColor",
    "AgentMsgTextColor",
    "ButtonColor",
    "ButtonTextColor",
    "Font",
    "FontSize",
    "LogoEnabled",
    "LogoBlobId",
    "LogoName",
    "ShowAgentPhoto",
    "WelcomeTitle",
    "WelcomeMessage",
    "OfflineHeader",
    "OfflineMessage",
    "OfflineFields",
    "UseAgentFirstname",
];
const CHAT_BOT_SETTINGS: &[&str] = &[
    "BotName",
    "BotRegisterScriptId",
    "BotSessionCreatedScriptId",
    "BotSessionChangedScriptId",
    "BotMessageReceivedScriptId",
];
const CUSTOMER_LANGUAGE: &[&str] = &["Id", "Value", "Tooltip", "TableRight", "FieldProperties"];
const KB_CATEGORY: &[&str] = &[
    "KbCategoryId",
    "Name",
    "Description",
    "Fullname",
    "ParentId",
    "SortOrder",
];
const REPLY_TEMPLATE: &[&str] = &["ReplyTemplateId", "Name", "Description", "FolderId"];
const TICKET_CATEGORY: &[&str] = &["Id", "Value", "Tooltip", "TableRight", "FieldProperties"];
const TICKET_PRIORITY: &[&str] = &["Id", "Value", "Tooltip", "TableRight", "FieldProperties"];
const ASSOCIATE: &[&str] = &[
    "AssociateId",
    "Name",
    "PersonId",
    "Rank",
    "Tooltip",
    "Type",
    "GroupIdx",
    "FullName",
    "FormalName",
    "Deleted",
    "EjUserId",
    "UserName",
    "ExtraFields",
    "CustomFields",
    "TableRight",
    "FieldProperties",
];
const PERSON: &[&str] = &[
    "Position",
    "PersonId",
    "Mrmrs",
    "Firstname",
    "Lastname",
    "MiddleName",
    "Title",
    "Description",
    "Email",
    "FullName",
    "DirectPhone",
    "FormalName",
    "CountryId",
    "ContactId",
    "ContactName",
    "Retired",
    "Rank",
    "ActiveInterests",
    "ContactDepartment",
    "ContactCountryId",
    "ContactOrgNr",
    "FaxPhone",
    "MobilePhone",
    "ContactPhone",
    "AssociateName",
    "AssociateId",
    "UsePersonAddress",
    "ContactFax",
    "Kanafname",
    "Kanalname",
    "Post1",
    "Post2",
    "Post3",
    "EmailName",
    "ContactFullName",
    "ActiveErpLinks",
    "TicketPriorityId",
    "SupportLanguageId",
    "SupportAssociateId",
    "CategoryName",
    "PersonNumber",
    "TableRight",
    "FieldProperties",
];
const CONTACT: &[&str] = &[
    "ContactId",
    "Name",
    "OrgNr",
    "Department",
    "URL",
    "City",
    "DirectPhone",
    "AssociateId",
    "CountryId",
    "EmailAddress",
    "Kananame",
    "EmailAddressName",
    "URLName",
    "AssociateFullName",
    "BusinessName",
    "CategoryName",
    "CountryName",
    "Address",
    "FormattedAddress",
    "FullName",
    "IsOwnerContact",
    "ActiveErpLinks",
    "Number1",
    "Number2",
    "TableRight",
    "FieldProperties",
];
const PROJECT: &[&str] = &[
    "ProjectId",
    "Name",
    "Description",
    "URL",
    "Type",
    "AssociateId",
    "AssociateFullName",
    "TypeId",
    "Updated",
    "StatusId",
    "Status",
    "TextId",
    "PublishTo",
    "PublishFrom",
    "IsPublished",
    "URLName",
    "ProjectNumber",
    "ActiveErpLinks",
    "EventId",
    "StartDate",
    "TableRight",
    "FieldProperties",
];
const SALE: &[&str] = &[
    "ContactName",
    "SaleDate",
    "SaleId",
    "Probability",
    "Title",
    "Amount",
    "Currency",
    "ProjectName",
    "AssociateFullName",
    "Description",
    "Status",
    "WeightedAmount",
    "ProjectId",
    "EarningPercent",
    "Earning",
    "ContactId",
    "AssociateId",
    "PersonId",
    "SaleTypeId",
    "SaleTypeName",
    "PersonFullName",
    "Completed",
    "ActiveErpLinks",
    "NextDueDate",
    "Number",
    "TableRight",
    "FieldProperties",
];
const TICKET: &[&str] = &[
    "TicketId",
    "Title",
    "CreatedAt",
    "LastChanged",
    "ReadByOwner",
    "ReadByCustomer",
    "FirstReadByUser",
    "Activate",
    "ClosedAt",
    "RepliedAt",
    "AlertTimeout",
    "Deadline",
    "CreatedBy",
    "CreatedByName",
    "Author",
    "OwnedBy",
    "OwnedByName",
    "Category",
    "CategoryName",
    "CategoryFullname",
    "Slevel",
    "Priority",
    "PriorityName",
    "BaseStatus",
    "TicketStatus",
    "TicketStatusDisplayValue",
    "Origin",
    "CustId",
    "PersonFirstname",
    "PersonMiddleName",
    "PersonLastname",
    "PersonFullname",
    "AlertLevel",
    "ConnectId",
    "ReadStatus",
    "TimeToReply",
    "RealTimeToReply",
    "TimeToClose",
    "RealTimeToClose",
    "TimeSpentInternally",
    "TimeSpentExternally",
    "TimeSpentQueue",
    "RealTimeSpentInternally",
    "RealTimeSpentExternally",
    "RealTimeSpentQueue",
    "TimeSpent",
    "HasAttachment",
    "NumReplies",
    "NumMessages",
    "FromAddress",
    "ContactId",
    "ContactName",
    "OwnedByAssociateId",
    "Language",
    "Sentiment",
    "SentimentConfidence",
    "SaleId",
    "ProjectId",
    "SaleHeading",
    "ProjectName",
    "FormSubmissionId",
    "TicketTypeId",
    "TicketTypeName",
    "TableRight",
    "FieldProperties",
];
const ADDRESS: &[&str] = &[
    "Wgs84Latitude",
    "Wgs84Longitude",
    "LocalizedAddress",
    "Street",
    "Postal",
    "Formatted",
    "TableRight",
    "FieldProperties",
];
const STRUCTURED_ADDRESS: &[&str] = &[
    "AtypeIdx",
    "Address1",
    "Address2",
    "Address3",
    "City",
    "County",
    "State",
    "Zipcode",
    "Formatted",
];
const LOCALIZED_FIELD: &[&str] = &[
    "Name",
    "Value",
    "Tooltip",
    "Label",
    "ValueLength",
    "AddressType",
    "TableRight",
    "FieldProperties",
];
const TABLE_RIGHT: &[&str] = &["Mask", "Reason"];
const FIELD_RIGHT: &[&str] = &["Mask", "Reason"];
const FIELD_PROPERTY: &[&str] = &["FieldRight", "FieldType", "FieldLength"];

/// The keys of `value` serialized, in the order written.
fn keys<T: Serialize>(value: &T) -> Vec<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        other => panic!("not an object: {other:?}"),
    }
}

fn check_built<T: Serialize + Default>(fields: &[&str], expected: &[&str]) {
    assert_eq!(keys(&T::default()), expected);
    assert_eq!(fields, expected);
}

#[test]
fn chat_session_entity_keys() {
    check_built::<wire::ChatSessionEntity>(wire::ChatSessionEntity::FIELDS, CHAT_SESSION_ENTITY);
}

#[test]
fn chat_message_keys() {
    check_built::<wire::ChatMessage>(wire::ChatMessage::FIELDS, CHAT_MESSAGE);
}

#[test]
fn chat_topic_entity_keys() {
    check_built::<wire::ChatTopicEntity>(wire::ChatTopicEntity::FIELDS, CHAT_TOPIC_ENTITY);
}

#[test]
fn chat_topic_agent_keys() {
    check_built::<wire::ChatTopicAgent>(wire::ChatTopicAgent::FIELDS, CHAT_TOPIC_AGENT);
}

#[test]
fn chat_presence_keys() {
    check_built::<wire::ChatPresence>(wire::ChatPresence::FIELDS, CHAT_PRESENCE);
}

#[test]
fn chat_opening_hours_keys() {
    check_built::<wire::ChatOpeningHours>(wire::ChatOpeningHours::FIELDS, CHAT_OPENING_HOURS);
}

#[test]
fn chat_widget_settings_keys() {
    check_built::<wire::ChatWidgetSettings>(wire::ChatWidgetSettings::FIELDS, CHAT_WIDGET_SETTINGS);
}

#[test]
fn chat_bot_settings_keys() {
    check_built::<wire::ChatBotSettings>(wire::ChatBotSettings::FIELDS, CHAT_BOT_SETTINGS);
}

#[test]
fn nested_built_carriers_keep_their_keys_inside_the_topic() {
    let topic = serde_json::to_value(wire::ChatTopicEntity::default()).unwrap();
    let inner = |k: &str| match &topic[k] {
        serde_json::Value::Object(m) => m.keys().cloned().collect::<Vec<_>>(),
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(inner("OpeningHours"), CHAT_OPENING_HOURS);
    assert_eq!(inner("Widget"), CHAT_WIDGET_SETTINGS);
    assert_eq!(inner("BotSettings"), CHAT_BOT_SETTINGS);
    assert_eq!(inner("TableRight"), TABLE_RIGHT);
}

#[test]
fn rights_keys() {
    assert_eq!(keys(&wire::TableRight::default()), TABLE_RIGHT);
    assert_eq!(keys(&wire::FieldRight::default()), FIELD_RIGHT);
    assert_eq!(keys(&wire::FieldProperty::default()), FIELD_PROPERTY);
}

fn names(s: &schema::Schema) -> Vec<&'static str> {
    s.field_names().collect()
}

#[test]
fn summary_schemas() {
    let cases: &[(&schema::Schema, &str, &[&str])] = &[
        (wire::Associate::schema(), "Associate", ASSOCIATE),
        (wire::Person::schema(), "Person", PERSON),
        (wire::Contact::schema(), "Contact", CONTACT),
        (wire::Project::schema(), "Project", PROJECT),
        (wire::Sale::schema(), "Sale", SALE),
        (wire::Ticket::schema(), "Ticket", TICKET),
        (
            wire::CustomerLanguage::schema(),
            "CustomerLanguage",
            CUSTOMER_LANGUAGE,
        ),
        (
            wire::ReplyTemplate::schema(),
            "ReplyTemplate",
            REPLY_TEMPLATE,
        ),
        (
            wire::TicketCategory::schema(),
            "TicketCategory",
            TICKET_CATEGORY,
        ),
        (
            wire::TicketPriority::schema(),
            "TicketPriority",
            TICKET_PRIORITY,
        ),
        (wire::KbCategory::schema(), "KbCategory", KB_CATEGORY),
        (wire::TimeZoneData::schema(), "TimeZoneData", TIME_ZONE_DATA),
    ];
    for &(s, name, expected) in cases {
        assert_eq!(s.name(), name);
        assert_eq!(names(s), expected, "{name}");
    }
}

#[test]
fn nested_schemas() {
    let cases: &[(&schema::Schema, &str, &[&str])] = &[
        (&schema::TIME_ZONE_RULE, "TimeZoneRule", TIME_ZONE_RULE),
        (&schema::ADDRESS, "Address", ADDRESS),
        (
            &schema::STRUCTURED_ADDRESS,
            "StructuredAddress",
            STRUCTURED_ADDRESS,
        ),
        (&schema::LOCALIZED_FIELD, "LocalizedField", LOCALIZED_FIELD),
        (&schema::TABLE_RIGHT, "TableRight", TABLE_RIGHT),
        (&schema::FIELD_RIGHT, "FieldRight", FIELD_RIGHT),
        (&schema::FIELD_PROPERTY, "FieldProperty", FIELD_PROPERTY),
    ];
    for &(s, name, expected) in cases {
        assert_eq!(s.name(), name);
        assert_eq!(names(s), expected, "{name}");
    }
}
