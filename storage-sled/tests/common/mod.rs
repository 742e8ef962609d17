//! Record builders shared by the sled backend's tests.
#![allow(dead_code, unreachable_pub)]

use chatdesk::backend::{MemberRecord, MessageRecord, PresenceRecord, SessionRecord, TopicRecord};
use chatdesk::{ChatMessageSpecialType, ChatMessageType, ChatSessionStatus, ChatTopicEntity};
use chatdesk::{MessageId, SessionId, Timestamp, TopicId, UserId};

#[allow(clippy::needless_update)] // the stub carrier has only these two fields
pub fn topic(id: i32) -> TopicRecord {
    TopicRecord {
        id: TopicId(id),
        settings: ChatTopicEntity {
            chat_topic_id: id,
            name: format!("topic {id}"),
            ..Default::default()
        },
        last_accept: Some(Timestamp(1_000 + i64::from(id))),
        seconds_pr_accept: id * 3,
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
        can_notify: true,
    }
}

pub fn presence(user: i32) -> PresenceRecord {
    PresenceRecord {
        user: UserId(user),
        present: user % 2 == 1,
        display_name: format!("Agent {user} ✓"),
    }
}

pub fn key_hash(id: i32) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..4].copy_from_slice(&id.to_be_bytes());
    h[31] = 0xAB;
    h
}

/// A session in PreChatForm (in no queue, not active).
pub fn session(id: i32, topic: i32) -> SessionRecord {
    SessionRecord {
        id: SessionId(id),
        topic: TopicId(topic),
        user: None,
        links: Default::default(),
        customer: Default::default(),
        status: ChatSessionStatus::PreChatForm,
        first_message: "hello".into(),
        last_message: "hello again".into(),
        when_requested: Timestamp(10_000 * i64::from(id)),
        when_started: None,
        when_ended: None,
        when_idle: None,
        when_fetched: Some(Timestamp(-5)),
        key_hash: key_hash(id),
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

/// A session waiting in its topic's human queue at `seq`.
pub fn queued(id: i32, topic: i32, seq: u64) -> SessionRecord {
    SessionRecord {
        status: ChatSessionStatus::InQueue,
        queue_seq: Some(seq),
        queue_entered: Some(Timestamp(77)),
        ..session(id, topic)
    }
}

/// A session an agent is chatting in.
pub fn active(id: i32, topic: i32, user: i32) -> SessionRecord {
    SessionRecord {
        status: ChatSessionStatus::UserLast,
        user: Some(UserId(user)),
        when_started: Some(Timestamp(99)),
        ..session(id, topic)
    }
}

pub fn message(session: i32, id: i32) -> MessageRecord {
    MessageRecord {
        id: MessageId(id),
        session: SessionId(session),
        kind: ChatMessageType::default(),
        text: format!("message {id} of {session}"),
        author: "Ann".into(),
        read_by_customer: id % 2 == 0,
        special: ChatMessageSpecialType::default(),
        special_param: String::new(),
        when_posted: Timestamp(i64::from(id)),
    }
}

pub fn ids(v: &[SessionRecord]) -> Vec<i32> {
    v.iter().map(|s| s.id.0).collect()
}

/// A tree's name and its entries.
pub type TreeDump = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// Every tree of `db` (by name) with all its keys and values, sorted.
pub fn dump_trees(db: &sled::Db) -> Vec<TreeDump> {
    let mut out: Vec<TreeDump> = db
        .tree_names()
        .into_iter()
        .map(|name| {
            let tree = db.open_tree(&name).unwrap();
            let entries = tree
                .iter()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    (k.to_vec(), v.to_vec())
                })
                .collect();
            (name.to_vec(), entries)
        })
        .collect();
    out.sort();
    out
}
