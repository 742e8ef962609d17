//! Carriers are built here, at the edge, for one caller in that caller's zone.

use super::ChatDesk;
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::model::{MemberRecord, PresenceRecord, SessionRecord, TopicRecord};
use crate::rights::{self, FieldSpec, SESSION_FIELDS};
use crate::storage::Storage;
use crate::wire::{
    Associate, ChatPresence, ChatSessionEntity, ChatTopicAgent, ChatTopicEntity, FieldProperties,
    FieldProperty, FieldRight, FieldRightMask, TableRight, TableRightMask, WireDateTime,
};
use chrono::{FixedOffset, Offset};

/// 0001-01-01T00:00:00Z in ticks since the Unix epoch: the wire's Unset.
const UNSET_TICKS: i64 = -62_135_596_800 * 10_000_000;

/// A stored instant as the caller sees it: in their zone's offset at that instant.
pub(crate) fn wire_time(caller: &Caller, t: Option<Timestamp>) -> WireDateTime {
    let Some(utc) = t.and_then(Timestamp::to_datetime) else {
        return WireDateTime::Unset;
    };
    let offset: FixedOffset = match caller.tz {
        Some(tz) => utc.with_timezone(&tz).offset().fix(),
        None => FixedOffset::east_opt(0).unwrap_or_else(|| utc.offset().fix()),
    };
    // A stored instant is already in whole ticks; only the wire's "unset"
    // instant needs WireDateTime::from_utc's care.
    if t.is_some_and(|t| t.0 > UNSET_TICKS) {
        WireDateTime::At(utc.with_timezone(&offset))
    } else {
        WireDateTime::from_utc(utc, offset)
    }
}

pub(crate) fn table_right(bits: u32) -> TableRight {
    TableRight {
        mask: TableRightMask::from_bits(bits).unwrap_or_default(),
        reason: String::new(),
    }
}

fn field_property(bits: u32, reason: &str, field_type: &str, length: i32) -> FieldProperty {
    FieldProperty {
        field_right: FieldRight {
            mask: FieldRightMask::from_bits(bits).unwrap_or_default(),
            reason: reason.to_string(),
        },
        field_type: field_type.to_string(),
        field_length: length,
    }
}

/// The FieldProperties lists, built once per (rights, caller kind) and then
/// shared by every carrier (cloning one is a reference-count bump).
#[derive(Debug, Default)]
pub(crate) struct PropsCache {
    session: [std::sync::OnceLock<FieldProperties>; 32],
    topic: [std::sync::OnceLock<FieldProperties>; 4],
}

impl PropsCache {
    /// A session's FieldProperties for TableRight `bits` (only the low four
    /// bits matter) and a customer or not.
    pub(crate) fn session(&self, bits: u32, customer: bool) -> FieldProperties {
        let slot = ((bits & 15) as usize) * 2 + usize::from(customer);
        match self.session.get(slot) {
            Some(cell) => cell
                .get_or_init(|| session_field_properties(bits & 15, customer))
                .clone(),
            None => session_field_properties(bits, customer),
        }
    }

    /// A topic's FieldProperties for a view.
    pub(crate) fn topic(&self, view: TopicView) -> FieldProperties {
        let slot = view as usize;
        match self.topic.get(slot) {
            Some(cell) => cell.get_or_init(|| topic_field_properties(view)).clone(),
            None => topic_field_properties(view),
        }
    }
}

/// FieldProperties of a session for a caller with `table_bits`.
pub(crate) fn session_field_properties(table_bits: u32, customer: bool) -> FieldProperties {
    FieldProperties::from_iter(
        SESSION_FIELDS
            .iter()
            .map(|spec: &FieldSpec| {
                let (bits, reason) = rights::session_field_right(spec, table_bits, customer);
                (
                    spec.name.to_string(),
                    field_property(bits, reason, spec.field_type, spec.length),
                )
            })
            .collect::<Vec<_>>(),
    )
}

/// How a caller sees a topic (its field rights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicView {
    System,
    Manager,
    Member,
    Customer,
}

/// (name, FieldType, summary, readable by customers), in carrier order.
const TOPIC_FIELDS: [(&str, &str, bool, bool); 31] = [
    ("ChatTopicId", "System.Int32", false, true),
    ("Name", "System.String", false, true),
    ("Description", "System.String", false, false),
    ("WelcomeMessage", "System.String", false, true),
    ("Language", "CustomerLanguage", true, false),
    ("LastAccept", "System.DateTime", false, false),
    ("SecondsPrAccept", "System.Int32", false, false),
    ("AlertRecipient", "System.String", false, false),
    ("AlertTemplate", "ReplyTemplate", true, false),
    ("CollectConsent", "System.Boolean", false, true),
    ("BadgeHeader", "System.String", false, false),
    ("CustomQueueTextEnabled", "System.Boolean", false, true),
    ("CustomQueueText", "System.String", false, true),
    ("WarnNewChatMinutes", "System.Int32", false, false),
    ("WarnManagerNewChatMinutes", "System.Int32", false, false),
    ("TicketEnabled", "System.Boolean", false, false),
    ("TicketCategory", "TicketCategory", true, false),
    ("TicketPriority", "TicketPriority", true, false),
    ("OpeningHoursEnabled", "System.Boolean", false, true),
    ("OpeningHours", "ChatOpeningHours", false, true),
    ("Widget", "ChatWidgetSettings", false, true),
    ("BotEnabled", "System.Boolean", false, true),
    ("BotSettings", "ChatBotSettings", false, true),
    ("OfflineCollectConsent", "System.Boolean", false, true),
    ("WarnChatMessageMinutes", "System.Int32", false, false),
    (
        "WarnManagerChatMessageMinutes",
        "System.Int32",
        false,
        false,
    ),
    ("UseQueueOfflineForm", "System.Boolean", false, true),
    ("OfflineFormTimeLimit", "System.Int32", false, false),
    ("OfflineFormQueueLength", "System.Int32", false, false),
    ("WidgetEnableRating", "System.Boolean", false, true),
    ("WidgetRatingText", "System.String", false, true),
];

