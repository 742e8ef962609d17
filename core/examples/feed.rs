//! A host loop that follows the change feed while a small chat runs on
//! another thread, printing each event and its webhook form.
//!
//! The host stores its cursor (here a local variable) and resumes from it;
//! `wait_for_events` wakes after each commit of this service instance, and
//! the timeout lets it notice writes of other processes too.
//!
//! Run it with `cargo run --example feed`.

use chatdesk::{
    Caller, ChatDesk, ChatEvent, ChatEventKind, ChatMessage, ChatPresence, ChatSessionEntity,
    ChatSessionStatus, ChatTopicAgent, EventActor, HookDecision, MemoryStorage, MessageDraft,
    UserId,
};
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

    let anna = UserId(7);
    let mut topic = desk.create_default_chat_topic_entity(&host);
    topic.name = "Support".into();
    let topic = desk.save_chat_topic_entity(&host, &topic)?.id();
    desk.add_chat_topic_user_agent(
        &host,
        &ChatTopicAgent {
            can_respond: true,
            ..ChatTopicAgent::new(topic, anna)
        },
    )?;
    desk.save_chat_presence(&Caller::agent(anna), &ChatPresence::new(anna, true, "Anna"))?;

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
            let id = s.id();
            let customer = Caller::customer(s.session_key);
            let agent = Caller::agent(anna);
            let say = |who: &Caller, text: &str| {
                let m = ChatMessage {
                    message: text.into(),
                    ..Default::default()
                };
                desk.add_chat_message(who, id, &m)
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
            println!("{}", describe(&e));
            if e.seq == 1 {
                println!("     as a webhook: {}", e.to_webhook_json());
            }
            if e.status == ChatSessionStatus::Closed {
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

/// One line a person reads, e.g. "#3  chatsession.changed  session 1, by
/// agent 7: InQueue -> UserLast; changed User, Status, WhenStarted, Rank".
fn describe(e: &ChatEvent) -> String {
    let by = match e.actor {
        EventActor::System => "the host".to_string(),
        EventActor::Agent(user) => format!("agent {user}"),
        EventActor::Customer => "the customer".to_string(),
    };
    let what = match (e.kind, &e.message) {
        (ChatEventKind::MessageAdded, Some(m)) => {
            format!(
                "message {} ({}); the session is {}",
                m.id, m.message_type, e.status
            )
        }
        _ => match e.status_before {
            Some(before) if before != e.status => format!("{before} -> {}", e.status),
            Some(_) => format!("still {}", e.status),
            None => format!("new, {}", e.status),
        },
    };
    let changed = if e.changes.is_empty() {
        String::new()
    } else {
        format!("; changed {}", e.changes.join(", "))
    };
    format!(
        "#{:<3} {:<32} session {}, by {by}: {what}{changed}",
        e.seq,
        e.kind.webhook_event(),
        e.session
    )
}
