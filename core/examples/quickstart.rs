//! One whole customer chat on the in-memory backend, printing each step:
//! request, queue position, pick-up with rank, messages, transfer and accept,
//! close, transcript.
//!
//! Run it with `cargo run --example quickstart`.

use chatdesk::{Associate, ChatPresence, ChatTopicAgent};
use chatdesk::{
    Caller, ChatDesk, ChatMessage, ChatSessionEntity, ManualClock, MemoryDirectory, MemoryStorage,
    SessionId, TopicId, TranscriptFormat,
};
use std::sync::Arc;

fn agent_summary(id: i32, name: &str) -> chatdesk::Result<Associate> {
    let json = serde_json::json!({ "AssociateId": id, "FullName": name });
    let map = json.as_object().cloned().unwrap_or_default();
    Associate::from_map(map).map_err(|e| chatdesk::Error::validation("Associate", e.to_string()))
}

fn main() -> chatdesk::Result<()> {
    // The host registers its agents so carriers and messages carry their names.
    let directory = Arc::new(MemoryDirectory::new());
    directory.register_associate(agent_summary(7, "Anna Agent")?);
    directory.register_associate(agent_summary(8, "Bo Backup")?);
    let clock = ManualClock::at_default();
    let desk = ChatDesk::new(MemoryStorage::new())
        .with_clock(clock.clone())
        .with_directory(directory);
    let host = Caller::system();

    let mut topic = desk.create_default_chat_topic_entity(&host);
    topic.name = "Support".into();
    topic.welcome_message = "Hi! How can we help?".into();
    let topic = desk.save_chat_topic_entity(&host, &topic)?;
    let topic_id = TopicId(topic.chat_topic_id);
    println!(
        "1. host created topic {} {:?}",
        topic.chat_topic_id, topic.name
    );

    for (user, name) in [(7, "Anna"), (8, "Bo")] {
        desk.add_chat_topic_user_agent(
            &host,
            &ChatTopicAgent {
                topic_id: topic_id.0,
                user: Some(Associate::with_id(user)),
                can_respond: true,
                can_listen: true,
                ..Default::default()
            },
        )?;
        desk.save_chat_presence(
            &Caller::agent(user),
            &ChatPresence {
                user_id: user,
                present: true,
                display_name: name.into(),
                ..Default::default()
            },
        )?;
        println!("2. agent {user} ({name}) joined the topic and is present");
    }

    let request = ChatSessionEntity {
        customer_name: "Carla Customer".into(),
        customer_email: "carla@example.com".into(),
        ..Default::default()
    };
    let created = desk.create_chat_session_for_topic(&Caller::anonymous(), topic_id, &request)?;
    let id = SessionId(created.chat_session_id);
    let customer = Caller::customer(created.session_key.clone());
    println!(
        "3. customer asked for a chat: session {} is {:?}, key of {} characters (shown only now)",
        id,
        created.status,
        created.session_key.len()
    );
    println!(
        "4. customer's queue position: {:?}",
        desk.get_queue_position(&customer, id)?
    );

    clock.advance_secs(42);
    let picked = desk
        .pick_up_chat_session(&Caller::agent(7), id)?
        .ok_or_else(|| chatdesk::Error::conflict("the session left the queue"))?;
    println!(
        "5. Anna picked it up after 42 s: status {:?}, rank {}, queue position now {:?}",
        picked.status,
        picked.rank,
        desk.get_queue_position(&host, id)?
    );

    let say = |ctx: &Caller, text: &str| -> chatdesk::Result<()> {
        clock.advance_secs(5);
        let m = desk.add_chat_message(
            ctx,
            id,
            &ChatMessage {
                message: text.into(),
                ..Default::default()
            },
        )?;
        println!(
            "   message {} {:?} from {:?}: {}",
            m.chat_message_id, m.message_type, m.author, m.message
        );
        Ok(())
    };
    say(
        &customer,
        "My invoice shows <b>two</b> charges & I was billed twice.",
    )?;
    say(
        &Caller::agent(7),
        "Sorry about that, let me get our billing expert.",
    )?;

    let t = desk.transfer_chat_session(&Caller::agent(7), id, chatdesk::UserId(8))?;
    println!(
        "7. Anna asked Bo to take over (TransferTo {:?})",
        t.transfer_to.and_then(|a| a.id())
    );
    let accepted = desk.accept_chat_session_transfer(&Caller::agent(8), id)?;
    println!(
        "8. Bo accepted: User {:?}, rank {}",
        accepted.user.and_then(|a| a.id()),
        accepted.rank
    );
    say(
        &Caller::agent(8),
        "Refunded the second charge. Anything else?",
    )?;
    say(&customer, "No, thanks!")?;

    let closed = desk.close_chat_session(&Caller::agent(8), id)?;
    println!("9. Bo closed the chat: {:?}", closed.status);
    let finished = desk.finish_chat_session(&customer, id, 0)?;
    println!(
        "10. the customer left the post-chat form: {:?}",
        finished.status
    );

    let seen = desk.get_chat_messages(&customer, id, None, 100)?;
    println!("11. the customer fetched {} messages", seen.len());
    println!("12. transcript (plain text, in Europe/Oslo time):");
    let oslo = Caller::agent(8).with_zone("Europe/Oslo")?;
    print!(
        "{}",
        desk.get_chat_transcript(&oslo, id, TranscriptFormat::Text)?
    );
    Ok(())
}