fn topic_field_properties(view: TopicView) -> FieldProperties {
    FieldProperties::from_iter(
        TOPIC_FIELDS
            .iter()
            .map(|&(name, ty, summary, customer_readable)| {
                let kept = matches!(name, "ChatTopicId" | "LastAccept" | "SecondsPrAccept");
                let (bits, reason) = match view {
                    TopicView::System => (rights::field::FULL, ""),
                    TopicView::Manager if !kept => (rights::field::FULL, ""),
                    TopicView::Manager => (rights::field::READ, "kept by chatdesk"),
                    TopicView::Member => (rights::field::READ, "only managers change topics"),
                    TopicView::Customer if customer_readable => {
                        (rights::field::READ, "customers only read topics")
                    }
                    TopicView::Customer => (rights::field::NONE, "hidden from customers"),
                };
                let bits = if summary && bits != rights::field::NONE {
                    bits | rights::field::NULLABLE
                } else {
                    bits
                };
                let length = match name {
                    "Name" | "AlertRecipient" | "BadgeHeader" | "WidgetRatingText" => 255,
                    "Description" | "WelcomeMessage" | "CustomQueueText" => 4000,
                    _ => 0,
                };
                (name.to_string(), field_property(bits, reason, ty, length))
            })
            .collect::<Vec<_>>(),
    )
}

/// The topic's TableRight bits for a view.
pub(crate) fn topic_table_bits(view: TopicView) -> u32 {
    use rights::table::*;
    match view {
        TopicView::System => FULL,
        TopicView::Manager => SELECT | UPDATE | DELETE,
        TopicView::Member | TopicView::Customer => SELECT,
    }
}

/// The topic carrier for a caller.
pub(crate) fn topic_entity(
    caller: &Caller,
    rec: &TopicRecord,
    view: TopicView,
    props: &PropsCache,
) -> ChatTopicEntity {
    let s = &rec.settings;
    let mut e = if view == TopicView::Customer {
        ChatTopicEntity {
            name: s.name.clone(),
            welcome_message: s.welcome_message.clone(),
            collect_consent: s.collect_consent,
            offline_collect_consent: s.offline_collect_consent,
            custom_queue_text_enabled: s.custom_queue_text_enabled,
            custom_queue_text: s.custom_queue_text.clone(),
            opening_hours_enabled: s.opening_hours_enabled,
            opening_hours: s.opening_hours.clone(),
            widget: s.widget.clone(),
            bot_enabled: s.bot_enabled,
            bot_settings: s.bot_settings.clone(),
            use_queue_offline_form: s.use_queue_offline_form,
            widget_enable_rating: s.widget_enable_rating,
            widget_rating_text: s.widget_rating_text.clone(),
            ..ChatTopicEntity::default()
        }
    } else {
        let mut e = s.clone();
        e.last_accept = wire_time(caller, rec.last_accept);
        e.seconds_pr_accept = rec.seconds_pr_accept;
        e
    };
    e.chat_topic_id = rec.id.0;
    e.table_right = table_right(topic_table_bits(view));
    e.field_properties = props.topic(view);
    e
}

/// The presence carrier. `own` is true for the user themselves and System.
pub(crate) fn presence_carrier(
    p: &PresenceRecord,
    ongoing: i32,
    topics: Vec<i32>,
    own: bool,
) -> ChatPresence {
    let (table_bits, edit_bits) = if own {
        (rights::table::UR, rights::field::FULL)
    } else {
        (rights::table::SELECT, rights::field::READ)
    };
    let fields = [
        ("UserId", "System.Int32", rights::field::READ),
        ("DisplayName", "System.String", edit_bits),
        ("OngoingChats", "System.Int32", rights::field::READ),
        ("Present", "System.Boolean", edit_bits),
        ("ChatTopics", "System.Int32[]", rights::field::READ),
    ];
    ChatPresence {
        user_id: p.user.0,
        display_name: p.display_name.clone(),
        ongoing_chats: ongoing,
        present: p.present,
        chat_topics: topics,
        table_right: table_right(table_bits),
        field_properties: FieldProperties::from_iter(
            fields
                .iter()
                .map(|&(n, t, b)| {
                    let reason = if b == rights::field::FULL {
                        ""
                    } else {
                        "read-only for this caller"
                    };
                    let length = if n == "DisplayName" { 255 } else { 0 };
                    (n.to_string(), field_property(b, reason, t, length))
                })
                .collect::<Vec<_>>(),
        ),
    }
}

