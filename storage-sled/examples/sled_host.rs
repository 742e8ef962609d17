//! A host program on the sled backend: a chat survives closing and
//! reopening the store. Run with `cargo run -p chatdesk-sled --example sled_host`.

use chatdesk::{Associate, ChatPresence, ChatTopicAgent};
use chatdesk::{Caller, ChatDesk, ChatSessionEntity, SessionId, TopicId};
use chatdesk_sled::{SledOptions, SledStorage};

fn main() -> chatdesk::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| chatdesk::Error::corrupt(e.to_string()))?;
    let path = dir.path().join("chat.sled");
    let host = Caller::system();
    let (id, key) = {
        let desk = ChatDesk::new(SledStorage::open(&path, SledOptions::default())?);
        let mut topic = desk.create_default_chat_topic_entity(&host);
        topic.name = "Sales".into();
        let topic = TopicId(desk.save_chat_topic_entity(&host, &topic)?.chat_topic_id);
        desk.add_chat_topic_user_agent(
            &host,
            &ChatTopicAgent {
                topic_id: topic.0,
                user: Some(Associate::with_id(7)),
                can_respond: true,
                ..Default::default()
            },
        )?;
        desk.save_chat_presence(
            &host,
            &ChatPresence {
                user_id: 7,
                present: true,
                ..Default::default()
            },
        )?;
        let created = desk.create_chat_session_for_topic(
            &Caller::anonymous(),
            topic,
            &ChatSessionEntity {
                customer_alias: "Dana".into(),
                ..Default::default()
            },
        )?;
        println!(
            "created session {} in {}",
            created.chat_session_id,
            path.display()
        );
        (SessionId(created.chat_session_id), created.session_key)
    };
    // A new process (here: a new store on the same file) finds it again.
    let desk = ChatDesk::new(SledStorage::open(&path, SledOptions::default())?);
    let customer = Caller::customer(key);
    println!(
        "after reopening, queue position {:?}",
        desk.get_queue_position(&customer, id)?
    );
    let picked = desk.pick_up_chat_session(&Caller::agent(7), id)?;
    println!("agent 7 picked it up: rank {:?}", picked.map(|e| e.rank));
    Ok(())
}
