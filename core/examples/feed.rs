//! A host loop that follows the change feed while a small chat runs on
//! another thread, printing each event and its webhook form.
//!
//! The host stores its cursor (here a local variable) and resumes from it;
//! `wait_for_events` wakes after each commit of this service instance, and
//! the timeout lets it notice writes of other processes too.
//!
//! Run it with `cargo run --example feed`.

use chatdesk::{
    Associate, Caller, ChatDesk, ChatEventKind, ChatMessage, ChatSessionEntity, HookDecision,
    MemoryStorage, MessageDraft, SessionId, TopicId, UserId,
};
use chatdesk::{ChatPresence, ChatTopicAgent};
use std::sync::Arc;
use std::time::Duration;

fn main() -> chatdesk::Result<()> {
    // A before-save hook: quick, no calls back into the service.
    let desk = Arc::new(ChatDesk::new(MemoryStorage::new()).with_message_hook(
        |m: &mut MessageDraft| {
            if m.text().contains("password") {
                return HookDecision::Reject("no passwords in chat".into());
            }
            HookDecision::Accept
        },
    ));
    let host = Caller::system();
    desk.set_change_feed(&host, true)?;

    let mut topic = desk.create_default_chat_topic_entity(&host);
    topic.name = "Support".into();
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
        &Caller::agent(7),
        &ChatPresence {
            user_id: 7,
            present: true,
            display_name: "Anna".into(),
            ..Default::default()
        },
    )?;

    // The chat, on its own thread.
    let chat = {
        let desk = Arc::clone(&desk);
        std::thread::spawn(move || -> chatdesk::Result<()> {
            let pause = || std::thread::sleep(Duration::from_millis(30));
            let request = ChatSessionEntity {
                customer_alias: "Ann".into(),
                ..Default::default()
            };
            let s = desk.create_chat_session_for_topic(&Caller::anonymous(), topic, &request)?;
            let id = SessionId(s.chat_session_id);
            let customer = Caller::customer(s.session_key);
            let agent = Caller::agent(UserId(7));
            let say = |ctx: &Caller, text: &str| {
                let m = ChatMessage {
                    message: text.into(),
                    ..Default::default()
                };
                desk.add_chat_message(ctx, id, &m)
            };
            pause();
            say(&customer, "Hello, my order is late")?;
            pause();
            desk.pick_up_chat_session(&agent, id)?;
            say(&agent, "Hi Ann, let me look")?;
            pause();
            if let Err(e) = say(&customer, "my password is hunter2") {
                println!("   (hook refused a message: {e}; no event for it)");
            }
            say(&customer, "Thanks!")?;
            pause();
            desk.close_chat_session(&agent, id)?;
            Ok(())
        })
    };

    // The host loop: follow the feed until the session is closed.
    let mut cursor = 0;
    'follow: loop {
        let events = desk.wait_for_events(&host, cursor, 100, Duration::from_secs(5))?;
        if events.is_empty() {
            println!("(no events for 5 s)");
            break;
        }
        for e in events {
            cursor = e.seq;
            let what = match e.kind {
                ChatEventKind::MessageAdded => format!(
                    "message {:?} (session now {})",
                    e.message.map(|m| m.message_type),
                    e.status
                ),
                _ => format!(
                    "{:?} → {} changed {:?}",
                    e.status_before, e.status, e.changes
                ),
            };
            println!(
                "#{:<3} {:<28} session {} by {:?}: {what}",
                e.seq,
                e.kind.webhook_event(),
                e.session,
                e.actor
            );
            if e.seq == 1 {
                println!("     webhook form: {}", e.to_webhook_json());
            }
            if e.status == chatdesk::ChatSessionStatus::Closed {
                break 'follow;
            }
        }
    }
    chat.join()
        .map_err(|_| chatdesk::Error::conflict("chat thread panicked"))??;
    // The host is done with everything up to its cursor.
    let pruned = desk.prune_events_before(&host, cursor)?;
    println!(
        "pruned {pruned} events; the feed goes on from #{}",
        cursor + 1
    );
    Ok(())
}
