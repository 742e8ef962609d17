//! Messages (`ChatMessage`, the message rows of the lifecycle): Type and Author per
//! caller, special types, limits, the session fields messages keep, fetches
//! and the transcript.

use super::lifecycle::{
    Kind, agent, associate, cust, fixture_with, invalid_field, kind, last_msg, msgs, now, rec, text,
};
use super::{Fixture, dump};
use crate::storage::Storage;
use crate::wire::{ChatMessage, ChatMessageSpecialType, ChatMessageType, ChatSessionEntity};
use crate::{Caller, ChatSessionStatus, Config, MessageId, SessionId, TranscriptFormat};
use ChatMessageSpecialType as Sp;

fn bot(t: &str, special: Sp, param: &str) -> ChatMessage {
    ChatMessage {
        special_type: special,
        special_param: param.to_string(),
        ..text(t)
    }
}

fn picked<S: Storage>(fx: &Fixture<S>, topic: crate::TopicId, alias: &str) -> (SessionId, String) {
    let (id, key) = fx.customer_session(topic, alias);
    fx.desk
        .pick_up_chat_session(&agent(10), id)
        .unwrap()
        .unwrap();
    (id, key)
}

pub fn message_type_and_author_per_caller<S: Storage>(store: S) {
    let (fx, dir) = fixture_with(store, Config::default());
    let t = fx.staffed_topic("t");
    fx.member(t, 11, (false, true, false, false));
    fx.member(t, 12, (false, true, false, false));
    dir.register_associate(associate(11, "Anna Berg"));
    let (s, k) = picked(&fx, t, "alias");
    // Type and Author come from the caller, never from the carrier.
    let forged = ChatMessage {
        message_type: ChatMessageType::Special,
        author: "Mallory".into(),
        ..text("hello")
    };
    let m = fx.desk.add_chat_message(&cust(&k), s, &forged).unwrap();
    assert_eq!(
        (m.message_type, m.author.as_str(), m.special_type),
        (ChatMessageType::ToUser, "alias", Sp::None)
    );
    assert_eq!(m.chat_session_id, s.0);
    let m = fx.desk.add_chat_message(&agent(10), s, &forged).unwrap();
    assert_eq!(
        (m.message_type, m.author.as_str()),
        (ChatMessageType::ToCustomer, "Agent 10")
    );
    // CustomerName wins over the alias.
    let named = ChatSessionEntity {
        customer_alias: "nick".into(),
        customer_name: "Nina Nilsen".into(),
        ..ChatSessionEntity::default()
    };
    let e = fx
        .desk
        .create_chat_session_for_topic(&Caller::anonymous(), t, &named)
        .unwrap();
    let (s2, k2) = (SessionId(e.chat_session_id), e.session_key);
    let m = fx
        .desk
        .add_chat_message(&cust(&k2), s2, &text("hi"))
        .unwrap();
    assert_eq!(m.author, "Nina Nilsen");
    // The directory's FullName, else presence DisplayName, else "".
    fx.desk
        .pick_up_chat_session(&agent(11), s2)
        .unwrap()
        .unwrap();
    let m = fx
        .desk
        .add_chat_message(&agent(11), s2, &text("yo"))
        .unwrap();
    assert_eq!(m.author, "Anna Berg");
    let anon = ChatSessionEntity::default();
    let e = fx
        .desk
        .create_chat_session_for_topic(&Caller::anonymous(), t, &anon)
        .unwrap();
    let (s3, k3) = (SessionId(e.chat_session_id), e.session_key);
    assert_eq!(
        fx.desk
            .add_chat_message(&cust(&k3), s3, &text("?"))
            .unwrap()
            .author,
        ""
    );
    fx.desk
        .pick_up_chat_session(&agent(12), s3)
        .unwrap()
        .unwrap();
    assert_eq!(
        fx.desk
            .add_chat_message(&agent(12), s3, &text("!"))
            .unwrap()
            .author,
        "",
        "no directory entry, no presence"
    );
    // Bot messages: ToCustomer, BotMessage, Author = BotName.
    let bt = fx.topic_with("bot", |t| {
        t.bot_enabled = true;
        t.bot_settings.bot_name = "Botty".into();
    });
    fx.member(bt, 10, (false, true, false, false));
    let (b, _) = fx.customer_session(bt, "b");
    let m = fx
        .desk
        .add_chat_message(&fx.sys(), b, &bot("beep", Sp::BotMessage, ""))
        .unwrap();
    assert_eq!(
        (m.message_type, m.special_type, m.author.as_str()),
        (ChatMessageType::ToCustomer, Sp::BotMessage, "Botty")
    );
    let stored = last_msg(&fx, b);
    assert_eq!(
        (stored.kind, stored.author.as_str()),
        (ChatMessageType::ToCustomer, "Botty")
    );
}

