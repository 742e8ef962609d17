//! A service over a fresh store with a manual clock, and helpers to set it up.

use crate::model::{MemberRecord, PresenceRecord};
use crate::storage::{Storage, StorageExt};
use crate::wire::{ChatPresence, ChatSessionEntity, ChatTopicAgent, ChatTopicEntity};
use crate::{Associate, Caller, ChatDesk, ManualClock, SessionId, TopicId};
use std::fmt::Write;

/// The service under test and its clock (2024-01-01T09:00:00Z, a Monday).
#[derive(Debug)]
pub struct Fixture<S: Storage> {
    pub desk: ChatDesk<S>,
    pub clock: ManualClock,
}

impl<S: Storage> Fixture<S> {
    pub fn new(store: S) -> Self {
        let clock = ManualClock::at_default();
        Fixture {
            desk: ChatDesk::new(store).with_clock(clock.clone()),
            clock,
        }
    }

    pub fn sys(&self) -> Caller {
        Caller::system()
    }

    /// A topic saved by System with `edit` applied to the defaults.
    pub fn topic_with(&self, name: &str, edit: impl FnOnce(&mut ChatTopicEntity)) -> TopicId {
        let mut t = self.desk.create_default_chat_topic_entity(&self.sys());
        t.name = name.to_string();
        edit(&mut t);
        let saved = self.desk.save_chat_topic_entity(&self.sys(), &t).unwrap();
        TopicId(saved.chat_topic_id)
    }

    /// A plain topic (no forms, no bot, always open).
    pub fn topic(&self, name: &str) -> TopicId {
        self.topic_with(name, |_| {})
    }

    /// Adds `user` to `topic` with the given rights (listen, respond, manage, notify).
    pub fn member(&self, topic: TopicId, user: i32, rights: (bool, bool, bool, bool)) {
        let a = ChatTopicAgent {
            topic_id: topic.0,
            user: Some(Associate::with_id(user)),
            can_listen: rights.0,
            can_respond: rights.1,
            can_manage: rights.2,
            can_notify: rights.3,
        };
        self.desk
            .add_chat_topic_user_agent(&self.sys(), &a)
            .unwrap();
    }

    /// Sets a user's presence.
    pub fn present(&self, user: i32, present: bool) {
        let p = ChatPresence {
            user_id: user,
            present,
            display_name: format!("Agent {user}"),
            ..ChatPresence::default()
        };
        self.desk.save_chat_presence(&self.sys(), &p).unwrap();
    }

    /// A topic with one present responder (user 10), so sessions enter the queue.
    pub fn staffed_topic(&self, name: &str) -> TopicId {
        let t = self.topic(name);
        self.member(t, 10, (true, true, false, false));
        self.present(10, true);
        t
    }

    /// Creates a session as an anonymous customer; returns (id, key).
    pub fn customer_session(&self, topic: TopicId, alias: &str) -> (SessionId, String) {
        let input = ChatSessionEntity {
            customer_alias: alias.to_string(),
            ..ChatSessionEntity::default()
        };
        let e = self
            .desk
            .create_chat_session_for_topic(&Caller::anonymous(), topic, &input)
            .unwrap();
        (SessionId(e.chat_session_id), e.session_key)
    }
}

/// A deterministic text of everything a store holds, for "state before ==
/// state after" checks.
pub fn dump<S: Storage>(store: &S) -> String {
    store
        .read(|tx| {
            let mut out = String::new();
            for t in tx.topics()? {
                let _ = writeln!(out, "{t:?}");
            }
            for m in tx.all_members()? {
                let MemberRecord { .. } = m;
                let _ = writeln!(out, "{m:?}");
            }
            for p in tx.presences()? {
                let PresenceRecord { .. } = p;
                let _ = writeln!(out, "{p:?}");
            }
            for s in tx.sessions(SessionId(0), usize::MAX)? {
                let _ = writeln!(out, "{s:?}");
                for m in tx.messages(s.id, crate::MessageId(0), usize::MAX)? {
                    let _ = writeln!(out, "  {m:?}");
                }
            }
            Ok(out)
        })
        .unwrap()
}
