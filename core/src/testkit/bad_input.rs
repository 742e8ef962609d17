//! Bad input everywhere (issue #5, part 6): arbitrary strings, ids, JSON
//! and masks fed to the public entry points give typed errors only, never a
//! panic, and a call that fails leaves the store exactly as it was.

use super::{Fixture, dump};
use crate::storage::Storage;
use crate::wire::{
    ChatMessage, ChatMessageSpecialType, ChatPresence, ChatSessionEntity, ChatTopicAgent,
    ChatTopicEntity, FieldRight, FieldRightMask, TableRight, TableRightMask,
};
use crate::{Associate, Caller, MessageId, SessionId, SessionQuery, TopicId, UserId};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const CASES: u32 = 64;

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Text that is often near a limit, often odd, sometimes JSON-ish.
fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 ,:{}\\[\\]\"-]{0,40}",
        (0usize..5000).prop_map(|n| "é".repeat(n)),
        Just(String::new()),
        Just("Select, Delete, Bogus".to_string()),
        Just("25:61".to_string()),
        Just("Europe/Nowhere".to_string()),
    ]
}

fn id() -> impl Strategy<Value = i32> {
    prop_oneof![any::<i32>(), -3i32..5, Just(i32::MAX), Just(i32::MIN)]
}

/// Arbitrary text and mutated carriers into every deserializer: a Result,
/// never a panic.
pub fn json_and_masks_never_panic<S: Storage>(_store: S) {
    let samples = [
        serde_json::to_string(&ChatSessionEntity::default()).unwrap(),
        serde_json::to_string(&ChatTopicEntity::default()).unwrap(),
        serde_json::to_string(&ChatMessage::default()).unwrap(),
        serde_json::to_string(&ChatTopicAgent::default()).unwrap(),
        serde_json::to_string(&ChatPresence::default()).unwrap(),
    ];
    runner()
        .run(
            &(junk(), 0usize..5, any::<usize>(), any::<u8>()),
            |(text, which, at, byte)| {
                let base = &samples[which];
                let mut bytes = base.clone().into_bytes();
                let at = at % bytes.len().max(1);
                if let Some(b) = bytes.get_mut(at) {
                    *b = byte;
                }
                let mutated = String::from_utf8_lossy(&bytes).into_owned();
                let spliced = format!(
                    "{}{}{}",
                    &base[..base.len() / 2],
                    text,
                    &base[base.len() / 2..]
                );
                for input in [&text, &mutated, &spliced] {
                    let _ = serde_json::from_str::<ChatSessionEntity>(input);
                    let _ = serde_json::from_str::<ChatTopicEntity>(input);
                    let _ = serde_json::from_str::<ChatMessage>(input);
                    let _ = serde_json::from_str::<ChatTopicAgent>(input);
                    let _ = serde_json::from_str::<ChatPresence>(input);
                    let _ = serde_json::from_str::<TableRight>(input);
                    let _ = serde_json::from_str::<FieldRight>(input);
                    let _ = input.parse::<TableRightMask>();
                    let _ = input.parse::<FieldRightMask>();
                    let _ = input.parse::<crate::wire::WireDateTime>();
                    let _ = input.parse::<crate::ChatSessionStatus>();
                    let _ = Caller::system().with_zone(input);
                    let mask = serde_json::json!({"Mask": input, "Reason": ""}).to_string();
                    let _ = serde_json::from_str::<TableRight>(&mask);
                    let _ = serde_json::from_str::<FieldRight>(&mask);
                }
                Ok(())
            },
        )
        .unwrap();
}

/// Runs `f` and, when it fails, checks that the store did not change.
fn unchanged_on_error<S: Storage, T>(
    fx: &Fixture<S>,
    what: &str,
    f: impl FnOnce() -> crate::Result<T>,
) {
    let before = dump(fx.desk.storage());
    if let Err(e) = f() {
        let after = dump(fx.desk.storage());
        assert_eq!(before, after, "{what} failed ({e}) but changed the store");
    }
}