pub fn message_special_types_and_limits<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let (s, k) = picked(&fx, t, "c");
    let bt = fx.topic_with("bot", |t| t.bot_enabled = true);
    fx.member(bt, 10, (false, true, false, false));
    let (b, bk) = fx.customer_session(bt, "b");
    let before = dump(fx.desk.storage());
    let c = cust(&k);
    // Customers: None or ClickedOption.
    for bad in [Sp::Welcome, Sp::BotMessage, Sp::Options, Sp::ClosedByUser] {
        let r = fx.desk.add_chat_message(&c, s, &bot("x", bad, ""));
        assert_eq!(invalid_field(r), "SpecialType", "{bad:?}");
    }
    // Agents: None.
    for bad in [Sp::ClickedOption, Sp::Welcome, Sp::BotMessage] {
        let r = fx.desk.add_chat_message(&agent(10), s, &bot("x", bad, ""));
        assert_eq!(kind(&r), Kind::Validation, "{bad:?}");
    }
    // Bots: BotMessage or Options (a JSON list of labels within 255).
    for bad in [Sp::Welcome, Sp::ClickedOption, Sp::TransferedSession] {
        let r = fx.desk.add_chat_message(&fx.sys(), b, &bot("x", bad, ""));
        assert_eq!(invalid_field(r), "SpecialType", "{bad:?}");
    }
    let long_list = serde_json::to_string(&vec!["option"; 40]).unwrap();
    assert!(long_list.chars().count() > 255);
    let r = fx
        .desk
        .add_chat_message(&fx.sys(), b, &bot("x", Sp::Options, &long_list));
    assert_eq!(invalid_field(r), "SpecialParam");
    let r = fx
        .desk
        .add_chat_message(&c, s, &bot("x", Sp::ClickedOption, &"é".repeat(256)));
    assert_eq!(invalid_field(r), "SpecialParam");
    for who in [c.clone(), agent(10)] {
        let r = fx.desk.add_chat_message(&who, s, &text(&"ü".repeat(4001)));
        assert_eq!(invalid_field(r), "Message");
    }
    let r = fx
        .desk
        .add_chat_message(&fx.sys(), b, &text(&"ü".repeat(4001)));
    assert_eq!(invalid_field(r), "Message");
    // A bot message needs ChatbotIsActive: a state condition.
    let r = fx.desk.add_chat_message(&fx.sys(), s, &text("beep"));
    assert_eq!(kind(&r), Kind::Invalid);
    assert_eq!(dump(fx.desk.storage()), before, "refusals write nothing");
    // The accepted forms.
    let m = fx
        .desk
        .add_chat_message(&c, s, &bot("Yes", Sp::ClickedOption, "Yes please"))
        .unwrap();
    assert_eq!(
        (m.message_type, m.special_type, m.special_param.as_str()),
        (ChatMessageType::ToUser, Sp::ClickedOption, "Yes please")
    );
    let m = fx
        .desk
        .add_chat_message(&c, s, &text(&"ü".repeat(4000)))
        .unwrap();
    assert_eq!(m.message.chars().count(), 4000);
    let labels = r#"["Yes","No"]"#;
    let m = fx
        .desk
        .add_chat_message(&fx.sys(), b, &bot("Well?", Sp::Options, labels))
        .unwrap();
    assert_eq!(
        (m.special_type, m.special_param.as_str()),
        (Sp::Options, labels)
    );
    let m = fx
        .desk
        .add_chat_message(&cust(&bk), b, &bot("No", Sp::ClickedOption, "No"))
        .unwrap();
    assert_eq!(m.special_type, Sp::ClickedOption);
    // Not from ended sessions.
    fx.desk.close_chat_session(&agent(10), s).unwrap();
    for who in [c, agent(10)] {
        assert_eq!(
            kind(&fx.desk.add_chat_message(&who, s, &text("late"))),
            Kind::Invalid
        );
    }
}

