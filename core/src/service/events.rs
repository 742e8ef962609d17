//! The change feed's public event type, its stored form and its webhook form
//! (SuperOffice's webhook envelope).

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{MessageId, SessionId, TopicId, UserId};
use crate::model::{EventActor, EventRecord, SessionRecord, format_uuid};
use crate::wire::{ChatMessageSpecialType, ChatMessageType, ChatSessionStatus, WireDateTime};
use chrono::FixedOffset;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What a change-feed event says happened: one event per session per
/// operation, of the most specific kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatEventKind {
    /// A session was created (`chatsession.created`).
    SessionCreated,
    /// A session changed: status, User, customer fields… (`chatsession.changed`).
    SessionChanged,
    /// A message was added, by the customer, an agent or the bot; carries the
    /// session's new status (`chatsession.message`).
    MessageAdded,
    /// A transfer to another agent was asked for (`chatsession.transfer_requested`).
    TransferRequested,
    /// The TransferTo user took the session over (`chatsession.transfer_accepted`).
    TransferAccepted,
    /// The TransferTo user refused the transfer (`chatsession.transfer_rejected`).
    TransferRejected,
    /// The alert sweep raised the session's alert level (`chatsession.alert_raised`).
    AlertRaised,
    /// The session was soft-deleted (`chatsession.deleted`).
    SessionDeleted,
    /// Purge removed the session and its messages (`chatsession.purged`).
    SessionPurged,
}

impl ChatEventKind {
    /// Every kind.
    pub const ALL: [ChatEventKind; 9] = [
        ChatEventKind::SessionCreated,
        ChatEventKind::SessionChanged,
        ChatEventKind::MessageAdded,
        ChatEventKind::TransferRequested,
        ChatEventKind::TransferAccepted,
        ChatEventKind::TransferRejected,
        ChatEventKind::AlertRaised,
        ChatEventKind::SessionDeleted,
        ChatEventKind::SessionPurged,
    ];

    /// The stored name, e.g. `session.created`.
    pub fn name(self) -> &'static str {
        match self {
            ChatEventKind::SessionCreated => "session.created",
            ChatEventKind::SessionChanged => "session.changed",
            ChatEventKind::MessageAdded => "session.message",
            ChatEventKind::TransferRequested => "session.transfer_requested",
            ChatEventKind::TransferAccepted => "session.transfer_accepted",
            ChatEventKind::TransferRejected => "session.transfer_rejected",
            ChatEventKind::AlertRaised => "session.alert_raised",
            ChatEventKind::SessionDeleted => "session.deleted",
            ChatEventKind::SessionPurged => "session.purged",
        }
    }

    /// The kind with this stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The webhook `Event` name: SuperOffice's `chatsession.created`,
    /// `chatsession.changed`, `chatsession.message`, and ours for the rest.
    pub fn webhook_event(self) -> String {
        format!("chat{}", self.name())
    }
}

/// The message a [`ChatEventKind::MessageAdded`] event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventMessage {
    /// `ChatMessageId`.
    pub id: MessageId,
    /// `Type`: ToUser from the customer, ToCustomer from an agent or the bot.
    pub message_type: ChatMessageType,
    /// `SpecialType`.
    pub special_type: ChatMessageSpecialType,
}

/// One change-feed event, as [`crate::ChatDesk::events_after`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatEvent {
    /// The feed sequence: grows in commit order with no gaps; the host's
    /// cursor.
    pub seq: i64,
    /// A UUID v4, `8-4-4-4-12` hex digits.
    pub id: String,
    /// When it happened, in UTC.
    pub at: WireDateTime,
    /// The session.
    pub session: SessionId,
    /// The session's topic.
    pub topic: TopicId,
    /// Who caused it.
    pub actor: EventActor,
    /// What happened.
    pub kind: ChatEventKind,
    /// The session's status after the change (for a purge: the last one).
    pub status: ChatSessionStatus,
    /// The status before, when the session existed before.
    pub status_before: Option<ChatSessionStatus>,
    /// The `ChatSessionEntity` fields that changed, in carrier order
    /// (empty for created and purged sessions).
    pub changes: Vec<String>,
    /// The added message ([`ChatEventKind::MessageAdded`] only).
    pub message: Option<EventMessage>,
    /// The session's User after the change.
    pub user: Option<UserId>,
    /// The transfer's target (the three transfer kinds only).
    pub transfer_to: Option<UserId>,
    /// The alert level before and after ([`ChatEventKind::AlertRaised`] only).
    pub alert_level: Option<(i32, i32)>,
}