impl<S: Storage> ChatDesk<S> {
    /// The associate summary for a user: the directory's, else `{"AssociateId": id}`.
    pub(crate) fn associate(&self, id: crate::ids::UserId) -> Associate {
        self.directory
            .associate(id)
            .unwrap_or_else(|| Associate::with_id(id.0))
    }

    /// The membership carrier.
    pub(crate) fn agent_carrier(&self, m: &MemberRecord) -> ChatTopicAgent {
        ChatTopicAgent {
            topic_id: m.topic.0,
            user: Some(self.associate(m.user)),
            can_listen: m.can_listen,
            can_respond: m.can_respond,
            can_manage: m.can_manage,
            can_notify: m.can_notify,
        }
    }

    /// The session carrier for a caller with `table_bits`; `key` only at create.
    pub(crate) fn session_entity(
        &self,
        caller: &Caller,
        s: &SessionRecord,
        table_bits: u32,
        customer: bool,
        key: Option<String>,
    ) -> ChatSessionEntity {
        let d = &self.directory;
        let user = s.user.map(|u| {
            let a = self.associate(u);
            if customer { customer_view(a) } else { a }
        });
        let hide = customer;
        let link = |id: Option<i32>| if hide { None } else { id };
        ChatSessionEntity {
            chat_session_id: s.id.0,
            topic_id: s.topic.0,
            user,
            person: link(s.links.person).map(|id| {
                d.person(id)
                    .unwrap_or_else(|| crate::wire::Person::with_id(id))
            }),
            customer_alias: s.customer.alias.clone(),
            customer_host: s.customer.host.clone(),
            customer_name: s.customer.name.clone(),
            customer_email: s.customer.email.clone(),
            customer_phone: s.customer.phone.clone(),
            customer_consented: s.customer.consented,
            customer_company_name: s.customer.company.clone(),
            status: s.status,
            first_message: s.first_message.clone(),
            last_message: s.last_message.clone(),
            when_requested: wire_time(caller, Some(s.when_requested)),
            when_started: wire_time(caller, s.when_started),
            when_ended: wire_time(caller, s.when_ended),
            when_idle: wire_time(caller, s.when_idle),
            when_fetched: wire_time(caller, s.when_fetched),
            session_key: key.unwrap_or_default(),
            initial_queue_pos: s.initial_queue_pos,
            alert_level: s.alert_level,
            rank: s.rank,
            flags: if self.typing.get(s.id, || self.now()).agent {
                crate::wire::ChatSessionFlags::UserIsTyping
            } else {
                crate::wire::ChatSessionFlags::CustomerIsTyping
            },
            contact: link(s.links.contact).map(|id| {
                d.contact(id)
                    .unwrap_or_else(|| crate::wire::Contact::with_id(id))
            }),
            project: link(s.links.project).map(|id| {
                d.project(id)
                    .unwrap_or_else(|| crate::wire::Project::with_id(id))
            }),
            sale: link(s.links.sale)
                .map(|id| d.sale(id).unwrap_or_else(|| crate::wire::Sale::with_id(id))),
            ticket: link(s.links.ticket).map(|id| {
                d.ticket(id)
                    .unwrap_or_else(|| crate::wire::Ticket::with_id(id))
            }),
            transfer_to: if hide {
                None
            } else {
                s.transfer_to.map(|u| self.associate(u))
            },
            chatbot_is_active: s.chatbot_is_active,
            rating: s.rating,
            table_right: table_right(table_bits),
            field_properties: self.props.session(table_bits, customer),
        }
    }
}

/// What a customer sees of the agent: AssociateId and FullName only.
fn customer_view(a: Associate) -> Associate {
    let mut keep = serde_json::Map::new();
    for key in ["AssociateId", "FullName"] {
        if let Some(v) = a.get(key) {
            keep.insert(key.to_string(), v.clone());
        }
    }
    Associate::from_map(keep).unwrap_or(a)
}

#[cfg(test)]
mod tests {
    use super::{UNSET_TICKS, wire_time};
    use crate::caller::Caller;
    use crate::clock::Timestamp;
    use crate::wire::WireDateTime;
    use chrono::{FixedOffset, TimeZone, Utc};

    #[test]
    fn unset_ticks_is_year_one() {
        let year_one = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(Timestamp::from_datetime(year_one).0, UNSET_TICKS);
        for t in [
            UNSET_TICKS - 1,
            UNSET_TICKS,
            UNSET_TICKS + 1,
            0,
            17_000_000_000_000_001,
        ] {
            let utc = Timestamp(t).to_datetime().unwrap();
            assert_eq!(
                wire_time(&Caller::system(), Some(Timestamp(t))),
                WireDateTime::from_utc(utc, FixedOffset::east_opt(0).unwrap()),
                "{t}"
            );
        }
    }
}
