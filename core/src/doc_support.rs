//! Not part of the API: the few lines of setup that the doctests hide, so
//! that each one shows only the call it is about. Public only because
//! doctests are compiled as separate crates; hidden from the docs, and free
//! to change in any release.

use crate::{
    Caller, ChatDesk, ChatPresence, ChatSessionEntity, ChatTopicAgent, MemoryStorage, Result,
    SessionId, Storage, TopicId, UserId,
};

/// The agent every doctest starts with: Anna, user 7.
pub const ANNA: UserId = UserId(7);

/// A second agent for transfers: Bo, user 8.
pub const BO: UserId = UserId(8);

/// A memory desk with the topic "Support" and Anna in it, with CanRespond
/// and present. Returns the desk, the topic and Anna's id.
pub fn desk_with_agent() -> Result<(ChatDesk<MemoryStorage>, TopicId, UserId)> {
    let desk = ChatDesk::new(MemoryStorage::new());
    let (topic, anna) = topic_with_agent(&desk)?;
    Ok((desk, topic, anna))
}

/// Saves the topic "Support" on `desk` with Anna in it (CanRespond,
/// present). Returns the topic and Anna's id.
pub fn topic_with_agent<S: Storage>(desk: &ChatDesk<S>) -> Result<(TopicId, UserId)> {
    let host = Caller::system();
    let mut topic = desk.create_default_chat_topic_entity(&host);
    topic.name = "Support".into();
    let topic = desk.save_chat_topic_entity(&host, &topic)?.id();
    add_agent(desk, topic, ANNA, "Anna")?;
    Ok((topic, ANNA))
}

/// Makes `user` a member of `topic` with CanRespond, present as `name`.
pub fn add_agent<S: Storage>(
    desk: &ChatDesk<S>,
    topic: TopicId,
    user: UserId,
    name: &str,
) -> Result<()> {
    let host = Caller::system();
    desk.add_chat_topic_user_agent(
        &host,
        &ChatTopicAgent {
            can_respond: true,
            ..ChatTopicAgent::new(topic, user)
        },
    )?;
    desk.save_chat_presence(&host, &ChatPresence::new(user, true, name))?;
    Ok(())
}

/// A customer, Ann, asks for a chat on `topic`: the session waits in the
/// queue. Returns its id and Ann as a caller (with her session key).
pub fn waiting_session<S: Storage>(
    desk: &ChatDesk<S>,
    topic: TopicId,
) -> Result<(SessionId, Caller)> {
    let request = ChatSessionEntity {
        customer_alias: "Ann".into(),
        ..ChatSessionEntity::default()
    };
    let session = desk.create_chat_session_for_topic(&Caller::anonymous(), topic, &request)?;
    Ok((session.id(), Caller::customer(session.session_key)))
}

/// A waiting session that `agent` has picked up: the chat is going on.
/// Returns its id and the customer as a caller.
pub fn ongoing_chat<S: Storage>(
    desk: &ChatDesk<S>,
    topic: TopicId,
    agent: UserId,
) -> Result<(SessionId, Caller)> {
    let (id, customer) = waiting_session(desk, topic)?;
    desk.pick_up_chat_session(&Caller::agent(agent), id)?;
    Ok((id, customer))
}