pub fn first_last_message_and_when_idle<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic_with("t", |t| t.welcome_message = "Welcome!".into());
    fx.member(t, 10, (false, true, false, false));
    fx.present(10, true);
    let (s, k) = fx.customer_session(t, "c");
    let r = rec(&fx, s);
    assert_eq!(
        (
            r.first_message.as_str(),
            r.last_message.as_str(),
            r.when_idle
        ),
        ("", "", None)
    );
    // A ClickedOption is not SpecialType None: LastMessage yes, FirstMessage no.
    fx.clock.advance_secs(1);
    fx.desk
        .add_chat_message(&cust(&k), s, &bot("opt", Sp::ClickedOption, "opt"))
        .unwrap();
    let r = rec(&fx, s);
    assert_eq!(
        (r.first_message.as_str(), r.last_message.as_str()),
        ("", "opt")
    );
    assert_eq!(r.when_idle, Some(fx.desk.now()));
    // 1030 multi-byte characters: cut to 1024 on a char boundary.
    let long: String = "€😀".repeat(515);
    fx.clock.advance_secs(1);
    fx.desk
        .add_chat_message(&cust(&k), s, &text(&long))
        .unwrap();
    let r = rec(&fx, s);
    let cut: String = long.chars().take(1024).collect();
    assert_eq!(r.first_message, cut);
    assert_eq!(r.last_message, cut);
    assert_eq!(last_msg(&fx, s).text, long, "the message itself is whole");
    fx.clock.advance_secs(1);
    fx.desk
        .add_chat_message(&cust(&k), s, &text("second"))
        .unwrap();
    let r = rec(&fx, s);
    assert_eq!(
        (r.first_message.as_str(), r.last_message.as_str()),
        (cut.as_str(), "second")
    );
    // The Welcome sets LastMessage and WhenIdle.
    fx.clock.advance_secs(1);
    fx.desk
        .pick_up_chat_session(&agent(10), s)
        .unwrap()
        .unwrap();
    let r = rec(&fx, s);
    assert_eq!(
        (r.first_message.as_str(), r.last_message.as_str()),
        (cut.as_str(), "Welcome!")
    );
    assert_eq!(r.when_idle, Some(fx.desk.now()));
    fx.clock.advance_secs(1);
    fx.desk
        .add_chat_message(&agent(10), s, &text("agent says"))
        .unwrap();
    let r = rec(&fx, s);
    assert_eq!(r.last_message, "agent says");
    assert_eq!(r.when_idle, Some(fx.desk.now()));
    // Special messages change neither.
    let idle = r.when_idle;
    fx.clock.advance_secs(1);
    fx.desk.close_chat_session(&agent(10), s).unwrap();
    let r = rec(&fx, s);
    assert_eq!((r.last_message.as_str(), r.when_idle), ("agent says", idle));
    // A bot message counts too.
    let bt = fx.topic_with("bot", |t| t.bot_enabled = true);
    fx.member(bt, 10, (false, true, false, false));
    let (b, _) = fx.customer_session(bt, "b");
    fx.clock.advance_secs(1);
    fx.desk
        .add_chat_message(&fx.sys(), b, &text("bot hello"))
        .unwrap();
    let r = rec(&fx, b);
    assert_eq!(
        (r.first_message.as_str(), r.last_message.as_str()),
        ("", "bot hello"),
        "a BotMessage is not SpecialType None"
    );
    assert_eq!(r.when_idle, Some(fx.desk.now()));
}

