//! A host program on the sled backend: a chat survives closing and
//! reopening the store. Run with `cargo run -p chatdesk-sled --example sled_host`.

use chatdesk::{Caller, ChatDesk, ChatPresence, ChatSessionEntity, ChatTopicAgent, UserId};
use chatdesk_sled::{SledOptions, SledStorage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("chat.sled");
    let host = Caller::system();
    let dana = UserId(7);

    // 1. A desk on a new file: a topic, an agent, and a customer who waits.
    let desk = ChatDesk::new(SledStorage::open(&path, SledOptions::default())?);
    let mut topic = desk.create_default_chat_topic_entity(&host);
    topic.name = "Sales".into();
    let topic = desk.save_chat_topic_entity(&host, &topic)?.id();
    desk.add_chat_topic_user_agent(
        &host,
        &ChatTopicAgent {
            can_respond: true,
            ..ChatTopicAgent::new(topic, dana)
        },
    )?;
    desk.save_chat_presence(&host, &ChatPresence::new(dana, true, "Dana"))?;
    let request = ChatSessionEntity {
        customer_alias: "Erik".into(),
        ..Default::default()
    };
    let created = desk.create_chat_session_for_topic(&Caller::anonymous(), topic, &request)?;
    let id = created.id();
    let customer = Caller::customer(created.session_key);
    println!(
        "1. Erik asked for a chat: session {id} is {}, stored in {}.",
        created.status,
        path.display()
    );

    // 2. The host stops: closing the store makes sure everything is on disk.
    desk.into_storage().close()?;
    println!("2. The store was closed.");

    // 3. A new process (here: a new store in the same directory) finds it again.
    let desk = ChatDesk::new(SledStorage::open(&path, SledOptions::default())?);
    match desk.get_queue_position(&customer, id)? {
        Some(n) => println!("3. After reopening, Erik is still number {n} in the queue."),
        None => println!("3. After reopening, Erik is no longer in the queue."),
    }
    match desk.pick_up_chat_session(&Caller::agent(dana), id)? {
        Some(chat) => println!(
            "4. Dana picked it up: it is {}, her chat number {}.",
            chat.status, chat.rank
        ),
        None => println!("4. The session was no longer waiting."),
    }
    Ok(())
}
