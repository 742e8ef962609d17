//! Record builders shared by the tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use chatdesk::backend::{
    CrmLinks, CustomerInfo, MemberRecord, MessageRecord, PresenceRecord, SessionRecord, TopicRecord,
};
use chatdesk::{ChatMessageSpecialType, ChatMessageType, ChatSessionStatus, ChatTopicEntity};
use chatdesk::{MessageId, SessionId, Timestamp, TopicId, UserId};

pub fn key(n: i32) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&n.to_be_bytes());
    k[31] = 0xAB;
    k
}

pub fn session(id: i32, topic: i32) -> SessionRecord {
    SessionRecord {
        id: SessionId(id),
        topic: TopicId(topic),
        user: None,
        links: CrmLinks::default(),
        customer: CustomerInfo {
            alias: format!("alias {id}"),
            host: "host".into(),
            name: "Ünïcödé name".into(),
            email: "a@b.c".into(),
            phone: "+47".into(),
            consented: true,
            company: "ACME".into(),
        },
        status: ChatSessionStatus::PreChatForm,
        first_message: "hello".into(),
        last_message: String::new(),
        when_requested: Timestamp(638_000_000_000_000_000 + i64::from(id)),
        when_started: None,
        when_ended: None,
        when_idle: None,
        when_fetched: Some(Timestamp(-5)),
        key_hash: key(id),
        initial_queue_pos: 0,
        alert_level: 0,
        rank: 0,
        transfer_to: None,
        chatbot_is_active: false,
        rating: 0,
        queue_seq: None,
        queue_entered: None,
        customer_last_since: None,
        deleted_at: None,
        routing: Default::default(),
        stats: Default::default(),
    }
}

pub fn queued(id: i32, topic: i32, seq: u64) -> SessionRecord {
    SessionRecord {
        status: ChatSessionStatus::InQueue,
        queue_seq: Some(seq),
        queue_entered: Some(Timestamp(1000 + i64::from(id))),
        ..session(id, topic)
    }
}

pub fn active(id: i32, topic: i32, user: i32) -> SessionRecord {
    SessionRecord {
        status: ChatSessionStatus::CustomerLast,
        user: Some(UserId(user)),
        when_started: Some(Timestamp(77)),
        links: CrmLinks {
            person: Some(5),
            contact: None,
            project: Some(i32::MAX),
            sale: Some(-1),
            ticket: None,
        },
        ..session(id, topic)
    }
}

pub fn topic(id: i32) -> TopicRecord {
    TopicRecord {
        id: TopicId(id),
        settings: ChatTopicEntity::default(),
        last_accept: Some(Timestamp(i64::MAX)),
        seconds_pr_accept: 42,
        routing: Default::default(),
    }
}

pub fn member(topic: i32, user: i32) -> MemberRecord {
    MemberRecord {
        topic: TopicId(topic),
        user: UserId(user),
        can_listen: true,
        can_respond: user % 2 == 0,
        can_manage: false,
        can_notify: user % 3 == 0,
    }
}

pub fn presence(user: i32) -> PresenceRecord {
    PresenceRecord {
        user: UserId(user),
        present: user % 2 == 1,
        display_name: format!("Agent {user}"),
    }
}

pub fn message(id: i32, session: i32) -> MessageRecord {
    MessageRecord {
        id: MessageId(id),
        session: SessionId(session),
        kind: ChatMessageType::ToUser,
        text: format!("message {id}"),
        author: "customer".into(),
        read_by_customer: false,
        special: ChatMessageSpecialType::TransferedSession,
        special_param: "p".into(),
        when_posted: Timestamp(i64::from(id) * 10),
    }
}
