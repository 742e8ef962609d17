//! Stored values: serde mirrors of chatdesk's records (core stays free of
//! storage derives), written as one version byte followed by postcard.
//!
//! A topic's settings are kept as JSON bytes inside its row: the carrier holds
//! `serde_json` values, which a non-self-describing format cannot decode.
//!
//! Row versions: every row was version 1 up to store v4. Since store v5,
//! topic and session rows are version 2: the version-1 fields followed by
//! the routing settings (topics) or the routing state and statistics
//! (sessions). postcard writes a struct's fields one after the other, so a
//! version-2 body is a version-1 body with the new fields appended. A
//! version-1 topic or session row still decodes, with the defaults (the
//! v4 → v5 upgrade reads them so).

use crate::keys::describe;
use chatdesk::backend::{
    AgentRecord, CrmLinks, CustomerInfo, EventRecord, MemberRecord, MessageRecord, PresenceRecord,
    SessionRecord, SessionRouting, SessionStats, TopicRecord, TopicRouting,
};
use chatdesk::{ChatMessageSpecialType, ChatMessageType, ChatSessionStatus};
use chatdesk::{
    Error, EventActor, MessageId, Result, SessionId, StorageError, Timestamp, TopicId, UserId,
};
use chatdesk::{RoutingMode, RoutingStrategy};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The version byte every row starts with; bump it for a row whose layout
/// changes (and keep a decoder for the old one, or migrate).
const ROW_VERSION: u8 = 1;

/// The version byte of topic and session rows since store v5 (see the
/// module docs).
const ROW_VERSION_2: u8 = 2;

/// Encodes a row: the version byte, then postcard.
fn encode<T: Serialize>(row: &T, what: &str) -> Result<Vec<u8>> {
    encode_as(ROW_VERSION, row, what)
}

/// Encodes a row with version byte `version`.
fn encode_as<T: Serialize>(version: u8, row: &T, what: &str) -> Result<Vec<u8>> {
    let mut out = vec![version];
    let body = postcard::to_stdvec(row)
        .map_err(|e| StorageError::new("sled", format!("encoding {what}"), e))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a version-1 row stored under `key`; anything unreadable is
/// `Corrupt`.
fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T> {
    match versioned(key, bytes)? {
        (ROW_VERSION, body) => body_of(key, body),
        (v, _) => Err(unknown_version(key, v)),
    }
}

/// A row's version byte and body.
fn versioned<'b>(key: &[u8], bytes: &'b [u8]) -> Result<(u8, &'b [u8])> {
    bytes
        .split_first()
        .map(|(v, body)| (*v, body))
        .ok_or_else(|| Error::corrupt(format!("{}: empty value", describe(key))))
}

/// Decodes a row's body (after its version byte).
fn body_of<T: DeserializeOwned>(key: &[u8], body: &[u8]) -> Result<T> {
    postcard::from_bytes(body)
        .map_err(|e| Error::corrupt(format!("{}: undecodable value ({e})", describe(key))))
}

fn unknown_version(key: &[u8], v: u8) -> Error {
    Error::corrupt(format!("{}: unknown row version {v}", describe(key)))
}

fn bad_code(key: &[u8], field: &str, code: i32) -> Error {
    Error::corrupt(format!("{}: unknown {field} code {code}", describe(key)))
}

/// A topic row, version 1 (and the start of version 2).
#[derive(Serialize, Deserialize)]
struct TopicRow {
    id: i32,
    settings_json: Vec<u8>,
    last_accept: Option<i64>,
    seconds_pr_accept: i32,
}

/// A topic row, version 2 (store v5).
#[derive(Serialize, Deserialize)]
struct TopicRowV2 {
    v1: TopicRow,
    routing: TopicRoutingRow,
}

/// A topic's routing settings; the enumerations as their codes.
#[derive(Serialize, Deserialize)]
struct TopicRoutingRow {
    mode: i32,
    strategy: i32,
    default_capacity: i32,
    answer_timeout_secs: i32,
    transfer_timeout_secs: i32,
}

/// Encodes a topic.
pub(crate) fn encode_topic(t: &TopicRecord) -> Result<Vec<u8>> {
    let settings_json = serde_json::to_vec(&t.settings)
        .map_err(|e| StorageError::new("sled", format!("encoding topic {} settings", t.id), e))?;
    let r = &t.routing;
    encode_as(
        ROW_VERSION_2,
        &TopicRowV2 {
            v1: TopicRow {
                id: t.id.0,
                settings_json,
                last_accept: t.last_accept.map(|ts| ts.0),
                seconds_pr_accept: t.seconds_pr_accept,
            },
            routing: TopicRoutingRow {
                mode: r.mode.code(),
                strategy: r.strategy.code(),
                default_capacity: r.default_capacity,
                answer_timeout_secs: r.answer_timeout_secs,
                transfer_timeout_secs: r.transfer_timeout_secs,
            },
        },
        "topic",
    )
}