/// The stored `data` of an event: what is not a column of its own.
#[derive(Debug, Serialize, Deserialize)]
struct Data {
    status: ChatSessionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<ChatSessionStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    changes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<(i32, ChatMessageType, ChatMessageSpecialType)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transfer_to: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alert: Option<(i32, i32)>,
}

/// The `ChatSessionEntity` fields (carrier order) whose stored values differ
/// between `a` and `b`. Internal fields (key hash, queue bookkeeping) are not
/// carrier fields and never listed.
pub(crate) fn changed_fields(a: &SessionRecord, b: &SessionRecord) -> Vec<String> {
    let (ca, cb) = (&a.customer, &b.customer);
    let (la, lb) = (&a.links, &b.links);
    let checks: [(&str, bool); 28] = [
        ("TopicId", a.topic != b.topic),
        ("User", a.user != b.user),
        ("Person", la.person != lb.person),
        ("CustomerAlias", ca.alias != cb.alias),
        ("CustomerHost", ca.host != cb.host),
        ("CustomerName", ca.name != cb.name),
        ("CustomerEmail", ca.email != cb.email),
        ("CustomerPhone", ca.phone != cb.phone),
        ("CustomerConsented", ca.consented != cb.consented),
        ("CustomerCompanyName", ca.company != cb.company),
        ("Status", a.status != b.status),
        ("FirstMessage", a.first_message != b.first_message),
        ("LastMessage", a.last_message != b.last_message),
        ("WhenRequested", a.when_requested != b.when_requested),
        ("WhenStarted", a.when_started != b.when_started),
        ("WhenEnded", a.when_ended != b.when_ended),
        ("WhenIdle", a.when_idle != b.when_idle),
        ("WhenFetched", a.when_fetched != b.when_fetched),
        (
            "InitialQueuePos",
            a.initial_queue_pos != b.initial_queue_pos,
        ),
        ("AlertLevel", a.alert_level != b.alert_level),
        ("Rank", a.rank != b.rank),
        ("Contact", la.contact != lb.contact),
        ("Project", la.project != lb.project),
        ("Sale", la.sale != lb.sale),
        ("Ticket", la.ticket != lb.ticket),
        ("TransferTo", a.transfer_to != b.transfer_to),
        (
            "ChatbotIsActive",
            a.chatbot_is_active != b.chatbot_is_active,
        ),
        ("Rating", a.rating != b.rating),
    ];
    checks
        .iter()
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| (*name).to_string())
        .collect()
}

/// Builds the stored record of an event (everything but the sequence and
/// the id, which the emitter draws).
pub(crate) struct Draft<'a> {
    pub(crate) kind: ChatEventKind,
    pub(crate) at: Timestamp,
    pub(crate) actor: EventActor,
    pub(crate) before: Option<&'a SessionRecord>,
    pub(crate) after: &'a SessionRecord,
    pub(crate) changes: Vec<String>,
    pub(crate) message: Option<EventMessage>,
}

impl Draft<'_> {
    pub(crate) fn into_record(self, seq: i64, id: [u8; 16]) -> Result<EventRecord> {
        let transfer_to = match self.kind {
            ChatEventKind::TransferRequested => self.after.transfer_to,
            // Accepted: the target is now the User.
            ChatEventKind::TransferAccepted => self.after.user,
            ChatEventKind::TransferRejected => self.before.and_then(|b| b.transfer_to),
            _ => None,
        };
        let alert = (self.kind == ChatEventKind::AlertRaised).then(|| {
            (
                self.before.map_or(0, |b| b.alert_level),
                self.after.alert_level,
            )
        });
        let data = Data {
            status: self.after.status,
            before: self.before.map(|b| b.status),
            changes: self.changes,
            message: self
                .message
                .map(|m| (m.id.0, m.message_type, m.special_type)),
            user: self.after.user.map(|u| u.0),
            transfer_to: transfer_to.map(|u| u.0),
            alert,
        };
        let data = serde_json::to_string(&data)
            .map_err(|e| Error::corrupt(format!("encoding an event: {e}")))?;
        Ok(EventRecord {
            seq,
            id,
            at: self.at,
            session: self.after.id,
            topic: self.after.topic,
            actor: self.actor,
            kind: self.kind.name().to_string(),
            data,
        })
    }
}