pub fn message_status_changes<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic_with("t", |t| t.warn_new_chat_minutes = 1);
    fx.member(t, 10, (false, true, false, false));
    fx.present(10, true);
    let (s, k) = fx.customer_session(t, "c");
    let (_, _) = fx.customer_session(t, "c2");
    fx.desk
        .add_chat_message(&cust(&k), s, &text("anyone?"))
        .unwrap();
    assert_eq!(
        rec(&fx, s).status,
        ChatSessionStatus::InQueue,
        "human queue: stays"
    );
    fx.desk
        .pick_up_chat_session(&agent(10), s)
        .unwrap()
        .unwrap();
    assert_eq!(rec(&fx, s).status, ChatSessionStatus::UserLast);
    fx.desk
        .add_chat_message(&cust(&k), s, &text("hello"))
        .unwrap();
    assert_eq!(rec(&fx, s).status, ChatSessionStatus::CustomerLast);
    fx.desk
        .add_chat_message(&cust(&k), s, &text("again"))
        .unwrap();
    assert_eq!(rec(&fx, s).status, ChatSessionStatus::CustomerLast);
    let mut r = rec(&fx, s);
    r.alert_level = 2;
    super::lifecycle::put(&fx, &r);
    fx.desk
        .add_chat_message(&agent(10), s, &text("yes?"))
        .unwrap();
    let r = rec(&fx, s);
    assert_eq!((r.status, r.alert_level), (ChatSessionStatus::UserLast, 0));
    // A bot-owned queued session: the customer's message makes it CustomerLast.
    let bt = fx.topic_with("bot", |t| t.bot_enabled = true);
    fx.member(bt, 10, (false, true, false, false));
    let (b, bk) = fx.customer_session(bt, "b");
    fx.desk
        .add_chat_message(&cust(&bk), b, &text("hi bot"))
        .unwrap();
    assert_eq!(rec(&fx, b).status, ChatSessionStatus::CustomerLast);
    fx.desk
        .add_chat_message(&fx.sys(), b, &text("hi human"))
        .unwrap();
    let r = rec(&fx, b);
    assert_eq!((r.status, r.user), (ChatSessionStatus::UserLast, None));
}

pub fn read_by_customer_and_when_fetched<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    fx.member(t, 15, (true, false, false, false));
    let (s, k) = picked(&fx, t, "c");
    let (_, other) = fx.customer_session(t, "other");
    fx.desk
        .add_chat_message(&agent(10), s, &text("one"))
        .unwrap();
    assert_eq!(rec(&fx, s).when_fetched, None);
    let read = |fx: &Fixture<S>| {
        msgs(fx, s)
            .iter()
            .map(|m| m.read_by_customer)
            .collect::<Vec<_>>()
    };
    // Fetches by anyone but the session's customer mark nothing.
    fx.clock.advance_secs(10);
    let before = dump(fx.desk.storage());
    for ctx in [fx.sys(), agent(10), agent(15)] {
        let list = fx.desk.get_chat_messages(&ctx, s, None, 10).unwrap();
        assert_eq!(list.len(), 1);
        assert!(list.iter().all(|m| m.read_by_customer == 0));
    }
    assert_eq!(
        kind(&fx.desk.get_chat_messages(&cust(&other), s, None, 10)),
        Kind::NotFound
    );
    assert_eq!(dump(fx.desk.storage()), before);
    // The customer's fetch.
    fx.desk.get_chat_messages(&cust(&k), s, None, 10).unwrap();
    assert_eq!(read(&fx), vec![true]);
    let fetched_at = fx.desk.now();
    assert_eq!(rec(&fx, s).when_fetched, Some(fetched_at));
    let seen = fx.desk.get_chat_messages(&fx.sys(), s, None, 10).unwrap();
    assert_eq!(seen[0].read_by_customer, 1);
    // Polling within 5 s does not write WhenFetched; a new message is still marked.
    fx.clock.advance_secs(3);
    fx.desk
        .add_chat_message(&agent(10), s, &text("two"))
        .unwrap();
    fx.desk.get_chat_messages(&cust(&k), s, None, 10).unwrap();
    assert_eq!(read(&fx), vec![true, true]);
    assert_eq!(rec(&fx, s).when_fetched, Some(fetched_at));
    fx.clock.advance_secs(2);
    fx.desk.get_chat_messages(&cust(&k), s, None, 10).unwrap();
    assert_eq!(
        rec(&fx, s).when_fetched,
        Some(fetched_at),
        "5 s old is not older than 5 s"
    );
    fx.clock.set(now(&fx) + chrono::Duration::milliseconds(1));
    fx.desk.get_chat_messages(&cust(&k), s, None, 10).unwrap();
    assert_eq!(rec(&fx, s).when_fetched, Some(fx.desk.now()));
    // Every other customer operation sets it too.
    fx.clock.advance_secs(1);
    fx.desk
        .add_chat_message(&cust(&k), s, &text("bye"))
        .unwrap();
    assert_eq!(rec(&fx, s).when_fetched, Some(fx.desk.now()));
    fx.clock.advance_secs(1);
    fx.desk.close_chat_session(&cust(&k), s).unwrap();
    assert_eq!(rec(&fx, s).when_fetched, Some(fx.desk.now()));
}

