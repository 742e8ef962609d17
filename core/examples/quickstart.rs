//! One whole customer chat on the in-memory backend, told step by step:
//! a topic and two agents, the customer's request and place in the queue,
//! the pick-up, messages, a transfer, the close, the customer's last step
//! and the transcript.
//!
//! Run it with `cargo run --example quickstart`.

use chatdesk::{
    Associate, Caller, ChatDesk, ChatMessage, ChatPresence, ChatSessionEntity, ChatTopicAgent,
    ManualClock, MemoryDirectory, MemoryStorage, SessionId, TranscriptFormat, UserId,
};
use std::sync::Arc;

fn main() -> chatdesk::Result<()> {
    let anna = UserId(7);
    let bo = UserId(8);

    // The host tells chatdesk its agents' names (the CRM's associates), so
    // carriers and messages carry them. Time comes from a clock the example
    // moves by hand.
    let directory = Arc::new(MemoryDirectory::new());
    directory.register_associate(Associate::new(anna, "Anna Agent"));
    directory.register_associate(Associate::new(bo, "Bo Backup"));
    let clock = ManualClock::at_default();
    let desk = ChatDesk::new(MemoryStorage::new())
        .with_clock(clock.clone())
        .with_directory(directory);
    let host = Caller::system();

    println!("chatdesk quickstart: one customer chat, start to finish\n");

    // 1. A topic: the channel customers ask on.
    let mut topic = desk.create_default_chat_topic_entity(&host);
    topic.name = "Support".into();
    topic.welcome_message = "Hi! How can we help?".into();
    let topic = desk.save_chat_topic_entity(&host, &topic)?;
    println!(
        "1. The host created the topic \"{}\" (id {}).",
        topic.name,
        topic.id()
    );

    // 2. Two agents who may answer, both present.
    for (user, name) in [(anna, "Anna"), (bo, "Bo")] {
        desk.add_chat_topic_user_agent(
            &host,
            &ChatTopicAgent {
                can_listen: true,
                can_respond: true,
                ..ChatTopicAgent::new(topic.id(), user)
            },
        )?;
        desk.save_chat_presence(&Caller::agent(user), &ChatPresence::new(user, true, name))?;
    }
    println!("2. Anna (user {anna}) and Bo (user {bo}) joined the topic and are present.");

    // 3. A customer asks for a chat. The session key in the answer is the
    //    customer's only proof of who they are: it is never shown again.
    let request = ChatSessionEntity {
        customer_name: "Carla Customer".into(),
        customer_email: "carla@example.com".into(),
        ..Default::default()
    };
    let created = desk.create_chat_session_for_topic(&Caller::anonymous(), topic.id(), &request)?;
    let id = created.id();
    let customer = Caller::customer(created.session_key.clone());
    println!(
        "3. Carla asked for a chat: session {id} is {}; her key ({} characters) is shown only now.",
        created.status,
        created.session_key.len()
    );

    // 4. While she waits, the widget polls her place in the queue.
    println!(
        "4. Carla waits: {}.",
        queue_place(desk.get_queue_position(&customer, id)?)
    );

    // 5. Anna picks the chat up; the topic's welcome message goes out in her name.
    clock.advance_secs(42);
    let Some(picked) = desk.pick_up_chat_session(&Caller::agent(anna), id)? else {
        println!("   Somebody else was quicker.");
        return Ok(());
    };
    println!(
        "5. {} picked the chat up after 42 s: it is {}, her chat number {}; Carla is {}.",
        user_name(picked.user.as_ref()),
        picked.status,
        picked.rank,
        queue_place(desk.get_queue_position(&customer, id)?)
    );

    // 6. They write to each other.
    println!("6. They talk:");
    let say = |who: &Caller, text: &str| -> chatdesk::Result<()> {
        clock.advance_secs(5);
        let message = ChatMessage {
            message: text.into(),
            ..Default::default()
        };
        let sent = desk.add_chat_message(who, id, &message)?;
        println!("     {}: {}", sent.author, sent.message);
        Ok(())
    };
    say(
        &customer,
        "My invoice shows <b>two</b> charges & I was billed twice.",
    )?;
    say(
        &Caller::agent(anna),
        "Sorry about that, let me get our billing expert.",
    )?;

    // 7. Anna hands the chat to Bo; it stays hers until he accepts.
    let asked = desk.transfer_chat_session(&Caller::agent(anna), id, bo)?;
    println!(
        "7. Anna asked {} to take over; the chat is still {}'s.",
        user_name(asked.transfer_to.as_ref()),
        user_name(asked.user.as_ref())
    );

    // 8. Bo accepts and answers.
    let taken = desk.accept_chat_session_transfer(&Caller::agent(bo), id)?;
    println!(
        "8. {} accepted: the chat is his now (his chat number {}).",
        user_name(taken.user.as_ref()),
        taken.rank
    );
    say(
        &Caller::agent(bo),
        "Refunded the second charge. Anything else?",
    )?;
    say(&customer, "No, thanks!")?;

    // 9. Bo closes the chat.
    let closed = desk.close_chat_session(&Caller::agent(bo), id)?;
    println!("9. Bo closed the chat: it is {}.", closed.status);

    // 10. Carla skips the rating on the post-chat form.
    let finished = desk.finish_chat_session(&customer, id, 0)?;
    println!(
        "10. Carla left the post-chat form without a rating: the chat is {}.",
        finished.status
    );

    // 11. Her widget fetches the messages; what it fetched counts as read.
    let fetched = desk.get_chat_messages(&customer, id, None, 100)?;
    let read = fetched.iter().filter(|m| m.read_by_customer == 1).count();
    println!(
        "11. Carla's widget fetched the {} messages; {read} of them are now marked read by her.",
        fetched.len()
    );

    // 12. The transcript, in an agent's time zone.
    print_transcript(&desk, id, bo)?;
    Ok(())
}

/// "number 1 in the queue", or "out of the queue".
fn queue_place(position: Option<u32>) -> String {
    match position {
        Some(n) => format!("number {n} in the queue"),
        None => "out of the queue".to_string(),
    }
}

/// The name a carrier's User or TransferTo carries, or "nobody".
fn user_name(user: Option<&Associate>) -> &str {
    user.and_then(|a| a.full_name()).unwrap_or("nobody")
}

fn print_transcript(
    desk: &ChatDesk<MemoryStorage>,
    id: SessionId,
    agent: UserId,
) -> chatdesk::Result<()> {
    let oslo = Caller::agent(agent).with_zone("Europe/Oslo")?;
    let transcript = desk.get_chat_transcript(&oslo, id, TranscriptFormat::Text)?;
    println!("12. The transcript, in Oslo time:");
    for line in transcript.lines() {
        println!("     {line}");
    }
    Ok(())
}