/// Decodes a topic stored under `key` (a version-1 row has the default
/// routing settings).
pub(crate) fn decode_topic(key: &[u8], bytes: &[u8]) -> Result<TopicRecord> {
    let (row, routing) = match versioned(key, bytes)? {
        (ROW_VERSION, body) => (body_of::<TopicRow>(key, body)?, TopicRouting::default()),
        (ROW_VERSION_2, body) => {
            let TopicRowV2 { v1, routing: r } = body_of(key, body)?;
            let routing = TopicRouting {
                mode: RoutingMode::from_code(r.mode)
                    .ok_or_else(|| bad_code(key, "routing mode", r.mode))?,
                strategy: RoutingStrategy::from_code(r.strategy)
                    .ok_or_else(|| bad_code(key, "routing strategy", r.strategy))?,
                default_capacity: r.default_capacity,
                answer_timeout_secs: r.answer_timeout_secs,
                transfer_timeout_secs: r.transfer_timeout_secs,
            };
            (v1, routing)
        }
        (v, _) => return Err(unknown_version(key, v)),
    };
    let settings = serde_json::from_slice(&row.settings_json)
        .map_err(|e| Error::corrupt(format!("{}: undecodable settings ({e})", describe(key))))?;
    Ok(TopicRecord {
        id: TopicId(row.id),
        settings,
        last_accept: row.last_accept.map(Timestamp),
        seconds_pr_accept: row.seconds_pr_accept,
        routing,
    })
}

#[derive(Serialize, Deserialize)]
struct MemberRow {
    topic: i32,
    user: i32,
    can_listen: bool,
    can_respond: bool,
    can_manage: bool,
    can_notify: bool,
}

/// Encodes a membership.
pub(crate) fn encode_member(m: &MemberRecord) -> Result<Vec<u8>> {
    encode(
        &MemberRow {
            topic: m.topic.0,
            user: m.user.0,
            can_listen: m.can_listen,
            can_respond: m.can_respond,
            can_manage: m.can_manage,
            can_notify: m.can_notify,
        },
        "membership",
    )
}

/// Decodes a membership stored under `key`.
pub(crate) fn decode_member(key: &[u8], bytes: &[u8]) -> Result<MemberRecord> {
    let r: MemberRow = decode(key, bytes)?;
    Ok(MemberRecord {
        topic: TopicId(r.topic),
        user: UserId(r.user),
        can_listen: r.can_listen,
        can_respond: r.can_respond,
        can_manage: r.can_manage,
        can_notify: r.can_notify,
    })
}

#[derive(Serialize, Deserialize)]
struct PresenceRow {
    user: i32,
    present: bool,
    display_name: String,
}

/// Encodes a presence.
pub(crate) fn encode_presence(p: &PresenceRecord) -> Result<Vec<u8>> {
    encode(
        &PresenceRow {
            user: p.user.0,
            present: p.present,
            display_name: p.display_name.clone(),
        },
        "presence",
    )
}

/// Decodes a presence stored under `key`.
pub(crate) fn decode_presence(key: &[u8], bytes: &[u8]) -> Result<PresenceRecord> {
    let r: PresenceRow = decode(key, bytes)?;
    Ok(PresenceRecord {
        user: UserId(r.user),
        present: r.present,
        display_name: r.display_name,
    })
}

/// A session row, version 1 (and the start of version 2).
#[derive(Serialize, Deserialize)]
struct SessionRow {
    id: i32,
    topic: i32,
    user: Option<i32>,
    person: Option<i32>,
    contact: Option<i32>,
    project: Option<i32>,
    sale: Option<i32>,
    ticket: Option<i32>,
    alias: String,
    host: String,
    name: String,
    email: String,
    phone: String,
    consented: bool,
    company: String,
    status: i32,
    first_message: String,
    last_message: String,
    when_requested: i64,
    when_started: Option<i64>,
    when_ended: Option<i64>,
    when_idle: Option<i64>,
    when_fetched: Option<i64>,
    key_hash: [u8; 32],
    initial_queue_pos: i32,
    alert_level: i32,
    rank: i32,
    transfer_to: Option<i32>,
    chatbot_is_active: bool,
    rating: i32,
    queue_seq: Option<u64>,
    queue_entered: Option<i64>,
    customer_last_since: Option<i64>,
    deleted_at: Option<i64>,
}