/// Arbitrary keys, ids, texts, limits, ratings and carriers into the
/// service: typed errors only, nothing half-written.
#[allow(clippy::too_many_lines)]
pub fn every_entry_point_refuses_cleanly<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("junk");
    let (sid, key) = fx.customer_session(t, "c");
    let strategy = (
        junk(),
        junk(),
        id(),
        id(),
        any::<usize>(),
        any::<u8>(),
        any::<bool>(),
    );
    runner()
        .run(&strategy, |(a, b, n, m, limit, special, flag)| {
            let d = &fx.desk;
            let callers = [
                Caller::system(),
                Caller::agent(UserId(n)),
                Caller::agent(UserId(10)),
                Caller::customer(a.clone()),
                Caller::customer(key.clone()),
                Caller::anonymous(),
            ];
            let ids = [SessionId(n), sid];
            let specials = [
                ChatMessageSpecialType::None,
                ChatMessageSpecialType::ClickedOption,
                ChatMessageSpecialType::Options,
                ChatMessageSpecialType::BotMessage,
                ChatMessageSpecialType::Welcome,
            ];
            let entity = ChatSessionEntity {
                chat_session_id: if flag { sid.0 } else { m },
                customer_alias: a.clone(),
                customer_name: b.clone(),
                customer_email: a.clone(),
                customer_phone: b.clone(),
                customer_host: a.clone(),
                customer_company_name: b.clone(),
                person: Some(crate::wire::Person::with_id(m)),
                user: flag.then(|| Associate::with_id(n)),
                ..ChatSessionEntity::default()
            };
            let msg = ChatMessage {
                message: a.clone(),
                special_type: specials[usize::from(special) % specials.len()],
                special_param: b.clone(),
                ..ChatMessage::default()
            };
            for ctx in &callers {
                for &id in &ids {
                    unchanged_on_error(&fx, "get", || d.get_chat_session_entity(ctx, id));
                    unchanged_on_error(&fx, "position", || d.get_queue_position(ctx, id));
                    unchanged_on_error(&fx, "queue text", || d.get_queue_text(ctx, id));
                    unchanged_on_error(&fx, "messages", || {
                        d.get_chat_messages(ctx, id, Some(MessageId(m)), limit % 1000)
                    });
                    unchanged_on_error(&fx, "message", || d.add_chat_message(ctx, id, &msg));
                    unchanged_on_error(&fx, "save", || d.save_chat_session_entity(ctx, &entity));
                    unchanged_on_error(&fx, "submit", || d.submit_pre_chat_form(ctx, id, &entity));
                    unchanged_on_error(&fx, "offline", || d.post_offline_request(ctx, id, &a));
                    unchanged_on_error(&fx, "transfer", || {
                        d.transfer_chat_session(ctx, id, UserId(m))
                    });
                    unchanged_on_error(&fx, "finish", || d.finish_chat_session(ctx, id, m));
                    unchanged_on_error(&fx, "typing", || d.set_typing(ctx, id, flag));
                    unchanged_on_error(&fx, "pick up", || d.pick_up_chat_session(ctx, id));
                }
                unchanged_on_error(&fx, "create", || {
                    d.create_chat_session_for_topic(
                        ctx,
                        TopicId(if flag { t.0 } else { n }),
                        &entity,
                    )
                });
                unchanged_on_error(&fx, "find", || {
                    d.find_chat_sessions(
                        ctx,
                        &SessionQuery {
                            topic: flag.then_some(TopicId(n)),
                            after: SessionId(m),
                            limit: limit % 1000,
                            ..SessionQuery::default()
                        },
                    )
                });
                unchanged_on_error(&fx, "presence", || {
                    d.save_chat_presence(
                        ctx,
                        &ChatPresence {
                            user_id: n,
                            display_name: a.clone(),
                            present: flag,
                            ..ChatPresence::default()
                        },
                    )
                });
                unchanged_on_error(&fx, "member", || {
                    d.add_chat_topic_user_agent(
                        ctx,
                        &ChatTopicAgent {
                            topic_id: n,
                            user: flag.then(|| Associate::with_id(m)),
                            can_listen: flag,
                            ..ChatTopicAgent::default()
                        },
                    )
                });
                unchanged_on_error(&fx, "topic", || {
                    let mut topic = ChatTopicEntity {
                        chat_topic_id: if flag { t.0 } else { n },
                        name: a.clone(),
                        opening_hours_enabled: true,
                        ..ChatTopicEntity::default()
                    };
                    topic.opening_hours.mon_enabled = true;
                    topic.opening_hours.mon_start = a.clone();
                    topic.opening_hours.mon_stop = b.clone();
                    d.save_chat_topic_entity(ctx, &topic)
                });
                unchanged_on_error(&fx, "topic queue", || d.get_topic_queue(ctx, TopicId(n)));
            }
            Ok(())
        })
        .unwrap();
}