pub fn fetch_after_and_limit<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let (s, k) = picked(&fx, t, "c");
    let (s2, k2) = picked(&fx, t, "d");
    let mut ids = Vec::new();
    for i in 0..10 {
        let (id, key) = if i % 3 == 0 { (s2, &k2) } else { (s, &k) };
        let m = fx
            .desk
            .add_chat_message(&cust(key), id, &text(&format!("m{i}")))
            .unwrap();
        if id == s {
            ids.push(m.chat_message_id);
        }
    }
    let get = |after: i32, limit| {
        fx.desk
            .get_chat_messages(&fx.sys(), s, Some(MessageId(after)), limit)
            .map(|l| l.iter().map(|m| m.chat_message_id).collect::<Vec<_>>())
    };
    assert_eq!(get(0, 500).unwrap(), ids);
    assert_eq!(get(ids[1], 3).unwrap(), ids[2..5].to_vec());
    assert_eq!(get(ids[5], 10).unwrap(), ids[6..].to_vec());
    assert!(get(*ids.last().unwrap(), 10).unwrap().is_empty());
    assert!(get(0, 0).unwrap().is_empty());
    assert_eq!(invalid_field(get(0, 501)), "limit");
    let texts: Vec<String> = fx
        .desk
        .get_chat_messages(&cust(&k2), s2, None, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.message)
        .collect();
    assert_eq!(texts, vec!["m0", "m3", "m6", "m9"]);
}

pub fn transcript_text_and_html<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let evil = ChatSessionEntity {
        customer_alias: "<b>Bob</b>".into(),
        ..ChatSessionEntity::default()
    };
    let e = fx
        .desk
        .create_chat_session_for_topic(&Caller::anonymous(), t, &evil)
        .unwrap();
    let (s, k) = (SessionId(e.chat_session_id), e.session_key);
    fx.desk
        .pick_up_chat_session(&agent(10), s)
        .unwrap()
        .unwrap();
    fx.desk
        .add_chat_message(&cust(&k), s, &text("<script>alert(1)</script> & co"))
        .unwrap();
    fx.clock.advance_secs(75);
    fx.desk
        .add_chat_message(&agent(10), s, &text("Fish & chips"))
        .unwrap();
    let oslo = Caller::system().with_zone("Europe/Oslo").unwrap();
    let txt = fx
        .desk
        .get_chat_transcript(&oslo, s, TranscriptFormat::Text)
        .unwrap();
    assert!(txt.contains("<script>alert(1)</script> & co"), "{txt}");
    let lines: Vec<&str> = txt.lines().collect();
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "[2024-01-01 10:00:00] <b>Bob</b>: <script>alert(1)</script> & co",
            "[2024-01-01 10:01:15] Agent 10: Fish & chips",
        ],
        "{txt}"
    );
    assert!(txt.contains("Fish & chips"), "{txt}");
    assert!(
        txt.contains("10:00:00") && txt.contains("10:01:15"),
        "Oslo is UTC+1 in January: {txt}"
    );
    assert!(!txt.contains("09:00:00"), "{txt}");
    assert!(
        txt.find("alert").unwrap() < txt.find("Fish").unwrap(),
        "in order"
    );
    let html = fx
        .desk
        .get_chat_transcript(&oslo, s, TranscriptFormat::Html)
        .unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<b>Bob"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;Bob&lt;/b&gt;"), "{html}");
    assert!(html.contains("Fish &amp; chips"), "{html}");
    assert!(
        html.contains(
            "<p class=\"msg agent\"><time datetime=\"2024-01-01T10:01:15+01:00\">\
             2024-01-01 10:01:15</time> <b>Agent 10</b> Fish &amp; chips</p>\n"
        ),
        "{html}"
    );
    assert!(!html.contains(" & "), "every & escaped: {html}");
    assert!(html.contains("10:01:15"), "{html}");
    let utc = fx
        .desk
        .get_chat_transcript(&fx.sys(), s, TranscriptFormat::Text)
        .unwrap();
    assert!(utc.contains("09:01:15"), "{utc}");
    // The customer may read it; others who may not see the session may not.
    assert!(
        fx.desk
            .get_chat_transcript(&cust(&k), s, TranscriptFormat::Text)
            .is_ok()
    );
    for ctx in [agent(99), Caller::anonymous()] {
        assert_eq!(
            kind(&fx.desk.get_chat_transcript(&ctx, s, TranscriptFormat::Html)),
            Kind::NotFound
        );
    }
}