/// A session row, version 2 (store v5).
#[derive(Serialize, Deserialize)]
struct SessionRowV2 {
    v1: SessionRow,
    routing: SessionRoutingRow,
    stats: SessionStatsRow,
}

/// A session's routing state.
#[derive(Serialize, Deserialize)]
struct SessionRoutingRow {
    routed_at: Option<i64>,
    answered: bool,
    excluded: Vec<i32>,
    transfer_requested_at: Option<i64>,
}

/// A session's statistics.
#[derive(Serialize, Deserialize)]
struct SessionStatsRow {
    max_alert_level: i32,
    answer_timeouts: i32,
    first_answer_at: Option<i64>,
}

fn ts(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| t.0)
}

/// Encodes a session.
pub(crate) fn encode_session(s: &SessionRecord) -> Result<Vec<u8>> {
    let c = &s.customer;
    let v1 = SessionRow {
        id: s.id.0,
        topic: s.topic.0,
        user: s.user.map(|u| u.0),
        person: s.links.person,
        contact: s.links.contact,
        project: s.links.project,
        sale: s.links.sale,
        ticket: s.links.ticket,
        alias: c.alias.clone(),
        host: c.host.clone(),
        name: c.name.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        consented: c.consented,
        company: c.company.clone(),
        status: s.status.code(),
        first_message: s.first_message.clone(),
        last_message: s.last_message.clone(),
        when_requested: s.when_requested.0,
        when_started: ts(s.when_started),
        when_ended: ts(s.when_ended),
        when_idle: ts(s.when_idle),
        when_fetched: ts(s.when_fetched),
        key_hash: s.key_hash,
        initial_queue_pos: s.initial_queue_pos,
        alert_level: s.alert_level,
        rank: s.rank,
        transfer_to: s.transfer_to.map(|u| u.0),
        chatbot_is_active: s.chatbot_is_active,
        rating: s.rating,
        queue_seq: s.queue_seq,
        queue_entered: ts(s.queue_entered),
        customer_last_since: ts(s.customer_last_since),
        deleted_at: ts(s.deleted_at),
    };
    let routing = SessionRoutingRow {
        routed_at: ts(s.routing.routed_at),
        answered: s.routing.answered,
        excluded: s.routing.excluded.iter().map(|u| u.0).collect(),
        transfer_requested_at: ts(s.routing.transfer_requested_at),
    };
    let stats = SessionStatsRow {
        max_alert_level: s.stats.max_alert_level,
        answer_timeouts: s.stats.answer_timeouts,
        first_answer_at: ts(s.stats.first_answer_at),
    };
    encode_as(
        ROW_VERSION_2,
        &SessionRowV2 { v1, routing, stats },
        "session",
    )
}

/// Decodes a session stored under `key` (a version-1 row has the default
/// routing state and statistics).
pub(crate) fn decode_session(key: &[u8], bytes: &[u8]) -> Result<SessionRecord> {
    let (r, routing, stats) = match versioned(key, bytes)? {
        (ROW_VERSION, body) => (
            body_of::<SessionRow>(key, body)?,
            SessionRouting::default(),
            SessionStats::default(),
        ),
        (ROW_VERSION_2, body) => {
            let SessionRowV2 {
                v1,
                routing: g,
                stats: t,
            } = body_of(key, body)?;
            let routing = SessionRouting {
                routed_at: g.routed_at.map(Timestamp),
                answered: g.answered,
                excluded: g.excluded.into_iter().map(UserId).collect(),
                transfer_requested_at: g.transfer_requested_at.map(Timestamp),
            };
            let stats = SessionStats {
                max_alert_level: t.max_alert_level,
                answer_timeouts: t.answer_timeouts,
                first_answer_at: t.first_answer_at.map(Timestamp),
            };
            (v1, routing, stats)
        }
        (v, _) => return Err(unknown_version(key, v)),
    };
    let status =
        ChatSessionStatus::from_code(r.status).ok_or_else(|| bad_code(key, "status", r.status))?;
    Ok(SessionRecord {
        id: SessionId(r.id),
        topic: TopicId(r.topic),
        user: r.user.map(UserId),
        links: CrmLinks {
            person: r.person,
            contact: r.contact,
            project: r.project,
            sale: r.sale,
            ticket: r.ticket,
        },
        customer: CustomerInfo {
            alias: r.alias,
            host: r.host,
            name: r.name,
            email: r.email,
            phone: r.phone,
            consented: r.consented,
            company: r.company,
        },
        status,
        first_message: r.first_message,
        last_message: r.last_message,
        when_requested: Timestamp(r.when_requested),
        when_started: r.when_started.map(Timestamp),
        when_ended: r.when_ended.map(Timestamp),
        when_idle: r.when_idle.map(Timestamp),
        when_fetched: r.when_fetched.map(Timestamp),
        key_hash: r.key_hash,
        initial_queue_pos: r.initial_queue_pos,
        alert_level: r.alert_level,
        rank: r.rank,
        transfer_to: r.transfer_to.map(UserId),
        chatbot_is_active: r.chatbot_is_active,
        rating: r.rating,
        queue_seq: r.queue_seq,
        queue_entered: r.queue_entered.map(Timestamp),
        customer_last_since: r.customer_last_since.map(Timestamp),
        deleted_at: r.deleted_at.map(Timestamp),
        routing,
        stats,
    })
}

