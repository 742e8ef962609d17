//! What the service reports through `tracing`: a span per public operation
//! naming the operation, its ids and the caller's kind; events for sweeps
//! and Conflicts; and never a session key, a message text or anything else
//! a customer typed.

use super::Fixture;
use super::capture::Capture;
use crate::storage::Storage;
use crate::{Caller, ChatMessage, ChatSessionEntity, Error, TranscriptFormat, UserId};

const ALIAS: &str = "Zebedee Quartermaine";
const TEXT: &str = "my card number is 4111 1111 1111 1111";
const EMAIL: &str = "zebedee@example.invalid";

pub fn spans_name_the_operation_and_never_the_key_or_text<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let topic = fx.staffed_topic("t");
    let agent = Caller::agent(UserId(10));
    let sys = fx.sys();
    let scenario = || {
        let input = ChatSessionEntity {
            customer_alias: ALIAS.into(),
            customer_email: EMAIL.into(),
            ..ChatSessionEntity::default()
        };
        let e = fx
            .desk
            .create_chat_session_for_topic(&Caller::anonymous(), topic, &input)
            .unwrap();
        let id = e.id();
        let customer = Caller::customer(e.session_key.clone());
        fx.desk.get_queue_position(&customer, id).unwrap();
        fx.desk.pick_up_chat_session(&agent, id).unwrap().unwrap();
        let m = ChatMessage {
            message: TEXT.into(),
            ..ChatMessage::default()
        };
        fx.desk.add_chat_message(&customer, id, &m).unwrap();
        fx.desk.add_chat_message(&agent, id, &m).unwrap();
        fx.desk.get_chat_messages(&customer, id, None, 10).unwrap();
        fx.desk
            .get_chat_transcript(&agent, id, TranscriptFormat::Html)
            .unwrap();
        // A customer with a wrong key, and a Conflict (a topic with an open
        // session cannot be deleted).
        let stranger = Caller::customer(format!("{}x", e.session_key));
        assert!(fx.desk.get_chat_session_entity(&stranger, id).is_err());
        assert!(matches!(
            fx.desk.delete_chat_topic_entity(&sys, topic),
            Err(Error::Conflict { .. })
        ));
        fx.desk.idle_sweep(&sys).unwrap();
        fx.desk.close_chat_session(&customer, id).unwrap();
        (id, e.session_key)
    };
    // A first run reaches every call site the checked run uses from this
    // thread, so none is first reached by another test's thread during it
    // (see `Capture::run`).
    let _ = Capture::run(scenario);
    let ((id, key), seen) = Capture::run(scenario);

    let topic_s = topic.0.to_string();
    let id_s = id.0.to_string();
    let create = seen.ops("create_chat_session_for_topic");
    assert_eq!(create.len(), 1, "{:?}", seen.spans);
    assert_eq!(create[0].target, "chatdesk");
    assert_eq!(create[0].field("caller"), Some("anonymous"));
    assert_eq!(create[0].field("topic"), Some(&*topic_s));
    let pick = seen.ops("pick_up_chat_session");
    assert_eq!(pick[0].field("caller"), Some("agent"));
    assert_eq!(pick[0].field("agent"), Some("10"));
    assert_eq!(pick[0].field("session"), Some(&*id_s));
    let add = seen.ops("add_chat_message");
    assert_eq!(add.len(), 2);
    assert_eq!(add[0].field("caller"), Some("customer"));
    assert_eq!(add[0].field("session"), Some(&*id_s));
    assert_eq!(add[1].field("caller"), Some("agent"));
    for op in [
        "get_queue_position",
        "get_chat_messages",
        "get_chat_transcript",
        "get_chat_session_entity",
        "close_chat_session",
    ] {
        let spans = seen.ops(op);
        assert_eq!(spans.len(), 1, "{op}: {:?}", seen.spans);
        assert_eq!(spans[0].field("session"), Some(&*id_s), "{op}");
    }
    let delete = seen.ops("delete_chat_topic_entity");
    assert_eq!(delete[0].field("caller"), Some("system"));
    assert_eq!(delete[0].field("topic"), Some(&*topic_s));

    // Events: the Conflict (inside the delete's span) and the sweep.
    let conflict = seen
        .events
        .iter()
        .find(|e| e.field("error") == Some("conflict"))
        .expect("a Conflict event");
    assert_eq!(conflict.level, tracing::Level::WARN);
    assert_eq!(
        seen.span_of(conflict).and_then(|s| s.field("op")),
        Some("delete_chat_topic_entity")
    );
    let sweep = seen
        .events
        .iter()
        .find(|e| e.field("sweep") == Some("idle_sweep"))
        .expect("a sweep event");
    assert_eq!(sweep.field("changed"), Some("0"));

    // Nothing a customer typed, and no key, in any field of anything.
    let mut values = 0;
    for (name, value) in seen.all_values() {
        values += 1;
        for secret in [key.as_str(), TEXT, ALIAS, EMAIL, "4111"] {
            assert!(
                !value.contains(secret),
                "field {name} = {value:?} holds {secret:?}"
            );
        }
        // Not even a piece of the key (a prefix, e.g. a wrong key's).
        assert!(!value.contains(&key[..12]), "field {name} = {value:?}");
    }
    assert!(values > 30, "{values}");
}