fn utc(at: Timestamp) -> WireDateTime {
    let Some(dt) = at.to_datetime() else {
        return WireDateTime::Unset;
    };
    FixedOffset::east_opt(0).map_or(WireDateTime::Unset, |z| WireDateTime::from_utc(dt, z))
}

impl ChatEvent {
    /// Decodes a stored event.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when its kind or data cannot be read.
    pub fn from_record(r: &EventRecord) -> Result<Self> {
        let kind = ChatEventKind::from_name(&r.kind)
            .ok_or_else(|| Error::corrupt(format!("event {}: unknown kind {:?}", r.seq, r.kind)))?;
        let d: Data = serde_json::from_str(&r.data)
            .map_err(|e| Error::corrupt(format!("event {}: undecodable data ({e})", r.seq)))?;
        Ok(ChatEvent {
            seq: r.seq,
            id: format_uuid(&r.id),
            at: utc(r.at),
            session: r.session,
            topic: r.topic,
            actor: r.actor,
            kind,
            status: d.status,
            status_before: d.before,
            changes: d.changes,
            message: d.message.map(|(id, t, s)| EventMessage {
                id: MessageId(id),
                message_type: t,
                special_type: s,
            }),
            user: d.user.map(UserId),
            transfer_to: d.transfer_to.map(UserId),
            alert_level: d.alert,
        })
    }

    /// The associate who caused it; 0 for System and customers.
    pub fn changed_by_associate_id(&self) -> i32 {
        match self.actor {
            EventActor::Agent(u) => u.0,
            EventActor::System | EventActor::Customer => 0,
        }
    }

    /// The event as SuperOffice's webhook envelope, so that anything that
    /// consumes SuperOffice chat webhooks can take it:
    /// `{"EventId", "Timestamp", "Event", "Entity": "chatsession",
    /// "PrimaryKey", "Changes", "FieldValues", "ChangedByAssociateId"}`.
    /// `Timestamp` is written like every [`WireDateTime`], in UTC
    /// (`2024-01-01T09:00:00.0000000+00:00`). `FieldValues` holds
    /// `ChatSessionId`, `TopicId`, `Status` and, where they apply,
    /// `PreviousStatus`, `User`, `ChatMessageId`, `Type`, `SpecialType`,
    /// `TransferTo`, `AlertLevel` and `PreviousAlertLevel`.
    pub fn to_webhook_json(&self) -> Value {
        let mut fields = Map::new();
        fields.insert("ChatSessionId".into(), json!(self.session.0));
        fields.insert("TopicId".into(), json!(self.topic.0));
        fields.insert("Status".into(), json!(self.status.name()));
        if let Some(b) = self.status_before {
            fields.insert("PreviousStatus".into(), json!(b.name()));
        }
        fields.insert("User".into(), json!(self.user.map_or(0, |u| u.0)));
        if let Some(m) = &self.message {
            fields.insert("ChatMessageId".into(), json!(m.id.0));
            fields.insert("Type".into(), json!(m.message_type.name()));
            fields.insert("SpecialType".into(), json!(m.special_type.name()));
        }
        if let Some(t) = self.transfer_to {
            fields.insert("TransferTo".into(), json!(t.0));
        }
        if let Some((old, new)) = self.alert_level {
            fields.insert("AlertLevel".into(), json!(new));
            fields.insert("PreviousAlertLevel".into(), json!(old));
        }
        let timestamp = self.at.to_wire().unwrap_or_default();
        json!({
            "EventId": self.id,
            "Timestamp": timestamp,
            "Event": self.kind.webhook_event(),
            "Entity": "chatsession",
            "PrimaryKey": self.session.0,
            "Changes": self.changes,
            "FieldValues": Value::Object(fields),
            "ChangedByAssociateId": self.changed_by_associate_id(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_webhook_names() {
        for k in ChatEventKind::ALL {
            assert_eq!(ChatEventKind::from_name(k.name()), Some(k));
            assert!(k.webhook_event().starts_with("chatsession."));
        }
        assert_eq!(
            ChatEventKind::SessionCreated.webhook_event(),
            "chatsession.created"
        );
        assert_eq!(
            ChatEventKind::MessageAdded.webhook_event(),
            "chatsession.message"
        );
        assert_eq!(ChatEventKind::from_name("nope"), None);
    }
}