#[derive(Serialize, Deserialize)]
struct AgentRow {
    user: i32,
    max_chats: Option<i32>,
    last_assigned: Option<i64>,
}

/// Encodes what routing keeps about an agent (store v5).
pub(crate) fn encode_agent(a: &AgentRecord) -> Result<Vec<u8>> {
    encode(
        &AgentRow {
            user: a.user.0,
            max_chats: a.max_chats,
            last_assigned: ts(a.last_assigned),
        },
        "agent",
    )
}

/// Decodes an agent stored under `key`.
pub(crate) fn decode_agent(key: &[u8], bytes: &[u8]) -> Result<AgentRecord> {
    let r: AgentRow = decode(key, bytes)?;
    Ok(AgentRecord {
        user: UserId(r.user),
        max_chats: r.max_chats,
        last_assigned: r.last_assigned.map(Timestamp),
    })
}

#[derive(Serialize, Deserialize)]
struct MessageRow {
    id: i32,
    session: i32,
    kind: i32,
    text: String,
    author: String,
    read_by_customer: bool,
    special: i32,
    special_param: String,
    when_posted: i64,
}

/// Encodes a message.
pub(crate) fn encode_message(m: &MessageRecord) -> Result<Vec<u8>> {
    encode(
        &MessageRow {
            id: m.id.0,
            session: m.session.0,
            kind: m.kind.code(),
            text: m.text.clone(),
            author: m.author.clone(),
            read_by_customer: m.read_by_customer,
            special: m.special.code(),
            special_param: m.special_param.clone(),
            when_posted: m.when_posted.0,
        },
        "message",
    )
}

/// Decodes a message stored under `key`.
pub(crate) fn decode_message(key: &[u8], bytes: &[u8]) -> Result<MessageRecord> {
    let r: MessageRow = decode(key, bytes)?;
    Ok(MessageRecord {
        id: MessageId(r.id),
        session: SessionId(r.session),
        kind: ChatMessageType::from_code(r.kind).ok_or_else(|| bad_code(key, "type", r.kind))?,
        text: r.text,
        author: r.author,
        read_by_customer: r.read_by_customer,
        special: ChatMessageSpecialType::from_code(r.special)
            .ok_or_else(|| bad_code(key, "special type", r.special))?,
        special_param: r.special_param,
        when_posted: Timestamp(r.when_posted),
    })
}

/// Encodes an id counter.
pub(crate) fn encode_counter(v: i64) -> Vec<u8> {
    let mut out = vec![ROW_VERSION];
    out.extend_from_slice(&v.to_be_bytes());
    out
}

/// Decodes an id counter stored under `key`.
pub(crate) fn decode_counter(key: &[u8], bytes: &[u8]) -> Result<i64> {
    match bytes.split_first() {
        Some((&ROW_VERSION, body)) => body
            .try_into()
            .map(i64::from_be_bytes)
            .map_err(|_| Error::corrupt(format!("{}: not an 8-byte counter", describe(key)))),
        _ => Err(Error::corrupt(format!(
            "{}: unknown counter encoding",
            describe(key)
        ))),
    }
}

#[derive(Serialize, Deserialize)]
struct EventRow {
    seq: i64,
    id: [u8; 16],
    at: i64,
    session: i32,
    topic: i32,
    actor_kind: i32,
    actor_user: Option<i32>,
    kind: String,
    data: String,
}