/// A message (or a name) with line breaks cannot forge another transcript
/// line: its continuation lines are indented, so only real messages start
/// a line with `[`.
pub fn transcript_lines_cannot_be_forged<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let sneaky = ChatSessionEntity {
        customer_alias: "Eve\n[2024-01-01 09:00:00] A1: hi".into(),
        ..ChatSessionEntity::default()
    };
    let e = fx
        .desk
        .create_chat_session_for_topic(&Caller::anonymous(), t, &sneaky)
        .unwrap();
    let (s, k) = (SessionId(e.chat_session_id), e.session_key);
    fx.desk
        .pick_up_chat_session(&agent(10), s)
        .unwrap()
        .unwrap();
    let forged = "ok\n[2024-01-01 09:00:00] A1: please send your password\r\nthanks\rx\u{2028}y";
    fx.desk
        .add_chat_message(&cust(&k), s, &text(forged))
        .unwrap();
    let txt = fx
        .desk
        .get_chat_transcript(&fx.sys(), s, TranscriptFormat::Text)
        .unwrap();
    let starts: Vec<&str> = txt.lines().filter(|l| l.starts_with('[')).collect();
    let messages = fx
        .desk
        .get_chat_messages(&fx.sys(), s, None, 100)
        .unwrap()
        .len();
    assert_eq!(starts.len(), messages, "one line start per message: {txt}");
    let tail: Vec<&str> = txt.lines().rev().take(6).collect();
    assert_eq!(
        tail.into_iter().rev().collect::<Vec<_>>(),
        [
            "[2024-01-01 09:00:00] Eve",
            "    [2024-01-01 09:00:00] A1: hi: ok",
            "    [2024-01-01 09:00:00] A1: please send your password",
            "    thanks",
            "    x",
            "    y",
        ],
        "{txt}"
    );
}

pub fn typing_is_ephemeral<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let (s, k) = picked(&fx, t, "c");
    let before = dump(fx.desk.storage());
    fx.desk.set_typing(&cust(&k), s, true).unwrap();
    fx.desk.set_typing(&agent(10), s, true).unwrap();
    let now_typing = fx.desk.get_typing(&fx.sys(), s).unwrap();
    assert!(now_typing.customer && now_typing.agent);
    assert_eq!(dump(fx.desk.storage()), before, "typing is not stored");
    fx.clock.advance_secs(11);
    let later = fx.desk.get_typing(&cust(&k), s).unwrap();
    assert!(!later.customer && !later.agent, "expired");
    assert_eq!(
        kind(&fx.desk.set_typing(&Caller::anonymous(), s, true)),
        Kind::NotFound
    );
}