/// Encodes a change-feed event.
pub(crate) fn encode_event(e: &EventRecord) -> Result<Vec<u8>> {
    let (actor_kind, actor_user) = e.actor.to_parts();
    encode(
        &EventRow {
            seq: e.seq,
            id: e.id,
            at: e.at.0,
            session: e.session.0,
            topic: e.topic.0,
            actor_kind,
            actor_user,
            kind: e.kind.clone(),
            data: e.data.clone(),
        },
        "event",
    )
}

/// Decodes a change-feed event stored under `key`.
pub(crate) fn decode_event(key: &[u8], bytes: &[u8]) -> Result<EventRecord> {
    let r: EventRow = decode(key, bytes)?;
    let actor = EventActor::from_parts(r.actor_kind, r.actor_user)
        .ok_or_else(|| bad_code(key, "actor", r.actor_kind))?;
    Ok(EventRecord {
        seq: r.seq,
        id: r.id,
        at: Timestamp(r.at),
        session: SessionId(r.session),
        topic: TopicId(r.topic),
        actor,
        kind: r.kind,
        data: r.data,
    })
}

/// Encodes a setting's value.
pub(crate) fn encode_setting(value: &str) -> Result<Vec<u8>> {
    encode(&value, "setting")
}

/// Decodes a setting stored under `key`.
pub(crate) fn decode_setting(key: &[u8], bytes: &[u8]) -> Result<String> {
    decode(key, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatdesk::testkit::storage::record;

    fn routed() -> SessionRecord {
        let mut s = record(7, 2, ChatSessionStatus::UserLast);
        s.routing.routed_at = Some(Timestamp(-4));
        s.routing.excluded = vec![UserId(3), UserId(-1)];
        s.stats.answer_timeouts = 2;
        s
    }

    #[test]
    fn a_version_2_session_row_is_a_version_1_row_with_fields_appended() {
        let key = crate::tx::session_key(SessionId(7));
        let s = routed();
        let v2 = encode_session(&s).unwrap();
        assert_eq!(v2.first(), Some(&ROW_VERSION_2));
        assert_eq!(decode_session(&key, &v2).unwrap(), s);
        // The version-1 part, alone and with version byte 1, is the record
        // without its routing state and statistics.
        let (v1, rest): (SessionRow, &[u8]) = postcard::take_from_bytes(&v2[1..]).unwrap();
        let old = encode(&v1, "session").unwrap();
        let without = SessionRecord {
            routing: SessionRouting::default(),
            stats: SessionStats::default(),
            ..s.clone()
        };
        assert_eq!(decode_session(&key, &old).unwrap(), without);
        let (tail, rest): ((SessionRoutingRow, SessionStatsRow), &[u8]) =
            postcard::take_from_bytes(rest).unwrap();
        assert!(rest.is_empty());
        assert_eq!(tail.0.excluded, [3, -1]);
        // Unknown versions and codes are Corrupt.
        let mut v9 = v2.clone();
        v9[0] = 9;
        assert!(matches!(
            decode_session(&key, &v9),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn a_version_1_topic_row_reads_with_default_routing() {
        let key = crate::tx::topic_key(TopicId(3));
        let mut t = TopicRecord {
            id: TopicId(3),
            settings: chatdesk::ChatTopicEntity::default(),
            last_accept: None,
            seconds_pr_accept: 5,
            routing: TopicRouting::default(),
        };
        t.routing.mode = RoutingMode::Auto;
        t.routing.strategy = RoutingStrategy::LongestIdle;
        let v2 = encode_topic(&t).unwrap();
        assert_eq!(decode_topic(&key, &v2).unwrap(), t);
        let (v1, _): (TopicRow, &[u8]) = postcard::take_from_bytes(&v2[1..]).unwrap();
        let old = encode(&v1, "topic").unwrap();
        assert_eq!(
            decode_topic(&key, &old).unwrap(),
            TopicRecord {
                routing: TopicRouting::default(),
                ..t.clone()
            }
        );
        // A mode code no build knows is Corrupt.
        let mut bad = v2.clone();
        // The tail: mode, strategy, capacity and the two timeouts, a byte each.
        let at = bad.len() - 5;
        assert_eq!(bad[at], 2); // Auto's code 1, zigzag
        bad[at] = 8;
        assert!(matches!(
            decode_topic(&key, &bad),
            Err(Error::Corrupt { .. })
        ));
    }
}
